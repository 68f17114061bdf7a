package dev.pdecnn.nn;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.tensor.Tensor;

public final class ReLU extends Module {
    private Tensor y;

    public ReLU(Backend be) {
        super(be);
    }

    @Override
    public Tensor forward(Tensor x) {
        y = x.zerosLike();
        be.relu(x, y);
        return y;
    }

    @Override
    public Tensor backward(Tensor gy) {
        Tensor gx = gy.zerosLike();
        be.reluBackward(y, gy, gx);
        y = null;
        return gx;
    }
}
