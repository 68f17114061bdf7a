package dev.pdecnn.nn;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/** Modules applied in order; children are named by the caller (e.g. "0", "1" or "conv1", "bn1"). */
public final class Sequential extends Module {
    private final List<Module> layers = new ArrayList<>();

    public Sequential(Backend be) {
        super(be);
    }

    public Sequential add(String name, Module m) {
        layers.add(child(name, m));
        return this;
    }

    /** Adds a parameter-free module that does not appear in parameter names. */
    public Sequential add(Module m) {
        return add("_" + layers.size(), m);
    }

    @Override
    public Tensor forward(Tensor x) {
        for (Module m : layers) {
            x = m.forward(x);
        }
        return x;
    }

    @Override
    public Tensor backward(Tensor gy) {
        Tensor g = gy;
        for (int i = layers.size() - 1; i >= 0; i--) {
            Tensor next = layers.get(i).backward(g);
            // a gradient between two layers is dead once the earlier layer has consumed it (its producer finished
            // with it before); giving it back lets the backward pass hold a few gradients at a time, not one per
            // layer. This module's own input gradient belongs to its caller.
            if (g != gy && g != next) {
                be.arena().release(g);
            }
            g = next;
        }
        return g;
    }

    @Override
    public int[] outShape(int[] chw) {
        for (Module m : layers) {
            chw = m.outShape(chw);
        }
        return chw;
    }

    @Override
    public long macs(int[] chw) {
        long total = 0;
        for (Module m : layers) {
            total += m.macs(chw);
            chw = m.outShape(chw);
        }
        return total;
    }
}
