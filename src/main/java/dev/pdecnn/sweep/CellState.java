package dev.pdecnn.sweep;

import dev.pdecnn.UserException;
import dev.pdecnn.train.Checkpoint;
import dev.pdecnn.train.RunFolder;
import dev.pdecnn.train.TrainState;
import dev.pdecnn.train.Trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Where a cell stands, read from its run folder alone (so it works for every executor, also while another host
 * trains): done (its checkpoint has all epochs), running (another process holds the folder's lock), stopped
 * (a checkpoint at epoch e, batch b, or a folder without one yet), failed (the last attempt left
 * {@code logs/<id>.failed}), or not started.
 */
public record CellState(Kind kind, int epochsDone, int batchesDone, int epochs, double bestAcc, String note) {
    public enum Kind { DONE, RUNNING, STOPPED, FAILED, NOT_STARTED }

    public static CellState of(Path sweepDir, Cell c) {
        Path dir = SweepFolder.cellDir(sweepDir, c);
        boolean running = Files.isDirectory(dir) && locked(dir.resolve(RunFolder.LOCK_FILE));
        TrainState st = newestState(dir);
        int e = st == null ? 0 : st.epochsDone, b = st == null ? 0 : st.batchesDone;
        double best = st == null ? Double.NaN : st.bestTestAcc;
        if (running) {
            return new CellState(Kind.RUNNING, e, b, c.epochs(), best, "");
        }
        if (st != null && st.epochsDone >= c.epochs()) {
            return new CellState(Kind.DONE, e, b, c.epochs(), best, "");
        }
        Path failed = SweepFolder.failedMarker(sweepDir, c);
        if (Files.exists(failed)) {
            String why;
            try {
                why = Files.readString(failed).strip();
            } catch (IOException ex) {
                why = "see " + SweepFolder.log(sweepDir, c);
            }
            return new CellState(Kind.FAILED, e, b, c.epochs(), best, why);
        }
        if (st != null || (Files.isDirectory(dir) && RunFolder.holdsRun(dir))) {
            return new CellState(Kind.STOPPED, e, b, c.epochs(), best, st == null ? "no checkpoint yet" : "");
        }
        return new CellState(Kind.NOT_STARTED, 0, 0, c.epochs(), Double.NaN, "");
    }

    /** The state of the folder's newest checkpoint (last, else best), or null without a readable one. */
    static TrainState newestState(Path dir) {
        for (Path f : new Path[]{Trainer.lastCheckpoint(dir), Trainer.bestCheckpoint(dir)}) {
            if (Files.isRegularFile(f)) {
                try {
                    return Checkpoint.read(f).state();
                } catch (UserException ex) {
                    // damaged: try the other one; resuming will say what is wrong
                }
            }
        }
        return null;
    }

    /** Whether a trainer holds the folder's lock ({@link RunFolder#isLocked}). */
    public static boolean locked(Path lockFile) {
        return RunFolder.isLocked(lockFile);
    }

    /** "done", "running", "stopped", "failed", "not started". */
    public String word() {
        return kind.name().toLowerCase(Locale.ROOT).replace('_', ' ');
    }

    /** One line for the status table, e.g. "stopped at epoch 3 batch 120" or "failed: error: ...". */
    public String describe() {
        String where = batchesDone > 0 ? "epoch " + epochsDone + " batch " + batchesDone : "epoch " + epochsDone;
        return switch (kind) {
            case DONE, NOT_STARTED -> word();
            case RUNNING -> "running (checkpoint at " + where + ")";
            case STOPPED -> note.isEmpty() ? "stopped with checkpoint at " + where : "stopped, " + note;
            case FAILED -> "failed at " + where + " (" + note + ")";
        };
    }
}
