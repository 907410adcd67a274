/* eval/eval_pairs.c - placeholder until implemented. */
#include "internal.h"
