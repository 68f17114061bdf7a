package dev.pdecnn.backend.cpu;

import dev.pdecnn.tensor.Tensor;

import java.util.Arrays;

/**
 * Dense layer and softmax cross-entropy of the fast float32 backend (double accumulation); arrays are indexed
 * from their tensors' offsets.
 */
final class DenseLossOps {
    private DenseLossOps() {
    }

    static void dense(Tensor x, Tensor w, Tensor b, Tensor y) {
        float[] X = x.f32(), W = w.f32(), B = b == null ? null : b.f32(), Y = y.f32();
        int xo = x.offset(), wo = w.offset(), bo = b == null ? 0 : b.offset(), yo = y.offset();
        int n = x.dim(0), in = x.size() / n, out = w.dim(0);
        if (w.dim(1) != in || y.size() != n * out) {
            throw new IllegalArgumentException("dense shapes x=" + x + " w=" + w + " y=" + y);
        }
        Parallel.forEach(n, i -> {
            for (int o = 0; o < out; o++) {
                double s0 = 0, s1 = 0;
                int xi = xo + i * in, wi = wo + o * in, j = 0;
                for (; j + 2 <= in; j += 2) {
                    s0 += X[xi + j] * W[wi + j];
                    s1 += X[xi + j + 1] * W[wi + j + 1];
                }
                for (; j < in; j++) {
                    s0 += X[xi + j] * W[wi + j];
                }
                Y[yo + i * out + o] = (float) ((B == null ? 0 : B[bo + o]) + (s0 + s1));
            }
        });
    }

    static void denseBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, Tensor gb) {
        float[] X = x.f32(), W = w.f32(), GY = gy.f32();
        int xo = x.offset(), wo = w.offset(), gyo = gy.offset();
        int n = x.dim(0), in = x.size() / n, out = w.dim(0);
        if (gx != null) {
            float[] GX = gx.f32();
            int gxo = gx.offset();
            Parallel.forEach(n, i -> {
                Arrays.fill(GX, gxo + i * in, gxo + (i + 1) * in, 0);
                for (int o = 0; o < out; o++) {
                    float g = GY[gyo + i * out + o];
                    int xi = gxo + i * in, wi = wo + o * in;
                    for (int j = 0; j < in; j++) {
                        GX[xi + j] += g * W[wi + j];
                    }
                }
            });
        }
        if (gw != null) {
            float[] GW = gw.f32();
            int gwo = gw.offset();
            Parallel.forEach(out, o -> {
                var acc = Parallel.partials(in);
                for (int i = 0; i < n; i++) {
                    double g = GY[gyo + i * out + o];
                    int xi = xo + i * in;
                    for (int j = 0; j < in; j++) {
                        acc[j] += g * X[xi + j];
                    }
                }
                for (int j = 0; j < in; j++) {
                    GW[gwo + o * in + j] += (float) acc[j];
                }
            });
        }
        if (gb != null) {
            float[] GB = gb.f32();
            int gbo = gb.offset();
            for (int o = 0; o < out; o++) {
                double s = 0;
                for (int i = 0; i < n; i++) {
                    s += GY[gyo + i * out + o];
                }
                GB[gbo + o] += (float) s;
            }
        }
    }

    static double softmaxCrossEntropy(Tensor logits, int[] labels, Tensor gLogits, int[] predictions) {
        float[] L = logits.f32();
        float[] G = gLogits == null ? null : gLogits.f32();
        int lo = logits.offset(), go = gLogits == null ? 0 : gLogits.offset();
        int n = logits.dim(0), k = logits.size() / n;
        double total = 0;
        for (int i = 0; i < n; i++) {
            int o = lo + i * k, og = go + i * k;
            double mx = Double.NEGATIVE_INFINITY;
            int arg = 0;
            for (int j = 0; j < k; j++) {
                if (L[o + j] > mx) {
                    mx = L[o + j];
                    arg = j;
                }
            }
            double z = 0;
            for (int j = 0; j < k; j++) {
                z += Math.exp(L[o + j] - mx);
            }
            int y = labels[i];
            if (y < 0 || y >= k) {
                throw new IllegalArgumentException("label " + y + " outside [0, " + k + ")");
            }
            total += Math.log(z) - (L[o + y] - mx);
            if (predictions != null) {
                predictions[i] = arg;
            }
            if (G != null) {
                for (int j = 0; j < k; j++) {
                    double p = Math.exp(L[o + j] - mx) / z;
                    G[og + j] = (float) ((p - (j == y ? 1 : 0)) / n);
                }
            }
        }
        return total / n;
    }
}
