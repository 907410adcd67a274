/*
 * means.c - nid_cluster_means(): each cluster's mean embedding, L2-
 * normalised (a nodule's embedding: what nid_grouping_nodules() gives and
 * a gallery stores).
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int nid_cluster_means(const float *x, size_t n, size_t d,
                      const int32_t *labels, size_t k, float *out,
                      size_t out_cap, int32_t *counts)
{
    static const char fn[] = "nid_cluster_means";
    if (!x || !labels || !out)
        return nid__fail(NID_EINVAL, "%s: %s is NULL", fn,
                        !x ? "x" : !labels ? "labels" : "out");
    if (n == 0 || d == 0 || k == 0)
        return nid__fail(NID_EINVAL, "%s: n = %zu, d = %zu, k = %zu: each must "
                        "be > 0", fn, n, d, k);
    size_t kd, nd;
    if (!nid__mul_size(k, d, &kd) || !nid__mul_size(n, d, &nd) || k > n)
        return nid__fail(NID_EINVAL, "%s: k = %zu clusters of n = %zu items of "
                        "d = %zu is too many", fn, k, n, d);
    if (out_cap < kd)
        return nid__fail(NID_EBUFSIZE, "%s: out holds %zu floats, k x d = %zu "
                        "needed", fn, out_cap, kd);
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || (size_t)labels[i] >= k)
            return nid__fail(NID_EINVAL, "%s: labels[%zu] = %d, expected 0..%zu",
                            fn, i, (int)labels[i], k - 1);
    for (size_t i = 0; i < nd; i++)
        if (!isfinite(x[i]))
            return nid__fail(NID_EINVAL, "%s: row %zu has a non-finite value at "
                            "%zu", fn, i / d, i % d);
    double *sum = calloc(kd, sizeof *sum);
    int32_t *cnt = calloc(k, sizeof *cnt);
    if (!sum || !cnt) {
        free(sum);
        free(cnt);
        return nid__fail(NID_ENOMEM, "%s: out of memory for %zu x %zu", fn, k,
                        d);
    }
    for (size_t i = 0; i < n; i++) {
        double *s = sum + (size_t)labels[i] * d;
        const float *r = x + i * d;
        for (size_t j = 0; j < d; j++) s[j] += r[j];
        cnt[labels[i]]++;
    }
    for (size_t c = 0; c < k; c++)
        if (cnt[c] == 0) {
            free(sum);
            free(cnt);
            return nid__fail(NID_EINVAL, "%s: cluster %zu has no row (labels "
                            "must use every value 0..k-1)", fn, c);
        }
    for (size_t c = 0; c < k; c++) {
        const double *s = sum + c * d;
        double norm = 0;
        for (size_t j = 0; j < d; j++) norm += s[j] * s[j];
        norm = sqrt(norm);
        for (size_t j = 0; j < d; j++)
            out[c * d + j] = (float)(norm > 0 ? s[j] / norm : 0.0);
    }
    if (counts) memcpy(counts, cnt, k * sizeof *counts);
    free(sum);
    free(cnt);
    nid_clear_error();
    return NID_OK;
}
