/* Fuzz target: tensor files.  Even first byte: the rest is a .npy file
 * (parsed in memory); odd: a serialized TensorProto (.pb), read through a
 * memory file.  Whatever parses is also converted to float32. */
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "calib/tensorfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    lrsc_error err = {0};
    lrsc_tensor t;
    lrsc_status st;
    if (!(data[0] & 1)) {
        st = lrsc_npy_parse(data + 1, size - 1, "fuzz.npy", &t, &err);
    } else {
        int fd = memfd_create("fuzz.pb", MFD_CLOEXEC);
        if (fd < 0) abort();
        if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) abort();
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        char *name = NULL;
        st = lrsc_pb_read(path, &t, &name, &err);
        free(name);
        close(fd);
    }
    if (st == LRSC_OK) {
        lrsc_tensor f;
        lrsc_error_clear(&err);
        if (lrsc_tensor_to_float(&t, &f, &err) == LRSC_OK) lrsc_tensor_free(&f);
        lrsc_tensor_free(&t);
    }
    return 0;
}
