package dev.pdecnn.nn;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.tensor.Tensor;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Owner of a module tree's parameters: one flat tensor per role, as llm.c keeps one allocation for all
 * parameters. Every trainable tensor a module registered becomes a {@link Tensor#view} of {@link #weights()}, its
 * gradient the view at the same offset of {@link #grads()}, its SGD momentum buffer the view at the same offset of
 * {@link #velocities()}; the non-trainable buffers (BN running statistics) are views of {@link #stats()}.
 *
 * <p>So zeroing every gradient is one fill of {@code grads} and the optimizer step one element-wise pass over
 * three flat tensors: one kernel launch each on a GPU instead of one per tensor (134 + 134 for resnet32), and the
 * parameters sit at fixed device addresses for the whole run. Modules keep their own tensor fields: the store
 * moves each registered tensor into its window, so the module's reference is now the view. Checkpoints keep
 * reading and writing the per-tensor views under their PyTorch names, so the file layout does not change.
 */
public final class ParamStore {
    private final Backend be;
    private final Tensor weights, grads, velocity, stats;
    private final LinkedHashMap<String, Tensor> velocities = new LinkedHashMap<>();

    /** Adopts every parameter of {@code params} (a module tree's {@link Module#namedParams()}, in order). */
    ParamStore(Backend be, Map<String, Param> params) {
        this.be = be;
        long trainable = 0, buffers = 0;
        for (Param p : params.values()) {
            if (p.trainable) {
                trainable += p.size();
            } else {
                buffers += p.size();
            }
        }
        if (trainable > Integer.MAX_VALUE || buffers > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("model too large: " + trainable + " parameters");
        }
        weights = be.state((int) trainable);
        grads = be.state((int) trainable);
        velocity = be.state((int) trainable);
        stats = be.state((int) buffers);
        int wo = 0, so = 0;
        for (Map.Entry<String, Param> e : params.entrySet()) {
            Param p = e.getValue();
            if (p.trainable) {
                p.value.moveInto(weights, wo);
                p.grad.moveInto(grads, wo);
                velocities.put(e.getKey(), Tensor.view(velocity, wo, p.value.shape()));
                wo += p.size();
            } else {
                p.value.moveInto(stats, so);
                so += p.size();
            }
        }
    }

    /** Zeros every gradient: one fill of the flat gradient tensor. */
    public void zeroGrad() {
        grads.fill(0);
    }

    /**
     * One SGD step of every trainable tensor ({@link Backend#sgdStep} on the flat tensors): element-wise, so the
     * same arithmetic per element as one call per tensor.
     */
    public void sgdStep(double lr, double momentum, double weightDecay) {
        be.sgdStep(weights, grads, velocity, lr, momentum, weightDecay);
    }

    /** The momentum buffer of each trainable tensor by its full name (views of the flat velocity tensor). */
    public Map<String, Tensor> velocities() {
        return Collections.unmodifiableMap(velocities);
    }

    /** All trainable weights, flat, in {@link Module#namedParams()} order. */
    public Tensor weights() {
        return weights;
    }

    /** All gradients, laid out as {@link #weights()}. */
    public Tensor grads() {
        return grads;
    }

    /** All momentum buffers, laid out as {@link #weights()}. */
    public Tensor velocity() {
        return velocity;
    }

    /** All non-trainable buffers (BN running statistics), flat, in {@link Module#namedParams()} order. */
    public Tensor stats() {
        return stats;
    }
}
