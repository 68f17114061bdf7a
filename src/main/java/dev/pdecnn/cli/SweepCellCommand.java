package dev.pdecnn.cli;

import dev.pdecnn.UserException;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.sweep.Cell;
import dev.pdecnn.sweep.CellState;
import dev.pdecnn.sweep.Launcher;
import dev.pdecnn.sweep.Plan;
import dev.pdecnn.sweep.SweepFolder;
import dev.pdecnn.train.CheckpointEvery;
import dev.pdecnn.train.RunFolder;
import dev.pdecnn.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.function.Function;

/**
 * {@code sweep cell SWEEP [--index I]}: trains one cell of a sweep folder in this process, through the trainer's
 * own code path ({@link Main#train}): fresh when its folder has no checkpoint, else continuing the newest
 * checkpoint in place; a finished cell is reported and exits 0. Stop signals behave as for training (checkpoint,
 * exit 143 on SIGTERM, 138 on SIGUSR1), so a Slurm or Kubernetes task that is stopped simply runs again.
 */
@Command(name = "cell", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Runs one cell of a sweep folder: trains it, resumes it from its checkpoint, or says it is "
                + "finished. What the executors run (a local worker, a Slurm array task, a Kubernetes index)."})
final class SweepCellCommand implements Callable<Integer> {
    @ParentCommand
    SweepCommand sweep;

    @Parameters(paramLabel = "SWEEP", description = "The sweep folder (holds plan.json).")
    Path dir;

    @Option(names = "--index", paramLabel = "I", description = "Cell index. Default: $SLURM_ARRAY_TASK_ID, else "
            + "$JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).")
    Integer index;

    @Option(names = "--device", description = "Overrides the cell's device (cpu, auto, a GPU number N, emulated).")
    String device;

    @Option(names = "--checkpoint-every", paramLabel = "N|Nm", defaultValue = CheckpointEvery.DEFAULT,
            description = "Mid-epoch checkpoints as in training. Default: ${DEFAULT-VALUE}.")
    String checkpointEvery;

    @Override
    public Integer call() {
        Main main = sweep.main;
        int i = index != null ? index : envIndex();
        CheckpointEvery every = CheckpointEvery.parse(checkpointEvery);
        Plan plan = Plan.read(dir);
        Cell c = plan.cell(i);
        Path sweepDir = dir.toAbsolutePath().normalize();
        Path runDir = SweepFolder.cellDir(sweepDir, c);
        String planSrc = "plan " + sweepDir.resolve(Plan.FILE);
        main.out.println("cell " + c.id() + " (index " + i + " of 0.." + (plan.cells().size() - 1) + ") in " + runDir);
        if (CellState.locked(runDir.resolve(RunFolder.LOCK_FILE))) {
            throw busy(c, runDir);
        }
        SweepFolder.clearFailed(sweepDir, c);
        try {
            boolean hasCheckpoint = Files.exists(Trainer.lastCheckpoint(runDir))
                    || Files.exists(Trainer.bestCheckpoint(runDir));
            RunConfig cfg;
            ResumeTarget target = null;
            Function<RunConfig, RunFolder> claim;
            if (hasCheckpoint) {
                ResumeTarget t = ResumeTarget.open(runDir, main.out);
                if (t.ck.state().epochsDone >= c.epochs()) {
                    main.out.println("cell " + c.id() + " is finished: all " + c.epochs() + " epochs trained");
                    return 0;
                }
                main.out.println("resuming from " + t.file + " (epoch " + t.ck.state().epochsDone + ", batch "
                        + t.ck.state().batchesDone + ")");
                cfg = RunConfig.fromMap(t.ck.state().config, "checkpoint " + t.file);
                claim = x -> {
                    RunFolder f = t.lockInPlace();
                    if (f == null) {
                        throw new UserException(t.file + " is not the newest checkpoint of cell " + c.id()
                                + "; continue it by hand with --resume");
                    }
                    return f;
                };
                target = t;
            } else {
                cfg = c.toConfig(c.hasFile() ? c.configFile(Cell.defaultBases()) : null, runDir.getParent(), planSrc);
                claim = x -> fresh(runDir);
            }
            // where the folder is now (a pod mounts it elsewhere than the host that planned it)
            cfg.set("out", runDir.getParent().toString(), planSrc);
            cfg.set("name", c.id(), planSrc);
            if (device != null) {
                cfg.set("device", device, "--device");
            }
            cfg.validate();
            String again = String.join(" ", Launcher.command(java.util.List.of(), java.util.List.of("sweep", "cell",
                    sweepDir.toString(), "--index", Integer.toString(i))).stream().map(Launcher::shellQuote).toList());
            return Main.train(cfg, target, claim, d -> again, every, Integer.MAX_VALUE, main.out, main.err);
        } catch (Trainer.Stopped s) {
            throw s;
        } catch (RunFolder.Busy b) {
            // Lost the race for the folder to a process that started the same cell a moment earlier (two pods of
            // one index, two `sweep run`s): not a failure of the cell, so no .failed marker, which would make
            // `sweep status` and `report` call the cell failed while the winner trains it.
            throw busy(c, runDir);
        } catch (RuntimeException | Error e) {
            if (!(e instanceof UserException u && u.exitCode() == SweepFolder.EXIT_BUSY)) {
                String why = e instanceof UserException ? "error: " + e.getMessage() : e.toString();
                SweepFolder.markFailed(sweepDir, c, why);
            }
            throw e;
        }
    }

