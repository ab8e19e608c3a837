#define _GNU_SOURCE /* O_TMPFILE, linkat */
#include "core/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

lrsc_status lrsc_file_read_all(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                               lrsc_error *err)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lrsc_error_set(err, LRSC_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return lrsc_error_set(err, LRSC_ERR_IO, "%s: not a regular file", path);
    }
    if (max_bytes && (uint64_t)st.st_size > max_bytes) {
        close(fd);
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "%s: file of %lld bytes exceeds the %zu-byte limit",
                              path, (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = errno;
            free(buf);
            close(fd);
            return lrsc_error_set(err, LRSC_ERR_IO, "%s: read failed: %s", path,
                                  r == 0 ? "file shrank while reading" : strerror(e));
        }
        got += (size_t)r;
    }
    close(fd);
    *data = buf;
    *len = n;
    return LRSC_OK;
}

static char *dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return NULL;
    char *d = strdup(dirname(copy));
    free(copy);
    return d;
}

lrsc_status lrsc_atomic_open(lrsc_atomic_file *f, const char *path, lrsc_error *err)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->path = strdup(path);
    char *dir = dir_of(path);
    if (!f->path || !dir) {
        free(dir);
        lrsc_atomic_abort(f);
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "%s: out of memory", path);
    }
    f->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        /* Filesystems without O_TMPFILE: a named temporary beside the target. */
        size_t n = strlen(path) + 16;
        f->tmp_path = malloc(n);
        if (f->tmp_path) {
            snprintf(f->tmp_path, n, "%s.tmp-XXXXXX", path);
            f->fd = mkstemp(f->tmp_path);
        }
        if (f->fd < 0) {
            int e = errno;
            free(dir);
            lrsc_atomic_abort(f);
            return lrsc_error_set(err, LRSC_ERR_IO, "%s: cannot create output: %s", path, strerror(e));
        }
        fchmod(f->fd, 0644);
    }
    free(dir);
    return LRSC_OK;
}

lrsc_status lrsc_atomic_write(lrsc_atomic_file *f, const void *buf, size_t len, lrsc_error *err)
{
    const uint8_t *p = buf;
    while (len) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : len;
        ssize_t w = write(f->fd, p, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return lrsc_error_set(err, LRSC_ERR_IO, "%s: write failed: %s", f->path,
                                  w == 0 ? "no progress" : strerror(errno));
        p += w;
        len -= (size_t)w;
    }
    return LRSC_OK;
}

lrsc_status lrsc_atomic_sync(lrsc_atomic_file *f, lrsc_error *err)
{
    if (fsync(f->fd) != 0)
        return lrsc_error_set(err, LRSC_ERR_IO, "%s: fsync failed: %s", f->path, strerror(errno));
    f->synced = 1;
    return LRSC_OK;
}

lrsc_status lrsc_atomic_commit(lrsc_atomic_file *f, lrsc_error *err)
{
    lrsc_status st = LRSC_OK;
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    if (!f->synced && (st = lrsc_atomic_sync(f, err)) != LRSC_OK) goto done;
    sigprocmask(SIG_BLOCK, &block, &old);
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM) ||
        sigismember(&pending, SIGHUP)) {
        st = lrsc_error_set(err, LRSC_ERR_INTERRUPTED, "%s: interrupted; output not written", f->path);
    } else if (!f->tmp_path) {
        char proc[64];
        size_t n = strlen(f->path) + 32;
        f->tmp_path = malloc(n);
        if (!f->tmp_path) {
            st = lrsc_error_set(err, LRSC_ERR_NOMEM, "%s: out of memory", f->path);
        } else {
            snprintf(proc, sizeof proc, "/proc/self/fd/%d", f->fd);
            /* A unique name, then rename: linkat cannot replace an existing file. */
            int linked = 0, e = EEXIST;
            for (int i = 0; i < 100 && !linked; i++) {
                snprintf(f->tmp_path, n, "%s.tmp-%ld-%d", f->path, (long)getpid(), i);
                if (linkat(AT_FDCWD, proc, AT_FDCWD, f->tmp_path, AT_SYMLINK_FOLLOW) == 0) linked = 1;
                else if ((e = errno) != EEXIST) break;
            }
            /* The last name tried belongs to someone else unless the link succeeded:
             * never rename or unlink it. */
            if (!linked) {
                st = lrsc_error_set(err, LRSC_ERR_IO, "%s: cannot name output: %s", f->path,
                                    strerror(e));
                free(f->tmp_path);
                f->tmp_path = NULL;
            }
        }
    }
    if (st == LRSC_OK && rename(f->tmp_path, f->path) != 0)
        st = lrsc_error_set(err, LRSC_ERR_IO, "%s: cannot rename output into place: %s", f->path,
                            strerror(errno));
    if (st == LRSC_OK) {
        free(f->tmp_path);
        f->tmp_path = NULL; /* renamed: nothing to clean up */
    }
    if (st != LRSC_OK && f->tmp_path) {
        unlink(f->tmp_path);
        free(f->tmp_path);
        f->tmp_path = NULL;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
done:
    lrsc_atomic_abort(f);
    return st;
}

void lrsc_atomic_abort(lrsc_atomic_file *f)
{
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    if (f->tmp_path) unlink(f->tmp_path);
    free(f->tmp_path);
    f->tmp_path = NULL;
    free(f->path);
    f->path = NULL;
}

int lrsc_file_same(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
