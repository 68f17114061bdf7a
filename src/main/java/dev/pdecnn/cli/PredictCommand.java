package dev.pdecnn.cli;

import dev.pdecnn.UserException;
import dev.pdecnn.backend.cpu.Parallel;
import dev.pdecnn.data.DataLoader;
import dev.pdecnn.data.ImageFolder;
import dev.pdecnn.data.ImageInput;
import dev.pdecnn.io.AtomicFiles;
import dev.pdecnn.io.SafeText;
import dev.pdecnn.predict.Classifier;
import dev.pdecnn.predict.NetworkClassifier;
import dev.pdecnn.predict.OnnxClassifier;
import dev.pdecnn.predict.Prediction;
import dev.pdecnn.predict.PredictionWriter;
import dev.pdecnn.run.Devices;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

@Command(name = "predict", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Classifies image files with a trained model (evaluation mode: BN running statistics).",
                "Images of the model's size (MNIST 28x28, CIFAR-10 32x32) are used as they are; others are "
                        + "centre-cropped to its aspect ratio and resized (anti-aliased bilinear). Colour becomes "
                        + "grey (BT.601 luma) for MNIST models, grey becomes RGB for CIFAR models. The run's "
                        + "normalisation and class names are used.",
                "A file that cannot be classified gets one line on stderr; the others are classified, and the exit "
                        + "code is then 2."})
