package dev.pdecnn.backend.cuda;

import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.tensor.Tensor;

import static dev.pdecnn.backend.cuda.Launcher.THREADS;
import static dev.pdecnn.backend.cuda.Launcher.ceilDiv;

/**
 * The launches of {@code pde.cu}, the Global layer's K explicit steps on periodic planes (planes of h x w): fused
 * (one block owns {@code ppb} whole planes in shared memory and runs every step; the backward recomputes the
 * states and runs the adjoint there too) when the planes fit a block, else per-step kernels on global memory.
 * The pointers u, v (velocities) and dX, dY (diffusivities) may be NULL: zero velocity, the constant dConst.
 */
public final class PdeKernels {
    /** Points per thread of the fused kernels (PDE_RMAX). */
    static final int RMAX = 4;
    /** The most threads per block of the fused kernels (PDE_MAX_THREADS, their __launch_bounds__). */
    static final int MAX_THREADS = 256;
    /** Shared memory of the fused forward per owned plane, in planes (PDE_FWD_SHARED_PLANES): the state, twice. */
    static final int FWD_SHARED_PLANES = 2;
    /**
     * Shared memory of the fused backward per owned plane, in planes, besides the K states
     * (PDE_BWD_SHARED_FIXED_PLANES): four neighbour coefficients and two adjoint buffers.
     */
    static final int BWD_SHARED_FIXED_PLANES = 6;
    /** Warp size: the fused kernels' blocks are whole warps. */
    static final int WARP = 32;

    /**
     * How the PDE runs for one shape: fused (a block owns {@code ppb} whole planes, {@code threads} threads,
     * {@code shared} bytes) or, when {@code fused} is false, per-step kernels on global memory.
     */
    public record Plan(boolean fused, int ppb, int threads, int blocks, int shared) {
    }

    private final Launcher l;
    private final int maxSharedBytes;
    private final boolean stepKernels;

    /** {@code maxSharedBytes}: dynamic shared memory a block may use; {@code stepKernels}: never fuse. */
    PdeKernels(Launcher launcher, int maxSharedBytes, boolean stepKernels) {
        this.l = launcher;
        this.maxSharedBytes = maxSharedBytes;
        this.stepKernels = stepKernels;
    }

    /** The launch plan of the forward ({@code backward} false) or the backward. */
    Plan plan(int planes, int h, int w, int k, boolean backward) {
        int hw = h * w;
        int perPlane = (backward ? k + BWD_SHARED_FIXED_PLANES : FWD_SHARED_PLANES) * hw * l.dtype().bytes;
        int ppb = hw >= MAX_THREADS ? 1 : Math.max(1, Math.min(planes, MAX_THREADS / hw));
        while (ppb > 1 && (long) ppb * perPlane > maxSharedBytes) {
            ppb--;
        }
        int slots = ppb * hw;
        boolean fused = !stepKernels && slots <= RMAX * MAX_THREADS && (long) ppb * perPlane <= maxSharedBytes;
        if (!fused) {
            return new Plan(false, 0, THREADS, 0, 0);
        }
        int r = ceilDiv(slots, MAX_THREADS);
        int threads = Math.min(MAX_THREADS, ceilDiv(ceilDiv(slots, r), WARP) * WARP);
        return new Plan(true, ppb, threads, ceilDiv(planes, ppb), ppb * perPlane);
    }

    /** out = H(K) from H(-1) = f and H(0) = h; the per-step path's intermediate states come from {@code sc}. */
    void forward(DevicePtr f, DevicePtr h, DevicePtr u, DevicePtr v, DevicePtr dX, DevicePtr dY, double dConst,
                 int planes, int hh, int w, PdeSpec s, DevicePtr out, Scratch sc) {
        int k = s.steps();
        Plan plan = plan(planes, hh, w, k, false);
        if (plan.fused()) {
            l.launch("pde_forward_fused", Dim3.of(plan.blocks()), Dim3.of(plan.threads()), plan.shared(), f, h, u, v,
                    dX, dY, dConst, planes, hh, w, k, s.dt(), s.dx(), s.dy(), plan.ppb(), out);
            return;
        }
        long n = (long) planes * hh * w;
        DevicePtr a = sc.elems(n, "PDE state"), b = k > 2 ? sc.elems(n, "PDE state") : DevicePtr.NULL;
        DevicePtr prev = f, cur = h;
        for (int step = 0; step < k; step++) {
            DevicePtr next = step == k - 1 ? out : step % 2 == 0 ? a : b;
            l.launch1d("pde_step", n, f, u, v, dX, dY, dConst, planes, hh, w, s.dt(), s.dx(), s.dy(), prev, cur, next);
            prev = cur;
            cur = next;
        }
    }

