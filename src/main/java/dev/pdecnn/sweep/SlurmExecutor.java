package dev.pdecnn.sweep;

import dev.pdecnn.UserException;
import dev.pdecnn.io.AtomicFiles;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A Slurm job array with one task per cell ({@code SWEEP/sweep.sbatch}), submitted with {@code sbatch}. Each task
 * runs {@code sweep cell} for {@code $SLURM_ARRAY_TASK_ID}. Preemption and time limits: Slurm sends
 * {@code USR1} to the batch shell {@code S} seconds before the limit ({@code --signal=B:USR1@S}); the shell forwards
 * it to the trainer, which checkpoints and exits 138, and the shell requeues the task, which resumes from that
 * checkpoint. SIGTERM (preemption, {@code scontrol requeue}) is not forwarded: Slurm signals every process of the
 * job itself, and a second signal would make the trainer exit without its checkpoint.
 */
public final class SlurmExecutor {
    /**
     * The options of {@code sweep run --executor slurm}; null strings are left to the cluster's defaults, except
     * {@code mem} ({@link CellMemory}), which every task requests.
     */
    public record Options(int maxParallel, int cpusPerTask, int gpusPerTask, String time, String partition,
                          String account, int signalBefore, String mem) {
    }

    public static final String SCRIPT = "sweep.sbatch";
    public static final String JOBS = "slurm-jobs.txt";

    private SlurmExecutor() {
    }

    /** The batch script for the sweep in {@code sweepDir} (absolute paths; runs in the current folder). */
    public static String script(Path sweepDir, Plan plan, Options o, List<String> jvmArgs) {
        Path dir = sweepDir.toAbsolutePath().normalize();
        int n = plan.cells().size();
        int p = o.maxParallel() > 0 ? Math.min(o.maxParallel(), n) : n;
        List<String> jvm = new ArrayList<>(CellMemory.jvmArgs(jvmArgs, o.mem()));
        jvm.add("-Dpdecnn.cpu.threads=${SLURM_CPUS_PER_TASK:-" + o.cpusPerTask() + "}");
        List<String> args = new ArrayList<>(List.of("sweep", "cell", dir.toString()));
        if (o.gpusPerTask() > 0) {
            args.addAll(List.of("--device", "0")); // Slurm's CUDA_VISIBLE_DEVICES makes the task's GPU number 0
        }
        String java = String.join(" ", Launcher.command(jvm, args).stream()
                .map(a -> a.startsWith("-Dpdecnn.cpu.threads=") ? "\"" + a + "\"" : Launcher.shellQuote(a)).toList());
        StringBuilder s = new StringBuilder();
        s.append("#!/bin/bash\n");
        s.append("#SBATCH --job-name=sweep-").append(plan.name()).append('\n');
        s.append("#SBATCH --array=0-").append(n - 1).append('%').append(p).append('\n');
        s.append("#SBATCH --ntasks=1\n");
        s.append("#SBATCH --cpus-per-task=").append(o.cpusPerTask()).append('\n');
        // one task per array job, so --mem (per node) is per cell; without it a node with no default memory
        // per CPU gives each task all of its memory, and the tasks then run one at a time
        s.append("#SBATCH --mem=").append(CellMemory.slurm(o.mem())).append('\n');
        if (o.gpusPerTask() > 0) {
            s.append("#SBATCH --gpus-per-task=").append(o.gpusPerTask()).append('\n');
        }
        if (o.time() != null) {
            s.append("#SBATCH --time=").append(o.time()).append('\n');
        }
        if (o.partition() != null) {
            s.append("#SBATCH --partition=").append(o.partition()).append('\n');
        }
        if (o.account() != null) {
            s.append("#SBATCH --account=").append(o.account()).append('\n');
        }
        s.append("#SBATCH --requeue\n");
        s.append("#SBATCH --signal=B:USR1@").append(o.signalBefore()).append('\n');
        s.append("#SBATCH --chdir=").append(Path.of("").toAbsolutePath()).append('\n');
        s.append("#SBATCH --output=").append(dir.resolve(SweepFolder.LOGS)).append("/slurm-%A_%a.out\n");
        s.append("#SBATCH --open-mode=append\n"); // a requeued task adds to its log instead of replacing it
        s.append("""
                # Written by `sweep run --executor slurm` for sweep %s (%d cells); one array task per cell.
                # The trainer runs in the background so that this shell can take Slurm's USR1 (sent to the batch
                # shell only, --signal=B:...) and pass it on; the trainer then checkpoints and exits 138, and the
                # task is requeued to continue from that checkpoint. TERM is not passed on: on preemption or
                # `scontrol requeue` Slurm signals every process of the job, and a second signal would make the
                # trainer exit without its checkpoint. The shell only notes TERM and keeps waiting for the trainer.
                set -u
                echo "task ${SLURM_ARRAY_JOB_ID:-?}_${SLURM_ARRAY_TASK_ID:-?} on $(hostname) at $(date -u +%%FT%%TZ)"
                %s &
                child=$!
                trap 'echo "SIGUSR1: asking the trainer to checkpoint"; kill -USR1 "$child" 2>/dev/null' USR1
                trap 'echo "SIGTERM to the batch shell: not passed on (Slurm signals the trainer itself)"' TERM
                # A trap interrupts `wait`; wait again while the trainer lives, then once more for its exit code.
                while kill -0 "$child" 2>/dev/null; do
                    wait "$child"
                done
                wait "$child"
                code=$?
                echo "trainer exited with $code"
                if [ "$code" -eq 138 ]; then
                    echo "stopped before the time limit: requeueing ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
                    scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
                fi
                exit "$code"
                """.formatted(plan.name(), n, java));
        return s.toString();
    }

    /** Writes the script and submits it; prints and records the job id. */
    public static String submit(Path sweepDir, String script, PrintStream out) {
        Path file = sweepDir.resolve(SCRIPT);
        AtomicFiles.writeString(file, script);
        List<String> cmd = List.of("sbatch", "--parsable", file.toAbsolutePath().toString());
        String text;
        int code;
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new UserException("sbatch did not answer within 2 minutes; " + file + " is written");
            }
            code = p.exitValue();
        } catch (IOException e) {
            throw new UserException("cannot run sbatch (" + e.getMessage() + "); is this a Slurm login node? The "
                    + "script is in " + file);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UserException("interrupted while waiting for sbatch");
        }
        String last = text.lines().reduce((a, b) -> b).orElse("");
        String id = last.split(";", 2)[0].strip();
        if (code != 0 || !id.matches("[0-9]+")) {
            throw new UserException("sbatch failed (exit " + code + "): " + text.replace('\n', ' '));
        }
        try {
            Files.writeString(sweepDir.resolve(JOBS), id + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UserException("submitted job " + id + " but cannot record it in " + sweepDir.resolve(JOBS)
                    + ": " + e.getMessage());
        }
        out.println("submitted Slurm job " + id + " (" + file + "); `sweep status " + sweepDir + "` shows the cells");
        return id;
    }

    /** The job ids recorded for a sweep folder (empty when none). */
    public static List<String> jobs(Path sweepDir) {
        try {
            return Files.exists(sweepDir.resolve(JOBS)) ? Files.readAllLines(sweepDir.resolve(JOBS)).stream()
                    .map(String::strip).filter(l -> l.matches("[0-9]+")).toList() : List.of();
        } catch (IOException e) {
            return List.of();
        }
    }
}