final class PredictCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Parameters(index = "0", paramLabel = "RUN|CKPT", description = "A run folder (its best.safetensors) or a "
            + "checkpoint file; with --onnx, the first image or folder instead.")
    Path target;

    @Parameters(index = "1..*", arity = "0..*", paramLabel = "IMAGE|DIR",
            description = "PNG or JPEG files, and folders (their .png/.jpg/.jpeg files, recursively, sorted by path).")
    List<Path> inputs = new ArrayList<>();

    @Option(names = "--onnx", paramLabel = "MODEL.onnx", description = "Classify with an exported model (export "
            + "--format onnx) in ONNX Runtime on the CPU instead of a checkpoint; needs onnxruntime.jar on the class "
            + "path (docs/onnx.md). The normalisation and class names come from the file.")
    Path onnx;

    @Option(names = "--top", paramLabel = "K", defaultValue = "3",
            description = "How many classes to show per image, most probable first. Default: ${DEFAULT-VALUE}.")
    int top;

    @Option(names = {"--output", "-o"}, paramLabel = "FILE",
            description = "Also write the predictions to FILE: .csv or .jsonl (the extension picks the format; "
                    + "never a run's own files or an input).")
    Path output;

    @Option(names = "--logits", description = "Add the raw logits (one per class) to the printout and the output file.")
    boolean logits;

    @Option(names = "--batch-size", paramLabel = "N", defaultValue = "64",
            description = "Images per forward pass. Range: 1..16384. Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "cpu", description = "cpu, auto, a GPU number or emulated, as for "
            + "training. Default: ${DEFAULT-VALUE}.")
    String device;

    @Override
    public Integer call() {
        if (batchSize < 1 || batchSize > 16384) {
            throw new UserException("--batch-size must be in 1..16384, got " + batchSize);
        }
        if (top < 1) {
            throw new UserException("--top must be 1 or more, got " + top);
        }
        if (output != null) {
            List<Path> read = new ArrayList<>(inputs);
            read.add(target);
            read.add(onnx);
            OutputFile.check("--output", output, "that picks the format", List.of(".csv", ".jsonl"), read);
        }
        PredictionWriter.Format format = output == null ? null : PredictionWriter.formatOf(output);
        Path parent = output == null ? null : output.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) { // refused before the work, not after it
            throw new UserException("--output " + output + ": folder " + parent + " does not exist");
        }
        if (onnx != null) {
            inputs = new ArrayList<>(inputs);
            inputs.add(0, target); // no checkpoint: every positional argument is an input
            if (!device.strip().equalsIgnoreCase("cpu")) {
                throw new UserException("--onnx runs on ONNX Runtime's CPU provider; --device " + device + " does not apply");
            }
            try (OnnxClassifier model = OnnxClassifier.open(onnx, Parallel.threads())) {
                return classify(model, format);
            }
        }
        if (inputs.isEmpty()) {
            throw new UserException("predict: give a run folder or checkpoint, then one or more images or folders");
        }
        Path file = EvalCommand.checkpointOf(target, true);
        try (Devices.Opened opened = Devices.open(device, main.out)) {
            return opened.guard(() -> {
                try (NetworkClassifier model = NetworkClassifier.open(file, opened.backend())) {
                    return classify(model, format);
                }
            });
        }
    }

    /** Classifies every input with {@code model}; prints, writes --output, returns the exit code. */
    int classify(Classifier model, PredictionWriter.Format format) {
        List<String> classes = model.classNames();
        int[] chw = model.inputShape();
        int k = Math.min(top, classes.size());
        float[][] lut = DataLoader.normalisation(model.mean(), model.std());
        PredictionWriter writer = format == null ? null : new PredictionWriter(format, classes, k, logits);
        int failed = 0, done = 0;
        // Inputs in the order given, folders expanded; a path that cannot be expanded stays in place as its
        // error, so the error lines come in input order among the printed predictions.
        List<Path> files = new ArrayList<>();
        java.util.Map<Integer, String> unusable = new java.util.HashMap<>();
        for (Path in : inputs) {
            try {
                files.addAll(expand(in));
            } catch (UserException e) {
                unusable.put(files.size(), e.getMessage());
                files.add(in);
            }
        }
        int sample = chw[0] * chw[1] * chw[2], plane = chw[1] * chw[2];
        for (int start = 0; start < files.size(); start += batchSize) {
            List<Path> ok = new ArrayList<>();
            float[] batch = new float[Math.min(batchSize, files.size() - start) * sample];
            for (int at = start; at < Math.min(files.size(), start + batchSize); at++) {
                Path f = files.get(at);
                byte[] px;
                try {
                    if (unusable.containsKey(at)) {
                        throw new UserException(unusable.get(at));
                    }
                    px = ImageInput.load(f, chw[0], chw[1], chw[2]);
                } catch (UserException e) {
                    main.err.println("error: " + e.getMessage());
                    failed++;
                    continue;
                }
                int off = ok.size() * sample;
                for (int i = 0; i < sample; i++) {
                    batch[off + i] = lut[i / plane][px[i] & 0xff];
                }
                ok.add(f);
            }
            if (ok.isEmpty()) {
                continue;
            }
            float[] x = ok.size() * sample == batch.length ? batch : java.util.Arrays.copyOf(batch, ok.size() * sample);
            float[][] out = model.logits(x, ok.size());
            for (int i = 0; i < ok.size(); i++) {
                Prediction p = Prediction.of(ok.get(i).toString(), out[i], k);
                main.out.println(line(p, classes));
                if (writer != null) {
                    writer.add(p);
                }
                done++;
            }
        }
        if (writer != null) {
            AtomicFiles.writeString(output, writer.text());
        }
        if (failed > 0) {
            main.err.printf(Locale.ROOT, "predict: %d input(s) could not be classified (see above); %d image(s) "
                    + "classified%n", failed, done);
            return 2;
        }
        return 0;
    }

    private String line(Prediction p, List<String> classes) {
        // Paths and class names (image sub-folder names) may hold control characters: escaped, one line each.
        StringBuilder s = new StringBuilder(SafeText.printable(p.file())).append(':');
        for (int r = 0; r < p.top().length; r++) {
            int j = p.top()[r];
            s.append(r == 0 ? " " : ", ").append(SafeText.printable(PredictionWriter.name(classes, j)))
                    .append(String.format(Locale.ROOT, " %.2f%%", 100 * p.probabilities()[j]));
        }
        if (p.diverged()) {
            s.append("  [diverged: a logit is not finite]");
        }
        if (logits) {
            s.append("  logits ").append(java.util.Arrays.toString(p.logits()));
        }
        return s.toString();
    }

    /** A file as itself; a folder as its image files (by extension, hidden entries skipped), sorted by path. */
    static List<Path> expand(Path in) {
        if (!Files.exists(in)) {
            throw new UserException(in + ": no such file or folder");
        }
        if (!Files.isDirectory(in)) {
            return List.of(in);
        }
        try (Stream<Path> s = Files.walk(in)) {
            List<Path> found = s.filter(p -> !in.relativize(p).toString().matches("(.*/)?\\..*"))
                    .filter(p -> Files.isRegularFile(p) && ImageFolder.hasImageExtension(p.getFileName().toString()))
                    .sorted().toList();
            if (found.isEmpty()) {
                throw new UserException(in + ": folder holds no ." + String.join("/.", ImageFolder.EXTENSIONS) + " files");
            }
            return found;
        } catch (IOException | java.io.UncheckedIOException e) {
            throw new UserException(in + ": cannot list the folder (" + e.getMessage() + ")");
        }
    }
}
