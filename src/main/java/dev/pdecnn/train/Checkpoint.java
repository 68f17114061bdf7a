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
 */
public final class Checkpoint {
    public static final String STATE_KEY = "trainer_state";
    public static final String OPT_PREFIX = "optimizer.";
    public static final String OPT_SUFFIX = ".momentum_buffer";
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
        Safetensors.write(file, tensors, Map.of(STATE_KEY, GSON.toJson(state), "format", "pt"));
    }

    public record Loaded(LinkedHashMap<String, Tensor> tensors, TrainState state) {
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
        return new Loaded(l.tensors(), st);
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
