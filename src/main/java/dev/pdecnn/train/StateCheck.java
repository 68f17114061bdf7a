package dev.pdecnn.train;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.ToNumberPolicy;
import dev.pdecnn.UserException;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.config.TypedConfig;
import dev.pdecnn.models.Models;
import dev.pdecnn.tensor.Tensor;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * Validates a checkpoint's trainer state and tensors before anything is built from them. A checkpoint is a file
 * like any other input, so its stored config passes the same key-by-key checks as a config file or the command
 * line, and the model it describes must fit the tensors actually present: a state edited to {@code K:
 * 2000000000} or {@code blocks: 200000} is refused in milliseconds instead of hanging or allocating gigabytes.
 * Counters, normalisation and history are checked too, so later code never meets a null, a zero std, a
 * non-finite weight or an epoch counter that overflows.
 */
final class StateCheck {
    /** Integers as Long, others as Double: exact for every integer key (the default would make seeds doubles). */
    private static final Gson GSON = new GsonBuilder().serializeSpecialFloatingPointValues()
            .setObjectToNumberStrategy(ToNumberPolicy.LONG_OR_DOUBLE).create();
    static final String FORMAT_PREFIX = "pde-trainer-checkpoint-";

    private StateCheck() {
    }

    /** Parses and checks the trainer state of {@code file}, whose tensors are {@code tensors}. */
    static TrainState parse(Path file, String json, Map<String, Tensor> tensors) {
        String where = "checkpoint " + file;
        TrainState st;
        try {
            st = GSON.fromJson(json, TrainState.class);
        } catch (RuntimeException | StackOverflowError e) {
            // Gson reports malformed or mistyped JSON as JsonParseException, IllegalStateException or
            // NumberFormatException (e.g. an int field holding 1e40); all mean the same to the user.
            throw new UserException(where + ": unreadable trainer state: " + rootMessage(e));
        }
        if (st == null || st.model == null || st.config == null) {
            throw new UserException(where + ": trainer state is incomplete (no "
                    + (st == null ? "state" : st.model == null ? "'model'" : "'config'") + ")");
        }
        RunConfig cfg = RunConfig.fromMap(st.config, where + " (trainer state)");
        String bad = problem(st, cfg.validate());
        if (bad != null) {
            throw new UserException(where + ": trainer state " + bad + "; the file is corrupt or was edited");
        }
        long stored = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            if (!e.getKey().startsWith(Checkpoint.OPT_PREFIX)) {
                stored += e.getValue().size();
            }
        }
        long needed = cfg.minParams();
        if (stored < needed) {
            throw new UserException(String.format(java.util.Locale.ROOT, "%s: its trainer state describes model '%s' "
                    + "with at least %,d parameters but the file holds only %,d values; the file is corrupt or was "
                    + "edited", where, st.model, needed, stored));
        }
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            if (!e.getValue().allFinite()) {
                throw new UserException(where + ": weights are not finite: " + e.getKey() + " holds NaN or infinity "
                        + "(saved from a diverged run?); use an earlier checkpoint");
            }
        }
        return st;
    }

    /** What is wrong with the state's fields besides its config, or null. */
    private static String problem(TrainState st, TypedConfig cfg) {
        String name = Models.name(cfg.model());
        if (!st.model.equals(name)) {
            return "names model '" + show(st.model) + "' but its config describes '" + name + "'";
        }
        if (st.format != null && !st.format.startsWith(FORMAT_PREFIX)) {
            return "has format '" + show(st.format) + "', not " + FORMAT_PREFIX + "N";
        }
        int epochs = cfg.optim().epochs();
        if (st.epochsDone < 0 || st.epochsDone > epochs) {
            return "has epochsDone " + st.epochsDone + " outside 0.." + epochs + " (its config's epochs)";
        }
        // Every finished epoch took at least one step; no epoch holds more than 2^31 images.
        if (st.step < st.epochsDone || st.step > (st.epochsDone + 1L) * Integer.MAX_VALUE) {
            return "has step " + st.step + ", impossible after " + st.epochsDone + " epochs";
        }
        if (st.bestEpoch < 0 || st.bestEpoch > st.epochsDone) {
            return "has bestEpoch " + st.bestEpoch + " outside 0.." + st.epochsDone;
        }
        if (!(st.bestTestAcc >= -1 && st.bestTestAcc <= 1)) {
            return "has bestTestAcc " + st.bestTestAcc + " outside [-1, 1]";
        }
        if (!(st.wallSeconds >= 0) || Double.isInfinite(st.wallSeconds)) {
            return "has wallSeconds " + st.wallSeconds;
        }
        int channels = cfg.model().model.inputChannels();
        String norm = normalisation("mean", st.mean, channels, false);
        if (norm == null) {
            norm = normalisation("std", st.std, channels, true);
        }
        if (norm != null) {
            return norm;
        }
        if (st.classNames != null && (st.classNames.isEmpty() || st.classNames.contains(null))) {
            return "has 'classNames' " + st.classNames + "; must be a non-empty list of names";
        }
        if (st.history == null) {
            return "has no 'history'";
        }
        if (st.history.size() != st.epochsDone) {
            return "has " + st.history.size() + " history entries for " + st.epochsDone + " epochs";
        }
        for (int i = 0; i < st.history.size(); i++) {
            EpochStats s = st.history.get(i);
            if (s == null || s.epoch() != i + 1) {
                return "has history entry " + (i + 1) + (s == null ? " null" : " for epoch " + s.epoch());
            }
            if (!unit(s.trainAcc()) || !unit(s.testAcc()) || s.testDiverged() < 0) {
                return "has history entry " + (i + 1) + " with accuracy outside [0, 1]";
            }
        }
        return null;
    }

    /** The pixel normalisation must have one finite value per input channel, and std must be > 0. */
    private static String normalisation(String key, double[] v, int channels, boolean positive) {
        if (v == null) {
            return "has no '" + key + "'";
        }
        if (v.length != channels) {
            return "has " + v.length + " '" + key + "' values for " + channels + " input channels";
        }
        for (double x : v) {
            if (!Double.isFinite(x) || (positive && !(x > 0))) {
                return "has '" + key + "' " + Arrays.toString(v) + (positive ? "; must be finite and > 0" : "; must be finite");
            }
        }
        return null;
    }

    /** Gson wraps the useful message ("Expected an int but was 2147483648 at ... path $.epochsDone"). */
    private static String rootMessage(Throwable e) {
        String m = e.getClass().getSimpleName();
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t.getMessage() != null) {
                m = t.getMessage();
            }
        }
        return dev.pdecnn.io.Safetensors.oneLine(m);
    }

    private static boolean unit(double a) {
        return a >= 0 && a <= 1;
    }

    private static String show(String s) {
        return s.length() > 60 ? s.substring(0, 60) + "..." : s;
    }
}
