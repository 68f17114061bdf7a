package dev.pdecnn.train;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Evaluation with images whose logits diverged (the explicit PDE unstable under BN running statistics): they stay
 * out of the mean loss and are counted; non-finite ones count as wrong, huge finite ones by their argmax; the rest
 * is scored exactly as without them.
 */
class EvalSumsTest {
    private static Tensor logits(DType d, SplittableRandom r, int n, int k) {
        Tensor t = Tensor.zeros(d, n, k);
        for (int i = 0; i < t.size(); i++) {
            t.set(i, 3 * r.nextGaussian());
        }
        return t;
    }

    @Test
    void nonFiniteRowsAreCountedWrongAndLeftOutOfTheLoss() {
        for (Backend be : new Backend[]{new ReferenceBackend(), new CpuBackend()}) {
            for (long seed = 1; seed <= 3; seed++) {
                SplittableRandom r = new SplittableRandom(seed);
                int n = 7 + (int) seed, k = 10;
                Tensor all = logits(be.dtype(), r, n, k);
                int[] y = new int[n];
                for (int i = 0; i < n; i++) {
                    y[i] = r.nextInt(k);
                }
                // reference: the finite rows alone, through the backend's own loss
                int[] bad = {1, n - 1, 2};
                int good = n - bad.length;
                Tensor finite = Tensor.zeros(be.dtype(), good, k);
                int[] yFinite = new int[good];
                for (int i = 0, o = 0; i < n; i++) {
                    if (i == bad[0] || i == bad[1] || i == bad[2]) {
                        continue;
                    }
                    yFinite[o] = y[i];
                    for (int j = 0; j < k; j++) {
                        finite.set(o * k + j, all.get(i * k + j));
                    }
                    o++;
                }
                int[] pred = new int[good];
                double refLoss = be.softmaxCrossEntropy(finite, yFinite, null, pred);
                long refCorrect = 0;
                for (int i = 0; i < good; i++) {
                    refCorrect += pred[i] == yFinite[i] ? 1 : 0;
                }
                // row 1 overflows to infinity at its label, the last row to NaN (both wrong); row 2 diverges to a
                // huge finite logit at its label (right by its argmax)
                all.set(bad[0] * k + y[bad[0]], Double.POSITIVE_INFINITY);
                all.set(bad[1] * k + 3, Double.NaN);
                all.set(bad[2] * k + y[bad[2]], 3e7);
                refCorrect++;

                EvalSums s = new EvalSums();
                s.add(be, all, y);
                assertEquals(3, s.diverged, be.dtype() + " seed " + seed);
                assertEquals(refLoss, s.loss(), 1e-12 * Math.abs(refLoss), "loss over the finite rows");
                assertEquals((double) refCorrect / n, s.accuracy(), 1e-15, "non-finite rows count as wrong, huge ones by argmax");
                assertTrue(Double.isFinite(s.loss()));

                // all-finite batches are scored as before: the backend's mean loss and predictions
                EvalSums plain = new EvalSums();
                plain.add(be, finite, yFinite);
                assertEquals(0, plain.diverged);
                assertEquals(refLoss, plain.loss(), 1e-12 * Math.abs(refLoss));
                assertEquals((double) (refCorrect - 1) / good, plain.accuracy(), 1e-15);
            }
        }
    }

    @Test
    void aLogitAtTheThresholdIsStillScored() {
        Tensor t = Tensor.zeros(DType.F64, 1, 3);
        t.set(1, EvalSums.DIVERGED_LOGIT);
        EvalSums s = new EvalSums();
        s.add(new ReferenceBackend(), t, new int[]{1});
        assertEquals(0, s.diverged);
        assertEquals(0, s.loss(), 1e-12);
        assertEquals(1, s.accuracy());
    }

    @Test
    void aBatchWithNoFiniteRowHasNoLoss() {
        EvalSums s = new EvalSums();
        Tensor t = Tensor.zeros(DType.F32, 2, 3);
        t.set(0, Double.NaN);
        t.set(5, Double.NEGATIVE_INFINITY);
        s.add(new CpuBackend(), t, new int[]{0, 1});
        assertEquals(2, s.diverged);
        assertTrue(Double.isNaN(s.loss()));
        assertEquals(0, s.accuracy());
    }
}
