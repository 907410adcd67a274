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
        ClusterScores(double[] d, long[] l) {
            pairPrecision = d[0]; pairRecall = d[1]; pairF = d[2];
            bcubedPrecision = d[3]; bcubedRecall = d[4]; bcubedF = d[5];
            pairsTrue = l[0]; pairsPred = l[1]; pairsBoth = l[2]; nTrueClusters = l[3]; nPredClusters = l[4];
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
        AucResult(double[] d, int off, long[] l, int loff) {
            auc = new Estimate(d[off], d[off + 1], d[off + 2]);
            variance = d[off + 3];
            nPos = l[loff]; nNeg = l[loff + 1];
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
        DeLongResult(double[] d, long[] l) {
            a = new AucResult(d, 0, l, 0);
            b = new AucResult(d, 4, l, 2);
            covariance = d[8]; z = d[9]; pValue = d[10];
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
        BinaryResult(double[] d, long[] l) {
            threshold = d[0];
            accuracy = new Estimate(d[1], d[2], d[3]);
            sensitivity = new Estimate(d[4], d[5], d[6]);
            specificity = new Estimate(d[7], d[8], d[9]);
            precision = new Estimate(d[10], d[11], d[12]);
            tp = l[0]; fp = l[1]; tn = l[2]; fn = l[3];
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
        double[] d = new double[6];
        long[] l = new long[5];
        Native.evalClusters(truth, pred, d, l);
        return new ClusterScores(d, l);
    }

    /** ROC AUC of scores for 0/1 labels, with DeLong's variance. */
    public static AucResult auc(int[] labels, double[] scores) throws NoduleIdException {
        same(labels.length, scores.length, "labels/scores");
        double[] d = new double[4];
        long[] l = new long[2];
        Native.evalAuc(labels, scores, d, l);
        return new AucResult(d, 0, l, 0);
    }

    /** DeLong's test between two scorers on the same labelled pairs. */
    public static DeLongResult delong(int[] labels, double[] scoresA, double[] scoresB) throws NoduleIdException {
        same(labels.length, scoresA.length, "labels/scoresA");
        same(labels.length, scoresB.length, "labels/scoresB");
        double[] d = new double[11];
        long[] l = new long[4];
        Native.evalDelong(labels, scoresA, scoresB, d, l);
        return new DeLongResult(d, l);
    }

    /** Accuracy, sensitivity, specificity and precision at threshold. */
    public static BinaryResult atThreshold(int[] labels, double[] scores, double threshold) throws NoduleIdException {
        same(labels.length, scores.length, "labels/scores");
        double[] d = new double[13];
        long[] l = new long[4];
        Native.evalThreshold(labels, scores, threshold, d, l);
        return new BinaryResult(d, l);
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
        double[] out = new double[3];
        Native.evalClopperPearson(k, n, out);
        return new Estimate(out[0], out[1], out[2]);
    }
}
