/* eval/eval_pairs.c - metrics of pair scores (1 = same nodule, 0 = not):
 * ROC AUC with DeLong's variance and test, rates at a threshold with exact
 * Clopper-Pearson intervals, and Youden's optimal threshold.
 *
 * AUC and DeLong use placement values (DeLong et al. 1988): for a positive
 * X_i, V10_i = P(Y < X_i) + P(Y = X_i) / 2 over the negatives Y; for a
 * negative Y_j, V01_j = P(X > Y_j) + P(X = Y_j) / 2 over the positives.
 * AUC = mean V10 = mean V01, Var = S10 / m + S01 / n with S the sample
 * (co)variances of the placements. Like Sun & Xu (2014) the placements
 * come from one sort of the pooled scores (midranks of tied groups), so
 * the whole computation is O(N log N) instead of DeLong's O(m n).
 */
#include "eval_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define Z975 1.959963984540054       /* standard normal 0.975 quantile */
#define LN_SQRT_2PI 0.918938533204672742

/* ------------------------------------------------------------------------ */
/* Special functions                                                        */
/* ------------------------------------------------------------------------ */

/* delta(z) = lgamma(z) - [(z - 1/2) log z - z + log sqrt(2 pi)]: the error
 * of Stirling's formula, small and smooth, so that log B(a, b) can be
 * assembled without cancelling huge lgamma values. */
static double stirling_delta(double z)
{
    if (z < 15.0)
        return lgamma(z) - ((z - 0.5) * log(z) - z + LN_SQRT_2PI);
    double r = 1.0 / z, r2 = r * r;
    return r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 -
                r2 * (1.0 / 1680 - r2 / 1188))));
}

/* bd0(x, np) = x log(x / np) + np - x, the binomial deviance term, computed
 * without cancellation when x ~ np (Loader 2000). */
static double bd0(double x, double np)
{
    if (fabs(x - np) < 0.1 * (x + np)) {
        double v = (x - np) / (x + np);
        double s = (x - np) * v;
        double ej = 2.0 * x * v;
        double v2 = v * v;
        for (int j = 1; j < 1000; j++) {
            ej *= v2;
            double s1 = s + ej / (2 * j + 1);
            if (s1 == s) return s1;
            s = s1;
        }
        return s;
    }
    return x * log(x / np) + np - x;
}

/* log(x^a (1-x)^b / B(a, b)), with y = 1 - x passed in. Written as
 *   -bd0(a, c x) - bd0(b, c y) + log(a b / (2 pi c)) / 2
 *   - delta(a) - delta(b) + delta(c),          c = a + b,
 * which is exact algebra on Stirling's series and keeps full relative
 * accuracy for large a and b. */
static double log_beta_prefactor(double a, double b, double x, double y)
{
    double c = a + b;
    return -bd0(a, c * x) - bd0(b, c * y)
           + 0.5 * (log(a) + log(b) - log(c)) - LN_SQRT_2PI
           - stirling_delta(a) - stirling_delta(b) + stirling_delta(c);
}

/* Continued fraction for I_x(a, b) (Numerical Recipes' betacf), evaluated
 * with the modified Lentz method. Converges fast for x < (a+1)/(a+b+2). */
static int beta_cf(double a, double b, double x, double *out)
{
    const double tiny = 1e-300, eps = 1e-15;
    double qab = a + b, qap = a + 1.0, qam = a - 1.0;
    double c = 1.0, d = 1.0 - qab * x / qap;
    if (fabs(d) < tiny) d = tiny;
    d = 1.0 / d;
    double h = d;
    /* The number of terms grows like sqrt(max(a, b)); allow plenty. */
    double lim = 1000.0 + 20.0 * sqrt(a > b ? a : b);
    for (double m = 1.0; m <= lim; m += 1.0) {
        double m2 = 2.0 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1.0 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1.0 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < eps) {
            *out = h;
            return 0;
        }
    }
    return -1;
}

