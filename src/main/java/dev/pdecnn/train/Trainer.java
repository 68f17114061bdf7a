package dev.pdecnn.train;

import dev.pdecnn.UserException;
import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.data.DataLoader;
import dev.pdecnn.data.Dataset;
import dev.pdecnn.data.Split;
import dev.pdecnn.io.AtomicFiles;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.nn.Param;
import dev.pdecnn.tensor.Tensor;
import dev.pdecnn.viz.Plots;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The study's training loop (SPEC §3): SGD with momentum and L2 decay on a per-step cosine schedule, test
 * evaluation with BN running statistics after every epoch, {@code last} and {@code best} checkpoints,
 * per-epoch metrics (CSV and JSON Lines), a curves PNG and a summary.
 */
public final class Trainer {
    public record Result(double bestTestAcc, int bestEpoch, double finalTestAcc, int epochs, double wallSeconds,
                         Path runDir) {
    }

    private final RunConfig cfg;
    private final Split data;
    private final Path runDir;
    private final PrintStream out;
    private final boolean tty;
    private final Backend be;
    private final Network net;
    private final Map<String, Tensor> velocities = new LinkedHashMap<>();
    private final List<Param> trainable = new ArrayList<>();

    public Trainer(RunConfig cfg, Split data, Path runDir, PrintStream out, boolean tty) {
        this(cfg, data, runDir, out, tty, new CpuBackend());
    }

    /** As above, on {@code backend} (float32; a GPU backend from --device). */
    public Trainer(RunConfig cfg, Split data, Path runDir, PrintStream out, boolean tty, Backend backend) {
        this.be = backend;
        this.cfg = cfg;
        this.data = data;
        this.runDir = runDir;
        this.out = out;
        this.tty = tty;
        this.net = Models.build(cfg, be);
        for (Map.Entry<String, Param> e : net.namedParams().entrySet()) {
            if (e.getValue().trainable) {
                velocities.put(e.getKey(), e.getValue().value.zerosLike());
                trainable.add(e.getValue());
            }
        }
        int[] chw = net.inputChw;
        Dataset t = data.train();
        if (t.c() != chw[0] || t.h() != chw[1] || t.w() != chw[2]) {
            throw new UserException("model '" + cfg.model + "' expects " + chw[0] + "x" + chw[1] + "x" + chw[2]
                    + " images but data set " + t.name() + " has " + t.c() + "x" + t.h() + "x" + t.w());
        }
    }

    public Network network() {
        return net;
    }

    public static Path lastCheckpoint(Path runDir) {
        return runDir.resolve("last.safetensors");
    }

    public static Path bestCheckpoint(Path runDir) {
        return runDir.resolve("best.safetensors");
    }

    /** Trains from scratch, or from {@code resume} (a checkpoint file) when non-null. */
    public Result run(Path resume) {
        return run(resume, Integer.MAX_VALUE);
    }

