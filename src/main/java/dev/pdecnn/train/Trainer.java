package dev.pdecnn.train;

import dev.pdecnn.UserException;
import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.config.Choices;
import dev.pdecnn.config.DataConfig;
import dev.pdecnn.config.OptimConfig;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.config.TypedConfig;
import dev.pdecnn.data.DataLoader;
import dev.pdecnn.data.Dataset;
import dev.pdecnn.data.Split;
import dev.pdecnn.io.AtomicFiles;
import dev.pdecnn.io.StrictJson;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.nn.Param;
import dev.pdecnn.tensor.Tensor;
import dev.pdecnn.viz.Plots;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The study's training loop (docs/design.md §3): SGD with momentum and L2 decay on a per-step cosine schedule, test
 * evaluation with BN running statistics after every epoch, {@code last} and {@code best} checkpoints,
 * per-epoch metrics (CSV and JSON Lines), a curves PNG and a summary.
 */
public final class Trainer {
    public record Result(double bestTestAcc, int bestEpoch, double finalTestAcc, int epochs, double wallSeconds,
                         Path runDir) {
    }

    /** The data part (augmentation) and the optimisation part of the run's config. */
    private final DataConfig dataPart;
    private final OptimConfig optim;
    /** The run's config as config.json and the checkpoints record it. */
    private final Map<String, Object> keys;
    private final Split data;
    private final Path runDir;
    private final PrintStream out;
    private final boolean tty;
    private final Backend be;
    private final Network net;
    private final TrainStep step;
    private final Map<String, Tensor> velocities;
    private CheckpointEvery checkpointEvery = CheckpointEvery.parse(CheckpointEvery.DEFAULT);
    private StopSignals stop = StopSignals.manual();
    private Map<String, Object> resumedFrom;
    private String resumeCommand;
    /** What the run's last.safetensors holds ("epoch 3, batch 12 (step 57)"), once known; for messages. */
    private String lastSaved;
    /** When last.safetensors was last written (System.nanoTime), for --checkpoint-every in minutes. */
    /** The per-step diagnostics of this run ({@link StepTrace}), or null. */
    private StepTrace trace;
    private long lastSave;

    /**
     * Thrown after a stop signal, once the mid-epoch checkpoint is written and the resume command printed: the
     * process exits with {@link #exitCode()} (128 + the signal number) and the message, which is not an error.
     */
    public static final class Stopped extends UserException {
        private static final long serialVersionUID = 1L;

        Stopped(String message, int exitCode) {
            super(message, exitCode);
        }
    }

    public Trainer(RunConfig cfg, Split data, Path runDir, PrintStream out, boolean tty) {
        this(cfg, data, runDir, out, tty, new CpuBackend());
    }

    /** As above, on {@code backend} (float32; a GPU backend from --device): builds the model of {@code cfg}. */
    public Trainer(RunConfig cfg, Split data, Path runDir, PrintStream out, boolean tty, Backend backend) {
        this(Models.build(cfg.modelPart(), backend, Models.classes(data.train().classNames())), cfg.typed(), data,
                runDir, out, tty);
    }

    /**
     * Trains {@code net} (built from {@code cfg}'s model part, with a classifier for {@code data}'s classes, on the
     * backend it runs on) with {@code cfg}'s data and optimisation parts; {@code cfg}'s keys are what config.json
     * and the checkpoints record.
     */
    public Trainer(Network net, TypedConfig cfg, Split data, Path runDir, PrintStream out, boolean tty) {
        this.be = net.backend();
        this.dataPart = cfg.data();
        this.optim = cfg.optim();
        this.keys = cfg.keys();
        this.data = data;
        this.runDir = runDir;
        this.out = out;
        this.tty = tty;
        this.net = net;
        this.step = new TrainStep(net);
        this.velocities = step.store().velocities();
        int[] chw = net.inputChw;
        Dataset t = data.train();
        // Checked here, before anything is written: an empty split would train nothing and report NaN accuracies.
        if (t.size() == 0 || data.test().size() == 0) {
            throw new UserException("data set " + (t.size() == 0 ? t.name() : data.test().name()) + " has no "
                    + (t.size() == 0 ? "training" : "test") + " images; nothing to train or evaluate on");
        }
        if (t.c() != chw[0] || t.h() != chw[1] || t.w() != chw[2]) {
            throw new UserException("model '" + Choices.name(cfg.model().model) + "' expects " + chw[0] + "x" + chw[1]
                    + "x" + chw[2] + " images but data set " + t.name() + " has " + t.c() + "x" + t.h() + "x" + t.w());
        }
    }

