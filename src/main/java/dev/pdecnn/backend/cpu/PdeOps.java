package dev.pdecnn.backend.cpu;

import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.tensor.Tensor;

import java.util.Arrays;

import static dev.pdecnn.backend.cpu.RowKernels.WORK;
import static dev.pdecnn.backend.cpu.RowKernels.Work;
import static dev.pdecnn.backend.cpu.RowKernels.rows;
import static dev.pdecnn.backend.cpu.RowKernels.zero;

/**
 * The Global layer's PDE in the fast float32 backend: the K-step DuFort–Frankel recursion with periodic
 * boundaries (the equations are written out in {@link dev.pdecnn.backend.reference.ReferencePde}) and its adjoint,
 * on blocks of stacked planes in strips of rows, with the periodic neighbours as shifted row copies. Tensors are
 * read and written only by arraycopy of whole blocks, from and to their offsets.
 */
final class PdeOps {
    private PdeOps() {
    }

    // ---------------------------------------------------------------- periodic shifts of stacked planes

    /*
     * The PDE kernels work on blocks: nb consecutive (n, c) planes of h rows each, stacked into one array of
     * nb * h rows of w (small planes are stacked so that loops stay long), processed in strips of rows [i0, i1)
     * that keep the dozen or so active rows of a step in the L1 cache. Rows are periodic within each plane.
     */