    /**
     * As {@link #run(Path)}, but stops after epoch {@code stopAfter} (the schedule still spans all epochs), so a
     * long run can be split into sessions and continued with --resume exactly as if it had not stopped.
     */
    public Result run(Path resume, int stopAfter) {
        TrainState st;
        if (resume != null) {
            Checkpoint.Loaded ck = Checkpoint.read(resume);
            Checkpoint.restore(resume, ck, net, net.name, velocities);
            st = ck.state();
            st.config = cfg.toMap();
            out.printf(Locale.ROOT, "resumed %s at epoch %d (step %d) from %s%n", net.name, st.epochsDone, st.step, resume);
        } else {
            st = new TrainState();
            st.model = net.name;
            st.config = cfg.toMap();
            st.mean = data.train().mean();
            st.std = data.train().std();
        }
        try {
            Files.createDirectories(runDir);
        } catch (java.io.IOException e) {
            throw new UserException("cannot create run folder " + runDir + ": " + e.getMessage());
        }
        AtomicFiles.writeString(runDir.resolve("config.json"),
                Checkpoint.gson().newBuilder().setPrettyPrinting().serializeNulls().create().toJson(cfg.toMap()) + "\n");
        DataLoader train = new DataLoader(data.train(), cfg.batchSize, true, cfg.seed,
                new DataLoader.Augment(cfg.padCrop, cfg.hflip), st.mean, st.std, false);
        DataLoader test = new DataLoader(data.test(), Math.max(cfg.batchSize, 256), false, cfg.seed,
                DataLoader.Augment.NONE, st.mean, st.std, false);
        long totalSteps = (long) cfg.epochs * train.batchesPerEpoch();
        if (st.epochsDone == 0) {
            out.printf(Locale.ROOT, "training %s: %,d trainable parameters, %,d train / %,d test images, %d epochs of %d "
                            + "steps (batch %d), run folder %s%n", net.name, trainableCount(), data.train().size(),
                    data.test().size(), cfg.epochs, train.batchesPerEpoch(), cfg.batchSize, runDir);
        }
        for (int epoch = st.epochsDone + 1; epoch <= Math.min(cfg.epochs, stopAfter); epoch++) {
            long t0 = System.nanoTime();
            double lossSum = 0;
            long correct = 0, seen = 0;
            double lr = 0;
            Progress bar = new Progress(out, tty, String.format(Locale.ROOT, "epoch %d/%d", epoch, cfg.epochs),
                    train.batchesPerEpoch());
            int[] pred = new int[cfg.batchSize];
            int done = 0;
            try (DataLoader.EpochIterator it = train.epoch(epoch - 1)) {
                DataLoader.Batch nb = it.hasNext() ? it.next() : null;
                Tensor nx = nb == null ? null : staged(nb);
                while (nb != null) {
                    DataLoader.Batch b = nb;
                    Tensor x = nx;
                    nb = it.hasNext() ? it.next() : null; // on a GPU the next batch uploads while this step runs
                    nx = nb == null ? null : staged(nb);
                    net.zeroGrad();
                    Tensor logits = net.forward(x);
                    Tensor g = logits.zerosLike();
                    double loss = be.softmaxCrossEntropy(logits, b.y(), g, pred);
                    if (!Double.isFinite(loss)) {
                        throw new UserException(String.format(Locale.ROOT, "training diverged: loss is %s at epoch %d, "
                                        + "step %d (lr %.3g); the last good checkpoint is kept in %s; lower --lr and "
                                        + "--resume or restart", loss, epoch, st.step, lr, runDir), 3);
                    }
                    net.backward(g);
                    lr = cosine(cfg.lr, st.step, totalSteps);
                    int pi = 0;
                    for (Tensor vel : velocities.values()) {
                        Param p = trainable.get(pi++);
                        be.sgdStep(p.value, p.grad, vel, lr, cfg.momentum, cfg.weightDecay);
                    }
                    st.step++;
                    lossSum += loss * b.n();
                    for (int i = 0; i < b.n(); i++) {
                        correct += pred[i] == b.y()[i] ? 1 : 0;
                    }
                    seen += b.n();
                    bar.update(++done, seen, lossSum / seen, (double) correct / seen);
                }
            }
            double trainSecs = (System.nanoTime() - t0) / 1e9;
            double[] ev = evaluate(net, be, test);
            double secs = (System.nanoTime() - t0) / 1e9;
            EpochStats s = new EpochStats(epoch, lossSum / seen, (double) correct / seen, ev[0], ev[1], lr, secs,
                    seen / trainSecs, (int) ev[2]);
            st.history.add(s);
            st.epochsDone = epoch;
            st.wallSeconds += secs;
            boolean best = ev[1] > st.bestTestAcc;
            if (best) {
                st.bestTestAcc = ev[1];
                st.bestEpoch = epoch;
                Checkpoint.save(bestCheckpoint(runDir), net, velocities, st);
            }
            Checkpoint.save(lastCheckpoint(runDir), net, velocities, st);
            writeMetrics(st.history);
            out.printf(Locale.ROOT, "epoch %d/%d  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%%s%s  lr %.2e  %.1f s%n",
                    epoch, cfg.epochs, s.trainLoss(), 100 * s.trainAcc(), s.testLoss(), 100 * s.testAcc(),
                    divergedNote(s.testDiverged()), best ? " (best)" : "", lr, secs);
        }
        EpochStats last = st.history.isEmpty() ? null : st.history.get(st.history.size() - 1);
        Result r = new Result(st.bestTestAcc, st.bestEpoch, last == null ? Double.NaN : last.testAcc(),
                st.epochsDone, st.wallSeconds, runDir);
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("model", net.name);
        summary.put("best_test_acc", r.bestTestAcc());
        summary.put("best_epoch", r.bestEpoch());
        summary.put("final_test_acc", r.finalTestAcc());
        summary.put("epochs", r.epochs());
        summary.put("wall_seconds", r.wallSeconds());
        summary.put("trainable_params", trainableCount());
        summary.put("params_with_bn_stats", net.namedParams().values().stream().mapToLong(Param::size).sum());
        summary.put("macs", net.macs());
        summary.put("config", cfg.toMap());
        AtomicFiles.writeString(runDir.resolve("summary.json"),
                Checkpoint.gson().newBuilder().setPrettyPrinting().serializeNulls().create().toJson(summary) + "\n");
        out.printf(Locale.ROOT, "done: %s best test acc %.2f%% (epoch %d), final %.2f%%, %d epochs, wall %s, run %s%n",
                net.name, 100 * r.bestTestAcc(), r.bestEpoch(), 100 * r.finalTestAcc(), r.epochs(),
                Progress.clock(r.wallSeconds()), runDir);
        return r;
    }

