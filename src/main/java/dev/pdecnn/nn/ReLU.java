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
        y = be.arena().like(x);
        be.relu(x, y);
        return y;
    }

    /** relu(a + b) (a may be overwritten, see {@link Backend#addRelu}); backward gives the gradient of the sum. */
    public Tensor forwardSum(Tensor a, Tensor b) {
        y = be.arena().like(a);
        be.addRelu(a, b, y);
        return y;
    }

    @Override
    public Tensor backward(Tensor gy) {
        Tensor gx = be.arena().like(gy);
        be.reluBackward(y, gy, gx);
        y = null;
        return gx;
    }
}
