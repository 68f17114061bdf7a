package dev.pdecnn.cli;

import dev.pdecnn.UserException;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.export.OnnxExport;
import dev.pdecnn.export.onnx.OnnxProto.ModelProto;
import dev.pdecnn.io.AtomicFiles;
import dev.pdecnn.models.Network;
import dev.pdecnn.train.Checkpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;

@Command(name = "export", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Writes a trained network in evaluation mode as an ONNX model (opset 17): input 'image' "
                + "[N,C,H,W] float32 pixels in [0,1] (the run's normalisation is inside the graph), outputs 'logits' "
                + "and 'probabilities' [N,classes]; class names and normalisation in the metadata. See docs/onnx.md."})
final class ExportCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "RUN|CKPT", description = "A run folder (its best.safetensors) or a checkpoint file.")
    Path target;

    @Option(names = "--format", defaultValue = "onnx", description = "Output format; onnx is the one there is. "
            + "Default: ${DEFAULT-VALUE}.")
    String format;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "FILE", description = "The file to write, "
            + "ending in .onnx, e.g. model.onnx (replaced atomically if it exists; never a run's own files or the "
            + "input).")
    Path output;

    @Override
    public Integer call() {
        if (!format.strip().equalsIgnoreCase("onnx")) {
            throw new UserException("--format " + format + ": the export format must be onnx");
        }
        OutputFile.check("--output", output, "export writes an ONNX model", List.of(".onnx"), List.of(target));
        Path parent = output.toAbsolutePath().getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw new UserException("--output " + output + ": folder " + parent + " does not exist");
        }
        Path file = EvalCommand.checkpointOf(target, true);
        Checkpoint.Loaded ck = Checkpoint.read(file);
        Network net = EvalCommand.load(file, ck, spec);
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("checkpoint", file.getFileName().toString());
        meta.put("epochs_trained", Integer.toString(ck.state().epochsDone));
        meta.put("config", Checkpoint.gson().toJson(ck.state().config));
        ModelProto model = OnnxExport.build(net, ck.state().mean, ck.state().std, classNames(ck, net), meta);
        byte[] bytes = model.toByteArray();
        AtomicFiles.writeBytes(output, bytes);
        int[] chw = net.inputChw;
        main.out.printf(Locale.ROOT, "wrote %s (%,d bytes, %,d nodes, ONNX opset %d): %s [N,%d,%d,%d] float32 pixels "
                        + "in [0,1] -> %s, %s [N,%d]%n", output, bytes.length, model.getGraph().getNodeCount(),
                OnnxExport.OPSET, OnnxExport.INPUT, chw[0], chw[1], chw[2], OnnxExport.LOGITS,
                OnnxExport.PROBABILITIES, net.classes);
        return 0;
    }

    /** The run's class names in logit order (as predict shows them), "class j" for logits without a name. */
    static List<String> classNames(Checkpoint.Loaded ck, Network net) {
        List<String> known = Checkpoint.classNames(ck.state(), net.classes);
        return IntStream.range(0, net.classes).mapToObj(j -> j < known.size() ? known.get(j) : "class " + j).toList();
    }
}