    /** dst row i = src row i - 1 of the same plane (periodic), for rows i in [i0, i1). */
    static void rowsFromAbove(float[] src, float[] dst, int h, int w, int i0, int i1) {
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
    static void rowsFromBelow(float[] src, float[] dst, int h, int w, int i0, int i1) {
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
    static void colsFromLeft(float[] src, float[] dst, int w, int i0, int i1) {
        System.arraycopy(src, i0 * w, dst, i0 * w + 1, (i1 - i0) * w - 1);
        for (int i = i0; i < i1; i++) {
            dst[i * w] = src[i * w + w - 1];
        }
    }

    /** dst[i][j] = src[i][j+1], columns periodic, rows [i0, i1). */
    static void colsFromRight(float[] src, float[] dst, int w, int i0, int i1) {
        System.arraycopy(src, i0 * w + 1, dst, i0 * w, (i1 - i0) * w - 1);
        for (int i = i0; i < i1; i++) {
            dst[i * w + w - 1] = src[i * w];
        }
    }

    /** The four shifted copies (i-1, i+1, j-1, j+1) of rows [i0, i1) of x into sh[so .. so + 3]. */
    static void shifts(float[] x, float[][] sh, int so, int h, int w, int i0, int i1) {
        rowsFromAbove(x, sh[so], h, w, i0, i1);
        rowsFromBelow(x, sh[so + 1], h, w, i0, i1);
        colsFromLeft(x, sh[so + 2], w, i0, i1);
        colsFromRight(x, sh[so + 3], w, i0, i1);
    }

    // ---------------------------------------------------------------- Global layer (PDE)

    /** Elements per strip of rows (bounds the working set of a step; whole planes up to 32 x 32). */
    static final int PDE_STRIP = 1024;
    /** Small planes are stacked into blocks of about this many elements. */
    static final int PDE_BLOCK = 1024;

    // rows of the per-block PDE scratch
    static final int P_F = 0, P_H = 1, P_U = 2, P_V = 3, P_DX = 4, P_DY = 5, P_L = 6, P_E = 7, P_C0 = 8,
            P_C1 = 9, P_CXM = 10, P_CXP = 11, P_CYM = 12, P_CYP = 13, P_CF = 14, P_T0 = 15, P_A = 19, P_ROWS = 20;

    /** How the planes of a PDE call are grouped into blocks and strips. */
    static final class PdeGeom {
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
    static void pdeLoad(Arr in, int base, int len, float[][] r) {
        System.arraycopy(in.f, in.fo + base, r[P_F], 0, len);
        System.arraycopy(in.h, in.ho + base, r[P_H], 0, len);
        if (in.u != null) {
            System.arraycopy(in.u, in.uo + base, r[P_U], 0, len);
            System.arraycopy(in.v, in.vo + base, r[P_V], 0, len);
        } else {
            Arrays.fill(r[P_U], 0, len, 0);
            Arrays.fill(r[P_V], 0, len, 0);
        }
        if (in.dx != null) {
            System.arraycopy(in.dx, in.dxo + base, r[P_DX], 0, len);
            System.arraycopy(in.dy, in.dyo + base, r[P_DY], 0, len);
        }
    }

    /** The input arrays of a PDE call and their offsets (null arrays: zero velocity, constant diffusivity). */
    record Arr(float[] f, int fo, float[] h, int ho, float[] u, int uo, float[] v, int vo, float[] dx, int dxo,
               float[] dy, int dyo) {
        static Arr of(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY) {
            return new Arr(f.f32(), f.offset(), h.f32(), h.offset(), arr(u), off(u), arr(v), off(v), arr(dX),
                    off(dX), arr(dY), off(dY));
        }
    }

    static float[] arr(Tensor t) {
        return t == null ? null : t.f32();
    }

    static int off(Tensor t) {
        return t == null ? 0 : t.offset();
    }

    /**
     * Coefficients of the recursion H(k+1) = c0 H(k-1) + c1 H(k) + cxm H(k)[i-1] + cxp H(k)[i+1]
     * + cym H(k)[j-1] + cyp H(k)[j+1] + cf, with c0 = L M, c1 = -2 E L, cxm = L (2Bx - Ax), cxp = L (2Bx + Ax),
     * cym = L (2By - Ay), cyp = L (2By + Ay), cf = 2 dt L f (also keeps L and E), for rows [i0, i1).
     */
    static void pdeCoefficients(PdeSpec s, int h, int w, int i0, int i1, float[][] r, boolean constD,
                                        double dConst) {
        double dt = s.dt();
        float b2x = (float) (2 * dt / (s.dx() * s.dx())), b2y = (float) (2 * dt / (s.dy() * s.dy()));
        float ax = (float) (dt / s.dx()), ay = (float) (dt / s.dy());
        float ex = (float) (dt / (2 * s.dx())), ey = (float) (dt / (2 * s.dy())), dt2 = (float) (2 * dt);
        float[] f = r[P_F], u = r[P_U], v = r[P_V], dx = r[P_DX], dy = r[P_DY], l = r[P_L], e = r[P_E];
        float[] c0 = r[P_C0], c1 = r[P_C1], cxm = r[P_CXM], cxp = r[P_CXP], cym = r[P_CYM], cyp = r[P_CYP];
        float[] cf = r[P_CF], t0 = r[P_T0], t1 = r[P_T0 + 1], t2 = r[P_T0 + 2], t3 = r[P_T0 + 3];
        int lo = i0 * w, hi = i1 * w;
        if (constD) {
            double bx2 = 2 * dt / (s.dx() * s.dx()) * dConst, by2 = 2 * dt / (s.dy() * s.dy()) * dConst;
            double lc = 1 / (1 + bx2 + by2);
            Arrays.fill(l, lo, hi, (float) lc);
            Arrays.fill(c0, lo, hi, (float) (lc * (1 - bx2 - by2)));
            float lf = (float) (2 * dt * lc);
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
            float lc = l[lo], bxc = (float) (2 * dt / (s.dx() * s.dx()) * dConst);
            float byc = (float) (2 * dt / (s.dy() * s.dy()) * dConst);
            // one output per loop: C2 (JDK 17) leaves loops that only write two arrays scalar
            float bxl = lc * bxc, byl = lc * byc, axl = lc * ax, ayl = lc * ay;
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
    static void pdeStep(float[][] r, float[] prev, float[] cur, float[] next, float[][] sh, int so,
                                int h, int w, int i0, int i1) {
        float[] c0 = r[P_C0], c1 = r[P_C1], cxm = r[P_CXM], cxp = r[P_CXP], cym = r[P_CYM], cyp = r[P_CYP];
        float[] cf = r[P_CF], t0 = sh[so], t1 = sh[so + 1], t2 = sh[so + 2], t3 = sh[so + 3];
        shifts(cur, sh, so, h, w, i0, i1);
        int lo = i0 * w, hi = i1 * w;
        for (int q = lo; q < hi; q++) {
            next[q] = c0[q] * prev[q] + c1[q] * cur[q] + cf[q];
        }
        for (int q = lo; q < hi; q++) {
            float z = next[q], a = t0[q], b = t1[q];
            next[q] = z + cxm[q] * a + cxp[q] * b;
        }
        for (int q = lo; q < hi; q++) {
            float z = next[q], a = t2[q], b = t3[q];
            next[q] = z + cym[q] * a + cyp[q] * b;
        }
    }

    static void pdeForward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst,
                           PdeSpec s, Tensor out) {
        Arr in = Arr.of(f, h, u, v, dX, dY);
        float[] O = out.f32();
        int oo = out.offset();
        PdeGeom pg = new PdeGeom(f);
        int k = s.steps(), hh = pg.h, w = pg.w;
        Parallel.forTasks(pg.blocks, blk -> {
            int rowsN = pg.planesIn(blk) * hh, len = rowsN * w, base = blk * pg.nb * pg.hw;
            float[][] r = rows(WORK.get(), 4, P_ROWS, pg.nb * pg.hw);
            pdeLoad(in, base, len, r);
            for (int i0 = 0; i0 < rowsN; i0 += pg.strip) {
                pdeCoefficients(s, hh, w, i0, Math.min(rowsN, i0 + pg.strip), r, in.dx == null, dConst);
            }
            float[] a = r[P_F], b = r[P_H], c = r[P_A];
            for (int step = 0; step < k; step++) {
                for (int i0 = 0; i0 < rowsN; i0 += pg.strip) {
                    pdeStep(r, a, b, c, r, P_T0, hh, w, i0, Math.min(rowsN, i0 + pg.strip));
                }
                float[] t = a;
                a = b;
                b = c;
                c = t;
            }
            System.arraycopy(b, 0, O, oo + base, len);
        });
    }

    // rows of the per-block adjoint scratch
    static final int G_C0 = 0, G_C1 = 1, G_XM = 2, G_XP = 3, G_YM = 4, G_YP = 5, G_CF = 6, G_A = 7, G_B = 8,
            G_C = 9, G_CXM = 10, G_CXP = 11, G_CYM = 12, G_CYP = 13, G_L = 14, G_FO = 15, G_EO = 16, G_UO = 17,
            G_VO = 18, G_DXO = 19, G_DYO = 20, G_T = 21, G_ROWS = 25;

    /**
     * Adjoint of the recursion. Per block the K+2 states H(-1)..H(K) are recomputed from the inputs (nothing
     * is stored between forward and backward; the recomputation keeps each state's shifted copies for the
     * adjoint), then the adjoint G runs backwards: step k sends c0 G(k+1) to G(k-1) and the transposed stencil
     * of G(k+1) to G(k), and accumulates the seven coefficient gradients, which are finally chained to L, M, E,
     * A, B and so to u, v, Dx, Dy and f.
     */
    static void pdeBackward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst,
                            PdeSpec s, Tensor gOut, Tensor gf, Tensor gh, Tensor gu, Tensor gv, Tensor gDx,
                            Tensor gDy) {
        Arr in = Arr.of(f, h, u, v, dX, dY);
        float[] GO = gOut.f32();
        float[] GF = arr(gf), GH = arr(gh), GU = arr(gu), GV = arr(gv), GDX = arr(gDx), GDY = arr(gDy);
        int goo = gOut.offset(), gfo = off(gf), gho = off(gh), guo = off(gu), gvo = off(gv), gdxo = off(gDx);
        int gdyo = off(gDy);
        PdeGeom pg = new PdeGeom(f);
        int k = s.steps(), hh = pg.h, w = pg.w;
        boolean needD = GDX != null || GDY != null, velocity = GU != null || GV != null;
        Parallel.forTasks(pg.blocks, blk -> {
            Work wk = WORK.get();
            int rowsN = pg.planesIn(blk) * hh, len = rowsN * w, base = blk * pg.nb * pg.hw, cap = pg.nb * pg.hw;
            float[][] r = rows(wk, 4, P_ROWS, cap), st = rows(wk, 5, 5 * k + 2, cap), b = rows(wk, 6, G_ROWS, cap);
            pdeLoad(in, base, len, r);
            for (int i0 = 0; i0 < rowsN; i0 += pg.strip) {
                pdeCoefficients(s, hh, w, i0, Math.min(rowsN, i0 + pg.strip), r, in.dx == null, dConst);
            }
            System.arraycopy(r[P_F], 0, st[0], 0, len);
            System.arraycopy(r[P_H], 0, st[1], 0, len);
            for (int step = 0; step < k; step++) {
                for (int i0 = 0; i0 < rowsN; i0 += pg.strip) {
                    pdeStep(r, st[step], st[step + 1], st[step + 2], st, k + 2 + 4 * step, hh, w, i0,
                            Math.min(rowsN, i0 + pg.strip));
                }
            }
            float[] gh0 = pdeAdjoint(r, st, b, GO, goo + base, k, hh, w, rowsN, pg.strip, needD);
            pdeChain(s, r, b, hh, w, rowsN, pg.strip, velocity, needD);
            if (GF != null) {
                System.arraycopy(b[G_FO], 0, GF, gfo + base, len);
            }
            if (GH != null) {
                System.arraycopy(gh0, 0, GH, gho + base, len);
            }
            if (velocity) {
                System.arraycopy(b[G_UO], 0, GU, guo + base, len);
                System.arraycopy(b[G_VO], 0, GV, gvo + base, len);
            }
            if (needD) {
                System.arraycopy(b[G_DXO], 0, GDX, gdxo + base, len);
                System.arraycopy(b[G_DYO], 0, GDY, gdyo + base, len);
            }
        });
    }

    /**
     * Runs the adjoint from G(K) = gOut down to G(0), accumulating the coefficient gradients into
     * b[G_C0 .. G_CF]; returns G(0) and leaves G(-1) in b[G_FO] as a partial of the f gradient.
     */
    static float[] pdeAdjoint(float[][] r, float[][] st, float[][] b, float[] GO, int base, int k,
                                       int hh, int w, int rowsN, int strip, boolean needD) {
        int len = rowsN * w;
        float[] gc0 = b[G_C0], gc1 = b[G_C1], gxm = b[G_XM], gxp = b[G_XP], gym = b[G_YM], gyp = b[G_YP];
        float[] gcf = b[G_CF];
        zero(b, G_C0, 7, len);
        float[] gNext = b[G_A], gCur = b[G_B], gPrev = b[G_C];
        System.arraycopy(GO, base, gNext, 0, len);
        Arrays.fill(gCur, 0, len, 0);
        float[] c0 = r[P_C0], c1 = r[P_C1];
        float[] t0 = b[G_T], t1 = b[G_T + 1], t2 = b[G_T + 2], t3 = b[G_T + 3];
        // neighbour coefficients seen from the neighbour: cxm at i+1, cxp at i-1, cym at j+1, cyp at j-1
        float[] sxm = b[G_CXM], sxp = b[G_CXP], sym = b[G_CYM], syp = b[G_CYP];
        rowsFromBelow(r[P_CXM], sxm, hh, w, 0, rowsN);
        rowsFromAbove(r[P_CXP], sxp, hh, w, 0, rowsN);
        colsFromRight(r[P_CYM], sym, w, 0, rowsN);
        colsFromLeft(r[P_CYP], syp, w, 0, rowsN);
        for (int step = k - 1; step >= 0; step--) {
            // H(k) and its four shifted copies (i-1, i+1, j-1, j+1), kept from the forward recomputation
            float[] g = gNext, hk = st[step + 1], hkm = st[step];
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
            float[] t = gNext;
            gNext = gCur;
            gCur = gPrev;
            gPrev = t;
        }
        System.arraycopy(gCur, 0, b[G_FO], 0, len);
        return gNext;
    }

    /** a += g * x, c += g. */
    static void accumulate1(float[] a, float[] c, float[] g, float[] x, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            float a0 = a[q], c0 = c[q], gq = g[q];
            a[q] = a0 + gq * x[q];
            c[q] = c0 + gq;
        }
    }

    /** a += g * (x - y). */
    static void accumulateDifference(float[] a, float[] g, float[] x, float[] y, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            a[q] = a[q] + g[q] * (x[q] - y[q]);
        }
    }

    /** a += g * x, b += g * y, c += g. */
    static void accumulate3(float[] a, float[] b, float[] c, float[] g, float[] x, float[] y, int lo,
                                    int hi) {
        for (int q = lo; q < hi; q++) {
            float a0 = a[q], b0 = b[q], c0 = c[q], gq = g[q];
            a[q] = a0 + gq * x[q];
            b[q] = b0 + gq * y[q];
            c[q] = c0 + gq;
        }
    }

    /** a += g * x, b += g * y. */
    static void accumulate2(float[] a, float[] b, float[] g, float[] x, float[] y, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            float a0 = a[q], b0 = b[q], gq = g[q];
            a[q] = a0 + gq * x[q];
            b[q] = b0 + gq * y[q];
        }
    }