/* 1 - I_x(a, b) for integer a >= 1 as the binomial lower tail
 *   sum_{j=0}^{a-1} C(a+b-1, j) x^j y^(a+b-1-j),
 * summed downwards from j = a - 1, whose term is exp(lp) / (b x), while
 * the terms still matter. Used when x lies above the mean a / (a + b), so
 * the terms shrink from the start; the count is O(sqrt(a)). */
static double binom_lower_tail(double a, double b, double x, double y,
                               double lp)
{
    double t = exp(lp - log(b) - log(x));
    nid_ksum sum = {0, 0};
    nid__ksum_add(&sum, t);
    for (double j = a - 1.0; j >= 1.0 && t > 0.0; j -= 1.0) {
        double r = (j * y) / ((a + b - j) * x);
        t *= r;
        nid__ksum_add(&sum, t);
        /* the ratio only falls as j falls: geometric bound on the rest */
        if (r < 1.0 && t * r < 1e-17 * (1.0 - r) * nid__ksum_value(&sum))
            break;
    }
    return nid__ksum_value(&sum);
}

/* I_x(a, b), its complement, and log of the density x^(a-1) y^(b-1) / B. */
static int ibeta_full(double a, double b, double x, double *ix, double *ixc,
                      double *log_pdf)
{
    if (!(a > 0.0) || !(b > 0.0) || !(x >= 0.0) || !(x <= 1.0) ||
        isinf(a) || isinf(b))
        return -1;
    if (x == 0.0 || x == 1.0) {
        *ix = x;
        *ixc = 1.0 - x;
        *log_pdf = -INFINITY; /* only used for a, b > 1 by the caller */
        return 0;
    }
    double y = 1.0 - x;
    double lp = log_beta_prefactor(a, b, x, y);
    double cf;
    *log_pdf = lp - log(x) - log(y);
    if (x < (a + 1.0) / (a + b + 2.0)) {
        if (x > 0.5 && b == floor(b) && b <= 1e9) {
            /* mirror image of the tiny-x case below: y ~ 0, a huge */
            *ix = binom_lower_tail(b, a, y, x, lp);
            *ixc = 1.0 - *ix;
            return 0;
        }
        if (beta_cf(a, b, x, &cf) != 0) return -1;
        *ix = exp(lp) * cf / a;
        *ixc = 1.0 - *ix;
    } else if (x < 0.5 && a == floor(a) && a <= 1e9) {
        /* Tiny x with huge b: the fraction in y ~ 1 is badly conditioned
         * (1e-5 lost for x ~ 1e-11, b ~ 1e12), so sum the binomial tail
         * instead: positive terms, no cancellation. */
        *ixc = binom_lower_tail(a, b, x, y, lp);
        *ix = 1.0 - *ixc;
    } else {
        if (beta_cf(b, a, y, &cf) != 0) return -1;
        *ixc = exp(lp) * cf / b;
        /* For x < 1/2 the fraction saw y = fl(1 - x), off by
         * dy = (1 - x) - y (exact: both subtractions are exact by
         * Sterbenz); correct that to first order with the density. */
        double dy = (1.0 - y) - x;
        if (dy != 0.0) *ixc += dy * exp(*log_pdf);
        *ix = 1.0 - *ixc;
    }
    return 0;
}

int nid__ibeta(double a, double b, double x, double *ix, double *ixc)
{
    double lpdf;
    if (ibeta_full(a, b, x, ix, ixc, &lpdf) != 0) {
        *ix = *ixc = NAN;
        return -1;
    }
    return 0;
}

/* Starting point for the quantile search (Abramowitz & Stegun 26.5.22, as
 * in Numerical Recipes' invbetai); plow is the lower-tail probability. */
