package dev.pdecnn.cli;

import dev.pdecnn.UserException;
import dev.pdecnn.sweep.CellRun;
import dev.pdecnn.train.CheckpointEvery;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.function.Function;

/**
 * {@code sweep cell SWEEP [--index I]}: trains one cell of a sweep folder in this process ({@link CellRun}, through
 * the trainer's own service): fresh when its folder has no checkpoint, else continuing the newest checkpoint in
 * place; a finished cell is reported and exits 0. The index comes from the option or the environment of a Slurm
 * array task or a Kubernetes Indexed Job.
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
        return CellRun.train(dir, i, device, CheckpointEvery.parse(checkpointEvery), main.out, main.err);
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
