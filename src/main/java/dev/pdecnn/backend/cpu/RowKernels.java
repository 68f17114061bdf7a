package dev.pdecnn.backend.cpu;

import java.util.Arrays;

/**
 * Shared pieces of the fast float32 CPU backend ({@link CpuBackend}): per-thread scratch rows, the GEMM on rows
 * and the element-wise accumulation kernels.
 *
 * <p><b>How the kernels are shaped.</b> Speed comes from HotSpot C2's auto-vectorizer (SuperWord), which on
 * JDK 17 vectorizes a counted loop only when (measured on the benchmark machine, see docs/benchmarks.md):
 * every array access in it uses the <em>same</em> index expression (a[p], b[p], c[p]: two arrays at
 * different offsets, a[o1 + p] and b[o2 + p], or a[p] and a[p + 1], stay scalar); all loads of an iteration
 * come before its stores; the body is small (up to about three outputs and three inputs); and it is no
 * reduction (a float or double sum over p is never vectorized). A loop that writes several arrays must also
 * read them, and an fma chain must not start from a product. The kernels are therefore written on
 * <em>rows</em>: separate arrays that all start at index 0, built with {@link System#arraycopy} (an intrinsic)
 * from the NCHW tensors. Convolution becomes a GEMM on rows ({@link #gemm}: three output rows times three
 * input rows per pass, with {@link Math#fma}); shifted neighbours (the 3x3 taps, the periodic PDE stencil, the
 * Sobel filter) become shifted row copies; weight gradients, which are reductions, either run with the
 * kernel-input axis (ci, ki, kj) as the vector axis (transposed im2col rows, {@code ConvOps.weightGradT}) or
 * accumulate element-wise products per pixel over many images before one scalar sum ({@code ConvOps.weightGradE},
 * {@code ConvOps.depthwiseWeightGrad}). When a kernel is changed, check that it still vectorizes: a scalar fallback
 * is 3 to 10 times slower and no test would notice.
 *
 * <p><b>Determinism.</b> Every output element is computed by one thread in a fixed order; partial sums
 * (batch-norm statistics per image and channel, conv weight gradients per fixed group of images) are
 * combined in a fixed order. Results are bit-identical run to run and do not depend on the thread count.
 *
 * <p><b>Views.</b> Tensors may be views of a larger array ({@link dev.pdecnn.tensor.Tensor#offset()}): every op
 * indexes a tensor's array from its offset. Kernels on rows are unaffected (rows start at 0 and are filled by
 * arraycopy from the offset); loops straight over tensor arrays use one shared index when all offsets agree (the
 * vectorized form above) and separate indices otherwise.
 */
final class RowKernels {
    private RowKernels() {
    }

    /** Per-thread scratch: sets of separate rows and flat buffers, grown on demand (contents undefined). */
    static final class Work {
        /** Slots: 0-3 convolution, 4-6 PDE, 7 Perona-Malik, 8 batch norm, 9 depthwise convolution. */
        final float[][][] sets = new float[12][][];
        final float[][] flats = new float[4][];
    }

    static final ThreadLocal<Work> WORK = ThreadLocal.withInitial(Work::new);

    static float[] flat(Work wk, int slot, int n) {
        float[] f = wk.flats[slot];
        if (f == null || f.length < n) {
            f = new float[n];
            wk.flats[slot] = f;
        }
        return f;
    }

    /** {@code count} separate arrays of at least {@code len} elements each. */
    static float[][] rows(Work wk, int slot, int count, int len) {
        float[][] r = wk.sets[slot];
        if (r == null || r.length < count) {
            float[][] grown = new float[count][];
            if (r != null) {
                System.arraycopy(r, 0, grown, 0, r.length);
            }
            r = grown;
            wk.sets[slot] = r;
        }
        for (int i = 0; i < count; i++) {
            if (r[i] == null || r[i].length < len) {
                r[i] = new float[len];
            }
        }
        return r;
    }

    static void zero(float[][] r, int from, int count, int len) {
        zero(r, from, count, 0, len);
    }

    static void zero(float[][] r, int from, int count, int lo, int hi) {
        for (int i = from; i < from + count; i++) {
            Arrays.fill(r[i], lo, hi, 0);
        }
    }

