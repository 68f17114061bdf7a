package dev.pdecnn.backend.reference;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.backend.Device;
import dev.pdecnn.backend.HostDevice;
import dev.pdecnn.backend.StepArena;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

/**
 * The float64 reference: every {@link Backend} operation written as plain loops straight from its equation, with
 * no tiling, no threads and no rearrangement for speed. The finite-difference gradient checks run on it, and the
 * fast CPU backend and every CUDA kernel are compared with it.
 *
 * <p>Every tensor argument is read into a fresh {@code double[]} of its own elements ({@link #read}: through
 * {@link Tensor#copy}, so a view at any offset, of either dtype, reads its own window) and results are written
 * back element by element ({@link #write}), so views are honoured and nothing outside a tensor's window is
 * touched. Outputs and activation gradients are written; parameter gradients are read, added to and written
 * back (accumulated), as the {@link Backend} conventions require. Aliased arguments (add's y = a, batch norm's
 * gx = gy) are safe because every input is read completely before any output is written.
 *
 * <p>Index conventions (NCHW, row-major): element (n, c, i, j) of an N x C x H x W tensor is at
 * ((n C + c) H + i) W + j; i is the row (dimension 2, "x" in the PDE), j the column (dimension 3, "y").
 * The PDE and Perona–Malik operations live in {@link ReferencePde}.
 */
public final class ReferenceBackend implements Backend {
    /** A pooled arena, as the fast backend's: the same tensors every step (see {@link StepArena}). */
    private final HostDevice device = new HostDevice(this, StepArena.pooled(DType.F64));

    @Override
    public DType dtype() {
        return DType.F64;
    }

    @Override
    public Device device() {
        return device;
    }

    /** A tensor's elements (its own window when it is a view) as a fresh double[]. */
    static double[] read(Tensor t) {
        return t.to(DType.F64).f64();
    }

    /** Writes {@code a} over the tensor's elements (its window when it is a view). */
    static void write(Tensor t, double[] a) {
        if (a.length != t.size()) {
            throw new IllegalArgumentException("writing " + a.length + " values into " + t);
        }
        Tensor.of(a, t.shape()).copyInto(t);
    }

    /** t += a element-wise (parameter gradients accumulate). */
    static void accumulate(Tensor t, double[] a) {
        double[] cur = read(t);
        for (int i = 0; i < cur.length; i++) {
            cur[i] += a[i];
        }
        write(t, cur);
    }

    // ---------------------------------------------------------------- convolution

    /**
     * Cross-correlation with channel groups: the C input channels and Co output channels are split into G equal
     * groups; output channel o belongs to group g = o / (Co / G) and sees only input channels g C/G .. (g+1) C/G - 1.
     * <pre>
     *   y[n][o][oi][oj] = sum_{cl < C/G} sum_{ki < kh} sum_{kj < kw} w[o][cl][ki][kj] * x[n][g C/G + cl][ii][jj],
     *   ii = oi * stride - pad + ki,  jj = oj * stride - pad + kj,
     * </pre>
     * where x is zero outside the image (zero padding); Ho = (H + 2 pad - kh) / stride + 1, likewise Wo.
     */
    @Override
    public void conv2dForward(Tensor x, Tensor w, Tensor y, ConvSpec s) {
        Conv c = new Conv(x, w, s);
        c.checkOut(y);
        double[] X = read(x), W = read(w), Y = new double[y.size()];
        for (int n = 0; n < c.n; n++) {
            for (int o = 0; o < c.co; o++) {
                int g = o / c.cog;
                for (int oi = 0; oi < c.ho; oi++) {
                    for (int oj = 0; oj < c.wo; oj++) {
                        double sum = 0;
                        for (int cl = 0; cl < c.cg; cl++) {
                            for (int ki = 0; ki < c.kh; ki++) {
                                for (int kj = 0; kj < c.kw; kj++) {
                                    int ii = oi * c.stride - c.pad + ki, jj = oj * c.stride - c.pad + kj;
                                    if (ii >= 0 && ii < c.h && jj >= 0 && jj < c.w) {
                                        sum += W[c.wIdx(o, cl, ki, kj)] * X[c.xIdx(n, g * c.cg + cl, ii, jj)];
                                    }
                                }
                            }
                        }
                        Y[c.yIdx(n, o, oi, oj)] = sum;
                    }
                }
            }
        }
        write(y, Y);
    }

