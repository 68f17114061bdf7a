package dev.pdecnn.backend.cpu;

import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.tensor.Tensor;

import java.util.Arrays;

import static dev.pdecnn.backend.cpu.Im2col.shiftedPlane;
import static dev.pdecnn.backend.cpu.RowKernels.WORK;
import static dev.pdecnn.backend.cpu.RowKernels.Work;
import static dev.pdecnn.backend.cpu.RowKernels.ew1;
import static dev.pdecnn.backend.cpu.RowKernels.ew3;
import static dev.pdecnn.backend.cpu.RowKernels.flat;
import static dev.pdecnn.backend.cpu.RowKernels.gemm;
import static dev.pdecnn.backend.cpu.RowKernels.groupStart;
import static dev.pdecnn.backend.cpu.RowKernels.rows;
import static dev.pdecnn.backend.cpu.RowKernels.sum;
import static dev.pdecnn.backend.cpu.RowKernels.zero;

/**
 * Convolutions of the fast float32 backend: cross-correlation with groups, stride and zero padding (forward, input
 * gradient written, weight gradient accumulated), as GEMMs on rows ({@link RowKernels#gemm}) over tiles of whole
 * images, or OpenBLAS sgemm calls ({@link BlasConv}) for one-group convolutions when available; the depthwise 3x3
 * convolution of the Global layer has its own plane kernels. Every array is indexed from its tensor's offset.
 */
final class ConvOps {
    private ConvOps() {
    }

    /** Output columns (pixels of one or more images) per conv tile. */
    static final int TILE_COLS = 2048;
    /** Upper bound of an im2col tile, in elements. */
    static final int TILE_ELEMS = 1 << 18;
    /** Weight gradients are summed per group of images; the number of groups is fixed (not the thread count). */
    static final int GRAD_GROUPS = 8;
    /** Weight gradients use transposed rows (vector axis = the kernel's inputs) from this many inputs up. */
    static final int TRANSPOSED_MIN_K = 32;

    /**
     * A convolution in row form. A stride-1 convolution whose output has the input's size (3x3 with padding 1,
     * 1x1, 5x5 with padding 2: "same") takes tap (ki, kj) as the whole input plane shifted by (ki - pad, kj -
     * pad) with zero fill: one arraycopy per tap. Other stride-1 convolutions use the "wide" layout: the input
     * plane zero-padded to wp = w + 2 pad columns, and every output row computed over all wp columns (the last
     * wp - wo are junk and dropped), so the tap is the padded plane shifted by ki * wp + kj. Other strides
     * gather a compact im2col (as do all when {@code shiftLayouts} is false). A tile is a run of whole images
     * side by side in the rows.
     */
    static final class Geom {
        final int n, c, h, w, co, kh, kw, stride, pad, groups, cg, cog, kk, kg, ho, wo, hp, wp, pImg;
        /** Stride 1 with an output the size of the input: every tap is the input plane shifted, zero-filled. */
        final boolean same;
        /** Other stride-1 convolutions: rows over the zero-padded width. */
        final boolean wide;
        /** The im2col geometry of the same and compact layouts. */
        final Im2col.Layout cols;

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
            cols = new Im2col.Layout(c, h, w, stride, pad, ho, wo, pImg, same);
        }

