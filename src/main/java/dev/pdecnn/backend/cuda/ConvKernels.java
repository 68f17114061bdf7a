package dev.pdecnn.backend.cuda;

import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.tensor.Tensor;

import static dev.pdecnn.backend.cuda.Launcher.concat;

/**
 * The launches of {@code conv.cu}: grouped 2-D convolution forward, data gradient and (accumulated) filter
 * gradient, each as an implicit GEMM on the tiles of {@code gemm.cuh} (for convolutions with enough channels per
 * group) or as a direct kernel. The filter gradient's GEMM splits its long reduction over N Ho Wo into partial
 * products that {@code add_partials} (elementwise.cu) sums in a fixed order. Every kernel takes its three
 * pointers followed by the twelve dimensions of {@link Geom#dims()}. With TF32 (float32 on sm_80+, see
 * {@link Precision}) the implicit GEMMs run on the tensor-core kernels of {@code gemm_tf32.cuh} instead, with the
 * tile shape {@link Tf32Gemm#choose} picks for the layer; the direct kernels stay fp32.
 */
final class ConvKernels {
    /** Implicit GEMM from this many reduction columns (channels per group x kernel area) and outputs per group. */
    static final int GEMM_MIN_COLS = 8, GEMM_MIN_OUTPUTS = 8;
    /** Reduction elements per split of the filter gradient's GEMM, at least. */
    static final int FILTER_SPLIT_MIN = 256;

    private final Launcher l;
    private final ConvAlgo algo;
    private final ElementwiseKernels ew;
    /** The implicit GEMMs run on the TF32 tensor-core kernels ({@link Tf32Gemm}; float32 only). */
    private final boolean tf32;

    ConvKernels(Launcher launcher, ConvAlgo algo, ElementwiseKernels ew, boolean tf32) {
        this.l = launcher;
        this.algo = algo;
        this.ew = ew;
        this.tf32 = tf32;
    }

    /**
     * Launches the implicit GEMM {@code op} (conv_forward, conv_backward_data, conv_backward_filter) over a
     * rows x cols product, z deep: the TF32 kernel of the tile {@link Tf32Gemm#choose} picks, or the fp32 one.
     */
    private void gemmLaunch(String op, long rows, long cols, int z, Object[] args) {
        if (tf32) {
            Tf32Gemm.Tile t = Tf32Gemm.choose(rows, cols, z);
            l.launch(t.kernel(op), t.grid(rows, cols, z), Tf32Gemm.block(), 0, args);
        } else {
            l.launch(op + "_gemm", Gemm.grid(rows, cols, z), Gemm.block(), 0, args);
        }
    }

    /** Blocks of one rows x cols product layer on the tiles this convolution runs on. */
    private int gemmTiles(long rows, long cols, int z) {
        return tf32 ? Tf32Gemm.choose(rows, cols, z).tiles(rows, cols) : Gemm.tiles(rows, cols);
    }

    /** The shapes of one convolution: x [n, c, h, w], weights [co, c / groups, kh, kw], y [n, co, ho, wo]. */
    record Geom(int n, int c, int h, int w, int co, int kh, int kw, int ho, int wo, ConvSpec s) {
        int g() {
            return s.groups();
        }

        int cg() {
            return c / s.groups();
        }

        int cog() {
            return co / s.groups();
        }

        /** The kernels' dimension arguments, in their order (CONV_DIMS). */
        Object[] dims() {
            return new Object[]{n, c, h, w, co, kh, kw, s.stride(), s.pad(), s.groups(), ho, wo};
        }

        /** The shapes of x, w and y checked against each other. */
        static Geom of(Tensor x, Tensor w, Tensor y, ConvSpec s) {
            int n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3);
            int co = w.dim(0), kh = w.dim(2), kw = w.dim(3), g = s.groups();
            int ho = s.outSize(h, kh), wo = s.outSize(wd, kw);
            if (x.rank() != 4 || w.rank() != 4 || y.rank() != 4 || c % g != 0 || co % g != 0 || w.dim(1) != c / g
                    || y.dim(0) != n || y.dim(1) != co || y.dim(2) != ho || y.dim(3) != wo) {
                throw new IllegalArgumentException("conv shapes x=" + x + " w=" + w + " y=" + y + " " + s);
            }
            return new Geom(n, c, h, wd, co, kh, kw, ho, wo, s);
        }
    }

    /** Whether this convolution runs as an implicit GEMM (else the direct kernels). */
    boolean gemm(Geom g) {
        return switch (algo) {
            case GEMM -> true;
            case DIRECT -> false;
            case AUTO -> g.cg() * g.kh() * g.kw() >= GEMM_MIN_COLS && g.cog() >= GEMM_MIN_OUTPUTS;
        };
    }

    /** y = conv(x, w) (written). */
    void forward(DevicePtr x, DevicePtr w, DevicePtr y, Geom g) {
        Object[] args = concat(new Object[]{x, w, y}, g.dims());
        if (gemm(g)) {
            gemmLaunch("conv_forward", g.cog(), (long) g.n() * g.ho() * g.wo(), g.g(), args);
        } else {
            l.launch1d("conv_forward_direct", (long) g.n() * g.co() * g.ho() * g.wo(), args);
        }
    }

    /** gx = the data gradient of gy (written). */
    void backwardData(DevicePtr gy, DevicePtr w, DevicePtr gx, Geom g) {
        Object[] args = concat(new Object[]{gy, w, gx}, g.dims());
        if (gemm(g)) {
            gemmLaunch("conv_backward_data", g.cg(), (long) g.n() * g.h() * g.w(), g.g(), args);
        } else {
            l.launch1d("conv_backward_data_direct", (long) g.n() * g.c() * g.h() * g.w(), args);
        }
    }

    /** gw += the filter gradient of gy against x; the GEMM path's partial products come from {@code sc}. */
    void backwardFilter(DevicePtr x, DevicePtr gy, DevicePtr gw, Geom g, Scratch sc) {
        long weights = (long) g.co() * g.cg() * g.kh() * g.kw();
        if (gemm(g)) {
            int cols = g.cg() * g.kh() * g.kw();
            long red = (long) g.n() * g.ho() * g.wo();
            int tiles = gemmTiles(g.cog(), cols, g.g()) * g.g();
            int splits = (int) Math.max(1, Math.min(Math.max(1, Launcher.TARGET_BLOCKS / tiles), red / FILTER_SPLIT_MIN));
            DevicePtr part = sc.elems(splits * weights, "filter-gradient partials");
            gemmLaunch("conv_backward_filter", g.cog(), cols, g.g() * splits,
                    concat(new Object[]{x, gy, part}, concat(g.dims(), splits)));
            ew.addPartials(part, splits, (int) weights, gw);
        } else {
            // one block per weight, reducing over N Ho Wo with pd_block_sum
            l.launch("conv_backward_filter_direct", Dim3.of((int) weights), Dim3.of(Launcher.THREADS), 0,
                    concat(new Object[]{x, gy, gw}, g.dims()));
        }
    }
}
