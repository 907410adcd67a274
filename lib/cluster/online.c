/* cluster/online.c - placeholder until implemented. */
#include "internal.h"