        /** Images per tile: about TILE_COLS columns, at most TILE_ELEMS im2col elements, at least one. */
        int tileImages() {
            int byCols = TILE_COLS / pImg, byElems = TILE_ELEMS / Math.max(1, kg * pImg);
            return Math.max(1, Math.min(n, Math.min(byCols, byElems)));
        }
    }

    /** Zero-padded copy of the h x w plane at X[off] into xp: hp + 1 rows of wp (the extra last row is zero). */
    static void padPlane(float[] X, int off, int h, int w, int pad, int hp, int wp, float[] xp) {
        Arrays.fill(xp, 0, pad * wp + pad, 0);
        for (int i = 0; i < h; i++) {
            int r = (pad + i) * wp + pad;
            System.arraycopy(X, off + i * w, xp, r, w);
            Arrays.fill(xp, r + w, r + w + 2 * pad, 0);
        }
        Arrays.fill(xp, (pad + h) * wp + pad, (hp + 1) * wp, 0);
    }

    /**
     * im2col of group gi for images [i0, i1) into rows col[cl * kk + ki * kw + kj], image b at column b * pImg;
     * X's planes start at xOff.
     */
    static void im2rows(float[] X, int xOff, Geom g, int i0, int i1, int gi, float[][] col, Work wk) {
        int hw = g.h * g.w;
        if (g.same) {
            for (int img = i0; img < i1; img++) {
                int cOff = (img - i0) * g.pImg;
                for (int cl = 0; cl < g.cg; cl++) {
                    for (int ki = 0; ki < g.kh; ki++) {
                        for (int kj = 0; kj < g.kw; kj++) {
                            Im2col.tap(g.cols, X, xOff, gi * g.cg + cl, ki, kj, img, img + 1,
                                    col[cl * g.kk + ki * g.kw + kj], cOff);
                        }
                    }
                }
            }
            return;
        }
        if (g.wide) {
            float[] xp = flat(wk, 0, (g.hp + 1) * g.wp);
            for (int img = i0; img < i1; img++) {
                int cOff = (img - i0) * g.pImg;
                for (int cl = 0; cl < g.cg; cl++) {
                    padPlane(X, xOff + (img * g.c + gi * g.cg + cl) * hw, g.h, g.w, g.pad, g.hp, g.wp, xp);
                    for (int ki = 0; ki < g.kh; ki++) {
                        for (int kj = 0; kj < g.kw; kj++) {
                            System.arraycopy(xp, ki * g.wp + kj, col[cl * g.kk + ki * g.kw + kj], cOff, g.pImg);
                        }
                    }
                }
            }
            return;
        }
        for (int cl = 0; cl < g.cg; cl++) {
            for (int ki = 0; ki < g.kh; ki++) {
                for (int kj = 0; kj < g.kw; kj++) {
                    Im2col.tap(g.cols, X, xOff, gi * g.cg + cl, ki, kj, i0, i1, col[cl * g.kk + ki * g.kw + kj], 0);
                }
            }
        }
    }

    /** Scatter-adds im2col rows of group gi back onto the input gradient (compact layout only). */
    static void rows2imAdd(float[][] col, Geom g, int i0, int i1, int gi, float[] GX, int gxOff) {
        for (int cl = 0; cl < g.cg; cl++) {
            for (int ki = 0; ki < g.kh; ki++) {
                for (int kj = 0; kj < g.kw; kj++) {
                    Im2col.scatterAdd(g.cols, col[cl * g.kk + ki * g.kw + kj], gi * g.cg + cl, ki, kj, i0, i1, GX,
                            gxOff);
                }
            }
        }
    }

    /** Writes output rows (channels oBase .. oBase + nOut - 1) of images [i0, i1) into the NCHW tensor Y. */
    static void rowsOut(float[][] out, Geom g, int i0, int i1, int oBase, int nOut, float[] Y, int yOff) {
        int ohw = g.ho * g.wo;
        for (int img = i0; img < i1; img++) {
            int cOff = (img - i0) * g.pImg;
            for (int o = 0; o < nOut; o++) {
                int yo = yOff + (img * g.co + oBase + o) * ohw;
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
    static void rowsIn(float[] GY, int gyOff, Geom g, int i0, int i1, int oBase, int nOut, float[][] dst) {
        int ohw = g.ho * g.wo;
        for (int img = i0; img < i1; img++) {
            int cOff = (img - i0) * g.pImg;
            for (int o = 0; o < nOut; o++) {
                int src = gyOff + (img * g.co + oBase + o) * ohw;
                float[] r = dst[o];
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
    static boolean depthwise3x3(Geom g) {
        return g.groups == g.c && g.co == g.c && g.kh == 3 && g.kw == 3 && g.same;
    }

    /**
     * Depthwise 3x3 forward per plane: with x and its copies shifted by one column either way, z_ki =
     * sum_kj w[ki][kj] x[., . + kj - 1] is one three-row kernel, and out = z_0[. - 1 row] + z_1 + z_2[. + 1 row].
     */
    static void depthwiseForward(float[] X, int xOff, float[] Wt, int wOff, float[] Y, int yOff, Geom g) {
        int planes = g.n * g.c, hw = g.h * g.w;
        Parallel.forChunks(planes, (k, lo, hi) -> {
            // rows 0-2: x shifted one column right, x, x shifted left; rows 3-5: z; row 6: out
            float[][] r = rows(WORK.get(), 9, 7, hw);
            float[] xl = r[0], x0 = r[1], xr = r[2], z0 = r[3], z1 = r[4], z2 = r[5], o = r[6];
            for (int pl = lo; pl < hi; pl++) {
                System.arraycopy(X, xOff + pl * hw, x0, 0, hw);
                shiftedPlane(X, xOff + pl * hw, xl, 0, g.h, g.w, 0, -1);
                shiftedPlane(X, xOff + pl * hw, xr, 0, g.h, g.w, 0, 1);
                gemm(r, 3, 3, Wt, wOff + (pl % g.c) * 9, 3, 1, r, 0, 3, 0, hw, false);
                shiftedPlane(z0, 0, xl, 0, g.h, g.w, -1, 0);
                shiftedPlane(z2, 0, xr, 0, g.h, g.w, 1, 0);
                for (int q = 0; q < hw; q++) {
                    o[q] = xl[q] + z1[q] + xr[q];
                }
                System.arraycopy(o, 0, Y, yOff + pl * hw, hw);
            }
        });
    }

    /**
     * Depthwise 3x3 weight gradient: gw[ki][kj] = sum gy[i][j] x[i + ki - 1][j + kj - 1] = sum G_ki * xs_kj, with
     * G_ki = gy shifted by 1 - ki rows and xs_kj = x shifted by kj - 1 columns (zero fill); the nine products
     * accumulate element-wise over a fixed image group, then each row is summed once. Tasks are (channel,
     * image group); returns one partial per image group.
     */
    static float[][] depthwiseWeightGrad(float[] X, int xOff, float[] GY, int gyOff, Geom g) {
        int groups = Math.min(g.n, GRAD_GROUPS), hw = g.h * g.w;
        float[][] parts = new float[groups][g.c * 9];
        Parallel.forTasks(g.c * groups, t -> {
            int ch = t / groups, gr = t % groups;
            float[][] r = rows(WORK.get(), 9, 15, hw);
            float[] x0 = r[0], xl = r[1], xr = r[2], g0 = r[3], g1 = r[4], g2 = r[5];
            zero(r, 6, 9, hw);
            for (int img = groupStart(g.n, gr, groups); img < groupStart(g.n, gr + 1, groups); img++) {
                int pl = (img * g.c + ch) * hw, xp = xOff + pl, gp = gyOff + pl;
                System.arraycopy(X, xp, x0, 0, hw);
                shiftedPlane(X, xp, xl, 0, g.h, g.w, 0, -1);
                shiftedPlane(X, xp, xr, 0, g.h, g.w, 0, 1);
                shiftedPlane(GY, gp, g0, 0, g.h, g.w, 1, 0);
                System.arraycopy(GY, gp, g1, 0, hw);
                shiftedPlane(GY, gp, g2, 0, g.h, g.w, -1, 0);
                ew3(g0, xl, x0, xr, r[6], r[7], r[8], 0, hw);
                ew3(g1, xl, x0, xr, r[9], r[10], r[11], 0, hw);
                ew3(g2, xl, x0, xr, r[12], r[13], r[14], 0, hw);
            }
            for (int e = 0; e < 9; e++) {
                parts[gr][ch * 9 + e] = (float) sum(r[6 + e], 0, hw);
            }
        });
        return parts;
    }

    /** Y = conv(X, Wm) for the geometry g (Wm laid out [co][cg][kh][kw]), tiles of images in parallel. */
    static void convRows(float[] X, int xOff, float[] Wm, int wOff, float[] Y, int yOff, Geom g) {
        if (depthwise3x3(g)) {
            depthwiseForward(X, xOff, Wm, wOff, Y, yOff, g);
            return;
        }
        if (g.groups == 1 && BlasConv.forward(X, xOff, Wm, wOff, Y, yOff, g.n, g.c, g.h, g.w, g.co, g.kh, g.kw,
                g.stride, g.pad)) {
            return; // with OpenBLAS
        }
        int nb = g.tileImages(), tiles = (g.n + nb - 1) / nb;
        Parallel.forTasks(tiles, t -> {
            Work wk = WORK.get();
            int i0 = t * nb, i1 = Math.min(g.n, i0 + nb), cols = (i1 - i0) * g.pImg;
            float[][] col = rows(wk, 0, g.kg, cols), out = rows(wk, 1, g.cog, cols);
            for (int gi = 0; gi < g.groups; gi++) {
                im2rows(X, xOff, g, i0, i1, gi, col, wk);
                gemm(out, 0, g.cog, Wm, wOff + gi * g.cog * g.kg, g.kg, 1, col, 0, g.kg, 0, cols, false);
                rowsOut(out, g, i0, i1, gi * g.cog, g.cog, Y, yOff);
            }
        });
    }

    static Geom geom(Tensor x, Tensor w, ConvSpec s, boolean shiftLayouts) {
        return new Geom(x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(2), w.dim(3), s.stride(), s.pad(),
                s.groups(), shiftLayouts);
    }

    static void conv2dForward(Tensor x, Tensor w, Tensor y, ConvSpec s) {
        Geom g = geom(x, w, s, true);
        checkConv(x, w, y, s, g.ho, g.wo);
        if (ConvPath.of(g) == ConvPath.ONEDNN) {
            OneDnnConv.forward(x.f32(), x.offset(), w.f32(), w.offset(), y.f32(), y.offset(), OneDnnConv.Shape.of(g));
            return;
        }
        convRows(x.f32(), x.offset(), w.f32(), w.offset(), y.f32(), y.offset(), g);
    }

    /** Which kernels run this convolution: onednn or builtin ({@link ConvPath}). */
    static String path(Tensor x, Tensor w, ConvSpec s) {
        return ConvPath.of(geom(x, w, s, true)).label();
    }

    static void conv2dBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, ConvSpec s) {
        float[] X = x.f32(), Wt = w.f32(), GY = gy.f32();
        int xOff = x.offset(), wOff = w.offset(), gyOff = gy.offset();
        Geom g = geom(x, w, s, true);
        checkConv(x, w, gy, s, g.ho, g.wo);
        if (ConvPath.of(g) == ConvPath.ONEDNN) {
            OneDnnConv.backward(X, xOff, Wt, wOff, GY, gyOff, gx == null ? null : gx.f32(), gx == null ? 0 : gx.offset(),
                    gw == null ? null : gw.f32(), gw == null ? 0 : gw.offset(), OneDnnConv.Shape.of(g));
            return;
        }
        if (gx != null) {
            float[] GX = gx.f32();
            int gxOff = gx.offset();
            if (g.stride == 1 && g.kh == g.kw && g.pad <= g.kh - 1) {
                // the input gradient of a stride-1 conv is the full correlation of gy with the flipped,
                // transposed kernel: itself a stride-1 conv with padding k - 1 - pad
                convRows(GY, gyOff, flipTranspose(Wt, wOff, g), 0, GX, gxOff,
                        new Geom(g.n, g.co, g.ho, g.wo, g.c, g.kh, g.kw, 1, g.kh - 1 - g.pad, g.groups, true));
            } else {
                backwardDataCols(GY, gyOff, Wt, wOff, GX, gxOff, geom(x, w, s, false));
            }
        }
        if (gw != null) {
            float[][] parts = g.groups == 1 ? BlasConv.weightGrad(X, xOff, GY, gyOff, g.n, g.c, g.h, g.w, g.co, g.kh,
                    g.kw, g.stride, g.pad) : null; // with OpenBLAS, else null
            if (parts == null) {
                parts = depthwise3x3(g) ? depthwiseWeightGrad(X, xOff, GY, gyOff, g)
                        : g.kg >= TRANSPOSED_MIN_K ? weightGradT(X, xOff, GY, gyOff, geom(x, w, s, false))
                        : weightGradE(X, xOff, GY, gyOff, g);
            }
            float[] GW = gw.f32();
            int gwOff = gw.offset();
            for (int i = 0, n = gw.size(); i < n; i++) {
                double acc = 0;
                for (float[] part : parts) {
                    acc += part[i];
                }
                GW[gwOff + i] += (float) acc;
            }
        }
    }

    /** Wf[ci][co_in_group][kh-1-ki][kw-1-kj] = W[co][ci_in_group][ki][kj]. */
    static float[] flipTranspose(float[] Wt, int wOff, Geom g) {
        float[] wf = new float[g.co * g.kg];
        for (int gi = 0; gi < g.groups; gi++) {
            for (int ol = 0; ol < g.cog; ol++) {
                for (int cl = 0; cl < g.cg; cl++) {
                    int src = ((gi * g.cog + ol) * g.cg + cl) * g.kk, dst = ((gi * g.cg + cl) * g.cog + ol) * g.kk;
                    for (int t = 0; t < g.kk; t++) {
                        wf[dst + g.kk - 1 - t] = Wt[wOff + src + t];
                    }
                }
            }
        }
        return wf;
    }

    /** gx by GEMM into im2col-shaped rows (W^T gy) and a scatter-add (strided convolutions). */
    static void backwardDataCols(float[] GY, int gyOff, float[] Wt, int wOff, float[] GX, int gxOff, Geom g) {
        if (g.groups == 1 && BlasConv.backwardData(GY, gyOff, Wt, wOff, GX, gxOff, g.n, g.c, g.h, g.w, g.co, g.kh,
                g.kw, g.stride, g.pad)) {
            return; // with OpenBLAS
        }
        int nb = g.tileImages(), tiles = (g.n + nb - 1) / nb, chw = g.c * g.h * g.w;
        Parallel.forTasks(tiles, t -> {
            Work wk = WORK.get();
            int i0 = t * nb, i1 = Math.min(g.n, i0 + nb), cols = (i1 - i0) * g.pImg;
            Arrays.fill(GX, gxOff + i0 * chw, gxOff + i1 * chw, 0);
            float[][] dcol = rows(wk, 0, g.kg, cols), gyr = rows(wk, 1, g.cog, cols);
            for (int gi = 0; gi < g.groups; gi++) {
                rowsIn(GY, gyOff, g, i0, i1, gi * g.cog, g.cog, gyr);
                gemm(dcol, 0, g.kg, Wt, wOff + gi * g.cog * g.kg, 1, g.kg, gyr, 0, g.cog, 0, cols, false);
                rows2imAdd(dcol, g, i0, i1, gi, GX, gxOff);
            }
        });
    }

    /**
     * Weight gradient with the kernel's inputs as the vector axis: per output pixel p a row
     * colT[p] = the (ki, kj, ci) patch, copied from a zero-padded channels-last image; then
     * gw[co][.] += gy[co][p] * colT[p] as a GEMM on rows. Returns one partial per fixed image group.
     */
    static float[][] weightGradT(float[] X, int xOff, float[] GY, int gyOff, Geom g) {
        int groups = Math.min(g.n, GRAD_GROUPS), P = g.ho * g.wo;
        float[][] parts = new float[groups][];
        Parallel.forTasks(groups, r -> {
            Work wk = WORK.get();
            int kv = (g.kg + 15) & ~15; // rows padded to whole vectors (the tail columns are ignored)
            float[][] acc = rows(wk, 2, g.co, kv), colT = rows(wk, 3, P, kv);
            zero(acc, 0, g.co, kv);
            float[] xt = flat(wk, 1, g.hp * g.wp * g.c);
            for (int img = groupStart(g.n, r, groups); img < groupStart(g.n, r + 1, groups); img++) {
                padChannelsLast(X, xOff, img, g, xt);
                for (int gi = 0; gi < g.groups; gi++) {
                    for (int oi = 0; oi < g.ho; oi++) {
                        for (int oj = 0; oj < g.wo; oj++) {
                            float[] row = colT[oi * g.wo + oj];
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
                    gemm(acc, gi * g.cog, g.cog, GY, gyOff + (img * g.co + gi * g.cog) * P, P, 1, colT, 0, P, 0, kv,
                            true);
                }
            }
            float[] part = new float[g.co * g.kg];
            for (int o = 0; o < g.co; o++) {
                float[] a = acc[o];
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
    static void padChannelsLast(float[] X, int xOff, int img, Geom g, float[] xt) {
        int rowLen = g.wp * g.c, hw = g.h * g.w;
        Arrays.fill(xt, 0, g.pad * rowLen, 0);
        Arrays.fill(xt, (g.pad + g.h) * rowLen, g.hp * rowLen, 0);
        for (int i = 0; i < g.h; i++) {
            int r = (i + g.pad) * rowLen;
            Arrays.fill(xt, r, r + g.pad * g.c, 0);
            Arrays.fill(xt, r + (g.pad + g.w) * g.c, r + rowLen, 0);
        }
        for (int ch = 0; ch < g.c; ch++) {
            int xo = xOff + (img * g.c + ch) * hw;
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
    static float[][] weightGradE(float[] X, int xOff, float[] GY, int gyOff, Geom g) {
        int groups = Math.min(g.n, GRAD_GROUPS);
        float[][] parts = new float[groups][];
        Parallel.forTasks(groups, r -> {
            Work wk = WORK.get();
            int cols = g.pImg;
            float[][] col = rows(wk, 0, g.kg, cols), gyr = rows(wk, 1, g.cog, cols);
            float[][] acc = rows(wk, 2, g.cog * g.kg, cols);
            float[] part = new float[g.co * g.kg];
            for (int gi = 0; gi < g.groups; gi++) {
                zero(acc, 0, g.cog * g.kg, cols);
                for (int img = groupStart(g.n, r, groups); img < groupStart(g.n, r + 1, groups); img++) {
                    im2rows(X, xOff, g, img, img + 1, gi, col, wk);
                    rowsIn(GY, gyOff, g, img, img + 1, gi * g.cog, g.cog, gyr);
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
                    part[gi * g.cog * g.kg + e] = (float) sum(acc[e], 0, cols);
                }
            }
            parts[r] = part;
        });
        return parts;
    }

    static void checkConv(Tensor x, Tensor w, Tensor y, ConvSpec s, int ho, int wo) {
        int g = s.groups();
        if (x.rank() != 4 || w.rank() != 4 || y.rank() != 4 || x.dim(1) % g != 0 || w.dim(0) % g != 0
                || w.dim(1) != x.dim(1) / g || y.dim(0) != x.dim(0) || y.dim(1) != w.dim(0) || y.dim(2) != ho
                || y.dim(3) != wo || ho < 1 || wo < 1) {
            throw new IllegalArgumentException("conv shapes x=" + x + " w=" + w + " y=" + y + " " + s);
        }
    }
}
