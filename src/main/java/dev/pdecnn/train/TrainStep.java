package dev.pdecnn.train;

import dev.pdecnn.backend.Device;
import dev.pdecnn.backend.StepArena;
import dev.pdecnn.backend.StepKey;
import dev.pdecnn.nn.Module;
import dev.pdecnn.nn.ParamStore;
import dev.pdecnn.tensor.Tensor;

import java.util.function.DoubleSupplier;
import java.util.function.Function;

/**
 * The one training step and the one evaluation step, as the Trainer, {@code bench} and the tests take them.
 * Each runs as a {@link Device#step} of the network's device (inside a {@link StepArena.Step}), so its activations and gradients come from
 * the step's arena and go back when it ends; the optimizer works on the network's {@link ParamStore}.
 */
public final class TrainStep {
    private final Module net;
    private final Device dev;
    private final ParamStore store;

    public TrainStep(Module net) {
        this.net = net;
        this.dev = net.backend().device();
        this.store = net.paramStore();
    }

    /**
     * One SGD step on the batch {@code x} with labels {@code y}: zero the gradients, forward, mean softmax
     * cross-entropy, backward, and the momentum update of every trainable tensor (vel = momentum * vel -
     * lr * (g + wd * w); w += vel). Writes the per-sample argmax into {@code predictions} when non-null and returns
     * the mean loss. A loss that is not finite is returned at once, before the backward pass and the update, so
     * the weights stay those of the last good step, except in a step the backend records as a CUDA graph
     * ({@link Device#step}): its loss is known only after the whole step, update included, has run, so the weights
     * then hold that step's non-finite update (the Trainer stops at such a step and saves nothing).
     */
    public double train(Tensor x, int[] y, double lr, double momentum, double weightDecay, int[] predictions) {
        return dev.step(StepKey.train(x.shape(), predictions != null), () -> {
            store.zeroGrad();
            Tensor logits = net.forward(x);
            Tensor g = dev.arena().like(logits);
            DoubleSupplier loss = dev.softmaxCrossEntropyLater(logits, y, g, predictions);
            if (!dev.recording()) {
                double now = loss.getAsDouble();
                if (!Double.isFinite(now)) {
                    return () -> now;
                }
            }
            net.backward(g);
            store.sgdStep(lr, momentum, weightDecay);
            return loss::getAsDouble;
        });
    }

    /**
     * The network in evaluation mode (BN running statistics) on {@code x}; {@code read} gets the logits, downloaded
     * to the host, while they are valid (inside the step) and returns what the caller keeps. The network is back in training mode
     * afterwards.
     */
    public <R> R eval(Tensor x, Function<Tensor, R> read) {
        net.train(false);
        try {
            return dev.step(StepKey.eval(x.shape()), () -> {
                Tensor logits = net.forward(x);
                Runnable landed = dev.downloadLater(logits); // the one host read of a step: the logits
                return () -> {
                    landed.run();
                    return read.apply(logits);
                };
            });
        } finally {
            net.train(true);
        }
    }

    public ParamStore store() {
        return store;
    }
}
