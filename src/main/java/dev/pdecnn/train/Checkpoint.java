package dev.pdecnn.train;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import dev.pdecnn.UserException;
import dev.pdecnn.io.Safetensors;
import dev.pdecnn.nn.Module;
import dev.pdecnn.nn.Param;
import dev.pdecnn.tensor.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A checkpoint is one safetensors file: the model's parameters and BN buffers under their PyTorch-style names,
 * the SGD velocities under {@code optimizer.<name>.momentum_buffer}, and the {@link TrainState} as JSON in the
 * header metadata. One file written by one atomic rename, so weights and state can never disagree.
 *
 * <p>Each BN layer also gets PyTorch's {@code <bn>.num_batches_tracked} (I64 scalar), so that PyTorch's strict
 * {@code load_state_dict} finds exactly its keys (after dropping the {@code optimizer.} entries, which are no
 * model keys). It is not kept anywhere in the network: every BN layer of our models runs in every training step,
 * so the count a layer saw is the trainer's step counter, {@link TrainState#step}, which stays its one owner. It
 * is written from there and, on reading, checked but not needed, so checkpoints written before it existed load
 * unchanged.
 */
public final class Checkpoint {
    public static final String STATE_KEY = "trainer_state";
    public static final String OPT_PREFIX = "optimizer.";
    public static final String OPT_SUFFIX = ".momentum_buffer";
    public static final String TRACKED_SUFFIX = ".num_batches_tracked";
    private static final String BN_STAT_SUFFIX = ".running_mean";
    private static final Gson GSON = new GsonBuilder().serializeSpecialFloatingPointValues().create();

    private Checkpoint() {
    }

    public static void save(Path file, Module net, Map<String, Tensor> velocities, TrainState state) {
        LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
        net.namedParams().forEach((k, p) -> tensors.put(k, p.value));
        if (velocities != null) {
            velocities.forEach((k, v) -> tensors.put(OPT_PREFIX + k + OPT_SUFFIX, v));
        }
        tensors.values().forEach(Tensor::download); // a GPU run's weights live on the device: read them explicitly
        LinkedHashMap<String, Safetensors.Int64> tracked = new LinkedHashMap<>();
        for (String bn : batchNorms(net.namedParams().keySet())) {
            tracked.put(bn + TRACKED_SUFFIX, Safetensors.Int64.scalar(state.step));
        }
        Safetensors.write(file, tensors, tracked, Map.of(STATE_KEY, GSON.toJson(state), "format", "pt"));
    }

    /** The BN layers' name prefixes among parameter names: those with a running mean. */
    static java.util.List<String> batchNorms(java.util.Collection<String> paramNames) {
        return paramNames.stream().filter(k -> k.endsWith(BN_STAT_SUFFIX))
                .map(k -> k.substring(0, k.length() - BN_STAT_SUFFIX.length())).toList();
    }

    /**
     * A checkpoint's tensors, its I64 entries ({@code <bn>.num_batches_tracked}; empty in checkpoints older than
     * them) and trainer state.
     */
    public record Loaded(LinkedHashMap<String, Tensor> tensors, LinkedHashMap<String, Safetensors.Int64> integers,
                         TrainState state) {
    }

    /**
     * How many training steps the BN layer {@code bn} (a name prefix such as {@code layer1.0.bn1}) saw: the stored
     * {@code num_batches_tracked}, or, in a checkpoint written before it was stored, the trainer's step count
     * (every BN layer runs in every training step).
     */
    public static long batchesTracked(Loaded ck, String bn) {
        Safetensors.Int64 v = ck.integers().get(bn + TRACKED_SUFFIX);
        return v == null ? ck.state().step : v.values()[0];
    }

    /**
     * The class names of a checkpoint's training data in label order. Checkpoints written before they were
     * recorded get the data set's fixed names (MNIST digits, CIFAR-10), else "class 0", "class 1", ...
     */
    public static java.util.List<String> classNames(TrainState st, int classes) {
        if (st.classNames != null && !st.classNames.isEmpty()) {
            return st.classNames;
        }
        Object dataset = st.config.get("dataset");
        if ("mnist".equals(dataset)) {
            return dev.pdecnn.data.Mnist.CLASS_NAMES;
        }
        if ("cifar10".equals(dataset) && classes == dev.pdecnn.data.Cifar10.NUM_CLASSES) {
            return dev.pdecnn.data.Cifar10.CLASS_NAMES;
        }
        return java.util.stream.IntStream.range(0, classes).mapToObj(i -> "class " + i).toList();
    }

