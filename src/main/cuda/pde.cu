// The Global layer's time stepping (docs/design.md §1), forward and exact backward, fused.
//
// Math. Per (n, c) plane of H x W points, periodic in both directions, with dt, dx, dy:
//   ux = (u[i-1,j] - u[i+1,j]) / (2dx)   vy = (v[i,j-1] - v[i,j+1]) / (2dy)
//   Ax = u dt/dx  Ay = v dt/dy  Bx = Dx dt/dx^2  By = Dy dt/dy^2  E = (ux + vy) dt
//   L = 1 / (1 + 2Bx + 2By)   M = 1 - 2Bx - 2By
//   H(-1) = f, H(0) = h,
//   H(k+1) = c0 H(k-1) + c1 H(k) + cxm H(k)[i-1] + cxp H(k)[i+1] + cym H(k)[j-1] + cyp H(k)[j+1] + cf
//   with c0 = L M, c1 = -2 E L, cxm = L (2Bx - Ax), cxp = L (2Bx + Ax), cym = L (2By - Ay),
//   cyp = L (2By + Ay), cf = 2 dt L f. u, v null: zero velocity; Dx, Dy null: the constant dConst.
// The backward pass is the adjoint recursion: with G(K) = dLoss/dH(K), for k = K-1 .. 0
//   G(k-1) += c0 G(k+1);  G(k) += c1 G(k+1) + (transposed stencil of G(k+1));
//   gc_t += G(k+1) * (the state that coefficient t multiplies)
// and the seven coefficient gradients gc_t chain to L, M, E, A, B and so to u, v, Dx, Dy, f; gh = G(0),
// gf = G(-1) + 2 dt L gc_f. The coefficients are computed inside the kernels from u, v, Dx, Dy, f (in
// double, rounded to T once, exactly as the CPU reference does); they are never materialised in global memory.
//
// Kernels and the bytes they move (P = planes * H * W points, T = sizeof(element)):
//  pde_forward_fused:  one block owns ppb whole planes in shared memory and runs all K steps.
//                      Global: reads f, h, u, v, Dx, Dy once (<= 6 P T; u and v neighbour reads hit cache),
//                      writes out once (P T). Shared: 2 state planes per owned plane (double buffer),
//                      4 shared accesses + 1 store per point and step; coefficients live in registers.
//  pde_backward_fused: one block owns ppb whole planes; recomputes the states H(1)..H(K-1) into shared
//                      memory (nothing is stored between forward and backward), then runs the adjoint.
//                      Global: reads f, h, u, v, Dx, Dy, gOut (7 P T; the final chain re-reads u, v, Dx, Dy,
//                      which the block read moments before, so mostly from L2), writes gf, gh, gu, gv, gDx,
//                      gDy once (6 P T). Shared per owned plane: K states + 2 adjoint buffers + 4 neighbour
//                      coefficient planes = (K + 6) H W T bytes (44 KiB for 32x32 float and K = 5).
//  Larger planes (or K too large for shared memory) use per-step launches on global memory:
//   pde_step:          one step, next = stencil(prev, cur); next may alias prev. Per step reads prev, cur
//                      (+ neighbours from cache), f, u, v, Dx, Dy and writes next: about 8 P T.
//   pde_adjoint_step:  one reverse step; reads H(k-1), H(k), G(k+1), partial G(k), the 7 coefficient-gradient
//                      planes, u, v, Dx, Dy; writes G(k), partial G(k-1) and the 7 planes: about 24 P T.
//   pde_grad_chain, pde_grad_e: the chain to gf, gh, gu, gv, gDx, gDy (gE goes through one scratch plane).
//   The fallback's backward stores the K-1 intermediate states: (K-1) P T bytes of scratch, plus 3 adjoint
//   planes, 7 coefficient-gradient planes and 1 gE plane (11 P T).
#include "common.cuh"

/** Points per thread of the fused kernels: a block of B threads owns up to PDE_RMAX * B points. */
#define PDE_RMAX 4
/** The most threads per block the launcher uses for the fused kernels. */
#define PDE_MAX_THREADS 256
/**
 * Dynamic shared memory of the fused kernels, in planes of ppb * H * W elements: the forward's double-buffered
 * state; the backward's four neighbour-coefficient planes and two adjoint buffers, followed by the K states.
 */
#define PDE_FWD_SHARED_PLANES 2
#define PDE_BWD_SHARED_FIXED_PLANES 6

