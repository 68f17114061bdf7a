// Perona–Malik diffusivity (docs/design.md §1, diffusivity = perona_malik), forward and backward.
//   Sx h[i,j] = sum_t w_t (h[r(i+1), r(j+t)] - h[r(i-1), r(j+t)]),  Sy likewise along j,  w = (1, 2, 1),
//   r = reflect padding (-1 -> 1, n -> n-2);
//   Dx = 1 / (1 + (Sx h)^2 / lambda^2),  Dy = 1 / (1 + (Sy h)^2 / lambda^2)   (inv2 = 1 / lambda^2)
// Backward (accumulates into gh): gs_x(p) = gDx(p) * (-2 Sx(p) inv2 Dx(p)^2) and the transposed Sobel
// stencil. It is computed as a gather, one thread per output point q, so no atomics are needed: every tap of
// a point p lands within distance 1 of p even after reflection, so the points whose stencils touch q are
// the (clipped) 3x3 window around q, and each contributes gs(p) times the summed weight of its taps on q.
// One thread per point (launch: 256 threads). Bytes: forward reads P T (+ neighbours from cache), writes
// 2P T; backward reads 3P T (+ neighbourhoods from cache), reads and writes gh (2P T).
#include "common.cuh"

__device__ __forceinline__ int pm_weight(int t) {
    return t == 0 ? 2 : 1;
}

/** The two Sobel responses at (i, j) of a plane. */
template <typename T>
__device__ __forceinline__ void pm_sobel(const T* h, int H, int W, int i, int j, double& sx, double& sy) {
    sx = 0;
    sy = 0;
    const int ip = pd_reflect(i + 1, H), im = pd_reflect(i - 1, H);
    const int jp = pd_reflect(j + 1, W), jm = pd_reflect(j - 1, W);
    for (int t = -1; t <= 1; t++) {
        const int wt = pm_weight(t);
        const int jj = pd_reflect(j + t, W), ii = pd_reflect(i + t, H);
        sx += wt * (h[ip * W + jj] - h[im * W + jj]);
        sy += wt * (h[ii * W + jp] - h[ii * W + jm]);
    }
}

#define PM_FWD_PARAMS(T) \
    const T *__restrict__ h, int planes, int H, int W, double inv2, T *__restrict__ dX, T *__restrict__ dY
template <typename T>
__device__ void pm_forward_impl(PM_FWD_PARAMS(T)) {
    const int hw = H * W;
    PDECNN_FOR(idx, planes * hw) {
        const int p = idx / hw;
        const int q = idx - p * hw;
        const int i = q / W, j = q - (q / W) * W;
        double sx, sy;
        pm_sobel(h + (size_t)p * hw, H, W, i, j, sx, sy);
        dX[idx] = (T)(1.0 / (1 + sx * sx * inv2));
        dY[idx] = (T)(1.0 / (1 + sy * sy * inv2));
    }
}
PDECNN_KERNELS(pm_forward, PM_FWD_PARAMS, (h, planes, H, W, inv2, dX, dY))

#define PM_BWD_PARAMS(T)                                                                                 \
    const T *__restrict__ h, int planes, int H, int W, double inv2, const T *__restrict__ gDx,          \
        const T *__restrict__ gDy, T *__restrict__ gh
template <typename T>
__device__ void pm_backward_impl(PM_BWD_PARAMS(T)) {
    const int hw = H * W;
    PDECNN_FOR(idx, planes * hw) {
        const int pl = idx / hw;
        const int q = idx - pl * hw;
        const int a = q / W, b = q - (q / W) * W;
        const T* hp = h + (size_t)pl * hw;
        double acc = 0;
        for (int i = a - 1; i <= a + 1; i++) {
            if (i < 0 || i >= H) {
                continue;
            }
            for (int j = b - 1; j <= b + 1; j++) {
                if (j < 0 || j >= W) {
                    continue;
                }
                // weight of q in p = (i, j)'s two stencils
                const int ip = pd_reflect(i + 1, H), im = pd_reflect(i - 1, H);
                const int jp = pd_reflect(j + 1, W), jm = pd_reflect(j - 1, W);
                int wx = 0, wy = 0;
                for (int t = -1; t <= 1; t++) {
                    const int wt = pm_weight(t);
                    const int jj = pd_reflect(j + t, W), ii = pd_reflect(i + t, H);
                    if (jj == b) {
                        wx += wt * ((ip == a) - (im == a));
                    }
                    if (ii == a) {
                        wy += wt * ((jp == b) - (jm == b));
                    }
                }
                if (wx == 0 && wy == 0) {
                    continue;
                }
                double sx, sy;
                pm_sobel(hp, H, W, i, j, sx, sy);
                const size_t pidx = (size_t)pl * hw + i * W + j;
                const double ddx = 1.0 / (1 + sx * sx * inv2), ddy = 1.0 / (1 + sy * sy * inv2);
                const double gsx = gDx[pidx] * (-2 * sx * inv2 * ddx * ddx);
                const double gsy = gDy[pidx] * (-2 * sy * inv2 * ddy * ddy);
                acc += wx * gsx + wy * gsy;
            }
        }
        gh[idx] = (T)(gh[idx] + acc);
    }
}
PDECNN_KERNELS(pm_backward, PM_BWD_PARAMS, (h, planes, H, W, inv2, gDx, gDy, gh))
