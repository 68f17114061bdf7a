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
        shareGradients(out.inputGradient(), bn2.inputGradient(), conv2.inputGradient());
    }

    /**
     * Backward runs out, bn2, conv2, bn1, conv1, then the shortcut's bn and conv, each consuming the previous
     * one's input gradient (out's is read until the final add): bn1's gradient is written after conv2 has read
     * bn2's, conv1's after bn1 has read conv2's, the shortcut bn's after conv1 has read bn1's. So bn2, bn1 and
     * the shortcut bn share one tensor, and conv2 and conv1 another when conv1's input has the output's shape (no
     * shortcut). Only on a backend that reuses buffers does a shared slot hold anything.
     */
    private void shareGradients(Buffer gOut, Buffer gBn, Buffer gConv) {
        out.shareInputGradient(gOut);
        bn2.shareInputGradient(gBn);
        bn1.shareInputGradient(gBn);
        if (shortcutBn != null) {
            shortcutBn.shareInputGradient(gBn);
        }
        conv2.shareInputGradient(gConv);
        if (shortcut == null) {
            conv1.shareInputGradient(gConv);
        }
    }

    /**
     * Shares the gradient tensors of {@code previous}, the block whose output this block takes (same output shape,
     * next to it in a Sequential). Its backward has finished with them when this block's backward starts: its
     * returned gradient (conv1's) is read by this block's out before this block writes conv2's, and nothing else of
     * it is still live. A stage of ResNet blocks so holds three gradient tensors instead of three per block.
     */
    public void shareGradientBuffers(BasicBlock previous) {
        shareGradients(previous.out.inputGradient(), previous.bn2.inputGradient(), previous.conv2.inputGradient());
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
        be.add(gx, shortcut == null ? g : shortcut.backward(g), gx);
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
