package dev.pdecnn.backend.cpu;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

/**
 * CPU backend on double[] arrays: the exact reference every other implementation is checked against.
 *
 * <p>This file is also the template of {@code CpuBackendF32}: {@code tools/gen-f32.sh} rewrites
 * {@code double[]} arrays, {@code double/*r*&#47;} scalars, {@code (double)} casts and {@code f64()}/{@code F64}
 * to their float forms. Scalars declared plainly {@code double} stay double in both, which is how sums and
 * statistics keep double accumulation on the float path. Edit only this file, then run the script.
 */
public final class CpuBackendF64 implements Backend {
    private static final ThreadLocal<double[][]> SCRATCH = ThreadLocal.withInitial(() -> new double[8][]);

    /** Per-thread buffer number {@code slot} with at least {@code n} elements (contents undefined). */
    private static double[] scratch(int slot, int n) {
        double[][] s = SCRATCH.get();
        if (s[slot] == null || s[slot].length < n) {
            s[slot] = new double[n];
        }
        return s[slot];
    }

    @Override
    public DType dtype() {
        return DType.F64;
    }

    // ---------------------------------------------------------------- convolution (im2col + GEMM per image)

    private static void im2col(double[] x, int xOff, int cg, int h, int w, int kh, int kw, ConvSpec s,
                               int ho, int wo, double[] col) {
        int p = ho * wo;
        for (int c = 0; c < cg; c++) {
            for (int ki = 0; ki < kh; ki++) {
                for (int kj = 0; kj < kw; kj++) {
                    int row = ((c * kh + ki) * kw + kj) * p;
                    for (int oi = 0; oi < ho; oi++) {
                        int ii = oi * s.stride() - s.pad() + ki;
                        int o = row + oi * wo;
                        if (ii < 0 || ii >= h) {
                            for (int oj = 0; oj < wo; oj++) {
                                col[o + oj] = 0;
                            }
                            continue;
                        }
                        int xr = xOff + (c * h + ii) * w;
                        for (int oj = 0; oj < wo; oj++) {
                            int jj = oj * s.stride() - s.pad() + kj;
                            col[o + oj] = jj >= 0 && jj < w ? x[xr + jj] : 0;
                        }
                    }
                }
            }
        }
    }

    private static void col2imAdd(double[] col, int cg, int h, int w, int kh, int kw, ConvSpec s, int ho, int wo,
                                  double[] gx, int gxOff) {
        int p = ho * wo;
        for (int c = 0; c < cg; c++) {
            for (int ki = 0; ki < kh; ki++) {
                for (int kj = 0; kj < kw; kj++) {
                    int row = ((c * kh + ki) * kw + kj) * p;
                    for (int oi = 0; oi < ho; oi++) {
                        int ii = oi * s.stride() - s.pad() + ki;
                        if (ii < 0 || ii >= h) {
                            continue;
                        }
                        int xr = gxOff + (c * h + ii) * w;
                        int o = row + oi * wo;
                        for (int oj = 0; oj < wo; oj++) {
                            int jj = oj * s.stride() - s.pad() + kj;
                            if (jj >= 0 && jj < w) {
                                gx[xr + jj] += col[o + oj];
                            }
                        }
                    }
                }
            }
        }
    }

