/* Status codes and the error record every fallible call fills in.
 *
 * Functions return lrsc_status; on failure they also write one human-readable
 * line into a caller-owned lrsc_error.  The message names the file or object
 * involved ("model.onnx: tensor 'w' ...") so the CLI can print it as is. */
#ifndef LRSC_CORE_STATUS_H
#define LRSC_CORE_STATUS_H

#include <stddef.h>

typedef enum lrsc_status {
    LRSC_OK = 0,
    LRSC_ERR_IO,          /* cannot open, read or write a file */
    LRSC_ERR_FORMAT,      /* the file is not what it claims to be */
    LRSC_ERR_INVALID,     /* well formed, but inconsistent (shapes, names, attributes) */
    LRSC_ERR_UNSUPPORTED, /* valid, but not something this tool handles */
    LRSC_ERR_NOMEM,       /* allocation failed */
    LRSC_ERR_LIMIT,       /* a size or resource cap was exceeded */
    LRSC_ERR_ARGS,        /* bad command-line or API arguments */
    LRSC_ERR_NUMERIC,     /* a numerical routine failed (non-finite values, LAPACK info) */
    LRSC_ERR_INTERRUPTED, /* stopped by a signal */
    LRSC_ERR_INTERNAL
} lrsc_status;

#define LRSC_ERROR_MSG_MAX 512

typedef struct lrsc_error {
    lrsc_status code;
    char msg[LRSC_ERROR_MSG_MAX];
} lrsc_error;

/* Records code and a printf-style message in err (which may be NULL) and
 * returns code, so callers can write `return lrsc_error_set(err, ...)`.
 * A message already recorded is kept: the innermost cause is the clearest. */
lrsc_status lrsc_error_set(lrsc_error *err, lrsc_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes an existing message, e.g. with the file name: "a.onnx: <msg>". */
void lrsc_error_prefix(lrsc_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void lrsc_error_clear(lrsc_error *err);
const char *lrsc_status_name(lrsc_status code);

#endif
