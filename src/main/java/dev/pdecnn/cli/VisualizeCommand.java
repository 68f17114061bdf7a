package dev.pdecnn.cli;

import dev.pdecnn.UserException;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.data.DataLoader;
import dev.pdecnn.data.DataSources;
import dev.pdecnn.data.Dataset;
import dev.pdecnn.models.MnistBlocks;
import dev.pdecnn.models.Network;
import dev.pdecnn.nn.Module;
import dev.pdecnn.tensor.Tensor;
import dev.pdecnn.train.Checkpoint;
import dev.pdecnn.viz.Colormap;
import dev.pdecnn.viz.ImageGrid;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "visualize", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Renders the study's Figure 2 from trained MNIST checkpoints: for a few test digits, the input,",
                "each model's block feature map and, for pde models, the velocity u = v (and the Perona-Malik Dx)."})
final class VisualizeCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "RUN|CKPT", arity = "1..*", description = "Run folders (their best.safetensors) or "
            + "checkpoints of the MNIST models cnn, residual, pde; one column group each, in the order given.")
    List<Path> runs;

    @Mixin
    DataOptions data;

    @Option(names = "--images", defaultValue = "4", description = "Number of test digits (rows). Default: ${DEFAULT-VALUE}.")
    int images;

    @Option(names = "--first", defaultValue = "0", description = "Index of the first test digit. Default: ${DEFAULT-VALUE}.")
    int first;

    @Option(names = "--channel", defaultValue = "-1", description = "Feature channel to show; -1 averages over "
            + "channels. Default: ${DEFAULT-VALUE}.")
    int channel;

    @Option(names = {"-o", "--output"}, defaultValue = "figure2.png", description = "PNG to write (never a run's "
            + "own files). Default: ${DEFAULT-VALUE}.")
    Path output;

    private record Column(String caption, float[][] maps, Colormap cmap) {
    }

    @Override
    public Integer call() {
        OutputFile.check("--output", output, "visualize writes a PNG", List.of(".png"), runs);
        if (images < 1) {
            throw new UserException("--images must be >= 1, got " + images);
        }
        Dataset test = null;
        float[][] inputs = null;
        List<Column> columns = new ArrayList<>();
        for (Path run : runs) {
            Path file = EvalCommand.checkpointOf(run, true);
            Checkpoint.Loaded ck = Checkpoint.read(file);
            Network net = EvalCommand.load(file, ck, spec);
            Module block = net.children().get("block");
            if (!(block instanceof MnistBlocks.FeatureBlock fb)) {
                throw new UserException(file + " holds model '" + ck.state().model + "'; visualize takes the MNIST "
                        + "models " + String.join(", ", RunConfig.MNIST_MODELS));
            }
            if (test == null) {
                RunConfig cfg = new RunConfig();
                cfg.set("model", "pde", "visualize");
                test = DataSources.load(EvalCommand.applyDataOptions(cfg, spec).data(), main.out).test();
                if (first < 0 || first + images > test.size()) {
                    throw new UserException("--first " + first + " --images " + images + " exceeds the "
                            + test.size() + " test images");
                }
            }
            DataLoader.Batch b = batchAt(test, ck.state().mean, ck.state().std);
            Tensor x = Tensor.of(b.x(), b.n(), b.c(), b.h(), b.w());
            if (inputs == null) {
                inputs = planes(x, 0);
            }
            net.train(false);
            net.forward(x);
            String name = ck.state().model.replaceFirst("^mnist_", "");
            columns.add(new Column(name + "\nfeatures", planes(fb.lastOutput(), channel), Colormap.VIRIDIS));
            if (fb instanceof MnistBlocks.Pde p) {
                columns.add(new Column(name + "\nvelocity u", planes(p.lastVelocity(), channel), Colormap.DIVERGING));
                if (p.lastDiffusivity() != null) {
                    columns.add(new Column(name + "\nPerona-Malik Dx", planes(p.lastDiffusivity(), channel), Colormap.GRAY));
                }
            }
        }
        ImageGrid grid = new ImageGrid("Feature maps of the MNIST example (cf. the study's Figure 2)", 112);
        for (int i = 0; i < images; i++) {
            List<ImageGrid.Cell> cells = new ArrayList<>();
            cells.add(new ImageGrid.Cell("input", inputs[i], 28, 28, Colormap.GRAY));
            for (Column c : columns) {
                cells.add(new ImageGrid.Cell(c.caption(), c.maps()[i], 28, 28, c.cmap()));
            }
            grid.addRow("test #" + (first + i) + "\nlabel " + test.labels()[first + i], cells);
        }
        grid.save(output);
        main.out.println("wrote " + output.toAbsolutePath());
        return 0;
    }

    /** Test images first .. first+images-1 (the unshuffled order), normalised as in training. */
    private DataLoader.Batch batchAt(Dataset test, double[] mean, double[] std) {
        Dataset window = new Dataset(test.name(), java.util.Arrays.copyOfRange(test.pixels(),
                first * test.sampleSize(), (first + images) * test.sampleSize()),
                java.util.Arrays.copyOfRange(test.labels(), first, first + images), test.c(), test.h(), test.w(),
                test.classNames());
        return new DataLoader(window, images, false, 0, DataLoader.Augment.NONE, mean, std, false).batch(0, 0);
    }

    /** One 2-D map per image: channel {@code ch} of each sample, or the channel mean when ch < 0. */
    private static float[][] planes(Tensor t, int ch) {
        int n = t.dim(0), c = t.dim(1), hw = t.dim(2) * t.dim(3);
        if (ch >= c) {
            throw new UserException("--channel " + ch + " but the maps have " + c + " channels");
        }
        float[][] out = new float[n][hw];
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < c; k++) {
                if (ch >= 0 && k != ch) {
                    continue;
                }
                for (int q = 0; q < hw; q++) {
                    out[i][q] += (float) (t.get((i * c + k) * hw + q) / (ch >= 0 ? 1 : c));
                }
            }
        }
        return out;
    }
}