    /**
     * The cell's folder for a fresh start. A folder that holds files of an attempt that stopped before its first
     * checkpoint (config.json, a metrics header) is emptied under its lock: nothing in it can be resumed. One that
     * holds a checkpoint now was trained by a process that won the race for the cell since this one looked:
     * left alone, exit {@value SweepFolder#EXIT_BUSY}.
     */
    private RunFolder fresh(Path runDir) {
        try {
            Files.createDirectories(runDir); // then always locked as an existing folder, checked under the lock
        } catch (IOException e) {
            throw new UserException("cannot create the cell's run folder " + runDir + ": " + e.getMessage());
        }
        RunFolder f = RunFolder.lockExisting(runDir);
        if (RunFolder.holdsProgress(runDir)) {
            f.close();
            throw new UserException("another process trained this cell in " + runDir + " since this one started; "
                    + "nothing to do here (run the cell again to continue it)", SweepFolder.EXIT_BUSY);
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(runDir)) {
            for (Path p : ds) {
                if (Files.isRegularFile(p) && !p.getFileName().toString().equals(RunFolder.LOCK_FILE)) {
                    Files.delete(p);
                }
            }
        } catch (IOException e) {
            f.close();
            throw new UserException("cannot clear the unfinished start in " + runDir + ": " + e.getMessage());
        }
        return f;
    }

    /** The refusal of a cell another process trains: exit {@value SweepFolder#EXIT_BUSY}, no failure marker. */
    private static UserException busy(Cell c, Path runDir) {
        String holder = RunFolder.lockHolder(runDir);
        return new UserException("cell " + c.id() + " is running in another process (" + runDir + " is locked"
                + (holder == null ? "" : " by " + holder) + "); nothing to do here", SweepFolder.EXIT_BUSY);
    }

    /** The index from the environment of a Slurm array task or a Kubernetes Indexed Job. */
    static int envIndex() {
        Integer i = index("SLURM_ARRAY_TASK_ID", System.getenv("SLURM_ARRAY_TASK_ID"));
        if (i == null) {
            i = index("JOB_COMPLETION_INDEX", System.getenv("JOB_COMPLETION_INDEX"));
        }
        if (i != null) {
            return i;
        }
        throw new UserException("no cell index: pass --index I (or run as a Slurm array task or a Kubernetes "
                + "Indexed Job, which set $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX)");
    }

    /** The index in {@code value} of the environment variable {@code var}; null when it is unset. */
    private static Integer index(String var, String value) {
        if (value == null || value.isBlank()) {
            return null;
        }
        try {
            return Integer.parseInt(value.strip());
        } catch (NumberFormatException e) {
            throw new UserException("$" + var + " is '" + value + "', not a cell index");
        }
    }
}
