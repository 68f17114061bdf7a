package dev.pdecnn.nn;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.tensor.Tensor;

/** Non-overlapping k x k average pooling. */
public final class AvgPool extends Module {
    private final int k;
    private int[] inShape;

    public AvgPool(Backend be, int k) {
        super(be);
        this.k = k;
    }

    /** Window size and stride. */
    public int k() {
        return k;
    }

    @Override
    public Tensor forward(Tensor x) {
        inShape = x.shape();
        Tensor y = be.arena().take(x.dim(0), x.dim(1), x.dim(2) / k, x.dim(3) / k);
        be.avgPool(x, k, y);
        return y;
    }

    @Override
    public Tensor backward(Tensor gy) {
        Tensor gx = be.arena().take(inShape);
        be.avgPoolBackward(gy, k, gx);
        return gx;
    }

    @Override
    public int[] outShape(int[] chw) {
        return new int[]{chw[0], chw[1] / k, chw[2] / k};
    }
}
