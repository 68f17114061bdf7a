package dev.pdecnn.gpu;

import dev.pdecnn.backend.cuda.DevicePtr;
import dev.pdecnn.backend.cuda.Dim3;
import dev.pdecnn.backend.cuda.KernelException;
import dev.pdecnn.backend.cuda.KernelRunner;

import java.util.HashMap;
import java.util.Map;
import java.util.function.Predicate;

/**
 * A {@link KernelRunner} in front of another that counts what reaches the device: live allocations (the driver's
 * cuMemAlloc / cuMemFree), launches, memsets, and copies (calls and bytes, each way); and can make the launches of chosen kernels fail, as a
 * faulting kernel would on a GPU, or drop them, as a kernel that computes nothing would.
 */
final class CountingRunner implements KernelRunner {
    private final KernelRunner inner;
    final Map<Long, Long> live = new HashMap<>();
    long allocs, frees, launches, bytesToDevice, bytesToHost, copiesToDevice, copiesToHost, memsets, stagedCopies;
    Predicate<String> failing = k -> false;
    /** Kernels whose launches are dropped: their outputs keep whatever was there, a wrong result without an error. */
    Predicate<String> skipped = k -> false;

    CountingRunner(KernelRunner inner) {
        this.inner = inner;
    }

    @Override
    public String description() {
        return inner.description();
    }

    @Override
    public DevicePtr alloc(long bytes) {
        DevicePtr p = inner.alloc(bytes);
        live.put(p.address(), bytes);
        allocs++;
        return p;
    }

    @Override
    public void free(DevicePtr p) {
        if (p != null && !p.isNull()) {
            live.remove(p.address());
            frees++;
        }
        inner.free(p);
    }

    @Override
    public void toDevice(Object hostArray, DevicePtr dst) {
        bytesToDevice += KernelRunner.byteSize(hostArray);
        copiesToDevice++;
        inner.toDevice(hostArray, dst);
    }

    @Override
    public void toHost(DevicePtr src, Object hostArray) {
        bytesToHost += KernelRunner.byteSize(hostArray);
        copiesToHost++;
        inner.toHost(src, hostArray);
    }

    @Override
    public void zero(DevicePtr p, long bytes) {
        memsets++;
        inner.zero(p, bytes);
    }

    @Override
    public java.nio.ByteBuffer allocStaging(long bytes) {
        return inner.allocStaging(bytes);
    }

    @Override
    public void freeStaging(java.nio.ByteBuffer staging) {
        inner.freeStaging(staging);
    }

    /** Counted as a copy to the device (and in {@code stagedCopies}). */
    @Override
    public void toDeviceAsync(java.nio.ByteBuffer staging, long bytes, DevicePtr dst) {
        bytesToDevice += bytes;
        copiesToDevice++;
        stagedCopies++;
        inner.toDeviceAsync(staging, bytes, dst);
    }

    @Override
    public void awaitStaged() {
        inner.awaitStaged();
    }

    /** When non-null, every launch appends its kernel name and the device addresses it was given. */
    java.util.List<String> record;

    @Override
    public void launch(String kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        launches++;
        if (record != null) {
            StringBuilder b = new StringBuilder(kernel);
            for (Object a : args) {
                if (a instanceof DevicePtr p) {
                    b.append(' ').append(Long.toHexString(p.address()));
                }
            }
            record.add(b.toString());
        }
        if (failing.test(kernel)) {
            throw new KernelException("an illegal memory access was encountered (CUDA_ERROR_ILLEGAL_ADDRESS)");
        }
        if (skipped.test(kernel)) {
            return;
        }
        inner.launch(kernel, grid, block, sharedBytes, args);
    }

    @Override
    public int maxSharedBytesPerBlock() {
        return inner.maxSharedBytesPerBlock();
    }

    /** Transfers (either way) so far. */
    long copies() {
        return copiesToDevice + copiesToHost;
    }

    @Override
    public void close() {
        // the inner runner belongs to the test class
    }
}