    @Override
    public void conv2dForward(Tensor x, Tensor w, Tensor y, ConvSpec s) {
        double[] X = x.f64(), Wt = w.f64(), Y = y.f64();
        int n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3);
        int co = w.dim(0), kh = w.dim(2), kw = w.dim(3), g = s.groups();
        int cg = c / g, cog = co / g, k = cg * kh * kw;
        int ho = s.outSize(h, kh), wo = s.outSize(wd, kw), p = ho * wo;
        checkConv(x, w, y, s, ho, wo);
        Parallel.forEach(n, img -> {
            double[] col = scratch(0, k * p);
            for (int gi = 0; gi < g; gi++) {
                im2col(X, (img * c + gi * cg) * h * wd, cg, h, wd, kh, kw, s, ho, wo, col);
                for (int o = gi * cog; o < (gi + 1) * cog; o++) {
                    int yo = (img * co + o) * p;
                    for (int q = 0; q < p; q++) {
                        Y[yo + q] = 0;
                    }
                    for (int kk = 0; kk < k; kk++) {
                        double/*r*/ a = Wt[o * k + kk];
                        int cr = kk * p;
                        for (int q = 0; q < p; q++) {
                            Y[yo + q] += a * col[cr + q];
                        }
                    }
                }
            }
        });
    }

    @Override
    public void conv2dBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, ConvSpec s) {
        double[] X = x.f64(), Wt = w.f64(), GY = gy.f64();
        double[] GX = gx == null ? null : gx.f64();
        int n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3);
        int co = w.dim(0), kh = w.dim(2), kw = w.dim(3), g = s.groups();
        int cg = c / g, cog = co / g, k = cg * kh * kw;
        int ho = s.outSize(h, kh), wo = s.outSize(wd, kw), p = ho * wo;
        checkConv(x, w, gy, s, ho, wo);
        int chunks = Parallel.chunks(n);
        double[][] gwPart = new double[chunks][];
        Parallel.forChunks(n, (chunk, lo, hi) -> {
            double[] col = scratch(0, k * p);
            double[] dcol = scratch(1, k * p);
            double[] part = gw == null ? null : new double[co * k];
            gwPart[chunk] = part;
            for (int img = lo; img < hi; img++) {
                int xOff = img * c * h * wd;
                if (GX != null) {
                    for (int i = 0; i < c * h * wd; i++) {
                        GX[xOff + i] = 0;
                    }
                }
                for (int gi = 0; gi < g; gi++) {
                    int gOff = xOff + gi * cg * h * wd;
                    if (part != null) {
                        im2col(X, gOff, cg, h, wd, kh, kw, s, ho, wo, col);
                        for (int o = gi * cog; o < (gi + 1) * cog; o++) {
                            int yo = (img * co + o) * p;
                            for (int kk = 0; kk < k; kk++) {
                                int cr = kk * p;
                                double acc = 0;
                                for (int q = 0; q < p; q++) {
                                    acc += GY[yo + q] * col[cr + q];
                                }
                                part[o * k + kk] += acc;
                            }
                        }
                    }
                    if (GX != null) {
                        for (int i = 0; i < k * p; i++) {
                            dcol[i] = 0;
                        }
                        for (int o = gi * cog; o < (gi + 1) * cog; o++) {
                            int yo = (img * co + o) * p;
                            for (int kk = 0; kk < k; kk++) {
                                double/*r*/ a = Wt[o * k + kk];
                                int cr = kk * p;
                                for (int q = 0; q < p; q++) {
                                    dcol[cr + q] += a * GY[yo + q];
                                }
                            }
                        }
                        col2imAdd(dcol, cg, h, wd, kh, kw, s, ho, wo, GX, gOff);
                    }
                }
            }
        });
        if (gw != null) {
            double[] GW = gw.f64();
            for (double[] part : gwPart) {
                for (int i = 0; i < part.length; i++) {
                    GW[i] += part[i];
                }
            }
        }
    }

    private static void checkConv(Tensor x, Tensor w, Tensor y, ConvSpec s, int ho, int wo) {
        int g = s.groups();
        if (x.rank() != 4 || w.rank() != 4 || y.rank() != 4 || x.dim(1) % g != 0 || w.dim(0) % g != 0
                || w.dim(1) != x.dim(1) / g || y.dim(0) != x.dim(0) || y.dim(1) != w.dim(0) || y.dim(2) != ho
                || y.dim(3) != wo) {
            throw new IllegalArgumentException("conv shapes x=" + x + " w=" + w + " y=" + y + " " + s);
        }
    }

    // ---------------------------------------------------------------- batch norm

    @Override
    public void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar,
                               double momentum, double eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        double[] X = x.f64(), Y = y.f64(), G = gamma.f64(), B = beta.f64();
        double[] RM = runMean.f64(), RV = runVar.f64(), SM = saveMean.f64(), SI = saveInvStd.f64();
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c);
        double m = 1.0 * n * hw;
        Parallel.forEach(c, ch -> {
            double sum = 0;
            for (int img = 0; img < n; img++) {
                int o = (img * c + ch) * hw;
                for (int i = 0; i < hw; i++) {
                    sum += X[o + i];
                }
            }
            double mean = sum / m;
            double sq = 0;
            for (int img = 0; img < n; img++) {
                int o = (img * c + ch) * hw;
                for (int i = 0; i < hw; i++) {
                    double d = X[o + i] - mean;
                    sq += d * d;
                }
            }
            double var = sq / m;
            double inv = 1.0 / Math.sqrt(var + eps);
            SM[ch] = (double) mean;
            SI[ch] = (double) inv;
            RM[ch] = (double) ((1 - momentum) * RM[ch] + momentum * mean);
            RV[ch] = (double) ((1 - momentum) * RV[ch] + momentum * var);
            double/*r*/ scale = (double) (G[ch] * inv);
            double/*r*/ shift = (double) (B[ch] - mean * G[ch] * inv);
            for (int img = 0; img < n; img++) {
                int o = (img * c + ch) * hw;
                for (int i = 0; i < hw; i++) {
                    Y[o + i] = X[o + i] * scale + shift;
                }
            }
        });
    }

    @Override
    public void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, double eps,
                              Tensor y) {
        double[] X = x.f64(), Y = y.f64(), G = gamma.f64(), B = beta.f64(), RM = runMean.f64(), RV = runVar.f64();
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c);
        Parallel.forEach(c, ch -> {
            double inv = 1.0 / Math.sqrt(RV[ch] + eps);
            double/*r*/ scale = (double) (G[ch] * inv);
            double/*r*/ shift = (double) (B[ch] - RM[ch] * G[ch] * inv);
            for (int img = 0; img < n; img++) {
                int o = (img * c + ch) * hw;
                for (int i = 0; i < hw; i++) {
                    Y[o + i] = X[o + i] * scale + shift;
                }
            }
        });
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor gy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                  Tensor gx, Tensor gGamma, Tensor gBeta) {
        double[] X = x.f64(), GY = gy.f64(), G = gamma.f64(), SM = saveMean.f64(), SI = saveInvStd.f64();
        double[] GX = gx == null ? null : gx.f64();
        double[] GG = gGamma.f64(), GB = gBeta.f64();
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c);
        double m = 1.0 * n * hw;
        Parallel.forEach(c, ch -> {
            double mean = SM[ch], inv = SI[ch];
            double sg = 0, sgx = 0;
            for (int img = 0; img < n; img++) {
                int o = (img * c + ch) * hw;
                for (int i = 0; i < hw; i++) {
                    sg += GY[o + i];
                    sgx += GY[o + i] * (X[o + i] - mean);
                }
            }
            double sgxhat = sgx * inv;
            GG[ch] += (double) sgxhat;
            GB[ch] += (double) sg;
            if (GX == null) {
                return;
            }
            // gx = gamma*inv/m * (m*gy - sum(gy) - xhat*sum(gy*xhat)), folded into a*gy + b*x + c0
            double k = G[ch] * inv / m;
            double/*r*/ a = (double) (k * m);
            double/*r*/ b = (double) (-k * sgxhat * inv);
            double/*r*/ c0 = (double) (k * (-sg + sgxhat * inv * mean));
            for (int img = 0; img < n; img++) {
                int o = (img * c + ch) * hw;
                for (int i = 0; i < hw; i++) {
                    GX[o + i] = a * GY[o + i] + b * X[o + i] + c0;
                }
            }
        });
    }

    // ---------------------------------------------------------------- element-wise, pooling, dense, loss

    @Override
    public void relu(Tensor x, Tensor y) {
        double[] X = x.f64(), Y = y.f64();
        Parallel.forChunks(X.length, (ch, lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                Y[i] = X[i] > 0 ? X[i] : 0;
            }
        });
    }

    @Override
    public void reluBackward(Tensor y, Tensor gy, Tensor gx) {
        double[] Y = y.f64(), GY = gy.f64(), GX = gx.f64();
        Parallel.forChunks(Y.length, (ch, lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                GX[i] = Y[i] > 0 ? GY[i] : 0;
            }
        });
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor y) {
        double[] A = a.f64(), B = b.f64(), Y = y.f64();
        if (A.length != B.length || A.length != Y.length) {
            throw new IllegalArgumentException("add shapes " + a + " " + b + " " + y);
        }
        Parallel.forChunks(A.length, (ch, lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                Y[i] = A[i] + B[i];
            }
        });
    }

    @Override
    public void avgPool(Tensor x, int k, Tensor y) {
        double[] X = x.f64(), Y = y.f64();
        int nc = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3), ho = h / k, wo = w / k;
        if (h % k != 0 || w % k != 0 || y.dim(2) != ho || y.dim(3) != wo) {
            throw new IllegalArgumentException("avgPool " + k + " on " + x + " -> " + y);
        }
        double/*r*/ scale = (double) (1.0 / (k * k));
        Parallel.forEach(nc, p -> {
            for (int oi = 0; oi < ho; oi++) {
                for (int oj = 0; oj < wo; oj++) {
                    double s = 0;
                    for (int a = 0; a < k; a++) {
                        int r = (p * h + oi * k + a) * w + oj * k;
                        for (int b = 0; b < k; b++) {
                            s += X[r + b];
                        }
                    }
                    Y[(p * ho + oi) * wo + oj] = (double) (s * scale);
                }
            }
        });
    }

    @Override
    public void avgPoolBackward(Tensor gy, int k, Tensor gx) {
        double[] GY = gy.f64(), GX = gx.f64();
        int nc = gx.dim(0) * gx.dim(1), h = gx.dim(2), w = gx.dim(3), ho = h / k, wo = w / k;
        double/*r*/ scale = (double) (1.0 / (k * k));
        Parallel.forEach(nc, p -> {
            for (int i = 0; i < h; i++) {
                for (int j = 0; j < w; j++) {
                    GX[(p * h + i) * w + j] = GY[(p * ho + i / k) * wo + j / k] * scale;
                }
            }
        });
    }

    @Override
    public void dense(Tensor x, Tensor w, Tensor b, Tensor y) {
        double[] X = x.f64(), W = w.f64(), B = b == null ? null : b.f64(), Y = y.f64();
        int n = x.dim(0), in = x.size() / n, out = w.dim(0);
        if (w.dim(1) != in || y.size() != n * out) {
            throw new IllegalArgumentException("dense shapes x=" + x + " w=" + w + " y=" + y);
        }
        Parallel.forEach(n, i -> {
            for (int o = 0; o < out; o++) {
                double s = B == null ? 0 : B[o];
                for (int j = 0; j < in; j++) {
                    s += X[i * in + j] * W[o * in + j];
                }
                Y[i * out + o] = (double) s;
            }
        });
    }

    @Override
    public void denseBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, Tensor gb) {
        double[] X = x.f64(), W = w.f64(), GY = gy.f64();
        int n = x.dim(0), in = x.size() / n, out = w.dim(0);
        if (gx != null) {
            double[] GX = gx.f64();
            Parallel.forEach(n, i -> {
                for (int j = 0; j < in; j++) {
                    GX[i * in + j] = 0;
                }
                for (int o = 0; o < out; o++) {
                    double/*r*/ g = GY[i * out + o];
                    for (int j = 0; j < in; j++) {
                        GX[i * in + j] += g * W[o * in + j];
                    }
                }
            });
        }
        if (gw != null) {
            double[] GW = gw.f64();
            Parallel.forEach(out, o -> {
                for (int j = 0; j < in; j++) {
                    double s = 0;
                    for (int i = 0; i < n; i++) {
                        s += GY[i * out + o] * X[i * in + j];
                    }
                    GW[o * in + j] += (double) s;
                }
            });
        }
        if (gb != null) {
            double[] GB = gb.f64();
            for (int o = 0; o < out; o++) {
                double s = 0;
                for (int i = 0; i < n; i++) {
                    s += GY[i * out + o];
                }
                GB[o] += (double) s;
            }
        }
    }

    @Override
    public double softmaxCrossEntropy(Tensor logits, int[] labels, Tensor gLogits, int[] predictions) {
        double[] L = logits.f64();
        double[] G = gLogits == null ? null : gLogits.f64();
        int n = logits.dim(0), k = logits.size() / n;
        double total = 0;
        for (int i = 0; i < n; i++) {
            int o = i * k;
            double mx = Double.NEGATIVE_INFINITY;
            int arg = 0;
            for (int j = 0; j < k; j++) {
                if (L[o + j] > mx) {
                    mx = L[o + j];
                    arg = j;
                }
            }
            double z = 0;
            for (int j = 0; j < k; j++) {
                z += Math.exp(L[o + j] - mx);
            }
            int y = labels[i];
            if (y < 0 || y >= k) {
                throw new IllegalArgumentException("label " + y + " outside [0, " + k + ")");
            }
            total += Math.log(z) - (L[o + y] - mx);
            if (predictions != null) {
                predictions[i] = arg;
            }
            if (G != null) {
                for (int j = 0; j < k; j++) {
                    double p = Math.exp(L[o + j] - mx) / z;
                    G[o + j] = (double) ((p - (j == y ? 1 : 0)) / n);
                }
            }
        }
        return total / n;
    }

    // ---------------------------------------------------------------- Global layer (PDE)

    /**
     * Per-plane coefficients of the recursion H(k+1) = c0 H(k-1) + c1 H(k) + cxm H(k)[i-1] + cxp H(k)[i+1]
     * + cym H(k)[j-1] + cyp H(k)[j+1] + cf, with c0 = L M, c1 = -2 E L, cxm = L (2Bx - Ax), cxp = L (2Bx + Ax),
     * cym = L (2By - Ay), cyp = L (2By + Ay), cf = 2 dt L f. Seven plane-sized arrays in {@code co}: they stay
     * in cache while the K steps run, so each step reads one state plane and writes one.
     */
    private static void pdeCoefficients(double[] F, double[] U, double[] V, double[] DX, double[] DY,
                                        double dConst, PdeSpec s, int base, int h, int w, double[][] co) {
        double dt = s.dt(), ax = dt / s.dx(), ay = dt / s.dy();
        double bx = dt / (s.dx() * s.dx()), by = dt / (s.dy() * s.dy());
        double ex = dt / (2 * s.dx()), ey = dt / (2 * s.dy());
        for (int i = 0; i < h; i++) {
            int im = i == 0 ? h - 1 : i - 1, ip = i == h - 1 ? 0 : i + 1;
            for (int j = 0; j < w; j++) {
                int jm = j == 0 ? w - 1 : j - 1, jp = j == w - 1 ? 0 : j + 1;
                int q = i * w + j;
                double uu = 0, vv = 0, e = 0;
                if (U != null) {
                    uu = U[base + q];
                    vv = V[base + q];
                    e = ex * (U[base + im * w + j] - U[base + ip * w + j]) + ey * (V[base + i * w + jm] - V[base + i * w + jp]);
                }
                double dxv = DX == null ? dConst : DX[base + q];
                double dyv = DY == null ? dConst : DY[base + q];
                double axv = uu * ax, ayv = vv * ay, bxv = dxv * bx, byv = dyv * by;
                double l = 1.0 / (1 + 2 * bxv + 2 * byv);
                double m = 1 - 2 * bxv - 2 * byv;
                co[0][q] = (double) (l * m);
                co[1][q] = (double) (-2 * e * l);
                co[2][q] = (double) (l * (2 * bxv - axv));
                co[3][q] = (double) (l * (2 * bxv + axv));
                co[4][q] = (double) (l * (2 * byv - ayv));
                co[5][q] = (double) (l * (2 * byv + ayv));
                co[6][q] = (double) (2 * dt * l * F[base + q]);
            }
        }
    }

    /** One time step on a plane: next = c0 prev + c1 cur + neighbours of cur + cf, periodic boundaries. */
    private static void pdeStep(double[][] co, double[] prev, double[] cur, double[] next, int h, int w) {
        double[] c0 = co[0], c1 = co[1], cxm = co[2], cxp = co[3], cym = co[4], cyp = co[5], cf = co[6];
        for (int i = 0; i < h; i++) {
            int r = i * w, rm = (i == 0 ? h - 1 : i - 1) * w, rp = (i == h - 1 ? 0 : i + 1) * w;
            for (int j = 0; j < w; j++) {
                int jm = j == 0 ? w - 1 : j - 1, jp = j == w - 1 ? 0 : j + 1;
                int q = r + j;
                next[q] = c0[q] * prev[q] + c1[q] * cur[q] + cxm[q] * cur[rm + j] + cxp[q] * cur[rp + j]
                        + cym[q] * cur[r + jm] + cyp[q] * cur[r + jp] + cf[q];
            }
        }
    }

    private static double[][] coefficientScratch(int hw) {
        double[][] co = new double[7][];
        for (int t = 0; t < 7; t++) {
            co[t] = scratch(t, hw);
        }
        return co;
    }

    @Override
    public void pdeForward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst,
                           PdeSpec s, Tensor out) {
        double[] F = f.f64(), HH = h.f64(), O = out.f64();
        double[] U = u == null ? null : u.f64(), V = v == null ? null : v.f64();
        double[] DX = dX == null ? null : dX.f64(), DY = dY == null ? null : dY.f64();
        int planes = f.dim(0) * f.dim(1), hh = f.dim(2), w = f.dim(3), hw = hh * w, k = s.steps();
        Parallel.forEach(planes, p -> {
            double[][] co = coefficientScratch(hw);
            pdeCoefficients(F, U, V, DX, DY, dConst, s, p * hw, hh, w, co);
            double[] a = new double[hw], b = new double[hw], c = new double[hw];
            System.arraycopy(F, p * hw, a, 0, hw);
            System.arraycopy(HH, p * hw, b, 0, hw);
            for (int step = 0; step < k; step++) {
                pdeStep(co, a, b, c, hh, w);
                double[] t = a;
                a = b;
                b = c;
                c = t;
            }
            System.arraycopy(b, 0, O, p * hw, hw);
        });
    }

    /**
     * Adjoint of the recursion. Per plane the K+2 states H(-1)..H(K) are recomputed from the inputs (nothing
     * is stored between forward and backward), then the adjoint G runs backwards: step k sends c0 G(k+1) to
     * G(k-1) and the transposed stencil of G(k+1) to G(k), and accumulates the seven coefficient gradients,
     * which are finally chained to L, M, E, A, B and so to u, v, Dx, Dy and f.
     */
    @Override
    public void pdeBackward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst,
                            PdeSpec s, Tensor gOut, Tensor gf, Tensor gh, Tensor gu, Tensor gv, Tensor gDx,
                            Tensor gDy) {
        double[] F = f.f64(), HH = h.f64(), GO = gOut.f64();
        double[] U = u == null ? null : u.f64(), V = v == null ? null : v.f64();
        double[] DX = dX == null ? null : dX.f64(), DY = dY == null ? null : dY.f64();
        double[] GF = gf == null ? null : gf.f64(), GH = gh == null ? null : gh.f64();
        double[] GU = gu == null ? null : gu.f64(), GV = gv == null ? null : gv.f64();
        double[] GDX = gDx == null ? null : gDx.f64(), GDY = gDy == null ? null : gDy.f64();
        int planes = f.dim(0) * f.dim(1), hh = f.dim(2), w = f.dim(3), hw = hh * w, k = s.steps();
        double dt = s.dt(), ax = dt / s.dx(), ay = dt / s.dy();
        double bx = dt / (s.dx() * s.dx()), by = dt / (s.dy() * s.dy());
        double ex = dt / (2 * s.dx()), ey = dt / (2 * s.dy());
        Parallel.forEach(planes, p -> {
            int base = p * hw;
            double[][] co = coefficientScratch(hw);
            pdeCoefficients(F, U, V, DX, DY, dConst, s, base, hh, w, co);
            double[][] st = new double[k + 2][hw];
            System.arraycopy(F, base, st[0], 0, hw);
            System.arraycopy(HH, base, st[1], 0, hw);
            for (int step = 0; step < k; step++) {
                pdeStep(co, st[step], st[step + 1], st[step + 2], hh, w);
            }
            double[][] gc = new double[7][hw];
            double[] gNext = new double[hw], gCur = new double[hw], gPrev = new double[hw];
            System.arraycopy(GO, base, gNext, 0, hw);
            double[] c0 = co[0], c1 = co[1], cxm = co[2], cxp = co[3], cym = co[4], cyp = co[5];
            for (int step = k - 1; step >= 0; step--) {
                double[] hk = st[step + 1], hkm = st[step];
                for (int i = 0; i < hh; i++) {
                    int r = i * w, rm = (i == 0 ? hh - 1 : i - 1) * w, rp = (i == hh - 1 ? 0 : i + 1) * w;
                    for (int j = 0; j < w; j++) {
                        int jm = j == 0 ? w - 1 : j - 1, jp = j == w - 1 ? 0 : j + 1;
                        int q = r + j;
                        double g = gNext[q];
                        gc[0][q] += g * hkm[q];
                        gc[1][q] += g * hk[q];
                        gc[2][q] += g * hk[rm + j];
                        gc[3][q] += g * hk[rp + j];
                        gc[4][q] += g * hk[r + jm];
                        gc[5][q] += g * hk[r + jp];
                        gc[6][q] += g;
                        gPrev[q] += c0[q] * g;
                        // H(k)[q] feeds next[q] (c1), next[q+row] as its i-1 neighbour (cxm there), etc.
                        gCur[q] += c1[q] * g + cxm[rp + j] * gNext[rp + j] + cxp[rm + j] * gNext[rm + j]
                                + cym[r + jp] * gNext[r + jp] + cyp[r + jm] * gNext[r + jm];
                    }
                }
                double[] t = gNext;
                gNext = gCur;
                gCur = gPrev;
                gPrev = t;
                java.util.Arrays.fill(gPrev, 0);
            }
            // now gNext = G(0) (gradient of h), gCur = G(-1) (the H(-1) = f slot)
            double[] gE = scratch(7, hw);
            for (int i = 0; i < hh; i++) {
                int im = i == 0 ? hh - 1 : i - 1, ip = i == hh - 1 ? 0 : i + 1;
                for (int j = 0; j < w; j++) {
                    int jm = j == 0 ? w - 1 : j - 1, jp = j == w - 1 ? 0 : j + 1;
                    int q = i * w + j;
                    double uu = 0, vv = 0, e = 0;
                    if (U != null) {
                        uu = U[base + q];
                        vv = V[base + q];
                        e = ex * (U[base + im * w + j] - U[base + ip * w + j])
                                + ey * (V[base + i * w + jm] - V[base + i * w + jp]);
                    }
                    double dxv = DX == null ? dConst : DX[base + q];
                    double dyv = DY == null ? dConst : DY[base + q];
                    double axv = uu * ax, ayv = vv * ay, bxv = dxv * bx, byv = dyv * by;
                    double l = 1.0 / (1 + 2 * bxv + 2 * byv);
                    double m = 1 - 2 * bxv - 2 * byv;
                    double fv = F[base + q];
                    double g0 = gc[0][q], g1 = gc[1][q], gxm = gc[2][q], gxp = gc[3][q];
                    double gym = gc[4][q], gyp = gc[5][q], gcf = gc[6][q];
                    double gl = g0 * m + g1 * (-2 * e) + gxm * (2 * bxv - axv) + gxp * (2 * bxv + axv)
                            + gym * (2 * byv - ayv) + gyp * (2 * byv + ayv) + gcf * 2 * dt * fv;
                    double gm = g0 * l;
                    gE[q] = (double) (-2 * l * g1);
                    double gAx = l * (gxp - gxm), gAy = l * (gyp - gym);
                    double gBx = 2 * l * (gxm + gxp) - 2 * l * l * gl - 2 * gm;
                    double gBy = 2 * l * (gym + gyp) - 2 * l * l * gl - 2 * gm;
                    if (GF != null) {
                        GF[base + q] = (double) (gCur[q] + 2 * dt * l * gcf);
                    }
                    if (GH != null) {
                        GH[base + q] = gNext[q];
                    }
                    if (GU != null) {
                        GU[base + q] = (double) (gAx * ax);
                        GV[base + q] = (double) (gAy * ay);
                    }
                    if (GDX != null) {
                        GDX[base + q] = (double) (gBx * bx);
                        GDY[base + q] = (double) (gBy * by);
                    }
                }
            }
            if (GU != null) {
                // E = dt (ux + vy) with ux[i] = (u[i-1] - u[i+1]) / 2dx: u[i] enters ux[i+1] (+) and ux[i-1] (-)
                double gex = ex / dt, gey = ey / dt;
                for (int i = 0; i < hh; i++) {
                    int im = i == 0 ? hh - 1 : i - 1, ip = i == hh - 1 ? 0 : i + 1;
                    for (int j = 0; j < w; j++) {
                        int jm = j == 0 ? w - 1 : j - 1, jp = j == w - 1 ? 0 : j + 1;
                        int q = i * w + j;
                        GU[base + q] += (double) (dt * gex * (gE[ip * w + j] - gE[im * w + j]));
                        GV[base + q] += (double) (dt * gey * (gE[i * w + jp] - gE[i * w + jm]));
                    }
                }
            }
        });
    }

    // ---------------------------------------------------------------- Perona–Malik diffusivity

    private static int reflect(int i, int n) {
        return i < 0 ? -i : i >= n ? 2 * n - 2 - i : i;
    }

    private static final int[] SOBEL_SMOOTH = {1, 2, 1};

    @Override
    public void peronaMalik(Tensor h, double lambda, Tensor dX, Tensor dY) {
        double[] HH = h.f64(), DX = dX.f64(), DY = dY.f64();
        int planes = h.dim(0) * h.dim(1), hh = h.dim(2), w = h.dim(3), hw = hh * w;
        checkReflect(hh, w);
        double inv2 = 1.0 / (lambda * lambda);
        Parallel.forEach(planes, p -> {
            int base = p * hw;
            for (int i = 0; i < hh; i++) {
                for (int j = 0; j < w; j++) {
                    double sx = 0, sy = 0;
                    for (int t = -1; t <= 1; t++) {
                        int wt = SOBEL_SMOOTH[t + 1];
                        int jj = reflect(j + t, w), ii = reflect(i + t, hh);
                        sx += wt * (HH[base + reflect(i + 1, hh) * w + jj] - HH[base + reflect(i - 1, hh) * w + jj]);
                        sy += wt * (HH[base + ii * w + reflect(j + 1, w)] - HH[base + ii * w + reflect(j - 1, w)]);
                    }
                    DX[base + i * w + j] = (double) (1.0 / (1 + sx * sx * inv2));
                    DY[base + i * w + j] = (double) (1.0 / (1 + sy * sy * inv2));
                }
            }
        });
    }

    @Override
    public void peronaMalikBackward(Tensor h, double lambda, Tensor gDx, Tensor gDy, Tensor gh) {
        double[] HH = h.f64(), GDX = gDx.f64(), GDY = gDy.f64(), GH = gh.f64();
        int planes = h.dim(0) * h.dim(1), hh = h.dim(2), w = h.dim(3), hw = hh * w;
        checkReflect(hh, w);
        double inv2 = 1.0 / (lambda * lambda);
        Parallel.forEach(planes, p -> {
            int base = p * hw;
            for (int i = 0; i < hh; i++) {
                for (int j = 0; j < w; j++) {
                    double sx = 0, sy = 0;
                    for (int t = -1; t <= 1; t++) {
                        int wt = SOBEL_SMOOTH[t + 1];
                        int jj = reflect(j + t, w), ii = reflect(i + t, hh);
                        sx += wt * (HH[base + reflect(i + 1, hh) * w + jj] - HH[base + reflect(i - 1, hh) * w + jj]);
                        sy += wt * (HH[base + ii * w + reflect(j + 1, w)] - HH[base + ii * w + reflect(j - 1, w)]);
                    }
                    // d/dS of 1/(1 + S^2/l^2) = -2 S / l^2 * D^2
                    double ddx = 1.0 / (1 + sx * sx * inv2), ddy = 1.0 / (1 + sy * sy * inv2);
                    double gsx = GDX[base + i * w + j] * (-2 * sx * inv2 * ddx * ddx);
                    double gsy = GDY[base + i * w + j] * (-2 * sy * inv2 * ddy * ddy);
                    for (int t = -1; t <= 1; t++) {
                        int wt = SOBEL_SMOOTH[t + 1];
                        int jj = reflect(j + t, w), ii = reflect(i + t, hh);
                        GH[base + reflect(i + 1, hh) * w + jj] += (double) (wt * gsx);
                        GH[base + reflect(i - 1, hh) * w + jj] -= (double) (wt * gsx);
                        GH[base + ii * w + reflect(j + 1, w)] += (double) (wt * gsy);
                        GH[base + ii * w + reflect(j - 1, w)] -= (double) (wt * gsy);
                    }
                }
            }
        });
    }

    private static void checkReflect(int h, int w) {
        if (h < 2 || w < 2) {
            throw new IllegalArgumentException("Perona-Malik needs maps of at least 2x2 for reflect padding, got "
                    + h + "x" + w);
        }
    }

    // ---------------------------------------------------------------- optimizer

    @Override
    public void sgdStep(Tensor w, Tensor g, Tensor vel, double lr, double momentum, double wd) {
        double[] W = w.f64(), G = g.f64(), VV = vel.f64();
        double/*r*/ lrr = (double) lr, mom = (double) momentum, wdd = (double) wd;
        for (int i = 0; i < W.length; i++) {
            VV[i] = mom * VV[i] - lrr * (G[i] + wdd * W[i]);
            W[i] += VV[i];
        }
    }

    @Override
    public double sumSquares(Tensor w) {
        double[] W = w.f64();
        double s = 0;
        for (double/*r*/ x : W) {
            double xd = x;
            s += xd * xd;
        }
        return s;
    }
}
