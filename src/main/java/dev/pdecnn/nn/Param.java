package dev.pdecnn.nn;

import dev.pdecnn.tensor.Tensor;

/**
 * A named tensor of a module: a trainable weight (with its gradient) or a buffer such as a batch-norm running
 * statistic (no gradient, saved in checkpoints, counted in "with BN stats" parameter totals).
 */
public final class Param {
    public final String name;
    public final Tensor value;
    public final Tensor grad;
    public final boolean trainable;

    Param(String name, Tensor value, boolean trainable) {
        this.name = name;
        this.value = value;
        this.trainable = trainable;
        this.grad = trainable ? value.zerosLike() : null;
    }

    public int size() {
        return value.size();
    }
}
