package dev.pdecnn.predict;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.tensor.Tensor;
import dev.pdecnn.train.Checkpoint;
import dev.pdecnn.train.TrainStep;

import java.nio.file.Path;
import java.util.List;

/**
 * A checkpoint's network in evaluation mode (BN running statistics) on a backend, with the normalisation and
 * class names its trainer state records. It evaluates exactly as {@code eval} does ({@link TrainStep#eval}).
 */
public final class NetworkClassifier implements Classifier {
    private final Network net;
    private final TrainStep step;
    private final Checkpoint.Loaded ck;
    private final List<String> classes;

    private NetworkClassifier(Network net, Checkpoint.Loaded ck) {
        this.net = net;
        this.ck = ck;
        this.step = new TrainStep(net);
        List<String> names = new java.util.ArrayList<>(Checkpoint.classNames(ck.state(), net.classes));
        // an image folder with fewer classes than the model's 10 logits: the spare logits get placeholder names
        for (int j = names.size(); j < net.classes; j++) {
            names.add("class " + j);
        }
        this.classes = List.copyOf(names.subList(0, net.classes));
    }

    /**
     * Reads and checks {@code file} (a checkpoint of an unknown or edited model is a one-line
     * {@link dev.pdecnn.UserException}), rebuilds its network from the stored config on {@code be} and loads the
     * weights and BN statistics.
     */
    public static NetworkClassifier open(Path file, Backend be) {
        Checkpoint.Loaded ck = Checkpoint.read(file);
        RunConfig cfg = RunConfig.fromMap(ck.state().config, "checkpoint " + file);
        cfg.validate();
        Network net = Models.build(cfg, be, Models.classes(ck.state().classNames));
        Checkpoint.restore(file, ck, net, ck.state().model, null);
        return new NetworkClassifier(net, ck);
    }

    public Network network() {
        return net;
    }

    public Checkpoint.Loaded checkpoint() {
        return ck;
    }

    @Override
    public int[] inputShape() {
        return net.inputChw.clone();
    }

    @Override
    public double[] mean() {
        return ck.state().mean.clone();
    }

    @Override
    public double[] std() {
        return ck.state().std.clone();
    }

    @Override
    public List<String> classNames() {
        return classes;
    }

    @Override
    public float[][] logits(float[] nchwBatch, int n) {
        int[] s = net.inputChw;
        Tensor x = Tensor.of(nchwBatch, n, s[0], s[1], s[2]);
        if (net.backend().dtype() != x.dtype()) {
            x = x.to(net.backend().dtype());
        }
        return step.eval(x, logits -> {
            int k = logits.size() / n;
            float[][] out = new float[n][k];
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < k; j++) {
                    out[i][j] = (float) logits.get(i * k + j);
                }
            }
            return out;
        });
    }
}
