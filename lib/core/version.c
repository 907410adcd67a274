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

/* nid_features() and nid_features_ex() are in backend.c: they report the
 * backend modules that load. */

/* The CPUs this process may run on (taskset, cgroups cpusets), not all
 * online CPUs, so a pinned process does not start too many threads. */
int nid__default_threads(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