    /** Sum in double with four independent partial sums (fixed order). */
    static double sum(float[] a, int off, int len) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = off, end = off + len;
        for (; i + 4 <= end; i += 4) {
            s0 += a[i];
            s1 += a[i + 1];
            s2 += a[i + 2];
            s3 += a[i + 3];
        }
        for (; i < end; i++) {
            s0 += a[i];
        }
        return (s0 + s1) + (s2 + s3);
    }

    // ---------------------------------------------------------------- GEMM on rows

    /**
     * out[oOff + o][lo, hi) (+)= sum over j < nIn of a[ai + o * ar + j * ac] * in[jOff + j][lo, hi), for o < nOut;
     * accumulates into out when {@code accumulate}, else overwrites it. Register-blocked: three output rows by
     * three input rows per pass (the largest 3 x n shape C2 still vectorizes), plus one or two blocks of four
     * rows by two inputs so that 4, 8, 16, 32, 64 outputs leave no 1- or 2-row remainder. Each output element
     * sums its inputs in j order, whatever the tile: results do not depend on the tiling.
     */
    static void gemm(float[][] out, int oOff, int nOut, float[] a, int ai, int ar, int ac, float[][] in,
                             int jOff, int nIn, int lo, int hi, boolean accumulate) {
        int r3 = nOut % 3, n4 = r3 == 1 && nOut >= 4 ? 1 : r3 == 2 && nOut >= 8 ? 2 : 0;
        int n3 = (nOut - 4 * n4) / 3, o = 0;
        if (!accumulate) {
            // (a first pass that only writes would save this, but on JDK 17 C2 does not vectorize loops that
            // write several rows without reading them)
            zero(out, oOff, nOut, lo, hi);
        }
        for (int blk = 0; blk < n3; blk++, o += 3) {
            int b = ai + o * ar, j = 0;
            for (; j + 3 <= nIn; j += 3) {
                mm33(out, oOff + o, a, b + j * ac, ar, ac, in, jOff + j, lo, hi);
            }
            if (nIn - j == 2) {
                mm32(out, oOff + o, a, b + j * ac, ar, ac, in, jOff + j, lo, hi);
            } else if (nIn - j == 1) {
                mm31(out, oOff + o, a, b + j * ac, ar, ac, in, jOff + j, lo, hi);
            }
        }
        for (int blk = 0; blk < n4; blk++, o += 4) {
            int b = ai + o * ar, j = 0;
            for (; j + 2 <= nIn; j += 2) {
                mm42(out, oOff + o, a, b + j * ac, ar, ac, in, jOff + j, lo, hi);
            }
            if (j < nIn) {
                mm41(out, oOff + o, a, b + j * ac, ar, ac, in, jOff + j, lo, hi);
            }
        }
        int b = ai + o * ar;
        if (nOut - o == 2) {
            int j = 0;
            for (; j + 3 <= nIn; j += 3) {
                mm23(out, oOff + o, a, b + j * ac, ar, ac, in, jOff + j, lo, hi);
            }
            if (nIn - j == 2) {
                mm22(out, oOff + o, a, b + j * ac, ar, ac, in, jOff + j, lo, hi);
            } else if (nIn - j == 1) {
                mm21(out, oOff + o, a, b + j * ac, ar, ac, in, jOff + j, lo, hi);
            }
        } else if (nOut - o == 1) {
            int j = 0;
            for (; j + 3 <= nIn; j += 3) {
                mm13(out, oOff + o, a, b + j * ac, ar, ac, in, jOff + j, lo, hi);
            }
            if (nIn - j == 2) {
                mm12(out, oOff + o, a, b + j * ac, ar, ac, in, jOff + j, lo, hi);
            } else if (nIn - j == 1) {
                mm11(out, oOff + o, a, b + j * ac, ar, ac, in, jOff + j, lo, hi);
            }
        }
    }

    static void mm11(float[][] out, int o0, float[] a, int ai, int ar, int ac, float[][] in, int j0,
                             int lo, int hi) {
        float[] y0 = out[o0];
        float[] x0 = in[j0];
        float w00 = a[ai];
        for (int p = lo; p < hi; p++) {
            float s0 = y0[p], v0 = x0[p];
            y0[p] = Math.fma(w00, v0, s0);
        }
    }

    static void mm12(float[][] out, int o0, float[] a, int ai, int ar, int ac, float[][] in, int j0,
                             int lo, int hi) {
        float[] y0 = out[o0];
        float[] x0 = in[j0];
        float[] x1 = in[j0 + 1];
        float w00 = a[ai], w01 = a[ai + ac];
        for (int p = lo; p < hi; p++) {
            float s0 = y0[p], v0 = x0[p], v1 = x1[p];
            y0[p] = Math.fma(w01, v1, Math.fma(w00, v0, s0));
        }
    }

    static void mm13(float[][] out, int o0, float[] a, int ai, int ar, int ac, float[][] in, int j0,
                             int lo, int hi) {
        float[] y0 = out[o0];
        float[] x0 = in[j0];
        float[] x1 = in[j0 + 1];
        float[] x2 = in[j0 + 2];
        float w00 = a[ai], w01 = a[ai + ac], w02 = a[ai + 2 * ac];
        for (int p = lo; p < hi; p++) {
            float s0 = y0[p], v0 = x0[p], v1 = x1[p], v2 = x2[p];
            y0[p] = Math.fma(w02, v2, Math.fma(w01, v1, Math.fma(w00, v0, s0)));
        }
    }

    static void mm21(float[][] out, int o0, float[] a, int ai, int ar, int ac, float[][] in, int j0,
                             int lo, int hi) {
        float[] y0 = out[o0];
        float[] y1 = out[o0 + 1];
        float[] x0 = in[j0];
        float w00 = a[ai];
        float w10 = a[ai + ar];
        for (int p = lo; p < hi; p++) {
            float s0 = y0[p], s1 = y1[p], v0 = x0[p];
            y0[p] = Math.fma(w00, v0, s0);
            y1[p] = Math.fma(w10, v0, s1);
        }
    }

    static void mm22(float[][] out, int o0, float[] a, int ai, int ar, int ac, float[][] in, int j0,
                             int lo, int hi) {
        float[] y0 = out[o0];
        float[] y1 = out[o0 + 1];
        float[] x0 = in[j0];
        float[] x1 = in[j0 + 1];
        float w00 = a[ai], w01 = a[ai + ac];
        float w10 = a[ai + ar], w11 = a[ai + ar + ac];
        for (int p = lo; p < hi; p++) {
            float s0 = y0[p], s1 = y1[p], v0 = x0[p], v1 = x1[p];
            y0[p] = Math.fma(w01, v1, Math.fma(w00, v0, s0));
            y1[p] = Math.fma(w11, v1, Math.fma(w10, v0, s1));
        }
    }

    static void mm23(float[][] out, int o0, float[] a, int ai, int ar, int ac, float[][] in, int j0,
                             int lo, int hi) {
        float[] y0 = out[o0];
        float[] y1 = out[o0 + 1];
        float[] x0 = in[j0];
        float[] x1 = in[j0 + 1];
        float[] x2 = in[j0 + 2];
        float w00 = a[ai], w01 = a[ai + ac], w02 = a[ai + 2 * ac];
        float w10 = a[ai + ar], w11 = a[ai + ar + ac], w12 = a[ai + ar + 2 * ac];
        for (int p = lo; p < hi; p++) {
            float s0 = y0[p], s1 = y1[p], v0 = x0[p], v1 = x1[p], v2 = x2[p];
            y0[p] = Math.fma(w02, v2, Math.fma(w01, v1, Math.fma(w00, v0, s0)));
            y1[p] = Math.fma(w12, v2, Math.fma(w11, v1, Math.fma(w10, v0, s1)));
        }
    }

    static void mm31(float[][] out, int o0, float[] a, int ai, int ar, int ac, float[][] in, int j0,
                             int lo, int hi) {
        float[] y0 = out[o0];
        float[] y1 = out[o0 + 1];
        float[] y2 = out[o0 + 2];
        float[] x0 = in[j0];
        float w00 = a[ai];
        float w10 = a[ai + ar];
        float w20 = a[ai + 2 * ar];
        for (int p = lo; p < hi; p++) {
            float s0 = y0[p], s1 = y1[p], s2 = y2[p], v0 = x0[p];
            y0[p] = Math.fma(w00, v0, s0);
            y1[p] = Math.fma(w10, v0, s1);
            y2[p] = Math.fma(w20, v0, s2);
        }
    }

    static void mm32(float[][] out, int o0, float[] a, int ai, int ar, int ac, float[][] in, int j0,
                             int lo, int hi) {
        float[] y0 = out[o0];
        float[] y1 = out[o0 + 1];
        float[] y2 = out[o0 + 2];
        float[] x0 = in[j0];
        float[] x1 = in[j0 + 1];
        float w00 = a[ai], w01 = a[ai + ac];
        float w10 = a[ai + ar], w11 = a[ai + ar + ac];
        float w20 = a[ai + 2 * ar], w21 = a[ai + 2 * ar + ac];
        for (int p = lo; p < hi; p++) {
            float s0 = y0[p], s1 = y1[p], s2 = y2[p], v0 = x0[p], v1 = x1[p];
            y0[p] = Math.fma(w01, v1, Math.fma(w00, v0, s0));
            y1[p] = Math.fma(w11, v1, Math.fma(w10, v0, s1));
            y2[p] = Math.fma(w21, v1, Math.fma(w20, v0, s2));
        }
    }

    static void mm33(float[][] out, int o0, float[] a, int ai, int ar, int ac, float[][] in, int j0,
                             int lo, int hi) {
        float[] y0 = out[o0];
        float[] y1 = out[o0 + 1];
        float[] y2 = out[o0 + 2];
        float[] x0 = in[j0];
        float[] x1 = in[j0 + 1];
        float[] x2 = in[j0 + 2];
        float w00 = a[ai], w01 = a[ai + ac], w02 = a[ai + 2 * ac];
        float w10 = a[ai + ar], w11 = a[ai + ar + ac], w12 = a[ai + ar + 2 * ac];
        float w20 = a[ai + 2 * ar], w21 = a[ai + 2 * ar + ac], w22 = a[ai + 2 * ar + 2 * ac];
        for (int p = lo; p < hi; p++) {
            float s0 = y0[p], s1 = y1[p], s2 = y2[p], v0 = x0[p], v1 = x1[p], v2 = x2[p];
            y0[p] = Math.fma(w02, v2, Math.fma(w01, v1, Math.fma(w00, v0, s0)));
            y1[p] = Math.fma(w12, v2, Math.fma(w11, v1, Math.fma(w10, v0, s1)));
            y2[p] = Math.fma(w22, v2, Math.fma(w21, v1, Math.fma(w20, v0, s2)));
        }
    }
    static void mm41(float[][] out, int o0, float[] a, int ai, int ar, int ac, float[][] in, int j0,
                             int lo, int hi) {
        float[] y0 = out[o0], y1 = out[o0 + 1], y2 = out[o0 + 2], y3 = out[o0 + 3];
        float[] x0 = in[j0];
        float w00 = a[ai], w10 = a[ai + ar], w20 = a[ai + 2 * ar], w30 = a[ai + 3 * ar];
        for (int p = lo; p < hi; p++) {
            float s0 = y0[p], s1 = y1[p], s2 = y2[p], s3 = y3[p], v0 = x0[p];
            y0[p] = Math.fma(w00, v0, s0);
            y1[p] = Math.fma(w10, v0, s1);
            y2[p] = Math.fma(w20, v0, s2);
            y3[p] = Math.fma(w30, v0, s3);
        }
    }

    static void mm42(float[][] out, int o0, float[] a, int ai, int ar, int ac, float[][] in, int j0,
                             int lo, int hi) {
        float[] y0 = out[o0], y1 = out[o0 + 1], y2 = out[o0 + 2], y3 = out[o0 + 3];
        float[] x0 = in[j0], x1 = in[j0 + 1];
        int a1 = ai + ar, a2 = ai + 2 * ar, a3 = ai + 3 * ar;
        float w00 = a[ai], w01 = a[ai + ac], w10 = a[a1], w11 = a[a1 + ac];
        float w20 = a[a2], w21 = a[a2 + ac], w30 = a[a3], w31 = a[a3 + ac];
        for (int p = lo; p < hi; p++) {
            float s0 = y0[p], s1 = y1[p], s2 = y2[p], s3 = y3[p], v0 = x0[p], v1 = x1[p];
            y0[p] = Math.fma(w01, v1, Math.fma(w00, v0, s0));
            y1[p] = Math.fma(w11, v1, Math.fma(w10, v0, s1));
            y2[p] = Math.fma(w21, v1, Math.fma(w20, v0, s2));
            y3[p] = Math.fma(w31, v1, Math.fma(w30, v0, s3));
        }
    }

    /** acc_t[lo, hi) += g * x_t element-wise, t < 3 (a weight-gradient partial per pixel). */
    static void ew3(float[] g, float[] x0, float[] x1, float[] x2, float[] a0, float[] a1, float[] a2,
                            int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            float s0 = a0[q], s1 = a1[q], s2 = a2[q], gg = g[q];
            a0[q] = Math.fma(gg, x0[q], s0);
            a1[q] = Math.fma(gg, x1[q], s1);
            a2[q] = Math.fma(gg, x2[q], s2);
        }
    }

    static void ew1(float[] g, float[] x0, float[] a0, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            float s0 = a0[q], gg = g[q];
            a0[q] = Math.fma(gg, x0[q], s0);
        }
    }

    static int groupStart(int n, int r, int groups) {
        return (int) ((long) n * r / groups);
    }
}
