package dev.pdecnn.backend.cuda;

/**
 * The launch geometry of the TF32 tensor-core matrix-product kernels ({@code gemm_tf32.cuh}): a block of
 * {@link #THREADS} threads (four warps) computes one {@link Tile} of C = A B (M x N); blockIdx.y walks the rows and
 * blockIdx.x the columns, as for the fp32 tiles of {@link Gemm}.
 *
 * <p>Tile choice, per layer: the fewest rows that cover M (the 16-channel stage-1 layers of the ResNets fill a
 * 16-row tile instead of a quarter of the fp32 kernels' 64), and for M above 32 the wider 64 x 128 tile only when
 * that still gives {@link #WIDE_MIN_BLOCKS} blocks (two per SM of an H100/H200), else 64 x 64 for more blocks.
 */
final class Tf32Gemm {
    /** Threads per block (TF32_THREADS, also the kernels' __launch_bounds__). */
    static final int THREADS = 128;
    /** Blocks the 64 x 128 tile must still give to be preferred over 64 x 64 (2 x 132 SMs). */
    static final int WIDE_MIN_BLOCKS = 264;

    /** A tile shape of gemm_tf32.cuh; the kernels of each shape are named {@code <op>_tf32_<m>x<n>}. */
    enum Tile {
        M16_N128(16, 128), M32_N128(32, 128), M64_N64(64, 64), M64_N128(64, 128);

        final int m, n;

        Tile(int m, int n) {
            this.m = m;
            this.n = n;
        }

        /** The kernel of operation {@code op} (conv_forward, dense_backward_data, ...) for this tile. */
        String kernel(String op) {
            return op + "_tf32_" + m + "x" + n;
        }

        /** The grid over an M x N product, {@code z} deep (groups, splits). */
        Dim3 grid(long rows, long cols, int z) {
            return Dim3.of(Launcher.ceilDiv(cols, n), Launcher.ceilDiv(rows, m), z);
        }

        /** Blocks of one product layer. */
        int tiles(long rows, long cols) {
            return Launcher.ceilDiv(cols, n) * Launcher.ceilDiv(rows, m);
        }
    }

    private Tf32Gemm() {
    }

    /** The tile for an M x N product repeated {@code z} times (groups, splits). */
    static Tile choose(long rows, long cols, int z) {
        if (rows <= 16) {
            return Tile.M16_N128;
        }
        if (rows <= 32) {
            return Tile.M32_N128;
        }
        return (long) Tile.M64_N128.tiles(rows, cols) * z >= WIDE_MIN_BLOCKS ? Tile.M64_N128 : Tile.M64_N64;
    }

    static Dim3 block() {
        return Dim3.of(THREADS);
    }
}
