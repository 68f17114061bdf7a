package dev.pdecnn.predict;

import java.util.Arrays;

/**
 * One classified image: its logits, their softmax and the {@code k} most probable classes (ties by lower index).
 * The softmax is computed in double precision from the float logits with the maximum subtracted, so it is exact to
 * rounding for any finite logits; logits that are not finite (a diverged Global layer, docs/design.md §8) give
 * NaN probabilities and {@link #diverged()}.
 */
public record Prediction(String file, float[] logits, double[] probabilities, int[] top) {

    public static Prediction of(String file, float[] logits, int k) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double[] p = new double[logits.length];
        double sum = 0;
        for (int j = 0; j < logits.length; j++) {
            p[j] = Math.exp(logits[j] - max);
            sum += p[j];
        }
        for (int j = 0; j < p.length; j++) {
            p[j] /= sum; // NaN throughout when a logit is NaN or infinite: no probability is meaningful then
        }
        Integer[] order = new Integer[logits.length];
        for (int j = 0; j < order.length; j++) {
            order[j] = j;
        }
        // by logit, not probability: the ranking stays defined when the probabilities are NaN
        Arrays.sort(order, (a, b) -> logits[a] != logits[b] ? Float.compare(logits[b], logits[a]) : Integer.compare(a, b));
        int[] top = new int[Math.min(k, logits.length)];
        for (int r = 0; r < top.length; r++) {
            top[r] = order[r];
        }
        return new Prediction(file, logits.clone(), p, top);
    }

    public boolean diverged() {
        for (float v : logits) {
            if (!Float.isFinite(v)) {
                return true;
            }
        }
        return false;
    }
}
