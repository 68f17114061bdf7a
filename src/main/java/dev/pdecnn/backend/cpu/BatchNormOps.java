package dev.pdecnn.backend.cpu;

import dev.pdecnn.tensor.Tensor;

import java.util.Arrays;

import static dev.pdecnn.backend.cpu.RowKernels.WORK;
import static dev.pdecnn.backend.cpu.RowKernels.groupStart;
import static dev.pdecnn.backend.cpu.RowKernels.rows;
import static dev.pdecnn.backend.cpu.RowKernels.sum;

/**
 * Batch norm of the fast float32 backend (training with running statistics, evaluation, backward, and the fused
 * forms with ReLU): per-channel sums over fixed image groups in double, then one element-wise pass. Every array is
 * indexed from its tensor's offset.
 */
final class BatchNormOps {
    private BatchNormOps() {
    }

    /** Batch-norm statistics are summed per (channel, fixed group of images), then per channel in group order. */
    static final int BN_GROUPS = 8;

    /**
     * Statistics per channel from element-wise partial sums over fixed image groups (independent of the thread
     * count); the normalisation itself is one vectorized pass.
     */
    static void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar,
                               double momentum, double eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c);
        float[] scale = new float[c], shift = new float[c];
        bnTrainStats(x, gamma, beta, runMean, runVar, momentum, eps, saveMean, saveInvStd, scale, shift);
        affinePlanes(x.f32(), x.offset(), y.f32(), y.offset(), scale, shift, n * c, c, hw);
    }

    /**
     * Batch norm and relu in one pass over the output: the statistics as {@link #batchNormTrain}, then
     * y = max(x * scale + shift, 0) with the same scale and shift, so y is bit for bit relu(batchNormTrain(x))
     * without the batch-norm output being written and read again.
     */
    static void batchNormReluTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar,
                                   double momentum, double eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c);
        float[] scale = new float[c], shift = new float[c];
        bnTrainStats(x, gamma, beta, runMean, runVar, momentum, eps, saveMean, saveInvStd, scale, shift);
        affineReluPlanes(x.f32(), x.offset(), y.f32(), y.offset(), scale, shift, n * c, c, hw);
    }

    /**
     * Statistics of a training-mode batch norm: saves mean and inverse deviation, updates the running statistics
     * and fills the per-channel scale and shift of the normalisation.
     */
    static void bnTrainStats(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar,
                                     double momentum, double eps, Tensor saveMean, Tensor saveInvStd,
                                     float[] scale, float[] shift) {
        float[] X = x.f32(), G = gamma.f32(), B = beta.f32();
        float[] RM = runMean.f32(), RV = runVar.f32(), SM = saveMean.f32(), SI = saveInvStd.f32();
        int xo = x.offset(), go = gamma.offset(), bo = beta.offset(), rmo = runMean.offset(), rvo = runVar.offset();
        int smo = saveMean.offset(), sio = saveInvStd.offset();
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c);
        double m = 1.0 * n * hw;
        int groups = Math.min(n, BN_GROUPS);
        // one pass: sums of d = x - s and d^2 about a per-channel shift s close to the mean (the mean of the
        // channel's first plane), so that var = E[d^2] - E[d]^2 loses no precision to cancellation
        float[] shiftR = new float[c];
        for (int ch = 0; ch < c; ch++) {
            shiftR[ch] = (float) (sum(X, xo + ch * hw, hw) / hw);
        }
        var p1 = Parallel.partials(c * groups);
        var p2 = Parallel.partials(c * groups);
        Parallel.forTasks(c * groups, t -> {
            int ch = t / groups, gr = t % groups;
            float[][] rw = rows(WORK.get(), 8, 3, hw);
            float[] row = rw[0], a1 = rw[1], a2 = rw[2];
            Arrays.fill(a1, 0, hw, 0);
            Arrays.fill(a2, 0, hw, 0);
            float sh = shiftR[ch];
            for (int img = groupStart(n, gr, groups); img < groupStart(n, gr + 1, groups); img++) {
                System.arraycopy(X, xo + (img * c + ch) * hw, row, 0, hw);
                for (int q = 0; q < hw; q++) {
                    float s1 = a1[q], s2 = a2[q], d = row[q] - sh;
                    a1[q] = s1 + d;
                    a2[q] = s2 + d * d;
                }
            }
            p1[t] = sum(a1, 0, hw);
            p2[t] = sum(a2, 0, hw);
        });
        for (int ch = 0; ch < c; ch++) {
            double s1 = 0, s2 = 0;
            for (int gr = 0; gr < groups; gr++) {
                s1 += p1[ch * groups + gr];
                s2 += p2[ch * groups + gr];
            }
            double md = s1 / m, mu = shiftR[ch] + md;
            double var = Math.max(0, s2 / m - md * md);
            double inv = 1.0 / Math.sqrt(var + eps);
            SM[smo + ch] = (float) mu;
            SI[sio + ch] = (float) inv;
            RM[rmo + ch] = (float) ((1 - momentum) * RM[rmo + ch] + momentum * mu);
            // running variance: the unbiased estimate var m/(m-1), as PyTorch (the normalisation above uses the
            // biased var); m == 1 has none, and PyTorch refuses such a batch in training: keep the biased var
            double varUnbiased = m > 1 ? var * m / (m - 1) : var;
            RV[rvo + ch] = (float) ((1 - momentum) * RV[rvo + ch] + momentum * varUnbiased);
            scale[ch] = (float) (G[go + ch] * inv);
            shift[ch] = (float) (B[bo + ch] - mu * G[go + ch] * inv);
        }
    }

    /**
     * Y = X * scale[ch] + shift[ch] on every plane (X from xo, Y from yo: one shared index when they agree, so
     * that the loop vectorizes).
     */
    static void affinePlanes(float[] X, int xo, float[] Y, int yo, float[] scale, float[] shift, int planes,
                             int c, int hw) {
        Parallel.forChunks(planes, (k, lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                float a = scale[r % c], b = shift[r % c];
                if (xo == yo) {
                    int o = xo + r * hw;
                    for (int i = o; i < o + hw; i++) {
                        Y[i] = X[i] * a + b;
                    }
                } else {
                    int ox = xo + r * hw, oy = yo + r * hw;
                    for (int i = 0; i < hw; i++) {
                        Y[oy + i] = X[ox + i] * a + b;
                    }
                }
            }
        });
    }

    /** Y = max(X * scale[ch] + shift[ch], 0) on every plane (offsets as {@link #affinePlanes}). */
    static void affineReluPlanes(float[] X, int xo, float[] Y, int yo, float[] scale, float[] shift, int planes,
                                 int c, int hw) {
        Parallel.forChunks(planes, (k, lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                float a = scale[r % c], b = shift[r % c];
                if (xo == yo) {
                    int o = xo + r * hw;
                    for (int i = o; i < o + hw; i++) {
                        Y[i] = Math.max(X[i] * a + b, 0);
                    }
                } else {
                    int ox = xo + r * hw, oy = yo + r * hw;
                    for (int i = 0; i < hw; i++) {
                        Y[oy + i] = Math.max(X[ox + i] * a + b, 0);
                    }
                }
            }
        });
    }

    /** Evaluation mode: y = gamma (x - runMean) / sqrt(runVar + eps) + beta, followed by relu when asked. */
    static void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar,
                              double eps, Tensor y, boolean relu) {
        float[] X = x.f32(), Y = y.f32(), G = gamma.f32(), B = beta.f32(), RM = runMean.f32(), RV = runVar.f32();
        int go = gamma.offset(), bo = beta.offset(), rmo = runMean.offset(), rvo = runVar.offset();
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c);
        float[] scale = new float[c], shift = new float[c];
        for (int ch = 0; ch < c; ch++) {
            double inv = 1.0 / Math.sqrt(RV[rvo + ch] + eps);
            scale[ch] = (float) (G[go + ch] * inv);
            shift[ch] = (float) (B[bo + ch] - RM[rmo + ch] * G[go + ch] * inv);
        }
        if (relu) {
            affineReluPlanes(X, x.offset(), Y, y.offset(), scale, shift, n * c, c, hw);
        } else {
            affinePlanes(X, x.offset(), Y, y.offset(), scale, shift, n * c, c, hw);
        }
    }

    /**
     * {@link ElementwiseOps#reluBackward} into gx, then {@link #batchNormBackward} from gx into gx itself (its last pass is
     * element-wise): no temporary. Recomputing the mask from x inside the batch-norm passes, so that neither y nor
     * a masked gradient is read or written, was measured slower: on par on 32 x 32 planes, twice as slow on
     * 8 x 8 and 4 x 4 planes, where the extra per-plane loops are short.
     */
    static void batchNormReluBackward(Tensor x, Tensor y, Tensor gy, Tensor gamma, Tensor saveMean,
                                      Tensor saveInvStd, Tensor gx, Tensor gGamma, Tensor gBeta) {
        Tensor g = gx != null ? gx : gy.zerosLike();
        ElementwiseOps.reluBackward(y, gy, g);
        batchNormBackward(x, g, gamma, saveMean, saveInvStd, gx, gGamma, gBeta);
    }

    /** gx may be gy itself: the statistics pass only reads gy, the last pass is element-wise. */
    static void batchNormBackward(Tensor x, Tensor gy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                  Tensor gx, Tensor gGamma, Tensor gBeta) {
        float[] X = x.f32(), GY = gy.f32(), G = gamma.f32(), SM = saveMean.f32(), SI = saveInvStd.f32();
        float[] GX = gx == null ? null : gx.f32();
        float[] GG = gGamma.f32(), GB = gBeta.f32();
        int xo = x.offset(), gyo = gy.offset(), go = gamma.offset(), smo = saveMean.offset(), sio = saveInvStd.offset();
        int gxo = gx == null ? 0 : gx.offset(), ggo = gGamma.offset(), gbo = gBeta.offset();
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c), planes = n * c;
        double m = 1.0 * n * hw;
        int groups = Math.min(n, BN_GROUPS);
        var pg = Parallel.partials(c * groups);
        var pgx = Parallel.partials(c * groups);
        Parallel.forTasks(c * groups, t -> {
            int ch = t / groups, gr = t % groups;
            float[][] rw = rows(WORK.get(), 8, 4, hw);
            float[] gRow = rw[0], xRow = rw[1], a1 = rw[2], a2 = rw[3];
            Arrays.fill(a1, 0, hw, 0);
            Arrays.fill(a2, 0, hw, 0);
            float mu = SM[smo + ch];
            for (int img = groupStart(n, gr, groups); img < groupStart(n, gr + 1, groups); img++) {
                System.arraycopy(GY, gyo + (img * c + ch) * hw, gRow, 0, hw);
                System.arraycopy(X, xo + (img * c + ch) * hw, xRow, 0, hw);
                for (int q = 0; q < hw; q++) {
                    float s1 = a1[q], s2 = a2[q], gq = gRow[q], xq = xRow[q];
                    a1[q] = s1 + gq;
                    a2[q] = s2 + gq * (xq - mu);
                }
            }
            pg[t] = sum(a1, 0, hw);
            pgx[t] = sum(a2, 0, hw);
        });
        float[] ca = new float[c], cb = new float[c], cc = new float[c];
        for (int ch = 0; ch < c; ch++) {
            double sg = 0, sgx = 0;
            for (int gr = 0; gr < groups; gr++) {
                sg += pg[ch * groups + gr];
                sgx += pgx[ch * groups + gr];
            }
            double mean = SM[smo + ch], inv = SI[sio + ch];
            double sgxhat = sgx * inv;
            GG[ggo + ch] += (float) sgxhat;
            GB[gbo + ch] += (float) sg;
            // gx = gamma*inv/m * (m*gy - sum(gy) - xhat*sum(gy*xhat)), folded into a*gy + b*x + c0
            double k = G[go + ch] * inv / m;
            ca[ch] = (float) (k * m);
            cb[ch] = (float) (-k * sgxhat * inv);
            cc[ch] = (float) (k * (-sg + sgxhat * inv * mean));
        }
        if (GX == null) {
            return;
        }
        Parallel.forChunks(planes, (k, lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                float a = ca[r % c], b = cb[r % c], c0 = cc[r % c];
                if (xo == gyo && xo == gxo) { // one shared index: the loop vectorizes
                    int o = xo + r * hw;
                    for (int i = o; i < o + hw; i++) {
                        GX[i] = a * GY[i] + b * X[i] + c0;
                    }
                } else {
                    int ox = xo + r * hw, og = gyo + r * hw, ogx = gxo + r * hw;
                    for (int i = 0; i < hw; i++) {
                        GX[ogx + i] = a * GY[og + i] + b * X[ox + i] + c0;
                    }
                }
            }
        });
    }
}
