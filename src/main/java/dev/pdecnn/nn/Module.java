package dev.pdecnn.nn;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A layer with an explicit forward and backward pass. {@link #forward} keeps what {@link #backward} needs
 * (each module is used once per step); {@link #backward} accumulates parameter gradients and returns the
 * gradient of its input. Parameters and children are registered by name, so full names follow PyTorch's
 * {@code layer1.0.conv1.weight} convention and checkpoints map across frameworks.
 */
public abstract class Module {
    protected final Backend be;
    private final Map<String, Param> params = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();
    protected boolean training = true;
    private ParamStore store;

    protected Module(Backend be) {
        this.be = be;
    }

    public abstract Tensor forward(Tensor x);

    public abstract Tensor backward(Tensor gy);

    protected final Tensor param(String name, int... shape) {
        return register(name, shape, true);
    }

    protected final Tensor buffer(String name, int... shape) {
        return register(name, shape, false);
    }

    private Tensor register(String name, int[] shape, boolean trainable) {
        if (params.containsKey(name) || children.containsKey(name)) {
            throw new IllegalStateException("duplicate name " + name);
        }
        Param p = new Param(name, be.zeros(shape), trainable);
        params.put(name, p);
        return p.value;
    }

    protected final <M extends Module> M child(String name, M m) {
        if (params.containsKey(name) || children.containsKey(name)) {
            throw new IllegalStateException("duplicate name " + name);
        }
        children.put(name, m);
        return m;
    }

    /** The gradient tensor of this module's own parameter {@code name}. */
    protected final Tensor grad(String name) {
        return params.get(name).grad;
    }

    public Backend backend() {
        return be;
    }

    public Map<String, Module> children() {
        return Collections.unmodifiableMap(children);
    }

    /** All parameters and buffers of this module and its descendants, with dotted full names, in order. */
    public final LinkedHashMap<String, Param> namedParams() {
        LinkedHashMap<String, Param> out = new LinkedHashMap<>();
        collect("", out);
        return out;
    }

    private void collect(String prefix, Map<String, Param> out) {
        for (Map.Entry<String, Param> e : params.entrySet()) {
            out.put(prefix + e.getKey(), e.getValue());
        }
        for (Map.Entry<String, Module> e : children.entrySet()) {
            e.getValue().collect(prefix + e.getKey() + ".", out);
        }
    }

    public final List<Param> trainableParams() {
        List<Param> out = new ArrayList<>();
        for (Param p : namedParams().values()) {
            if (p.trainable) {
                out.add(p);
            }
        }
        return out;
    }

    /**
     * The store that owns this module tree's parameters (see {@link ParamStore}), created at the first call: make
     * that call before any operation ran on a device (a {@code Network} does it when it is built), since the store
     * moves every parameter into its flat tensors.
     */
    public final ParamStore paramStore() {
        if (store == null) {
            store = new ParamStore(be, namedParams());
        }
        return store;
    }

    /** Zeros every gradient: one fill of the store's gradients when there is a store, else tensor by tensor. */
    public final void zeroGrad() {
        if (store != null) {
            store.zeroGrad();
            return;
        }
        for (Param p : namedParams().values()) {
            if (p.grad != null) {
                p.grad.fill(0);
            }
        }
    }

    public final void train(boolean on) {
        training = on;
        for (Module m : children.values()) {
            m.train(on);
        }
    }

    /** Multiply-accumulates of one forward pass for a single input of the given shape (C, H, W). */
    public long macs(int[] chw) {
        return 0;
    }

    /** Output shape (C, H, W) for a single input of shape (C, H, W). */
    public int[] outShape(int[] chw) {
        return chw;
    }
}
