// On-device batch construction: gather, zero-pad + random crop, horizontal flip, normalisation, in one pass.
//   out[j, c, oy, ox] = lut[c * 256 + pixels[index[j], c, oy + dy_j, sx]],  sx = (flip_j ? W-1-ox : ox) + dx_j,
//   or 0 where (oy + dy_j, sx) falls outside the image (padding is 0 in normalised space).
// lut[c * 256 + v] = (v / 255 - mean_c) / std_c, built once on the host (the DataLoader's table), so the
// device result is bit-identical to the host loader's. The random offsets and flips are drawn on the host.
// One thread per output element (launch: 256 threads). Reads at most n C H W bytes (+ 4n ints), writes
// n C H W T.
#include "common.cuh"

#define AUG_PARAMS(T)                                                                                          \
    const unsigned char *__restrict__ pixels, const int *__restrict__ index, const int *__restrict__ shiftY, \
        const int *__restrict__ shiftX, const int *__restrict__ flip, const T *__restrict__ lut, int n, int C, \
        int H, int W, T *__restrict__ out
template <typename T>
__device__ void augment_impl(AUG_PARAMS(T)) {
    const int plane = H * W;
    PDECNN_FOR(o, n * C * plane) {
        const int j = o / (C * plane);
        const int r = o - j * C * plane;
        const int c = r / plane;
        const int q = r - c * plane;
        const int oy = q / W, ox = q - (q / W) * W;
        const int sy = oy + shiftY[j];
        const int sx = (flip[j] != 0 ? W - 1 - ox : ox) + shiftX[j];
        T val = 0;
        if (sy >= 0 && sy < H && sx >= 0 && sx < W) {
            val = lut[c * 256 + pixels[((size_t)index[j] * C + c) * plane + sy * W + sx]];
        }
        out[o] = val;
    }
}
PDECNN_KERNELS(augment, AUG_PARAMS, (pixels, index, shiftY, shiftX, flip, lut, n, C, H, W, out))