    /** The batch as a tensor; on a GPU backend its upload starts now (CudaBackend.stage). */
    private Tensor staged(DataLoader.Batch b) {
        Tensor x = Tensor.of(b.x(), b.n(), b.c(), b.h(), b.w());
        if (be instanceof CudaBackend gpu) {
            gpu.stage(x);
        }
        return x;
    }

    private long trainableCount() {
        return net.trainableParams().stream().mapToLong(Param::size).sum();
    }

    /** Cosine decay from lr0 to 0 over all steps (Keras CosineDecay with alpha 0). */
    public static double cosine(double lr0, long step, long totalSteps) {
        return lr0 * 0.5 * (1 + Math.cos(Math.PI * Math.min(step, totalSteps) / (double) totalSteps));
    }

    /** The note after a test loss when some images diverged. */
    public static String divergedNote(int diverged) {
        return diverged == 0 ? "" : String.format(Locale.ROOT, " [%d images diverged (a logit beyond %.0e or not "
                + "finite): left out of the loss]", diverged, EvalSums.DIVERGED_LOGIT);
    }

    /**
     * Test loss and accuracy with BN running statistics; returns {loss, acc, diverged}. With BN running statistics
     * the explicit PDE steps can diverge for a few images (their velocities exceed the range the batch statistics
     * of training kept them in): their logits grow to 1e10 and beyond, or overflow. One such image would make the
     * mean loss meaningless (or NaN), so those images are left out of the loss and counted; they still count in
     * the accuracy (by their argmax; wrong when not finite).
     */
    public static double[] evaluate(Network net, Backend be, DataLoader test) {
        net.train(false);
        EvalSums sums = new EvalSums();
        try (DataLoader.EpochIterator it = test.epoch(0)) {
            while (it.hasNext()) {
                DataLoader.Batch b = it.next();
                Tensor x = Tensor.of(b.x(), b.n(), b.c(), b.h(), b.w());
                if (be.dtype() != x.dtype()) {
                    x = x.to(be.dtype());
                }
                sums.add(be, net.forward(x), b.y());
            }
        } finally {
            net.train(true);
        }
        return new double[]{sums.loss(), sums.accuracy(), sums.diverged};
    }