    public Network network() {
        return net;
    }

    /** Mid-epoch checkpoints besides the epoch ends (default {@value CheckpointEvery#DEFAULT}). */
    public Trainer checkpointEvery(CheckpointEvery every) {
        this.checkpointEvery = every;
        return this;
    }

    /** Where stop requests come from (the installed signal handlers); by default nothing stops the run. */
    public Trainer stopSignals(StopSignals signals) {
        this.stop = signals;
        return this;
    }

    /** Marks this run as a fork of another run's checkpoint; recorded as resumed_from in config.json. */
    public Trainer resumedFrom(Map<String, Object> origin) {
        this.resumedFrom = origin;
        return this;
    }

    /** The command that continues this run, printed when a signal stops it. */
    public Trainer resumeCommand(String command) {
        this.resumeCommand = command;
        return this;
    }

    /**
     * Why there is nothing to train, or null: the checkpoint has reached the last epoch, or --stop-after names an
     * epoch already done. Checked by the CLI before it creates any folder, and here again.
     */
    public static String nothingToDo(TrainState st, int epochs, int stopAfter) {
        if (st.epochsDone >= epochs) {
            return "nothing to do: the run has trained all its " + epochs + " epochs (pass a larger --epochs to "
                    + "train longer)";
        }
        if (st.epochsDone >= stopAfter) {
            return "nothing to do: --stop-after " + stopAfter + " but the checkpoint is at epoch " + st.epochsDone;
        }
        return null;
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
        TrainState st = resume != null ? resumedState(resume) : freshState();
        if (st.classNames == null) { // a checkpoint from before class names were recorded: the data's are the same
            st.classNames = data.train().classNames();
        }
        try {
            Files.createDirectories(runDir);
        } catch (java.io.IOException e) {
            throw new UserException("cannot create run folder " + runDir + ": " + e.getMessage());
        }
        String why = nothingToDo(st, optim.epochs(), stopAfter);
        if (why != null) {
            throw new UserException(why);
        }
        writeConfig(st);
        DataLoader train = new DataLoader(data.train(), optim.batchSize(), true, optim.seed(),
                new DataLoader.Augment(dataPart.padCrop(), dataPart.hflip()), st.mean, st.std, false);
        DataLoader test = new DataLoader(data.test(), Math.max(optim.batchSize(), 256), false, optim.seed(),
                DataLoader.Augment.NONE, st.mean, st.std, false);
        long totalSteps = (long) optim.epochs() * train.batchesPerEpoch();
        checkPosition(st, resume, train, totalSteps);
        lastSave = System.nanoTime();
        if (st.epochsDone == 0 && st.batchesDone == 0) {
            out.printf(Locale.ROOT, "training %s: %,d trainable parameters, %,d train / %,d test images, %d epochs of %d "
                            + "steps (batch %d), run folder %s%n", net.name, trainableCount(), data.train().size(),
                    data.test().size(), optim.epochs(), train.batchesPerEpoch(), optim.batchSize(), runDir);
        }
        int lastEpoch = Math.min(optim.epochs(), stopAfter);
        try (StepTrace t = StepTrace.fromProperty(net)) { // null unless the setting pdecnn.trace names a file
            trace = t;
            for (int epoch = st.epochsDone + 1; epoch <= lastEpoch; epoch++) {
                EpochSums sums = trainEpoch(epoch, st, train, totalSteps, resume);
                endEpoch(epoch, sums, st, test);
                if (stop.requested() != null && epoch < lastEpoch) {
                    throw stopped(stop.requested(), st); // signalled during the last step or the evaluation
                }
            }
        } finally {
            trace = null;
        }
        return finish(st);
    }

    /** The state of checkpoint {@code resume}, its weights and velocities loaded into the network. */
    private TrainState resumedState(Path resume) {
        Checkpoint.Loaded ck = Checkpoint.read(resume);
        Checkpoint.restore(resume, ck, net, net.name, velocities);
        TrainState st = ck.state();
        checkMidEpoch(resume, st, keys);
        st.config = new LinkedHashMap<>(keys);
        if (resumedFrom != null) {
            st.resumedFrom = resumedFrom;
        } else if (resume.toAbsolutePath().normalize().equals(lastCheckpoint(runDir).toAbsolutePath().normalize())) {
            lastSaved = position(st);
        }
        out.printf(Locale.ROOT, "resumed %s at %s from %s%n", net.name, position(st), resume);
        return st;
    }