struct PdeConsts {
    double dt, ax, ay, bx, by, ex, ey;
};

__device__ __forceinline__ PdeConsts pde_consts(double dt, double dx, double dy) {
    PdeConsts c;
    c.dt = dt;
    c.ax = dt / dx;
    c.ay = dt / dy;
    c.bx = dt / (dx * dx);
    c.by = dt / (dy * dy);
    c.ex = dt / (2 * dx);
    c.ey = dt / (2 * dy);
    return c;
}

/** Indices of a point and its four periodic neighbours, relative to the start of its plane. */
struct PdeIdx {
    int q, xm, xp, ym, yp;  // xm = [i-1, j], xp = [i+1, j], ym = [i, j-1], yp = [i, j+1]
};

__device__ __forceinline__ PdeIdx pde_idx(int q, int H, int W) {
    const int i = q / W;
    const int j = q - i * W;
    PdeIdx r;
    r.q = q;
    r.xm = pd_wrap_dec(i, H) * W + j;
    r.xp = pd_wrap_inc(i, H) * W + j;
    r.ym = i * W + pd_wrap_dec(j, W);
    r.yp = i * W + pd_wrap_inc(j, W);
    return r;
}

/** The physical quantities at one point, in double. */
struct PdePoint {
    double uu, vv, e, dxv, dyv, axv, ayv, bxv, byv, l, m;
};

/** p + off, or null for an absent (null) tensor. */
template <typename T>
__device__ __forceinline__ const T* pd_at(const T* p, size_t off) {
    return p == nullptr ? nullptr : p + off;
}

/** u, v, dX, dY point at the plane (null: zero velocity / constant diffusivity); q, n are plane-relative. */
template <typename T>
__device__ __forceinline__ PdePoint pde_point(const T* planeU, const T* planeV, const T* dX, const T* dY,
                                              double dConst, const PdeConsts& k, int q, const PdeIdx& n, bool withE) {
    PdePoint p;
    p.uu = 0;
    p.vv = 0;
    p.e = 0;
    if (planeU != nullptr) {
        p.uu = planeU[q];
        p.vv = planeV[q];
        if (withE) {
            p.e = k.ex * (double)(planeU[n.xm] - planeU[n.xp]) + k.ey * (double)(planeV[n.ym] - planeV[n.yp]);
        }
    }
    p.dxv = dX == nullptr ? dConst : (double)dX[q];
    p.dyv = dY == nullptr ? dConst : (double)dY[q];
    p.axv = p.uu * k.ax;
    p.ayv = p.vv * k.ay;
    p.bxv = p.dxv * k.bx;
    p.byv = p.dyv * k.by;
    p.l = 1.0 / (1 + 2 * p.bxv + 2 * p.byv);
    p.m = 1 - 2 * p.bxv - 2 * p.byv;
    return p;
}

template <typename T>
struct PdeCoef {
    T c0, c1, cxm, cxp, cym, cyp, cf;
};

template <typename T>
__device__ __forceinline__ PdeCoef<T> pde_coef(const PdePoint& p, const PdeConsts& k, T fv) {
    PdeCoef<T> c;
    c.c0 = (T)(p.l * p.m);
    c.c1 = (T)(-2 * p.e * p.l);
    c.cxm = (T)(p.l * (2 * p.bxv - p.axv));
    c.cxp = (T)(p.l * (2 * p.bxv + p.axv));
    c.cym = (T)(p.l * (2 * p.byv - p.ayv));
    c.cyp = (T)(p.l * (2 * p.byv + p.ayv));
    c.cf = (T)(2 * k.dt * p.l * (double)fv);
    return c;
}

/** Gradients of one point from its seven coefficient gradients (the chain through L, M, E, A, B). */
template <typename T>
struct PdeChain {
    T gf, gu, gv, gdx, gdy, gE;
};