static double beta_guess(double a, double b, double plow)
{
    double x;
    if (a >= 1.0 && b >= 1.0) {
        double pp = plow < 0.5 ? plow : 1.0 - plow;
        double t = sqrt(-2.0 * log(pp));
        double z = (2.30753 + t * 0.27061) / (1.0 + t * (0.99229 + t * 0.04481)) - t;
        if (plow < 0.5) z = -z;
        double al = (z * z - 3.0) / 6.0;
        double h = 2.0 / (1.0 / (2.0 * a - 1.0) + 1.0 / (2.0 * b - 1.0));
        double w = z * sqrt(al + h) / h -
                   (1.0 / (2.0 * b - 1.0) - 1.0 / (2.0 * a - 1.0)) *
                       (al + 5.0 / 6.0 - 2.0 / (3.0 * h));
        x = a / (a + b * exp(2.0 * w));
    } else {
        double lna = log(a / (a + b)), lnb = log(b / (a + b));
        double t = exp(a * lna) / a, u = exp(b * lnb) / b, w = t + u;
        if (plow < t / w) x = pow(a * w * plow, 1.0 / a);
        else x = 1.0 - pow(b * w * (1.0 - plow), 1.0 / b);
    }
    if (!(x > 0.0 && x < 1.0)) x = 0.5;
    return x;
}

/* Midpoint of the bracket (lo, hi), geometric when it spans decades at
 * either end so that tiny quantiles (1e-12 for k = 1 of 10^10) or ones very
 * close to 1 are reached in a few dozen halvings. */
static double bracket_mid(double lo, double hi)
{
    if (lo == 0.0) return hi / 16.0;
    if (hi == 1.0) return 1.0 - (1.0 - lo) / 16.0;
    if (hi / lo > 16.0) return sqrt(lo * hi);
    if ((1.0 - lo) / (1.0 - hi) > 16.0) return 1.0 - sqrt((1.0 - lo) * (1.0 - hi));
    return lo + 0.5 * (hi - lo);
}

double nid__beta_quantile(double a, double b, double p, int upper)
{
    if (!(a > 0.0) || !(b > 0.0) || !(p > 0.0) || !(p < 1.0) ||
        isinf(a) || isinf(b))
        return NAN;
    double x = beta_guess(a, b, upper ? 1.0 - p : p);
    double lo = 0.0, hi = 1.0;
    for (int it = 0; it < 500; it++) {
        double ix, ixc, lpdf;
        if (ibeta_full(a, b, x, &ix, &ixc, &lpdf) != 0) return NAN;
        /* g increases with x and is 0 at the quantile */
        double g = upper ? p - ixc : ix - p;
        if (g == 0.0) return x;
        if (g < 0.0) lo = x; else hi = x;
        double xn = x - g / exp(lpdf);
        if (!(xn > lo && xn < hi)) xn = bracket_mid(lo, hi);
        if (xn <= lo || xn >= hi) return x;           /* bracket exhausted */
        if (fabs(xn - x) <= 2.0 * DBL_EPSILON * xn) return xn; /* ~1 ulp */
        x = xn;
    }
    return x;
}

double nid__normal_two_sided_p(double z)
{
    if (isnan(z)) return NAN;
    return erfc(fabs(z) * 0.70710678118654752440);
}

/* ------------------------------------------------------------------------ */
/* Input checks                                                             */
/* ------------------------------------------------------------------------ */

/* Check labels are 0/1 and scores finite; count positives. need_both makes
 * "no positives" / "no negatives" an error (AUC needs both). */