    /**
     * The forward sum differentiated term by term: every product w[o][cl][ki][kj] * x[n][ci][ii][jj] that
     * contributed to y[n][o][oi][oj] sends gy * w to gx[n][ci][ii][jj] and gy * x to gw[o][cl][ki][kj].
     * gx is written (zero, then the contributions), gw accumulated.
     */
    @Override
    public void conv2dBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, ConvSpec s) {
        Conv c = new Conv(x, w, s);
        c.checkOut(gy);
        double[] X = read(x), W = read(w), GY = read(gy);
        double[] GX = new double[x.size()], GW = new double[w.size()];
        for (int n = 0; n < c.n; n++) {
            for (int o = 0; o < c.co; o++) {
                int g = o / c.cog;
                for (int oi = 0; oi < c.ho; oi++) {
                    for (int oj = 0; oj < c.wo; oj++) {
                        double gyv = GY[c.yIdx(n, o, oi, oj)];
                        for (int cl = 0; cl < c.cg; cl++) {
                            for (int ki = 0; ki < c.kh; ki++) {
                                for (int kj = 0; kj < c.kw; kj++) {
                                    int ii = oi * c.stride - c.pad + ki, jj = oj * c.stride - c.pad + kj;
                                    if (ii >= 0 && ii < c.h && jj >= 0 && jj < c.w) {
                                        int xi = c.xIdx(n, g * c.cg + cl, ii, jj), wi = c.wIdx(o, cl, ki, kj);
                                        GX[xi] += gyv * W[wi];
                                        GW[wi] += gyv * X[xi];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if (gx != null) {
            write(gx, GX);
        }
        if (gw != null) {
            accumulate(gw, GW);
        }
    }

    /** Sizes and flat indices of a convolution. */
    private static final class Conv {
        final int n, c, h, w, co, kh, kw, stride, pad, groups, cg, cog, ho, wo;

        Conv(Tensor x, Tensor wt, ConvSpec s) {
            n = x.dim(0);
            c = x.dim(1);
            h = x.dim(2);
            w = x.dim(3);
            co = wt.dim(0);
            kh = wt.dim(2);
            kw = wt.dim(3);
            stride = s.stride();
            pad = s.pad();
            groups = s.groups();
            cg = c / groups;
            cog = co / groups;
            ho = s.outSize(h, kh);
            wo = s.outSize(w, kw);
            if (x.rank() != 4 || wt.rank() != 4 || c % groups != 0 || co % groups != 0 || wt.dim(1) != cg
                    || ho < 1 || wo < 1) {
                throw new IllegalArgumentException("conv shapes x=" + x + " w=" + wt + " " + s);
            }
        }

        void checkOut(Tensor y) {
            if (!y.hasShape(n, co, ho, wo)) {
                throw new IllegalArgumentException("conv output " + y + ", expected [" + n + ", " + co + ", " + ho
                        + ", " + wo + "]");
            }
        }

        int xIdx(int img, int ch, int i, int j) {
            return ((img * c + ch) * h + i) * w + j;
        }

        int wIdx(int o, int cl, int ki, int kj) {
            return ((o * cg + cl) * kh + ki) * kw + kj;
        }

        int yIdx(int img, int o, int i, int j) {
            return ((img * co + o) * ho + i) * wo + j;
        }
    }

    // ---------------------------------------------------------------- batch norm

    /**
     * Per channel ch over its m = N H W values: mean mu = sum x / m, biased variance var = sum (x - mu)^2 / m,
     * inv = 1 / sqrt(var + eps), y = gamma (x - mu) inv + beta. Saves mu and inv. Running statistics move by
     * run = (1 - momentum) run + momentum batch, the variance taking the unbiased var m / (m - 1) (the biased
     * var when m = 1, where there is no unbiased one).
     */
    @Override
    public void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar,
                               double momentum, double eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        double[] X = read(x), G = read(gamma), B = read(beta), RM = read(runMean), RV = read(runVar);
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c);
        double m = (double) n * hw;
        double[] Y = new double[X.length], SM = new double[c], SI = new double[c];
        for (int ch = 0; ch < c; ch++) {
            double sum = 0;
            for (int img = 0; img < n; img++) {
                for (int q = 0; q < hw; q++) {
                    sum += X[(img * c + ch) * hw + q];
                }
            }
            double mu = sum / m, sq = 0;
            for (int img = 0; img < n; img++) {
                for (int q = 0; q < hw; q++) {
                    double d = X[(img * c + ch) * hw + q] - mu;
                    sq += d * d;
                }
            }
            double var = sq / m, inv = 1 / Math.sqrt(var + eps);
            for (int img = 0; img < n; img++) {
                for (int q = 0; q < hw; q++) {
                    int i = (img * c + ch) * hw + q;
                    Y[i] = G[ch] * (X[i] - mu) * inv + B[ch];
                }
            }
            SM[ch] = mu;
            SI[ch] = inv;
            double unbiased = m > 1 ? var * m / (m - 1) : var;
            RM[ch] = (1 - momentum) * RM[ch] + momentum * mu;
            RV[ch] = (1 - momentum) * RV[ch] + momentum * unbiased;
        }
        write(y, Y);
        write(saveMean, SM);
        write(saveInvStd, SI);
        write(runMean, RM);
        write(runVar, RV);
    }

    /** y = gamma (x - runMean) / sqrt(runVar + eps) + beta per channel. */
    @Override
    public void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, double eps,
                              Tensor y) {
        double[] X = read(x), G = read(gamma), B = read(beta), RM = read(runMean), RV = read(runVar);
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c);
        double[] Y = new double[X.length];
        for (int i = 0; i < X.length; i++) {
            int ch = i / hw % c;
            Y[i] = G[ch] * (X[i] - RM[ch]) / Math.sqrt(RV[ch] + eps) + B[ch];
        }
        write(y, Y);
    }

    /**
     * With xhat = (x - mu) inv from the saved statistics and sums over the channel's m values:
     * gBeta += sum gy, gGamma += sum gy xhat, gx = gamma inv / m (m gy - sum gy - xhat sum gy xhat) (written).
     */
    @Override
    public void batchNormBackward(Tensor x, Tensor gy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                  Tensor gx, Tensor gGamma, Tensor gBeta) {
        double[] X = read(x), GY = read(gy), G = read(gamma), SM = read(saveMean), SI = read(saveInvStd);
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c);
        double m = (double) n * hw;
        double[] GX = new double[X.length], GG = new double[c], GB = new double[c];
        for (int ch = 0; ch < c; ch++) {
            double sg = 0, sgx = 0;
            for (int img = 0; img < n; img++) {
                for (int q = 0; q < hw; q++) {
                    int i = (img * c + ch) * hw + q;
                    sg += GY[i];
                    sgx += GY[i] * (X[i] - SM[ch]) * SI[ch];
                }
            }
            GB[ch] = sg;
            GG[ch] = sgx;
            for (int img = 0; img < n; img++) {
                for (int q = 0; q < hw; q++) {
                    int i = (img * c + ch) * hw + q;
                    double xhat = (X[i] - SM[ch]) * SI[ch];
                    GX[i] = G[ch] * SI[ch] / m * (m * GY[i] - sg - xhat * sgx);
                }
            }
        }
        if (gx != null) {
            write(gx, GX);
        }
        accumulate(gGamma, GG);
        accumulate(gBeta, GB);
    }

    // ---------------------------------------------------------------- element-wise and pooling

    /** y = max(x, 0). */
    @Override
    public void relu(Tensor x, Tensor y) {
        double[] X = read(x), Y = new double[X.length];
        for (int i = 0; i < X.length; i++) {
            Y[i] = Math.max(X[i], 0);
        }
        write(y, Y);
    }

    /** gx = gy where y > 0, else 0. */
    @Override
    public void reluBackward(Tensor y, Tensor gy, Tensor gx) {
        double[] Y = read(y), GY = read(gy), GX = new double[Y.length];
        for (int i = 0; i < Y.length; i++) {
            GX[i] = Y[i] > 0 ? GY[i] : 0;
        }
        write(gx, GX);
    }

    /** y = a + b. */
    @Override
    public void add(Tensor a, Tensor b, Tensor y) {
        if (a.size() != b.size() || a.size() != y.size()) {
            throw new IllegalArgumentException("add shapes " + a + " " + b + " " + y);
        }
        double[] A = read(a), B = read(b), Y = new double[A.length];
        for (int i = 0; i < A.length; i++) {
            Y[i] = A[i] + B[i];
        }
        write(y, Y);
    }

    /** y = max(a + b, 0); unlike the interface's default, a is left as it is (as the other backends do). */
    @Override
    public void addRelu(Tensor a, Tensor b, Tensor y) {
        if (a.size() != b.size() || a.size() != y.size()) {
            throw new IllegalArgumentException("addRelu shapes " + a + " " + b + " " + y);
        }
        double[] A = read(a), B = read(b), Y = new double[A.length];
        for (int i = 0; i < A.length; i++) {
            Y[i] = Math.max(A[i] + B[i], 0);
        }
        write(y, Y);
    }

    /** y[p][oi][oj] = mean of x[p][oi k + a][oj k + b] over a, b < k, per (n, c) plane p. */
    @Override
    public void avgPool(Tensor x, int k, Tensor y) {
        int planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3), ho = h / k, wo = w / k;
        if (h % k != 0 || w % k != 0 || y.dim(2) != ho || y.dim(3) != wo) {
            throw new IllegalArgumentException("avgPool " + k + " on " + x + " -> " + y);
        }
        double[] X = read(x), Y = new double[y.size()];
        for (int p = 0; p < planes; p++) {
            for (int oi = 0; oi < ho; oi++) {
                for (int oj = 0; oj < wo; oj++) {
                    double s = 0;
                    for (int a = 0; a < k; a++) {
                        for (int b = 0; b < k; b++) {
                            s += X[(p * h + oi * k + a) * w + oj * k + b];
                        }
                    }
                    Y[(p * ho + oi) * wo + oj] = s / (k * k);
                }
            }
        }
        write(y, Y);
    }

    /** gx[p][i][j] = gy[p][i / k][j / k] / k^2. */
    @Override
    public void avgPoolBackward(Tensor gy, int k, Tensor gx) {
        int planes = gx.dim(0) * gx.dim(1), h = gx.dim(2), w = gx.dim(3), ho = h / k, wo = w / k;
        double[] GY = read(gy), GX = new double[gx.size()];
        for (int p = 0; p < planes; p++) {
            for (int i = 0; i < h; i++) {
                for (int j = 0; j < w; j++) {
                    GX[(p * h + i) * w + j] = GY[(p * ho + i / k) * wo + j / k] / (k * k);
                }
            }
        }
        write(gx, GX);
    }

    // ---------------------------------------------------------------- dense and loss

    /** y[n][o] = sum_i x[n][i] w[o][i] + b[o] (no b: 0). */
    @Override
    public void dense(Tensor x, Tensor w, Tensor b, Tensor y) {
        int n = x.dim(0), in = x.size() / n, out = w.dim(0);
        if (w.dim(1) != in || y.size() != n * out) {
            throw new IllegalArgumentException("dense shapes x=" + x + " w=" + w + " y=" + y);
        }
        double[] X = read(x), W = read(w), B = b == null ? new double[out] : read(b), Y = new double[n * out];
        for (int s = 0; s < n; s++) {
            for (int o = 0; o < out; o++) {
                double sum = 0;
                for (int i = 0; i < in; i++) {
                    sum += X[s * in + i] * W[o * in + i];
                }
                Y[s * out + o] = sum + B[o];
            }
        }
        write(y, Y);
    }

    /** gx[n][i] = sum_o gy[n][o] w[o][i] (written); gw[o][i] += sum_n gy[n][o] x[n][i]; gb[o] += sum_n gy[n][o]. */
    @Override
    public void denseBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, Tensor gb) {
        int n = x.dim(0), in = x.size() / n, out = w.dim(0);
        double[] X = read(x), W = read(w), GY = read(gy);
        double[] GX = new double[n * in], GW = new double[out * in], GB = new double[out];
        for (int s = 0; s < n; s++) {
            for (int o = 0; o < out; o++) {
                double g = GY[s * out + o];
                for (int i = 0; i < in; i++) {
                    GX[s * in + i] += g * W[o * in + i];
                    GW[o * in + i] += g * X[s * in + i];
                }
                GB[o] += g;
            }
        }
        if (gx != null) {
            write(gx, GX);
        }
        if (gw != null) {
            accumulate(gw, GW);
        }
        if (gb != null) {
            accumulate(gb, GB);
        }
    }

    /**
     * Per sample with logits z (K classes) and label y: loss = log sum_j exp(z_j) - z_y, computed about the
     * maximum; the mean over the N samples is returned. d(mean loss)/dz_j = (softmax(z)_j - [j = y]) / N.
     * The prediction is the first index of the largest logit.
     */
    @Override
    public double softmaxCrossEntropy(Tensor logits, int[] labels, Tensor gLogits, int[] predictions) {
        double[] L = read(logits);
        int n = logits.dim(0), k = logits.size() / n;
        double[] G = new double[L.length];
        double total = 0;
        for (int s = 0; s < n; s++) {
            int y = labels[s];
            if (y < 0 || y >= k) {
                throw new IllegalArgumentException("label " + y + " outside [0, " + k + ")");
            }
            double mx = Double.NEGATIVE_INFINITY;
            int arg = 0;
            for (int j = 0; j < k; j++) {
                if (L[s * k + j] > mx) {
                    mx = L[s * k + j];
                    arg = j;
                }
            }
            double z = 0;
            for (int j = 0; j < k; j++) {
                z += Math.exp(L[s * k + j] - mx);
            }
            total += Math.log(z) - (L[s * k + y] - mx);
            for (int j = 0; j < k; j++) {
                G[s * k + j] = (Math.exp(L[s * k + j] - mx) / z - (j == y ? 1 : 0)) / n;
            }
            if (predictions != null) {
                predictions[s] = arg;
            }
        }
        if (gLogits != null) {
            write(gLogits, G);
        }
        return total / n;
    }

    // ---------------------------------------------------------------- PDE and Perona–Malik

    @Override
    public void pdeForward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst, PdeSpec s,
                           Tensor out) {
        ReferencePde.forward(f, h, u, v, dX, dY, dConst, s, out);
    }

    @Override
    public void pdeBackward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst, PdeSpec s,
                            Tensor gOut, Tensor gf, Tensor gh, Tensor gu, Tensor gv, Tensor gDx, Tensor gDy) {
        ReferencePde.backward(f, h, u, v, dX, dY, dConst, s, gOut, gf, gh, gu, gv, gDx, gDy);
    }

    @Override
    public void peronaMalik(Tensor h, double lambda, Tensor dX, Tensor dY) {
        ReferencePde.peronaMalik(h, lambda, dX, dY);
    }

    @Override
    public void peronaMalikBackward(Tensor h, double lambda, Tensor gDx, Tensor gDy, Tensor gh) {
        ReferencePde.peronaMalikBackward(h, lambda, gDx, gDy, gh);
    }

    // ---------------------------------------------------------------- optimizer

    /** vel = momentum vel - lr (g + wd w); w = w + vel. */
    @Override
    public void sgdStep(Tensor w, Tensor g, Tensor vel, double lr, double momentum, double wd) {
        double[] W = read(w), G = read(g), V = read(vel);
        for (int i = 0; i < W.length; i++) {
            V[i] = momentum * V[i] - lr * (G[i] + wd * W[i]);
            W[i] += V[i];
        }
        write(vel, V);
        write(w, W);
    }

    /** sum of w^2. */
    @Override
    public double sumSquares(Tensor w) {
        double s = 0;
        for (double x : read(w)) {
            s += x * x;
        }
        return s;
    }
}
