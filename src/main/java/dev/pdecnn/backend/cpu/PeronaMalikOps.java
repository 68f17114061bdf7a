package dev.pdecnn.backend.cpu;

import dev.pdecnn.tensor.Tensor;

import java.util.Arrays;

import static dev.pdecnn.backend.cpu.RowKernels.WORK;
import static dev.pdecnn.backend.cpu.RowKernels.rows;

/**
 * Perona–Malik diffusivity of the fast float32 backend: separable Sobel derivatives with reflect padding on
 * shifted row copies, per plane; tensors are read and written from their offsets.
 */
final class PeronaMalikOps {
    private PeronaMalikOps() {
    }

    /** dst[i] = src[reflect(i+1)] (rows). */
    static void rowsReflectBelow(float[] src, float[] dst, int h, int w) {
        System.arraycopy(src, w, dst, 0, (h - 1) * w);
        System.arraycopy(src, (h - 2) * w, dst, (h - 1) * w, w);
    }

    /** dst[i] = src[reflect(i-1)] (rows). */
    static void rowsReflectAbove(float[] src, float[] dst, int h, int w) {
        System.arraycopy(src, 0, dst, w, (h - 1) * w);
        System.arraycopy(src, w, dst, 0, w);
    }

    /** dst[i][j] = src[i][reflect(j-1)]. */
    static void colsReflectLeft(float[] src, float[] dst, int h, int w) {
        System.arraycopy(src, 0, dst, 1, h * w - 1);
        for (int i = 0; i < h; i++) {
            dst[i * w] = src[i * w + 1];
        }
    }

    /** dst[i][j] = src[i][reflect(j+1)]. */
    static void colsReflectRight(float[] src, float[] dst, int h, int w) {
        System.arraycopy(src, 1, dst, 0, h * w - 1);
        for (int i = 0; i < h; i++) {
            dst[i * w + w - 1] = src[i * w + w - 2];
        }
    }

    /** Adjoint of {@link #rowsReflectBelow}: dst[r] = sum of g[i] over the i with reflect(i+1) = r. */
    static void rowsReflectBelowT(float[] g, float[] dst, int h, int w) {
        System.arraycopy(g, 0, dst, w, (h - 1) * w);
        Arrays.fill(dst, 0, w, 0);
        for (int j = 0; j < w; j++) {
            dst[(h - 2) * w + j] += g[(h - 1) * w + j];
        }
    }

    /** Adjoint of {@link #rowsReflectAbove}. */
    static void rowsReflectAboveT(float[] g, float[] dst, int h, int w) {
        System.arraycopy(g, w, dst, 0, (h - 1) * w);
        Arrays.fill(dst, (h - 1) * w, h * w, 0);
        for (int j = 0; j < w; j++) {
            dst[w + j] += g[j];
        }
    }

    /** Adjoint of {@link #colsReflectLeft}. */
    static void colsReflectLeftT(float[] g, float[] dst, int h, int w) {
        System.arraycopy(g, 1, dst, 0, h * w - 1);
        for (int i = 0; i < h; i++) {
            dst[i * w + w - 1] = 0;
            dst[i * w + 1] += g[i * w];
        }
    }

    /** Adjoint of {@link #colsReflectRight}. */
    static void colsReflectRightT(float[] g, float[] dst, int h, int w) {
        System.arraycopy(g, 0, dst, 1, h * w - 1);
        for (int i = 0; i < h; i++) {
            dst[i * w] = 0;
            dst[i * w + w - 2] += g[i * w + w - 1];
        }
    }

    // rows of the Perona–Malik scratch
    static final int M_H = 0, M_A = 1, M_B = 2, M_D = 3, M_SX = 4, M_SY = 5, M_GX = 6, M_GY = 7, M_ACC = 8,
            M_ROWS = 9;

    /**
     * The Sobel derivatives of one plane, separably: sx = smooth_j(diff_i h), sy = smooth_i(diff_j h), with
     * reflect padding, into r[M_SX] and r[M_SY].
     */
    static void sobel(float[][] r, int h, int w, int hw) {
        float[] x = r[M_H], a = r[M_A], b = r[M_B], d = r[M_D], sx = r[M_SX], sy = r[M_SY];
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

    static void peronaMalik(Tensor h, double lambda, Tensor dX, Tensor dY) {
        float[] HH = h.f32(), DX = dX.f32(), DY = dY.f32();
        int ho = h.offset(), dxo = dX.offset(), dyo = dY.offset();
        int planes = h.dim(0) * h.dim(1), hh = h.dim(2), w = h.dim(3), hw = hh * w;
        checkReflect(hh, w);
        float inv2 = (float) (1.0 / (lambda * lambda));
        Parallel.forEach(planes, p -> {
            float[][] r = rows(WORK.get(), 7, M_ROWS, hw);
            System.arraycopy(HH, ho + p * hw, r[M_H], 0, hw);
            sobel(r, hh, w, hw);
            float[] sx = r[M_SX], sy = r[M_SY];
            for (int q = 0; q < hw; q++) {
                sx[q] = 1 / (1 + sx[q] * sx[q] * inv2);
            }
            for (int q = 0; q < hw; q++) {
                sy[q] = 1 / (1 + sy[q] * sy[q] * inv2);
            }
            System.arraycopy(sx, 0, DX, dxo + p * hw, hw);
            System.arraycopy(sy, 0, DY, dyo + p * hw, hw);
        });
    }

    static void peronaMalikBackward(Tensor h, double lambda, Tensor gDx, Tensor gDy, Tensor gh) {
        float[] HH = h.f32(), GDX = gDx.f32(), GDY = gDy.f32(), GH = gh.f32();
        int ho = h.offset(), gdxo = gDx.offset(), gdyo = gDy.offset(), gho = gh.offset();
        int planes = h.dim(0) * h.dim(1), hh = h.dim(2), w = h.dim(3), hw = hh * w;
        checkReflect(hh, w);
        float inv2 = (float) (1.0 / (lambda * lambda));
        Parallel.forEach(planes, p -> {
            float[][] r = rows(WORK.get(), 7, M_ROWS, hw);
            int base = p * hw;
            System.arraycopy(HH, ho + base, r[M_H], 0, hw);
            sobel(r, hh, w, hw);
            float[] sx = r[M_SX], sy = r[M_SY], gsx = r[M_GX], gsy = r[M_GY], a = r[M_A], b = r[M_B];
            float[] d = r[M_D], acc = r[M_ACC];
            System.arraycopy(GDX, gdxo + base, gsx, 0, hw);
            System.arraycopy(GDY, gdyo + base, gsy, 0, hw);
            // d/dS of 1/(1 + S^2/l^2) = -2 S / l^2 * D^2
            for (int q = 0; q < hw; q++) {
                float sq = sx[q], dd = 1 / (1 + sq * sq * inv2);
                gsx[q] = gsx[q] * (-2 * sq * inv2 * dd * dd);
            }
            for (int q = 0; q < hw; q++) {
                float sq = sy[q], dd = 1 / (1 + sq * sq * inv2);
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
                GH[gho + base + q] += acc[q];
            }
        });
    }

    static void checkReflect(int h, int w) {
        if (h < 2 || w < 2) {
            throw new IllegalArgumentException("Perona-Malik needs maps of at least 2x2 for reflect padding, got "
                    + h + "x" + w);
        }
    }
}
