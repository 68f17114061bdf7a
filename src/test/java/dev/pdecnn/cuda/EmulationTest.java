package dev.pdecnn.cuda;

import dev.pdecnn.backend.cuda.DevicePtr;
import dev.pdecnn.backend.cuda.Dim3;
import dev.pdecnn.backend.cuda.HostKernelRunner;
import dev.pdecnn.backend.cuda.KernelException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The host emulation itself (src/main/cuda/host): the barrier is a real barrier, a missing barrier is exposed,
 * faults a GPU would hide or hang on are reported, and grid/block indices decompose as on a GPU.
 */
class EmulationTest {
    /** Device lifetimes are explicit: the backends this test made give their buffers back. */
    @org.junit.jupiter.api.AfterEach
    void releaseBackends() {
        Kernels.releaseTracked();
    }

    private static int[] iota(int n) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = 1000 + i;
        }
        return a;
    }

    private static int[] shift(HostKernelRunner rt, String kernel, int blocks, int threads) {
        int n = blocks * threads;
        DevicePtr in = rt.alloc(4L * n), out = rt.alloc(4L * n);
        try {
            rt.toDevice(iota(n), in);
            rt.launch(kernel, Dim3.of(blocks), Dim3.of(threads), 0, in, out);
            int[] got = new int[n];
            rt.toHost(out, got);
            return got;
        } finally {
            rt.free(in);
            rt.free(out);
        }
    }

    @Test
    void syncthreadsIsABarrier() {
        HostKernelRunner rt = Kernels.host();
        int blocks = 5, threads = 96;
        int[] got = shift(rt, "emu_shift", blocks, threads);
        for (int b = 0; b < blocks; b++) {
            for (int t = 0; t < threads; t++) {
                assertEquals(1000 + b * threads + (t + 1) % threads, got[b * threads + t]);
            }
        }
    }

    @Test
    void aMissingBarrierIsExposed() {
        HostKernelRunner rt = Kernels.host();
        int blocks = 3, threads = 64;
        int[] got = shift(rt, "emu_shift_unsynced", blocks, threads);
        int wrong = 0;
        for (int b = 0; b < blocks; b++) {
            for (int t = 0; t < threads; t++) {
                if (got[b * threads + t] != 1000 + b * threads + (t + 1) % threads) {
                    wrong++;
                }
            }
        }
        assertTrue(wrong > 0, "reading shared memory without its barrier must see stale data");
    }

    @Test
    void gridAndBlockIndicesDecomposeAsOnAGpu() {
        HostKernelRunner rt = Kernels.host();
        Dim3 grid = Dim3.of(3, 2, 2), block = Dim3.of(4, 3, 2);
        int nt = (int) (grid.count() * block.count());
        DevicePtr out = rt.alloc(48L * nt);
        try {
            rt.launch("emu_dims", grid, block, 0, out);
            int[] got = new int[12 * nt];
            rt.toHost(out, got);
            int i = 0;
            for (int bz = 0; bz < 2; bz++) {
                for (int by = 0; by < 2; by++) {
                    for (int bx = 0; bx < 3; bx++) {
                        for (int tz = 0; tz < 2; tz++) {
                            for (int ty = 0; ty < 3; ty++) {
                                for (int tx = 0; tx < 4; tx++) {
                                    int[] want = {tx, ty, tz, bx, by, bz, 4, 3, 2, 3, 2, 2};
                                    int[] have = java.util.Arrays.copyOfRange(got, 12 * i, 12 * i + 12);
                                    assertArrayEquals(want, have, "thread " + i);
                                    i++;
                                }
                            }
                        }
                    }
                }
            }
        } finally {
            rt.free(out);
        }
    }

    @Test
    void fiberStacksKeepTheAbiAlignment() {
        HostKernelRunner rt = Kernels.host();
        DevicePtr out = rt.alloc(4L * 64);
        try {
            rt.launch("emu_align", Dim3.of(2), Dim3.of(64), 0, out);
            int[] got = new int[64];
            rt.toHost(out, got);
            assertArrayEquals(new int[64], got);
        } finally {
            rt.free(out);
        }
    }

    @Test
    void argumentTypesAreChecked() {
        HostKernelRunner rt = Kernels.host();
        assertEquals("PPI", rt.kernels().get("relu_f32"));
        KernelException e = assertThrows(KernelException.class,
                () -> rt.launch("relu_f32", Dim3.of(1), Dim3.of(32), 0, DevicePtr.NULL, DevicePtr.NULL, 1.5f));
        assertTrue(e.getMessage().contains("takes (PPI)"), e.getMessage());
        assertThrows(KernelException.class, () -> rt.launch("no_such_kernel", Dim3.of(1), Dim3.of(1), 0));
        assertTrue(rt.isAlive(), "a rejected launch leaves the driver running");
    }

    @Test
    void outOfBoundsWritesAreCaught() {
        Kernels.host();
        try (HostKernelRunner rt = Kernels.host().withMaxShared(48 * 1024)) {
            DevicePtr one = rt.alloc(4);
            KernelException e = assertThrows(KernelException.class,
                    () -> rt.launch("emu_overrun", Dim3.of(1), Dim3.of(2), 0, one));
            assertTrue(e.getMessage().contains("wrote outside"), e.getMessage());
            DevicePtr bogus = new DevicePtr(one.address() + 4096L * 1024 * 1024, 4);
            KernelException e2 = assertThrows(KernelException.class,
                    () -> rt.launch("emu_overrun", Dim3.of(1), Dim3.of(1), 0, bogus));
            assertTrue(e2.getMessage().contains("not inside a live buffer"), e2.getMessage());
        }
    }

    @Test
    void divergentBarriersAreReported() {
        Kernels.host();
        HostKernelRunner rt = Kernels.host().withMaxShared(48 * 1024);
        try {
            DevicePtr out = rt.alloc(4L * 64);
            KernelException e = assertThrows(KernelException.class,
                    () -> rt.launch("emu_divergent", Dim3.of(1), Dim3.of(64), 0, out));
            assertTrue(e.getMessage().contains("divergent barrier"), e.getMessage());
            assertFalse(rt.isAlive(), "the fault ends the driver");
        } finally {
            rt.close();
        }
    }
}
