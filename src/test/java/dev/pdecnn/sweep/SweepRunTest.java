package dev.pdecnn.sweep;

import dev.pdecnn.cli.CliRunner;
import dev.pdecnn.train.Checkpoint;
import dev.pdecnn.train.RunFolderTest;
import dev.pdecnn.train.SignalStopTest;
import dev.pdecnn.train.SlowSteps;
import dev.pdecnn.train.TrainState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code sweep run} end to end on the real MNIST files (../shared/data/mnist, found from the working folder up;
 * skipped without them): the local executor with child JVMs, re-runs, a cell stopped by SIGTERM and resumed bit
 * for bit, a failed cell, bad input, and Slurm submission through a fake {@code sbatch} on PATH.
 */
@EnabledOnOs(OS.LINUX)
class SweepRunTest {
    @TempDir
    Path tmp;
    /** The cells' JVMs: seconds of training do not repay the optimizing compiler's work (changes no number). */
    private static final String[] QUICK_JVM = {"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"};

    /** The shared MNIST folder: {@code shared/data/mnist} in the working folder or one above it. */
    static Path mnist() {
        for (Path a = Path.of("").toAbsolutePath(); a != null; a = a.getParent()) {
            Path m = a.resolve("shared").resolve("data").resolve("mnist");
            if (Files.isDirectory(m)) {
                return m;
            }
        }
        return null;
    }

    /** Tiny cells: 96 training images in batches of 16 (6 steps an epoch), 2 epochs. */
    private Path sweepFile(String name, String configs, String seeds, Path data) throws Exception {
        Path f = tmp.resolve(name + ".yaml");
        Files.writeString(f, "name: " + name + "\nconfigs: " + configs + "\nseeds: " + seeds + "\nepochs: 2\n"
                + "train: {limit_train: 96, limit_test: 32, batch_size: 16, data_dir: '" + data + "'}\n");
        return f;
    }

