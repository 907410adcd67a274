/* cluster/distance.c - placeholder until implemented. */
#include "internal.h"
