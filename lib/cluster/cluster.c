/* cluster/cluster.c - placeholder until implemented. */
#include "internal.h"
