package dev.pdecnn.backend.cpu;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas_nolapack;


/**
 * The float32 convolutions' matrix products through OpenBLAS ({@code org.bytedeco:openblas}, linux-x86_64
 * natives), with the pure-Java row GEMM of the fast CPU backend ({@link RowKernels#gemm}) as the fallback.
 *
 * <p>{@link BlasConv} answers {@code false} (or {@code null}) when it did nothing (natives not loaded, BLAS
 * switched off, a product too small to pay for the copies), and the caller then runs its Java GEMM.
 *
 * <p>OpenBLAS reads native memory, and its Java bindings copy a {@code float[]} argument in and out whole, so
 * the operands are staged in per-thread direct buffers (grown on demand). OpenBLAS runs single-threaded
 * ({@code blas_set_num_threads(1)}): the backends already run independent tiles of images on all cores through
 * {@link Parallel}, which keeps the tiles in cache and the results independent of the thread count (every
 * product has fixed operands whatever thread runs it, and single-threaded sgemm is deterministic).
 *
 * <p>Setting {@code pdecnn.cpu.gemm}: {@code blas} (default: OpenBLAS when its natives load, else the Java GEMM
 * with one notice on stderr) or {@code java} (never load the natives).
 */
public final class Blas {
    /** Products with fewer multiply-adds per output column than this stay on the Java GEMM. */
    static final int MIN_DEPTH = 64;

    private static final boolean LOADED = load(dev.pdecnn.Settings.CPU_GEMM.text("blas"));
    private static volatile boolean enabled = LOADED;

    private Blas() {
    }

    /** Loads the natives unless {@code mode} is "java"; false (with one notice on stderr) when they do not load. */
    static boolean load(String mode) {
        if ("java".equalsIgnoreCase(mode)) {
            return false;
        }
        if (!"blas".equalsIgnoreCase(mode)) {
            System.err.println("note: unknown pdecnn.cpu.gemm=" + mode + " (blas or java); using the Java GEMM");
            return false;
        }
        try {
            Loader.load(openblas_nolapack.class);
            openblas_nolapack.blas_set_num_threads(1);
            return true;
        } catch (Throwable t) {
            System.err.println("note: OpenBLAS could not be loaded (" + t
                    + "); float32 convolutions use the Java GEMM (slower)");
            return false;
        }
    }

    /** True when float32 products go to OpenBLAS. */
    public static boolean enabled() {
        return enabled;
    }

    /** True when the OpenBLAS natives are loaded (whether or not they are in use). */
    public static boolean loaded() {
        return LOADED;
    }

    /**
     * Switches OpenBLAS use on or off (on only when loaded); returns the previous setting. For tests and
     * benchmarks that compare both paths in one process.
     */
    public static boolean setEnabled(boolean on) {
        boolean was = enabled;
        enabled = on && LOADED;
        return was;
    }

    /** A description for logs: "OpenBLAS <corename>" or "Java GEMM". */
    public static String describe() {
        return enabled ? "OpenBLAS (" + openblas_nolapack.OPENBLAS_VERSION.trim() + ")" : "Java GEMM";
    }

}
