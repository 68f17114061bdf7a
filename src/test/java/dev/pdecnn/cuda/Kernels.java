package dev.pdecnn.cuda;

import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.backend.cuda.HostBuild;
import dev.pdecnn.backend.cuda.HostKernelRunner;
import dev.pdecnn.backend.cuda.JCudaKernelRunner;
import dev.pdecnn.backend.cuda.KernelRunner;
import dev.pdecnn.tensor.DType;
import org.junit.jupiter.api.Assumptions;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Where the equality suite runs its kernels, shared by every test class of this package.
 *
 * <p>Default: the host build (built once per source hash, cached under target/cuda-host; one driver process
 * per shared-memory limit, restarted if a kernel fault ended it). Without a C++ compiler the tests are
 * skipped with the reason printed once, unless the environment variable PDECNN_REQUIRE_HOST_KERNELS is set
 * (CI sets it), which turns the skip into a failure.
 *
 * <p>{@code -Dpdecnn.cuda.runner=jcuda}: the same tests run on GPU 0 through JCuda and the committed PTX
 * (needs org.jcuda:jcuda:11.7.0 with its natives on the test classpath); skipped with the reason when there
 * is no usable GPU. Host-emulation self-tests always use the host build.
 */
final class Kernels {
    static final boolean DEVICE = "jcuda".equals(System.getProperty("pdecnn.cuda.runner"));
    /** Set by CI (.ci/run): a missing compiler fails the suite instead of skipping it. */
    static final boolean REQUIRED = System.getenv("PDECNN_REQUIRE_HOST_KERNELS") != null
            && !System.getenv("PDECNN_REQUIRE_HOST_KERNELS").isEmpty();

    private static HostBuild.Result build;
    private static final Map<Integer, HostKernelRunner> HOST = new HashMap<>();
    private static KernelRunner device;
    private static String deviceReason;
    private static boolean reported;

    private Kernels() {
    }

    static synchronized HostBuild.Result build() {
        if (build == null) {
            long t0 = System.nanoTime();
            build = HostBuild.build();
            if (build.ok()) {
                System.out.printf("[cuda] host build of the kernels: %s (%.1f s)%n", build.executable(),
                        (System.nanoTime() - t0) / 1e9);
            }
        }
        if (!build.ok() && REQUIRED) {
            throw new AssertionError("PDECNN_REQUIRE_HOST_KERNELS is set but the host build failed: " + build.reason());
        }
        if (!build.ok() && !reported) {
            reported = true;
            System.out.println("[cuda] SKIPPING host-kernel tests: " + build.reason());
        }
        return build;
    }

    /** The host build, or the test is skipped. */
    static HostKernelRunner host() {
        return host(48 * 1024);
    }

    static synchronized HostKernelRunner host(int maxShared) {
        HostBuild.Result b = build();
        Assumptions.assumeTrue(b.ok(), () -> "host kernels unavailable: " + b.reason());
        HostKernelRunner r = HOST.get(maxShared);
        if (r == null || !r.isAlive()) {
            r = HostKernelRunner.start(build.executable(), maxShared);
            HOST.put(maxShared, r);
            Runtime.getRuntime().addShutdownHook(new Thread(r::close));
        }
        return r;
    }

    /** GPU 0 through JCuda, or the test is skipped with the reason. */
    static synchronized KernelRunner device() {
        if (device == null && deviceReason == null) {
            deviceReason = JCudaKernelRunner.unavailableReason();
            if (deviceReason == null) {
                device = JCudaKernelRunner.open(0);
                System.out.println("[cuda] device runner: " + device.description());
                Runtime.getRuntime().addShutdownHook(new Thread(device::close));
            } else {
                System.out.println("[cuda] SKIPPING device tests: " + deviceReason);
            }
        }
        Assumptions.assumeTrue(device != null, () -> "no CUDA device: " + deviceReason);
        return device;
    }

    /** The runner of the equality suite: the host build, or the GPU with -Dpdecnn.cuda.runner=jcuda. */
    static KernelRunner runner() {
        return DEVICE ? device() : host();
    }

    /** A runner allowing {@code maxShared} bytes of dynamic shared memory per block. */
    static KernelRunner runner(int maxShared) {
        if (DEVICE) {
            KernelRunner d = device();
            Assumptions.assumeTrue(d.maxSharedBytesPerBlock() >= maxShared, "device allows less shared memory");
            return d;
        }
        return host(maxShared);
    }

    /** Backends a test made, released after it ({@link #releaseTracked}): device lifetimes are explicit. */
    private static final List<CudaBackend> TRACKED = new ArrayList<>();

    /** Registers {@code be} to be released after the current test. */
    static synchronized CudaBackend track(CudaBackend be) {
        TRACKED.add(be);
        return be;
    }

    /** Gives back the device buffers of every backend the finished test made (the test classes' @AfterEach). */
    static synchronized void releaseTracked() {
        for (CudaBackend be : TRACKED) {
            be.device().releaseDevice();
        }
        TRACKED.clear();
    }

    static CudaBackend backend(DType dtype) {
        return track(new CudaBackend(runner(), dtype));
    }

    /**
     * The TF32 tests run where the TF32 kernels use tensor cores: the emulation, or a GPU of compute capability
     * 8.0+ running SASS (skipped on older GPUs and with PDECNN_CUDA_FORCE_PTX=1: the compute_70 PTX carries their
     * fp32 body).
     */
    static void assumeTf32() {
        KernelRunner r = runner();
        Assumptions.assumeTrue(r.tf32Capable(), () -> r.description() + " runs no TF32 tensor-core kernels");
    }

    static void assumeAvailable() {
        runner();
    }
}
