package dev.pdecnn.cli;

import dev.pdecnn.UserException;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.config.TypedConfig;
import dev.pdecnn.data.DataLoader;
import dev.pdecnn.data.DataSources;
import dev.pdecnn.data.Split;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.train.Checkpoint;
import dev.pdecnn.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Test accuracy and loss of a checkpoint (BN running statistics, no augmentation).")
final class EvalCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "RUN|CKPT", description = "A run folder (its best.safetensors) or a checkpoint file.")
    Path target;

    @Mixin
    DataOptions data;

    /** Rebuilds a checkpoint's network from the config saved inside it, with its weights and BN statistics. */
    static Network load(Path file, Checkpoint.Loaded ck, CommandSpec spec) {
        RunConfig cfg = RunConfig.fromMap(ck.state().config, "checkpoint " + file);
        Network net = Models.build(applyDataOptions(cfg, spec).model(), new CpuBackend(),
                Models.classes(ck.state().classNames));
        Checkpoint.restore(file, ck, net, ck.state().model, null);
        return net;
    }

    /** Sets the config keys typed on this command line (the data options), then validates: the typed parts. */
    static TypedConfig applyDataOptions(RunConfig cfg, CommandSpec spec) {
        for (var o : spec.commandLine().getParseResult().matchedOptions()) {
            String key = ConfigOptions.configKey(o);
            if (key != null) {
                cfg.set(key, o.getValue(), o.longestName());
            }
        }
        return cfg.validate();
    }

    static Path checkpointOf(Path target, boolean best) {
        if (Files.isDirectory(target)) {
            return best ? Trainer.bestCheckpoint(target) : Trainer.lastCheckpoint(target);
        }
        return target;
    }

    @Override
    public Integer call() {
        Path file = checkpointOf(target, true);
        Checkpoint.Loaded ck = Checkpoint.read(file);
        Network net = load(file, ck, spec);
        TypedConfig cfg = applyDataOptions(RunConfig.fromMap(ck.state().config, "checkpoint " + file), spec);
        Split split = DataSources.load(cfg.data(), main.out);
        if (split.test().numClasses() > net.classes) {
            throw new UserException("data set " + split.test().name() + " has " + split.test().numClasses()
                    + " classes, but the classifier of " + file + " has " + net.classes + " logits; evaluate it on "
                    + "data with the classes it was trained on");
        }
        DataLoader test = new DataLoader(split.test(), 256, false, cfg.optim().seed(), DataLoader.Augment.NONE,
                ck.state().mean, ck.state().std, false);
        double[] r = Trainer.evaluate(net, net.backend(), test);
        main.out.printf(Locale.ROOT, "%s (epoch %d): test accuracy %.2f%%, loss %.4f on %,d images%s%n",
                ck.state().model, ck.state().epochsDone, 100 * r[1], r[0], split.test().size(),
                Trainer.divergedNote((int) r[2]));
        return 0;
    }
}
