package dev.pdecnn.run;

import dev.pdecnn.UserException;
import dev.pdecnn.config.ConfigFiles;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.train.Checkpoint;
import dev.pdecnn.train.RunFolder;
import dev.pdecnn.train.TrainState;
import dev.pdecnn.train.Trainer;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * What {@code --resume} continues, and where. The rule that keeps history from being rewritten: only the run's
 * newest checkpoint (its last.safetensors, or its best when last is missing and nothing newer was recorded)
 * continues in its own folder; anything else (an older checkpoint such as best.safetensors, or --out/--name naming
 * another folder) forks into a new run folder whose config.json records {@code resumed_from}, leaving the
 * original run as it was.
 */
public final class ResumeTarget {
    public final Path file;
    public final Checkpoint.Loaded ck;
    /** The folder holding the checkpoint: the run it belongs to. */
    public final Path sourceRun;

    private ResumeTarget(Path file, Checkpoint.Loaded ck) {
        this.file = file;
        this.ck = ck;
        this.sourceRun = file.toAbsolutePath().normalize().getParent();
    }

    /** A run folder (its last.safetensors, else its best with a note) or a checkpoint file. */
    public static ResumeTarget open(Path resume, PrintStream out) {
        Path file = resume;
        if (Files.isDirectory(resume)) {
            file = Trainer.lastCheckpoint(resume);
            if (!Files.exists(file)) {
                Path best = Trainer.bestCheckpoint(resume);
                if (!Files.exists(best)) {
                    throw new UserException("run folder " + resume + " holds no checkpoint (last.safetensors or "
                            + "best.safetensors): it stopped before writing one; start it again");
                }
                // E.g. a full disk at the end of epoch 1: best was written, then last failed. Best is then the
                // newest state; whether it may continue in place is decided like any other checkpoint's.
                out.println("note: " + resume + " has no last.safetensors (a write that failed or was interrupted?); "
                        + "resuming from its best.safetensors");
                file = best;
            }
        }
        return new ResumeTarget(file, Checkpoint.read(file));
    }

    /**
     * The saved config of run folder {@code dir} when it holds no checkpoint because its run stopped before the
     * first one (a double SIGTERM or a kill in step 1, out of memory): --resume then starts it again from epoch 1
     * with that config. Null when {@code dir} is not a folder or holds a checkpoint (resume as usual). Refused
     * with one line when another process holds the folder (named), when it holds no config.json either, or when
     * it was a fork (starting it from scratch would drop what it was forked from).
     */
    public static Map<String, Object> unstartedConfig(Path dir) {
        if (!Files.isDirectory(dir) || Files.exists(Trainer.lastCheckpoint(dir))
                || Files.exists(Trainer.bestCheckpoint(dir))) {
            return null;
        }
        String holder = RunFolder.lockHolder(dir);
        if (holder != null) {
            throw new UserException("run folder " + dir + " is in use by another trainer (" + holder + ") that has "
                    + "not written its first checkpoint yet; wait for it to end, then --resume " + dir);
        }
        Path config = dir.resolve("config.json");
        if (!Files.isRegularFile(config) || RunFolder.holdsProgress(dir)) {
            throw new UserException("run folder " + dir + " holds no checkpoint (last.safetensors or best.safetensors)"
                    + (Files.isRegularFile(config) ? "" : " and no config.json") + ", so there is nothing to resume; "
                    + "start a new run (--out/--name)");
        }
        if (!(ConfigFiles.load(config, "run config") instanceof Map<?, ?> m)) {
            throw new UserException("run config " + config + " is not a map of config keys; start a new run");
        }
        Map<String, Object> map = new LinkedHashMap<>();
        m.forEach((k, v) -> map.put(String.valueOf(k), v));
        if (map.get(RunConfig.RESUMED_FROM) instanceof Map<?, ?> origin && origin.get("checkpoint") != null) {
            throw new UserException("run folder " + dir + " is a fork of " + origin.get("checkpoint") + " that stopped "
                    + "before its first checkpoint; fork again with --resume " + origin.get("checkpoint") + " --out "
                    + dir.toAbsolutePath().normalize().getParent() + " --name " + dir.getFileName()
                    + " (the folder is reused)");
        }
        return map;
    }

    /**
     * True when continuing in {@link #sourceRun} rewrites nothing: the checkpoint is the run's last, or as new as
     * it, or (without a last) no metrics row lies beyond it. Call again with the folder locked before trusting it.
     */
    boolean isNewestOfItsRun() {
        Path last = Trainer.lastCheckpoint(sourceRun).normalize();
        if (file.toAbsolutePath().normalize().equals(last)) {
            return true;
        }
        if (Files.exists(last)) {
            try {
                return Checkpoint.read(last).state().step == ck.state().step;
            } catch (UserException e) {
                return false; // an unreadable last: forking keeps it for inspection
            }
        }
        Path metrics = sourceRun.resolve("metrics.jsonl");
        if (!Files.exists(metrics)) {
            return true;
        }
        try (Stream<String> rows = Files.lines(metrics)) {
            return rows.filter(l -> !l.isBlank()).count() <= ck.state().history.size();
        } catch (IOException | java.io.UncheckedIOException e) {
            return false;
        }
    }

    /** Why a fork is needed (for the message), given the folder the options name. */
    String forkReason(Path dest) {
        if (dest != null && !same(dest, sourceRun)) {
            return "--out/--name name " + dest + ", not the checkpoint's run " + sourceRun;
        }
        return file + " is older than " + Trainer.lastCheckpoint(sourceRun) + " (or that one is unreadable)";
    }

    /** The {@code resumed_from} record of a fork. */
    Map<String, Object> origin() {
        TrainState st = ck.state();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("checkpoint", file.toAbsolutePath().normalize().toString());
        m.put("run", sourceRun.toString());
        m.put("epoch", st.epochsDone);
        m.put("batch", st.batchesDone);
        m.put("step", st.step);
        return m;
    }

    /** Name of a fork's folder when --name is not given: the source run's name and where the fork starts. */
    String forkBaseName() {
        TrainState st = ck.state();
        return sourceRun.getFileName() + "-from-e" + st.epochsDone + (st.batchesDone > 0 ? "b" + st.batchesDone : "");
    }

    static boolean same(Path a, Path b) {
        return a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
    }

    /** Locks the source run for an in-place resume, or returns null when it must fork after all. */
    public RunFolder lockInPlace() {
        if (!isNewestOfItsRun()) {
            return null;
        }
        RunFolder f = RunFolder.lockExisting(sourceRun);
        if (!isNewestOfItsRun()) { // another process advanced it between the check and the lock
            f.close();
            return null;
        }
        return f;
    }
}
