package dev.pdecnn.train;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.StepArena;
import dev.pdecnn.nn.Module;
import dev.pdecnn.nn.ParamStore;
import dev.pdecnn.tensor.Tensor;

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
     * the weights stay those of the last good step.
     */
    public double train(Tensor x, int[] y, double lr, double momentum, double weightDecay, int[] predictions) {
        try (StepArena.Step s = be.arena().open()) {
            store.zeroGrad();
            Tensor logits = net.forward(x);
            Tensor g = be.arena().like(logits);
            double loss = be.softmaxCrossEntropy(logits, y, g, predictions);
            if (!Double.isFinite(loss)) {
                return loss;
            }
            net.backward(g);
            store.sgdStep(lr, momentum, weightDecay);
            return loss;
        }
    }

    /**
     * The network in evaluation mode (BN running statistics) on {@code x}; {@code read} gets the logits, downloaded
     * to the host, while they are valid (inside the step) and returns what the caller keeps. The network is back in training mode
     * afterwards.
     */
    public <R> R eval(Tensor x, Function<Tensor, R> read) {
        net.train(false);
        try (StepArena.Step s = be.arena().open()) {
            return read.apply(net.forward(x).download()); // the one host read of a step: the logits
        } finally {
            net.train(true);
        }
    }

    public ParamStore store() {
        return store;
    }
}
