package dev.pdecnn.backend.cpu;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.backend.StepArena;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

import java.util.Arrays;

/**
 * CPU backend on double[] arrays: the exact reference every other implementation is checked against.
 *
 * <p>This file is also the template of {@code CpuBackendF32}: {@code tools/gen-f32.sh} rewrites
 * {@code double[]} arrays, {@code double/*r*&#47;} scalars, {@code (double)} casts and {@code f64()}/{@code F64}
 * to their float forms. Scalars declared plainly {@code double} stay double in both, which is how sums and
 * statistics keep double accumulation on the float path; a double <em>array</em> that must stay double is
 * declared with {@code var} from {@link Parallel#partials}. Edit only this file, then run the script.
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
 * kernel-input axis (ci, ki, kj) as the vector axis (transposed im2col rows, {@link #weightGradT}) or
 * accumulate element-wise products per pixel over many images before one scalar sum ({@link #weightGradE},
 * {@link #depthwiseWeightGrad}). When a kernel is changed, check that it still vectorizes: a scalar fallback
 * is 3 to 10 times slower and no test would notice.
 *
 * <p><b>Determinism.</b> Every output element is computed by one thread in a fixed order; partial sums
 * (batch-norm statistics per image and channel, conv weight gradients per fixed group of images) are
 * combined in a fixed order. Results are bit-identical run to run and do not depend on the thread count.
 */
public final class CpuBackendF64 implements Backend {
    /** Output columns (pixels of one or more images) per conv tile. */
    private static final int TILE_COLS = 2048;
    /** Upper bound of an im2col tile, in elements. */
    private static final int TILE_ELEMS = 1 << 18;
    /** Weight gradients are summed per group of images; the number of groups is fixed (not the thread count). */
    private static final int GRAD_GROUPS = 8;
    /** Weight gradients use transposed rows (vector axis = the kernel's inputs) from this many inputs up. */
    private static final int TRANSPOSED_MIN_K = 32;

    /**
     * 2^1022 in the double backend, 2^126 in the float one: twice multiplied into a positive value (even the
     * smallest subnormal) it reaches at least 1, so min(min(y * s, 1) * s, 1) is exactly 1 for y > 0 and 0 for
     * y = 0.
     */
    private static final double/*r*/ RELU_MASK_SCALE = (double) (DType.F64 == DType.F32 ? 0x1p126 : 0x1p1022);

    /** Per-thread scratch: sets of separate rows and flat buffers, grown on demand (contents undefined). */
    private static final class Work {
        /** Slots: 0-3 convolution, 4-6 PDE, 7 Perona-Malik, 8 batch norm, 9 depthwise convolution. */
        final double[][][] sets = new double[12][][];
        final double[][] flats = new double[4][];
    }

    private static final ThreadLocal<Work> WORK = ThreadLocal.withInitial(Work::new);

    private static double[] flat(Work wk, int slot, int n) {
        double[] f = wk.flats[slot];
        if (f == null || f.length < n) {
            f = new double[n];
            wk.flats[slot] = f;
        }
        return f;
    }

    /** {@code count} separate arrays of at least {@code len} elements each. */
    private static double[][] rows(Work wk, int slot, int count, int len) {
        double[][] r = wk.sets[slot];
        if (r == null || r.length < count) {
            double[][] grown = new double[count][];
            if (r != null) {
                System.arraycopy(r, 0, grown, 0, r.length);
            }
            r = grown;
            wk.sets[slot] = r;
        }
        for (int i = 0; i < count; i++) {
            if (r[i] == null || r[i].length < len) {
                r[i] = new double[len];
            }
        }
        return r;
    }

    private static void zero(double[][] r, int from, int count, int len) {
        zero(r, from, count, 0, len);
    }

    private static void zero(double[][] r, int from, int count, int lo, int hi) {
        for (int i = from; i < from + count; i++) {
            Arrays.fill(r[i], lo, hi, 0);
        }
    }

    /** Sum in double with four independent partial sums (fixed order). */
    private static double sum(double[] a, int off, int len) {
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

    @Override
    public DType dtype() {
        return DType.F64;
    }

    // ---------------------------------------------------------------- step memory

    private final StepArena arena = StepArena.pooled(DType.F64);

    /** A pooled arena: every step gets the same arrays back (see {@link StepArena}). */
    @Override
    public StepArena arena() {
        return arena;
    }

    /** For tests: see {@link StepArena#poison}. Returns this. */
    public CpuBackendF64 poisonBuffers(boolean on) {
        arena.poison(on);
        return this;
    }

    // ---------------------------------------------------------------- GEMM on rows

    /**
     * out[oOff + o][lo, hi) (+)= sum over j < nIn of a[ai + o * ar + j * ac] * in[jOff + j][lo, hi), for o < nOut;
     * accumulates into out when {@code accumulate}, else overwrites it. Register-blocked: three output rows by
     * three input rows per pass (the largest 3 x n shape C2 still vectorizes), plus one or two blocks of four
     * rows by two inputs so that 4, 8, 16, 32, 64 outputs leave no 1- or 2-row remainder. Each output element
     * sums its inputs in j order, whatever the tile: results do not depend on the tiling.
     */
    private static void gemm(double[][] out, int oOff, int nOut, double[] a, int ai, int ar, int ac, double[][] in,
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

    private static void mm11(double[][] out, int o0, double[] a, int ai, int ar, int ac, double[][] in, int j0,
                             int lo, int hi) {
        double[] y0 = out[o0];
        double[] x0 = in[j0];
        double/*r*/ w00 = a[ai];
        for (int p = lo; p < hi; p++) {
            double/*r*/ s0 = y0[p], v0 = x0[p];
            y0[p] = Math.fma(w00, v0, s0);
        }
    }

    private static void mm12(double[][] out, int o0, double[] a, int ai, int ar, int ac, double[][] in, int j0,
                             int lo, int hi) {
        double[] y0 = out[o0];
        double[] x0 = in[j0];
        double[] x1 = in[j0 + 1];
        double/*r*/ w00 = a[ai], w01 = a[ai + ac];
        for (int p = lo; p < hi; p++) {
            double/*r*/ s0 = y0[p], v0 = x0[p], v1 = x1[p];
            y0[p] = Math.fma(w01, v1, Math.fma(w00, v0, s0));
        }
    }

    private static void mm13(double[][] out, int o0, double[] a, int ai, int ar, int ac, double[][] in, int j0,
                             int lo, int hi) {
        double[] y0 = out[o0];
        double[] x0 = in[j0];
        double[] x1 = in[j0 + 1];
        double[] x2 = in[j0 + 2];
        double/*r*/ w00 = a[ai], w01 = a[ai + ac], w02 = a[ai + 2 * ac];
        for (int p = lo; p < hi; p++) {
            double/*r*/ s0 = y0[p], v0 = x0[p], v1 = x1[p], v2 = x2[p];
            y0[p] = Math.fma(w02, v2, Math.fma(w01, v1, Math.fma(w00, v0, s0)));
        }
    }

    private static void mm21(double[][] out, int o0, double[] a, int ai, int ar, int ac, double[][] in, int j0,
                             int lo, int hi) {
        double[] y0 = out[o0];
        double[] y1 = out[o0 + 1];
        double[] x0 = in[j0];
        double/*r*/ w00 = a[ai];
        double/*r*/ w10 = a[ai + ar];
        for (int p = lo; p < hi; p++) {
            double/*r*/ s0 = y0[p], s1 = y1[p], v0 = x0[p];
            y0[p] = Math.fma(w00, v0, s0);
            y1[p] = Math.fma(w10, v0, s1);
        }
    }

    private static void mm22(double[][] out, int o0, double[] a, int ai, int ar, int ac, double[][] in, int j0,
                             int lo, int hi) {
        double[] y0 = out[o0];
        double[] y1 = out[o0 + 1];
        double[] x0 = in[j0];
        double[] x1 = in[j0 + 1];
        double/*r*/ w00 = a[ai], w01 = a[ai + ac];
        double/*r*/ w10 = a[ai + ar], w11 = a[ai + ar + ac];
        for (int p = lo; p < hi; p++) {
            double/*r*/ s0 = y0[p], s1 = y1[p], v0 = x0[p], v1 = x1[p];
            y0[p] = Math.fma(w01, v1, Math.fma(w00, v0, s0));
            y1[p] = Math.fma(w11, v1, Math.fma(w10, v0, s1));
        }
    }

    private static void mm23(double[][] out, int o0, double[] a, int ai, int ar, int ac, double[][] in, int j0,
                             int lo, int hi) {
        double[] y0 = out[o0];
        double[] y1 = out[o0 + 1];
        double[] x0 = in[j0];
        double[] x1 = in[j0 + 1];
        double[] x2 = in[j0 + 2];
        double/*r*/ w00 = a[ai], w01 = a[ai + ac], w02 = a[ai + 2 * ac];
        double/*r*/ w10 = a[ai + ar], w11 = a[ai + ar + ac], w12 = a[ai + ar + 2 * ac];
        for (int p = lo; p < hi; p++) {
            double/*r*/ s0 = y0[p], s1 = y1[p], v0 = x0[p], v1 = x1[p], v2 = x2[p];
            y0[p] = Math.fma(w02, v2, Math.fma(w01, v1, Math.fma(w00, v0, s0)));
            y1[p] = Math.fma(w12, v2, Math.fma(w11, v1, Math.fma(w10, v0, s1)));
        }
    }

    private static void mm31(double[][] out, int o0, double[] a, int ai, int ar, int ac, double[][] in, int j0,
                             int lo, int hi) {
        double[] y0 = out[o0];
        double[] y1 = out[o0 + 1];
        double[] y2 = out[o0 + 2];
        double[] x0 = in[j0];
        double/*r*/ w00 = a[ai];
        double/*r*/ w10 = a[ai + ar];
        double/*r*/ w20 = a[ai + 2 * ar];
        for (int p = lo; p < hi; p++) {
            double/*r*/ s0 = y0[p], s1 = y1[p], s2 = y2[p], v0 = x0[p];
            y0[p] = Math.fma(w00, v0, s0);
            y1[p] = Math.fma(w10, v0, s1);
            y2[p] = Math.fma(w20, v0, s2);
        }
    }

    private static void mm32(double[][] out, int o0, double[] a, int ai, int ar, int ac, double[][] in, int j0,
                             int lo, int hi) {
        double[] y0 = out[o0];
        double[] y1 = out[o0 + 1];
        double[] y2 = out[o0 + 2];
        double[] x0 = in[j0];
        double[] x1 = in[j0 + 1];
        double/*r*/ w00 = a[ai], w01 = a[ai + ac];
        double/*r*/ w10 = a[ai + ar], w11 = a[ai + ar + ac];
        double/*r*/ w20 = a[ai + 2 * ar], w21 = a[ai + 2 * ar + ac];
        for (int p = lo; p < hi; p++) {
            double/*r*/ s0 = y0[p], s1 = y1[p], s2 = y2[p], v0 = x0[p], v1 = x1[p];
            y0[p] = Math.fma(w01, v1, Math.fma(w00, v0, s0));
            y1[p] = Math.fma(w11, v1, Math.fma(w10, v0, s1));
            y2[p] = Math.fma(w21, v1, Math.fma(w20, v0, s2));
        }
    }

    private static void mm33(double[][] out, int o0, double[] a, int ai, int ar, int ac, double[][] in, int j0,
                             int lo, int hi) {
        double[] y0 = out[o0];
        double[] y1 = out[o0 + 1];
        double[] y2 = out[o0 + 2];
        double[] x0 = in[j0];
        double[] x1 = in[j0 + 1];
        double[] x2 = in[j0 + 2];
        double/*r*/ w00 = a[ai], w01 = a[ai + ac], w02 = a[ai + 2 * ac];
        double/*r*/ w10 = a[ai + ar], w11 = a[ai + ar + ac], w12 = a[ai + ar + 2 * ac];
        double/*r*/ w20 = a[ai + 2 * ar], w21 = a[ai + 2 * ar + ac], w22 = a[ai + 2 * ar + 2 * ac];
        for (int p = lo; p < hi; p++) {
            double/*r*/ s0 = y0[p], s1 = y1[p], s2 = y2[p], v0 = x0[p], v1 = x1[p], v2 = x2[p];
            y0[p] = Math.fma(w02, v2, Math.fma(w01, v1, Math.fma(w00, v0, s0)));
            y1[p] = Math.fma(w12, v2, Math.fma(w11, v1, Math.fma(w10, v0, s1)));
            y2[p] = Math.fma(w22, v2, Math.fma(w21, v1, Math.fma(w20, v0, s2)));
        }
    }
    private static void mm41(double[][] out, int o0, double[] a, int ai, int ar, int ac, double[][] in, int j0,
                             int lo, int hi) {
        double[] y0 = out[o0], y1 = out[o0 + 1], y2 = out[o0 + 2], y3 = out[o0 + 3];
        double[] x0 = in[j0];
        double/*r*/ w00 = a[ai], w10 = a[ai + ar], w20 = a[ai + 2 * ar], w30 = a[ai + 3 * ar];
        for (int p = lo; p < hi; p++) {
            double/*r*/ s0 = y0[p], s1 = y1[p], s2 = y2[p], s3 = y3[p], v0 = x0[p];
            y0[p] = Math.fma(w00, v0, s0);
            y1[p] = Math.fma(w10, v0, s1);
            y2[p] = Math.fma(w20, v0, s2);
            y3[p] = Math.fma(w30, v0, s3);
        }
    }

    private static void mm42(double[][] out, int o0, double[] a, int ai, int ar, int ac, double[][] in, int j0,
                             int lo, int hi) {
        double[] y0 = out[o0], y1 = out[o0 + 1], y2 = out[o0 + 2], y3 = out[o0 + 3];
        double[] x0 = in[j0], x1 = in[j0 + 1];
        int a1 = ai + ar, a2 = ai + 2 * ar, a3 = ai + 3 * ar;
        double/*r*/ w00 = a[ai], w01 = a[ai + ac], w10 = a[a1], w11 = a[a1 + ac];
        double/*r*/ w20 = a[a2], w21 = a[a2 + ac], w30 = a[a3], w31 = a[a3 + ac];
        for (int p = lo; p < hi; p++) {
            double/*r*/ s0 = y0[p], s1 = y1[p], s2 = y2[p], s3 = y3[p], v0 = x0[p], v1 = x1[p];
            y0[p] = Math.fma(w01, v1, Math.fma(w00, v0, s0));
            y1[p] = Math.fma(w11, v1, Math.fma(w10, v0, s1));
            y2[p] = Math.fma(w21, v1, Math.fma(w20, v0, s2));
            y3[p] = Math.fma(w31, v1, Math.fma(w30, v0, s3));
        }
    }

    /** acc_t[lo, hi) += g * x_t element-wise, t < 3 (a weight-gradient partial per pixel). */
    private static void ew3(double[] g, double[] x0, double[] x1, double[] x2, double[] a0, double[] a1, double[] a2,
                            int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            double/*r*/ s0 = a0[q], s1 = a1[q], s2 = a2[q], gg = g[q];
            a0[q] = Math.fma(gg, x0[q], s0);
            a1[q] = Math.fma(gg, x1[q], s1);
            a2[q] = Math.fma(gg, x2[q], s2);
        }
    }

    private static void ew1(double[] g, double[] x0, double[] a0, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            double/*r*/ s0 = a0[q], gg = g[q];
            a0[q] = Math.fma(gg, x0[q], s0);
        }
    }

