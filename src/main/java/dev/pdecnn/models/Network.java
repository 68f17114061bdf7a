package dev.pdecnn.models;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.ShapeOnlyBackend;
import dev.pdecnn.nn.Module;
import dev.pdecnn.nn.Sequential;
import dev.pdecnn.tensor.Tensor;

/**
 * A classifier: a sequential body from an image batch [N, C, H, W] to logits [N, classes], with the facts the
 * trainer and the counting commands need (its name, input shape, class count).
 */
public final class Network extends Module {
    public final String name;
    public final int[] inputChw;
    public final int classes;
    private final Sequential body;

    public Network(Backend be, String name, int[] inputChw, int classes, Sequential body) {
        super(be);
        this.name = name;
        this.inputChw = inputChw.clone();
        this.classes = classes;
        this.body = body;
        for (var e : body.children().entrySet()) {
            if (!e.getKey().startsWith("_")) {
                child(e.getKey(), e.getValue());
            }
        }
        if (!(be instanceof ShapeOnlyBackend)) { // a network for counting only: no flat store, no memory
            paramStore(); // every parameter into the flat store, before weight init and any device operation
        }
    }

    @Override
    public Tensor forward(Tensor x) {
        return body.forward(x);
    }

    @Override
    public Tensor backward(Tensor gy) {
        return body.backward(gy);
    }

    public Sequential body() {
        return body;
    }

    public long macs() {
        return body.macs(inputChw);
    }
}
