package dev.pdecnn.predict;

import dev.pdecnn.UserException;
import dev.pdecnn.export.OnnxExport;
import dev.pdecnn.export.OnnxRuntimeCheck;
import dev.pdecnn.export.OnnxRuntimeModel;
import dev.pdecnn.train.Checkpoint;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

/**
 * An exported model ({@code export --format onnx}) run by ONNX Runtime on the CPU. The export bakes the
 * normalisation into the graph, so this classifier asks for plain [0, 1] pixels (mean 0, std 1) and the model does
 * the rest; the class names come from the model's metadata ({@code class_names}).
 */
public final class OnnxClassifier implements Classifier {
    private final OnnxRuntimeModel model;
    private final List<String> classes;
    private final int[] chw;

    private OnnxClassifier(OnnxRuntimeModel model, List<String> classes) {
        this.model = model;
        this.classes = classes;
        this.chw = model.inputChw();
    }

    /** Opens {@code file} in ONNX Runtime with {@code threads} threads; one-line errors for what a user can fix. */
    public static OnnxClassifier open(Path file, int threads) {
        OnnxRuntimeCheck.require("predict --onnx");
        if (!Files.isRegularFile(file)) {
            throw new UserException("--onnx " + file + ": no such file");
        }
        OnnxRuntimeModel m = new OnnxRuntimeModel(file, threads);
        String norm = m.metadata().getOrDefault("normalization", "none");
        if (!norm.equals("baked_in") && !norm.equals("none")) {
            m.close();
            throw new UserException("--onnx " + file + ": unknown normalization '" + norm + "' in its metadata");
        }
        return new OnnxClassifier(m, classNames(m, file));
    }

    /** The metadata's class names, "class j" for logits without one. */
    private static List<String> classNames(OnnxRuntimeModel m, Path file) {
        String json = m.metadata().get("class_names");
        List<String> names;
        try {
            names = json == null ? List.of() : Arrays.asList(Checkpoint.gson().fromJson(json, String[].class));
        } catch (RuntimeException e) {
            m.close();
            throw new UserException("--onnx " + file + ": metadata class_names is not a JSON list of names");
        }
        return IntStream.range(0, m.classes()).mapToObj(j -> j < names.size() && names.get(j) != null
                ? names.get(j) : "class " + j).toList();
    }

    @Override
    public int[] inputShape() {
        return chw.clone();
    }

    /** Zero: the exported graph normalises its input itself ({@link OnnxExport}). */
    @Override
    public double[] mean() {
        return new double[chw[0]];
    }

    @Override
    public double[] std() {
        double[] s = new double[chw[0]];
        Arrays.fill(s, 1);
        return s;
    }

    @Override
    public List<String> classNames() {
        return classes;
    }

    @Override
    public float[][] logits(float[] nchwBatch, int n) {
        return model.logits(nchwBatch, n);
    }

    @Override
    public void close() {
        model.close();
    }
}
