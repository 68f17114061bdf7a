package dev.pdecnn.cli;

import dev.pdecnn.UserException;
import dev.pdecnn.sweep.CellMemory;
import dev.pdecnn.sweep.CellState;
import dev.pdecnn.sweep.K8sExecutor;
import dev.pdecnn.sweep.LocalExecutor;
import dev.pdecnn.sweep.Plan;
import dev.pdecnn.sweep.SlurmExecutor;
import dev.pdecnn.sweep.SweepFile;
import dev.pdecnn.sweep.StatusTable;
import dev.pdecnn.sweep.SweepFolder;
import dev.pdecnn.io.AtomicFiles;
import dev.pdecnn.train.StopSignals;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/** {@code sweep run | cell | status}: the study's grid of runs on this machine, a Slurm cluster or Kubernetes. */
@Command(name = "sweep", mixinStandardHelpOptions = true,
        description = {"Runs a grid of trainings (a sweep file: configs x free axes x seeds) in one sweep folder,",
                "runs/sweeps/<name>/: plan.json, cells/<id>/ (run folders), logs/. See README, Running the whole study."},
        subcommands = {SweepCommand.Run.class, SweepCellCommand.class, SweepCommand.Status.class})
final class SweepCommand {
    @ParentCommand
    Main main;

    @Command(name = "run", mixinStandardHelpOptions = true, sortOptions = false,
            description = {"Expands a sweep file into its sweep folder and runs the cells: locally (child JVMs), "
                    + "as a Slurm job array (sbatch), or writes a Kubernetes Indexed Job. Running it again "
                    + "continues: finished cells are skipped, stopped ones resume from their checkpoints."})
    static final class Run implements Callable<Integer> {
        @ParentCommand
        SweepCommand sweep;

        @Parameters(paramLabel = "FILE", description = "The sweep file (YAML), e.g. configs/sweeps/table2.yaml.")
        Path file;

        @Option(names = "--executor", defaultValue = "local", description = "local, slurm or k8s. Default: "
                + "${DEFAULT-VALUE}.")
        String executor;

        @Option(names = "--out", paramLabel = "DIR", description = "Sweep folder. Default: runs/sweeps/<name>.")
        Path out;

        @Option(names = "--epochs", paramLabel = "N", description = "Replaces the sweep file's epochs (recorded in "
                + "plan.json).")
        Integer epochs;

        @Option(names = "--workers", paramLabel = "N", defaultValue = "1", description = "local: CPU worker "
                + "processes; the cores are split between them. Default: ${DEFAULT-VALUE}.")
        int workers;

        @Option(names = "--devices", paramLabel = "G,G,..", split = ",", description = "local: one worker per GPU "
                + "number, each cell on its worker's GPU (instead of --workers).")
        List<String> devices = new ArrayList<>();

        @Option(names = "--jvm-arg", paramLabel = "ARG", description = "Extra argument for the cells' JVMs, e.g. "
                + "-Xmx8g (repeatable).")
        List<String> jvmArgs = new ArrayList<>();

        @Option(names = "--max-parallel", paramLabel = "P", defaultValue = "0", description = "slurm, k8s: cells "
                + "running at once (0 = all). Default: ${DEFAULT-VALUE}.")
        int maxParallel;

        @Option(names = "--cpus-per-task", paramLabel = "C", defaultValue = "2", description = "slurm, k8s: CPU "
                + "cores per cell (also the trainer's threads). Default: ${DEFAULT-VALUE}.")
        int cpusPerTask;

        @Option(names = "--gpus-per-task", paramLabel = "G", defaultValue = "0", description = "slurm, k8s: GPUs "
                + "per cell; > 0 trains on the task's GPU. Default: ${DEFAULT-VALUE}.")
        int gpusPerTask;

        @Option(names = "--mem", paramLabel = "SIZE", defaultValue = CellMemory.DEFAULT, description = "slurm, k8s: "
                + "memory per cell (Slurm --mem, a Kubernetes memory request), e.g. 16G; the cells' JVMs get -Xmx of "
                + "75%% of it unless a --jvm-arg sets the heap. Default: ${DEFAULT-VALUE}.")
        String mem;