static int check_pairs(const char *fn, const int32_t *labels,
                       const double *scores, const char *sname, size_t n,
                       int need_both, size_t *n_pos)
{
    if (labels == NULL) return nid__fail(NID_EINVAL, "%s: labels is NULL", fn);
    if (scores == NULL) return nid__fail(NID_EINVAL, "%s: %s is NULL", fn, sname);
    if (n == 0) return nid__fail(NID_EINVAL, "%s: n must be > 0", fn);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (labels[i] != 0 && labels[i] != 1)
            return nid__fail(NID_EINVAL, "%s: labels[%zu] = %d, expected 0 or 1",
                            fn, i, (int)labels[i]);
        if (!isfinite(scores[i]))
            return nid__fail(NID_EINVAL, "%s: %s[%zu] = %g is not finite",
                            fn, sname, i, scores[i]);
        pos += (size_t)labels[i];
    }
    if (need_both && pos == 0)
        return nid__fail(NID_EINVAL,
                        "%s: no positive pairs (all %zu labels are 0); "
                        "both classes are needed", fn, n);
    if (need_both && pos == n)
        return nid__fail(NID_EINVAL,
                        "%s: no negative pairs (all %zu labels are 1); "
                        "both classes are needed", fn, n);
    *n_pos = pos;
    return NID_OK;
}

/* ------------------------------------------------------------------------ */
/* AUC and DeLong                                                           */
/* ------------------------------------------------------------------------ */

typedef struct keyed {
    double s;
    size_t i;
} keyed;

static int cmp_keyed(const void *x, const void *y)
{
    double a = ((const keyed *)x)->s, b = ((const keyed *)y)->s;
    return (a > b) - (a < b);
}

/* Placement value of every pair (V10 for positives, V01 for negatives,
 * see the file comment) from one sort; returns the AUC computed exactly
 * from integer counts: sum over positives of 2 * #below + #tied, / 2mn. */
static double placements(const int32_t *labels, const double *s, size_t n,
                         size_t m, size_t nn, keyed *k, double *place)
{
    for (size_t i = 0; i < n; i++) {
        k[i].s = s[i];
        k[i].i = i;
    }
    qsort(k, n, sizeof *k, cmp_keyed);
    uint64_t u2 = 0;          /* 2 U: exact while 2 m n < 2^64        */
    long double u2_big = 0;   /* the same for N > 2^32 items           */
    int big = (uint64_t)n > (UINT64_C(1) << 32);
    size_t neg_below = 0, pos_below = 0;
    for (size_t g = 0; g < n;) {
        size_t e = g, pos_in = 0;
        while (e < n && k[e].s == k[g].s) pos_in += (size_t)labels[k[e++].i];
        size_t neg_in = (e - g) - pos_in;
        size_t pos_above = m - pos_below - pos_in;
        double v10 = ((double)neg_below + 0.5 * (double)neg_in) / (double)nn;
        double v01 = ((double)pos_above + 0.5 * (double)pos_in) / (double)m;
        for (size_t t = g; t < e; t++)
            place[k[t].i] = labels[k[t].i] ? v10 : v01;
        uint64_t c = 2 * (uint64_t)neg_below + neg_in;
        if (big) u2_big += (long double)pos_in * (long double)c;
        else u2 += (uint64_t)pos_in * c;
        neg_below += neg_in;
        pos_below += pos_in;
        g = e;
    }
    double denom = 2.0 * (double)m * (double)nn;
    return big ? (double)(u2_big / (long double)denom) : (double)u2 / denom;
}

/* sum over class `cls` of (pa - ma)(pb - mb), compensated */
static double class_comoment(const int32_t *labels, int32_t cls, size_t n,
                             const double *pa, double ma, const double *pb,
                             double mb)
{
    nid_ksum k = {0, 0};
    for (size_t i = 0; i < n; i++)
        if (labels[i] == cls) nid__ksum_add(&k, (pa[i] - ma) * (pb[i] - mb));
    return nid__ksum_value(&k);
}

/* DeLong covariance of two AUCs from their placements (pa == pb gives the
 * variance). NaN when a class has a single member: the sample covariance
 * of one value is undefined (0/0), and we do not invent one. */
static double delong_cov(const int32_t *labels, size_t n, size_t m, size_t nn,
                         const double *pa, double auc_a, const double *pb,
                         double auc_b)
{
    if (m < 2 || nn < 2) return NAN;
    double s10 = class_comoment(labels, 1, n, pa, auc_a, pb, auc_b) / (double)(m - 1);
    double s01 = class_comoment(labels, 0, n, pa, auc_a, pb, auc_b) / (double)(nn - 1);
    return s10 / (double)m + s01 / (double)nn;
}