    public static Loaded read(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new UserException("checkpoint " + file + " does not exist");
        }
        Safetensors.Loaded l = Safetensors.read(file);
        String json = l.metadata().get(STATE_KEY);
        if (json == null) {
            throw new UserException(file + " is a safetensors file but not a trainer checkpoint (no '" + STATE_KEY
                    + "' metadata)");
        }
        // Validated before anything is built from it: the same config checks as a config file, plus the fit of
        // the described model to the stored tensors and finite weights.
        TrainState st = StateCheck.parse(file, json, l.tensors());
        for (Map.Entry<String, Safetensors.Int64> e : l.integers().entrySet()) {
            Safetensors.Int64 v = e.getValue();
            if (!e.getKey().endsWith(TRACKED_SUFFIX) || v.values().length != 1 || v.shape().length > 1) {
                throw new UserException("checkpoint " + file + " has an I64 entry '" + e.getKey() + "' of shape "
                        + java.util.Arrays.toString(v.shape()) + "; only scalar <bn>" + TRACKED_SUFFIX
                        + " counters may be integers");
            }
            if (v.values()[0] < 0) {
                throw new UserException("checkpoint " + file + ": " + e.getKey() + " is " + v.values()[0]
                        + ", a negative count; the file is corrupt or was edited");
            }
        }
        return new Loaded(l.tensors(), l.integers(), st);
    }

    /**
     * Copies weights, buffers and (when {@code velocities} is non-null) optimizer state into the model. The
     * checkpoint must hold exactly the model's tensors with the same shapes, else the error names the first
     * difference, so a checkpoint of another model is refused before anything is overwritten.
     */
    public static void restore(Path file, Loaded ck, Module net, String modelName, Map<String, Tensor> velocities) {
        if (!ck.state().model.equals(modelName)) {
            throw new UserException("checkpoint " + file + " is of model '" + ck.state().model + "', not '"
                    + modelName + "'; pass the matching --model/--config or another checkpoint");
        }
        LinkedHashMap<String, Param> params = net.namedParams();
        for (Map.Entry<String, Param> e : params.entrySet()) {
            Tensor t = ck.tensors().get(e.getKey());
            if (t == null) {
                throw new UserException("checkpoint " + file + " lacks tensor '" + e.getKey() + "' of model '"
                        + modelName + "' (saved with different layer options?)");
            }
            if (!t.sameShape(e.getValue().value)) {
                throw new UserException("checkpoint " + file + ": tensor '" + e.getKey() + "' has shape "
                        + java.util.Arrays.toString(t.shape()) + ", model expects "
                        + java.util.Arrays.toString(e.getValue().value.shape()));
            }
        }
        for (String k : ck.tensors().keySet()) {
            if (!params.containsKey(k) && !k.startsWith(OPT_PREFIX)) {
                throw new UserException("checkpoint " + file + " has tensor '" + k + "' that model '" + modelName
                        + "' does not (saved with different layer options?)");
            }
        }
        java.util.List<String> bns = batchNorms(params.keySet());
        for (String k : ck.integers().keySet()) {
            if (!bns.contains(k.substring(0, k.length() - TRACKED_SUFFIX.length()))) {
                throw new UserException("checkpoint " + file + " has '" + k + "' but model '" + modelName
                        + "' has no such batch-norm layer (saved with different layer options?)");
            }
        }
        for (Map.Entry<String, Param> e : params.entrySet()) {
            ck.tensors().get(e.getKey()).copyInto(e.getValue().value);
        }
        if (velocities != null) {
            for (Map.Entry<String, Tensor> e : velocities.entrySet()) {
                Tensor t = ck.tensors().get(OPT_PREFIX + e.getKey() + OPT_SUFFIX);
                if (t == null || !t.sameShape(e.getValue())) {
                    throw new UserException("checkpoint " + file + " lacks optimizer state for '" + e.getKey() + "'");
                }
                t.copyInto(e.getValue());
            }
        }
    }

    public static Gson gson() {
        return GSON;
    }
}
