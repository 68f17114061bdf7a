package dev.pdecnn.cli;

import dev.pdecnn.UserException;
import dev.pdecnn.config.FolderName;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.run.ResumeTarget;
import dev.pdecnn.run.RunService;
import dev.pdecnn.train.CheckpointEvery;
import dev.pdecnn.train.StopSignals;
import dev.pdecnn.train.Trainer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code trainer}: trains a model (the default action) and hosts the eval, ops, bench, visualize, data commands. */
@Command(name = "trainer", mixinStandardHelpOptions = true, version = "pde-trainer 0.1.0",
        sortOptions = false, usageHelpAutoWidth = true,
        description = {"Trains PDE-condensed CNNs (Global layers, Kag & Saligrama CVPR 2022) and their baselines.",
                "Without a subcommand it trains: java -jar trainer.jar --model pde --channels 8 --epochs 10",
                "Exit codes: 0 success, 2 bad input (the message says what and where), 3 training diverged, "
                        + "4 GPU failure (out of device memory, kernel failure), 130/143/138 stopped by "
                        + "SIGINT/SIGTERM/SIGUSR1 after writing a checkpoint (the output says how to resume).",
                "Stopping: the first SIGINT (Ctrl-C), SIGTERM or SIGUSR1 finishes the current step, writes "
                        + "last.safetensors and exits; a second one exits at once.",
                "A run folder is locked (RUN/.lock) while a process trains in it; a second process is refused."},
        subcommands = {EvalCommand.class, PredictCommand.class, ExportCommand.class, OpsCommand.class,
                VisualizeCommand.class, BenchCommand.class, ReportCommand.class, SweepCommand.class, DataCommand.class,
                DevicesCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ConfigOptions model;

    @Mixin
    DataOptions data;

    @Option(names = "--epochs", defaultValue = "100", description = "Training epochs (the study: 100 for MNIST, "
            + "200 for CIFAR-10). Range: {range}. Default: ${DEFAULT-VALUE}.")
    Integer epochs;

    @Option(names = "--batch-size", defaultValue = "32", description = "Mini-batch size. Range: {range}. Default: ${DEFAULT-VALUE}.")
    Integer batchSize;

    @Option(names = "--lr", defaultValue = "0.01", description = "Initial learning rate, cosine-decayed to 0 over "
            + "all steps. Range: {range}. Default: ${DEFAULT-VALUE}.")
    Double lr;

    @Option(names = "--momentum", defaultValue = "0.9", description = "SGD momentum. Range: {range}. Default: ${DEFAULT-VALUE}.")
    Double momentum;

    @Option(names = "--weight-decay", defaultValue = "5.0E-4", description = "L2 weight decay on all trainable "
            + "tensors (loss wd*sum(w^2)/2). Range: {range}. Default: ${DEFAULT-VALUE}.")
    Double weightDecay;

    @Option(names = "--pad-crop", paramLabel = "P", defaultValue = "4", description = "Augmentation: zero-pad by P "
            + "and crop back at random (0 = off). Range: {range}. Default: ${DEFAULT-VALUE}.")
    Integer padCrop;

    @Option(names = "--hflip", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Augmentation: random horizontal flip (--no-hflip turns it off; the study flipped MNIST "
                    + "digits too). Default: ${DEFAULT-VALUE}.")
    Boolean hflip;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu; auto (GPU 0, else the CPU with a notice); "
            + "a GPU number N (see the devices command); or emulated (the GPU path on the host emulation of the "
            + "kernels, for tests). Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--precision", paramLabel = "P", completionCandidates = ChoiceNames.Precisions.class,
            description = "Float32 convolutions and dense layer on a GPU: ${COMPLETION-CANDIDATES} (tf32: tensor "
                    + "cores, compute capability 8.0+). Default: fp32 (PyTorch's TF32 convolutions become the default "
                    + "once a GPU check has verified the TF32 kernels).")
    String precision;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "runs",
            description = "Folder that receives run folders. Default: ${DEFAULT-VALUE}.")
    String outDir;

    @Option(names = "--name", description = "Run folder name under --out: letters, digits, '.', '_', '-' (at most "
            + "100, starting with a letter or digit); refused if it holds a run. Default: "
            + "<model>-<date>-<time>, with -2, -3, ... when taken.")
    String name;

    @Option(names = "--resume", paramLabel = "RUN|CKPT", description = "Continue a run exactly where it stopped "
            + "(at an epoch's end or mid-epoch): a run folder (uses its last.safetensors, or best.safetensors when "
            + "last is missing) or a checkpoint file. Its saved config is used; options typed here override it "
            + "(e.g. --epochs to train longer). The run's newest checkpoint continues in its own folder; an older "
            + "one (e.g. best.safetensors), or --out/--name naming another folder, forks into a new run folder "
            + "(printed; resumed_from in its config.json) and leaves the original untouched.")
    Path resume;

    @Option(names = "--checkpoint-every", paramLabel = "N|Nm", defaultValue = CheckpointEvery.DEFAULT,
            description = "Also write last.safetensors mid-epoch: every N steps (e.g. 500) or every N minutes "
                    + "(e.g. 5m, 0.5m); 0 = at epoch ends only. --resume continues a mid-epoch checkpoint "
                    + "bit-exactly. Default: ${DEFAULT-VALUE}.")
    String checkpointEvery;

    final PrintStream out;
    final PrintStream err;

    Main(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    @Option(names = "--stop-after", paramLabel = "EPOCH", description = "Stop after this epoch (1 or more) although "
            + "the learning-rate schedule spans --epochs; --resume continues exactly (split a long run into sessions).")
    Integer stopAfter;

    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        StopSignals.enableForProcess(); // a real process: training may take over Ctrl-C and SIGTERM
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the CLI with the given streams and returns the exit code (used by tests too). */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        CommandLine cl = new CommandLine(new Main(out, err));
        ConfigOptions.showRanges(cl);
        cl.setOut(new java.io.PrintWriter(out, true));
        cl.setErr(new java.io.PrintWriter(err, true));
        cl.setParameterExceptionHandler((ex, a) -> {
            err.println("error: " + ex.getMessage() + " (see --help)");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, c, pr) -> {
            if (ex instanceof Trainer.Stopped stopped) { // not an error: the trainer printed where it stopped
                err.println(stopped.getMessage());
                return stopped.exitCode();
            }
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
        if (stopAfter != null && stopAfter < 1) {
            throw new UserException("--stop-after must be an epoch number of 1 or more, got " + stopAfter);
        }
        CheckpointEvery every = CheckpointEvery.parse(checkpointEvery);
        RunConfig cfg;
        ResumeTarget target = null;
        java.util.Map<String, Object> unstarted = resume == null ? null : ResumeTarget.unstartedConfig(resume);
        if (unstarted != null) { // stopped before its first checkpoint: start it again in its folder
            cfg = RunConfig.fromMap(unstarted, "run config " + resume.resolve("config.json"));
            cfg.out = String.valueOf(resume.toAbsolutePath().normalize().getParent());
            cfg.name = resume.toAbsolutePath().normalize().getFileName().toString();
            applyTyped(cfg); // the folder's claim below says that it starts again
        } else if (resume != null) {
            target = ResumeTarget.open(resume, out);
            cfg = RunConfig.fromMap(target.ck.state().config, "checkpoint " + target.file);
            applyTyped(cfg);
            // before any folder is made or locked
            String why = Trainer.nothingToDo(target.ck.state(), cfg.epochs, stopAfterOrMax());
            if (why != null) {
                throw new UserException(target.file + ": " + why);
            }
        } else {
            cfg = ConfigOptions.resolve(spec, model.config);
        }
        boolean typedName = spec.commandLine().getParseResult().hasMatchedOption("--name");
        if (cfg.name != null && (resume == null || typedName)) { // a resumed run's recorded name names no new folder
            FolderName.check(typedName ? "--name" : "key 'name'", cfg.name, FolderName.MAX_RUN_NAME);
        }
        ResumeTarget from = target;
        var pr = spec.commandLine().getParseResult();
        boolean outTyped = pr.hasMatchedOption("--out");
        return RunService.train(cfg, target, c -> RunService.claimFolder(c, from, outTyped, typedName, out),
                Main::resumeCommand, every, stopAfterOrMax(), out, err);
    }

    /** Sets the config keys whose options were typed on this command line (over a saved config), then validates. */
    private void applyTyped(RunConfig cfg) {
        RunConfig typed = ConfigOptions.resolve(spec, model.config);
        for (var o : spec.commandLine().getParseResult().matchedOptions()) {
            String key = ConfigOptions.configKey(o);
            if (key != null) {
                cfg.set(key, typed.toMap().get(key), o.longestName());
            }
        }
        cfg.validate();
    }

    private int stopAfterOrMax() {
        return stopAfter == null ? Integer.MAX_VALUE : stopAfter;
    }

    /** The command line that continues the run in {@code runDir}: this jar (or class path) with --resume. */
    static String resumeCommand(Path runDir) {
        String self = "java -jar trainer.jar";
        try {
            Path loc = Path.of(Main.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            Path cwd = Path.of("").toAbsolutePath();
            if (loc.toString().endsWith(".jar")) {
                self = "java -jar " + quote((loc.startsWith(cwd) ? cwd.relativize(loc) : loc).toString());
            } else {
                self = "java -cp " + quote(System.getProperty("java.class.path")) + " " + Main.class.getName();
            }
        } catch (java.net.URISyntaxException | RuntimeException e) {
            // keep the generic form
        }
        return self + " --resume " + quote(runDir.toString());
    }

    private static String quote(String s) {
        return s.matches("[A-Za-z0-9_./:=+,-]+") ? s : "'" + s.replace("'", "'\\''") + "'";
    }
}
