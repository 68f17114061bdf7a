package dev.pdecnn.backend.cuda;

import dev.pdecnn.tensor.DType;

import java.util.function.Supplier;

/**
 * Launches kernels by their base name for one element type (the {@code _f32} / {@code _f64} suffix is added
 * here), turning a failure into a {@link KernelException} that names the kernel, its launch configuration, the
 * device and the operation running (from {@code context}). Holds the launch constants that every kernel family
 * shares with {@code common.cuh}; {@code LaunchConstantsTest} compares each with its {@code #define}.
 */
final class Launcher {
    /** Threads per block of the one-dimensional kernels (PDECNN_THREADS in common.cuh). */
    static final int THREADS = 256;
    /** The most threads per block of a kernel that reduces with pd_block_sum (PDECNN_REDUCE_MAX_THREADS). */
    static final int REDUCE_MAX_THREADS = 1024;
    /** Grid cap of the grid-stride kernels (any grid works: the kernels loop over their range). */
    static final int MAX_BLOCKS = 4096;
    /** Roughly how many blocks keep a large GPU busy; used to split long reductions. */
    static final int TARGET_BLOCKS = 512;

    private final KernelRunner rt;
    private final DType dtype;
    private final String sfx;
    private final Supplier<String> context;

    /** {@code context}: the operation running now, for error messages. */
    Launcher(KernelRunner runner, DType dtype, Supplier<String> context) {
        this.rt = runner;
        this.dtype = dtype;
        this.sfx = dtype == DType.F32 ? "_f32" : "_f64";
        this.context = context;
    }

    KernelRunner runner() {
        return rt;
    }

    DType dtype() {
        return dtype;
    }

    /** Launches {@code kernel} (base name) with arguments in its parameter order (see {@link KernelRunner}). */
    void launch(String kernel, Dim3 grid, Dim3 block, int shared, Object... args) {
        String name = kernel + sfx;
        try {
            rt.launch(name, grid, block, shared, args);
        } catch (DeviceOutOfMemoryException e) {
            throw e;
        } catch (KernelException e) {
            throw new KernelException("kernel " + name + " failed in " + context.get() + ", grid " + dims(grid)
                    + " block " + dims(block) + " shared " + shared + " B on " + rt.description() + ": "
                    + e.getMessage(), e);
        }
    }

    /** A grid-stride kernel over n items with {@link #THREADS} threads per block. */
    void launch1d(String kernel, long n, Object... args) {
        int blocks = (int) Math.max(1, Math.min(MAX_BLOCKS, (n + THREADS - 1) / THREADS));
        launch(kernel, Dim3.of(blocks), Dim3.of(THREADS), 0, args);
    }

    private static String dims(Dim3 d) {
        return d.x() + "x" + d.y() + "x" + d.z();
    }

    static int ceilDiv(long a, long b) {
        return (int) ((a + b - 1) / b);
    }

    /** {@code a} followed by {@code b}: a kernel's pointers, then its shared dimension arguments. */
    static Object[] concat(Object[] a, Object... b) {
        Object[] r = new Object[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