        @Option(names = "--time", paramLabel = "T", description = "slurm: time limit per task (e.g. 12:00:00); "
                + "a task that reaches it checkpoints and is requeued.")
        String time;

        @Option(names = "--partition", description = "slurm: partition.")
        String partition;

        @Option(names = "--account", description = "slurm: account.")
        String account;

        @Option(names = "--signal-before", paramLabel = "S", defaultValue = "120", description = "slurm: seconds "
                + "before the time limit at which the task checkpoints (USR1). Default: ${DEFAULT-VALUE}.")
        int signalBefore;

        @Option(names = "--image", defaultValue = "pde-trainer:latest", description = "k8s: the trainer's image "
                + "(the repository's Dockerfile). Default: ${DEFAULT-VALUE}.")
        String image;

        @Option(names = "--pvc", paramLabel = "NAME", defaultValue = "pde-sweeps", description = "k8s: the "
                + "PersistentVolumeClaim holding the sweep folder. Default: ${DEFAULT-VALUE}.")
        String pvc;

        @Option(names = "--backoff-limit-per-index", paramLabel = "N", defaultValue = "3", description = "k8s: "
                + "retries of a failed or evicted cell (each resumes its checkpoint). Default: ${DEFAULT-VALUE}.")
        int backoffLimitPerIndex;

        @Option(names = "--grace-period", paramLabel = "S", defaultValue = "300", description = "k8s: seconds a "
                + "stopped pod has to checkpoint. Default: ${DEFAULT-VALUE}.")
        int gracePeriod;

        @Option(names = "--dry-run", description = "slurm: print the batch script, submit nothing, write nothing.")
        boolean dryRun;

        @Spec
        CommandSpec spec;

        /** Options only some executors read: naming one for another executor is refused, never ignored. */
        private static final Map<String, List<String>> ONLY = Map.ofEntries(
                Map.entry("--workers", List.of("local")), Map.entry("--devices", List.of("local")),
                Map.entry("--max-parallel", List.of("slurm", "k8s")), Map.entry("--cpus-per-task", List.of("slurm", "k8s")),
                Map.entry("--gpus-per-task", List.of("slurm", "k8s")), Map.entry("--mem", List.of("slurm", "k8s")),
                Map.entry("--time", List.of("slurm")), Map.entry("--partition", List.of("slurm")),
                Map.entry("--account", List.of("slurm")), Map.entry("--signal-before", List.of("slurm")),
                Map.entry("--dry-run", List.of("slurm")), Map.entry("--image", List.of("k8s")),
                Map.entry("--pvc", List.of("k8s")), Map.entry("--backoff-limit-per-index", List.of("k8s")),
                Map.entry("--grace-period", List.of("k8s")));

        @Override
        public Integer call() throws InterruptedException {
            var o = sweep.main.out;
            checkOptions();
            Plan plan = SweepFile.expand(file, epochs); // everything checked before anything is written
            Path dir = out != null ? out : SweepFolder.defaultDir(plan.name());
            if (executor.equals("slurm")) {
                String script = SlurmExecutor.script(dir, plan, new SlurmExecutor.Options(maxParallel, cpusPerTask,
                        gpusPerTask, time, partition, account, signalBefore, mem), jvmArgs);
                if (dryRun) {
                    o.print(script);
                    return 0;
                }
                SweepFolder.prepare(dir, plan, file);
                SlurmExecutor.submit(dir, script, o);
                return 0;
            }
            if (executor.equals("k8s")) {
                String yaml = K8sExecutor.yaml(K8sExecutor.manifest(plan, new K8sExecutor.Options(image, pvc,
                        maxParallel, cpusPerTask, gpusPerTask, backoffLimitPerIndex, gracePeriod, jvmArgs, mem)));
                SweepFolder.prepare(dir, plan, file);
                Path manifest = dir.resolve(K8sExecutor.MANIFEST);
                AtomicFiles.writeString(manifest, yaml);
                o.println("wrote " + manifest + " (" + plan.cells().size() + " cells)");
                o.println("copy the sweep folder onto the volume " + pvc + " (its root becomes "
                        + K8sExecutor.MOUNT_ROOT + "/" + plan.name() + " in the pods), then run:");
                o.println("  kubectl apply -f " + manifest);
                return 0;
            }
            SweepFolder.prepare(dir, plan, file);
            return new LocalExecutor(dir, plan, devices, workers, jvmArgs, o).run(StopSignals.enabledForProcess());
        }

