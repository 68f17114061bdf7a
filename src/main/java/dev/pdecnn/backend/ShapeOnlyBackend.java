package dev.pdecnn.backend;

import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

/**
 * A backend that only knows shapes: its tensors are {@link Tensor#unallocated} (no host array until host code
 * touches one) and it runs no operation. A network built on it ({@code Models.shapes}) has every parameter with
 * its name and shape and answers {@code macs} and {@code outShape}, through the same model definition that
 * training builds, without the weights' memory: counting the largest allowed model (about 100 M parameters, 0.4 GB
 * of weights and three times that for gradients and momentum) then takes a few MB.
 */
public final class ShapeOnlyBackend implements Backend {
    @Override
    public DType dtype() {
        return DType.F32;
    }

    @Override
    public Tensor zeros(int... shape) {
        return Tensor.unallocated(DType.F32, shape);
    }

    private static UnsupportedOperationException none() {
        return new UnsupportedOperationException("a shape-only network (for counting) runs no operation");
    }

    @Override
    public Device device() {
        throw none();
    }

    @Override
    public void conv2dForward(Tensor x, Tensor w, Tensor y, ConvSpec s) {
        throw none();
    }

    @Override
    public void conv2dBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, ConvSpec s) {
        throw none();
    }

    @Override
    public void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, double momentum,
                               double eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        throw none();
    }

    @Override
    public void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, double eps,
                              Tensor y) {
        throw none();
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor gy, Tensor gamma, Tensor saveMean, Tensor saveInvStd, Tensor gx,
                                  Tensor gGamma, Tensor gBeta) {
        throw none();
    }

    @Override
    public void relu(Tensor x, Tensor y) {
        throw none();
    }

    @Override
    public void reluBackward(Tensor y, Tensor gy, Tensor gx) {
        throw none();
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor y) {
        throw none();
    }

    @Override
    public void avgPool(Tensor x, int k, Tensor y) {
        throw none();
    }

    @Override
    public void avgPoolBackward(Tensor gy, int k, Tensor gx) {
        throw none();
    }

    @Override
    public void dense(Tensor x, Tensor w, Tensor b, Tensor y) {
        throw none();
    }

    @Override
    public void denseBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, Tensor gb) {
        throw none();
    }

    @Override
    public double softmaxCrossEntropy(Tensor logits, int[] labels, Tensor gLogits, int[] predictions) {
        throw none();
    }

    @Override
    public void pdeForward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst, PdeSpec s,
                           Tensor out) {
        throw none();
    }

    @Override
    public void pdeBackward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst, PdeSpec s,
                            Tensor gOut, Tensor gf, Tensor gh, Tensor gu, Tensor gv, Tensor gDx, Tensor gDy) {
        throw none();
    }

    @Override
    public void peronaMalik(Tensor h, double lambda, Tensor dX, Tensor dY) {
        throw none();
    }

    @Override
    public void peronaMalikBackward(Tensor h, double lambda, Tensor gDx, Tensor gDy, Tensor gh) {
        throw none();
    }

    @Override
    public void sgdStep(Tensor w, Tensor g, Tensor vel, double lr, double momentum, double wd) {
        throw none();
    }

    @Override
    public double sumSquares(Tensor w) {
        throw none();
    }
}