    // ---------------------------------------------------------------- convolution

    /**
     * A convolution in row form. A stride-1 convolution whose output has the input's size (3x3 with padding 1,
     * 1x1, 5x5 with padding 2: "same") takes tap (ki, kj) as the whole input plane shifted by (ki - pad, kj -
     * pad) with zero fill: one arraycopy per tap. Other stride-1 convolutions use the "wide" layout: the input
     * plane zero-padded to wp = w + 2 pad columns, and every output row computed over all wp columns (the last
     * wp - wo are junk and dropped), so the tap is the padded plane shifted by ki * wp + kj. Other strides
     * gather a compact im2col (as do all when {@code shiftLayouts} is false). A tile is a run of whole images
     * side by side in the rows.
     */
    private static final class Geom {
        final int n, c, h, w, co, kh, kw, stride, pad, groups, cg, cog, kk, kg, ho, wo, hp, wp, pImg;
        /** Stride 1 with an output the size of the input: every tap is the input plane shifted, zero-filled. */
        final boolean same;
        /** Other stride-1 convolutions: rows over the zero-padded width. */
        final boolean wide;

        Geom(int n, int c, int h, int w, int co, int kh, int kw, int stride, int pad, int groups,
             boolean shiftLayouts) {
            this.n = n;
            this.c = c;
            this.h = h;
            this.w = w;
            this.co = co;
            this.kh = kh;
            this.kw = kw;
            this.stride = stride;
            this.pad = pad;
            this.groups = groups;
            cg = c / groups;
            cog = co / groups;
            kk = kh * kw;
            kg = cg * kk;
            ho = (h + 2 * pad - kh) / stride + 1;
            wo = (w + 2 * pad - kw) / stride + 1;
            hp = h + 2 * pad;
            wp = w + 2 * pad;
            same = shiftLayouts && stride == 1 && ho == h && wo == w;
            wide = shiftLayouts && stride == 1 && !same;
            pImg = wide ? ho * wp : ho * wo;
        }

        /** Images per tile: about TILE_COLS columns, at most TILE_ELEMS im2col elements, at least one. */
        int tileImages() {
            int byCols = TILE_COLS / pImg, byElems = TILE_ELEMS / Math.max(1, kg * pImg);
            return Math.max(1, Math.min(n, Math.min(byCols, byElems)));
        }
    }

    /** Zero-padded copy of the h x w plane at X[off] into xp: hp + 1 rows of wp (the extra last row is zero). */
    private static void padPlane(double[] X, int off, int h, int w, int pad, int hp, int wp, double[] xp) {
        Arrays.fill(xp, 0, pad * wp + pad, 0);
        for (int i = 0; i < h; i++) {
            int r = (pad + i) * wp + pad;
            System.arraycopy(X, off + i * w, xp, r, w);
            Arrays.fill(xp, r + w, r + w + 2 * pad, 0);
        }
        Arrays.fill(xp, (pad + h) * wp + pad, (hp + 1) * wp, 0);
    }

    /**
     * dst[dOff + i w + j] = src[off + (i + di) w + j + dj] over an h x w plane, zero where (i + di, j + dj) falls
     * outside it: one arraycopy and the zero borders.
     */
    private static void shiftedPlane(double[] src, int off, double[] dst, int dOff, int h, int w, int di, int dj) {
        int hw = h * w, d = di * w + dj, i0 = Math.max(0, -di), i1 = Math.min(h, h - di);
        if (i1 <= i0 || Math.abs(dj) >= w) {
            Arrays.fill(dst, dOff, dOff + hw, 0);
            return;
        }
        int lo = Math.max(i0 * w, -d), hi = Math.min(i1 * w, hw - d);
        Arrays.fill(dst, dOff, dOff + lo, 0);
        System.arraycopy(src, off + lo + d, dst, dOff + lo, hi - lo);
        Arrays.fill(dst, dOff + hi, dOff + hw, 0);
        if (dj == 1) {
            for (int i = i0; i < i1; i++) {
                dst[dOff + i * w + w - 1] = 0;
            }
        } else if (dj == -1) {
            for (int i = i0; i < i1; i++) {
                dst[dOff + i * w] = 0;
            }
        } else if (dj > 0) {
            for (int i = i0; i < i1; i++) {
                Arrays.fill(dst, dOff + i * w + w - dj, dOff + i * w + w, 0);
            }
        } else if (dj < 0) {
            for (int i = i0; i < i1; i++) {
                Arrays.fill(dst, dOff + i * w, dOff + i * w - dj, 0);
            }
        }
    }

    /** im2col of group gi for images [i0, i1) into rows col[cl * kk + ki * kw + kj], image b at column b * pImg. */
    private static void im2rows(double[] X, Geom g, int i0, int i1, int gi, double[][] col, Work wk) {
        int hw = g.h * g.w;
        if (g.same) {
            for (int img = i0; img < i1; img++) {
                int cOff = (img - i0) * g.pImg;
                for (int cl = 0; cl < g.cg; cl++) {
                    int xo = (img * g.c + gi * g.cg + cl) * hw;
                    for (int ki = 0; ki < g.kh; ki++) {
                        for (int kj = 0; kj < g.kw; kj++) {
                            shiftedPlane(X, xo, col[cl * g.kk + ki * g.kw + kj], cOff, g.h, g.w, ki - g.pad,
                                    kj - g.pad);
                        }
                    }
                }
            }
            return;
        }
        if (g.wide) {
            double[] xp = flat(wk, 0, (g.hp + 1) * g.wp);
            for (int img = i0; img < i1; img++) {
                int cOff = (img - i0) * g.pImg;
                for (int cl = 0; cl < g.cg; cl++) {
                    padPlane(X, (img * g.c + gi * g.cg + cl) * hw, g.h, g.w, g.pad, g.hp, g.wp, xp);
                    for (int ki = 0; ki < g.kh; ki++) {
                        for (int kj = 0; kj < g.kw; kj++) {
                            System.arraycopy(xp, ki * g.wp + kj, col[cl * g.kk + ki * g.kw + kj], cOff, g.pImg);
                        }
                    }
                }
            }
            return;
        }
        int s = g.stride;
        for (int cl = 0; cl < g.cg; cl++) {
            for (int ki = 0; ki < g.kh; ki++) {
                for (int kj = 0; kj < g.kw; kj++) {
                    double[] row = col[cl * g.kk + ki * g.kw + kj];
                    for (int img = i0; img < i1; img++) {
                        int xo = (img * g.c + gi * g.cg + cl) * hw, cOff = (img - i0) * g.pImg;
                        for (int oi = 0; oi < g.ho; oi++) {
                            int ii = oi * s - g.pad + ki, o = cOff + oi * g.wo;
                            if (ii < 0 || ii >= g.h) {
                                Arrays.fill(row, o, o + g.wo, 0);
                                continue;
                            }
                            int xr = xo + ii * g.w;
                            for (int oj = 0; oj < g.wo; oj++) {
                                int jj = oj * s - g.pad + kj;
                                row[o + oj] = jj >= 0 && jj < g.w ? X[xr + jj] : 0;
                            }
                        }
                    }
                }
            }
        }
    }

