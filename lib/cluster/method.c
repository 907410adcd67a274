/* method.c - names of the clustering methods. */
#include "internal.h"

#include <string.h>

static const char *const method_names[] = {
    [NID_CLUSTER_PAPER] = "paper",
    [NID_CLUSTER_SINGLE] = "single",
    [NID_CLUSTER_AVERAGE] = "average",
    [NID_CLUSTER_COMPLETE] = "complete",
};

#define N_METHODS (sizeof method_names / sizeof method_names[0])

const char *nid_cluster_method_name(int method)
{
    if (method < 0 || (size_t)method >= N_METHODS) return NULL;
    return method_names[method];
}

int nid_cluster_method_parse(const char *name, int *method)
{
    if (!name || !method)
        return nid__fail(NID_EINVAL, "nid_cluster_method_parse: %s is NULL",
                        !name ? "name" : "method");
    for (size_t i = 0; i < N_METHODS; i++) {
        if (strcmp(name, method_names[i]) == 0) {
            nid_clear_error();
            *method = (int)i;
            return NID_OK;
        }
    }
    return nid__fail(NID_EINVAL,
                    "unknown clustering method '%s' (expected paper, single, "
                    "average or complete)", name);
}
