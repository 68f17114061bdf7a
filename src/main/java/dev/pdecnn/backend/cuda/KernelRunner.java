package dev.pdecnn.backend.cuda;

import java.nio.ByteBuffer;

/**
 * What the CUDA backend needs from a device: memory, copies and kernel launches by name, in the shape of
 * CUDA's driver API ({@code cuMemAlloc}, {@code cuMemcpyHtoD}, {@code cuLaunchKernel}), plus one copy stream
 * for staged uploads from page-locked memory ({@code cuMemAllocHost}, {@code cuMemcpyHtoDAsync},
 * {@code cuStreamSynchronize}). Two implementations:
 * {@link HostKernelRunner} runs the kernel sources compiled for the CPU (tests, no GPU needed);
 * {@link JCudaKernelRunner} loads the committed PTX through JCuda's driver API and runs on a GPU. The
 * backend computes grid, block and shared-memory sizes itself, so both run the same launches.
 *
 * <p>Kernel arguments, in the kernel's parameter order: {@link DevicePtr} (or {@code null} for a null
 * pointer), {@link Integer}, {@link Long}, {@link Float}, {@link Double}. Launches may be asynchronous
 * (the GPU runner queues them), but always in issue order: a copy to the host after a launch sees its results.
 */
public interface KernelRunner extends AutoCloseable {
    /** Human-readable: which device, or which host build. */
    String description();

    DevicePtr alloc(long bytes);

    void free(DevicePtr p);

    /** Copies a whole host array ({@code float[]}, {@code double[]}, {@code int[]} or {@code byte[]}) to {@code dst}. */
    void toDevice(Object hostArray, DevicePtr dst);

    /** Copies {@code dst.length} elements from {@code src} into a host array of one of the types above. */
    void toHost(DevicePtr src, Object hostArray);

    /** Sets {@code bytes} bytes at {@code p} to zero. */
    void zero(DevicePtr p, long bytes);

    /**
     * Page-locked host memory of {@code bytes} bytes for {@link #toDeviceAsync} (cuMemAllocHost on a GPU, which the
     * copy engine reads while the host goes on; a direct buffer on the emulation), little-endian.
     */
    ByteBuffer allocStaging(long bytes);

    /** Frees a buffer of {@link #allocStaging}. */
    void freeStaging(ByteBuffer staging);

    /**
     * Starts copying the first {@code bytes} bytes of a staging buffer of this runner to {@code dst} on the copy
     * stream (a second, non-blocking stream on a GPU) and returns, so the copy overlaps what the device runs
     * meanwhile. Neither the staging buffer nor {@code dst} may be used until {@link #awaitStaged()}, which waits
     * for every copy started so far. The emulation copies at once.
     */
    void toDeviceAsync(ByteBuffer staging, long bytes, DevicePtr dst);

    /** Waits until every {@link #toDeviceAsync} copy has landed. */
    void awaitStaged();

    void launch(String kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args);

    /** Waits until every launch and copy issued so far has finished (a no-op where launches are synchronous). */
    default void synchronize() {
    }

    /**
     * The most dynamic shared memory one block may use. 48 KiB works on every CUDA GPU without opting in;
     * a runner that opts in (H100: 227 KiB) reports more, and the backend then keeps larger planes fused.
     */
    int maxSharedBytesPerBlock();

    /** Whether the TF32 kernels run on tensor cores here: a GPU of compute capability 8.0 or later, or the emulation. */
    default boolean tf32Capable() {
        return false;
    }

    /** Whether TF32 convolutions are the default here ({@link Precision}: PyTorch's, Ampere and later). */
    default boolean tf32ByDefault() {
        return false;
    }

    @Override
    void close();

    /** Bytes of a host array of the supported types. */
    static long byteSize(Object hostArray) {
        if (hostArray instanceof float[] a) {
            return 4L * a.length;
        } else if (hostArray instanceof double[] a) {
            return 8L * a.length;
        } else if (hostArray instanceof int[] a) {
            return 4L * a.length;
        } else if (hostArray instanceof byte[] a) {
            return a.length;
        }
        throw new IllegalArgumentException("unsupported host array " + (hostArray == null ? "null" : hostArray.getClass()));
    }
}
