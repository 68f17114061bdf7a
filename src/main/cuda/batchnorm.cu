// Batch normalisation over (N, H, W) per channel, normalised with the biased batch variance var; PyTorch's
// running-statistics update run = (1 - momentum) run + momentum batch, where runVar takes the unbiased
// var m/(m-1) (m = N H W values per channel; var itself when m == 1, a batch PyTorch refuses in training).
// Statistics are reduced in double, deterministically:
//  bn_partial_sums:      grid (splits, C), 256 threads: block (s, c) sums d = x - x[0, c, 0] and d^2 over its
//                        slice of the channel's N H W elements (the shift keeps E[d^2] - E[d]^2 exact
//                        enough in double). Reads P T (P = N C H W), writes 2 C splits doubles.
//  bn_train_finalize:    one thread per channel: adds the slices in order; mean, var, inv = 1/sqrt(var+eps);
//                        writes saveMean, saveInvStd, updates runMean, runVar (var m/(m-1)); scale = gamma inv,
//                        shift = beta - mean gamma inv into scaleShift (2 C T).
//  bn_eval_finalize:     scale, shift from the running statistics.
//  bn_apply:             y = x scale[c] + shift[c], or max(that, 0) with relu != 0 (BN + ReLU fused). Reads P T,
//                        writes P T.
//  bn_backward_partial:  grid (splits, C): sums gy and gy (x - mean). Reads 2P T. With the ReLU's output y
//                        (BN + ReLU fused), gy is masked to y > 0 on the fly (3P T, no temporary).
//  bn_backward_finalize: per channel: gGamma += sum(gy xhat), gBeta += sum(gy) (accumulated), and the
//                        coefficients of gx = a gy + b x + c0 with a = gamma inv, b = -gamma inv^2 sum(gy xhat)/m,
//                        c0 = gamma inv (-sum(gy) + sum(gy xhat) inv mean) / m.
//  bn_backward_apply:    gx = a gy + b x + c0 (gy masked as above when y is given). Reads 2P T (3P), writes P T.
// Training forward: 2 passes over x (3P T moved); backward: 2 passes (5P T).
#include "common.cuh"

/** The [lo, hi) element slice of split s of a channel with n elements. */
__device__ __forceinline__ void bn_slice(int n, int splits, int s, int& lo, int& hi) {
    const int chunk = (n + splits - 1) / splits;
    lo = s * chunk < n ? s * chunk : n;
    hi = lo + chunk < n ? lo + chunk : n;
}

#define BN_PSUM_PARAMS(T) const T *__restrict__ x, int N, int C, int HW, int splits, double *__restrict__ partial
template <typename T>
__device__ void bn_partial_sums_impl(BN_PSUM_PARAMS(T)) {
    __shared__ double scratch[PDECNN_REDUCE_MAX_THREADS];
    const int s = blockIdx.x, c = blockIdx.y;
    int lo, hi;
    bn_slice(N * HW, splits, s, lo, hi);
    const double shift = x[(size_t)c * HW];
    double s1 = 0, s2 = 0;
    for (int e = lo + threadIdx.x; e < hi; e += blockDim.x) {
        const int img = e / HW, q = e - (e / HW) * HW;
        const double d = x[((size_t)img * C + c) * HW + q] - shift;
        s1 += d;
        s2 += d * d;
    }
    s1 = pd_block_sum(s1, scratch);
    s2 = pd_block_sum(s2, scratch);
    if (threadIdx.x == 0) {
        partial[((size_t)c * splits + s) * 2] = s1;
        partial[((size_t)c * splits + s) * 2 + 1] = s2;
    }
}
PDECNN_KERNELS(bn_partial_sums, BN_PSUM_PARAMS, (x, N, C, HW, splits, partial))

#define BN_TFIN_PARAMS(T)                                                                                     \
    const double *__restrict__ partial, int splits, const T *__restrict__ x, int C, int HW, double count,     \
        const T *__restrict__ gamma, const T *__restrict__ beta, T *__restrict__ runMean, T *__restrict__ runVar, \
        double momentum, double eps, T *__restrict__ saveMean, T *__restrict__ saveInvStd, T *__restrict__ scaleShift
template <typename T>
__device__ void bn_train_finalize_impl(BN_TFIN_PARAMS(T)) {
    PDECNN_FOR(c, C) {
        double s1 = 0, s2 = 0;
        for (int s = 0; s < splits; s++) {
            s1 += partial[((size_t)c * splits + s) * 2];
            s2 += partial[((size_t)c * splits + s) * 2 + 1];
        }
        const double d = s1 / count;
        const double mean = (double)x[(size_t)c * HW] + d;
        double var = s2 / count - d * d;
        var = var < 0 ? 0 : var;
        const double inv = 1.0 / sqrt(var + eps);
        saveMean[c] = (T)mean;
        saveInvStd[c] = (T)inv;
        runMean[c] = (T)((1 - momentum) * runMean[c] + momentum * mean);
        // unbiased running variance (PyTorch); count == 1 has none (PyTorch refuses it): biased var there
        const double varUnbiased = count > 1 ? var * count / (count - 1) : var;
        runVar[c] = (T)((1 - momentum) * runVar[c] + momentum * varUnbiased);
        scaleShift[2 * c] = (T)(gamma[c] * inv);
        scaleShift[2 * c + 1] = (T)(beta[c] - mean * gamma[c] * inv);
    }
}
PDECNN_KERNELS(bn_train_finalize, BN_TFIN_PARAMS,
               (partial, splits, x, C, HW, count, gamma, beta, runMean, runVar, momentum, eps, saveMean, saveInvStd,
                scaleShift))