    @Test
    void localSweepFinishesSkipsOnRerunAndAStoppedCellResumesBitExactly() throws Exception {
        Path data = mnist();
        assumeTrue(data != null, "shared MNIST folder absent");
        // config paths relative to the working folder (the repository), as in configs/sweeps/*.yaml
        Path a = sweepFile("a", "[configs/mnist_pde_const_c1.yaml, configs/mnist_cnn_c1.yaml]", "[1, 2]", data);
        Path dirA = tmp.resolve("A");
        CliRunner.Result r = CliRunner.run("sweep", "run", a.toString(), "--out", dirA.toString(), "--workers", "2",
                "--jvm-arg", QUICK_JVM[0], "--jvm-arg", QUICK_JVM[1]);
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("done 4/4"), r.out());
        Plan plan = Plan.read(dirA);
        List<String> ids = plan.cells().stream().map(Cell::id).toList();
        assertEquals(List.of("mnist_pde_const_c1-s1", "mnist_pde_const_c1-s2", "mnist_cnn_c1-s1", "mnist_cnn_c1-s2"), ids);
        List<Long> logSizes = new ArrayList<>();
        for (Cell c : plan.cells()) {
            assertEquals(CellState.Kind.DONE, CellState.of(dirA, c).kind(), c.id());
            TrainState st = Checkpoint.read(dirA.resolve(c.run()).resolve("last.safetensors")).state();
            assertEquals(c.seed(), ((Number) st.config.get("seed")).longValue());
            assertEquals(96, ((Number) st.config.get("limit_train")).intValue());
            assertEquals(2, st.epochsDone);
            assertTrue(Files.exists(dirA.resolve(c.run()).resolve("summary.json")));
            logSizes.add(Files.size(SweepFolder.log(dirA, c)));
        }
        // the same command again: nothing to run, no cell started (the logs did not grow)
        r = CliRunner.run("sweep", "run", a.toString(), "--out", dirA.toString(), "--workers", "2");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("4 cells, 4 finished already") && r.out().contains("0 to run"), r.out());
        for (int i = 0; i < 4; i++) {
            assertEquals(logSizes.get(i), Files.size(SweepFolder.log(dirA, plan.cells().get(i))));
        }
        CliRunner.Result st = CliRunner.run("sweep", "status", dirA.toString());
        assertEquals(0, st.code(), st.err());
        assertTrue(st.out().contains("4 cells: 4 done, 0 running, 0 stopped, 0 failed, 0 not started"), st.out());

        // Sweep B holds the same cell as A's first. `sweep run` (its own JVM) gets SIGTERM while the cell is mid-epoch:
        // it passes one SIGTERM on, the cell checkpoints and stops, and the same command later resumes it.
        Path b = sweepFile("b", "[configs/mnist_pde_const_c1.yaml]", "[1]", data);
        Path dirB = tmp.resolve("B");
        // slow steps (a test seam that changes no number) make "mid-epoch" certain on a busy machine
        SignalStopTest.Child run = new SignalStopTest.Child(0, "sweep", "run", b.toString(), "--out", dirB.toString(),
                "--jvm-arg", SlowSteps.jvmArg(150), "--jvm-arg", QUICK_JVM[0]);
        run.await("[");  // "[hh:mm:ss] started ..."
        Cell cell = Plan.read(dirB).cell(0);
        Path log = SweepFolder.log(dirB, cell);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!(Files.exists(log) && Files.readString(log).contains("epoch 1/2 ")) && System.nanoTime() < end) {
            Thread.sleep(50);
        }
        run.signal("TERM");
        assertEquals(143, run.exit(), run.out() + run.err());
        assertTrue(run.out().contains("SIGTERM: asking 1 running cell(s) to checkpoint"), run.out());
        assertTrue(Files.readString(log).contains("stopped by SIGTERM at epoch 1, batch "), Files.readString(log));
        TrainState mid = Checkpoint.read(dirB.resolve(cell.run()).resolve("last.safetensors")).state();
        assertTrue(mid.epochsDone == 0 && mid.batchesDone > 0 && mid.batchesDone < 6, "mid-epoch: " + mid.batchesDone);
        st = CliRunner.run("sweep", "status", dirB.toString());
        assertTrue(st.out().contains("stopped with checkpoint at epoch 0 batch " + mid.batchesDone), st.out());

        r = CliRunner.run("sweep", "run", b.toString(), "--out", dirB.toString(), "--jvm-arg", QUICK_JVM[0]);
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(Files.readString(SweepFolder.log(dirB, cell)).contains("resuming from "), "resumed, not restarted");
        Path refRun = dirA.resolve("cells").resolve(cell.id()), resumed = dirB.resolve(cell.run());
        RunFolderTest.assertSameTensors(refRun.resolve("last.safetensors"), resumed.resolve("last.safetensors"));
        RunFolderTest.assertSameTensors(refRun.resolve("best.safetensors"), resumed.resolve("best.safetensors"));
        assertEquals(RunFolderTest.metricsWithoutTimes(refRun), RunFolderTest.metricsWithoutTimes(resumed));
    }

    /**
     * The batch script's own logic, run with bash as Slurm would run it (its #SBATCH lines are comments to bash)
     * and a fake scontrol on PATH: USR1 to the batch shell reaches the trainer, which checkpoints mid-epoch and
     * exits 138, and the script requeues its task; the requeued task (the same script again) finishes the cell.
     */
    @Test
    void batchScriptForwardsUsr1AndRequeuesTheTask() throws Exception {
        Path data = mnist();
        assumeTrue(data != null, "shared MNIST folder absent");
        Path f = sweepFile("q", "[configs/mnist_cnn_c1.yaml]", "[3]", data);
        Path dir = tmp.resolve("Q");
        Plan plan = SweepFile.expand(f, null);
        SweepFolder.prepare(dir, plan, f);
        Path script = dir.resolve("sweep.sbatch");
        Files.writeString(script, SlurmExecutor.script(dir, plan, new SlurmExecutor.Options(1, 2, 0, null, null, null,
                60, "2G"), List.of(QUICK_JVM[0], SlowSteps.jvmArg(150))));
        Path bin = Files.createDirectories(tmp.resolve("qbin"));
        Path scontrol = bin.resolve("scontrol");
        Files.writeString(scontrol, "#!/bin/sh\necho \"$@\" >> \"" + bin.resolve("scontrol.log") + "\"\n");
        Files.setPosixFilePermissions(scontrol, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path out1 = tmp.resolve("task1.out");
        Process task = task(script, bin, out1);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!(Files.exists(out1) && Files.readString(out1).contains("epoch 1/2 ")) && System.nanoTime() < end) {
            Thread.sleep(50);
        }
        assertEquals(0, new ProcessBuilder("kill", "-USR1", Long.toString(task.pid())).start().waitFor());
        assertTrue(task.waitFor(60, TimeUnit.SECONDS));
        String log = Files.readString(out1);
        assertEquals(138, task.exitValue(), log);
        assertTrue(log.contains("stopped by SIGUSR1 at epoch 1, batch ") && log.contains("trainer exited with 138"), log);
        assertEquals("requeue 77_0", Files.readString(bin.resolve("scontrol.log")).strip());
        TrainState mid = Checkpoint.read(dir.resolve(plan.cell(0).run()).resolve("last.safetensors")).state();
        assertTrue(mid.epochsDone == 0 && mid.batchesDone > 0, "mid-epoch: " + mid.batchesDone);

        Path out2 = tmp.resolve("task2.out");
        Process again = task(script, bin, out2);
        assertTrue(again.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, again.exitValue(), Files.readString(out2));
        assertTrue(Files.readString(out2).contains("resuming from "), Files.readString(out2));
        assertEquals(CellState.Kind.DONE, CellState.of(dir, plan.cell(0)).kind());
        assertEquals("requeue 77_0", Files.readString(bin.resolve("scontrol.log")).strip(), "no second requeue");
    }

    /** The batch script as array task 77_0, with {@code bin} first on PATH. */
    private static Process task(Path script, Path bin, Path out) throws Exception {
        ProcessBuilder pb = new ProcessBuilder("bash", script.toString()).redirectErrorStream(true)
                .redirectOutput(out.toFile());
        pb.environment().put("PATH", bin + ":" + System.getenv("PATH"));
        pb.environment().put("SLURM_ARRAY_JOB_ID", "77");
        pb.environment().put("SLURM_ARRAY_TASK_ID", "0");
        pb.environment().remove("JOB_COMPLETION_INDEX");
        return pb.start();
    }

    @Test
    void aFailedCellIsReportedAndTheOthersStillRun() throws Exception {
        Path missing = tmp.resolve("no-data-here");
        Path f = sweepFile("f", "[configs/mnist_cnn_c1.yaml, configs/mnist_cnn_c8.yaml]", "[1]", missing);
        Path dir = tmp.resolve("F");
        CliRunner.Result r = CliRunner.run("sweep", "run", f.toString(), "--out", dir.toString(), "--jvm-arg",
                QUICK_JVM[0]);
        assertEquals(1, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("FAILED mnist_cnn_c1-s1") && r.out().contains("FAILED mnist_cnn_c8-s1"), r.out());
        assertTrue(r.out().contains("0 done, 2 failed"), r.out());
        CliRunner.Result st = CliRunner.run("sweep", "status", dir.toString());
        assertEquals(1, st.code());
        assertTrue(st.out().contains("failed at epoch 0 (error: ") && st.out().contains(missing.toString()), st.out());
    }

    @Test
    void badInputIsOneLineExit2AndCreatesNothing() throws Exception {
        Path f = tmp.resolve("bad.yaml");
        Files.writeString(f, "name: bad\nconfigs: [{config: configs/mnist_cnn_c1.yaml, overrides: {batch_size: 0}}]\n"
                + "seeds: [1]\nepochs: 1\n");
        Path dir = tmp.resolve("never");
        for (String[] args : List.of(new String[]{"sweep", "run", f.toString(), "--out", dir.toString()},
                new String[]{"sweep", "run", f.toString(), "--out", dir.toString(), "--executor", "slurm", "--dry-run"},
                new String[]{"sweep", "run", tmp.resolve("absent.yaml").toString(), "--out", dir.toString()},
                new String[]{"sweep", "run", f.toString(), "--out", dir.toString(), "--executor", "nomad"},
                new String[]{"sweep", "cell", tmp.toString(), "--index", "0"},
                new String[]{"sweep", "status", dir.toString()})) {
            CliRunner.Result r = CliRunner.run(args);
            assertEquals(2, r.code(), String.join(" ", args) + ": " + r.out() + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertFalse(r.err().contains("\tat "), r.err());
        }
        assertTrue(CliRunner.run("sweep", "run", f.toString(), "--out", dir.toString()).err()
                .contains("key 'batch_size' must be an integer in 1..16384"));
        assertFalse(Files.exists(dir), "nothing created");
    }

    @Test
    void slurmDryRunPrintsTheScriptAndWritesNothing() throws Exception {
        Path f = tmp.resolve("dry.yaml");
        Files.writeString(f, "name: dry\nconfigs: [configs/mnist_cnn_c1.yaml]\nseeds: [1, 2, 3]\nepochs: 2\n"
                + "axes: {K: [1, 2]}\n");
        Path dir = tmp.resolve("DRY");
        CliRunner.Result r = CliRunner.run("sweep", "run", f.toString(), "--executor", "slurm", "--out", dir.toString(),
                "--dry-run", "--epochs", "4", "--max-parallel", "3", "--cpus-per-task", "8", "--gpus-per-task", "1",
                "--time", "2-00:00:00", "--partition", "gpu", "--account", "a1", "--signal-before", "300");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("#!/bin/bash\n"), r.out());
        for (String l : List.of("#SBATCH --array=0-5%3", "#SBATCH --cpus-per-task=8", "#SBATCH --gpus-per-task=1",
                "#SBATCH --time=2-00:00:00", "#SBATCH --partition=gpu", "#SBATCH --account=a1",
                "#SBATCH --signal=B:USR1@300", "#SBATCH --requeue")) {
            assertTrue(r.out().lines().anyMatch(l::equals), l + " in " + r.out());
        }
        assertTrue(r.out().contains(" sweep cell " + dir.toAbsolutePath() + " --device 0 &"), r.out());
        assertFalse(Files.exists(dir), "a dry run writes nothing");
    }

    @Test
    void slurmSubmitsThroughSbatchOnPathAndRecordsTheJob() throws Exception {
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        Path sbatch = bin.resolve("sbatch");
        Files.writeString(sbatch, "#!/bin/sh\necho \"$@\" > \"" + bin.resolve("sbatch.args") + "\"\necho '4242;clusterA'\n");
        Files.setPosixFilePermissions(sbatch, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path f = tmp.resolve("sl.yaml");
        Files.writeString(f, "name: sl\nconfigs: [configs/mnist_cnn_c1.yaml, configs/mnist_cnn_c8.yaml]\nseeds: [1, 2]\n"
                + "epochs: 2\n");
        Path dir = tmp.resolve("SL");
        String out = withPath(bin, "sweep", "run", f.toString(), "--executor", "slurm", "--out", dir.toString(),
                "--max-parallel", "2", "--time", "1:00:00");
        assertTrue(out.contains("submitted Slurm job 4242"), out);
        assertEquals(List.of("4242"), Files.readAllLines(dir.resolve("slurm-jobs.txt")));
        Path script = dir.resolve("sweep.sbatch").toAbsolutePath();
        assertEquals("--parsable " + script, Files.readString(bin.resolve("sbatch.args")).strip());
        String text = Files.readString(script);
        assertTrue(text.contains("#SBATCH --array=0-3%2\n") && text.contains("#SBATCH --time=1:00:00\n"), text);
        assertEquals(4, Plan.read(dir).cells().size());
        assertTrue(Files.exists(dir.resolve("sweep.yaml")) && Files.isDirectory(dir.resolve("logs")));

        // sweep status adds the recorded jobs' squeue lines when squeue is on PATH
        Path squeue = bin.resolve("squeue");
        Files.writeString(squeue, "#!/bin/sh\necho \"JOBID PARTITION NAME\"\necho \"4242_0 cpu sweep-sl ($@)\"\n");
        Files.setPosixFilePermissions(squeue, PosixFilePermissions.fromString("rwxr-xr-x"));
        String status = withPath(bin, "sweep", "status", dir.toString());
        assertTrue(status.contains("4 cells: 0 done, 0 running, 0 stopped, 0 failed, 4 not started"), status);
        assertTrue(status.contains("4242_0 cpu sweep-sl (-r -j 4242)"), status);
    }

    /** The CLI in a child JVM with {@code bin} first on PATH; its output, after checking it exited 0. */
    private static String withPath(Path bin, String... args) throws Exception {
        List<String> cmd = Launcher.command(List.of("-XX:TieredStopAtLevel=1"), List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("PATH", bin + ":" + System.getenv("PATH"));
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        return out;
    }
}
