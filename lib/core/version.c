/* version.c - run-time version and feature queries. */
#include "internal.h"

#include <unistd.h>

unsigned nid_version_number(void)
{
    return NID_VERSION_NUMBER;
}

const char *nid_version_string(void)
{
    return NID_VERSION_STRING;
}

unsigned nid_features(void)
{
    unsigned f = 0;
#ifdef NID_HAVE_BLAS
    f |= NID_FEATURE_BLAS;
#endif
#ifdef NID_HAVE_VIDEO
    f |= NID_FEATURE_VIDEO;
#endif
#ifdef NID_HAVE_DICOM
    f |= NID_FEATURE_DICOM;
#endif
#ifdef NID_HAVE_TORCH
    f |= NID_FEATURE_TORCH;
#endif
#ifdef NID_HAVE_CUDA
    f |= NID_FEATURE_CUDA;
#endif
    return f;
}

int nid_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