    /** The state of a new run: nothing trained, the training split's normalisation. */
    private TrainState freshState() {
        TrainState st = new TrainState();
        st.model = net.name;
        st.config = new LinkedHashMap<>(keys);
        st.mean = data.train().mean();
        st.std = data.train().std();
        return st;
    }

    /** The run's config.json: the effective config, where a fork came from, and the input facts. */
    private void writeConfig(TrainState st) {
        Map<String, Object> config = new LinkedHashMap<>(keys);
        if (st.resumedFrom != null) {
            config.put(RunConfig.RESUMED_FROM, st.resumedFrom);
        }
        putInputFacts(config, st);
        AtomicFiles.writeString(runDir.resolve("config.json"),
                Checkpoint.gson().newBuilder().setPrettyPrinting().serializeNulls().create().toJson(config) + "\n");
    }

    /**
     * Refuses a checkpoint whose batch lies beyond an epoch of this data, and says where the schedule continues
     * when an epoch now has another number of batches than the step counter implies.
     */
    private void checkPosition(TrainState st, Path resume, DataLoader train, long totalSteps) {
        if (st.batchesDone < 0 || st.batchesDone >= train.batchesPerEpoch()) {
            throw new UserException("checkpoint " + resume + " is at batch " + st.batchesDone + " of an epoch, but an "
                    + "epoch has " + train.batchesPerEpoch() + " batches here; is it of another data set?");
        }
        if (resume != null && st.step != (long) st.epochsDone * train.batchesPerEpoch() + st.batchesDone) {
            out.printf(Locale.ROOT, "note: %d steps done, but an epoch now has %d batches (another --batch-size or "
                    + "--limit-train): the lr schedule continues from the end of epoch %d at lr %.3g%n", st.step,
                    train.batchesPerEpoch(), st.epochsDone,
                    cosine(optim.lr(), (long) st.epochsDone * train.batchesPerEpoch(), totalSteps));
        }
    }

    /**
     * An epoch's running sums. A mid-epoch checkpoint carries them and the epoch's time, so a resumed epoch's
     * row comes out as if unbroken.
     */
    private static final class EpochSums {
        final long t0;
        double lossSum;
        long correct, seen;
        double lr;

        EpochSums(TrainState st) {
            t0 = System.nanoTime() - (long) (st.epochSeconds * 1e9);
            lossSum = st.epochLossSum;
            correct = st.epochCorrect;
            seen = st.epochSeen;
        }

        void saveInto(TrainState st, int batchesDone) {
            st.batchesDone = batchesDone;
            st.epochLossSum = lossSum;
            st.epochCorrect = correct;
            st.epochSeen = seen;
            st.epochSeconds = (System.nanoTime() - t0) / 1e9;
        }
    }

