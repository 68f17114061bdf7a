package dev.pdecnn.backend.cuda;

/**
 * The launch geometry of the tiled matrix-product kernels ({@code gemm.cuh}, used by {@code conv.cu} and
 * {@code dense.cu}): a block of {@link #THREADS} threads computes a {@link #TILE_M} x {@link #TILE_N} tile of
 * C = A B (M x N); blockIdx.y walks the rows and blockIdx.x the columns.
 */
final class Gemm {
    /** Rows of C per block (GEMM_BM). */
    static final int TILE_M = 64;
    /** Columns of C per block (GEMM_BN). */
    static final int TILE_N = 64;
    /** Threads per block (GEMM_THREADS, also the kernels' __launch_bounds__). */
    static final int THREADS = 256;

    private Gemm() {
    }

    /** The grid over an M x N product, {@code z} deep (groups, splits). */
    static Dim3 grid(long m, long n, int z) {
        return Dim3.of(Launcher.ceilDiv(n, TILE_N), Launcher.ceilDiv(m, TILE_M), z);
    }

    /** Blocks of one product layer ({@link #grid}'s x times y). */
    static int tiles(long m, long n) {
        return Launcher.ceilDiv(n, TILE_N) * Launcher.ceilDiv(m, TILE_M);
    }

    static Dim3 block() {
        return Dim3.of(THREADS);
    }
}