    /** Scatter-adds im2col rows of group gi back onto the input gradient (compact layout only). */
    private static void rows2imAdd(double[][] col, Geom g, int i0, int i1, int gi, double[] GX) {
        int hw = g.h * g.w, s = g.stride;
        for (int cl = 0; cl < g.cg; cl++) {
            for (int ki = 0; ki < g.kh; ki++) {
                for (int kj = 0; kj < g.kw; kj++) {
                    double[] row = col[cl * g.kk + ki * g.kw + kj];
                    for (int img = i0; img < i1; img++) {
                        int xo = (img * g.c + gi * g.cg + cl) * hw, cOff = (img - i0) * g.pImg;
                        for (int oi = 0; oi < g.ho; oi++) {
                            int ii = oi * s - g.pad + ki;
                            if (ii < 0 || ii >= g.h) {
                                continue;
                            }
                            int xr = xo + ii * g.w, o = cOff + oi * g.wo;
                            for (int oj = 0; oj < g.wo; oj++) {
                                int jj = oj * s - g.pad + kj;
                                if (jj >= 0 && jj < g.w) {
                                    GX[xr + jj] += row[o + oj];
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** Writes output rows (channels oBase .. oBase + nOut - 1) of images [i0, i1) into the NCHW tensor Y. */
    private static void rowsOut(double[][] out, Geom g, int i0, int i1, int oBase, int nOut, double[] Y) {
        int ohw = g.ho * g.wo;
        for (int img = i0; img < i1; img++) {
            int cOff = (img - i0) * g.pImg;
            for (int o = 0; o < nOut; o++) {
                int yo = (img * g.co + oBase + o) * ohw;
                if (g.wide) {
                    for (int i = 0; i < g.ho; i++) {
                        System.arraycopy(out[o], cOff + i * g.wp, Y, yo + i * g.wo, g.wo);
                    }
                } else {
                    System.arraycopy(out[o], cOff, Y, yo, ohw);
                }
            }
        }
    }

    /** Reads output-shaped NCHW data (channels oBase ..) into rows of the tile layout, junk columns zero. */
    private static void rowsIn(double[] GY, Geom g, int i0, int i1, int oBase, int nOut, double[][] dst) {
        int ohw = g.ho * g.wo;
        for (int img = i0; img < i1; img++) {
            int cOff = (img - i0) * g.pImg;
            for (int o = 0; o < nOut; o++) {
                int src = (img * g.co + oBase + o) * ohw;
                double[] r = dst[o];
                if (g.wide) {
                    for (int i = 0; i < g.ho; i++) {
                        int d = cOff + i * g.wp;
                        System.arraycopy(GY, src + i * g.wo, r, d, g.wo);
                        Arrays.fill(r, d + g.wo, d + g.wp, 0);
                    }
                } else {
                    System.arraycopy(GY, src, r, cOff, ohw);
                }
            }
        }
    }

    /** The Global layer's dwconv: depthwise 3x3, stride 1, padding 1 (planes handled whole, see below). */
    private static boolean depthwise3x3(Geom g) {
        return g.groups == g.c && g.co == g.c && g.kh == 3 && g.kw == 3 && g.same;
    }

    /**
     * Depthwise 3x3 forward per plane: with x and its copies shifted by one column either way, z_ki =
     * sum_kj w[ki][kj] x[., . + kj - 1] is one three-row kernel, and out = z_0[. - 1 row] + z_1 + z_2[. + 1 row].
     */
    private static void depthwiseForward(double[] X, double[] Wt, double[] Y, Geom g) {
        int planes = g.n * g.c, hw = g.h * g.w;
        Parallel.forChunks(planes, (k, lo, hi) -> {
            // rows 0-2: x shifted one column right, x, x shifted left; rows 3-5: z; row 6: out
            double[][] r = rows(WORK.get(), 9, 7, hw);
            double[] xl = r[0], x0 = r[1], xr = r[2], z0 = r[3], z1 = r[4], z2 = r[5], o = r[6];
            for (int pl = lo; pl < hi; pl++) {
                System.arraycopy(X, pl * hw, x0, 0, hw);
                shiftedPlane(X, pl * hw, xl, 0, g.h, g.w, 0, -1);
                shiftedPlane(X, pl * hw, xr, 0, g.h, g.w, 0, 1);
                gemm(r, 3, 3, Wt, (pl % g.c) * 9, 3, 1, r, 0, 3, 0, hw, false);
                shiftedPlane(z0, 0, xl, 0, g.h, g.w, -1, 0);
                shiftedPlane(z2, 0, xr, 0, g.h, g.w, 1, 0);
                for (int q = 0; q < hw; q++) {
                    o[q] = xl[q] + z1[q] + xr[q];
                }
                System.arraycopy(o, 0, Y, pl * hw, hw);
            }
        });
    }

    /**
     * Depthwise 3x3 weight gradient: gw[ki][kj] = sum gy[i][j] x[i + ki - 1][j + kj - 1] = sum G_ki * xs_kj, with
     * G_ki = gy shifted by 1 - ki rows and xs_kj = x shifted by kj - 1 columns (zero fill); the nine products
     * accumulate element-wise over a fixed image group, then each row is summed once. Tasks are (channel,
     * image group); returns one partial per image group.
     */
    private static double[][] depthwiseWeightGrad(double[] X, double[] GY, Geom g) {
        int groups = Math.min(g.n, GRAD_GROUPS), hw = g.h * g.w;
        double[][] parts = new double[groups][g.c * 9];
        Parallel.forTasks(g.c * groups, t -> {
            int ch = t / groups, gr = t % groups;
            double[][] r = rows(WORK.get(), 9, 15, hw);
            double[] x0 = r[0], xl = r[1], xr = r[2], g0 = r[3], g1 = r[4], g2 = r[5];
            zero(r, 6, 9, hw);
            for (int img = groupStart(g.n, gr, groups); img < groupStart(g.n, gr + 1, groups); img++) {
                int pl = (img * g.c + ch) * hw;
                System.arraycopy(X, pl, x0, 0, hw);
                shiftedPlane(X, pl, xl, 0, g.h, g.w, 0, -1);
                shiftedPlane(X, pl, xr, 0, g.h, g.w, 0, 1);
                shiftedPlane(GY, pl, g0, 0, g.h, g.w, 1, 0);
                System.arraycopy(GY, pl, g1, 0, hw);
                shiftedPlane(GY, pl, g2, 0, g.h, g.w, -1, 0);
                ew3(g0, xl, x0, xr, r[6], r[7], r[8], 0, hw);
                ew3(g1, xl, x0, xr, r[9], r[10], r[11], 0, hw);
                ew3(g2, xl, x0, xr, r[12], r[13], r[14], 0, hw);
            }
            for (int e = 0; e < 9; e++) {
                parts[gr][ch * 9 + e] = (double) sum(r[6 + e], 0, hw);
            }
        });
        return parts;
    }

    /** Y = conv(X, Wm) for the geometry g (Wm laid out [co][cg][kh][kw]), tiles of images in parallel. */
    private static void convRows(double[] X, double[] Wm, double[] Y, Geom g) {
        if (depthwise3x3(g)) {
            depthwiseForward(X, Wm, Y, g);
            return;
        }
        if (g.groups == 1
                && BlasConv.forward(X, Wm, Y, g.n, g.c, g.h, g.w, g.co, g.kh, g.kw, g.stride, g.pad)) {
            return; // float32 with OpenBLAS (the float64 reference never takes this)
        }
        int nb = g.tileImages(), tiles = (g.n + nb - 1) / nb;
        Parallel.forTasks(tiles, t -> {
            Work wk = WORK.get();
            int i0 = t * nb, i1 = Math.min(g.n, i0 + nb), cols = (i1 - i0) * g.pImg;
            double[][] col = rows(wk, 0, g.kg, cols), out = rows(wk, 1, g.cog, cols);
            for (int gi = 0; gi < g.groups; gi++) {
                im2rows(X, g, i0, i1, gi, col, wk);
                gemm(out, 0, g.cog, Wm, gi * g.cog * g.kg, g.kg, 1, col, 0, g.kg, 0, cols, false);
                rowsOut(out, g, i0, i1, gi * g.cog, g.cog, Y);
            }
        });
    }

    private static Geom geom(Tensor x, Tensor w, ConvSpec s, boolean shiftLayouts) {
        return new Geom(x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(2), w.dim(3), s.stride(), s.pad(),
                s.groups(), shiftLayouts);
    }

    @Override
    public void conv2dForward(Tensor x, Tensor w, Tensor y, ConvSpec s) {
        Geom g = geom(x, w, s, true);
        checkConv(x, w, y, s, g.ho, g.wo);
        convRows(x.f64(), in(w), y.f64(), g);
    }

    @Override
    public void conv2dBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, ConvSpec s) {
        double[] X = x.f64(), Wt = in(w), GY = gy.f64();
        Geom g = geom(x, w, s, true);
        checkConv(x, w, gy, s, g.ho, g.wo);
        if (gx != null) {
            double[] GX = gx.f64();
            if (g.stride == 1 && g.kh == g.kw && g.pad <= g.kh - 1) {
                // the input gradient of a stride-1 conv is the full correlation of gy with the flipped,
                // transposed kernel: itself a stride-1 conv with padding k - 1 - pad
                convRows(GY, flipTranspose(Wt, g), GX,
                        new Geom(g.n, g.co, g.ho, g.wo, g.c, g.kh, g.kw, 1, g.kh - 1 - g.pad, g.groups, true));
            } else {
                backwardDataCols(GY, Wt, GX, geom(x, w, s, false));
            }
        }
        if (gw != null) {
            double[][] parts = g.groups == 1 ? BlasConv.weightGrad(X, GY, g.n, g.c, g.h, g.w, g.co, g.kh, g.kw,
                    g.stride, g.pad) : null; // float32 with OpenBLAS, else null
            if (parts == null) {
                parts = depthwise3x3(g) ? depthwiseWeightGrad(X, GY, g)
                        : g.kg >= TRANSPOSED_MIN_K ? weightGradT(X, GY, geom(x, w, s, false)) : weightGradE(X, GY, g);
            }
            double[] GW = in(gw);
            for (int i = 0; i < GW.length; i++) {
                double acc = 0;
                for (double[] part : parts) {
                    acc += part[i];
                }
                GW[i] += (double) acc;
            }
            out(gw, GW);
        }
    }

    /** Wf[ci][co_in_group][kh-1-ki][kw-1-kj] = W[co][ci_in_group][ki][kj]. */
    private static double[] flipTranspose(double[] Wt, Geom g) {
        double[] wf = new double[Wt.length];
        for (int gi = 0; gi < g.groups; gi++) {
            for (int ol = 0; ol < g.cog; ol++) {
                for (int cl = 0; cl < g.cg; cl++) {
                    int src = ((gi * g.cog + ol) * g.cg + cl) * g.kk, dst = ((gi * g.cg + cl) * g.cog + ol) * g.kk;
                    for (int t = 0; t < g.kk; t++) {
                        wf[dst + g.kk - 1 - t] = Wt[src + t];
                    }
                }
            }
        }
        return wf;
    }

    /** gx by GEMM into im2col-shaped rows (W^T gy) and a scatter-add (strided convolutions). */
    private static void backwardDataCols(double[] GY, double[] Wt, double[] GX, Geom g) {
        if (g.groups == 1
                && BlasConv.backwardData(GY, Wt, GX, g.n, g.c, g.h, g.w, g.co, g.kh, g.kw, g.stride, g.pad)) {
            return; // float32 with OpenBLAS
        }
        int nb = g.tileImages(), tiles = (g.n + nb - 1) / nb, chw = g.c * g.h * g.w;
        Parallel.forTasks(tiles, t -> {
            Work wk = WORK.get();
            int i0 = t * nb, i1 = Math.min(g.n, i0 + nb), cols = (i1 - i0) * g.pImg;
            Arrays.fill(GX, i0 * chw, i1 * chw, 0);
            double[][] dcol = rows(wk, 0, g.kg, cols), gyr = rows(wk, 1, g.cog, cols);
            for (int gi = 0; gi < g.groups; gi++) {
                rowsIn(GY, g, i0, i1, gi * g.cog, g.cog, gyr);
                gemm(dcol, 0, g.kg, Wt, gi * g.cog * g.kg, 1, g.kg, gyr, 0, g.cog, 0, cols, false);
                rows2imAdd(dcol, g, i0, i1, gi, GX);
            }
        });
    }

    private static int groupStart(int n, int r, int groups) {
        return (int) ((long) n * r / groups);
    }

    /**
     * Weight gradient with the kernel's inputs as the vector axis: per output pixel p a row
     * colT[p] = the (ki, kj, ci) patch, copied from a zero-padded channels-last image; then
     * gw[co][.] += gy[co][p] * colT[p] as a GEMM on rows. Returns one partial per fixed image group.
     */
    private static double[][] weightGradT(double[] X, double[] GY, Geom g) {
        int groups = Math.min(g.n, GRAD_GROUPS), P = g.ho * g.wo;
        double[][] parts = new double[groups][];
        Parallel.forTasks(groups, r -> {
            Work wk = WORK.get();
            int kv = (g.kg + 15) & ~15; // rows padded to whole vectors (the tail columns are ignored)
            double[][] acc = rows(wk, 2, g.co, kv), colT = rows(wk, 3, P, kv);
            zero(acc, 0, g.co, kv);
            double[] xt = flat(wk, 1, g.hp * g.wp * g.c);
            for (int img = groupStart(g.n, r, groups); img < groupStart(g.n, r + 1, groups); img++) {
                padChannelsLast(X, img, g, xt);
                for (int gi = 0; gi < g.groups; gi++) {
                    for (int oi = 0; oi < g.ho; oi++) {
                        for (int oj = 0; oj < g.wo; oj++) {
                            double[] row = colT[oi * g.wo + oj];
                            int px = oi * g.stride * g.wp + oj * g.stride;
                            if (g.groups == 1) {
                                for (int ki = 0; ki < g.kh; ki++) {
                                    System.arraycopy(xt, (px + ki * g.wp) * g.c, row, ki * g.kw * g.c, g.kw * g.c);
                                }
                            } else {
                                for (int ki = 0; ki < g.kh; ki++) {
                                    for (int kj = 0; kj < g.kw; kj++) {
                                        System.arraycopy(xt, (px + ki * g.wp + kj) * g.c + gi * g.cg, row,
                                                (ki * g.kw + kj) * g.cg, g.cg);
                                    }
                                }
                            }
                        }
                    }
                    gemm(acc, gi * g.cog, g.cog, GY, (img * g.co + gi * g.cog) * P, P, 1, colT, 0, P, 0, kv, true);
                }
            }
            double[] part = new double[g.co * g.kg];
            for (int o = 0; o < g.co; o++) {
                double[] a = acc[o];
                for (int cl = 0; cl < g.cg; cl++) {
                    for (int t = 0; t < g.kk; t++) {
                        part[(o * g.cg + cl) * g.kk + t] = a[t * g.cg + cl];
                    }
                }
            }
            parts[r] = part;
        });
        return parts;
    }

    /** Image img zero-padded and channels-last: xt[(i * wp + j) * c + ch] over hp x wp. */
    private static void padChannelsLast(double[] X, int img, Geom g, double[] xt) {
        int rowLen = g.wp * g.c, hw = g.h * g.w;
        Arrays.fill(xt, 0, g.pad * rowLen, 0);
        Arrays.fill(xt, (g.pad + g.h) * rowLen, g.hp * rowLen, 0);
        for (int i = 0; i < g.h; i++) {
            int r = (i + g.pad) * rowLen;
            Arrays.fill(xt, r, r + g.pad * g.c, 0);
            Arrays.fill(xt, r + (g.pad + g.w) * g.c, r + rowLen, 0);
        }
        for (int ch = 0; ch < g.c; ch++) {
            int xo = (img * g.c + ch) * hw;
            for (int i = 0; i < g.h; i++) {
                int d = ((i + g.pad) * g.wp + g.pad) * g.c + ch, xr = xo + i * g.w;
                for (int j = 0; j < g.w; j++) {
                    xt[d + j * g.c] = X[xr + j];
                }
            }
        }
    }

    /**
     * Weight gradient for kernels with few inputs (k = cg kh kw < 32: depthwise, 1-channel inputs): the
     * products gy * x are accumulated element-wise per pixel over a fixed group of images, then each row is
     * summed once. Returns one partial per image group.
     */
    private static double[][] weightGradE(double[] X, double[] GY, Geom g) {
        int groups = Math.min(g.n, GRAD_GROUPS);
        double[][] parts = new double[groups][];
        Parallel.forTasks(groups, r -> {
            Work wk = WORK.get();
            int cols = g.pImg;
            double[][] col = rows(wk, 0, g.kg, cols), gyr = rows(wk, 1, g.cog, cols);
            double[][] acc = rows(wk, 2, g.cog * g.kg, cols);
            double[] part = new double[g.co * g.kg];
            for (int gi = 0; gi < g.groups; gi++) {
                zero(acc, 0, g.cog * g.kg, cols);
                for (int img = groupStart(g.n, r, groups); img < groupStart(g.n, r + 1, groups); img++) {
                    im2rows(X, g, img, img + 1, gi, col, wk);
                    rowsIn(GY, g, img, img + 1, gi * g.cog, g.cog, gyr);
                    for (int ol = 0; ol < g.cog; ol++) {
                        int k = 0, a = ol * g.kg;
                        for (; k + 3 <= g.kg; k += 3) {
                            ew3(gyr[ol], col[k], col[k + 1], col[k + 2], acc[a + k], acc[a + k + 1], acc[a + k + 2], 0,
                                    cols);
                        }
                        for (; k < g.kg; k++) {
                            ew1(gyr[ol], col[k], acc[a + k], 0, cols);
                        }
                    }
                }
                for (int e = 0; e < g.cog * g.kg; e++) {
                    part[gi * g.cog * g.kg + e] = (double) sum(acc[e], 0, cols);
                }
            }
            parts[r] = part;
        });
        return parts;
    }

    private static void checkConv(Tensor x, Tensor w, Tensor y, ConvSpec s, int ho, int wo) {
        int g = s.groups();
        if (x.rank() != 4 || w.rank() != 4 || y.rank() != 4 || x.dim(1) % g != 0 || w.dim(0) % g != 0
                || w.dim(1) != x.dim(1) / g || y.dim(0) != x.dim(0) || y.dim(1) != w.dim(0) || y.dim(2) != ho
                || y.dim(3) != wo || ho < 1 || wo < 1) {
            throw new IllegalArgumentException("conv shapes x=" + x + " w=" + w + " y=" + y + " " + s);
        }
    }

    // ---------------------------------------------------------------- batch norm

    /** Batch-norm statistics are summed per (channel, fixed group of images), then per channel in group order. */
    private static final int BN_GROUPS = 8;

    /**
     * Statistics per channel from element-wise partial sums over fixed image groups (independent of the thread
     * count); the normalisation itself is one vectorized pass.
     */
    @Override
    public void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar,
                               double momentum, double eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c);
        double[] scale = new double[c], shift = new double[c];
        bnTrainStats(x, gamma, beta, runMean, runVar, momentum, eps, saveMean, saveInvStd, scale, shift);
        affinePlanes(x.f64(), y.f64(), scale, shift, n * c, c, hw);
    }

    /**
     * Batch norm and relu in one pass over the output: the statistics as {@link #batchNormTrain}, then
     * y = max(x * scale + shift, 0) with the same scale and shift, so y is bit for bit relu(batchNormTrain(x))
     * without the batch-norm output being written and read again.
     */
    @Override
    public void batchNormReluTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar,
                                   double momentum, double eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c);
        double[] scale = new double[c], shift = new double[c];
        bnTrainStats(x, gamma, beta, runMean, runVar, momentum, eps, saveMean, saveInvStd, scale, shift);
        affineReluPlanes(x.f64(), y.f64(), scale, shift, n * c, c, hw);
    }

    /**
     * Statistics of a training-mode batch norm: saves mean and inverse deviation, updates the running statistics
     * and fills the per-channel scale and shift of the normalisation.
     */
    private static void bnTrainStats(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar,
                                     double momentum, double eps, Tensor saveMean, Tensor saveInvStd,
                                     double[] scale, double[] shift) {
        double[] X = x.f64(), G = in(gamma), B = in(beta);
        double[] RM = in(runMean), RV = in(runVar), SM = saveMean.f64(), SI = saveInvStd.f64();
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c);
        double m = 1.0 * n * hw;
        int groups = Math.min(n, BN_GROUPS);
        // one pass: sums of d = x - s and d^2 about a per-channel shift s close to the mean (the mean of the
        // channel's first plane), so that var = E[d^2] - E[d]^2 loses no precision to cancellation
        double[] shiftR = new double[c];
        for (int ch = 0; ch < c; ch++) {
            shiftR[ch] = (double) (sum(X, ch * hw, hw) / hw);
        }
        var p1 = Parallel.partials(c * groups);
        var p2 = Parallel.partials(c * groups);
        Parallel.forTasks(c * groups, t -> {
            int ch = t / groups, gr = t % groups;
            double[][] rw = rows(WORK.get(), 8, 3, hw);
            double[] row = rw[0], a1 = rw[1], a2 = rw[2];
            Arrays.fill(a1, 0, hw, 0);
            Arrays.fill(a2, 0, hw, 0);
            double/*r*/ sh = shiftR[ch];
            for (int img = groupStart(n, gr, groups); img < groupStart(n, gr + 1, groups); img++) {
                System.arraycopy(X, (img * c + ch) * hw, row, 0, hw);
                for (int q = 0; q < hw; q++) {
                    double/*r*/ s1 = a1[q], s2 = a2[q], d = row[q] - sh;
                    a1[q] = s1 + d;
                    a2[q] = s2 + d * d;
                }
            }
            p1[t] = sum(a1, 0, hw);
            p2[t] = sum(a2, 0, hw);
        });
        for (int ch = 0; ch < c; ch++) {
            double s1 = 0, s2 = 0;
            for (int gr = 0; gr < groups; gr++) {
                s1 += p1[ch * groups + gr];
                s2 += p2[ch * groups + gr];
            }
            double md = s1 / m, mu = shiftR[ch] + md;
            double var = Math.max(0, s2 / m - md * md);
            double inv = 1.0 / Math.sqrt(var + eps);
            SM[ch] = (double) mu;
            SI[ch] = (double) inv;
            RM[ch] = (double) ((1 - momentum) * RM[ch] + momentum * mu);
            // running variance: the unbiased estimate var m/(m-1), as PyTorch (the normalisation above uses the
            // biased var); m == 1 has none, and PyTorch refuses such a batch in training: keep the biased var
            double varUnbiased = m > 1 ? var * m / (m - 1) : var;
            RV[ch] = (double) ((1 - momentum) * RV[ch] + momentum * varUnbiased);
            scale[ch] = (double) (G[ch] * inv);
            shift[ch] = (double) (B[ch] - mu * G[ch] * inv);
        }
        out(runMean, RM);
        out(runVar, RV);
    }

    /** Y = X * scale[ch] + shift[ch] on every plane. */
    private static void affinePlanes(double[] X, double[] Y, double[] scale, double[] shift, int planes, int c,
                                     int hw) {
        Parallel.forChunks(planes, (k, lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                double/*r*/ a = scale[r % c], b = shift[r % c];
                int o = r * hw;
                for (int i = o; i < o + hw; i++) {
                    Y[i] = X[i] * a + b;
                }
            }
        });
    }

    /** Y = max(X * scale[ch] + shift[ch], 0) on every plane. */
    private static void affineReluPlanes(double[] X, double[] Y, double[] scale, double[] shift, int planes, int c,
                                         int hw) {
        Parallel.forChunks(planes, (k, lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                double/*r*/ a = scale[r % c], b = shift[r % c];
                int o = r * hw;
                for (int i = o; i < o + hw; i++) {
                    Y[i] = Math.max(X[i] * a + b, 0);
                }
            }
        });
    }

