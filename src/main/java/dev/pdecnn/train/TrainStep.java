package dev.pdecnn.train;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.nn.Module;
import dev.pdecnn.nn.ParamStore;
import dev.pdecnn.tensor.Tensor;

import java.util.Arrays;
import java.util.List;
import java.util.function.DoubleSupplier;
import java.util.function.Function;

/**
 * The one training step and the one evaluation step, as the Trainer, {@code bench} and the tests take them.
 * Each runs inside a {@link StepArena.Step} of the network's backend, so its activations and gradients come from
 * the step's arena and go back when it ends; the optimizer works on the network's {@link ParamStore}.
 */
public final class TrainStep {
    private final Module net;
    private final Backend be;
    private final ParamStore store;

    public TrainStep(Module net) {
        this.net = net;
        this.be = net.backend();
        this.store = net.paramStore();
    }

    /**
     * One SGD step on the batch {@code x} with labels {@code y}: zero the gradients, forward, mean softmax
     * cross-entropy, backward, and the momentum update of every trainable tensor (vel = momentum * vel -
     * lr * (g + wd * w); w += vel). Writes the per-sample argmax into {@code predictions} when non-null and returns
     * the mean loss. A loss that is not finite is returned at once, before the backward pass and the update, so
     * the weights stay those of the last good step, except in a step the backend records as a CUDA graph
     * ({@link Backend#step}): its loss is known only after the whole step, update included, has run, so the weights
     * then hold that step's non-finite update (the Trainer stops at such a step and saves nothing).
     */
    public double train(Tensor x, int[] y, double lr, double momentum, double weightDecay, int[] predictions) {
        return be.step(List.of("train", List.of(Arrays.stream(x.shape()).boxed().toArray()), predictions != null), () -> {
            store.zeroGrad();
            Tensor logits = net.forward(x);
            Tensor g = be.arena().like(logits);
            DoubleSupplier loss = be.softmaxCrossEntropyLater(logits, y, g, predictions);
            if (!be.recording()) {
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
            return be.step(List.of("eval", List.of(Arrays.stream(x.shape()).boxed().toArray())), () -> {
                Tensor logits = net.forward(x);
                Runnable landed = be.downloadLater(logits); // the one host read of a step: the logits
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
