package dev.pdecnn.cuda;

import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.backend.cuda.KernelRunner;
import dev.pdecnn.tensor.DType;
import org.junit.jupiter.api.Test;

/**
 * The equality checks on a real GPU through JCuda and the committed PTX/fatbins, when one is present; skipped
 * with the reason printed otherwise (no JCuda on the classpath, no driver, no device). This is a quick sample
 * (the fused PDE in every mode, both element types); {@code -Dpdecnn.cuda.runner=jcuda} runs the whole suite
 * on the device.
 */
class DeviceTest {
    /** Device lifetimes are explicit: the backends this test made give their buffers back. */
    @org.junit.jupiter.api.AfterEach
    void releaseBackends() {
        Kernels.releaseTracked();
    }

    @Test
    void fusedPdeOnTheDeviceEqualsCpuReference() {
        KernelRunner gpu = Kernels.device();
        for (DType t : DType.values()) {
            CudaBackend be = Kernels.track(new CudaBackend(gpu, t));
            for (PdeKernelTest.Velocity v : PdeKernelTest.Velocity.values()) {
                for (PdeKernelTest.Diffusivity d : PdeKernelTest.Diffusivity.values()) {
                    for (int k : new int[]{1, 2, 5}) {
                        PdeKernelTest.check(be, 3, 4, 32, 32, k, v, d, t, new PdeSpec(k, 0.2, 1, 1));
                        PdeKernelTest.check(be, 2, 3, 13, 11, k, v, d, t, new PdeSpec(k, 0.2, 1.3, 0.8));
                    }
                }
            }
        }
    }

    /**
     * A tensor of a closed runner may be garbage-collected later, and its buffer returned: the closed runner must
     * ignore that free and refuse other calls with an exception, never hand the destroyed context to the driver
     * (which crashed the JVM on an H200 in cuCtxSetCurrent). A second runner opened meanwhile keeps working.
     */
    @Test
    void aClosedRunnerIgnoresFreesAndRefusesCalls() {
        Kernels.device();
        dev.pdecnn.backend.cuda.JCudaKernelRunner first = dev.pdecnn.backend.cuda.JCudaKernelRunner.open(0);
        dev.pdecnn.backend.cuda.DevicePtr p = first.alloc(1024);
        first.close();
        try (dev.pdecnn.backend.cuda.JCudaKernelRunner second = dev.pdecnn.backend.cuda.JCudaKernelRunner.open(0)) {
            first.free(p);
            first.close();
            org.junit.jupiter.api.Assertions.assertThrows(dev.pdecnn.backend.cuda.KernelException.class,
                    () -> first.alloc(16));
            float[] back = new float[4];
            dev.pdecnn.backend.cuda.DevicePtr q = second.alloc(16);
            second.toDevice(new float[]{1, 2, 3, 4}, q);
            second.toHost(q, back);
            org.junit.jupiter.api.Assertions.assertArrayEquals(new float[]{1, 2, 3, 4}, back);
        }
    }
}