    /**
     * The training steps of {@code epoch} from the state's batch on, with mid-epoch checkpoints when due or
     * asked for by a signal (which then stops the run).
     */
    private EpochSums trainEpoch(int epoch, TrainState st, DataLoader train, long totalSteps, Path resume) {
        EpochSums sums = new EpochSums(st);
        Progress bar = new Progress(out, tty, String.format(Locale.ROOT, "epoch %d/%d", epoch, optim.epochs()),
                train.batchesPerEpoch());
        int[] pred = new int[optim.batchSize()];
        int done = st.batchesDone;
        try (DataLoader.EpochIterator it = train.epoch(epoch - 1, done)) {
            DataLoader.Batch nb = it.hasNext() ? it.next() : null;
            Tensor nx = nb == null ? null : staged(nb);
            while (nb != null) {
                DataLoader.Batch b = nb;
                Tensor x = nx;
                nb = it.hasNext() ? it.next() : null; // on a GPU the next batch uploads while this step runs
                nx = nb == null ? null : staged(nb);
                // The schedule follows progress (epochs done + this epoch's fraction) in today's steps per
                // epoch, not the step counter: resumed at an epoch end with another --batch-size or
                // --limit-train, the counter holds the old epochs' steps and would run past the schedule's end
                // (lr 0). Unchanged settings give the same number as the counter, so resume stays bit-exact.
                sums.lr = cosine(optim.lr(), (long) (epoch - 1) * train.batchesPerEpoch() + done, totalSteps);
                double loss = step.train(x, b.y(), sums.lr, optim.momentum(), optim.weightDecay(), pred);
                if (!Double.isFinite(loss)) {
                    throw diverged(loss, epoch, st.step, sums.lr, resume);
                }
                st.step++;
                if (trace != null) {
                    trace.record(st.step, epoch, sums.lr, loss, pred, b.y(), b.n(), x);
                }
                sums.lossSum += loss * b.n();
                for (int i = 0; i < b.n(); i++) {
                    sums.correct += pred[i] == b.y()[i] ? 1 : 0;
                }
                sums.seen += b.n();
                bar.update(++done, sums.seen, sums.lossSum / sums.seen, (double) sums.correct / sums.seen);
                afterEachStep.run();
                // The last batch is left to the epoch's own checkpoint (and a stop then comes after it).
                String signal = stop.requested();
                if (done < it.size() && (signal != null
                        || checkpointEvery.due(st.step, System.nanoTime() - lastSave))) {
                    sums.saveInto(st, done);
                    Checkpoint.save(lastCheckpoint(runDir), net, velocities, st);
                    lastSaved = position(st);
                    lastSave = System.nanoTime();
                    if (signal != null) {
                        throw stopped(signal, st);
                    }
                }
            }
        }
        st.batchesDone = 0;
        st.epochLossSum = 0;
        st.epochCorrect = 0;
        st.epochSeen = 0;
        st.epochSeconds = 0;
        return sums;
    }

    /** Evaluates the finished epoch, records it, writes the best and last checkpoints and the metrics, prints it. */
    private void endEpoch(int epoch, EpochSums sums, TrainState st, DataLoader test) {
        double trainSecs = (System.nanoTime() - sums.t0) / 1e9;
        double[] ev = evaluate(net, be, test);
        double secs = (System.nanoTime() - sums.t0) / 1e9;
        EpochStats s = new EpochStats(epoch, sums.lossSum / sums.seen, (double) sums.correct / sums.seen, ev[0], ev[1],
                sums.lr, secs, sums.seen / trainSecs, (int) ev[2]);
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
        lastSaved = position(st);
        lastSave = System.nanoTime();
        writeMetrics(st.history);
        out.printf(Locale.ROOT, "epoch %d/%d  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%%s%s  lr %.2e  %.1f s%n",
                epoch, optim.epochs(), s.trainLoss(), 100 * s.trainAcc(), s.testLoss(), 100 * s.testAcc(),
                divergedNote(s.testDiverged()), best ? " (best)" : "", sums.lr, secs);
    }

    /** The run's result, also written as summary.json and printed. */
    private Result finish(TrainState st) {
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
        summary.put("config", new LinkedHashMap<>(keys));
        putInputFacts(summary, st);
        AtomicFiles.writeString(runDir.resolve("summary.json"), // strict JSON: a NaN accuracy is null
                StrictJson.toJson(Checkpoint.gson().newBuilder().setPrettyPrinting().create(), summary) + "\n");
        out.printf(Locale.ROOT, "done: %s best test acc %.2f%% (epoch %d), final %.2f%%, %d epochs, wall %s, run %s%n",
                net.name, 100 * r.bestTestAcc(), r.bestEpoch(), 100 * r.finalTestAcc(), r.epochs(),
                Progress.clock(r.wallSeconds()), runDir);
        return r;
    }

    /**
     * What a user of the trained model needs besides the weights, also in the checkpoint header: the input
     * normalisation ({@code (pixel/255 - mean) / std} per channel) and the class names in label order.
     */
    private static void putInputFacts(Map<String, Object> into, TrainState st) {
        Map<String, Object> norm = new LinkedHashMap<>();
        norm.put("mean", st.mean);
        norm.put("std", st.std);
        into.put(RunConfig.NORMALIZATION, norm);
        into.put(RunConfig.CLASS_NAMES, st.classNames);
    }

    /**
     * Runs after every training step; nothing here sets it. A package-private seam: tests that signal a trainer in
     * a child JVM slow its steps down through it (a java agent of the tests) so that "mid-epoch" is certain.
     */
    static volatile Runnable afterEachStep = () -> {
    };

