package dev.pdecnn.nn;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.tensor.Tensor;

public final class Identity extends Module {
    public Identity(Backend be) {
        super(be);
    }

    @Override
    public Tensor forward(Tensor x) {
        return x;
    }

    @Override
    public Tensor backward(Tensor gy) {
        return gy;
    }
}
