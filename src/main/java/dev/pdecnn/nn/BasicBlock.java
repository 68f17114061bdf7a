package dev.pdecnn.nn;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.tensor.Tensor;

/**
 * ResNet BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), the shortcut a strided 1x1 conv
 * with batch norm when the shape changes, else the identity; bn1 carries its relu (fused).
 */
public final class BasicBlock extends Module {
    private final Sequential main;
    private final Sequential shortcut;
    private final ReLU out;
    private final Conv2d conv1, conv2;
    private final BatchNorm2d bn1, bn2, shortcutBn;

    public BasicBlock(Backend be, int cin, int cout, int stride) {
        this(be, cin, cout, stride, BatchNorm2d.Spec.DEFAULT);
    }

    public BasicBlock(Backend be, int cin, int cout, int stride, BatchNorm2d.Spec bn) {
        super(be);
        conv1 = Conv2d.conv3x3(be, cin, cout, stride);
        conv2 = Conv2d.conv3x3(be, cout, cout, 1);
        bn1 = BatchNorm2d.withRelu(be, cout, bn);
        bn2 = new BatchNorm2d(be, cout, bn);
        main = new Sequential(be).add("conv1", conv1).add("bn1", bn1).add("conv2", conv2).add("bn2", bn2);
        // Registering main's layers under this block's own names keeps PyTorch's layer1.0.conv1.weight.
        for (var e : main.children().entrySet()) {
            if (!e.getKey().startsWith("_")) {
                child(e.getKey(), e.getValue());
            }
        }
        if (stride != 1 || cin != cout) {
            shortcutBn = new BatchNorm2d(be, cout, bn);
            shortcut = child("shortcut", new Sequential(be)
                    .add("0", Conv2d.conv1x1(be, cin, cout, stride))
                    .add("1", shortcutBn));
        } else {
            shortcut = null;
            shortcutBn = null;
        }
        out = new ReLU(be);
    }

    @Override
    public Tensor forward(Tensor x) {
        Tensor y = main.forward(x);
        return out.forwardSum(y, shortcut == null ? x : shortcut.forward(x));
    }

    @Override
    public Tensor backward(Tensor gy) {
        Tensor g = out.backward(gy);
        Tensor gx = main.backward(g);
        Tensor gs = shortcut == null ? g : shortcut.backward(g);
        be.add(gx, gs, gx);
        // the sum's gradient and the shortcut's are consumed: the next request of their shape may reuse them
        be.arena().release(g);
        if (gs != g) {
            be.arena().release(gs);
        }
        return gx;
    }

    @Override
    public int[] outShape(int[] chw) {
        return main.outShape(chw);
    }

    @Override
    public long macs(int[] chw) {
        return main.macs(chw) + (shortcut == null ? 0 : shortcut.macs(chw));
    }
}
