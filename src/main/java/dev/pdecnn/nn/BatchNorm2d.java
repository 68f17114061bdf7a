package dev.pdecnn.nn;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.tensor.Tensor;

/**
 * Batch norm with learned scale and shift and running statistics (buffers {@code running_mean},
 * {@code running_var}; training normalises with the biased batch variance, the running variance tracks the
 * unbiased one, as PyTorch). Defaults follow the study's framework: momentum 0.01 in PyTorch's convention
 * (Keras' 0.99) and epsilon 1e-3.
 */
public final class BatchNorm2d extends Module {
    public static final double DEFAULT_MOMENTUM = 0.01;
    public static final double DEFAULT_EPS = 1e-3;

    public final int c;
    /** Whether a relu follows the normalisation (fused: one pass over the output on the CPU backends). */
    public final boolean relu;
    private final double momentum, eps;
    private final Tensor gamma, beta, runMean, runVar, saveMean, saveInv;
    private Tensor x, y;

    /** Running-statistics momentum (PyTorch convention) and epsilon, shared by every BN of a model. */
    public record Spec(double momentum, double eps) {
        public static final Spec DEFAULT = new Spec(DEFAULT_MOMENTUM, DEFAULT_EPS);
    }

    public BatchNorm2d(Backend be, int c) {
        this(be, c, DEFAULT_MOMENTUM, DEFAULT_EPS);
    }

    public BatchNorm2d(Backend be, int c, Spec spec) {
        this(be, c, spec.momentum(), spec.eps());
    }

    public BatchNorm2d(Backend be, int c, double momentum, double eps) {
        this(be, c, momentum, eps, false);
    }

    /** relu(batch norm(x)) as one module: parameter names and values are those of the batch norm alone. */
    public static BatchNorm2d withRelu(Backend be, int c, Spec spec) {
        return new BatchNorm2d(be, c, spec.momentum(), spec.eps(), true);
    }

    private BatchNorm2d(Backend be, int c, double momentum, double eps, boolean relu) {
        super(be);
        this.c = c;
        this.relu = relu;
        this.momentum = momentum;
        this.eps = eps;
        gamma = param("weight", c);
        beta = param("bias", c);
        runMean = buffer("running_mean", c);
        runVar = buffer("running_var", c);
        gamma.fill(1);
        runVar.fill(1);
        saveMean = be.state(c); // written in forward, read in backward: module state, not a step temporary
        saveInv = be.state(c);
    }

    /** Epsilon added to the variance (evaluation: (x - running_mean) / sqrt(running_var + eps)). */
    public double eps() {
        return eps;
    }

    @Override
    public Tensor forward(Tensor in) {
        Tensor y = be.arena().like(in);
        if (training) {
            x = in;
            if (relu) {
                this.y = y;
                be.batchNormReluTrain(in, gamma, beta, runMean, runVar, momentum, eps, y, saveMean, saveInv);
            } else {
                be.batchNormTrain(in, gamma, beta, runMean, runVar, momentum, eps, y, saveMean, saveInv);
            }
        } else if (relu) {
            be.batchNormReluEval(in, gamma, beta, runMean, runVar, eps, y);
        } else {
            be.batchNormEval(in, gamma, beta, runMean, runVar, eps, y);
        }
        return y;
    }

    @Override
    public Tensor backward(Tensor gy) {
        if (x == null) {
            throw new IllegalStateException("batch norm backward needs a training-mode forward");
        }
        Tensor gx = be.arena().like(x);
        if (relu) {
            be.batchNormReluBackward(x, y, gy, gamma, saveMean, saveInv, gx, grad("weight"), grad("bias"));
        } else {
            be.batchNormBackward(x, gy, gamma, saveMean, saveInv, gx, grad("weight"), grad("bias"));
        }
        x = y = null;
        return gx;
    }
}
