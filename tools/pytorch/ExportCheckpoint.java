import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.config.ConfigFiles;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.io.Safetensors;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.tensor.Tensor;
import dev.pdecnn.train.Checkpoint;
import dev.pdecnn.train.TrainState;
import dev.pdecnn.train.TrainStep;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a real trainer checkpoint for tools/pytorch/reference.py to load strictly: the model of a config trained
 * STEPS float32 SGD steps on the CPU backend (random normal images, random labels, batch 8), saved by
 * {@link Checkpoint#save} as the trainer saves it (so with num_batches_tracked = STEPS), and an inputs file with a
 * fresh random batch ("x") and our evaluation-mode logits of it: "eval_logits_f64" from the checkpoint read back into
 * the float64 reference backend, "eval_logits_f32" from the float32 network that was trained.
 *
 * BN momentum is raised to 0.2 (PyTorch convention) and the learning rate lowered to 1e-3 for this export only, so
 * that after a few dozen steps the running statistics are those of the current weights on the data rather than the
 * initial (0, 1) or of weights that have moved since: an evaluation-mode comparison needs trained statistics
 * (SPEC §8). With the default lr 1e-2, 11 of 16 images of row 2 reached logits of 1e2 to 3e11 in evaluation mode
 * (still equal in both implementations to 3e-14, but their float32 rounding is amplified as much).
 *
 * The float32 trajectory (so which images a short training on noise leaves amplified) depends on the summation
 * order of the convolutions; when fewer than 8 of the 16 images stay below 100, the export is repeated from the
 * next seed, at most 10 times, and the seed used is printed and stored in the inputs file.
 *
 *   java -cp target/trainer.jar tools/pytorch/ExportCheckpoint.java CONFIG CKPT INPUTS [steps] [seed]
 */
public class ExportCheckpoint {
    /** Evaluation-mode logits of at least this many of the 16 images must stay below 100 in magnitude. */
    static final int CALM_MIN = 8;
    /** Seeds tried, from the one given, before giving up. */
    static final int SEED_TRIES = 10;

    public static void main(String[] args) {
        RunConfig cfg = new RunConfig();
        ConfigFiles.apply(Path.of(args[0]), cfg);
        cfg.bnMomentum = 0.2;
        cfg.lr = 1e-3;
        cfg.validate();
        Path ckpt = Path.of(args[1]), inputs = Path.of(args[2]);
        int steps = args.length > 3 ? Integer.parseInt(args[3]) : 30;
        long seed = args.length > 4 ? Long.parseLong(args[4]) : 3;
        // After a few dozen steps on noise the PDE in evaluation mode amplifies some images to 1e3-1e53 (SPEC §8),
        // and which ones depends on the float32 trajectory, so on the summation order of the convolutions. The
        // check compares float32 on the images that stay in range and needs half of them; a trajectory that
        // leaves fewer is retrained from the next seed (the float64 comparison covers every image either way).
        for (long s = seed; s < seed + SEED_TRIES; s++) {
            int calm = export(cfg, ckpt, inputs, steps, s);
            if (calm >= CALM_MIN) {
                return;
            }
            System.out.printf("seed %d: only %d of 16 evaluation-mode images below 100; next seed%n", s, calm);
        }
        throw new IllegalStateException("no seed from " + seed + " left " + CALM_MIN + " images in range");
    }

    /** Trains, writes the checkpoint and the inputs file; returns how many images have logits below 100. */
    static int export(RunConfig cfg, Path ckpt, Path inputs, int steps, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Network net = Models.build(cfg, new CpuBackend());
        TrainStep step = new TrainStep(net);
        int batch = 8;
        for (int s = 0; s < steps; s++) {
            int[] y = new int[batch];
            for (int i = 0; i < batch; i++) {
                y[i] = rnd.nextInt(net.classes);
            }
            step.train(randomBatch(net, batch, rnd), y, cfg.lr, cfg.momentum, cfg.weightDecay, null);
        }
        TrainState st = new TrainState();
        st.model = net.name;
        st.config = cfg.toMap();
        st.step = steps;
        st.mean = new double[net.inputChw[0]];
        st.std = new double[net.inputChw[0]];
        java.util.Arrays.fill(st.std, 1);
        st.classNames = net.inputChw[0] == 1 ? dev.pdecnn.data.Mnist.CLASS_NAMES : dev.pdecnn.data.Cifar10.CLASS_NAMES;
        Checkpoint.save(ckpt, net, step.store().velocities(), st);

        Tensor x = randomBatch(net, 16, rnd);
        Tensor f32 = step.eval(x, Tensor::copy);
        Checkpoint.Loaded back = Checkpoint.read(ckpt);
        Network ref = Models.build(cfg, new ReferenceBackend());
        Checkpoint.restore(ckpt, back, ref, back.state().model, null);
        Tensor f64 = new TrainStep(ref).eval(x.to(dev.pdecnn.tensor.DType.F64), Tensor::copy);
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        out.put("x", x.to(dev.pdecnn.tensor.DType.F64));
        out.put("eval_logits_f64", f64);
        out.put("eval_logits_f32", f32);
        Safetensors.write(inputs, out, Map.of("model", net.name, "steps", Integer.toString(steps),
                "seed", Long.toString(seed)));
        System.out.printf("%s: %d steps, seed %d -> %s, %s%n", net.name, steps, seed, ckpt, inputs);
        int classes = f64.size() / 16, calm = 0;
        for (int i = 0; i < 16; i++) {
            double big = 0;
            for (int k = 0; k < classes; k++) {
                big = Math.max(big, Math.abs(f64.get(i * classes + k)));
            }
            calm += big < 100 ? 1 : 0;
        }
        return calm;
    }

    private static Tensor randomBatch(Network net, int n, SplittableRandom rnd) {
        int[] chw = net.inputChw;
        float[] xs = new float[n * chw[0] * chw[1] * chw[2]];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = (float) rnd.nextGaussian();
        }
        return Tensor.of(xs, n, chw[0], chw[1], chw[2]);
    }
}