    /** Running sums of an evaluation; images with diverged logits are counted and kept out of the loss. */
    static final class EvalSums {
        /**
         * A logit beyond this magnitude marks a diverged image: a trained classifier's logits are O(10) (a gap of
         * 40 already gives a probability of 1 - 4e-18), so 1e4 arises only from the unstable PDE, never from a
         * confident healthy prediction.
         */
        static final double DIVERGED_LOGIT = 1e4;

        double lossSum;
        long correct, seen, diverged;

        void add(Backend be, Tensor logits, int[] labels) {
            int n = logits.dim(0), k = logits.size() / n;
            int[] rows = new int[n];
            int good = 0;
            for (int i = 0; i < n; i++) {
                boolean sane = true, finite = true;
                int arg = 0;
                for (int j = 0; j < k; j++) {
                    double v = logits.get(i * k + j);
                    finite &= Double.isFinite(v);
                    sane &= Math.abs(v) <= DIVERGED_LOGIT;
                    arg = v > logits.get(i * k + arg) ? j : arg;
                }
                if (sane) {
                    rows[good++] = i;
                } else {
                    diverged++;
                    correct += finite && arg == labels[i] ? 1 : 0;
                }
            }
            Tensor use = logits;
            int[] y = labels;
            if (good < n) {
                use = Tensor.zeros(logits.dtype(), good, k);
                y = new int[good];
                for (int r = 0; r < good; r++) {
                    y[r] = labels[rows[r]];
                    for (int j = 0; j < k; j++) {
                        use.set(r * k + j, logits.get(rows[r] * k + j));
                    }
                }
            }
            if (good > 0) {
                int[] pred = new int[good];
                lossSum += be.softmaxCrossEntropy(use, Arrays.copyOf(y, good), null, pred) * good;
                for (int r = 0; r < good; r++) {
                    correct += pred[r] == y[r] ? 1 : 0;
                }
            }
            seen += n;
        }

        double loss() {
            return seen == diverged ? Double.NaN : lossSum / (seen - diverged);
        }

        double accuracy() {
            return seen == 0 ? Double.NaN : (double) correct / seen;
        }
    }

    private void writeMetrics(List<EpochStats> history) {
        StringBuilder csv = new StringBuilder("epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds,images_per_second,test_diverged\n");
        StringBuilder jsonl = new StringBuilder();
        List<Plots.EpochPoint> points = new ArrayList<>();
        for (EpochStats s : history) {
            csv.append(String.format(Locale.ROOT, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.3f,%.1f,%d%n", s.epoch(), s.trainLoss(),
                    s.trainAcc(), s.testLoss(), s.testAcc(), s.lr(), s.seconds(), s.imagesPerSecond(), s.testDiverged()));
            jsonl.append(Checkpoint.gson().toJson(s)).append('\n');
            points.add(new Plots.EpochPoint(s.epoch(), s.trainLoss(), s.trainAcc(), s.testLoss(), s.testAcc(), s.lr()));
        }
        AtomicFiles.writeString(runDir.resolve("metrics.csv"), csv.toString());
        AtomicFiles.writeString(runDir.resolve("metrics.jsonl"), jsonl.toString());
        try {
            Plots.trainingCurves(runDir.resolve("curves.png"), net.name, points);
        } catch (RuntimeException | InternalError | LinkageError e) { // e.g. a JRE without fonts: the numbers are written
            if (!curvesFailed) {
                curvesFailed = true;
                out.println("note: curves.png not drawn (" + e + "); metrics.csv has the numbers");
            }
        }
    }

    /** Set once drawing the curves failed, so the note is printed once. */
    private boolean curvesFailed;
}