    @Override
    public void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, double eps,
                              Tensor y) {
        batchNormEval(x, gamma, beta, runMean, runVar, eps, y, false);
    }

    @Override
    public void batchNormReluEval(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, double eps,
                                  Tensor y) {
        batchNormEval(x, gamma, beta, runMean, runVar, eps, y, true);
    }

    private static void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar,
                                      double eps, Tensor y, boolean relu) {
        double[] X = x.f64(), Y = y.f64(), G = in(gamma), B = in(beta), RM = in(runMean), RV = in(runVar);
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c);
        double[] scale = new double[c], shift = new double[c];
        for (int ch = 0; ch < c; ch++) {
            double inv = 1.0 / Math.sqrt(RV[ch] + eps);
            scale[ch] = (double) (G[ch] * inv);
            shift[ch] = (double) (B[ch] - RM[ch] * G[ch] * inv);
        }
        if (relu) {
            affineReluPlanes(X, Y, scale, shift, n * c, c, hw);
        } else {
            affinePlanes(X, Y, scale, shift, n * c, c, hw);
        }
    }

    /**
     * {@link #reluBackward} into gx, then {@link #batchNormBackward} from gx into gx itself (its last pass is
     * element-wise): no temporary. Recomputing the mask from x inside the batch-norm passes, so that neither y nor
     * a masked gradient is read or written, was measured slower: on par on 32 x 32 planes, twice as slow on
     * 8 x 8 and 4 x 4 planes, where the extra per-plane loops are short.
     */
    @Override
    public void batchNormReluBackward(Tensor x, Tensor y, Tensor gy, Tensor gamma, Tensor saveMean,
                                      Tensor saveInvStd, Tensor gx, Tensor gGamma, Tensor gBeta) {
        Tensor g = gx != null ? gx : gy.zerosLike();
        reluBackward(y, gy, g);
        batchNormBackward(x, g, gamma, saveMean, saveInvStd, gx, gGamma, gBeta);
    }

    /** gx may be gy itself: the statistics pass only reads gy, the last pass is element-wise. */
    @Override
    public void batchNormBackward(Tensor x, Tensor gy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                  Tensor gx, Tensor gGamma, Tensor gBeta) {
        double[] X = x.f64(), GY = gy.f64(), G = in(gamma), SM = saveMean.f64(), SI = saveInvStd.f64();
        double[] GX = gx == null ? null : gx.f64();
        double[] GG = in(gGamma), GB = in(gBeta);
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c), planes = n * c;
        double m = 1.0 * n * hw;
        int groups = Math.min(n, BN_GROUPS);
        var pg = Parallel.partials(c * groups);
        var pgx = Parallel.partials(c * groups);
        Parallel.forTasks(c * groups, t -> {
            int ch = t / groups, gr = t % groups;
            double[][] rw = rows(WORK.get(), 8, 4, hw);
            double[] gRow = rw[0], xRow = rw[1], a1 = rw[2], a2 = rw[3];
            Arrays.fill(a1, 0, hw, 0);
            Arrays.fill(a2, 0, hw, 0);
            double/*r*/ mu = SM[ch];
            for (int img = groupStart(n, gr, groups); img < groupStart(n, gr + 1, groups); img++) {
                System.arraycopy(GY, (img * c + ch) * hw, gRow, 0, hw);
                System.arraycopy(X, (img * c + ch) * hw, xRow, 0, hw);
                for (int q = 0; q < hw; q++) {
                    double/*r*/ s1 = a1[q], s2 = a2[q], gq = gRow[q], xq = xRow[q];
                    a1[q] = s1 + gq;
                    a2[q] = s2 + gq * (xq - mu);
                }
            }
            pg[t] = sum(a1, 0, hw);
            pgx[t] = sum(a2, 0, hw);
        });
        double[] ca = new double[c], cb = new double[c], cc = new double[c];
        for (int ch = 0; ch < c; ch++) {
            double sg = 0, sgx = 0;
            for (int gr = 0; gr < groups; gr++) {
                sg += pg[ch * groups + gr];
                sgx += pgx[ch * groups + gr];
            }
            double mean = SM[ch], inv = SI[ch];
            double sgxhat = sgx * inv;
            GG[ch] += (double) sgxhat;
            GB[ch] += (double) sg;
            // gx = gamma*inv/m * (m*gy - sum(gy) - xhat*sum(gy*xhat)), folded into a*gy + b*x + c0
            double k = G[ch] * inv / m;
            ca[ch] = (double) (k * m);
            cb[ch] = (double) (-k * sgxhat * inv);
            cc[ch] = (double) (k * (-sg + sgxhat * inv * mean));
        }
        out(gGamma, GG);
        out(gBeta, GB);
        if (GX == null) {
            return;
        }
        Parallel.forChunks(planes, (k, lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                double/*r*/ a = ca[r % c], b = cb[r % c], c0 = cc[r % c];
                int o = r * hw;
                for (int i = o; i < o + hw; i++) {
                    GX[i] = a * GY[i] + b * X[i] + c0;
                }
            }
        });
    }

    // ---------------------------------------------------------------- element-wise, pooling, dense, loss

    @Override
    public void relu(Tensor x, Tensor y) {
        double[] X = x.f64(), Y = y.f64();
        Parallel.forChunks(X.length, (ch, lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                Y[i] = Math.max(X[i], 0);
            }
        });
    }

    @Override
    public void reluBackward(Tensor y, Tensor gy, Tensor gx) {
        double[] Y = y.f64(), GY = gy.f64(), GX = gx.f64();
        double/*r*/ big = RELU_MASK_SCALE;
        Parallel.forChunks(Y.length, (ch, lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                // mask = 1 where y > 0 (subnormal y included), 0 where y <= 0: min/max vectorize, a ternary not
                double/*r*/ mask = Math.min(Math.min(Math.max(Y[i], 0) * big, 1) * big, 1);
                GX[i] = GY[i] * mask;
            }
        });
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor y) {
        double[] A = a.f64(), B = b.f64(), Y = y.f64();
        sameSize("add", a, b, y);
        Parallel.forChunks(A.length, (ch, lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                Y[i] = A[i] + B[i];
            }
        });
    }

    private static void sameSize(String op, Tensor a, Tensor b, Tensor y) {
        if (a.size() != b.size() || a.size() != y.size()) {
            throw new IllegalArgumentException(op + " shapes " + a + " " + b + " " + y);
        }
    }

    /** One pass: Y = max(A + B, 0); a is left as it is. */
    @Override
    public void addRelu(Tensor a, Tensor b, Tensor y) {
        double[] A = a.f64(), B = b.f64(), Y = y.f64();
        sameSize("addRelu", a, b, y);
        Parallel.forChunks(A.length, (ch, lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                Y[i] = Math.max(A[i] + B[i], 0);
            }
        });
    }

    @Override
    public void avgPool(Tensor x, int k, Tensor y) {
        double[] X = x.f64(), Y = y.f64();
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
                        int r = (p * h + oi * k + a) * w + oj * k;
                        for (int b = 0; b < k; b++) {
                            s += X[r + b];
                        }
                    }
                    Y[(p * ho + oi) * wo + oj] = (double) (s * scale);
                }
            }
        });
    }

    @Override
    public void avgPoolBackward(Tensor gy, int k, Tensor gx) {
        double[] GY = gy.f64(), GX = gx.f64();
        int nc = gx.dim(0) * gx.dim(1), h = gx.dim(2), w = gx.dim(3), ho = h / k, wo = w / k;
        double/*r*/ scale = (double) (1.0 / (k * k));
        Parallel.forEach(nc, p -> {
            for (int oi = 0; oi < ho; oi++) {
                int r = (p * h + oi * k) * w, gr = (p * ho + oi) * wo;
                for (int j = 0; j < w; j++) {
                    GX[r + j] = GY[gr + j / k] * scale;
                }
                for (int a = 1; a < k; a++) {
                    System.arraycopy(GX, r, GX, r + a * w, w);
                }
            }
        });
    }

    @Override
    public void dense(Tensor x, Tensor w, Tensor b, Tensor y) {
        double[] X = x.f64(), W = in(w), B = b == null ? null : in(b), Y = y.f64();
        int n = x.dim(0), in = x.size() / n, out = w.dim(0);
        if (w.dim(1) != in || y.size() != n * out) {
            throw new IllegalArgumentException("dense shapes x=" + x + " w=" + w + " y=" + y);
        }
        Parallel.forEach(n, i -> {
            for (int o = 0; o < out; o++) {
                double s0 = 0, s1 = 0;
                int xi = i * in, wi = o * in, j = 0;
                for (; j + 2 <= in; j += 2) {
                    s0 += X[xi + j] * W[wi + j];
                    s1 += X[xi + j + 1] * W[wi + j + 1];
                }
                for (; j < in; j++) {
                    s0 += X[xi + j] * W[wi + j];
                }
                Y[i * out + o] = (double) ((B == null ? 0 : B[o]) + (s0 + s1));
            }
        });
    }

    @Override
    public void denseBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, Tensor gb) {
        double[] X = x.f64(), W = in(w), GY = gy.f64();
        int n = x.dim(0), in = x.size() / n, out = w.dim(0);
        if (gx != null) {
            double[] GX = gx.f64();
            Parallel.forEach(n, i -> {
                Arrays.fill(GX, i * in, (i + 1) * in, 0);
                for (int o = 0; o < out; o++) {
                    double/*r*/ g = GY[i * out + o];
                    int xi = i * in, wi = o * in;
                    for (int j = 0; j < in; j++) {
                        GX[xi + j] += g * W[wi + j];
                    }
                }
            });
        }
        if (gw != null) {
            double[] GW = in(gw);
            Parallel.forEach(out, o -> {
                var acc = Parallel.partials(in);
                for (int i = 0; i < n; i++) {
                    double g = GY[i * out + o];
                    int xi = i * in;
                    for (int j = 0; j < in; j++) {
                        acc[j] += g * X[xi + j];
                    }
                }
                for (int j = 0; j < in; j++) {
                    GW[o * in + j] += (double) acc[j];
                }
            });
            out(gw, GW);
        }
        if (gb != null) {
            double[] GB = in(gb);
            for (int o = 0; o < out; o++) {
                double s = 0;
                for (int i = 0; i < n; i++) {
                    s += GY[i * out + o];
                }
                GB[o] += (double) s;
            }
            out(gb, GB);
        }
    }

    @Override
    public double softmaxCrossEntropy(Tensor logits, int[] labels, Tensor gLogits, int[] predictions) {
        double[] L = logits.f64();
        double[] G = gLogits == null ? null : gLogits.f64();
        int n = logits.dim(0), k = logits.size() / n;
        double total = 0;
        for (int i = 0; i < n; i++) {
            int o = i * k;
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
                    G[o + j] = (double) ((p - (j == y ? 1 : 0)) / n);
                }
            }
        }
        return total / n;
    }

    // ---------------------------------------------------------------- periodic shifts of stacked planes

    /*
     * The PDE kernels work on blocks: nb consecutive (n, c) planes of h rows each, stacked into one array of
     * nb * h rows of w (small planes are stacked so that loops stay long), processed in strips of rows [i0, i1)
     * that keep the dozen or so active rows of a step in the L1 cache. Rows are periodic within each plane.
     */

    /** dst row i = src row i - 1 of the same plane (periodic), for rows i in [i0, i1). */
    private static void rowsFromAbove(double[] src, double[] dst, int h, int w, int i0, int i1) {
        int i = i0;
        while (i < i1) {
            int base = i - i % h, end = Math.min(i1, base + h);
            if (i == base) {
                System.arraycopy(src, (base + h - 1) * w, dst, i * w, w);
                i++;
            }
            if (end > i) {
                System.arraycopy(src, (i - 1) * w, dst, i * w, (end - i) * w);
            }
            i = end;
        }
    }

    /** dst row i = src row i + 1 of the same plane (periodic), for rows i in [i0, i1). */
    private static void rowsFromBelow(double[] src, double[] dst, int h, int w, int i0, int i1) {
        int i = i0;
        while (i < i1) {
            int base = i - i % h, last = base + h - 1, end = Math.min(i1, base + h), direct = Math.min(end, last);
            if (direct > i) {
                System.arraycopy(src, (i + 1) * w, dst, i * w, (direct - i) * w);
            }
            if (end == base + h) {
                System.arraycopy(src, base * w, dst, last * w, w);
            }
            i = end;
        }
    }

    /** dst[i][j] = src[i][j-1], columns periodic, rows [i0, i1). */
    private static void colsFromLeft(double[] src, double[] dst, int w, int i0, int i1) {
        System.arraycopy(src, i0 * w, dst, i0 * w + 1, (i1 - i0) * w - 1);
        for (int i = i0; i < i1; i++) {
            dst[i * w] = src[i * w + w - 1];
        }
    }

    /** dst[i][j] = src[i][j+1], columns periodic, rows [i0, i1). */
    private static void colsFromRight(double[] src, double[] dst, int w, int i0, int i1) {
        System.arraycopy(src, i0 * w + 1, dst, i0 * w, (i1 - i0) * w - 1);
        for (int i = i0; i < i1; i++) {
            dst[i * w + w - 1] = src[i * w];
        }
    }

    /** The four shifted copies (i-1, i+1, j-1, j+1) of rows [i0, i1) of x into sh[so .. so + 3]. */
    private static void shifts(double[] x, double[][] sh, int so, int h, int w, int i0, int i1) {
        rowsFromAbove(x, sh[so], h, w, i0, i1);
        rowsFromBelow(x, sh[so + 1], h, w, i0, i1);
        colsFromLeft(x, sh[so + 2], w, i0, i1);
        colsFromRight(x, sh[so + 3], w, i0, i1);
    }

    // ---------------------------------------------------------------- Global layer (PDE)

    /** Elements per strip of rows (bounds the working set of a step; whole planes up to 32 x 32). */
    private static final int PDE_STRIP = 1024;
    /** Small planes are stacked into blocks of about this many elements. */
    private static final int PDE_BLOCK = 1024;

    // rows of the per-block PDE scratch
    private static final int P_F = 0, P_H = 1, P_U = 2, P_V = 3, P_DX = 4, P_DY = 5, P_L = 6, P_E = 7, P_C0 = 8,
            P_C1 = 9, P_CXM = 10, P_CXP = 11, P_CYM = 12, P_CYP = 13, P_CF = 14, P_T0 = 15, P_A = 19, P_ROWS = 20;

    /** How the planes of a PDE call are grouped into blocks and strips. */
    private static final class PdeGeom {
        /** planes, their size, planes per block, blocks, rows per strip */
        final int planes, h, w, hw, nb, blocks, strip;

        PdeGeom(Tensor f) {
            planes = f.dim(0) * f.dim(1);
            h = f.dim(2);
            w = f.dim(3);
            hw = h * w;
            nb = Math.max(1, Math.min(planes, PDE_BLOCK / hw));
            blocks = (planes + nb - 1) / nb;
            strip = Math.max(1, PDE_STRIP / w);
        }

        int planesIn(int b) {
            return Math.min(nb, planes - b * nb);
        }
    }

    /**
     * Copies one block of every input into the scratch rows (zero velocity when null; a constant diffusivity is
     * not expanded).
     */
    private static void pdeLoad(double[] F, double[] HH, double[] U, double[] V, double[] DX, double[] DY,
                                int base, int len, double[][] r) {
        System.arraycopy(F, base, r[P_F], 0, len);
        System.arraycopy(HH, base, r[P_H], 0, len);
        if (U != null) {
            System.arraycopy(U, base, r[P_U], 0, len);
            System.arraycopy(V, base, r[P_V], 0, len);
        } else {
            Arrays.fill(r[P_U], 0, len, 0);
            Arrays.fill(r[P_V], 0, len, 0);
        }
        if (DX != null) {
            System.arraycopy(DX, base, r[P_DX], 0, len);
            System.arraycopy(DY, base, r[P_DY], 0, len);
        }
    }

    /**
     * Coefficients of the recursion H(k+1) = c0 H(k-1) + c1 H(k) + cxm H(k)[i-1] + cxp H(k)[i+1]
     * + cym H(k)[j-1] + cyp H(k)[j+1] + cf, with c0 = L M, c1 = -2 E L, cxm = L (2Bx - Ax), cxp = L (2Bx + Ax),
     * cym = L (2By - Ay), cyp = L (2By + Ay), cf = 2 dt L f (also keeps L and E), for rows [i0, i1).
     */
    private static void pdeCoefficients(PdeSpec s, int h, int w, int i0, int i1, double[][] r, boolean constD,
                                        double dConst) {
        double dt = s.dt();
        double/*r*/ b2x = (double) (2 * dt / (s.dx() * s.dx())), b2y = (double) (2 * dt / (s.dy() * s.dy()));
        double/*r*/ ax = (double) (dt / s.dx()), ay = (double) (dt / s.dy());
        double/*r*/ ex = (double) (dt / (2 * s.dx())), ey = (double) (dt / (2 * s.dy())), dt2 = (double) (2 * dt);
        double[] f = r[P_F], u = r[P_U], v = r[P_V], dx = r[P_DX], dy = r[P_DY], l = r[P_L], e = r[P_E];
        double[] c0 = r[P_C0], c1 = r[P_C1], cxm = r[P_CXM], cxp = r[P_CXP], cym = r[P_CYM], cyp = r[P_CYP];
        double[] cf = r[P_CF], t0 = r[P_T0], t1 = r[P_T0 + 1], t2 = r[P_T0 + 2], t3 = r[P_T0 + 3];
        int lo = i0 * w, hi = i1 * w;
        if (constD) {
            double bx2 = 2 * dt / (s.dx() * s.dx()) * dConst, by2 = 2 * dt / (s.dy() * s.dy()) * dConst;
            double lc = 1 / (1 + bx2 + by2);
            Arrays.fill(l, lo, hi, (double) lc);
            Arrays.fill(c0, lo, hi, (double) (lc * (1 - bx2 - by2)));
            double/*r*/ lf = (double) (2 * dt * lc);
            for (int q = lo; q < hi; q++) {
                cf[q] = lf * f[q];
            }
        } else {
            for (int q = lo; q < hi; q++) {
                l[q] = 1 / (1 + b2x * dx[q] + b2y * dy[q]);
            }
            // L M = (1 - S) / (1 + S) = 2 L - 1 with S = 2 Bx + 2 By
            for (int q = lo; q < hi; q++) {
                c0[q] = 2 * l[q] - 1;
            }
            for (int q = lo; q < hi; q++) {
                cf[q] = dt2 * l[q] * f[q];
            }
        }
        rowsFromAbove(u, t0, h, w, i0, i1);
        rowsFromBelow(u, t1, h, w, i0, i1);
        colsFromLeft(v, t2, w, i0, i1);
        colsFromRight(v, t3, w, i0, i1);
        for (int q = lo; q < hi; q++) {
            e[q] = ex * (t0[q] - t1[q]) + ey * (t2[q] - t3[q]);
        }
        for (int q = lo; q < hi; q++) {
            c1[q] = -2 * e[q] * l[q];
        }
        if (constD) {
            double/*r*/ lc = l[lo], bxc = (double) (2 * dt / (s.dx() * s.dx()) * dConst);
            double/*r*/ byc = (double) (2 * dt / (s.dy() * s.dy()) * dConst);
            // one output per loop: C2 (JDK 17) leaves loops that only write two arrays scalar
            double/*r*/ bxl = lc * bxc, byl = lc * byc, axl = lc * ax, ayl = lc * ay;
            for (int q = lo; q < hi; q++) {
                cxm[q] = bxl - axl * u[q];
            }
            for (int q = lo; q < hi; q++) {
                cxp[q] = bxl + axl * u[q];
            }
            for (int q = lo; q < hi; q++) {
                cym[q] = byl - ayl * v[q];
            }
            for (int q = lo; q < hi; q++) {
                cyp[q] = byl + ayl * v[q];
            }
            return;
        }
        for (int q = lo; q < hi; q++) {
            cxm[q] = l[q] * (b2x * dx[q] - ax * u[q]);
        }
        for (int q = lo; q < hi; q++) {
            cxp[q] = l[q] * (b2x * dx[q] + ax * u[q]);
        }
        for (int q = lo; q < hi; q++) {
            cym[q] = l[q] * (b2y * dy[q] - ay * v[q]);
        }
        for (int q = lo; q < hi; q++) {
            cyp[q] = l[q] * (b2y * dy[q] + ay * v[q]);
        }
    }

    /**
     * One time step on rows [i0, i1): next = c0 prev + c1 cur + neighbours of cur + cf, periodic boundaries.
     * The four shifted copies of cur (i-1, i+1, j-1, j+1) are left in sh[so .. so + 3].
     */
    private static void pdeStep(double[][] r, double[] prev, double[] cur, double[] next, double[][] sh, int so,
                                int h, int w, int i0, int i1) {
        double[] c0 = r[P_C0], c1 = r[P_C1], cxm = r[P_CXM], cxp = r[P_CXP], cym = r[P_CYM], cyp = r[P_CYP];
        double[] cf = r[P_CF], t0 = sh[so], t1 = sh[so + 1], t2 = sh[so + 2], t3 = sh[so + 3];
        shifts(cur, sh, so, h, w, i0, i1);
        int lo = i0 * w, hi = i1 * w;
        for (int q = lo; q < hi; q++) {
            next[q] = c0[q] * prev[q] + c1[q] * cur[q] + cf[q];
        }
        for (int q = lo; q < hi; q++) {
            double/*r*/ z = next[q], a = t0[q], b = t1[q];
            next[q] = z + cxm[q] * a + cxp[q] * b;
        }
        for (int q = lo; q < hi; q++) {
            double/*r*/ z = next[q], a = t2[q], b = t3[q];
            next[q] = z + cym[q] * a + cyp[q] * b;
        }
    }

    @Override
    public void pdeForward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst,
                           PdeSpec s, Tensor out) {
        double[] F = f.f64(), HH = h.f64(), O = out.f64();
        double[] U = u == null ? null : u.f64(), V = v == null ? null : v.f64();
        double[] DX = dX == null ? null : dX.f64(), DY = dY == null ? null : dY.f64();
        PdeGeom pg = new PdeGeom(f);
        int k = s.steps(), hh = pg.h, w = pg.w;
        Parallel.forTasks(pg.blocks, blk -> {
            int rowsN = pg.planesIn(blk) * hh, len = rowsN * w, base = blk * pg.nb * pg.hw;
            double[][] r = rows(WORK.get(), 4, P_ROWS, pg.nb * pg.hw);
            pdeLoad(F, HH, U, V, DX, DY, base, len, r);
            for (int i0 = 0; i0 < rowsN; i0 += pg.strip) {
                pdeCoefficients(s, hh, w, i0, Math.min(rowsN, i0 + pg.strip), r, DX == null, dConst);
            }
            double[] a = r[P_F], b = r[P_H], c = r[P_A];
            for (int step = 0; step < k; step++) {
                for (int i0 = 0; i0 < rowsN; i0 += pg.strip) {
                    pdeStep(r, a, b, c, r, P_T0, hh, w, i0, Math.min(rowsN, i0 + pg.strip));
                }
                double[] t = a;
                a = b;
                b = c;
                c = t;
            }
            System.arraycopy(b, 0, O, base, len);
        });
    }

    // rows of the per-block adjoint scratch
    private static final int G_C0 = 0, G_C1 = 1, G_XM = 2, G_XP = 3, G_YM = 4, G_YP = 5, G_CF = 6, G_A = 7, G_B = 8,
            G_C = 9, G_CXM = 10, G_CXP = 11, G_CYM = 12, G_CYP = 13, G_L = 14, G_FO = 15, G_EO = 16, G_UO = 17,
            G_VO = 18, G_DXO = 19, G_DYO = 20, G_T = 21, G_ROWS = 25;

    /**
     * Adjoint of the recursion. Per block the K+2 states H(-1)..H(K) are recomputed from the inputs (nothing
     * is stored between forward and backward; the recomputation keeps each state's shifted copies for the
     * adjoint), then the adjoint G runs backwards: step k sends c0 G(k+1) to G(k-1) and the transposed stencil
     * of G(k+1) to G(k), and accumulates the seven coefficient gradients, which are finally chained to L, M, E,
     * A, B and so to u, v, Dx, Dy and f.
     */
    @Override
    public void pdeBackward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst,
                            PdeSpec s, Tensor gOut, Tensor gf, Tensor gh, Tensor gu, Tensor gv, Tensor gDx,
                            Tensor gDy) {
        double[] F = f.f64(), HH = h.f64(), GO = gOut.f64();
        double[] U = u == null ? null : u.f64(), V = v == null ? null : v.f64();
        double[] DX = dX == null ? null : dX.f64(), DY = dY == null ? null : dY.f64();
        double[] GF = gf == null ? null : gf.f64(), GH = gh == null ? null : gh.f64();
        double[] GU = gu == null ? null : gu.f64(), GV = gv == null ? null : gv.f64();
        double[] GDX = gDx == null ? null : gDx.f64(), GDY = gDy == null ? null : gDy.f64();
        PdeGeom pg = new PdeGeom(f);
        int k = s.steps(), hh = pg.h, w = pg.w;
        boolean needD = GDX != null || GDY != null, velocity = GU != null || GV != null;
        Parallel.forTasks(pg.blocks, blk -> {
            Work wk = WORK.get();
            int rowsN = pg.planesIn(blk) * hh, len = rowsN * w, base = blk * pg.nb * pg.hw, cap = pg.nb * pg.hw;
            double[][] r = rows(wk, 4, P_ROWS, cap), st = rows(wk, 5, 5 * k + 2, cap), b = rows(wk, 6, G_ROWS, cap);
            pdeLoad(F, HH, U, V, DX, DY, base, len, r);
            for (int i0 = 0; i0 < rowsN; i0 += pg.strip) {
                pdeCoefficients(s, hh, w, i0, Math.min(rowsN, i0 + pg.strip), r, DX == null, dConst);
            }
            System.arraycopy(r[P_F], 0, st[0], 0, len);
            System.arraycopy(r[P_H], 0, st[1], 0, len);
            for (int step = 0; step < k; step++) {
                for (int i0 = 0; i0 < rowsN; i0 += pg.strip) {
                    pdeStep(r, st[step], st[step + 1], st[step + 2], st, k + 2 + 4 * step, hh, w, i0,
                            Math.min(rowsN, i0 + pg.strip));
                }
            }
            double[] gh0 = pdeAdjoint(r, st, b, GO, base, k, hh, w, rowsN, pg.strip, needD);
            pdeChain(s, r, b, hh, w, rowsN, pg.strip, velocity, needD);
            if (GF != null) {
                System.arraycopy(b[G_FO], 0, GF, base, len);
            }
            if (GH != null) {
                System.arraycopy(gh0, 0, GH, base, len);
            }
            if (velocity) {
                System.arraycopy(b[G_UO], 0, GU, base, len);
                System.arraycopy(b[G_VO], 0, GV, base, len);
            }
            if (needD) {
                System.arraycopy(b[G_DXO], 0, GDX, base, len);
                System.arraycopy(b[G_DYO], 0, GDY, base, len);
            }
        });
    }

    /**
     * Runs the adjoint from G(K) = gOut down to G(0), accumulating the coefficient gradients into
     * b[G_C0 .. G_CF]; returns G(0) and leaves G(-1) in b[G_FO] as a partial of the f gradient.
     */
    private static double[] pdeAdjoint(double[][] r, double[][] st, double[][] b, double[] GO, int base, int k,
                                       int hh, int w, int rowsN, int strip, boolean needD) {
        int len = rowsN * w;
        double[] gc0 = b[G_C0], gc1 = b[G_C1], gxm = b[G_XM], gxp = b[G_XP], gym = b[G_YM], gyp = b[G_YP];
        double[] gcf = b[G_CF];
        zero(b, G_C0, 7, len);
        double[] gNext = b[G_A], gCur = b[G_B], gPrev = b[G_C];
        System.arraycopy(GO, base, gNext, 0, len);
        Arrays.fill(gCur, 0, len, 0);
        double[] c0 = r[P_C0], c1 = r[P_C1];
        double[] t0 = b[G_T], t1 = b[G_T + 1], t2 = b[G_T + 2], t3 = b[G_T + 3];
        // neighbour coefficients seen from the neighbour: cxm at i+1, cxp at i-1, cym at j+1, cyp at j-1
        double[] sxm = b[G_CXM], sxp = b[G_CXP], sym = b[G_CYM], syp = b[G_CYP];
        rowsFromBelow(r[P_CXM], sxm, hh, w, 0, rowsN);
        rowsFromAbove(r[P_CXP], sxp, hh, w, 0, rowsN);
        colsFromRight(r[P_CYM], sym, w, 0, rowsN);
        colsFromLeft(r[P_CYP], syp, w, 0, rowsN);
        for (int step = k - 1; step >= 0; step--) {
            // H(k) and its four shifted copies (i-1, i+1, j-1, j+1), kept from the forward recomputation
            double[] g = gNext, hk = st[step + 1], hkm = st[step];
            int sh = k + 2 + 4 * step;
            for (int i0 = 0; i0 < rowsN; i0 += strip) {
                int i1 = Math.min(rowsN, i0 + strip), lo = i0 * w, hi = i1 * w;
                if (needD) {
                    accumulate3(gc0, gc1, gcf, g, hkm, hk, lo, hi);
                    accumulate2(gxm, gxp, g, st[sh], st[sh + 1], lo, hi);
                    accumulate2(gym, gyp, g, st[sh + 2], st[sh + 3], lo, hi);
                } else {
                    // without a diffusivity gradient only c1, cf and the differences cxp - cxm, cyp - cym matter:
                    // accumulate g (H[i+1] - H[i-1]) into gxp (gxm stays 0), likewise along y
                    accumulate1(gc1, gcf, g, hk, lo, hi);
                    accumulateDifference(gxp, g, st[sh + 1], st[sh], lo, hi);
                    accumulateDifference(gyp, g, st[sh + 3], st[sh + 2], lo, hi);
                }
                product(gPrev, c0, g, lo, hi);
                // H(k)[q] feeds next[q] (c1), next at i+1 as its i-1 neighbour (cxm there), etc.
                rowsFromBelow(g, t0, hh, w, i0, i1);
                rowsFromAbove(g, t1, hh, w, i0, i1);
                colsFromRight(g, t2, w, i0, i1);
                colsFromLeft(g, t3, w, i0, i1);
                addProducts3(gCur, c1, g, sxm, t0, sxp, t1, lo, hi);
                addProducts2(gCur, sym, t2, syp, t3, lo, hi);
            }
            double[] t = gNext;
            gNext = gCur;
            gCur = gPrev;
            gPrev = t;
        }
        System.arraycopy(gCur, 0, b[G_FO], 0, len);
        return gNext;
    }

    /** a += g * x, c += g. */
    private static void accumulate1(double[] a, double[] c, double[] g, double[] x, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            double/*r*/ a0 = a[q], c0 = c[q], gq = g[q];
            a[q] = a0 + gq * x[q];
            c[q] = c0 + gq;
        }
    }

    /** a += g * (x - y). */
    private static void accumulateDifference(double[] a, double[] g, double[] x, double[] y, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            a[q] = a[q] + g[q] * (x[q] - y[q]);
        }
    }

    /** a += g * x, b += g * y, c += g. */
    private static void accumulate3(double[] a, double[] b, double[] c, double[] g, double[] x, double[] y, int lo,
                                    int hi) {
        for (int q = lo; q < hi; q++) {
            double/*r*/ a0 = a[q], b0 = b[q], c0 = c[q], gq = g[q];
            a[q] = a0 + gq * x[q];
            b[q] = b0 + gq * y[q];
            c[q] = c0 + gq;
        }
    }

    /** a += g * x, b += g * y. */
    private static void accumulate2(double[] a, double[] b, double[] g, double[] x, double[] y, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            double/*r*/ a0 = a[q], b0 = b[q], gq = g[q];
            a[q] = a0 + gq * x[q];
            b[q] = b0 + gq * y[q];
        }
    }

    private static void product(double[] dst, double[] a, double[] b, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            dst[q] = a[q] * b[q];
        }
    }

    /** z += a * b + c * d + e * f. */
    private static void addProducts3(double[] z, double[] a, double[] b, double[] c, double[] d, double[] e,
                                     double[] f, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            double/*r*/ z0 = z[q], bq = b[q], dq = d[q], fq = f[q];
            z[q] = z0 + a[q] * bq + c[q] * dq + e[q] * fq;
        }
    }

    /** z += a * b + c * d. */
    private static void addProducts2(double[] z, double[] a, double[] b, double[] c, double[] d, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            double/*r*/ z0 = z[q], bq = b[q], dq = d[q];
            z[q] = z0 + a[q] * bq + c[q] * dq;
        }
    }

    /**
     * Chains the coefficient gradients to the inputs: b[G_FO] (f; holds G(-1) on entry), b[G_UO], b[G_VO]
     * (velocity, through A and E), b[G_DXO], b[G_DYO] (diffusivity, through L, M and B).
     */
    private static void pdeChain(PdeSpec s, double[][] r, double[][] b, int hh, int w, int rowsN, int strip,
                                 boolean velocity, boolean needD) {
        double dt = s.dt();
        double/*r*/ b2x = (double) (2 * dt / (s.dx() * s.dx())), b2y = (double) (2 * dt / (s.dy() * s.dy()));
        double/*r*/ bx = (double) (dt / (s.dx() * s.dx())), by = (double) (dt / (s.dy() * s.dy()));
        double/*r*/ ax = (double) (dt / s.dx()), ay = (double) (dt / s.dy()), dt2 = (double) (2 * dt);
        double/*r*/ ex = (double) (dt / (2 * s.dx())), ey = (double) (dt / (2 * s.dy()));
        double[] gc0 = b[G_C0], gc1 = b[G_C1], gxm = b[G_XM], gxp = b[G_XP], gym = b[G_YM], gyp = b[G_YP];
        double[] gcf = b[G_CF];
        double[] l = r[P_L], e = r[P_E], fv = r[P_F], uv = r[P_U], vv = r[P_V], dxv = r[P_DX], dyv = r[P_DY];
        double[] gl = b[G_L], fo = b[G_FO], eo = b[G_EO], uo = b[G_UO], vo = b[G_VO], dxo = b[G_DXO], dyo = b[G_DYO];
        for (int i0 = 0; i0 < rowsN; i0 += strip) {
            int lo = i0 * w, hi = Math.min(rowsN, i0 + strip) * w;
            for (int q = lo; q < hi; q++) {
                fo[q] = fo[q] + dt2 * l[q] * gcf[q];
            }
            if (needD) {
                // gl = dLoss/dL through all seven coefficients
                lGradientX(gl, gxm, gxp, dxv, uv, b2x, ax, lo, hi);
                lGradientY(gl, gym, gyp, dyv, vv, b2y, ay, lo, hi);
                lGradientRest(gl, gc0, dxv, dyv, gcf, fv, gc1, e, b2x, b2y, dt2, lo, hi);
                // -2 L^2 gl - 2 dLoss/dM L, shared by Bx and By
                for (int q = lo; q < hi; q++) {
                    gl[q] = -2 * l[q] * (l[q] * gl[q] + gc0[q]);
                }
                diffusivityGradient(dxo, dyo, l, gl, gxm, gxp, gym, gyp, bx, by, lo, hi);
            }
            if (velocity) {
                for (int q = lo; q < hi; q++) {
                    eo[q] = -2 * l[q] * gc1[q];
                }
                velocityGradient(uo, vo, l, gxm, gxp, gym, gyp, ax, ay, lo, hi);
            }
        }
        if (velocity) {
            // E = dt (ux + vy) with ux[i] = (u[i-1] - u[i+1]) / 2dx: u[i] enters ux[i+1] (+) and ux[i-1] (-)
            double[] t0 = b[G_T], t1 = b[G_T + 1], t2 = b[G_T + 2], t3 = b[G_T + 3];
            for (int i0 = 0; i0 < rowsN; i0 += strip) {
                int i1 = Math.min(rowsN, i0 + strip), lo = i0 * w, hi = i1 * w;
                rowsFromBelow(eo, t0, hh, w, i0, i1);
                rowsFromAbove(eo, t1, hh, w, i0, i1);
                colsFromRight(eo, t2, w, i0, i1);
                colsFromLeft(eo, t3, w, i0, i1);
                addScaledDifference(uo, t0, t1, ex, lo, hi);
                addScaledDifference(vo, t2, t3, ey, lo, hi);
            }
        }
    }

    private static void lGradientX(double[] gl, double[] gm, double[] gp, double[] d, double[] u, double/*r*/ b2,
                                   double/*r*/ a, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            double/*r*/ bq = b2 * d[q], aq = a * u[q];
            gl[q] = gm[q] * (bq - aq) + gp[q] * (bq + aq);
        }
    }

    private static void lGradientY(double[] gl, double[] gm, double[] gp, double[] d, double[] v, double/*r*/ b2,
                                   double/*r*/ a, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            double/*r*/ z = gl[q], bq = b2 * d[q], aq = a * v[q];
            gl[q] = z + gm[q] * (bq - aq) + gp[q] * (bq + aq);
        }
    }

    private static void lGradientRest(double[] gl, double[] gc0, double[] dx, double[] dy, double[] gcf, double[] f,
                                      double[] gc1, double[] e, double/*r*/ b2x, double/*r*/ b2y,
                                      double/*r*/ dt2, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            gl[q] = gl[q] + gc0[q] * (1 - b2x * dx[q] - b2y * dy[q]);
        }
        for (int q = lo; q < hi; q++) {
            gl[q] = gl[q] + dt2 * gcf[q] * f[q] - 2 * gc1[q] * e[q];
        }
    }

    private static void velocityGradient(double[] uo, double[] vo, double[] l, double[] gxm, double[] gxp,
                                         double[] gym, double[] gyp, double/*r*/ ax, double/*r*/ ay, int lo,
                                         int hi) {
        for (int q = lo; q < hi; q++) {
            uo[q] = ax * l[q] * (gxp[q] - gxm[q]);
        }
        for (int q = lo; q < hi; q++) {
            vo[q] = ay * l[q] * (gyp[q] - gym[q]);
        }
    }

    private static void diffusivityGradient(double[] dxo, double[] dyo, double[] l, double[] z, double[] gxm,
                                            double[] gxp, double[] gym, double[] gyp, double/*r*/ bx,
                                            double/*r*/ by, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            dxo[q] = bx * (2 * l[q] * (gxm[q] + gxp[q]) + z[q]);
        }
        for (int q = lo; q < hi; q++) {
            dyo[q] = by * (2 * l[q] * (gym[q] + gyp[q]) + z[q]);
        }
    }

    /** z += c * (a - b). */
    private static void addScaledDifference(double[] z, double[] a, double[] b, double/*r*/ c, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            z[q] = z[q] + c * (a[q] - b[q]);
        }
    }

    // ---------------------------------------------------------------- Perona–Malik diffusivity

    /** dst[i] = src[reflect(i+1)] (rows). */
    private static void rowsReflectBelow(double[] src, double[] dst, int h, int w) {
        System.arraycopy(src, w, dst, 0, (h - 1) * w);
        System.arraycopy(src, (h - 2) * w, dst, (h - 1) * w, w);
    }

    /** dst[i] = src[reflect(i-1)] (rows). */
    private static void rowsReflectAbove(double[] src, double[] dst, int h, int w) {
        System.arraycopy(src, 0, dst, w, (h - 1) * w);
        System.arraycopy(src, w, dst, 0, w);
    }

    /** dst[i][j] = src[i][reflect(j-1)]. */
    private static void colsReflectLeft(double[] src, double[] dst, int h, int w) {
        System.arraycopy(src, 0, dst, 1, h * w - 1);
        for (int i = 0; i < h; i++) {
            dst[i * w] = src[i * w + 1];
        }
    }

    /** dst[i][j] = src[i][reflect(j+1)]. */
    private static void colsReflectRight(double[] src, double[] dst, int h, int w) {
        System.arraycopy(src, 1, dst, 0, h * w - 1);
        for (int i = 0; i < h; i++) {
            dst[i * w + w - 1] = src[i * w + w - 2];
        }
    }

    /** Adjoint of {@link #rowsReflectBelow}: dst[r] = sum of g[i] over the i with reflect(i+1) = r. */
    private static void rowsReflectBelowT(double[] g, double[] dst, int h, int w) {
        System.arraycopy(g, 0, dst, w, (h - 1) * w);
        Arrays.fill(dst, 0, w, 0);
        for (int j = 0; j < w; j++) {
            dst[(h - 2) * w + j] += g[(h - 1) * w + j];
        }
    }

    /** Adjoint of {@link #rowsReflectAbove}. */
    private static void rowsReflectAboveT(double[] g, double[] dst, int h, int w) {
        System.arraycopy(g, w, dst, 0, (h - 1) * w);
        Arrays.fill(dst, (h - 1) * w, h * w, 0);
        for (int j = 0; j < w; j++) {
            dst[w + j] += g[j];
        }
    }

    /** Adjoint of {@link #colsReflectLeft}. */
    private static void colsReflectLeftT(double[] g, double[] dst, int h, int w) {
        System.arraycopy(g, 1, dst, 0, h * w - 1);
        for (int i = 0; i < h; i++) {
            dst[i * w + w - 1] = 0;
            dst[i * w + 1] += g[i * w];
        }
    }

    /** Adjoint of {@link #colsReflectRight}. */
    private static void colsReflectRightT(double[] g, double[] dst, int h, int w) {
        System.arraycopy(g, 0, dst, 1, h * w - 1);
        for (int i = 0; i < h; i++) {
            dst[i * w] = 0;
            dst[i * w + w - 2] += g[i * w + w - 1];
        }
    }

    // rows of the Perona–Malik scratch
    private static final int M_H = 0, M_A = 1, M_B = 2, M_D = 3, M_SX = 4, M_SY = 5, M_GX = 6, M_GY = 7, M_ACC = 8,
            M_ROWS = 9;

    /**
     * The Sobel derivatives of one plane, separably: sx = smooth_j(diff_i h), sy = smooth_i(diff_j h), with
     * reflect padding, into r[M_SX] and r[M_SY].
     */
    private static void sobel(double[][] r, int h, int w, int hw) {
        double[] x = r[M_H], a = r[M_A], b = r[M_B], d = r[M_D], sx = r[M_SX], sy = r[M_SY];
        rowsReflectBelow(x, a, h, w);
        rowsReflectAbove(x, b, h, w);
        for (int q = 0; q < hw; q++) {
            d[q] = a[q] - b[q];
        }
        colsReflectLeft(d, a, h, w);
        colsReflectRight(d, b, h, w);
        for (int q = 0; q < hw; q++) {
            sx[q] = a[q] + 2 * d[q] + b[q];
        }
        colsReflectRight(x, a, h, w);
        colsReflectLeft(x, b, h, w);
        for (int q = 0; q < hw; q++) {
            d[q] = a[q] - b[q];
        }
        rowsReflectAbove(d, a, h, w);
        rowsReflectBelow(d, b, h, w);
        for (int q = 0; q < hw; q++) {
            sy[q] = a[q] + 2 * d[q] + b[q];
        }
    }

    @Override
    public void peronaMalik(Tensor h, double lambda, Tensor dX, Tensor dY) {
        double[] HH = h.f64(), DX = dX.f64(), DY = dY.f64();
        int planes = h.dim(0) * h.dim(1), hh = h.dim(2), w = h.dim(3), hw = hh * w;
        checkReflect(hh, w);
        double/*r*/ inv2 = (double) (1.0 / (lambda * lambda));
        Parallel.forEach(planes, p -> {
            double[][] r = rows(WORK.get(), 7, M_ROWS, hw);
            System.arraycopy(HH, p * hw, r[M_H], 0, hw);
            sobel(r, hh, w, hw);
            double[] sx = r[M_SX], sy = r[M_SY];
            for (int q = 0; q < hw; q++) {
                sx[q] = 1 / (1 + sx[q] * sx[q] * inv2);
            }
            for (int q = 0; q < hw; q++) {
                sy[q] = 1 / (1 + sy[q] * sy[q] * inv2);
            }
            System.arraycopy(sx, 0, DX, p * hw, hw);
            System.arraycopy(sy, 0, DY, p * hw, hw);
        });
    }

    @Override
    public void peronaMalikBackward(Tensor h, double lambda, Tensor gDx, Tensor gDy, Tensor gh) {
        double[] HH = h.f64(), GDX = gDx.f64(), GDY = gDy.f64(), GH = gh.f64();
        int planes = h.dim(0) * h.dim(1), hh = h.dim(2), w = h.dim(3), hw = hh * w;
        checkReflect(hh, w);
        double/*r*/ inv2 = (double) (1.0 / (lambda * lambda));
        Parallel.forEach(planes, p -> {
            double[][] r = rows(WORK.get(), 7, M_ROWS, hw);
            int base = p * hw;
            System.arraycopy(HH, base, r[M_H], 0, hw);
            sobel(r, hh, w, hw);
            double[] sx = r[M_SX], sy = r[M_SY], gsx = r[M_GX], gsy = r[M_GY], a = r[M_A], b = r[M_B];
            double[] d = r[M_D], acc = r[M_ACC];
            System.arraycopy(GDX, base, gsx, 0, hw);
            System.arraycopy(GDY, base, gsy, 0, hw);
            // d/dS of 1/(1 + S^2/l^2) = -2 S / l^2 * D^2
            for (int q = 0; q < hw; q++) {
                double/*r*/ sq = sx[q], dd = 1 / (1 + sq * sq * inv2);
                gsx[q] = gsx[q] * (-2 * sq * inv2 * dd * dd);
            }
            for (int q = 0; q < hw; q++) {
                double/*r*/ sq = sy[q], dd = 1 / (1 + sq * sq * inv2);
                gsy[q] = gsy[q] * (-2 * sq * inv2 * dd * dd);
            }
            // sx = L(d) + 2 d + R(d) with d = below(h) - above(h)
            colsReflectLeftT(gsx, a, hh, w);
            colsReflectRightT(gsx, b, hh, w);
            for (int q = 0; q < hw; q++) {
                d[q] = a[q] + 2 * gsx[q] + b[q];
            }
            rowsReflectBelowT(d, a, hh, w);
            rowsReflectAboveT(d, b, hh, w);
            for (int q = 0; q < hw; q++) {
                acc[q] = a[q] - b[q];
            }
            // sy = above(e) + 2 e + below(e) with e = right(h) - left(h)
            rowsReflectAboveT(gsy, a, hh, w);
            rowsReflectBelowT(gsy, b, hh, w);
            for (int q = 0; q < hw; q++) {
                d[q] = a[q] + 2 * gsy[q] + b[q];
            }
            colsReflectRightT(d, a, hh, w);
            colsReflectLeftT(d, b, hh, w);
            for (int q = 0; q < hw; q++) {
                acc[q] = acc[q] + a[q] - b[q];
            }
            for (int q = 0; q < hw; q++) {
                GH[base + q] += acc[q];
            }
        });
    }

    private static void checkReflect(int h, int w) {
        if (h < 2 || w < 2) {
            throw new IllegalArgumentException("Perona-Malik needs maps of at least 2x2 for reflect padding, got "
                    + h + "x" + w);
        }
    }

    // ---------------------------------------------------------------- views

    /**
     * The elements of a parameter-like tensor (weights, their gradients, BN statistics, velocities), which may be a
     * {@link Tensor#view} into the parameter store: its array itself when the tensor owns all of it, else a copy
     * of its window, to be written back with {@link #out}. Parameters are small next to activations, so the copy
     * costs little; activations are never views.
     */
    private static double[] in(Tensor t) {
        double[] a = t.f64();
        return t.offset() == 0 && a.length == t.size() ? a : Arrays.copyOfRange(a, t.offset(), t.offset() + t.size());
    }

    /** Writes a window {@link #in} copied back into its tensor (nothing when it was the tensor's own array). */
    private static void out(Tensor t, double[] a) {
        double[] b = t.f64();
        if (a != b) {
            System.arraycopy(a, 0, b, t.offset(), a.length);
        }
    }

    // ---------------------------------------------------------------- optimizer

    @Override
    public void sgdStep(Tensor w, Tensor g, Tensor vel, double lr, double momentum, double wd) {
        double[] W = in(w), G = in(g), VV = in(vel);
        double/*r*/ lrr = (double) lr, mom = (double) momentum, wdd = (double) wd;
        for (int i = 0; i < W.length; i++) {
            VV[i] = mom * VV[i] - lrr * (G[i] + wdd * W[i]);
            W[i] += VV[i];
        }
        out(w, W);
        out(vel, VV);
    }

    @Override
    public double sumSquares(Tensor w) {
        double[] W = in(w);
        double s = 0;
        for (double/*r*/ x : W) {
            double xd = x;
            s += xd * xd;
        }
        return s;
    }
}
