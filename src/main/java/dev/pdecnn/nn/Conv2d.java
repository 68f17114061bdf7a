package dev.pdecnn.nn;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.tensor.Tensor;

/** 2-D convolution without bias (every conv of the study's models is followed by batch norm). */
public final class Conv2d extends Module {
    public final int cin, cout, k;
    public final ConvSpec spec;
    private final Tensor w;
    private Tensor x;

    public Conv2d(Backend be, int cin, int cout, int k, int stride, int pad, int groups) {
        super(be);
        this.cin = cin;
        this.cout = cout;
        this.k = k;
        this.spec = new ConvSpec(stride, pad, groups);
        if (cin % groups != 0 || cout % groups != 0) {
            throw new IllegalArgumentException("channels " + cin + "->" + cout + " not divisible by groups " + groups);
        }
        w = param("weight", cout, cin / groups, k, k);
    }

    /** 3x3, padding 1. */
    public static Conv2d conv3x3(Backend be, int cin, int cout, int stride) {
        return new Conv2d(be, cin, cout, 3, stride, 1, 1);
    }

    public static Conv2d depthwise3x3(Backend be, int c) {
        return new Conv2d(be, c, c, 3, 1, 1, c);
    }

    public static Conv2d conv1x1(Backend be, int cin, int cout, int stride) {
        return new Conv2d(be, cin, cout, 1, stride, 0, 1);
    }

    @Override
    public Tensor forward(Tensor in) {
        x = in;
        Tensor y = be.arena().take(in.dim(0), cout, spec.outSize(in.dim(2), k), spec.outSize(in.dim(3), k));
        be.conv2dForward(in, w, y, spec);
        return y;
    }

    @Override
    public Tensor backward(Tensor gy) {
        Tensor gx = be.arena().like(x);
        be.conv2dBackward(x, w, gy, gx, grad("weight"), spec);
        x = null;
        return gx;
    }

    @Override
    public int[] outShape(int[] chw) {
        return new int[]{cout, spec.outSize(chw[1], k), spec.outSize(chw[2], k)};
    }

    @Override
    public long macs(int[] chw) {
        int[] o = outShape(chw);
        return (long) o[0] * o[1] * o[2] * (cin / spec.groups()) * k * k;
    }
}