template <typename T>
__device__ __forceinline__ PdeChain<T> pde_chain(const PdePoint& p, const PdeConsts& k, double fv, const T gc[7],
                                                 T gMinus1) {
    const double g0 = gc[0], g1 = gc[1], gxm = gc[2], gxp = gc[3], gym = gc[4], gyp = gc[5], gcf = gc[6];
    const double gl = g0 * p.m + g1 * (-2 * p.e) + gxm * (2 * p.bxv - p.axv) + gxp * (2 * p.bxv + p.axv)
                      + gym * (2 * p.byv - p.ayv) + gyp * (2 * p.byv + p.ayv) + gcf * 2 * k.dt * fv;
    const double gm = g0 * p.l;
    const double gAx = p.l * (gxp - gxm), gAy = p.l * (gyp - gym);
    const double gBx = 2 * p.l * (gxm + gxp) - 2 * p.l * p.l * gl - 2 * gm;
    const double gBy = 2 * p.l * (gym + gyp) - 2 * p.l * p.l * gl - 2 * gm;
    PdeChain<T> r;
    r.gE = (T)(-2 * p.l * g1);
    r.gf = (T)(gMinus1 + 2 * k.dt * p.l * gcf);
    r.gu = (T)(gAx * k.ax);
    r.gv = (T)(gAy * k.ay);
    r.gdx = (T)(gBx * k.bx);
    r.gdy = (T)(gBy * k.by);
    return r;
}

/** The E-term of du, dv: u[i] enters ux[i+1] with + and ux[i-1] with -, v likewise along j. */
template <typename T>
__device__ __forceinline__ T pde_e_term(const PdeConsts& k, double spacingTerm, T eNext, T ePrev) {
    return (T)(k.dt * spacingTerm * (double)(eNext - ePrev));
}

// ------------------------------------------------------------------------------------------------ fused

/** Where one owned point of a fused-kernel thread lives. */
struct PdeSlot {
    bool active;
    int s;        // slot in the block's shared planes
    int plane;    // global plane index
    PdeIdx n;     // neighbours within the plane (plane-relative)
    int sb;       // first slot of this point's plane in shared memory
};

__device__ __forceinline__ PdeSlot pde_slot(int r, int planes, int H, int W, int ppb) {
    const int hw = H * W;
    PdeSlot sl;
    sl.s = threadIdx.x + r * blockDim.x;
    const int p = sl.s / hw;
    sl.plane = blockIdx.x * ppb + p;
    sl.active = sl.s < ppb * hw && sl.plane < planes;
    sl.sb = p * hw;
    sl.n = pde_idx(sl.active ? sl.s - p * hw : 0, H, W);
    return sl;
}

#define PDE_FWD_PARAMS(T)                                                                                   \
    const T *__restrict__ f, const T *__restrict__ h, const T *__restrict__ u, const T *__restrict__ v,     \
        const T *__restrict__ dX, const T *__restrict__ dY, double dConst, int planes, int H, int W, int K, \
        double dt, double dx, double dy, int ppb, T *__restrict__ out

/**
 * All K steps for ppb planes per block, states in shared memory. Launch: grid = ceil(planes / ppb),
 * block = B threads with PDE_RMAX * B >= ppb * H * W,
 * dynamic shared = PDE_FWD_SHARED_PLANES * ppb * H * W * sizeof(T).
 */
template <typename T>
__device__ void pde_forward_fused_impl(PDE_FWD_PARAMS(T)) {
    PDECNN_DYNAMIC_SHARED(T, sm);
    const int hw = H * W;
    const int S = ppb * hw;
    PDECNN_CHECK((int)blockDim.x * PDE_RMAX >= S);
    const PdeConsts kc = pde_consts(dt, dx, dy);
    PdeSlot sl[PDE_RMAX];
    PdeCoef<T> co[PDE_RMAX];
    T hp[PDE_RMAX], hc[PDE_RMAX];
    T* cur = sm;
    T* nxt = sm + S;
#pragma unroll
    for (int r = 0; r < PDE_RMAX; r++) {
        sl[r] = pde_slot(r, planes, H, W, ppb);
        if (sl[r].active) {
            const size_t base = (size_t)sl[r].plane * hw;
            const int q = sl[r].n.q;
            const PdePoint pt = pde_point(pd_at(u, base), pd_at(v, base), pd_at(dX, base), pd_at(dY, base), dConst, kc, q, sl[r].n, true);
            co[r] = pde_coef<T>(pt, kc, f[base + q]);
            hp[r] = f[base + q];
            hc[r] = h[base + q];
            cur[sl[r].s] = hc[r];
        }
    }
    __syncthreads();
    for (int k = 0; k < K; k++) {
#pragma unroll
        for (int r = 0; r < PDE_RMAX; r++) {
            if (sl[r].active) {
                const int b = sl[r].sb;
                const PdeIdx& n = sl[r].n;
                const PdeCoef<T>& c = co[r];
                const T next = c.c0 * hp[r] + c.c1 * hc[r] + c.cxm * cur[b + n.xm] + c.cxp * cur[b + n.xp]
                               + c.cym * cur[b + n.ym] + c.cyp * cur[b + n.yp] + c.cf;
                hp[r] = hc[r];
                hc[r] = next;
                nxt[sl[r].s] = next;
            }
        }
        __syncthreads();
        T* t = cur;
        cur = nxt;
        nxt = t;
    }
#pragma unroll
    for (int r = 0; r < PDE_RMAX; r++) {
        if (sl[r].active) {
            out[(size_t)sl[r].plane * hw + sl[r].n.q] = hc[r];
        }
    }
}
PDECNN_KERNELS_BOUNDED(pde_forward_fused, PDE_MAX_THREADS, PDE_FWD_PARAMS,
                       (f, h, u, v, dX, dY, dConst, planes, H, W, K, dt, dx, dy, ppb, out))

