package dev.pdecnn.gpu;

import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.backend.cuda.DeviceMemory;
import dev.pdecnn.backend.cuda.KernelRunner;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Device memory over 100 training steps on the emulated device, through the pool the GPU path uses. Tensors are
 * device resident: the parameters, gradients and velocities stay in the pool for the whole run and the step's
 * activation buffers are reused by the next step. So after the first step the bytes and blocks in use never
 * change, the pool hands out no block in any later step (its allocation count stays put) and its peak never
 * grows; the driver sees exactly one allocation (the pool's arena) for the whole run; releasing the backend's
 * device tensors afterwards leaves the pool one free block again; and the steps do train (the loss on the fixed
 * batch falls).
 */
class NoLeakTest {
    @Test
    void hundredStepsLeakNothing() {
        RunConfig cfg = Steps.config("mnist_pde_pm_c1.yaml");
        try (KernelRunner host = Emulated.device()) {
            CountingRunner rt = new CountingRunner(host);
            try (DeviceMemory pool = DeviceMemory.pool(rt, 16L << 20)) {
                assertEquals(1, rt.live.size(), "the arena");
                CudaBackend be = new CudaBackend(pool, DType.F32);
                Network net = Models.build(cfg, be);
                Tensor x = Steps.batch(net, 4, DType.F32, 3);
                int[] y = Steps.labels(4, 4);
                Map<String, Tensor> vel = Steps.velocities();
                double first = 0, last = 0;
                long peakAfterFirst = 0, inUseAfterFirst = 0, poolAllocsAfterFirst = 0;
                int blocksAfterFirst = 0;
                for (int step = 1; step <= 100; step++) {
                    last = Steps.sgdStep(net, be, x, y, vel, 0.05, 0.9, 5e-4);
                    if (step == 1) {
                        first = last;
                        peakAfterFirst = pool.peak();
                        inUseAfterFirst = pool.inUse();
                        blocksAfterFirst = pool.liveBlocks();
                        poolAllocsAfterFirst = pool.allocations();
                        assertTrue(inUseAfterFirst > 0 && be.device().residentBytes() > 0, pool.summary());
                    }
                    assertEquals(inUseAfterFirst, pool.inUse(), "bytes in use after step " + step);
                    assertEquals(blocksAfterFirst, pool.liveBlocks(), "live blocks after step " + step);
                    assertEquals(poolAllocsAfterFirst, pool.allocations(), "pool allocations by step " + step);
                    assertEquals(peakAfterFirst, pool.peak(), "peak grew at step " + step);
                    assertEquals(1, rt.allocs, "driver allocations by step " + step);
                    assertEquals(0, rt.frees, "driver frees by step " + step);
                }
                String during = pool.summary();
                be.device().releaseDevice();
                assertEquals(0, pool.inUse(), "bytes in use after releaseDevice");
                assertEquals(0, pool.liveBlocks(), "live blocks after releaseDevice");
                assertEquals(Map.of(0L, pool.capacity()), pool.freeBlocksForTest(), "the pool is one free block again");
                assertTrue(poolAllocsAfterFirst > 20, during);
                assertTrue(last < 0.5 * first, "100 steps on one batch must fit it: loss " + first + " -> " + last);
                System.out.printf("[gpu] 100 steps: %s; loss %.4f -> %.4f; %,d launches, %,d copies%n", during, first,
                        last, rt.launches, rt.copies());
            }
            assertEquals(0, rt.live.size(), "closing the pool frees the arena");
        }
    }
}
