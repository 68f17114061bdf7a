package dev.pdecnn.sweep;

import dev.pdecnn.UserException;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.run.ResumeTarget;
import dev.pdecnn.run.RunService;
import dev.pdecnn.train.CheckpointEvery;
import dev.pdecnn.train.RunFolder;
import dev.pdecnn.train.Trainer;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Function;

/**
 * One cell of a sweep folder, trained in this process through the trainer's own service ({@link RunService}): what
 * {@code sweep cell} runs. Stop signals behave as for training (checkpoint, exit 143 on SIGTERM, 138 on SIGUSR1),
 * so a Slurm or Kubernetes task that is stopped simply runs again.
 */
public final class CellRun {
    private CellRun() {
    }

    /**
     * Trains cell {@code i} of the sweep folder {@code dir}: fresh when its folder has no checkpoint, else
     * continuing the newest checkpoint in place; a finished cell is reported and returns 0. {@code device}, when
     * not null, overrides the cell's. Failures are exceptions; a cell that fails leaves its failure marker.
     */
    public static int train(Path dir, int i, String device, CheckpointEvery every, PrintStream out, PrintStream err) {
        Plan plan = Plan.read(dir);
        Cell c = plan.cell(i);
        Path sweepDir = dir.toAbsolutePath().normalize();
        Path runDir = SweepFolder.cellDir(sweepDir, c);
        String planSrc = "plan " + sweepDir.resolve(Plan.FILE);
        out.println("cell " + c.id() + " (index " + i + " of 0.." + (plan.cells().size() - 1) + ") in " + runDir);
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
                ResumeTarget t = ResumeTarget.open(runDir, out);
                if (t.ck.state().epochsDone >= c.epochs()) {
                    out.println("cell " + c.id() + " is finished: all " + c.epochs() + " epochs trained");
                    return 0;
                }
                out.println("resuming from " + t.file + " (epoch " + t.ck.state().epochsDone + ", batch "
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
            return RunService.train(cfg, target, claim, d -> again, every, Integer.MAX_VALUE, out, err);
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
    private static RunFolder fresh(Path runDir) {
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
}