        private void checkOptions() {
            if (!List.of("local", "slurm", "k8s").contains(executor)) {
                throw new UserException("--executor must be local, slurm or k8s, got '" + executor + "'");
            }
            for (OptionSpec o : spec.commandLine().getParseResult().matchedOptions()) {
                List<String> only = ONLY.get(o.longestName());
                if (only != null && !only.contains(executor)) {
                    throw new UserException(o.longestName() + " is for --executor " + String.join(" and ", only)
                            + ", not " + executor + "; remove it");
                }
            }
            for (String a : jvmArgs) {
                if (!a.startsWith("-") || a.chars().anyMatch(ch -> ch < 0x20)) {
                    throw new UserException("--jvm-arg must be a JVM option such as -Xmx8g (starting with '-', on "
                            + "one line), got '" + a.replaceAll("\\p{Cntrl}", "?") + "'");
                }
            }
            CellMemory.mib(mem); // refused before anything is written
            if (epochs != null && epochs < 1) {
                throw new UserException("--epochs must be 1 or more, got " + epochs);
            }
            if (workers < 1 || workers > 1024) {
                throw new UserException("--workers must be in 1..1024, got " + workers);
            }
            for (String d : devices) {
                if (!d.matches("[0-9]{1,3}")) {
                    throw new UserException("--devices must list GPU numbers (e.g. 0,1,2,3), got '" + d + "'");
                }
            }
            if (maxParallel < 0 || cpusPerTask < 1 || gpusPerTask < 0 || signalBefore < 0 || gracePeriod < 1
                    || backoffLimitPerIndex < 0) {
                throw new UserException("--max-parallel, --gpus-per-task, --signal-before and "
                        + "--backoff-limit-per-index must be 0 or more, --cpus-per-task and --grace-period 1 or more");
            }
            for (String[] kv : new String[][]{{"--time", time}, {"--partition", partition}, {"--account", account}}) {
                if (kv[1] != null && !kv[1].matches("[A-Za-z0-9_.:,+-]{1,100}")) {
                    throw new UserException(kv[0] + " has characters a batch script cannot take: '" + kv[1] + "'");
                }
            }
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true,
            description = {"Shows each cell's state (done, running, stopped at epoch e batch b, failed, not "
                    + "started), its epochs and best test accuracy, totals, and the recorded Slurm jobs in squeue."})
    static final class Status implements Callable<Integer> {
        @ParentCommand
        SweepCommand sweep;

        @Parameters(paramLabel = "SWEEP", description = "The sweep folder.")
        Path dir;

        @Override
        public Integer call() {
            var o = sweep.main.out;
            Plan plan = Plan.read(dir);
            Map<CellState.Kind, Integer> totals = StatusTable.print(dir, plan, o);
            squeue(SlurmExecutor.jobs(dir), o);
            return totals.getOrDefault(CellState.Kind.FAILED, 0) > 0 ? 1 : 0;
        }

        /** The recorded jobs' lines from squeue, when it is on PATH (a Slurm login node). */
        private static void squeue(List<String> jobs, java.io.PrintStream o) {
            if (jobs.isEmpty() || !onPath("squeue")) {
                return;
            }
            try {
                Process p = new ProcessBuilder("squeue", "-r", "-j", String.join(",", jobs)).redirectErrorStream(true)
                        .start();
                String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                p.waitFor(30, TimeUnit.SECONDS);
                o.println("squeue -r -j " + String.join(",", jobs) + ":");
                o.print(text);
            } catch (java.io.IOException e) {
                o.println("squeue failed: " + e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        private static boolean onPath(String exe) {
            String path = System.getenv("PATH");
            if (path == null) {
                return false;
            }
            for (String d : path.split(java.io.File.pathSeparator)) {
                if (!d.isEmpty() && Files.isExecutable(Path.of(d, exe))) {
                    return true;
                }
            }
            return false;
        }
    }
}
