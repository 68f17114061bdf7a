package dev.pdecnn.gpu;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.config.ConfigFiles;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.models.Network;
import dev.pdecnn.selfcheck.StepChecks;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import dev.pdecnn.train.TrainStep;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** One training step as the Trainer takes it, and the tools to compare two networks after it. */
final class Steps {
    private Steps() {
    }

    /** A config file of configs/ with the tiny-network overrides the GPU-path tests use. */
    /**
     * {@code -Dpdecnn.steps.full=true}: the ResNets at their real widths and depth (for a run on a GPU, where the
     * cost does not matter); by default widths 4,4,4,4 with one block per stage, to keep the emulation quick.
     */
    static final boolean FULL_SIZE = Boolean.getBoolean("pdecnn.steps.full");

    static RunConfig config(String file) {
        RunConfig cfg = new RunConfig();
        ConfigFiles.apply(Path.of("configs").resolve(file), cfg);
        if (cfg.model.startsWith("resnet") && !FULL_SIZE) {
            cfg.widths = List.of(4, 4, 4, 4);
            cfg.blocks = 1;
        }
        // The comparisons are of backends, not of ReLU kinks: at batch 2 a pre-activation that lies within float32
        // rounding of 0 flips a ReLU mask in one backend only and moves every gradient below it by O(1). With
        // PyTorch's default init (the CIFAR configs' weight_init) and these seeds, one element of layer1 sits at
        // -1.4e-7; the He-normal weights have no pre-activation closer to 0 than float32 rounding can reach.
        cfg.weightInit = "he_normal";
        cfg.validate();
        return cfg;
    }

    /** A batch of {@code n} random inputs for the network (standard normal, float-representable). */
    static Tensor batch(Network net, int n, DType dtype, long seed) {
        return StepChecks.batch(net, n, dtype, seed);
    }

    static int[] labels(int n, long seed) {
        return StepChecks.labels(n, seed);
    }

    /** Copies every parameter and buffer of {@code from} into {@code to} (same architecture, any dtypes). */
    static void copyWeights(Network from, Network to) {
        StepChecks.copyWeights(from, to);
    }

    /**
     * One SGD step exactly as the Trainer takes it ({@link TrainStep#train}): zero gradients, forward, softmax
     * cross-entropy, backward, then the momentum update of the network's parameter store. {@code vel} gets the
     * store's momentum buffers by name (for comparisons). Returns the loss.
     */
    static double sgdStep(Network net, Backend be, Tensor x, int[] y, Map<String, Tensor> vel, double lr,
                          double momentum, double wd) {
        TrainStep step = new TrainStep(net);
        double loss = step.train(x, y, lr, momentum, wd, new int[y.length]);
        vel.putAll(step.store().velocities());
        return loss;
    }

    static Map<String, Tensor> velocities() {
        return new LinkedHashMap<>();
    }

    static double rms(Tensor t) {
        t.download();
        double s = 0;
        for (int i = 0; i < t.size(); i++) {
            s += t.get(i) * t.get(i);
        }
        return Math.sqrt(s / Math.max(1, t.size()));
    }

    /** max_i |got_i - ref_i| / (|ref_i| + rms(ref)) (0 when both are all zero). */
    static double error(Tensor got, Tensor ref) {
        got.download();
        ref.download();
        if (got.size() != ref.size()) {
            throw new AssertionError("sizes differ: " + got + " vs " + ref);
        }
        double scale = rms(ref), worst = 0;
        for (int i = 0; i < ref.size(); i++) {
            double d = Math.abs(got.get(i) - ref.get(i));
            if (d == 0) {
                continue;
            }
            double den = Math.abs(ref.get(i)) + scale;
            worst = Math.max(worst, den == 0 ? Double.POSITIVE_INFINITY : d / den);
        }
        return worst;
    }
}
