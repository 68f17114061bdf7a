package dev.pdecnn.cuda;

import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fused PDE kernels (and the per-step kernels larger planes use) against the double-precision CPU
 * reference: forward output and all six backward gradients, element by element, for every velocity mode
 * (learned, zero) and diffusivity mode (learned tensors, constant, zero), K in {1, 2, 5}, batch > 1, plane
 * sizes that are not multiples of the block size, several planes per block, and both element types.
 */
class PdeKernelTest {
    /** Device lifetimes are explicit: the backends this test made give their buffers back. */
    @org.junit.jupiter.api.AfterEach
    void releaseBackends() {
        Kernels.releaseTracked();
    }

    enum Velocity { LEARNED, ZERO }

    enum Diffusivity { LEARNED, CONSTANT, ZERO }

    /** n, c, h, w: odd tiny planes, 4 planes per block with a partial last block, 143-point planes (160
     *  threads), 28x28 (4 points per thread, 224 threads), 32x32 (a full 256-thread block), and 40x36 (too
     *  large for one block: per-step kernels). */
    static final int[][] SHAPES = {{1, 1, 5, 7}, {2, 3, 8, 8}, {2, 2, 13, 11}, {1, 2, 28, 28}, {2, 1, 32, 32},
            {1, 1, 40, 36}};

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (int[] s : SHAPES) {
            for (int k : new int[]{1, 2, 5}) {
                for (Velocity v : Velocity.values()) {
                    for (Diffusivity d : Diffusivity.values()) {
                        for (DType t : DType.values()) {
                            out.add(Arguments.of(s[0], s[1], s[2], s[3], k, v, d, t));
                        }
                    }
                }
            }
        }
        return out.stream();
    }

    /** The per-step kernels, forced on small planes (normally they run only where a plane does not fit). */
    static Stream<Arguments> stepCases() {
        List<Arguments> out = new ArrayList<>();
        for (int[] s : new int[][]{{2, 2, 6, 9}, {1, 3, 16, 16}}) {
            for (int k : new int[]{1, 2, 5}) {
                for (Velocity v : Velocity.values()) {
                    for (Diffusivity d : Diffusivity.values()) {
                        for (DType t : DType.values()) {
                            out.add(Arguments.of(s[0], s[1], s[2], s[3], k, v, d, t));
                        }
                    }
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}x{1}x{2}x{3} K={4} v={5} D={6} {7}")
    @MethodSource("cases")
    void fusedEqualsCpuReference(int n, int c, int h, int w, int k, Velocity vel, Diffusivity dif, DType t) {
        CudaBackend be = Kernels.backend(t);
        dev.pdecnn.backend.cuda.PdeKernels.Plan fwd = be.pdePlan(n * c, h, w, k, false), bwd = be.pdePlan(n * c, h, w, k, true);
        if (h * w <= 1024) {
            assertTrue(fwd.fused(), "forward of planes up to 32x32 runs fused");
            if ((k + 6) * h * w * t.bytes <= 48 * 1024) {
                assertTrue(bwd.fused(), "backward fused when its K + 6 planes fit 48 KiB");
            }
        } else {
            assertFalse(fwd.fused(), "a " + h + "x" + w + " plane does not fit one block");
        }
        check(be, n, c, h, w, k, vel, dif, t, new PdeSpec(k, 0.2, 1, 1));
    }

    @ParameterizedTest(name = "{0}x{1}x{2}x{3} K={4} v={5} D={6} {7}")
    @MethodSource("stepCases")
    void stepKernelsEqualCpuReference(int n, int c, int h, int w, int k, Velocity vel, Diffusivity dif, DType t) {
        CudaBackend be = Kernels.track(new CudaBackend(Kernels.runner(), t,
                Kernels.backend(t).options().withPdeStepKernels(true)));
        assertFalse(be.pdePlan(n * c, h, w, k, false).fused());
        check(be, n, c, h, w, k, vel, dif, t, new PdeSpec(k, 0.2, 1.3, 0.8));
    }

    /** With an H100's 227 KiB opt-in, a 32x32 double backward with K = 5 (88 KiB) stays fused. */
    @Test
    void largeSharedMemoryKeepsDoublePlanesFused() {
        int shared = 227 * 1024;
        CudaBackend be = Kernels.track(new CudaBackend(Kernels.runner(shared), DType.F64));
        dev.pdecnn.backend.cuda.PdeKernels.Plan plan = be.pdePlan(3, 32, 32, 5, true);
        assertTrue(plan.fused());
        assertEquals(11 * 1024 * 8, plan.shared());
        check(be, 1, 3, 32, 32, 5, Velocity.LEARNED, Diffusivity.LEARNED, DType.F64, new PdeSpec(5, 0.2, 1, 1));
    }

    /** Only the requested gradients are computed; the others may be null. */
    @Test
    void partialGradientRequests() {
        Kernels.assumeAvailable();
        for (boolean steps : new boolean[]{false, true}) {
            CudaBackend be = Kernels.track(new CudaBackend(Kernels.runner(), DType.F64,
                    Kernels.backend(DType.F64).options().withPdeStepKernels(steps)));
            SplittableRandom r = new SplittableRandom(7);
            int[] sh = {2, 2, 9, 10};
            Tensor f = Check.pair(r, sh)[1], h = Check.pair(r, sh)[1], u = Check.pair(r, sh)[1], v = Check.pair(r, sh)[1];
            Tensor dx = Check.pair(r, 0.5, 0, true, sh)[1], dy = Check.pair(r, 0.5, 0, true, sh)[1];
            Tensor go = Check.pair(r, sh)[1];
            PdeSpec s = new PdeSpec(3, 0.2, 1, 1);
            ReferenceBackend cpu = new ReferenceBackend();
            Tensor[] ref = grads(sh, DType.F64);
            cpu.pdeBackward(f, h, u, v, dx, dy, 0, s, go, ref[0], ref[1], ref[2], ref[3], ref[4], ref[5]);
            Tensor gh = Tensor.zeros(DType.F64, sh), gu = Tensor.zeros(DType.F64, sh), gv = Tensor.zeros(DType.F64, sh);
            be.pdeBackward(f, h, u, v, dx, dy, 0, s, go, null, gh, gu, gv, null, null);
            Check.scaled("gh only", ref[1], gh, Check.F64_TOL);
            Check.scaled("gu only", ref[2], gu, Check.F64_TOL);
            Check.scaled("gv only", ref[3], gv, Check.F64_TOL);
        }
    }

    private static Tensor[] grads(int[] shape, DType t) {
        Tensor[] g = new Tensor[6];
        for (int i = 0; i < 6; i++) {
            g[i] = Tensor.zeros(t, shape);
        }
        return g;
    }

    static void check(CudaBackend be, int n, int c, int h, int w, int k, Velocity vel, Diffusivity dif, DType t,
                      PdeSpec s) {
        SplittableRandom r = new SplittableRandom(((n * 31L + c) * 31 + h) * 31 + w + 1000L * k + 17 * vel.ordinal()
                + 5 * dif.ordinal());
        int[] sh = {n, c, h, w};
        Tensor[] f = Check.pair(r, sh), hh = Check.pair(r, sh);
        Tensor[] u = vel == Velocity.LEARNED ? Check.pair(r, sh) : null;
        Tensor[] v = vel == Velocity.LEARNED ? Check.pair(r, sh) : null;
        Tensor[] dx = dif == Diffusivity.LEARNED ? Check.pair(r, 0.6, 0, true, sh) : null;
        Tensor[] dy = dif == Diffusivity.LEARNED ? Check.pair(r, 0.6, 0, true, sh) : null;
        double dConst = dif == Diffusivity.CONSTANT ? 1.0 : 0.0;
        Tensor[] go = Check.pair(r, sh);
        boolean wantVel = vel == Velocity.LEARNED, wantD = dif == Diffusivity.LEARNED;

        ReferenceBackend cpu = new ReferenceBackend();
        Tensor refOut = Tensor.zeros(DType.F64, sh);
        cpu.pdeForward(f[1], hh[1], Check.of(u, DType.F64), Check.of(v, DType.F64), Check.of(dx, DType.F64),
                Check.of(dy, DType.F64), dConst, s, refOut);
        Tensor[] ref = grads(sh, DType.F64);
        cpu.pdeBackward(f[1], hh[1], Check.of(u, DType.F64), Check.of(v, DType.F64), Check.of(dx, DType.F64),
                Check.of(dy, DType.F64), dConst, s, go[1], ref[0], ref[1], wantVel ? ref[2] : null,
                wantVel ? ref[3] : null, wantD ? ref[4] : null, wantD ? ref[5] : null);

        Tensor out = Tensor.zeros(t, sh);
        be.pdeForward(Check.of(f, t), Check.of(hh, t), Check.of(u, t), Check.of(v, t), Check.of(dx, t),
                Check.of(dy, t), dConst, s, out);
        double tol = Check.tol(t);
        Check.scaled("forward", refOut, out, tol);
        Tensor[] got = grads(sh, t);
        be.pdeBackward(Check.of(f, t), Check.of(hh, t), Check.of(u, t), Check.of(v, t), Check.of(dx, t),
                Check.of(dy, t), dConst, s, Check.of(go, t), got[0], got[1], wantVel ? got[2] : null,
                wantVel ? got[3] : null, wantD ? got[4] : null, wantD ? got[5] : null);
        String[] names = {"gf", "gh", "gu", "gv", "gDx", "gDy"};
        for (int i = 0; i < 6; i++) {
            if ((i == 2 || i == 3) && !wantVel || (i == 4 || i == 5) && !wantD) {
                continue;
            }
            Check.scaled(names[i], ref[i], got[i], tol);
        }
    }
}