#define PDE_BWD_PARAMS(T)                                                                                     \
    const T *__restrict__ f, const T *__restrict__ h, const T *__restrict__ u, const T *__restrict__ v,       \
        const T *__restrict__ dX, const T *__restrict__ dY, double dConst, int planes, int H, int W, int K,   \
        double dt, double dx, double dy, int ppb, const T *__restrict__ gOut, T *__restrict__ gf,             \
        T *__restrict__ gh, T *__restrict__ gu, T *__restrict__ gv, T *__restrict__ gDx, T *__restrict__ gDy

/**
 * Exact backward of pde_forward_fused for ppb planes per block: recomputes H(0..K-1) into shared memory,
 * runs the adjoint with G double-buffered in shared memory, chains to every input gradient. Null gradient
 * pointers are skipped. Launch as the forward,
 * dynamic shared = (K + PDE_BWD_SHARED_FIXED_PLANES) * ppb * H * W * sizeof(T).
 */
template <typename T>
__device__ void pde_backward_fused_impl(PDE_BWD_PARAMS(T)) {
    PDECNN_DYNAMIC_SHARED(T, sm);
    const int hw = H * W;
    const int S = ppb * hw;
    PDECNN_CHECK((int)blockDim.x * PDE_RMAX >= S);
    const PdeConsts kc = pde_consts(dt, dx, dy);
    T* sxm = sm;           // the neighbour coefficients, read across points by the transposed stencil
    T* sxp = sm + S;
    T* sym = sm + 2 * S;
    T* syp = sm + 3 * S;
    T* gA = sm + 4 * S;    // adjoint double buffer
    T* gB = sm + 5 * S;
    T* st = sm + PDE_BWD_SHARED_FIXED_PLANES * S; // H(0) .. H(K-1), S each
    PdeSlot sl[PDE_RMAX];
    PdeCoef<T> co[PDE_RMAX];
    T fv[PDE_RMAX];
#pragma unroll
    for (int r = 0; r < PDE_RMAX; r++) {
        sl[r] = pde_slot(r, planes, H, W, ppb);
        if (sl[r].active) {
            const size_t base = (size_t)sl[r].plane * hw;
            const int q = sl[r].n.q;
            const PdePoint pt = pde_point(pd_at(u, base), pd_at(v, base), pd_at(dX, base), pd_at(dY, base), dConst, kc, q, sl[r].n, true);
            fv[r] = f[base + q];
            co[r] = pde_coef<T>(pt, kc, fv[r]);
            const int s = sl[r].s;
            sxm[s] = co[r].cxm;
            sxp[s] = co[r].cxp;
            sym[s] = co[r].cym;
            syp[s] = co[r].cyp;
            st[s] = h[base + q];
        }
    }
    __syncthreads();
    // forward recomputation of H(1) .. H(K-1)
    for (int k = 0; k + 1 < K; k++) {
        const T* cur = st + k * S;
        T* next = st + (k + 1) * S;
#pragma unroll
        for (int r = 0; r < PDE_RMAX; r++) {
            if (sl[r].active) {
                const int b = sl[r].sb, s = sl[r].s;
                const PdeIdx& n = sl[r].n;
                const PdeCoef<T>& c = co[r];
                const T prev = k == 0 ? fv[r] : st[(k - 1) * S + s];
                next[s] = c.c0 * prev + c.c1 * cur[s] + c.cxm * cur[b + n.xm] + c.cxp * cur[b + n.xp]
                          + c.cym * cur[b + n.ym] + c.cyp * cur[b + n.yp] + c.cf;
            }
        }
        __syncthreads();
    }
    // adjoint: gA holds G(k+1); gcur (registers) the partial G(k)
    T gcur[PDE_RMAX], gk[PDE_RMAX];
    T gc[PDE_RMAX][7];
#pragma unroll
    for (int r = 0; r < PDE_RMAX; r++) {
        gcur[r] = 0;
        gk[r] = 0;
#pragma unroll
        for (int t = 0; t < 7; t++) {
            gc[r][t] = 0;
        }
        if (sl[r].active) {
            gA[sl[r].s] = gOut[(size_t)sl[r].plane * hw + sl[r].n.q];
        }
    }
    __syncthreads();
    for (int k = K - 1; k >= 0; k--) {
        const T* hk = st + k * S;
#pragma unroll
        for (int r = 0; r < PDE_RMAX; r++) {
            if (sl[r].active) {
                const int b = sl[r].sb, s = sl[r].s;
                const PdeIdx& n = sl[r].n;
                const T g = gA[s];
                const T hkm = k == 0 ? fv[r] : st[(k - 1) * S + s];
                gc[r][0] += g * hkm;
                gc[r][1] += g * hk[s];
                gc[r][2] += g * hk[b + n.xm];
                gc[r][3] += g * hk[b + n.xp];
                gc[r][4] += g * hk[b + n.ym];
                gc[r][5] += g * hk[b + n.yp];
                gc[r][6] += g;
                // H(k)[s] feeds next[s] (c1), next at [i+1] as its [i-1] neighbour (cxm there), and so on
                gk[r] = gcur[r] + (co[r].c1 * g + sxm[b + n.xp] * gA[b + n.xp] + sxp[b + n.xm] * gA[b + n.xm]
                                   + sym[b + n.yp] * gA[b + n.yp] + syp[b + n.ym] * gA[b + n.ym]);
                gcur[r] = co[r].c0 * g;
                gB[s] = gk[r];
            }
        }
        __syncthreads();
        T* t = gA;
        gA = gB;
        gB = t;
    }
    // now gk = G(0), gcur = G(-1); chain, with gE exchanged through gB
    T guPart[PDE_RMAX], gvPart[PDE_RMAX];
#pragma unroll
    for (int r = 0; r < PDE_RMAX; r++) {
        guPart[r] = 0;
        gvPart[r] = 0;
        if (sl[r].active) {
            const size_t base = (size_t)sl[r].plane * hw;
            const int q = sl[r].n.q;
            const PdePoint pt = pde_point(pd_at(u, base), pd_at(v, base), pd_at(dX, base), pd_at(dY, base), dConst, kc, q, sl[r].n, true);
            const PdeChain<T> ch = pde_chain<T>(pt, kc, (double)fv[r], gc[r], gcur[r]);
            gB[sl[r].s] = ch.gE;
            if (gf != nullptr) {
                gf[base + q] = ch.gf;
            }
            if (gh != nullptr) {
                gh[base + q] = gk[r];
            }
            if (gDx != nullptr) {
                gDx[base + q] = ch.gdx;
            }
            if (gDy != nullptr) {
                gDy[base + q] = ch.gdy;
            }
            guPart[r] = ch.gu;
            gvPart[r] = ch.gv;
        }
    }
    __syncthreads();
    if (gu != nullptr) {
        const double gex = kc.ex / kc.dt, gey = kc.ey / kc.dt;
#pragma unroll
        for (int r = 0; r < PDE_RMAX; r++) {
            if (sl[r].active) {
                const size_t base = (size_t)sl[r].plane * hw;
                const int b = sl[r].sb;
                const PdeIdx& n = sl[r].n;
                gu[base + n.q] = guPart[r] + pde_e_term<T>(kc, gex, gB[b + n.xp], gB[b + n.xm]);
                gv[base + n.q] = gvPart[r] + pde_e_term<T>(kc, gey, gB[b + n.yp], gB[b + n.ym]);
            }
        }
    }
}
PDECNN_KERNELS_BOUNDED(pde_backward_fused, PDE_MAX_THREADS, PDE_BWD_PARAMS,
                       (f, h, u, v, dX, dY, dConst, planes, H, W, K, dt, dx, dy, ppb, gOut, gf, gh, gu, gv, gDx, gDy))

