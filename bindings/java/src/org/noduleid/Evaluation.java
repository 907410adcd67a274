package org.noduleid;

/**
 * Evaluation metrics: clustering agreement (pairwise and BCubed), ROC AUC
 * with DeLong variance and test, rates at a threshold with exact
 * Clopper-Pearson intervals, Youden's J. Pairs are labelled 1 (same
 * nodule) or 0 and scored higher = more likely the same. Stateless and
 * thread-safe; arrays are copied for the call.
 */
public final class Evaluation {
    static { Native.load(); }

    private Evaluation() {}

    // The struct layouts (generated from noduleid.h).
    private static final class CS extends NativeLayout.nid_cluster_scores {}
    private static final class AUC extends NativeLayout.nid_auc_result {}
    private static final class DL extends NativeLayout.nid_delong_result {}
    private static final class BR extends NativeLayout.nid_binary_result {}
    private static final class EST extends NativeLayout.nid_estimate {}

    private static double d(long[] v, int i) { return NativeLayout.d(v, i); }

    /** A nid_estimate flattened at v[off..]. */
    static Estimate estimate(long[] v, int off) {
        return new Estimate(d(v, off + EST.VALUE), d(v, off + EST.LO), d(v, off + EST.HI));
    }

    /** A proportion or AUC with its 95% confidence interval. */
    public static final class Estimate {
        private final double value, lo, hi;
        public double value() { return value; }
        public double lo() { return lo; }
        public double hi() { return hi; }
        Estimate(double value, double lo, double hi) { this.value = value; this.lo = lo; this.hi = hi; }
        @Override public String toString() { return value + " [" + lo + ", " + hi + "]"; }
    }

    /** nid_cluster_scores. */
    public static final class ClusterScores {
        private final double pairPrecision, pairRecall, pairF, bcubedPrecision, bcubedRecall, bcubedF;
        public double pairPrecision() { return pairPrecision; }
        public double pairRecall() { return pairRecall; }
        public double pairF() { return pairF; }
        public double bcubedPrecision() { return bcubedPrecision; }
        public double bcubedRecall() { return bcubedRecall; }
        public double bcubedF() { return bcubedF; }
        private final long pairsTrue, pairsPred, pairsBoth, nTrueClusters, nPredClusters;
        public long pairsTrue() { return pairsTrue; }
        public long pairsPred() { return pairsPred; }
        public long pairsBoth() { return pairsBoth; }
        public long nTrueClusters() { return nTrueClusters; }
        public long nPredClusters() { return nPredClusters; }
        /** From a nid_cluster_scores layout (NativeLayout). */
        ClusterScores(long[] v) {
            pairPrecision = d(v, CS.PAIR_PRECISION); pairRecall = d(v, CS.PAIR_RECALL); pairF = d(v, CS.PAIR_F);
            bcubedPrecision = d(v, CS.BCUBED_PRECISION); bcubedRecall = d(v, CS.BCUBED_RECALL);
            bcubedF = d(v, CS.BCUBED_F);
            pairsTrue = v[CS.PAIRS_TRUE]; pairsPred = v[CS.PAIRS_PRED]; pairsBoth = v[CS.PAIRS_BOTH];
            nTrueClusters = v[CS.N_TRUE_CLUSTERS]; nPredClusters = v[CS.N_PRED_CLUSTERS];
        }
    }

    /** nid_auc_result: AUC with DeLong CI; variance/lo/hi NaN with a
     *  single positive or negative. */
    public static final class AucResult {
        private final Estimate auc;
        public Estimate auc() { return auc; }
        private final double variance;
        public double variance() { return variance; }
        private final long nPos, nNeg;
        public long nPos() { return nPos; }
        public long nNeg() { return nNeg; }
        /** From a nid_auc_result layout flattened at v[off..] (NativeLayout). */
        AucResult(long[] v, int off) {
            auc = estimate(v, off + AUC.AUC_VALUE);
            variance = d(v, off + AUC.VARIANCE);
            nPos = v[off + AUC.N_POS]; nNeg = v[off + AUC.N_NEG];
        }
    }

