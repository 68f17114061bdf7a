package dev.pdecnn.gpu;

import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.backend.cuda.DeviceMemory;
import dev.pdecnn.backend.cuda.HostKernelRunner;
import dev.pdecnn.backend.cuda.KernelException;
import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A failing kernel is reported with its name, its launch and the shapes of the operation's tensors. */
class KernelFailureTest {
    @Test
    void failuresNameTheKernelAndTheShapes() {
        try (HostKernelRunner host = Emulated.start()) {
            CountingRunner rt = new CountingRunner(host);
            DeviceMemory mem = DeviceMemory.pool(rt, 8L << 20);
            CudaBackend be = new CudaBackend(mem, DType.F32);
            rt.failing = k -> k.startsWith("conv_forward") || k.startsWith("pde_forward");
            Tensor x = Tensor.zeros(DType.F32, 2, 16, 8, 8), w = Tensor.zeros(DType.F32, 16, 16, 3, 3);
            Tensor y = Tensor.zeros(DType.F32, 2, 16, 8, 8);
            KernelException e = assertThrows(KernelException.class, () -> be.conv2dForward(x, w, y, new ConvSpec(1, 1, 1)));
            assertTrue(e.getMessage().startsWith("kernel conv_forward_gemm_f32 failed in conv2dForward(x [2, 16, 8, 8], "
                    + "w [16, 16, 3, 3], y [2, 16, 8, 8], stride 1, pad 1, groups 1) F32, grid 2x1x1 block 256x1x1 "
                    + "shared 0 B on host emulation"), e.getMessage());
            assertTrue(e.getMessage().endsWith(": an illegal memory access was encountered (CUDA_ERROR_ILLEGAL_ADDRESS)"),
                    e.getMessage());
            assertEquals(be.device().residentBytes() + be.device().cachedBytes(), mem.inUse(), "a failed operation returns its scratch");
            assertEquals(0.0, y.get(0), "the output of a failed launch is not taken from the device");

            Tensor f = Tensor.zeros(DType.F32, 1, 2, 5, 7);
            KernelException p = assertThrows(KernelException.class, () -> be.pdeForward(f, f, null, null, null, null, 1.0,
                    new PdeSpec(5, 0.2, 1, 1), f.zerosLike()));
            assertTrue(p.getMessage().startsWith("kernel pde_forward_fused_f32 failed in pdeForward(f [1, 2, 5, 7], "
                    + "h [1, 2, 5, 7], out [1, 2, 5, 7], K 5) F32"), p.getMessage());

            // a real fault of the emulation (a shared-memory request beyond the device's limit) is named the same way
            rt.failing = k -> false;
            KernelException real = assertThrows(KernelException.class,
                    () -> rt.launch("relu_f32", dev.pdecnn.backend.cuda.Dim3.of(1), dev.pdecnn.backend.cuda.Dim3.of(32),
                            1 << 20, null, null, 0));
            assertTrue(real.getMessage().contains("shared memory"), real.getMessage());
            be.device().releaseDevice();
            assertEquals(0, mem.inUse(), "releaseDevice returns every buffer");
            mem.close();
        }
    }
}
