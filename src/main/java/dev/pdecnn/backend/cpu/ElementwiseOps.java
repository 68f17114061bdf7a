package dev.pdecnn.backend.cpu;

import dev.pdecnn.tensor.Tensor;

/**
 * Element-wise operations, pooling and the optimizer of the fast float32 backend. Arrays are indexed from their
 * tensors' offsets; when all offsets of a call agree (plain tensors, or views at the same place in equally laid
 * out bases, as the parameter, gradient and momentum stores are) the loops use one shared index, the form the
 * JIT vectorizes (see {@link RowKernels}); otherwise each array gets its own index.
 */
final class ElementwiseOps {
    private ElementwiseOps() {
    }

    /**
     * 2^126: twice multiplied into a positive float (even the smallest subnormal) it reaches at least 1, so
     * min(min(y * s, 1) * s, 1) is exactly 1 for y > 0 and 0 for y = 0.
     */
    static final float RELU_MASK_SCALE = 0x1p126f;

    static void relu(Tensor x, Tensor y) {
        float[] X = x.f32(), Y = y.f32();
        int xo = x.offset(), yo = y.offset();
        Parallel.forChunks(x.size(), (ch, lo, hi) -> {
            if (xo == yo) {
                for (int i = lo + xo; i < hi + xo; i++) {
                    Y[i] = Math.max(X[i], 0);
                }
            } else {
                for (int i = lo; i < hi; i++) {
                    Y[yo + i] = Math.max(X[xo + i], 0);
                }
            }
        });
    }

    static void reluBackward(Tensor y, Tensor gy, Tensor gx) {
        float[] Y = y.f32(), GY = gy.f32(), GX = gx.f32();
        int yo = y.offset(), gyo = gy.offset(), gxo = gx.offset();
        float big = RELU_MASK_SCALE;
        Parallel.forChunks(y.size(), (ch, lo, hi) -> {
            if (yo == gyo && yo == gxo) {
                for (int i = lo + yo; i < hi + yo; i++) {
                    // mask = 1 where y > 0 (subnormal y included), 0 where y <= 0: min/max vectorize, a ternary not
                    float mask = Math.min(Math.min(Math.max(Y[i], 0) * big, 1) * big, 1);
                    GX[i] = GY[i] * mask;
                }
            } else {
                for (int i = lo; i < hi; i++) {
                    float mask = Math.min(Math.min(Math.max(Y[yo + i], 0) * big, 1) * big, 1);
                    GX[gxo + i] = GY[gyo + i] * mask;
                }
            }
        });
    }

    static void add(Tensor a, Tensor b, Tensor y) {
        float[] A = a.f32(), B = b.f32(), Y = y.f32();
        int ao = a.offset(), bo = b.offset(), yo = y.offset();
        sameSize("add", a, b, y);
        Parallel.forChunks(a.size(), (ch, lo, hi) -> {
            if (ao == bo && ao == yo) {
                for (int i = lo + ao; i < hi + ao; i++) {
                    Y[i] = A[i] + B[i];
                }
            } else {
                for (int i = lo; i < hi; i++) {
                    Y[yo + i] = A[ao + i] + B[bo + i];
                }
            }
        });
    }

    static void sameSize(String op, Tensor a, Tensor b, Tensor y) {
        if (a.size() != b.size() || a.size() != y.size()) {
            throw new IllegalArgumentException(op + " shapes " + a + " " + b + " " + y);
        }
    }

    /** One pass: Y = max(A + B, 0); a is left as it is. */
    static void addRelu(Tensor a, Tensor b, Tensor y) {
        float[] A = a.f32(), B = b.f32(), Y = y.f32();
        int ao = a.offset(), bo = b.offset(), yo = y.offset();
        sameSize("addRelu", a, b, y);
        Parallel.forChunks(a.size(), (ch, lo, hi) -> {
            if (ao == bo && ao == yo) {
                for (int i = lo + ao; i < hi + ao; i++) {
                    Y[i] = Math.max(A[i] + B[i], 0);
                }
            } else {
                for (int i = lo; i < hi; i++) {
                    Y[yo + i] = Math.max(A[ao + i] + B[bo + i], 0);
                }
            }
        });
    }

    static void avgPool(Tensor x, int k, Tensor y) {
        float[] X = x.f32(), Y = y.f32();
        int xo = x.offset(), yo = y.offset();
        int nc = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3), ho = h / k, wo = w / k;
        if (h % k != 0 || w % k != 0 || y.dim(2) != ho || y.dim(3) != wo) {
            throw new IllegalArgumentException("avgPool " + k + " on " + x + " -> " + y);
        }
        double scale = 1.0 / (k * k);
        Parallel.forEach(nc, p -> {
            for (int oi = 0; oi < ho; oi++) {
                for (int oj = 0; oj < wo; oj++) {
                    double s = 0;
                    for (int a = 0; a < k; a++) {
                        int r = xo + (p * h + oi * k + a) * w + oj * k;
                        for (int b = 0; b < k; b++) {
                            s += X[r + b];
                        }
                    }
                    Y[yo + (p * ho + oi) * wo + oj] = (float) (s * scale);
                }
            }
        });
    }

    static void avgPoolBackward(Tensor gy, int k, Tensor gx) {
        float[] GY = gy.f32(), GX = gx.f32();
        int gyo = gy.offset(), gxo = gx.offset();
        int nc = gx.dim(0) * gx.dim(1), h = gx.dim(2), w = gx.dim(3), ho = h / k, wo = w / k;
        float scale = (float) (1.0 / (k * k));
        Parallel.forEach(nc, p -> {
            for (int oi = 0; oi < ho; oi++) {
                int r = gxo + (p * h + oi * k) * w, gr = gyo + (p * ho + oi) * wo;
                for (int j = 0; j < w; j++) {
                    GX[r + j] = GY[gr + j / k] * scale;
                }
                for (int a = 1; a < k; a++) {
                    System.arraycopy(GX, r, GX, r + a * w, w);
                }
            }
        });
    }

    // ---------------------------------------------------------------- optimizer

    static void sgdStep(Tensor w, Tensor g, Tensor vel, double lr, double momentum, double wd) {
        float[] W = w.f32(), G = g.f32(), VV = vel.f32();
        int wo = w.offset(), go = g.offset(), vo = vel.offset(), n = w.size();
        float lrr = (float) lr, mom = (float) momentum, wdd = (float) wd;
        if (wo == go && wo == vo) {
            for (int i = wo; i < wo + n; i++) {
                VV[i] = mom * VV[i] - lrr * (G[i] + wdd * W[i]);
                W[i] += VV[i];
            }
        } else {
            for (int i = 0; i < n; i++) {
                VV[vo + i] = mom * VV[vo + i] - lrr * (G[go + i] + wdd * W[wo + i]);
                W[wo + i] += VV[vo + i];
            }
        }
    }

    static double sumSquares(Tensor w) {
        float[] W = w.f32();
        double s = 0;
        for (int i = w.offset(), end = w.offset() + w.size(); i < end; i++) {
            double xd = W[i];
            s += xd * xd;
        }
        return s;
    }
}
