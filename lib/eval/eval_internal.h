/*
 * eval_internal.h - numerical helpers shared by the evaluation code; not
 * installed. Everything here is hidden (the library is built with
 * -fvisibility=hidden and these carry no NID_API).
 */
#ifndef NID__EVAL_INTERNAL_H
#define NID__EVAL_INTERNAL_H

#include "internal.h"

#include <math.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Neumaier's compensated sum: error O(eps) independent of the number of
 * terms, which matters for variances over 10^5..10^7 placements. */
typedef struct nid_ksum {
    double s;
    double c;
} nid_ksum;

static inline void nid__ksum_add(nid_ksum *k, double x)
{
    double t = k->s + x;
    if (fabs(k->s) >= fabs(x))
        k->c += (k->s - t) + x;
    else
        k->c += (x - t) + k->s;
    k->s = t;
}

static inline double nid__ksum_value(const nid_ksum *k)
{
    return k->s + k->c;
}

/* Regularized incomplete beta I_x(a, b) for a, b > 0, 0 <= x <= 1, and its
 * complement 1 - I_x(a, b); the smaller of the two is computed directly,
 * the other by subtraction from 1. The x^a (1-x)^b / B(a, b) prefactor uses
 * Stirling corrections and the binomial deviance (Loader 2000) so it keeps
 * its accuracy for huge a, b; the continued fraction is evaluated with the
 * modified Lentz method, and where it is badly conditioned (x or 1 - x
 * tiny, the other parameter huge) an integer parameter <= 1e9 switches to
 * the finite binomial sum. Measured against 40-digit references (smaller
 * tail, relative): integer a, b (all that Clopper-Pearson needs): 2e-13 up
 * to 1e6, 1e-11 up to 1e9, 3e-9 up to 1e12, where the rounding of x itself
 * dominates. Non-integer a or b: 1e-11 up to 1e6, but with tiny x and huge
 * b only 1e-8 at b ~ 1e9 and 5e-6 at b ~ 5e11. Returns 0 on success, -1 on
 * bad arguments or non-convergence (both outputs NaN). */
int nid__ibeta(double a, double b, double x, double *ix, double *ixc);

/* Quantile of the Beta(a, b) distribution: the x with I_x(a, b) = p when
 * upper == 0, or with 1 - I_x(a, b) = p when upper != 0 (so that a small
 * upper-tail probability needs no 1 - p). 0 < p < 1. Safeguarded Newton
 * on a shrinking bracket, falling back to bisection; converges to ~1 ulp of
 * the root of the computed I_x.
 * Returns NaN on bad arguments. */
double nid__beta_quantile(double a, double b, double p, int upper);

/* Two-sided p-value of a standard normal statistic: P(|Z| >= |z|),
 * computed with erfc so it stays accurate far into the tails. */
double nid__normal_two_sided_p(double z);

#ifdef __cplusplus
}
#endif

#endif /* NID__EVAL_INTERNAL_H */
