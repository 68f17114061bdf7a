package dev.pdecnn.nn;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.tensor.Tensor;

/** Fully connected layer on the flattened input: weight [out, in] and bias [out], as PyTorch's Linear. */
public final class Dense extends Module {
    public final int in, out;
    private final Tensor w, b;
    private Tensor x;

    public Dense(Backend be, int in, int out) {
        super(be);
        this.in = in;
        this.out = out;
        w = param("weight", out, in);
        b = param("bias", out);
    }

    @Override
    public Tensor forward(Tensor input) {
        x = input;
        Tensor y = be.arena().take(input.dim(0), out);
        be.dense(input, w, b, y);
        return y;
    }

    @Override
    public Tensor backward(Tensor gy) {
        Tensor gx = be.arena().like(x);
        be.denseBackward(x, w, gy, gx, grad("weight"), grad("bias"));
        x = null;
        return gx;
    }

    @Override
    public int[] outShape(int[] chw) {
        return new int[]{out, 1, 1};
    }

    @Override
    public long macs(int[] chw) {
        return (long) in * out;
    }
}
