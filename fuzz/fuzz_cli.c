/* Fuzz target: the command-line sub-commands.
 *
 * The input is split at NUL bytes into argv words for `info` or `dump`
 * (first byte even: info).  A word "@" is replaced by the path of a memory
 * file holding the part of the input after the first "\0\0\0" separator, so
 * the fuzzer drives both the argument handling and the model behind it
 * (find_layers and the renderings in the info/dump commands).  stdout goes
 * to /dev/null; the commands' own stderr lines are silenced, sanitizer
 * reports are not. */
#define _GNU_SOURCE /* memfd_create */
#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/commands.h"

static int devnull = -1, real_stderr = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    devnull = open("/dev/null", O_WRONLY);
    real_stderr = dup(2);
    if (devnull < 0 || real_stderr < 0) abort();
    dup2(devnull, 1);
    __sanitizer_set_report_fd((void *)(intptr_t)real_stderr);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int info = !(data[0] & 1);
    const uint8_t *p = data + 1, *end = data + size;
    const uint8_t *file = end;
    for (const uint8_t *q = p; q + 3 <= end; q++)
        if (!q[0] && !q[1] && !q[2]) {
            file = q + 3;
            end = q;
            break;
        }
    int fd = memfd_create("fuzz.onnx", MFD_CLOEXEC);
    if (fd < 0) abort();
    if (file < data + size && write(fd, file, (size_t)(data + size - file)) != (ssize_t)(data + size - file))
        abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    char *argv[17];
    char *words[16] = {0};
    int argc = 0;
    argv[argc++] = info ? "info" : "dump";
    while (p < end && argc < 16) {
        const uint8_t *z = memchr(p, 0, (size_t)(end - p));
        size_t n = z ? (size_t)(z - p) : (size_t)(end - p);
        char *w = malloc(n + 1);
        if (!w) abort();
        memcpy(w, p, n);
        w[n] = '\0';
        words[argc] = w;
        argv[argc++] = strcmp(w, "@") == 0 ? path : w;
        p = z ? z + 1 : end;
    }
    argv[argc] = NULL;

    fflush(stderr);
    dup2(devnull, 2);
    if (info) lrsc_cli_info(argc, argv);
    else lrsc_cli_dump(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(real_stderr, 2);

    for (int i = 0; i < argc; i++) free(words[i]);
    close(fd);
    return 0;
}