static void fill_auc(nid_auc_result *r, double auc, double var, size_t m,
                     size_t nn)
{
    nid_auc_result_init(r);
    r->auc.value = auc;
    r->variance = var;
    double half = Z975 * sqrt(var); /* NaN propagates to both bounds */
    r->auc.lo = isnan(half) ? NAN : fmax(0.0, auc - half);
    r->auc.hi = isnan(half) ? NAN : fmin(1.0, auc + half);
    r->n_pos = m;
    r->n_neg = nn;
}

/* Scratch: sorted keys and one (pb == NULL) or two placement arrays. */
static int alloc_scratch(const char *fn, size_t n, keyed **k, double **pa,
                         double **pb)
{
    size_t kb, db;
    if (!nid__mul_size(n, sizeof **k, &kb) || !nid__mul_size(n, sizeof **pa, &db))
        return nid__fail(NID_ENOMEM, "%s: n = %zu is too large", fn, n);
    *k = malloc(kb);
    *pa = malloc(db);
    double *b = pb != NULL ? malloc(db) : NULL;
    if (*k == NULL || *pa == NULL || (pb != NULL && b == NULL)) {
        free(*k); free(*pa); free(b);
        return nid__fail(NID_ENOMEM, "%s: cannot allocate scratch for n = %zu",
                        fn, n);
    }
    if (pb != NULL) *pb = b;
    return NID_OK;
}

NID__DEFINE_INIT(nid_auc_result, nid__no_defaults)

int nid_eval_auc(const int32_t *labels, const double *scores, size_t n,
                 nid_auc_result *out)
{
    static const char fn[] = "nid_eval_auc";
    size_t m = 0;
    int rc = check_pairs(fn, labels, scores, "scores", n, 1, &m);
    if (rc != NID_OK) return rc;
    if (out == NULL) return nid__fail(NID_EINVAL, "%s: out is NULL", fn);
    rc = NID__STRUCT_CHECK(fn, "out", nid_auc_result, out);
    if (rc != NID_OK) return rc;

    keyed *k;
    double *place;
    rc = alloc_scratch(fn, n, &k, &place, NULL);
    if (rc != NID_OK) return rc;
    size_t nn = n - m;
    double auc = placements(labels, scores, n, m, nn, k, place);
    double var = delong_cov(labels, n, m, nn, place, auc, place, auc);
    free(k);
    free(place);

    nid_auc_result r;
    fill_auc(&r, auc, var, m, nn);
    NID__STRUCT_OUT(fn, "out", nid_auc_result, out, &r);
    nid_clear_error();
    return NID_OK;
}

static void delong_result_defaults(nid_delong_result *d)
{
    nid_auc_result_init(&d->a);
    nid_auc_result_init(&d->b);
}

NID__DEFINE_INIT(nid_delong_result, delong_result_defaults)

/* z and p of the difference. The variance of the difference is computed
 * from the differences of the placements (not var_a + var_b - 2 cov), so
 * it cannot come out negative by cancellation and is exactly 0 for two
 * identical scorers. */
static void delong_test(const int32_t *labels, size_t n, size_t m, size_t nn,
                        double *pa, double auc_a, const double *pb,
                        double auc_b, nid_delong_result *r)
{
    for (size_t i = 0; i < n; i++) pa[i] -= pb[i];
    double d = auc_a - auc_b;
    double var = delong_cov(labels, n, m, nn, pa, d, pa, d);
    if (isnan(var)) {
        r->z = NAN;
        r->p_value = NAN;
    } else if (var <= 0.0) {
        r->z = d == 0.0 ? 0.0 : copysign(INFINITY, d);
        r->p_value = d == 0.0 ? 1.0 : 0.0;
    } else {
        r->z = d / sqrt(var);
        r->p_value = nid__normal_two_sided_p(r->z);
    }
}