#define BN_EFIN_PARAMS(T)                                                                                      \
    const T *__restrict__ gamma, const T *__restrict__ beta, const T *__restrict__ runMean,                    \
        const T *__restrict__ runVar, int C, double eps, T *__restrict__ scaleShift
template <typename T>
__device__ void bn_eval_finalize_impl(BN_EFIN_PARAMS(T)) {
    PDECNN_FOR(c, C) {
        const double inv = 1.0 / sqrt(runVar[c] + eps);
        scaleShift[2 * c] = (T)(gamma[c] * inv);
        scaleShift[2 * c + 1] = (T)(beta[c] - runMean[c] * gamma[c] * inv);
    }
}
PDECNN_KERNELS(bn_eval_finalize, BN_EFIN_PARAMS, (gamma, beta, runMean, runVar, C, eps, scaleShift))

// relu != 0 fuses the following ReLU (y = max(., 0), exactly the relu kernel's value): one pass, no temporary.
#define BN_APPLY_PARAMS(T) \
    const T *__restrict__ x, const T *__restrict__ scaleShift, T *__restrict__ y, int N, int C, int HW, int relu
template <typename T>
__device__ void bn_apply_impl(BN_APPLY_PARAMS(T)) {
    PDECNN_FOR(i, N * C * HW) {
        const int c = (i / HW) % C;
        const T v = x[i] * scaleShift[2 * c] + scaleShift[2 * c + 1];
        y[i] = relu != 0 && !(v > 0) ? (T)0 : v;
    }
}
PDECNN_KERNELS(bn_apply, BN_APPLY_PARAMS, (x, scaleShift, y, N, C, HW, relu))

// y non-null: the BN fed a ReLU whose output is y, and gy is the ReLU's output gradient; the ReLU backward
// (gy where y > 0, else 0) is applied on the fly here and in bn_backward_apply (reads n T more, no temporary).
#define BN_BPART_PARAMS(T)                                                                                 \
    const T *__restrict__ x, const T *__restrict__ gy, const T *__restrict__ y, const T *__restrict__ saveMean, \
        int N, int C, int HW, int splits, double *__restrict__ partial
template <typename T>
__device__ void bn_backward_partial_impl(BN_BPART_PARAMS(T)) {
    __shared__ double scratch[PDECNN_REDUCE_MAX_THREADS];
    const int s = blockIdx.x, c = blockIdx.y;
    int lo, hi;
    bn_slice(N * HW, splits, s, lo, hi);
    const double mean = saveMean[c];
    double sg = 0, sgx = 0;
    for (int e = lo + threadIdx.x; e < hi; e += blockDim.x) {
        const int img = e / HW, q = e - (e / HW) * HW;
        const size_t i = ((size_t)img * C + c) * HW + q;
        const double g = y == nullptr || y[i] > 0 ? gy[i] : (T)0;
        sg += g;
        sgx += g * (x[i] - mean);
    }
    sg = pd_block_sum(sg, scratch);
    sgx = pd_block_sum(sgx, scratch);
    if (threadIdx.x == 0) {
        partial[((size_t)c * splits + s) * 2] = sg;
        partial[((size_t)c * splits + s) * 2 + 1] = sgx;
    }
}
PDECNN_KERNELS(bn_backward_partial, BN_BPART_PARAMS, (x, gy, y, saveMean, N, C, HW, splits, partial))

#define BN_BFIN_PARAMS(T)                                                                                  \
    const double *__restrict__ partial, int splits, int C, double count, const T *__restrict__ gamma,      \
        const T *__restrict__ saveMean, const T *__restrict__ saveInvStd, T *__restrict__ gGamma,          \
        T *__restrict__ gBeta, T *__restrict__ coef
template <typename T>
__device__ void bn_backward_finalize_impl(BN_BFIN_PARAMS(T)) {
    PDECNN_FOR(c, C) {
        double sg = 0, sgx = 0;
        for (int s = 0; s < splits; s++) {
            sg += partial[((size_t)c * splits + s) * 2];
            sgx += partial[((size_t)c * splits + s) * 2 + 1];
        }
        const double mean = saveMean[c], inv = saveInvStd[c];
        const double sgxhat = sgx * inv;
        gGamma[c] = gGamma[c] + (T)sgxhat;
        gBeta[c] = gBeta[c] + (T)sg;
        const double k = gamma[c] * inv / count;
        coef[3 * c] = (T)(k * count);
        coef[3 * c + 1] = (T)(-k * sgxhat * inv);
        coef[3 * c + 2] = (T)(k * (-sg + sgxhat * inv * mean));
    }
}
PDECNN_KERNELS(bn_backward_finalize, BN_BFIN_PARAMS,
               (partial, splits, C, count, gamma, saveMean, saveInvStd, gGamma, gBeta, coef))

#define BN_BAPPLY_PARAMS(T)                                                                             \
    const T *__restrict__ x, const T *__restrict__ gy, const T *__restrict__ y, const T *__restrict__ coef, \
        T *__restrict__ gx, int N, int C, int HW
template <typename T>
__device__ void bn_backward_apply_impl(BN_BAPPLY_PARAMS(T)) {
    PDECNN_FOR(i, N * C * HW) {
        const int c = (i / HW) % C;
        const T g = y == nullptr || y[i] > 0 ? gy[i] : (T)0;
        gx[i] = coef[3 * c] * g + coef[3 * c + 1] * x[i] + coef[3 * c + 2];
    }
}
PDECNN_KERNELS(bn_backward_apply, BN_BAPPLY_PARAMS, (x, gy, y, coef, gx, N, C, HW))