// ------------------------------------------------------------------------------------- per-step fallback

#define PDE_STEP_PARAMS(T)                                                                                       \
    const T *__restrict__ f, const T *__restrict__ u, const T *__restrict__ v, const T *__restrict__ dX,         \
        const T *__restrict__ dY, double dConst, int planes, int H, int W, double dt, double dx, double dy,      \
        const T *prev, const T *__restrict__ cur, T *next

/** One step on global memory for every point: next = stencil(prev, cur). next may alias prev (not cur). */
template <typename T>
__device__ void pde_step_impl(PDE_STEP_PARAMS(T)) {
    const int hw = H * W;
    const PdeConsts kc = pde_consts(dt, dx, dy);
    PDECNN_FOR(idx, planes * hw) {
        const int p = idx / hw;
        const size_t base = (size_t)p * hw;
        const PdeIdx n = pde_idx(idx - p * hw, H, W);
        const PdePoint pt = pde_point(pd_at(u, base), pd_at(v, base), pd_at(dX, base), pd_at(dY, base), dConst, kc, n.q, n, true);
        const PdeCoef<T> c = pde_coef<T>(pt, kc, f[idx]);
        const T* cp = cur + base;
        next[idx] = c.c0 * prev[idx] + c.c1 * cp[n.q] + c.cxm * cp[n.xm] + c.cxp * cp[n.xp] + c.cym * cp[n.ym]
                    + c.cyp * cp[n.yp] + c.cf;
    }
}
PDECNN_KERNELS(pde_step, PDE_STEP_PARAMS, (f, u, v, dX, dY, dConst, planes, H, W, dt, dx, dy, prev, cur, next))

