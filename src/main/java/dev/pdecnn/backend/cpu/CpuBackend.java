package dev.pdecnn.backend.cpu;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.backend.Device;
import dev.pdecnn.backend.HostDevice;
import dev.pdecnn.backend.StepArena;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

/**
 * The fast CPU backend, float32: tuned, threaded kernels on {@code float[]} arrays (statistics and long sums are
 * accumulated in double). This class only dispatches; the kernels live in one class per op family:
 * {@link ConvOps} (with {@link Im2col}, shared with the OpenBLAS path {@link BlasConv}), {@link BatchNormOps},
 * {@link ElementwiseOps}, {@link DenseLossOps}, {@link PdeOps} and {@link PeronaMalikOps}, on the row kernels of
 * {@link RowKernels} (whose comment explains how the loops are shaped for the JIT's vectorizer and why results are
 * deterministic). It is checked against the float64 {@link dev.pdecnn.backend.reference.ReferenceBackend}.
 *
 * <p>Every tensor argument may be a view ({@link Tensor#offset()}): each op indexes from the offset and touches
 * nothing outside the tensor's window.
 */
public final class CpuBackend implements Backend {
    @Override
    public DType dtype() {
        return DType.F32;
    }

    // ---------------------------------------------------------------- step memory

    /** A pooled arena: every step gets the same arrays back (see {@link StepArena}). */
    private final HostDevice device = new HostDevice(this, StepArena.pooled(DType.F32));

    @Override
    public Device device() {
        return device;
    }

    /** For tests: see {@link StepArena#poison}. Returns this. */
    public CpuBackend poisonBuffers(boolean on) {
        device.arena().poison(on);
        return this;
    }

    // ---------------------------------------------------------------- operations

    @Override
    public void conv2dForward(Tensor x, Tensor w, Tensor y, ConvSpec s) {
        ConvOps.conv2dForward(x, w, y, s);
    }

    /** The convolution kernels in use, for logs and bench (see {@link ConvPath#describe}). */
    public static String describeConvolutions() {
        return ConvPath.describe();
    }

    /** Which kernels run this convolution: "onednn" or "builtin" (for bench's profile). */
    public static String convPath(Tensor x, Tensor w, ConvSpec s) {
        return ConvOps.path(x, w, s);
    }

    @Override
    public void conv2dBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, ConvSpec s) {
        ConvOps.conv2dBackward(x, w, gy, gx, gw, s);
    }

    @Override
    public void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, double momentum,
                               double eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        BatchNormOps.batchNormTrain(x, gamma, beta, runMean, runVar, momentum, eps, y, saveMean, saveInvStd);
    }

    @Override
    public void batchNormReluTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar,
                                   double momentum, double eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        BatchNormOps.batchNormReluTrain(x, gamma, beta, runMean, runVar, momentum, eps, y, saveMean, saveInvStd);
    }

    @Override
    public void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, double eps,
                              Tensor y) {
        BatchNormOps.batchNormEval(x, gamma, beta, runMean, runVar, eps, y, false);
    }

    @Override
    public void batchNormReluEval(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, double eps,
                                  Tensor y) {
        BatchNormOps.batchNormEval(x, gamma, beta, runMean, runVar, eps, y, true);
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor gy, Tensor gamma, Tensor saveMean, Tensor saveInvStd, Tensor gx,
                                  Tensor gGamma, Tensor gBeta) {
        BatchNormOps.batchNormBackward(x, gy, gamma, saveMean, saveInvStd, gx, gGamma, gBeta);
    }

    @Override
    public void batchNormReluBackward(Tensor x, Tensor y, Tensor gy, Tensor gamma, Tensor saveMean,
                                      Tensor saveInvStd, Tensor gx, Tensor gGamma, Tensor gBeta) {
        BatchNormOps.batchNormReluBackward(x, y, gy, gamma, saveMean, saveInvStd, gx, gGamma, gBeta);
    }

    @Override
    public void relu(Tensor x, Tensor y) {
        ElementwiseOps.relu(x, y);
    }

    @Override
    public void reluBackward(Tensor y, Tensor gy, Tensor gx) {
        ElementwiseOps.reluBackward(y, gy, gx);
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor y) {
        ElementwiseOps.add(a, b, y);
    }

    /** One pass: y = max(a + b, 0); a is left as it is. */
    @Override
    public void addRelu(Tensor a, Tensor b, Tensor y) {
        ElementwiseOps.addRelu(a, b, y);
    }

    @Override
    public void avgPool(Tensor x, int k, Tensor y) {
        ElementwiseOps.avgPool(x, k, y);
    }

    @Override
    public void avgPoolBackward(Tensor gy, int k, Tensor gx) {
        ElementwiseOps.avgPoolBackward(gy, k, gx);
    }

    @Override
    public void dense(Tensor x, Tensor w, Tensor b, Tensor y) {
        DenseLossOps.dense(x, w, b, y);
    }

    @Override
    public void denseBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, Tensor gb) {
        DenseLossOps.denseBackward(x, w, gy, gx, gw, gb);
    }

    @Override
    public double softmaxCrossEntropy(Tensor logits, int[] labels, Tensor gLogits, int[] predictions) {
        return DenseLossOps.softmaxCrossEntropy(logits, labels, gLogits, predictions);
    }

    @Override
    public void pdeForward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst, PdeSpec s,
                           Tensor out) {
        PdeOps.pdeForward(f, h, u, v, dX, dY, dConst, s, out);
    }

    @Override
    public void pdeBackward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst, PdeSpec s,
                            Tensor gOut, Tensor gf, Tensor gh, Tensor gu, Tensor gv, Tensor gDx, Tensor gDy) {
        PdeOps.pdeBackward(f, h, u, v, dX, dY, dConst, s, gOut, gf, gh, gu, gv, gDx, gDy);
    }

    @Override
    public void peronaMalik(Tensor h, double lambda, Tensor dX, Tensor dY) {
        PeronaMalikOps.peronaMalik(h, lambda, dX, dY);
    }

    @Override
    public void peronaMalikBackward(Tensor h, double lambda, Tensor gDx, Tensor gDy, Tensor gh) {
        PeronaMalikOps.peronaMalikBackward(h, lambda, gDx, gDy, gh);
    }

    @Override
    public void sgdStep(Tensor w, Tensor g, Tensor vel, double lr, double momentum, double wd) {
        ElementwiseOps.sgdStep(w, g, vel, lr, momentum, wd);
    }

    @Override
    public double sumSquares(Tensor w) {
        return ElementwiseOps.sumSquares(w);
    }
}
