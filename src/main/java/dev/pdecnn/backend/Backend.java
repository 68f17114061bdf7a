package dev.pdecnn.backend;

import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

/**
 * The operations one training step needs. Models are written once against this interface; the CPU backends
 * ({@code cpu.CpuBackend}, the fast float32 path, and {@code reference.ReferenceBackend}, the plain float64
 * reference) implement it on host arrays, a GPU backend on device memory. Any tensor argument may be a view
 * ({@link Tensor#offset()}): implementations index from its offset and touch nothing outside its window.
 *
 * <p>Conventions: all tensors NCHW. Outputs and activation gradients are <em>written</em> (previous contents
 * ignored); parameter gradients ({@code gw, gb, gGamma, gBeta}) are <em>accumulated</em> so a parameter
 * used twice sums its contributions. A null gradient argument means "not needed".
 */
public interface Backend {
    DType dtype();

    /** Zeros on the host, for code outside the modules (inputs, tests); a device backend may defer the array. */
    default Tensor zeros(int... shape) {
        return Tensor.zeros(dtype(), shape);
    }

    /**
     * A tensor of module state that lives as long as its module, declared so where it is made: the parameter store's
     * flat tensors and state such as batch norm's saved statistics. A device keeps it resident for the run (a step
     * temporary, from {@link #arena()}, goes back when its step ends). Zeros.
     */
    default Tensor state(int... shape) {
        return zeros(shape);
    }

    /** Where this backend's operations run and the policy of running them: steps, deferred reads, memory. */
    Device device();

    /**
     * The arena step temporaries come from (see {@link StepArena}): the device's, which opens and closes its steps
     * ({@link Device#step}).
     */
    default StepArena arena() {
        return device().arena();
    }

    /** y[n,co] = sum over the group's input channels and the kernel of w * x (cross-correlation), no bias. */
    void conv2dForward(Tensor x, Tensor w, Tensor y, ConvSpec s);

    void conv2dBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, ConvSpec s);

    /**
     * Batch norm over (N, H, W) per channel, normalised with the biased batch variance var; updates running
     * statistics as run = (1 - momentum) * run + momentum * batch (PyTorch's convention; the study's 0.99 is 0.01
     * here), where the running variance takes the unbiased batch variance var * m / (m - 1), m = N * H * W, as
     * PyTorch does (for m = 1, a batch PyTorch refuses in training, the biased var).
     * Saves the batch mean and 1/sqrt(var + eps) for the backward pass.
     */
    void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, double momentum,
                        double eps, Tensor y, Tensor saveMean, Tensor saveInvStd);

    void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, double eps, Tensor y);

    void batchNormBackward(Tensor x, Tensor gy, Tensor gamma, Tensor saveMean, Tensor saveInvStd, Tensor gx,
                           Tensor gGamma, Tensor gBeta);

    /**
     * relu(batch norm) in training mode, y the activated output: {@link #batchNormTrain} then {@link #relu}. The
     * default composes the two through a step temporary from the arena (so a device backend runs its two kernels as before); the CPU
     * backends write y in one pass.
     */
    default void batchNormReluTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar,
                                    double momentum, double eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        Tensor t = arena().like(y);
        batchNormTrain(x, gamma, beta, runMean, runVar, momentum, eps, t, saveMean, saveInvStd);
        relu(t, y);
        arena().release(t);
    }

    /** relu(batch norm) in evaluation mode: {@link #batchNormEval} then {@link #relu}. */
    default void batchNormReluEval(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, double eps,
                                   Tensor y) {
        Tensor t = arena().like(y);
        batchNormEval(x, gamma, beta, runMean, runVar, eps, t);
        relu(t, y);
        arena().release(t);
    }

    /**
     * Gradients of {@link #batchNormReluTrain}, y its output: {@link #reluBackward} then {@link #batchNormBackward}
     * (gx written, gGamma and gBeta accumulated).
     */
    default void batchNormReluBackward(Tensor x, Tensor y, Tensor gy, Tensor gamma, Tensor saveMean,
                                       Tensor saveInvStd, Tensor gx, Tensor gGamma, Tensor gBeta) {
        Tensor t = arena().like(gy);
        reluBackward(y, gy, t);
        batchNormBackward(x, t, gamma, saveMean, saveInvStd, gx, gGamma, gBeta);
        arena().release(t);
    }

    void relu(Tensor x, Tensor y);

    /** gx = gy where the forward output y was positive, else 0. */
    void reluBackward(Tensor y, Tensor gy, Tensor gx);

    /** y = a + b (y may alias a or b). */
    void add(Tensor a, Tensor b, Tensor y);

    /**
     * y = relu(a + b), a residual block's output; {@code a} may be overwritten (the default adds b into a, then
     * writes relu(a) to y, the two operations a block ran before; the CPU backends make one pass and leave a).
     */
    default void addRelu(Tensor a, Tensor b, Tensor y) {
        add(a, b, a);
        relu(a, y);
    }

    /** Non-overlapping k x k average pooling; H and W must be multiples of k. */
    void avgPool(Tensor x, int k, Tensor y);

    void avgPoolBackward(Tensor gy, int k, Tensor gx);

    /** y[n,o] = sum_i x[n,i] w[o,i] + b[o]; x is [N, in] (any trailing shape flattened), w is [out, in]. */
    void dense(Tensor x, Tensor w, Tensor b, Tensor y);

    void denseBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, Tensor gb);

    /**
     * Mean softmax cross-entropy over the batch; writes d(mean loss)/d(logits) into gLogits when non-null and
     * the per-sample argmax into predictions when non-null. Returns the mean loss.
     */
    double softmaxCrossEntropy(Tensor logits, int[] labels, Tensor gLogits, int[] predictions);

    /**
     * The K-step Global-layer recursion of docs/design.md §1 on every (n, c) plane. {@code u, v} null means zero
     * velocity; {@code dX, dY} null means the constant diffusivity {@code dConst} (0 for pure advection).
     */
    void pdeForward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst, PdeSpec s,
                    Tensor out);

    /** Exact gradients of {@link #pdeForward} for every input given non-null gradient buffers (written). */
    void pdeBackward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst, PdeSpec s,
                     Tensor gOut, Tensor gf, Tensor gh, Tensor gu, Tensor gv, Tensor gDx, Tensor gDy);

    /**
     * Perona–Malik diffusivity: dX = 1 / (1 + (Sx h)^2 / lambda^2), dY likewise with Sy, where Sx, Sy are the
     * 3x3 Sobel derivatives along rows (x, dim 2) and columns (y, dim 3) with reflect padding.
     */
    void peronaMalik(Tensor h, double lambda, Tensor dX, Tensor dY);

    /** Adds the gradient of {@link #peronaMalik} with respect to h into gh (accumulates). */
    void peronaMalikBackward(Tensor h, double lambda, Tensor gDx, Tensor gDy, Tensor gh);

    /**
     * SGD with momentum in the study's (Keras) form, L2 decay as a gradient term:
     * vel = momentum * vel - lr * (g + wd * w); w += vel.
     */
    void sgdStep(Tensor w, Tensor g, Tensor vel, double lr, double momentum, double wd);

    /** sum(w^2), for the weight-decay term of the reported loss. */
    double sumSquares(Tensor w);
}