int nid_eval_delong(const int32_t *labels, const double *scores_a,
                    const double *scores_b, size_t n, nid_delong_result *out)
{
    static const char fn[] = "nid_eval_delong";
    size_t m = 0, m2 = 0;
    int rc = check_pairs(fn, labels, scores_a, "scores_a", n, 1, &m);
    if (rc != NID_OK) return rc;
    rc = check_pairs(fn, labels, scores_b, "scores_b", n, 1, &m2);
    if (rc != NID_OK) return rc; /* m2 == m: same labels */
    if (out == NULL) return nid__fail(NID_EINVAL, "%s: out is NULL", fn);
    rc = NID__STRUCT_CHECK(fn, "out", nid_delong_result, out);
    if (rc != NID_OK) return rc;

    keyed *k;
    double *pa, *pb;
    rc = alloc_scratch(fn, n, &k, &pa, &pb);
    if (rc != NID_OK) return rc;
    size_t nn = n - m;
    double auc_a = placements(labels, scores_a, n, m, nn, k, pa);
    double auc_b = placements(labels, scores_b, n, m, nn, k, pb);

    nid_delong_result r;
    nid_delong_result_init(&r);
    fill_auc(&r.a, auc_a, delong_cov(labels, n, m, nn, pa, auc_a, pa, auc_a), m, nn);
    fill_auc(&r.b, auc_b, delong_cov(labels, n, m, nn, pb, auc_b, pb, auc_b), m, nn);
    r.covariance = delong_cov(labels, n, m, nn, pa, auc_a, pb, auc_b);
    delong_test(labels, n, m, nn, pa, auc_a, pb, auc_b, &r);
    free(k); free(pa); free(pb);

    NID__STRUCT_OUT(fn, "out", nid_delong_result, out, &r);
    nid_clear_error();
    return NID_OK;
}

/* ------------------------------------------------------------------------ */
/* Threshold metrics                                                        */
/* ------------------------------------------------------------------------ */

/* Clopper-Pearson: lo = Beta(k, n-k+1) quantile 0.025, hi = Beta(k+1, n-k)
 * quantile 0.975 (solved as an upper tail of 0.025); lo = 0 for k = 0 and
 * hi = 1 for k = n. Assumes 0 <= k <= n, n > 0. */
static nid_estimate clopper_pearson(uint64_t k, uint64_t n)
{
    nid_estimate e;
    double dk = (double)k, dn = (double)n;
    e.value = dk / dn;
    e.lo = k == 0 ? 0.0 : nid__beta_quantile(dk, (double)(n - k) + 1.0, 0.025, 0);
    e.hi = k == n ? 1.0 : nid__beta_quantile(dk + 1.0, (double)(n - k), 0.025, 1);
    return e;
}

static nid_estimate rate(uint64_t k, uint64_t n)
{
    if (n == 0) {
        nid_estimate e = {NAN, NAN, NAN};
        return e;
    }
    return clopper_pearson(k, n);
}

int nid_eval_clopper_pearson(uint64_t k, uint64_t n, nid_estimate *out)
{
    static const char fn[] = "nid_eval_clopper_pearson";
    if (out == NULL) return nid__fail(NID_EINVAL, "%s: out is NULL", fn);
    if (n == 0) return nid__fail(NID_EINVAL, "%s: n must be > 0", fn);
    if (k > n)
        return nid__fail(NID_EINVAL, "%s: k = %llu exceeds n = %llu", fn,
                        (unsigned long long)k, (unsigned long long)n);
    nid_estimate e = clopper_pearson(k, n);
    if (isnan(e.lo) || isnan(e.hi))
        return nid__fail(NID_EINTERNAL, "%s: beta quantile did not converge "
                        "for k = %llu, n = %llu", fn, (unsigned long long)k,
                        (unsigned long long)n);
    *out = e;
    nid_clear_error();
    return NID_OK;
}

