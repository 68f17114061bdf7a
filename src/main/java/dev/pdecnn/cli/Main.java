package dev.pdecnn.cli;

import dev.pdecnn.UserException;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.data.Split;
import dev.pdecnn.train.Checkpoint;
import dev.pdecnn.train.DataSources;
import dev.pdecnn.train.Progress;
import dev.pdecnn.train.Trainer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.Callable;

/** {@code trainer}: trains a model (the default action) and hosts the eval, ops, bench, visualize, data commands. */
@Command(name = "trainer", mixinStandardHelpOptions = true, version = "pde-trainer 0.1.0",
        sortOptions = false, usageHelpAutoWidth = true,
        description = {"Trains PDE-condensed CNNs (Global layers, Kag & Saligrama CVPR 2022) and their baselines.",
                "Without a subcommand it trains: java -jar trainer.jar --model pde --channels 8 --epochs 10",
                "Exit codes: 0 success, 2 bad input (the message says what and where), 3 training diverged, "
                        + "4 GPU failure (out of device memory, kernel failure)."},
        subcommands = {EvalCommand.class, OpsCommand.class, VisualizeCommand.class, BenchCommand.class, ReportCommand.class,
                DataCommand.class, DevicesCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ConfigOptions model;

    @Mixin
    DataOptions data;

    @Option(names = "--epochs", defaultValue = "100", description = "Training epochs (the study: 100 for MNIST, "
            + "200 for CIFAR-10). Range: 1..100000. Default: ${DEFAULT-VALUE}.")
    Integer epochs;

    @Option(names = "--batch-size", defaultValue = "32", description = "Mini-batch size. Range: 1..16384. Default: ${DEFAULT-VALUE}.")
    Integer batchSize;

    @Option(names = "--lr", defaultValue = "0.01", description = "Initial learning rate, cosine-decayed to 0 over "
            + "all steps. Range: > 0. Default: ${DEFAULT-VALUE}.")
    Double lr;

    @Option(names = "--momentum", defaultValue = "0.9", description = "SGD momentum. Range: [0, 1). Default: ${DEFAULT-VALUE}.")
    Double momentum;

    @Option(names = "--weight-decay", defaultValue = "5.0E-4", description = "L2 weight decay on all trainable "
            + "tensors (loss wd*sum(w^2)/2). Range: >= 0. Default: ${DEFAULT-VALUE}.")
    Double weightDecay;

    @Option(names = "--pad-crop", paramLabel = "P", defaultValue = "4", description = "Augmentation: zero-pad by P "
            + "and crop back at random (0 = off). Range: 0..16. Default: ${DEFAULT-VALUE}.")
    Integer padCrop;

    @Option(names = "--hflip", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Augmentation: random horizontal flip (--no-hflip turns it off; the study flipped MNIST "
                    + "digits too). Default: ${DEFAULT-VALUE}.")
    Boolean hflip;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu; auto (GPU 0, else the CPU with a notice); "
            + "a GPU number N (see the devices command); or emulated (the GPU path on the host emulation of the "
            + "kernels, for tests). Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "runs",
            description = "Folder that receives run folders. Default: ${DEFAULT-VALUE}.")
    String outDir;

    @Option(names = "--name", description = "Run folder name under --out. Default: <model>-<date>-<time>.")
    String name;

    @Option(names = "--resume", paramLabel = "RUN|CKPT", description = "Continue a run exactly where it stopped: "
            + "a run folder (uses its last.safetensors) or a checkpoint file. Its saved config is used; options "
            + "typed here override it (e.g. --epochs to train longer).")
    Path resume;

    final PrintStream out;
    final PrintStream err;

    Main(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    @Option(names = "--stop-after", paramLabel = "EPOCH", description = "Stop after this epoch although the "
            + "learning-rate schedule spans --epochs; --resume continues exactly (split a long run into sessions).")
    Integer stopAfter;

    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the CLI with the given streams and returns the exit code (used by tests too). */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        CommandLine cl = new CommandLine(new Main(out, err));
        cl.setOut(new java.io.PrintWriter(out, true));
        cl.setErr(new java.io.PrintWriter(err, true));
        cl.setParameterExceptionHandler((ex, a) -> {
            err.println("error: " + ex.getMessage() + " (see --help)");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, c, pr) -> {
            if (ex instanceof UserException u) {
                err.println("error: " + u.getMessage());
                return u.exitCode();
            }
            String broken = runtimeFailure(ex);
            if (broken != null) {
                err.println("error: " + broken);
                return 1;
            }
            throw ex;
        });
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) {
            err.println("error: out of memory; lower --batch-size or give Java more heap (java -Xmx8g -jar ...)");
            return 2;
        }
    }

    /**
     * A one-line explanation when {@code ex} is the Java runtime failing rather than the trainer: a native library
     * of the JRE that does not load (seen: a trimmed runtime without the system's libjpeg, so no JPEG decoding)
     * or Java2D without any font. Null for anything else, which keeps its stack trace.
     */
    static String runtimeFailure(Throwable ex) {
        Throwable root = ex;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String why = root.getClass().getSimpleName() + ": " + root.getMessage();
        if (ex instanceof UnsatisfiedLinkError || root instanceof UnsatisfiedLinkError) {
            return "the Java runtime could not load one of its native libraries (" + why + "); run the jar with a "
                    + "complete Java 17 runtime (e.g. the openjdk-17-jre-headless package, which brings libjpeg)";
        }
        if ((ex instanceof InternalError || root instanceof RuntimeException) && String.valueOf(root.getMessage())
                .toLowerCase(java.util.Locale.ROOT).contains("font")) {
            return "the Java runtime has no usable font for the plots (" + why + "); install one (e.g. the "
                    + "fonts-dejavu-core and fontconfig packages)";
        }
        return null;
    }

    @Override
    public Integer call() {
        RunConfig cfg;
        Path resumeFile = null;
        if (resume != null) {
            resumeFile = Files.isDirectory(resume) ? Trainer.lastCheckpoint(resume) : resume;
            Checkpoint.Loaded ck = Checkpoint.read(resumeFile);
            cfg = RunConfig.fromMap(ck.state().config, "checkpoint " + resumeFile);
            RunConfig typed = ConfigOptions.resolve(spec, model.config);
            for (var o : spec.commandLine().getParseResult().matchedOptions()) {
                String key = ConfigOptions.configKey(o);
                if (key != null) {
                    cfg.set(key, typed.toMap().get(key), o.longestName());
                }
            }
            cfg.validate();
        } else {
            cfg = ConfigOptions.resolve(spec, model.config);
        }
        try (Devices.Opened opened = Devices.open(cfg.device, out)) {
            return train(cfg, resumeFile, opened);
        }
    }

    private Integer train(RunConfig cfg, Path resumeFile, Devices.Opened opened) {
        Path runDir;
        if (resumeFile != null) {
            runDir = resumeFile.toAbsolutePath().getParent();
        } else {
            String runName = cfg.name != null ? cfg.name : dev.pdecnn.models.Models.name(cfg) + "-"
                    + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
            runDir = Path.of(cfg.out).resolve(runName);
            if (Files.exists(Trainer.lastCheckpoint(runDir))) {
                throw new UserException("run folder " + runDir + " already holds a run; --resume " + runDir
                        + " continues it, --name or --out start a new one");
            }
        }
        Split split = DataSources.load(cfg, out);
        opened.guard(() -> new Trainer(cfg, split, runDir, out, Progress.isTerminal(), opened.backend())
                .run(resumeFile, stopAfter == null ? Integer.MAX_VALUE : stopAfter));
        return 0;
    }
}
