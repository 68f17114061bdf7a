package dev.pdecnn.run;

import dev.pdecnn.config.FolderName;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.config.TypedConfig;
import dev.pdecnn.data.DataSources;
import dev.pdecnn.data.Split;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.train.CheckpointEvery;
import dev.pdecnn.train.Progress;
import dev.pdecnn.train.RunFolder;
import dev.pdecnn.train.StopSignals;
import dev.pdecnn.train.Trainer;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.function.Function;

/**
 * Trains a run: the application's main service, one code path for the main command and {@code sweep cell}. It
 * opens the data, the device and the run folder (in that order, so a run that cannot start leaves no folder, lock
 * or file behind), then hands them to {@link Trainer}. Where the config comes from (options, a file, a checkpoint,
 * a sweep plan) is the caller's business.
 */
public final class RunService {
    private RunService() {
    }

    /**
     * Trains {@code cfg} (validated; continuing {@code target}'s checkpoint when not null) in the folder
     * {@code claim} locks; {@code resumeCommand} gives the command printed when a signal stops the run. Returns the
     * exit code (0); failures are exceptions ({@link Trainer.Stopped} after a stop signal).
     */
    public static int train(RunConfig cfg, ResumeTarget target, Function<RunConfig, RunFolder> claim,
                            Function<Path, String> resumeCommand, CheckpointEvery every, int stopAfter,
                            PrintStream out, PrintStream err) {
        TypedConfig typed = cfg.typed(); // validated by the caller: parsed then, not again here
        Split split = DataSources.load(typed.data(), out);
        try (Devices.Opened opened = Devices.open(typed.run().device(), typed.run().precision(), out);
             RunFolder folder = claim.apply(cfg)) {
            int stale = folder.removeStaleTemps();
            if (stale > 0) {
                out.printf("removed %d temporary file(s) that interrupted writes left in %s%n", stale, folder.dir());
            }
            if (folder.restarted()) {
                out.println("note: " + folder.dir() + " held only the config.json of a start that stopped before its "
                        + "first checkpoint; starting it again from epoch 1");
            }
            TypedConfig recorded = cfg.typed(); // a fork's claim has set out and name: its config.json says where it is
            Network net = Models.build(recorded.model(), opened.backend(), Models.classes(split.train().classNames()));
            Trainer trainer = new Trainer(net, recorded, split, folder.dir(), out, Progress.isTerminal())
                    .checkpointEvery(every)
                    .resumeCommand(resumeCommand.apply(folder.dir()));
            if (target != null && !ResumeTarget.same(folder.dir(), target.sourceRun)) {
                trainer.resumedFrom(target.origin());
            }
            Path resumeFile = target == null ? null : target.file;
            try (StopSignals signals = StopSignals.install(err)) {
                trainer.stopSignals(signals);
                opened.guard(() -> trainer.run(resumeFile, stopAfter));
            }
            return 0;
        }
    }

    /**
     * The run folder a command-line run trains in, locked: a new one (default names made unique), the resumed run's
     * own (when its newest checkpoint continues), or a fork (see {@link ResumeTarget}). {@code outTyped} and
     * {@code nameTyped} say whether --out and --name were given on this command line (over a saved config). For a
     * fork {@code cfg}'s out and name are set to the fork's, so its config.json says where it is.
     */
    public static RunFolder claimFolder(RunConfig cfg, ResumeTarget target, boolean outTyped, boolean nameTyped,
                                        PrintStream out) {
        if (target == null) {
            if (cfg.name != null) {
                return RunFolder.claimNew(FolderName.inside(Path.of(cfg.out), cfg.name, "--name"),
                        "--name or --out start a new one");
            }
            String base = Models.name(cfg) + "-"
                    + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
            return RunFolder.createUnique(Path.of(cfg.out), base);
        }
        Path parent = outTyped ? Path.of(cfg.out) : target.sourceRun.getParent();
        Path dest = outTyped || nameTyped ? parent.resolve(nameTyped ? cfg.name : target.sourceRun.getFileName()
                .toString()) : null;
        if (dest == null || ResumeTarget.same(dest, target.sourceRun)) {
            RunFolder own = target.lockInPlace();
            if (own != null) {
                return own;
            }
        }
        String reason = target.forkReason(dest);
        RunFolder fork = nameTyped
                ? RunFolder.claimNew(FolderName.inside(parent, cfg.name, "--name"),
                        "--name or --out pick another folder for the fork")
                : RunFolder.createUnique(parent, target.forkBaseName());
        cfg.out = parent.toString();
        cfg.name = fork.dir().getFileName().toString();
        out.println("forking into a new run folder " + fork.dir() + " (" + reason + "); " + target.sourceRun
                + " is left as it was, and resumed_from in the new config.json records the origin");
        return fork;
    }
}