    static void product(float[] dst, float[] a, float[] b, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            dst[q] = a[q] * b[q];
        }
    }

    /** z += a * b + c * d + e * f. */
    static void addProducts3(float[] z, float[] a, float[] b, float[] c, float[] d, float[] e,
                                     float[] f, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            float z0 = z[q], bq = b[q], dq = d[q], fq = f[q];
            z[q] = z0 + a[q] * bq + c[q] * dq + e[q] * fq;
        }
    }

    /** z += a * b + c * d. */
    static void addProducts2(float[] z, float[] a, float[] b, float[] c, float[] d, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            float z0 = z[q], bq = b[q], dq = d[q];
            z[q] = z0 + a[q] * bq + c[q] * dq;
        }
    }

    /**
     * Chains the coefficient gradients to the inputs: b[G_FO] (f; holds G(-1) on entry), b[G_UO], b[G_VO]
     * (velocity, through A and E), b[G_DXO], b[G_DYO] (diffusivity, through L, M and B).
     */
    static void pdeChain(PdeSpec s, float[][] r, float[][] b, int hh, int w, int rowsN, int strip,
                                 boolean velocity, boolean needD) {
        double dt = s.dt();
        float b2x = (float) (2 * dt / (s.dx() * s.dx())), b2y = (float) (2 * dt / (s.dy() * s.dy()));
        float bx = (float) (dt / (s.dx() * s.dx())), by = (float) (dt / (s.dy() * s.dy()));
        float ax = (float) (dt / s.dx()), ay = (float) (dt / s.dy()), dt2 = (float) (2 * dt);
        float ex = (float) (dt / (2 * s.dx())), ey = (float) (dt / (2 * s.dy()));
        float[] gc0 = b[G_C0], gc1 = b[G_C1], gxm = b[G_XM], gxp = b[G_XP], gym = b[G_YM], gyp = b[G_YP];
        float[] gcf = b[G_CF];
        float[] l = r[P_L], e = r[P_E], fv = r[P_F], uv = r[P_U], vv = r[P_V], dxv = r[P_DX], dyv = r[P_DY];
        float[] gl = b[G_L], fo = b[G_FO], eo = b[G_EO], uo = b[G_UO], vo = b[G_VO], dxo = b[G_DXO], dyo = b[G_DYO];
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
            float[] t0 = b[G_T], t1 = b[G_T + 1], t2 = b[G_T + 2], t3 = b[G_T + 3];
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

    static void lGradientX(float[] gl, float[] gm, float[] gp, float[] d, float[] u, float b2,
                                   float a, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            float bq = b2 * d[q], aq = a * u[q];
            gl[q] = gm[q] * (bq - aq) + gp[q] * (bq + aq);
        }
    }

    static void lGradientY(float[] gl, float[] gm, float[] gp, float[] d, float[] v, float b2,
                                   float a, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            float z = gl[q], bq = b2 * d[q], aq = a * v[q];
            gl[q] = z + gm[q] * (bq - aq) + gp[q] * (bq + aq);
        }
    }

    static void lGradientRest(float[] gl, float[] gc0, float[] dx, float[] dy, float[] gcf, float[] f,
                                      float[] gc1, float[] e, float b2x, float b2y,
                                      float dt2, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            gl[q] = gl[q] + gc0[q] * (1 - b2x * dx[q] - b2y * dy[q]);
        }
        for (int q = lo; q < hi; q++) {
            gl[q] = gl[q] + dt2 * gcf[q] * f[q] - 2 * gc1[q] * e[q];
        }
    }

    static void velocityGradient(float[] uo, float[] vo, float[] l, float[] gxm, float[] gxp,
                                         float[] gym, float[] gyp, float ax, float ay, int lo,
                                         int hi) {
        for (int q = lo; q < hi; q++) {
            uo[q] = ax * l[q] * (gxp[q] - gxm[q]);
        }
        for (int q = lo; q < hi; q++) {
            vo[q] = ay * l[q] * (gyp[q] - gym[q]);
        }
    }

    static void diffusivityGradient(float[] dxo, float[] dyo, float[] l, float[] z, float[] gxm,
                                            float[] gxp, float[] gym, float[] gyp, float bx,
                                            float by, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            dxo[q] = bx * (2 * l[q] * (gxm[q] + gxp[q]) + z[q]);
        }
        for (int q = lo; q < hi; q++) {
            dyo[q] = by * (2 * l[q] * (gym[q] + gyp[q]) + z[q]);
        }
    }

    /** z += c * (a - b). */
    static void addScaledDifference(float[] z, float[] a, float[] b, float c, int lo, int hi) {
        for (int q = lo; q < hi; q++) {
            z[q] = z[q] + c * (a[q] - b[q]);
        }
    }
}
