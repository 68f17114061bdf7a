package dev.pdecnn.backend.cuda;

import dev.pdecnn.config.Choices.MatmulPrecision;
import dev.pdecnn.tensor.DType;

import java.util.OptionalLong;

/**
 * Opens a CUDA device for training: the {@link KernelRunner} (a GPU through JCuda, or the host emulation), the
 * {@link DeviceMemory} pool sized once at start, and the float32 {@link CudaBackend} on them, whose
 * {@link CudaDevice} owns the runner and the pool: closing it frees the pool and the device context (or ends the
 * emulation's driver process). A GPU's steps are captured as graphs by {@link JCudaStepGraph}.
 *
 * <p>The pool's size: {@code PDECNN_GPU_POOL} (environment) or {@code -Dpdecnn.gpu.pool} (e.g. {@code 6g});
 * by default at most {@value #GPU_DEFAULT_POOL_MIB} MiB and at most 90 % of the GPU's free memory, and
 * {@value #EMULATED_DEFAULT_POOL_MIB} MiB on the emulation. Tensors are device resident (see {@link CudaBackend}):
 * the pool holds the parameters, gradients and velocities for the whole run and one step's activations and
 * activation gradients (plus the evaluation batch's, cached for reuse).
 */
public final class CudaSession {
    public static final long GPU_DEFAULT_POOL_MIB = 4096;
    public static final long EMULATED_DEFAULT_POOL_MIB = 256;

    private CudaSession() {
    }

    /** The float32 backend on {@code memory}, its device owning the runner and the pool from now on. */
    private static CudaBackend open(KernelRunner runner, DeviceMemory memory, String description, Precision precision,
                                    StepGraph.Capture capture) {
        CudaBackend be = new CudaBackend(memory, DType.F32, CudaBackend.defaultOptions(runner).withPrecision(precision),
                capture);
        be.device().own(runner, description + ", precision " + precision.describe());
        return be;
    }

    /** Opens GPU {@code ordinal} through JCuda and allocates its pool; {@link KernelException} says why not. */
    public static CudaBackend gpu(int ordinal) {
        return gpu(ordinal, null);
    }

    /**
     * As {@link #gpu(int)}, with the config's {@code precision} (null: the default, {@link Precision#forChoice});
     * {@link IllegalArgumentException} for TF32 on a GPU without tensor cores for it.
     */
    public static CudaBackend gpu(int ordinal, MatmulPrecision precision) {
        GpuInfo.Probe probe = Gpus.probe();
        if (probe.reason() != null) {
            throw new KernelException(probe.reason());
        }
        if (ordinal < 0 || ordinal >= probe.gpus().size()) {
            throw new KernelException("no GPU " + ordinal + ": " + probe.gpuList());
        }
        JCudaKernelRunner r = JCudaKernelRunner.open(ordinal);
        try {
            Precision p = Precision.forChoice(precision, r);
            long[] info = r.memoryInfo();
            long pool = configuredPool().orElse(Math.min(GPU_DEFAULT_POOL_MIB << 20, info[0] / 10 * 9));
            if (pool > info[0]) {
                throw new DeviceOutOfMemoryException("the device memory pool", pool, info[0], -1, info[1],
                        "out of device memory: the " + DeviceMemory.bytes(pool) + " pool does not fit, " + r.description()
                                + " has " + DeviceMemory.bytes(info[0]) + " free of " + DeviceMemory.bytes(info[1])
                                + "; set a smaller pool with " + DeviceMemory.POOL_SETTING, null);
            }
            DeviceMemory m = DeviceMemory.pool(r, pool);
            return open(r, m, r.description() + ", " + DeviceMemory.bytes(info[1]) + " ("
                    + DeviceMemory.bytes(info[0]) + " free), device memory pool " + DeviceMemory.bytes(pool), p,
                    ops -> JCudaStepGraph.capture(r, ops));
        } catch (RuntimeException e) {
            r.close();
            throw e;
        }
    }

    /**
     * The emulated device: the host build of the same kernel sources (needs the project's src/main/cuda and
     * g++, see {@link HostBuild}), with a pool like a GPU's.
     */
    public static CudaBackend emulated() {
        return emulated((MatmulPrecision) null);
    }

    /** As {@link #emulated()}, with the config's {@code precision} (null: fp32; TF32 runs the emulated WMMA). */
    public static CudaBackend emulated(MatmulPrecision precision) {
        return emulated(configuredPool().orElse(EMULATED_DEFAULT_POOL_MIB << 20), true, precision);
    }

    /** The emulated device with a pool ({@code pooled}) or a checked budget of {@code bytes}. */
    public static CudaBackend emulated(long bytes, boolean pooled) {
        return emulated(bytes, pooled, null);
    }

    /** As {@link #emulated(long, boolean)} with the config's {@code precision}. */
    public static CudaBackend emulated(long bytes, boolean pooled, MatmulPrecision precision) {
        HostBuild.Result b = HostBuild.build();
        if (!b.ok()) {
            throw new KernelException("the emulated device needs the host build of the kernels: " + b.reason());
        }
        HostKernelRunner r = HostKernelRunner.start(b.executable());
        try {
            Precision p = Precision.forChoice(precision, r);
            DeviceMemory m = pooled ? DeviceMemory.pool(r, bytes) : DeviceMemory.checked(r, bytes);
            return open(r, m, "emulated device (host build of the CUDA kernels), device memory "
                    + (pooled ? "pool " : "budget ") + DeviceMemory.bytes(bytes), p, StepGraphs.emulated(r));
        } catch (RuntimeException e) {
            r.close();
            throw e;
        }
    }

    /** The pool size the user set, if any; {@link IllegalArgumentException} for a malformed value. */
    public static OptionalLong configuredPool() {
        dev.pdecnn.Settings.Value v = dev.pdecnn.Settings.GPU_POOL.value().orElse(null);
        try {
            return v == null ? OptionalLong.empty() : OptionalLong.of(DeviceMemory.parseSize(v.text()));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(v.source() + ": " + e.getMessage());
        }
    }
}
