package dev.pdecnn.gpu;

import dev.pdecnn.backend.cuda.DeviceMemory;
import dev.pdecnn.backend.cuda.DeviceOutOfMemoryException;
import dev.pdecnn.backend.cuda.DevicePtr;
import dev.pdecnn.backend.cuda.Dim3;
import dev.pdecnn.backend.cuda.KernelException;
import dev.pdecnn.backend.cuda.KernelRunner;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pool allocator and the memory accounting, on a fake device (no kernels needed). */
class DeviceMemoryTest {
    /**
     * Hands out addresses from a counter; fails allocations above {@code limit}. Stores nothing: copies, staging
     * and launches are ignored (host arrays stay as they are).
     */
    static final class FakeRunner implements KernelRunner {
        long next = 1L << 20, limit = Long.MAX_VALUE, live;

        @Override
        public String description() {
            return "fake GPU";
        }

        @Override
        public DevicePtr alloc(long bytes) {
            if (bytes > limit) {
                throw new KernelException("CUDA cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY");
            }
            DevicePtr p = new DevicePtr(next, bytes);
            next += (bytes + 4095) / 4096 * 4096 + 4096;
            live++;
            return p;
        }

        @Override
        public void free(DevicePtr p) {
            live--;
        }

        @Override
        public void toDevice(Object hostArray, DevicePtr dst) {
        }

        @Override
        public void toHost(DevicePtr src, Object hostArray) {
        }

        @Override
        public void zero(DevicePtr p, long bytes) {
        }

        @Override
        public java.nio.ByteBuffer allocStaging(long bytes) {
            return java.nio.ByteBuffer.allocateDirect(Math.toIntExact(bytes)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        }

        @Override
        public void freeStaging(java.nio.ByteBuffer staging) {
        }

        @Override
        public void toDeviceAsync(java.nio.ByteBuffer staging, long bytes, DevicePtr dst) {
        }

        @Override
        public void awaitStaged() {
        }

        @Override
        public void launch(String kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        }

        @Override
        public int maxSharedBytesPerBlock() {
            return 48 * 1024;
        }

        @Override
        public void close() {
        }
    }

    @Test
    void bestFitCoalescingAndAlignment() {
        FakeRunner rt = new FakeRunner();
        try (DeviceMemory m = DeviceMemory.pool(rt, 64 * 1024)) {
            assertEquals(1, rt.live, "one arena");
            DevicePtr a = m.alloc(1000, "a"), b = m.alloc(3000, "b"), c = m.alloc(500, "c"), d = m.alloc(10, "d");
            long base = a.address();
            for (DevicePtr p : List.of(a, b, c, d)) {
                assertEquals(0, (p.address() - base) % DeviceMemory.ALIGN, "256-byte alignment");
            }
            assertEquals(1024 + 3072 + 512 + 256, m.inUse());
            assertEquals(1000, a.bytes(), "the pointer covers what was asked for");
            m.free(b);
            DevicePtr e = m.alloc(2000, "e"); // best fit: b's 3072-byte hole, not the large tail
            assertEquals(b.address(), e.address());
            m.free(a);
            m.free(e);
            m.free(c); // a, b/e and c coalesce, and with the hole after e
            assertEquals(Map.of(0L, 1024L + 3072 + 512, 1024L + 3072 + 512 + 256, 64L * 1024 - 4864), m.freeBlocksForTest());
            m.free(d);
            assertEquals(Map.of(0L, 64L * 1024), m.freeBlocksForTest(), "everything coalesced into one block");
            assertEquals(0, m.inUse());
            assertEquals(0, m.liveBlocks());
            assertEquals(1024 + 3072 + 512 + 256, m.peak());
            assertEquals(5, m.allocations());
            assertThrows(IllegalArgumentException.class, () -> m.free(d), "double free");
            assertEquals(1, rt.live, "no driver allocation per request");
        }
        assertEquals(0, rt.live, "closing frees the arena");
    }

    @Test
    void randomAllocationsNeverOverlapAndAllReturn() {
        FakeRunner rt = new FakeRunner();
        SplittableRandom r = new SplittableRandom(5);
        try (DeviceMemory m = DeviceMemory.pool(rt, 1 << 20)) {
            List<DevicePtr> live = new ArrayList<>();
            int oom = 0;
            for (int i = 0; i < 5000; i++) {
                if (!live.isEmpty() && r.nextInt(3) == 0) {
                    m.free(live.remove(r.nextInt(live.size())));
                } else {
                    long want = 1 + r.nextInt(60_000);
                    try {
                        live.add(m.alloc(want, "block " + i, r.nextInt(4) == 0)); // a quarter long-lived
                    } catch (DeviceOutOfMemoryException e) { // fragmented or full: no free block was large enough
                        assertTrue(m.largestFree() < want, e.getMessage());
                        oom++;
                    }
                }
                long sum = 0;
                for (DevicePtr p : live) {
                    sum += Math.max(DeviceMemory.ALIGN, (p.bytes() + 255) / 256 * 256);
                }
                assertEquals(sum, m.inUse());
            }
            live.sort((x, y) -> Long.compare(x.address(), y.address()));
            for (int i = 1; i < live.size(); i++) {
                assertTrue(live.get(i - 1).address() + live.get(i - 1).bytes() <= live.get(i).address(), "overlap");
            }
            assertTrue(oom > 0, "the test should reach a full pool");
            live.forEach(m::free);
            assertEquals(Map.of(0L, 1L << 20), m.freeBlocksForTest());
        }
    }

