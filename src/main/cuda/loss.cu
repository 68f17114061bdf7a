// Softmax cross-entropy over n samples of k logits, one thread per sample (launch: 128 threads per block).
//   loss[i] = log(sum_j exp(l_ij - max_i)) - (l_i,y - max_i)        (double; the caller averages in order)
//   gLogits[i, j] = (softmax_ij - [j == y_i]) / n                    (when gLogits is not null)
//   pred[i] = argmax_j l_ij (first maximum)                          (when pred is not null)
// Reads n k T and n labels; writes n k T, n ints and n doubles. exp and log in double, as on the CPU.
// Labels must lie in [0, k) (the caller checks).
#include "common.cuh"

#define XENT_PARAMS(T)                                                                                     \
    const T *__restrict__ logits, const int *__restrict__ labels, int n, int k, T *__restrict__ gLogits, \
        int *__restrict__ pred, double *__restrict__ loss
template <typename T>
__device__ void softmax_xent_impl(XENT_PARAMS(T)) {
    PDECNN_FOR(i, n) {
        const T* l = logits + (size_t)i * k;
        double mx = -INFINITY;
        int arg = 0;
        for (int j = 0; j < k; j++) {
            if (l[j] > mx) {
                mx = l[j];
                arg = j;
            }
        }
        double z = 0;
        for (int j = 0; j < k; j++) {
            z += exp(l[j] - mx);
        }
        const int y = labels[i];
        loss[i] = log(z) - (l[y] - mx);
        if (pred != nullptr) {
            pred[i] = arg;
        }
        if (gLogits != nullptr) {
            for (int j = 0; j < k; j++) {
                const double p = exp(l[j] - mx) / z;
                gLogits[(size_t)i * k + j] = (T)((p - (j == y ? 1 : 0)) / n);
            }
        }
    }
}
PDECNN_KERNELS(softmax_xent, XENT_PARAMS, (logits, labels, n, k, gLogits, pred, loss))