    /**
     * The gradients of out = H(K) given gOut (each written; NULL skips it; gu/gv and gDx/gDy in pairs). The
     * per-step path stores the K-1 intermediate states, three adjoint planes and the seven coefficient-gradient
     * planes in {@code sc}.
     */
    void backward(DevicePtr f, DevicePtr h, DevicePtr u, DevicePtr v, DevicePtr dX, DevicePtr dY, double dConst,
                  int planes, int hh, int w, PdeSpec s, DevicePtr gOut, DevicePtr gf, DevicePtr gh, DevicePtr gu,
                  DevicePtr gv, DevicePtr gDx, DevicePtr gDy, Scratch sc) {
        int k = s.steps();
        Plan plan = plan(planes, hh, w, k, true);
        if (plan.fused()) {
            l.launch("pde_backward_fused", Dim3.of(plan.blocks()), Dim3.of(plan.threads()), plan.shared(), f, h, u, v,
                    dX, dY, dConst, planes, hh, w, k, s.dt(), s.dx(), s.dy(), plan.ppb(), gOut, gf, gh, gu, gv, gDx, gDy);
            return;
        }
        long n = (long) planes * hh * w, bytes = n * l.dtype().bytes;
        // the K-1 intermediate states H(1) .. H(K-1)
        DevicePtr states = k > 1 ? sc.elems((k - 1) * n, "PDE states H(1)..H(K-1)") : DevicePtr.NULL;
        DevicePtr[] st = new DevicePtr[k + 1]; // st[j] = H(j - 1)
        st[0] = f;
        st[1] = h;
        for (int j = 2; j <= k; j++) {
            st[j] = states.plus((j - 2) * bytes);
        }
        for (int step = 0; step + 1 < k; step++) {
            l.launch1d("pde_step", n, f, u, v, dX, dY, dConst, planes, hh, w, s.dt(), s.dx(), s.dy(), st[step],
                    st[step + 1], st[step + 2]);
        }
        DevicePtr gNext = gOut, gCur = sc.elems(n, "adjoint"), gPrev = sc.elems(n, "adjoint"), spare = sc.elems(n, "adjoint");
        DevicePtr gc = sc.elems(7 * n, "coefficient gradients");
        for (int step = k - 1; step >= 0; step--) {
            l.launch1d("pde_adjoint_step", n, u, v, dX, dY, dConst, planes, hh, w, s.dt(), s.dx(), s.dy(), st[step],
                    st[step + 1], gNext, gCur, gPrev, gc, step == k - 1 ? 1 : 0);
            DevicePtr freed = gNext == gOut ? spare : gNext;
            gNext = gCur;
            gCur = gPrev;
            gPrev = freed;
        }
        // gNext = G(0), gCur = G(-1)
        DevicePtr gE = gPrev;
        l.launch1d("pde_grad_chain", n, f, u, v, dX, dY, dConst, planes, hh, w, s.dt(), s.dx(), s.dy(), gc, gCur,
                gNext, gf, gh, gu, gv, gDx, gDy, gE);
        if (!gu.isNull()) {
            l.launch1d("pde_grad_e", n, gE, planes, hh, w, s.dt(), s.dx(), s.dy(), gu, gv);
        }
    }

    /** Shape checks of the operation, before any buffer is resolved. */
    static void checkShapes(Tensor f, Tensor... others) {
        for (Tensor t : others) {
            if (t != null && !t.sameShape(f)) {
                throw new IllegalArgumentException("PDE tensors must share a shape: " + f + " vs " + t);
            }
        }
        if (f.rank() != 4) {
            throw new IllegalArgumentException("PDE tensors are NCHW, got " + f);
        }
    }
}
