/* version.c - run-time version and feature queries. */
#include "internal.h"

#include <sched.h>
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

/* The CPUs this process may run on (taskset, cgroups cpusets), not all
 * online CPUs, so a pinned process does not start too many threads. */
int nid_default_threads(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