/** cxm, cxp, cym, cyp at one point (they do not involve E, so no velocity neighbours are read). */
template <typename T>
__device__ __forceinline__ PdeCoef<T> pde_side_coef(const T* u, const T* v, const T* dX, const T* dY,
                                                    double dConst, const PdeConsts& kc, size_t base, int q) {
    const PdeIdx none = {q, q, q, q, q};
    const PdePoint pt = pde_point(pd_at(u, base), pd_at(v, base), pd_at(dX, base), pd_at(dY, base), dConst, kc, q,
                                  none, false);
    return pde_coef<T>(pt, kc, (T)0);
}

#define PDE_ADJ_PARAMS(T)                                                                                        \
    const T *__restrict__ u, const T *__restrict__ v, const T *__restrict__ dX, const T *__restrict__ dY,        \
        double dConst, int planes, int H, int W, double dt, double dx, double dy, const T *__restrict__ hPrev,  \
        const T *__restrict__ hCur, const T *__restrict__ gNext, T *gCur, T *__restrict__ gPrev,                \
        T *__restrict__ gc, int first

/**
 * One reverse step k on global memory. hPrev = H(k-1), hCur = H(k), gNext = G(k+1) (complete);
 * gCur holds the partial G(k) (ignored when first != 0) and receives the complete G(k); gPrev receives the
 * partial G(k-1) = c0 G(k+1); gc (7 planes of planes*H*W) accumulates the coefficient gradients
 * (initialised when first != 0).
 */
template <typename T>
__device__ void pde_adjoint_step_impl(PDE_ADJ_PARAMS(T)) {
    const int hw = H * W;
    const int P = planes * hw;
    const PdeConsts kc = pde_consts(dt, dx, dy);
    PDECNN_FOR(idx, P) {
        const int p = idx / hw;
        const size_t base = (size_t)p * hw;
        const PdeIdx n = pde_idx(idx - p * hw, H, W);
        const PdePoint pt = pde_point(pd_at(u, base), pd_at(v, base), pd_at(dX, base), pd_at(dY, base), dConst, kc, n.q, n, true);
        const PdeCoef<T> c = pde_coef<T>(pt, kc, (T)0);
        const T* hk = hCur + base;
        const T* gn = gNext + base;
        const T g = gn[n.q];
        const T contrib[7] = {g * hPrev[idx], g * hk[n.q], g * hk[n.xm], g * hk[n.xp], g * hk[n.ym], g * hk[n.yp], g};
        for (int t = 0; t < 7; t++) {
            T* a = gc + (size_t)t * P + idx;
            *a = first ? contrib[t] : *a + contrib[t];
        }
        const T cxmBelow = pde_side_coef<T>(u, v, dX, dY, dConst, kc, base, n.xp).cxm;
        const T cxpAbove = pde_side_coef<T>(u, v, dX, dY, dConst, kc, base, n.xm).cxp;
        const T cymRight = pde_side_coef<T>(u, v, dX, dY, dConst, kc, base, n.yp).cym;
        const T cypLeft = pde_side_coef<T>(u, v, dX, dY, dConst, kc, base, n.ym).cyp;
        const T partial = first ? (T)0 : gCur[idx];
        gCur[idx] = partial + (c.c1 * g + cxmBelow * gn[n.xp] + cxpAbove * gn[n.xm] + cymRight * gn[n.yp]
                               + cypLeft * gn[n.ym]);
        gPrev[idx] = c.c0 * g;
    }
}
PDECNN_KERNELS(pde_adjoint_step, PDE_ADJ_PARAMS,
               (u, v, dX, dY, dConst, planes, H, W, dt, dx, dy, hPrev, hCur, gNext, gCur, gPrev, gc, first))

