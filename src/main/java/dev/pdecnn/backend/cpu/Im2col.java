package dev.pdecnn.backend.cpu;

import java.util.Arrays;

/**
 * im2col for the fast backend's convolutions, shared by the Java GEMM path ({@link ConvOps}) and the OpenBLAS path
 * ({@link BlasConv}): one tap (input channel ch, kernel offset ki, kj) of a run of images becomes one row whose
 * column (img - i0) pImg + oi wo + oj holds x[img][ch][oi stride - pad + ki][oj stride - pad + kj] (zero in the
 * padding); and the transpose, a scatter-add of such a row onto an input gradient. Input planes start at
 * {@code xOff + (img c + ch) h w}, so a tensor view passes its offset as xOff.
 */
final class Im2col {
    private Im2col() {
    }

    /**
     * dst[dOff + i w + j] = src[off + (i + di) w + j + dj] over an h x w plane, zero where (i + di, j + dj) falls
     * outside it: one arraycopy and the zero borders.
     */
    static void shiftedPlane(float[] src, int off, float[] dst, int dOff, int h, int w, int di, int dj) {
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

    /** The geometry of a convolution's im2col; {@code same}: stride 1 with an output the size of the input. */
    record Layout(int c, int h, int w, int stride, int pad, int ho, int wo, int pImg, boolean same) {
    }

    /**
     * Tap (ch, ki, kj) of images [i0, i1) into row[rowOff + (img - i0) pImg + oi wo + oj]: for a "same" layout each
     * image's tap is the input plane shifted by (ki - pad, kj - pad) (one arraycopy), otherwise a gather.
     */
    static void tap(Layout g, float[] X, int xOff, int ch, int ki, int kj, int i0, int i1, float[] row,
                    int rowOff) {
        int hw = g.h() * g.w();
        if (g.same()) {
            for (int img = i0; img < i1; img++) {
                shiftedPlane(X, xOff + (img * g.c() + ch) * hw, row, rowOff + (img - i0) * g.pImg(), g.h(), g.w(),
                        ki - g.pad(), kj - g.pad());
            }
            return;
        }
        int s = g.stride(), h = g.h(), w = g.w(), wo = g.wo(), pad = g.pad();
        for (int img = i0; img < i1; img++) {
            int xo = xOff + (img * g.c() + ch) * hw, cOff = rowOff + (img - i0) * g.pImg();
            for (int oi = 0; oi < g.ho(); oi++) {
                int ii = oi * s - pad + ki, o = cOff + oi * wo;
                if (ii < 0 || ii >= h) {
                    Arrays.fill(row, o, o + wo, 0);
                    continue;
                }
                int xr = xo + ii * w;
                for (int oj = 0; oj < wo; oj++) {
                    int jj = oj * s - pad + kj;
                    row[o + oj] = jj >= 0 && jj < w ? X[xr + jj] : 0;
                }
            }
        }
    }

    /** The transpose of {@link #tap} (compact layout): GX[tap position] += row[column] for images [i0, i1). */
    static void scatterAdd(Layout g, float[] row, int ch, int ki, int kj, int i0, int i1, float[] GX, int gxOff) {
        int hw = g.h() * g.w(), s = g.stride(), h = g.h(), w = g.w(), wo = g.wo(), pad = g.pad();
        for (int img = i0; img < i1; img++) {
            int xo = gxOff + (img * g.c() + ch) * hw, cOff = (img - i0) * g.pImg();
            for (int oi = 0; oi < g.ho(); oi++) {
                int ii = oi * s - pad + ki;
                if (ii < 0 || ii >= h) {
                    continue;
                }
                int xr = xo + ii * w, o = cOff + oi * wo;
                for (int oj = 0; oj < wo; oj++) {
                    int jj = oj * s - pad + kj;
                    if (jj >= 0 && jj < w) {
                        GX[xr + jj] += row[o + oj];
                    }
                }
            }
        }
    }
}
