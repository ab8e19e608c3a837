#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

lrsc_status lrsc_error_set(lrsc_error *err, lrsc_status code, const char *fmt, ...)
{
    if (err && err->code == LRSC_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void lrsc_error_prefix(lrsc_error *err, const char *fmt, ...)
{
    if (!err) return;
    char prefix[LRSC_ERROR_MSG_MAX], old[LRSC_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* Truncation is fine here: the message is for people and stays one line. */
    size_t pl = strnlen(prefix, sizeof err->msg - 1);
    memcpy(err->msg, prefix, pl);
    size_t ol = strnlen(old, sizeof err->msg - 1 - pl);
    memcpy(err->msg + pl, old, ol);
    err->msg[pl + ol] = '\0';
}

void lrsc_error_clear(lrsc_error *err)
{
    if (err) {
        err->code = LRSC_OK;
        err->msg[0] = '\0';
    }
}

const char *lrsc_status_name(lrsc_status code)
{
    switch (code) {
    case LRSC_OK: return "ok";
    case LRSC_ERR_IO: return "i/o error";
    case LRSC_ERR_FORMAT: return "format error";
    case LRSC_ERR_INVALID: return "invalid";
    case LRSC_ERR_UNSUPPORTED: return "unsupported";
    case LRSC_ERR_NOMEM: return "out of memory";
    case LRSC_ERR_LIMIT: return "limit exceeded";
    case LRSC_ERR_ARGS: return "bad arguments";
    case LRSC_ERR_NUMERIC: return "numerical failure";
    case LRSC_ERR_INTERRUPTED: return "interrupted";
    case LRSC_ERR_INTERNAL: return "internal error";
    }
    return "unknown";
}