#define PDE_CHAIN_PARAMS(T)                                                                                      \
    const T *__restrict__ f, const T *__restrict__ u, const T *__restrict__ v, const T *__restrict__ dX,         \
        const T *__restrict__ dY, double dConst, int planes, int H, int W, double dt, double dx, double dy,      \
        const T *__restrict__ gc, const T *__restrict__ gMinus1, const T *__restrict__ g0, T *__restrict__ gf, \
        T *__restrict__ gh, T *__restrict__ gu, T *__restrict__ gv, T *__restrict__ gDx, T *__restrict__ gDy,  \
        T *__restrict__ gE

/** Chain of the fallback backward: coefficient gradients -> gf, gh, gDx, gDy, the A-part of gu, gv, and gE. */
template <typename T>
__device__ void pde_grad_chain_impl(PDE_CHAIN_PARAMS(T)) {
    const int hw = H * W;
    const int P = planes * hw;
    const PdeConsts kc = pde_consts(dt, dx, dy);
    PDECNN_FOR(idx, P) {
        const int p = idx / hw;
        const size_t base = (size_t)p * hw;
        const PdeIdx n = pde_idx(idx - p * hw, H, W);
        const PdePoint pt = pde_point(pd_at(u, base), pd_at(v, base), pd_at(dX, base), pd_at(dY, base), dConst, kc, n.q, n, true);
        T g[7];
        for (int t = 0; t < 7; t++) {
            g[t] = gc[(size_t)t * P + idx];
        }
        const PdeChain<T> ch = pde_chain<T>(pt, kc, (double)f[idx], g, gMinus1[idx]);
        gE[idx] = ch.gE;
        if (gf != nullptr) {
            gf[idx] = ch.gf;
        }
        if (gh != nullptr) {
            gh[idx] = g0[idx];
        }
        if (gu != nullptr) {
            gu[idx] = ch.gu;
            gv[idx] = ch.gv;
        }
        if (gDx != nullptr) {
            gDx[idx] = ch.gdx;
        }
        if (gDy != nullptr) {
            gDy[idx] = ch.gdy;
        }
    }
}
PDECNN_KERNELS(pde_grad_chain, PDE_CHAIN_PARAMS,
               (f, u, v, dX, dY, dConst, planes, H, W, dt, dx, dy, gc, gMinus1, g0, gf, gh, gu, gv, gDx, gDy, gE))

#define PDE_GE_PARAMS(T) \
    const T *__restrict__ gE, int planes, int H, int W, double dt, double dx, double dy, T *gu, T *gv

/** Adds the E-term to gu and gv (after pde_grad_chain wrote their A-part). */
template <typename T>
__device__ void pde_grad_e_impl(PDE_GE_PARAMS(T)) {
    const int hw = H * W;
    const PdeConsts kc = pde_consts(dt, dx, dy);
    const double gex = kc.ex / kc.dt, gey = kc.ey / kc.dt;
    PDECNN_FOR(idx, planes * hw) {
        const int p = idx / hw;
        const T* e = gE + (size_t)p * hw;
        const PdeIdx n = pde_idx(idx - p * hw, H, W);
        gu[idx] = gu[idx] + pde_e_term<T>(kc, gex, e[n.xp], e[n.xm]);
        gv[idx] = gv[idx] + pde_e_term<T>(kc, gey, e[n.yp], e[n.ym]);
    }
}
PDECNN_KERNELS(pde_grad_e, PDE_GE_PARAMS, (gE, planes, H, W, dt, dx, dy, gu, gv))
