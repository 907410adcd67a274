package org.noduleid;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** Evaluation metrics on cases small enough to work out by hand. */
class EvaluationTest {
    static final int[] LABELS = {1, 1, 0, 0};
    static final double[] SCORES = {0.9, 0.4, 0.6, 0.1};

    @Test
    void aucOfASimpleCase() throws Exception {
        // positive > negative in 3 of 4 pairs
        Evaluation.AucResult r = Evaluation.auc(LABELS, SCORES);
        assertEquals(0.75, r.auc().value(), 1e-15);
        assertEquals(2, r.nPos());
        assertEquals(2, r.nNeg());
        // DeLong: V10 = {1, 1/2}, V01 = {1/2, 1}; S10 = S01 = 1/8; var = 1/16 + 1/16
        assertEquals(0.125, r.variance(), 1e-15);
        assertEquals(0.75 - 1.959964 * Math.sqrt(0.125), r.auc().lo(), 1e-6);
        assertEquals(1.0, r.auc().hi(), 0.0);
        // ties count one half
        assertEquals(0.5, Evaluation.auc(new int[] {1, 0}, new double[] {0.3, 0.3}).auc().value(), 0.0);
    }

    @Test
    void delongOfIdenticalScorersHasPValueOne() throws Exception {
        Evaluation.DeLongResult d = Evaluation.delong(LABELS, SCORES, SCORES);
        assertEquals(0.75, d.a().auc().value(), 0.0);
        assertEquals(0.75, d.b().auc().value(), 0.0);
        assertEquals(1.0, d.pValue(), 0.0);
        assertEquals(0.125, d.covariance(), 1e-15);
    }

    @Test
    void clusterScores() throws Exception {
        Evaluation.ClusterScores s = Evaluation.clusters(new int[] {0, 0, 1, 1}, new int[] {0, 0, 0, 1});
        assertEquals(2, s.pairsTrue());
        assertEquals(3, s.pairsPred());
        assertEquals(1, s.pairsBoth());
        assertEquals(1.0 / 3, s.pairPrecision(), 1e-15);
        assertEquals(0.5, s.pairRecall(), 1e-15);
        assertEquals(0.4, s.pairF(), 1e-15);
        assertEquals(2.0 / 3, s.bcubedPrecision(), 1e-15);
        assertEquals(0.75, s.bcubedRecall(), 1e-15);
        assertEquals(12.0 / 17, s.bcubedF(), 1e-15);
        assertEquals(2, s.nTrueClusters());
        assertEquals(2, s.nPredClusters());
    }

    @Test
    void thresholdYoudenClopperPearson() throws Exception {
        Evaluation.BinaryResult b = Evaluation.atThreshold(LABELS, SCORES, 0.5);
        assertEquals(1, b.tp());
        assertEquals(1, b.fp());
        assertEquals(1, b.tn());
        assertEquals(1, b.fn());
        assertEquals(0.5, b.accuracy().value(), 0.0);
        Evaluation.Youden y = Evaluation.youden(LABELS, SCORES);
        assertEquals(0.9, y.threshold(), 0.0);
        assertEquals(0.5, y.j(), 1e-15);
        Evaluation.Estimate e = Evaluation.clopperPearson(0, 10);
        assertEquals(0.0, e.value(), 0.0);
        assertEquals(0.0, e.lo(), 0.0);
        assertEquals(1 - Math.pow(0.025, 0.1), e.hi(), 1e-12);
    }

    @Test
    void badInput() {
        NoduleIdException e = assertThrows(NoduleIdException.class,
            () -> Evaluation.auc(LABELS, new double[] {0.9, Double.NaN, 0.6, 0.1}));
        assertEquals(Status.INVALID, e.status());
        assertTrue(e.getMessage().contains("nid_eval_auc"), e.getMessage());
        NoduleIdException l = assertThrows(NoduleIdException.class,
            () -> Evaluation.auc(new int[] {1, 2}, new double[] {0.1, 0.2}));
        assertEquals(Status.INVALID, l.status());
        NoduleIdException k = assertThrows(NoduleIdException.class, () -> Evaluation.clopperPearson(11, 10));
        assertEquals(Status.INVALID, k.status());
        assertThrows(IllegalArgumentException.class, () -> Evaluation.auc(LABELS, new double[3]));
    }
}