NID__DEFINE_INIT(nid_binary_result, nid__no_defaults)

int nid_eval_threshold(const int32_t *labels, const double *scores, size_t n,
                       double threshold, nid_binary_result *out)
{
    static const char fn[] = "nid_eval_threshold";
    size_t m = 0;
    int rc = check_pairs(fn, labels, scores, "scores", n, 0, &m);
    if (rc != NID_OK) return rc;
    if (!isfinite(threshold))
        return nid__fail(NID_EINVAL, "%s: threshold = %g is not finite", fn,
                        threshold);
    if (out == NULL) return nid__fail(NID_EINVAL, "%s: out is NULL", fn);
    rc = NID__STRUCT_CHECK(fn, "out", nid_binary_result, out);
    if (rc != NID_OK) return rc;

    nid_binary_result r;
    nid_binary_result_init(&r);
    r.threshold = threshold;
    for (size_t i = 0; i < n; i++) {
        int said = scores[i] >= threshold;
        if (labels[i]) { if (said) r.tp++; else r.fn++; }
        else           { if (said) r.fp++; else r.tn++; }
    }
    r.accuracy = rate(r.tp + r.tn, (uint64_t)n);
    r.sensitivity = rate(r.tp, r.tp + r.fn);
    r.specificity = rate(r.tn, r.tn + r.fp);
    r.precision = rate(r.tp, r.tp + r.fp);
    NID__STRUCT_OUT(fn, "out", nid_binary_result, out, &r);
    nid_clear_error();
    return NID_OK;
}

static int cmp_keyed_desc(const void *x, const void *y)
{
    return cmp_keyed(y, x);
}

/* J * P * N = tp * N - fp * P, compared exactly so that ties between
 * thresholds are real ties, not rounding noise. */
#if defined(__SIZEOF_INT128__)
__extension__ typedef __int128 jnum_t;
#else
typedef long double jnum_t;
#endif

int nid_eval_youden(const int32_t *labels, const double *scores, size_t n,
                    double *threshold, double *j)
{
    static const char fn[] = "nid_eval_youden";
    size_t m = 0;
    int rc = check_pairs(fn, labels, scores, "scores", n, 1, &m);
    if (rc != NID_OK) return rc;
    size_t kb;
    if (!nid__mul_size(n, sizeof(keyed), &kb))
        return nid__fail(NID_ENOMEM, "%s: n = %zu is too large", fn, n);
    keyed *k = malloc(kb);
    if (k == NULL)
        return nid__fail(NID_ENOMEM, "%s: cannot allocate scratch for n = %zu",
                        fn, n);
    for (size_t i = 0; i < n; i++) {
        k[i].s = scores[i];
        k[i].i = i;
    }
    qsort(k, n, sizeof *k, cmp_keyed_desc);

    size_t nn = n - m, tp = 0, fp = 0, best_tp = 0, best_fp = 0;
    double best_t = k[0].s;
    jnum_t best = 0;
    int have = 0;
    /* Walk thresholds from the highest score down; a strict improvement is
     * needed to move, so ties keep the highest threshold. */
    for (size_t g = 0; g < n;) {
        size_t e = g;
        while (e < n && k[e].s == k[g].s) {
            if (labels[k[e].i]) tp++; else fp++;
            e++;
        }
        jnum_t v = (jnum_t)tp * (jnum_t)nn - (jnum_t)fp * (jnum_t)m;
        if (!have || v > best) {
            have = 1;
            best = v;
            best_t = k[g].s;
            best_tp = tp;
            best_fp = fp;
        }
        g = e;
    }
    free(k);
    if (threshold) *threshold = best_t;
    if (j) *j = (double)best_tp / (double)m - (double)best_fp / (double)nn;
    nid_clear_error();
    return NID_OK;
}