    /**
     * The first training step allocates weights, velocities and activations interleaved. Long-lived blocks come
     * from the top of the pool, so when the step's buffers are returned their space is one block again and a
     * larger evaluation batch fits; with every block taken best fit, the same sequence leaves the free space in
     * pieces no larger than one activation.
     */
    @Test
    void longLivedBlocksGatherAtTheTopAndLeaveTheStepSpaceInOnePiece() {
        for (boolean split : new boolean[]{true, false}) {
            try (DeviceMemory m = DeviceMemory.pool(new FakeRunner(), 64L << 20)) {
                List<DevicePtr> step = new ArrayList<>();
                long longLivedBytes = 0;
                for (int layer = 0; layer < 20; layer++) {
                    step.add(m.alloc(2L << 20, "activation " + layer));
                    m.alloc(4096 + 512L * layer, "weight " + layer, split);
                    m.alloc(4096 + 512L * layer, "velocity " + layer, split);
                    longLivedBytes += 2 * (4096 + 512L * layer);
                }
                step.forEach(m::free);
                if (split) {
                    assertEquals(m.freeBytes(), m.largestFree(), "the step's space is one block again");
                    assertEquals((64L << 20) - longLivedBytes, m.largestFree());
                    DevicePtr eval = m.alloc(40L << 20, "an evaluation batch's activation");
                    assertTrue(eval.address() >= 0);
                } else {
                    assertTrue(m.largestFree() < m.freeBytes() / 2, "interleaved: the free space is in pieces");
                }
            }
        }
    }

    @Test
    void outOfMemoryNamesTheTensorTheBytesAndWhatWasFree() {
        FakeRunner rt = new FakeRunner();
        try (DeviceMemory m = DeviceMemory.pool(rt, 1 << 20)) {
            DevicePtr a = m.alloc(300_000, "x"), b = m.alloc(300_000, "y");
            m.alloc(300_000, "z");
            m.free(a);
            m.free(b); // 600,000 bytes free in one block plus the 148 KiB tail: 2 blocks
            DeviceOutOfMemoryException e = assertThrows(DeviceOutOfMemoryException.class,
                    () -> m.alloc(700_000, "tensor gx [128, 16, 32, 32] of conv2dBackward(...) F32"));
            String msg = e.getMessage();
            assertTrue(msg.startsWith("out of device memory: tensor gx [128, 16, 32, 32] of conv2dBackward(...) F32 "
                    + "needs 684 KiB (700,000 bytes), 731 KiB free of the 1.00 MiB pool (largest free block 586 KiB) "
                    + "on fake GPU"), msg);
            assertTrue(msg.contains("--batch-size") && msg.contains("PDECNN_GPU_POOL"), msg);
            assertEquals(700_000, e.requested);
            assertEquals(1, msg.lines().count());
        }
    }

    @Test
    void checkedBudgetAllocatesEachBlockOnTheDevice() {
        FakeRunner rt = new FakeRunner();
        DeviceMemory m = DeviceMemory.checked(rt, 4096);
        DevicePtr a = m.alloc(1000, "a"), b = m.alloc(2000, "b");
        assertEquals(2, rt.live);
        assertEquals(3072, m.inUse());
        DeviceOutOfMemoryException e = assertThrows(DeviceOutOfMemoryException.class, () -> m.alloc(1500, "tensor w"));
        assertTrue(e.getMessage().startsWith("out of device memory: tensor w needs 1.46 KiB (1,500 bytes), 1.00 KiB free "
                + "of the 4.00 KiB pool on fake GPU"), e.getMessage());
        m.free(a);
        m.free(b);
        assertEquals(0, rt.live);
        assertEquals(0, m.inUse());
        assertEquals(3072, m.peak());
    }

    @Test
    void aPoolThatDoesNotFitSaysSo() {
        FakeRunner rt = new FakeRunner();
        rt.limit = 1 << 20;
        DeviceOutOfMemoryException e = assertThrows(DeviceOutOfMemoryException.class,
                () -> DeviceMemory.pool(rt, 2L << 30));
        assertTrue(e.getMessage().contains("cannot allocate the 2.00 GiB device memory pool on fake GPU"), e.getMessage());
        assertTrue(e.getMessage().contains("PDECNN_GPU_POOL"), e.getMessage());
    }

    @Test
    void sizes() {
        assertEquals(512L << 20, DeviceMemory.parseSize("512m"));
        assertEquals(6L << 30, DeviceMemory.parseSize("6G"));
        assertEquals(6L << 30, DeviceMemory.parseSize("6GiB"));
        assertEquals(3L << 29, DeviceMemory.parseSize("1.5g"));
        assertEquals(1048576, DeviceMemory.parseSize("1048576"));
        assertThrows(IllegalArgumentException.class, () -> DeviceMemory.parseSize("lots"));
        assertThrows(IllegalArgumentException.class, () -> DeviceMemory.parseSize("-1g"));
        assertEquals("1.50 KiB", DeviceMemory.bytes(1536));
        assertEquals("100 B", DeviceMemory.bytes(100));
        assertEquals("4.00 GiB", DeviceMemory.bytes(4L << 30));
    }
}
