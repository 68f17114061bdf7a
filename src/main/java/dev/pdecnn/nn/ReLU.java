package dev.pdecnn.nn;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.tensor.Tensor;

public final class ReLU extends Module {
    private Tensor y;
    private final Buffer yBuf = new Buffer();
    private Buffer gxBuf = new Buffer();

    public ReLU(Backend be) {
        super(be);
    }

    @Override
    public Tensor forward(Tensor x) {
        y = yBuf.like(be, x);
        be.relu(x, y);
        return y;
    }

    /** relu(a + b) (a may be overwritten, see {@link Backend#addRelu}); backward gives the gradient of the sum. */
    public Tensor forwardSum(Tensor a, Tensor b) {
        y = yBuf.like(be, a);
        be.addRelu(a, b, y);
        return y;
    }

    /** The slot of the input gradient, to share with a module whose input gradient is never live with this one's. */
    Buffer inputGradient() {
        return gxBuf;
    }

    void shareInputGradient(Buffer b) {
        gxBuf = b;
    }

    @Override
    public Tensor backward(Tensor gy) {
        Tensor gx = gxBuf.like(be, gy);
        be.reluBackward(y, gy, gx);
        y = null;
        return gx;
    }
}
