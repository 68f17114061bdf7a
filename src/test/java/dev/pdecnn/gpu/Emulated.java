package dev.pdecnn.gpu;

import dev.pdecnn.backend.cuda.HostBuild;
import dev.pdecnn.backend.cuda.HostKernelRunner;
import dev.pdecnn.backend.cuda.JCudaKernelRunner;
import dev.pdecnn.backend.cuda.KernelRunner;
import org.junit.jupiter.api.Assumptions;

import java.nio.file.Path;

/**
 * The emulated device of the GPU-path tests: the host build of the kernel sources (cached under target/cuda-host,
 * shared with the kernel equality suite). Without a C++ compiler the tests are skipped with the reason, unless
 * PDECNN_REQUIRE_HOST_KERNELS is set (CI), which turns the skip into a failure.
 */
final class Emulated {
    static final boolean REQUIRED = System.getenv("PDECNN_REQUIRE_HOST_KERNELS") != null
            && !System.getenv("PDECNN_REQUIRE_HOST_KERNELS").isEmpty();
    private static HostBuild.Result build;

    private Emulated() {
    }

    static synchronized Path executable() {
        if (build == null) {
            build = HostBuild.build();
            if (!build.ok()) {
                System.out.println("[gpu] SKIPPING emulated-device tests: " + build.reason());
            }
        }
        if (!build.ok() && REQUIRED) {
            throw new AssertionError("PDECNN_REQUIRE_HOST_KERNELS is set but the host build failed: " + build.reason());
        }
        Assumptions.assumeTrue(build.ok(), () -> "host kernels unavailable: " + build.reason());
        return build.executable();
    }

    /** A fresh driver process (48 KiB of shared memory per block, as every GPU grants without opting in). */
    static HostKernelRunner start() {
        return HostKernelRunner.start(executable());
    }

    /** Set by {@code -Dpdecnn.cuda.runner=jcuda}: the device-path tests run on GPU 0 instead of the emulation. */
    static final boolean ON_GPU = "jcuda".equals(System.getProperty("pdecnn.cuda.runner"));

    /**
     * The device of the training-step tests: the emulation ({@link #start()}), or GPU 0 through JCuda with
     * {@code -Dpdecnn.cuda.runner=jcuda} (skipped with the reason when no GPU can be opened).
     */
    static KernelRunner device() {
        if (!ON_GPU) {
            return start();
        }
        String why = JCudaKernelRunner.unavailableReason();
        Assumptions.assumeTrue(why == null, () -> "no CUDA device: " + why);
        JCudaKernelRunner r = JCudaKernelRunner.open(0);
        System.out.println("[gpu] device: " + r.description());
        return r;
    }

    /**
     * One device per test class ({@code @RegisterExtension static final Emulated.PerClass DEVICE = ...}): opened
     * before the first test ({@link #device()}: the emulation, or GPU 0 with -Dpdecnn.cuda.runner=jcuda), closed
     * after the last.
     */
    static final class PerClass implements org.junit.jupiter.api.extension.BeforeAllCallback,
            org.junit.jupiter.api.extension.AfterAllCallback {
        private KernelRunner runner;

        KernelRunner runner() {
            return runner;
        }

        @Override
        public void beforeAll(org.junit.jupiter.api.extension.ExtensionContext context) {
            runner = device();
        }

        @Override
        public void afterAll(org.junit.jupiter.api.extension.ExtensionContext context) {
            if (runner != null) {
                runner.close();
                runner = null;
            }
        }
    }
}
