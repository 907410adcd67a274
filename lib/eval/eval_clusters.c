/* eval/eval_clusters.c - placeholder until implemented. */
#include "internal.h"