    /** nid_delong_result: DeLong's test of two correlated AUCs. */
    public static final class DeLongResult {
        private final AucResult a, b;
        public AucResult a() { return a; }
        public AucResult b() { return b; }
        private final double covariance, z, pValue;
        public double covariance() { return covariance; }
        public double z() { return z; }
        public double pValue() { return pValue; }
        /** From a nid_delong_result layout (NativeLayout). */
        DeLongResult(long[] v) {
            a = new AucResult(v, DL.A_AUC_VALUE);
            b = new AucResult(v, DL.B_AUC_VALUE);
            covariance = d(v, DL.COVARIANCE); z = d(v, DL.Z); pValue = d(v, DL.P_VALUE);
        }
    }

    /** nid_binary_result: counts and rates at a threshold (score &gt;= threshold
     *  means "same"). */
    public static final class BinaryResult {
        private final double threshold;
        public double threshold() { return threshold; }
        private final long tp, fp, tn, fn;
        public long tp() { return tp; }
        public long fp() { return fp; }
        public long tn() { return tn; }
        public long fn() { return fn; }
        private final Estimate accuracy, sensitivity, specificity, precision;
        public Estimate accuracy() { return accuracy; }
        public Estimate sensitivity() { return sensitivity; }
        public Estimate specificity() { return specificity; }
        public Estimate precision() { return precision; }
        /** From a nid_binary_result layout (NativeLayout). */
        BinaryResult(long[] v) {
            threshold = d(v, BR.THRESHOLD);
            accuracy = estimate(v, BR.ACCURACY_VALUE);
            sensitivity = estimate(v, BR.SENSITIVITY_VALUE);
            specificity = estimate(v, BR.SPECIFICITY_VALUE);
            precision = estimate(v, BR.PRECISION_VALUE);
            tp = v[BR.TP]; fp = v[BR.FP]; tn = v[BR.TN]; fn = v[BR.FN];
        }
    }

    /** The threshold maximising Youden's J and J itself. */
    public static final class Youden {
        private final double threshold, j;
        public double threshold() { return threshold; }
        public double j() { return j; }
        Youden(double t, double j) { this.threshold = t; this.j = j; }
    }

    private static void same(int a, int b, String what) {
        if (a != b) throw new IllegalArgumentException(what + ": lengths differ (" + a + " vs " + b + ")");
    }

    /** Score predicted against true labels (any int values). */
    public static ClusterScores clusters(int[] truth, int[] pred) throws NoduleIdException {
        same(truth.length, pred.length, "truth/pred");
        long[] v = new long[CS.NUMS];
        NativeApi.evalClusters(truth, pred, truth.length, v);
        return new ClusterScores(v);
    }

    /** ROC AUC of scores for 0/1 labels, with DeLong's variance. */
    public static AucResult auc(int[] labels, double[] scores) throws NoduleIdException {
        same(labels.length, scores.length, "labels/scores");
        long[] v = new long[AUC.NUMS];
        NativeApi.evalAuc(labels, scores, labels.length, v);
        return new AucResult(v, 0);
    }

    /** DeLong's test between two scorers on the same labelled pairs. */
    public static DeLongResult delong(int[] labels, double[] scoresA, double[] scoresB) throws NoduleIdException {
        same(labels.length, scoresA.length, "labels/scoresA");
        same(labels.length, scoresB.length, "labels/scoresB");
        long[] v = new long[DL.NUMS];
        NativeApi.evalDelong(labels, scoresA, scoresB, labels.length, v);
        return new DeLongResult(v);
    }

    /** Accuracy, sensitivity, specificity and precision at threshold. */
    public static BinaryResult atThreshold(int[] labels, double[] scores, double threshold) throws NoduleIdException {
        same(labels.length, scores.length, "labels/scores");
        long[] v = new long[BR.NUMS];
        NativeApi.evalThreshold(labels, scores, labels.length, threshold, v);
        return new BinaryResult(v);
    }

    /** The threshold maximising Youden's J (ties: the highest). */
    public static Youden youden(int[] labels, double[] scores) throws NoduleIdException {
        same(labels.length, scores.length, "labels/scores");
        double[] out = new double[2];
        Native.evalYouden(labels, scores, out);
        return new Youden(out[0], out[1]);
    }

    /** Exact two-sided 95% interval for k successes in n trials (k and n
     *  are unsigned 64-bit values). */
    public static Estimate clopperPearson(long k, long n) throws NoduleIdException {
        long[] out = new long[NativeLayout.nid_estimate.NUMS];
        NativeApi.evalClopperPearson(k, n, out);
        return estimate(out, 0);
    }
}
