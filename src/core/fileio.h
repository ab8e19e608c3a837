/* Reading whole files and writing files atomically.
 *
 * An atomic file is written unnamed (O_TMPFILE) in the destination folder,
 * flushed and fsynced, then given a name and renamed over the destination in
 * one step.  Until commit, nothing is visible at the destination; if the
 * process dies mid-write the unnamed file simply disappears.  SIGINT and
 * SIGTERM are held back during the final link+rename so an interrupt cannot
 * leave a stray temporary name behind. */
#ifndef LRSC_CORE_FILEIO_H
#define LRSC_CORE_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Reads the whole of path into a new buffer (caller frees).  Files larger than
 * max_bytes (0: no cap) are refused before reading. */
lrsc_status lrsc_file_read_all(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                               lrsc_error *err);

typedef struct lrsc_atomic_file {
    int fd;
    char *path;      /* destination */
    char *tmp_path;  /* named temporary (fallback when O_TMPFILE is unavailable) */
    int synced;      /* lrsc_atomic_sync has flushed it */
} lrsc_atomic_file;

lrsc_status lrsc_atomic_open(lrsc_atomic_file *f, const char *path, lrsc_error *err);
lrsc_status lrsc_atomic_write(lrsc_atomic_file *f, const void *buf, size_t len, lrsc_error *err);
/* Fsyncs now, so that a later commit only links and renames: two files that
 * must appear together (a model and its external data) are both synced
 * first, and then committed back to back. */
lrsc_status lrsc_atomic_sync(lrsc_atomic_file *f, lrsc_error *err);
/* Fsyncs (unless synced already) and renames into place; f is closed either way. */
lrsc_status lrsc_atomic_commit(lrsc_atomic_file *f, lrsc_error *err);
/* Discards the file; the destination is untouched.  Safe after commit. */
void lrsc_atomic_abort(lrsc_atomic_file *f);

/* True if both paths name the same existing file (same device and inode). */
int lrsc_file_same(const char *a, const char *b);

#endif
