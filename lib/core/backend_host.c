/*
 * backend_host.c - compiled into each backend module (backend.h), never
 * into libnoduleid: gives the module's code the core's nid__fail(),
 * nid__vfail(), nid__log(), nid_last_error() and nid__pix_convert() by
 * forwarding them through the host table the core passed to the module's
 * entry function. All hidden: the module exports its entry only.
 */
#include "backend.h"

#include <stdio.h>

static const nid_backend_host *g_host;

int nid_backend_host_set(const nid_backend_host *host);

/* Called first by every module entry. */
int nid_backend_host_set(const nid_backend_host *host)
{
    if (!host || host->abi != NID__BACKEND_ABI ||
        host->size < sizeof(nid_backend_host))
        return 0;
    g_host = host;
    return 1;
}

int nid__vfail(int status, const char *fmt, va_list ap)
{
    return g_host->vfail(status, fmt, ap);
}

int nid__fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    status = g_host->vfail(status, fmt, ap);
    va_end(ap);
    return status;
}

void nid__log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_host->vlog(level, fmt, ap);
    va_end(ap);
}

const char *nid_last_error(void)
{
    return g_host->last_error();
}

void nid__pix_convert(const nid_frame *src, uint8_t *dst, size_t dst_stride,
                     int32_t dst_format)
{
    g_host->pix_convert(src, dst, dst_stride, dst_format);
}
