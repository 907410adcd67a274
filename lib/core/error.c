/* error.c - status names and the per-thread last-error message. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#define NID__ERRBUF 1024

static _Thread_local char last_error[NID__ERRBUF];

const char *nid_status_str(int status)
{
    switch (status) {
    case NID_OK:        return "NID_OK: success";
    case NID_EINVAL:    return "NID_EINVAL: invalid argument";
    case NID_ENOMEM:    return "NID_ENOMEM: out of memory";
    case NID_EIO:       return "NID_EIO: input/output error";
    case NID_EFORMAT:   return "NID_EFORMAT: malformed or unsupported data";
    case NID_EBUFSIZE:  return "NID_EBUFSIZE: buffer too small";
    case NID_ENOTSUP:   return "NID_ENOTSUP: not supported by this build";
    case NID_ECANCELED: return "NID_ECANCELED: cancelled";
    case NID_ERANGE:    return "NID_ERANGE: out of range";
    case NID_EMISMATCH: return "NID_EMISMATCH: inputs do not match";
    case NID_EINTERNAL: return "NID_EINTERNAL: internal error";
    default:            return "NID_E?: unknown status code";
    }
}

const char *nid_last_error(void)
{
    return last_error;
}

void nid_clear_error(void)
{
    last_error[0] = '\0';
}

int nid__vfail(int status, const char *fmt, va_list ap)
{
    int n = vsnprintf(last_error, sizeof last_error, fmt, ap);
    if (n < 0) {
        snprintf(last_error, sizeof last_error, "%s", nid_status_str(status));
    } else if ((size_t)n >= sizeof last_error) {
        /* mark truncation so nobody mistakes the cut message for the whole */
        memcpy(last_error + sizeof last_error - 4, "...", 4);
    }
    nid__log(NID_LOG_DEBUG, "%s (%s)", last_error, nid_status_str(status));
    return status;
}

int nid__fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    status = nid__vfail(status, fmt, ap);
    va_end(ap);
    return status;
}
