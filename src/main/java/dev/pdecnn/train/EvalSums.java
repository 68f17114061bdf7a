package dev.pdecnn.train;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.tensor.Tensor;

import java.util.Arrays;

/** Running sums of an evaluation; images with diverged logits are counted and kept out of the loss. */
final class EvalSums {
    /**
     * A logit beyond this magnitude marks a diverged image: a trained classifier's logits are O(10) (a gap of
     * 40 already gives a probability of 1 - 4e-18), so 1e4 arises only from the unstable PDE, never from a
     * confident healthy prediction.
     */
    static final double DIVERGED_LOGIT = 1e4;

    double lossSum;
    long correct, seen, diverged;

    void add(Backend be, Tensor logits, int[] labels) {
        int n = logits.dim(0), k = logits.size() / n;
        int[] rows = new int[n];
        int good = 0;
        for (int i = 0; i < n; i++) {
            boolean sane = true, finite = true;
            int arg = 0;
            for (int j = 0; j < k; j++) {
                double v = logits.get(i * k + j);
                finite &= Double.isFinite(v);
                sane &= Math.abs(v) <= DIVERGED_LOGIT;
                arg = v > logits.get(i * k + arg) ? j : arg;
            }
            if (sane) {
                rows[good++] = i;
            } else {
                diverged++;
                correct += finite && arg == labels[i] ? 1 : 0;
            }
        }
        Tensor use = logits;
        int[] y = labels;
        if (good < n) {
            use = Tensor.zeros(logits.dtype(), good, k);
            y = new int[good];
            for (int r = 0; r < good; r++) {
                y[r] = labels[rows[r]];
                for (int j = 0; j < k; j++) {
                    use.set(r * k + j, logits.get(rows[r] * k + j));
                }
            }
        }
        if (good > 0) {
            int[] pred = new int[good];
            lossSum += be.softmaxCrossEntropy(use, Arrays.copyOf(y, good), null, pred) * good;
            for (int r = 0; r < good; r++) {
                correct += pred[r] == y[r] ? 1 : 0;
            }
        }
        seen += n;
    }

    double loss() {
        return seen == diverged ? Double.NaN : lossSum / (seen - diverged);
    }

    double accuracy() {
        return seen == 0 ? Double.NaN : (double) correct / seen;
    }
}
