package dev.pdecnn.backend.cpu;

import org.bytedeco.openblas.global.openblas_nolapack;

import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * Float32 convolutions (one group, any kernel, stride and padding) as OpenBLAS sgemm calls on tiles of whole
 * images: im2col is written straight into a per-thread direct buffer in the row layout of the Java path
 * (row (ci, ki, kj) holds that tap for every output pixel of the tile, images side by side), so the product
 * of the tile is one sgemm, and its output rows are NCHW planes.
 *
 * <ul>
 *   <li>forward: Y_tile[co][cols] = W[co][k] col[k][cols];</li>
 *   <li>input gradient (used by the backends for strided convolutions; stride-1 "same" ones are a forward
 *       convolution with the flipped, transposed kernel): dcol[k][cols] = W^T gY_tile, then a scatter-add;</li>
 *   <li>weight gradient: per fixed group of images (as in the Java path), gW_group += gY_tile col^T, tile by
 *       tile in image order; the backends sum the groups in order.</li>
 * </ul>
 *
 * <p>Tiles are fixed by the shapes only (not the thread count), every tile's sgemm is single-threaded and
 * deterministic, and the weight-gradient groups are combined in a fixed order, so results are bit-identical
 * run to run and for any number of threads. Every method answers {@code false} or {@code null} when
 * {@link Blas#enabled()} is false. Arrays are indexed from the given offsets (tensor views); im2col and its
 * scatter-add are {@link Im2col}'s, shared with the Java path.
 */
final class BlasConv {
    /** Upper bound of an im2col tile in elements (1 MiB of floats: the tile stays in the 2 MiB L2). */
    private static final int TILE_ELEMS = 1 << 18;
    /** Upper bound of the columns (output pixels) of a tile. */
    private static final int TILE_COLS = 2048;
    /** Weight gradients are summed per group of images; the same fixed number as the Java path. */
    static final int GRAD_GROUPS = 8;

    private BlasConv() {
    }

    /** Geometry of a one-group convolution; compact output (ho x wo per image). */
    private record G(int n, int c, int h, int w, int co, int kh, int kw, int stride, int pad, int ho, int wo) {
        int k() {
            return c * kh * kw;
        }

        int p() {
            return ho * wo;
        }

        boolean same() {
            return stride == 1 && ho == h && wo == w;
        }

        Im2col.Layout layout() {
            return new Im2col.Layout(c, h, w, stride, pad, ho, wo, p(), same());
        }

        int tileImages() {
            int byCols = TILE_COLS / p(), byElems = TILE_ELEMS / Math.max(1, k() * p());
            return Math.max(1, Math.min(n, Math.min(byCols, byElems)));
        }
    }

    /** OpenBLAS on, and enough multiply-adds per output pixel to pay for the staging copies. */
    private static boolean worthIt(G g) {
        return Blas.enabled() && (long) g.co * g.k() >= Blas.MIN_DEPTH;
    }

    private static G geom(int n, int c, int h, int w, int co, int kh, int kw, int stride, int pad) {
        return new G(n, c, h, w, co, kh, kw, stride, pad, (h + 2 * pad - kh) / stride + 1,
                (w + 2 * pad - kw) / stride + 1);
    }

    /** Per-thread direct buffers (a: weights, b: im2col, c: output-shaped rows) and heap scratch. */
    private static final class Work {
        FloatBuffer a;
        FloatBuffer b;
        FloatBuffer c;
        float[] row = new float[0];
        float[] zeros = new float[0];
        /** Tap-major weights of the call with stamp wStamp (the wide path). */
        FloatBuffer wt;
        long wStamp = -1;
        /** Padded input planes / wide gradient rows, and the geometry whose zero borders they hold. */
        FloatBuffer xp;
        FloatBuffer gw;
        G xpGeom;
        G gwGeom;

        float[] row(int n) {
            if (row.length < n) {
                row = new float[n];
            }
            return row;
        }

        float[] zeros(int n) {
            if (zeros.length < n) {
                zeros = new float[n];
            }
            return zeros;
        }
    }

    private static final ThreadLocal<Work> WORK = ThreadLocal.withInitial(Work::new);

    private static FloatBuffer grow(FloatBuffer f, int n) {
        if (f != null && f.capacity() >= n) {
            return f;
        }
        int cap = Math.max(n, f == null ? 0 : f.capacity() + f.capacity() / 2);
        return java.nio.ByteBuffer.allocateDirect(cap * Float.BYTES).order(java.nio.ByteOrder.nativeOrder())
                .asFloatBuffer();
    }

    // ------------------------------------------------------------ float32

    /** Y = conv(X, W), W laid out [co][c][kh][kw]; false when not handled. */
    static boolean forward(float[] X, int xOff, float[] W, int wOff, float[] Y, int yOff, int n, int c, int h, int w,
                           int co, int kh, int kw, int stride, int pad) {
        G g = geom(n, c, h, w, co, kh, kw, stride, pad);
        if (!worthIt(g)) {
            return false;
        }
        if (wide(g)) {
            wideForward(X, xOff, W, wOff, Y, yOff, g);
            return true;
        }
        int nb = g.tileImages(), tiles = (n + nb - 1) / nb, k = g.k(), p = g.p();
        Parallel.forTasks(tiles, t -> {
            Work wk = WORK.get();
            int i0 = t * nb, i1 = Math.min(n, i0 + nb), cols = (i1 - i0) * p;
            FloatBuffer A = wk.a = grow(wk.a, co * k), B = wk.b = grow(wk.b, k * cols), C = wk.c = grow(wk.c, co * cols);
            A.put(0, W, wOff, co * k);
            im2col(X, xOff, g, i0, i1, B, wk);
            openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor, openblas_nolapack.CblasNoTrans,
                    openblas_nolapack.CblasNoTrans, co, cols, k, 1f, A, k, B, cols, 0f, C, cols);
            for (int img = i0; img < i1; img++) {
                for (int o = 0; o < co; o++) {
                    C.get(o * cols + (img - i0) * p, Y, yOff + (img * co + o) * p, p);
                }
            }
        });
        return true;
    }

    /** GX = the input gradient of Y = conv(X, W) for the output gradient GY (overwritten); false when not handled. */
    static boolean backwardData(float[] GY, int gyOff, float[] W, int wOff, float[] GX, int gxOff, int n, int c, int h,
                                int w, int co, int kh, int kw, int stride, int pad) {
        G g = geom(n, c, h, w, co, kh, kw, stride, pad);
        if (!worthIt(g)) {
            return false;
        }
        int nb = g.tileImages(), tiles = (n + nb - 1) / nb, k = g.k(), p = g.p(), chw = c * h * w;
        Parallel.forTasks(tiles, t -> {
            Work wk = WORK.get();
            int i0 = t * nb, i1 = Math.min(n, i0 + nb), cols = (i1 - i0) * p;
            FloatBuffer A = wk.a = grow(wk.a, co * k), B = wk.b = grow(wk.b, k * cols), C = wk.c = grow(wk.c, co * cols);
            A.put(0, W, wOff, co * k);
            gyRows(GY, gyOff, g, i0, i1, C);
            openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor, openblas_nolapack.CblasTrans,
                    openblas_nolapack.CblasNoTrans, k, cols, co, 1f, A, k, C, cols, 0f, B, cols);
            Arrays.fill(GX, gxOff + i0 * chw, gxOff + i1 * chw, 0);
            col2imAdd(B, g, i0, i1, GX, gxOff, wk);
        });
        return true;
    }

    /**
     * Weight gradient partials, one per fixed group of images (min(n, GRAD_GROUPS) groups), each laid out like W;
     * null when not handled.
     */
    static float[][] weightGrad(float[] X, int xOff, float[] GY, int gyOff, int n, int c, int h, int w, int co, int kh,
                                int kw, int stride, int pad) {
        G g = geom(n, c, h, w, co, kh, kw, stride, pad);
        if (!worthIt(g)) {
            return null;
        }
        if (wide(g) && g.h * g.w >= 256) { // on 8x8 planes the im2col product measured faster
            return wideWeightGrad(X, xOff, GY, gyOff, g);
        }
        int groups = Math.min(n, GRAD_GROUPS), nb = g.tileImages(), k = g.k(), p = g.p();
        float[][] parts = new float[groups][];
        Parallel.forTasks(groups, r -> {
            Work wk = WORK.get();
            int g0 = (int) ((long) n * r / groups), g1 = (int) ((long) n * (r + 1) / groups);
            FloatBuffer A = wk.a = grow(wk.a, co * k);
            A.put(0, wk.zeros(co * k), 0, co * k);
            for (int i0 = g0; i0 < g1; i0 += nb) {
                int i1 = Math.min(g1, i0 + nb), cols = (i1 - i0) * p;
                FloatBuffer B = wk.b = grow(wk.b, k * cols), C = wk.c = grow(wk.c, co * cols);
                im2col(X, xOff, g, i0, i1, B, wk);
                gyRows(GY, gyOff, g, i0, i1, C);
                openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor, openblas_nolapack.CblasNoTrans,
                        openblas_nolapack.CblasTrans, co, k, cols, 1f, C, cols, B, cols, 1f, A, k);
            }
            float[] part = new float[co * k];
            A.get(0, part, 0, co * k);
            parts[r] = part;
        });
        return parts;
    }

    // ------------------------------------------------------------ stride-1 "same" convolutions: implicit GEMM

    /** Distinct stamp per wide call, so that each thread copies the call's tap-major weights once. */
    private static final java.util.concurrent.atomic.AtomicLong STAMP = new java.util.concurrent.atomic.AtomicLong();

    /**
     * The implicit-GEMM path: a stride-1 convolution with a square odd kernel, padding (k - 1) / 2 and planes of
     * at least 8 x 8, between at least 16 channels (below that the per-tap products are too thin).
     */
    private static boolean wide(G g) {
        return g.stride == 1 && g.kh == g.kw && g.kh % 2 == 1 && g.pad == g.kh / 2 && g.h * g.w >= 64
                && g.c >= 16 && g.co >= 16;
    }

    /** Padded plane width, and plane size in the padded buffer (one spare row for the wrapped reads). */
    private static int wp(G g) {
        return g.w + 2 * g.pad;
    }

    private static int ps(G g) {
        return (g.h + 2 * g.pad + 1) * wp(g);
    }

    /** Columns of the wide output of one image: ho rows of wp (the last wp - wo of each row are junk). */
    private static int wideCols(G g) {
        return g.ho * wp(g);
    }

    /** Copies image img into the padded planes xp[ci][ps] (zero borders, written once per geometry). */
    private static FloatBuffer padImage(float[] X, int xOff, G g, int img, Work wk) {
        int wp = wp(g), ps = ps(g), hw = g.h * g.w;
        if (!g.equals(wk.xpGeom)) {
            wk.xp = grow(wk.xp, g.c * ps);
            wk.xp.put(0, wk.zeros(g.c * ps), 0, g.c * ps);
            wk.xpGeom = g;
        }
        FloatBuffer xp = wk.xp;
        for (int ci = 0; ci < g.c; ci++) {
            int src = xOff + (img * g.c + ci) * hw, dst = ci * ps + g.pad * wp + g.pad;
            for (int i = 0; i < g.h; i++) {
                xp.put(dst + i * wp, X, src + i * g.w, g.w);
            }
        }
        return xp;
    }

    /** Y = conv(X, W): per image, sum over taps of W_tap[co][ci] times the padded planes shifted by the tap. */
    private static void wideForward(float[] X, int xOff, float[] W, int wOff, float[] Y, int yOff, G g) {
        int kk = g.kh * g.kw, c = g.c, co = g.co, wp = wp(g), ps = ps(g), nc = wideCols(g), ohw = g.ho * g.wo;
        float[] wt = new float[kk * co * c];
        for (int o = 0; o < co; o++) {
            for (int ci = 0; ci < c; ci++) {
                for (int t = 0; t < kk; t++) {
                    wt[(t * co + o) * c + ci] = W[wOff + (o * c + ci) * kk + t];
                }
            }
        }
        long stamp = STAMP.incrementAndGet();
        Parallel.forTasks(g.n, img -> {
            Work wk = WORK.get();
            if (wk.wStamp != stamp) {
                wk.wt = grow(wk.wt, wt.length);
                wk.wt.put(0, wt, 0, wt.length);
                wk.wStamp = stamp;
            }
            FloatBuffer xp = padImage(X, xOff, g, img, wk);
            FloatBuffer out = wk.c = grow(wk.c, co * nc);
            for (int t = 0; t < kk; t++) {
                int ki = t / g.kw, kj = t % g.kw;
                openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor, openblas_nolapack.CblasNoTrans,
                        openblas_nolapack.CblasNoTrans, co, nc, c, 1f, wk.wt.slice(t * co * c, co * c), c,
                        xp.slice(ki * wp + kj, c * ps - ki * wp - kj), ps, t == 0 ? 0f : 1f, out, nc);
            }
            for (int o = 0; o < co; o++) {
                int yo = yOff + (img * co + o) * ohw;
                for (int i = 0; i < g.ho; i++) {
                    out.get(o * nc + i * wp, Y, yo + i * g.wo, g.wo);
                }
            }
        });
    }

    /**
     * Weight gradient partials per fixed image group: gW_tap[co][ci] += gY_wide[co][.] (padded planes shifted by
     * the tap)[ci][.]^T, image by image in order; gY_wide has zero junk columns.
     */
    private static float[][] wideWeightGrad(float[] X, int xOff, float[] GY, int gyOff, G g) {
        int kk = g.kh * g.kw, c = g.c, co = g.co, wp = wp(g), ps = ps(g), nc = wideCols(g), ohw = g.ho * g.wo;
        int n = g.n, groups = Math.min(n, GRAD_GROUPS);
        float[][] parts = new float[groups][];
        Parallel.forTasks(groups, r -> {
            Work wk = WORK.get();
            int g0 = (int) ((long) n * r / groups), g1 = (int) ((long) n * (r + 1) / groups);
            FloatBuffer acc = wk.a = grow(wk.a, kk * co * c);
            acc.put(0, wk.zeros(kk * co * c), 0, kk * co * c);
            if (!g.equals(wk.gwGeom)) {
                wk.gw = grow(wk.gw, co * nc);
                wk.gw.put(0, wk.zeros(co * nc), 0, co * nc);
                wk.gwGeom = g;
            }
            FloatBuffer gy = wk.gw;
            for (int img = g0; img < g1; img++) {
                FloatBuffer xp = padImage(X, xOff, g, img, wk);
                for (int o = 0; o < co; o++) {
                    int src = gyOff + (img * co + o) * ohw;
                    for (int i = 0; i < g.ho; i++) {
                        gy.put(o * nc + i * wp, GY, src + i * g.wo, g.wo);
                    }
                }
                for (int t = 0; t < kk; t++) {
                    int ki = t / g.kw, kj = t % g.kw;
                    openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor, openblas_nolapack.CblasNoTrans,
                            openblas_nolapack.CblasTrans, co, c, nc, 1f, gy, nc,
                            xp.slice(ki * wp + kj, c * ps - ki * wp - kj), ps, 1f, acc.slice(t * co * c, co * c), c);
                }
            }
            float[] tapMajor = new float[kk * co * c], part = new float[co * c * kk];
            acc.get(0, tapMajor, 0, tapMajor.length);
            for (int t = 0; t < kk; t++) {
                for (int o = 0; o < co; o++) {
                    for (int ci = 0; ci < c; ci++) {
                        part[(o * c + ci) * kk + t] = tapMajor[(t * co + o) * c + ci];
                    }
                }
            }
            parts[r] = part;
        });
        return parts;
    }

    /** Output-gradient rows of images [i0, i1): C[o][(img - i0) p + q] = GY[img][o][q]. */
    private static void gyRows(float[] GY, int gyOff, G g, int i0, int i1, FloatBuffer C) {
        int p = g.p(), cols = (i1 - i0) * p;
        for (int img = i0; img < i1; img++) {
            for (int o = 0; o < g.co; o++) {
                C.put(o * cols + (img - i0) * p, GY, gyOff + (img * g.co + o) * p, p);
            }
        }
    }

    /** im2col of images [i0, i1) into B: row (ci kh + ki) kw + kj, column (img - i0) p + output pixel. */
    private static void im2col(float[] X, int xOff, G g, int i0, int i1, FloatBuffer B, Work wk) {
        int cols = (i1 - i0) * g.p(), kk = g.kh * g.kw;
        Im2col.Layout lay = g.layout();
        float[] row = wk.row(cols);
        for (int cl = 0; cl < g.c; cl++) {
            for (int ki = 0; ki < g.kh; ki++) {
                for (int kj = 0; kj < g.kw; kj++) {
                    Im2col.tap(lay, X, xOff, cl, ki, kj, i0, i1, row, 0);
                    B.put((cl * kk + ki * g.kw + kj) * cols, row, 0, cols);
                }
            }
        }
    }

    /** Scatter-adds the im2col-shaped rows in B back onto GX (images [i0, i1)). */
    private static void col2imAdd(FloatBuffer B, G g, int i0, int i1, float[] GX, int gxOff, Work wk) {
        int cols = (i1 - i0) * g.p(), kk = g.kh * g.kw;
        Im2col.Layout lay = g.layout();
        float[] row = wk.row(cols);
        for (int cl = 0; cl < g.c; cl++) {
            for (int ki = 0; ki < g.kh; ki++) {
                for (int kj = 0; kj < g.kw; kj++) {
                    B.get((cl * kk + ki * g.kw + kj) * cols, row, 0, cols);
                    Im2col.scatterAdd(lay, row, cl, ki, kj, i0, i1, GX, gxOff);
                }
            }
        }
    }
}
