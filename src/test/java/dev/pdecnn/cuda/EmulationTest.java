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

    /** The kernels' TF32 rounding equals the tests' reference {@link Check#tf32}, ties and special values included. */
    @Test
    void tf32RoundingMatchesTheReference() {
        HostKernelRunner rt = Kernels.host();
        float[] special = {0f, -0f, 1f, 1f + 0x1p-11f, 1f + 0x1p-11f + 0x1p-23f, 1f + 0x1p-12f, -1f - 0x1p-11f,
                Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
                Float.NaN, 3.14159265f, -2.7182817f, 1e-30f, 65504f};
        java.util.SplittableRandom r = new java.util.SplittableRandom(5);
        float[] in = new float[special.length + 1000];
        System.arraycopy(special, 0, in, 0, special.length);
        for (int i = special.length; i < in.length; i++) {
            in[i] = Float.intBitsToFloat(r.nextInt());
        }
        DevicePtr a = rt.alloc(4L * in.length), b = rt.alloc(4L * in.length);
        try {
            rt.toDevice(in, a);
            rt.launch("emu_tf32_round", Dim3.of(4), Dim3.of(256), 0, a, b, in.length);
            float[] got = new float[in.length];
            rt.toHost(b, got);
            for (int i = 0; i < in.length; i++) {
                assertEquals(Float.floatToRawIntBits(Check.tf32(in[i])) , Float.floatToRawIntBits(got[i]),
                        "tf32(" + in[i] + ")");
            }
            // ties round away from zero; 10 mantissa bits survive
            assertEquals(1f + 0x1p-10f, Check.tf32(1f + 0x1p-11f));
            assertEquals(-1f - 0x1p-10f, Check.tf32(-1f - 0x1p-11f));
            assertEquals(1f, Check.tf32(1f + 0x1p-12f));
        } finally {
            rt.free(a);
            rt.free(b);
        }
    }

    /** One fragment product against a double reference on rounded inputs, A row- and column-major. */
    @Test
    void wmmaFragmentsMultiplyInTf32() {
        HostKernelRunner rt = Kernels.host();
        java.util.SplittableRandom r = new java.util.SplittableRandom(9);
        float[] a = new float[16 * 20], b = new float[8 * 20], c = new float[16 * 20];
        for (float[] m : new float[][]{a, b, c}) {
            for (int i = 0; i < m.length; i++) {
                m[i] = (float) r.nextGaussian();
            }
        }
        DevicePtr da = rt.alloc(4L * a.length), db = rt.alloc(4L * b.length), dc = rt.alloc(4L * c.length);
        try {
            for (int colA = 0; colA < 2; colA++) {
                rt.toDevice(a, da);
                rt.toDevice(b, db);
                rt.toDevice(c, dc);
                rt.launch("emu_wmma_mma", Dim3.of(1), Dim3.of(32), 0, da, db, dc, colA);
                float[] got = new float[c.length];
                rt.toHost(dc, got);
                for (int i = 0; i < 16; i++) {
                    for (int j = 0; j < 20; j++) {
                        if (j >= 16) {
                            assertEquals(c[i * 20 + j], got[i * 20 + j], "padding untouched");
                            continue;
                        }
                        double s = c[i * 20 + j], scale = Math.abs(c[i * 20 + j]);
                        for (int k = 0; k < 8; k++) {
                            float av = colA == 1 ? a[k * 20 + i] : a[i * 20 + k];
                            double p = (double) Check.tf32(av) * Check.tf32(b[k * 20 + j]);
                            s += p;
                            scale += Math.abs(p);
                        }
                        // 8 float additions of exact products: at most 8 ulps of the sum of magnitudes
                        assertEquals(s, got[i * 20 + j], 8 * Math.ulp((float) scale), "C[" + i + "][" + j + "] colA=" + colA);
                    }
                }
            }
        } finally {
            rt.free(da);
            rt.free(db);
            rt.free(dc);
        }
    }

    /** A fragment call made by part of a warp, or by a block that is not whole warps, fails the launch. */
    @Test
    void divergentWarpCollectivesAreReported() {
        Kernels.host();
        for (int[] c : new int[][]{{64, 16}, {48, 32}}) {
            HostKernelRunner rt = Kernels.host().withMaxShared(48 * 1024);
            try {
                KernelException e = assertThrows(KernelException.class,
                        () -> rt.launch("emu_wmma_divergent", Dim3.of(1), Dim3.of(c[0]), 0, c[1]));
                assertTrue(e.getMessage().contains(c[0] == 64 ? "divergent warp-collective" : "not a whole number of warps"),
                        e.getMessage());
            } finally {
                rt.close();
            }
        }
        HostKernelRunner rt = Kernels.host();
        rt.launch("emu_wmma_divergent", Dim3.of(2), Dim3.of(64), 0, 32); // every lane: fine
    }
}