    /** "epoch 3, batch 12 (step 57)" for a mid-epoch state, "the end of epoch 3 (step 60)" otherwise. */
    private String position(TrainState st) {
        return st.batchesDone > 0
                ? String.format(Locale.ROOT, "epoch %d, batch %d (step %d)", st.epochsDone + 1, st.batchesDone, st.step)
                : String.format(Locale.ROOT, "the end of epoch %d (step %d)", st.epochsDone, st.step);
    }

    /**
     * A mid-epoch checkpoint continues at its batch index only with the data order it was cut from; a changed
     * batch size, seed, data set or subset would silently skip or repeat images.
     */
    private static void checkMidEpoch(Path file, TrainState st, Map<String, Object> now) {
        if (st.batchesDone == 0) {
            return;
        }
        for (String key : new String[]{"batch_size", "seed", "dataset", "limit_train"}) {
            Object a = st.config.get(key), b = now.get(key);
            boolean same = a instanceof Number x && b instanceof Number y ? x.doubleValue() == y.doubleValue()
                    : java.util.Objects.equals(a, b);
            if (!same) {
                throw new UserException("checkpoint " + file + " stopped inside an epoch (batch " + st.batchesDone
                        + "), so it continues only with its own " + key + " (" + a + "), not " + b + "; drop that "
                        + "option or resume from an epoch's end");
            }
        }
    }

    private UserException diverged(double loss, int epoch, long step, double lr, Path resume) {
        Path last = lastCheckpoint(runDir);
        String kept;
        if (lastSaved != null) {
            kept = "the last checkpoint, at " + lastSaved + ", is kept in " + last + "; lower --lr and --resume "
                    + runDir + ", or restart";
        } else if (Files.exists(last)) {
            kept = "the checkpoint " + last + " is kept; lower --lr and --resume " + runDir + ", or restart";
        } else if (resume != null) {
            kept = "no checkpoint was written in " + runDir + " before it diverged; lower --lr and --resume " + resume
                    + " again, or restart";
        } else {
            kept = "no checkpoint was written before it diverged; lower --lr and restart";
        }
        return new UserException(String.format(Locale.ROOT, "training diverged: loss is %s at epoch %d, step %d "
                + "(lr %.3g); %s", loss, epoch, step, lr, kept), 3);
    }

    private Stopped stopped(String signal, TrainState st) {
        if (tty) {
            out.println();
        }
        String cmd = resumeCommand != null ? resumeCommand : "java -jar trainer.jar --resume " + runDir;
        out.printf(Locale.ROOT, "stopped by %s at %s; checkpoint %s%n", signal, position(st), lastCheckpoint(runDir));
        out.println("resume with: " + cmd);
        out.flush();
        return new Stopped("stopped by " + signal + "; resume with: " + cmd, stop.exitCode());
    }

    /** The batch as a tensor; on a GPU backend its upload starts now ({@link dev.pdecnn.backend.Device#prefetch}). */
    private Tensor staged(DataLoader.Batch b) {
        Tensor x = Tensor.of(b.x(), b.n(), b.c(), b.h(), b.w());
        be.device().prefetch(x);
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
        EvalSums sums = new EvalSums();
        TrainStep step = new TrainStep(net);
        try (DataLoader.EpochIterator it = test.epoch(0)) {
            while (it.hasNext()) {
                DataLoader.Batch b = it.next();
                Tensor x = Tensor.of(b.x(), b.n(), b.c(), b.h(), b.w());
                if (be.dtype() != x.dtype()) {
                    x = x.to(be.dtype());
                }
                step.eval(x, logits -> {
                    sums.add(be, logits, b.y());
                    return null;
                });
            }
        }
        return new double[]{sums.loss(), sums.accuracy(), sums.diverged};
    }

    private void writeMetrics(List<EpochStats> history) {
        StringBuilder csv = new StringBuilder("epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds,images_per_second,test_diverged\n");
        StringBuilder jsonl = new StringBuilder();
        List<Plots.EpochPoint> points = new ArrayList<>();
        for (EpochStats s : history) {
            csv.append(String.format(Locale.ROOT, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.3f,%.1f,%d%n", s.epoch(), s.trainLoss(),
                    s.trainAcc(), s.testLoss(), s.testAcc(), s.lr(), s.seconds(), s.imagesPerSecond(), s.testDiverged()));
            jsonl.append(StrictJson.toJson(Checkpoint.gson(), s)).append('\n'); // a NaN test loss is null
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
