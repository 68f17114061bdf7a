package dev.pdecnn.backend;

/** Geometry of a 2-D convolution: square stride and zero padding, channel groups (groups == C is depthwise). */
public record ConvSpec(int stride, int pad, int groups) {
    public ConvSpec {
        if (stride < 1 || pad < 0 || groups < 1) {
            throw new IllegalArgumentException("bad conv spec stride=" + stride + " pad=" + pad + " groups=" + groups);
        }
    }

    public int outSize(int in, int k) {
        return (in + 2 * pad - k) / stride + 1;
    }
}
