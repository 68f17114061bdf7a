package dev.pdecnn.train;

import dev.pdecnn.cli.CliRunner;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The trainer in its own JVM, stopped by real signals: the first one finishes the step, writes a mid-epoch
 * checkpoint, prints the resume command and exits 143 (SIGTERM); resuming gives the weights and metrics of an
 * uninterrupted run bit for bit; a second signal (SIGINT: 130) exits at once. Slow steps ({@link SlowSteps}) make
 * "mid-epoch" certain on any machine without changing any number.
 */
@EnabledOnOs(OS.LINUX)
public class SignalStopTest {
    @TempDir
    static Path tmp;
    static Path data;

    @BeforeAll
    static void data() throws Exception {
        data = SyntheticMnist.write(tmp.resolve("data"), 96, 32, 13);
    }

    static String[] args(Path out, String name) {
        return new String[]{"--model", "pde", "--channels", "1", "--batch-size", "4", "--lr", "0.05", "--seed", "9",
                "--epochs", "2", "--data-dir", data.toString(), "--out", out.toString(), "--name", name,
                "--checkpoint-every", "0"};
    }

    /** A child JVM running the trainer's main; its stdout lines arrive in {@link #lines}. */
    public static final class Child {
        public final Process p;
        final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        final List<String> all = new ArrayList<>();
        final Path err;
        final Thread reader;

        public Child(long stepDelayMillis, String... trainerArgs) throws Exception {
            List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                    "-Xmx256m", "-XX:TieredStopAtLevel=1"));
            if (stepDelayMillis > 0) {
                cmd.add(SlowSteps.jvmArg(stepDelayMillis));
            }
            cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "dev.pdecnn.cli.Main"));
            cmd.addAll(List.of(trainerArgs));
            err = tmp != null ? Files.createTempFile(tmp, "child", ".err") : Files.createTempFile("child", ".err");
            p = new ProcessBuilder(cmd).redirectError(err.toFile()).start();
            reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(),
                        StandardCharsets.UTF_8))) {
                    for (String l; (l = r.readLine()) != null; ) {
                        lines.add(l);
                    }
                } catch (java.io.IOException ignored) {
                    // the process ended
                }
            });
            reader.setDaemon(true);
            reader.start();
        }

        /** Waits for a stdout line starting with {@code prefix}. */
        public void await(String prefix) throws Exception {
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (System.nanoTime() < end) {
                String l = lines.poll(100, TimeUnit.MILLISECONDS);
                if (l != null) {
                    all.add(l);
                    if (l.startsWith(prefix)) {
                        return;
                    }
                } else if (!p.isAlive()) {
                    break;
                }
            }
            throw new AssertionError("no line '" + prefix + "' from the child; stdout " + all + " stderr "
                    + Files.readString(err));
        }

        public int exit() throws Exception {
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "child did not exit");
            reader.join(10_000); // its last lines may still be in the pipe
            lines.drainTo(all);
            return p.exitValue();
        }

        public String out() {
            return String.join("\n", all);
        }

        public String err() throws Exception {
            return Files.readString(err);
        }

        public void signal(String sig) throws Exception {
            assertEquals(0, new ProcessBuilder("kill", "-" + sig, Long.toString(p.pid())).start().waitFor());
        }

        /** Whether the child ignores {@code signo} (inherited SIG_IGN, e.g. SIGINT under a background shell job). */
        boolean ignores(int signo) throws Exception {
            for (String l : Files.readAllLines(Path.of("/proc/" + p.pid() + "/status"))) {
                if (l.startsWith("SigIgn:")) {
                    return (Long.parseUnsignedLong(l.substring(7).strip(), 16) & (1L << (signo - 1))) != 0;
                }
            }
            return false;
        }
    }

    @Test
    void sigtermWritesAMidEpochCheckpointThatResumesBitExactly() throws Exception {
        Path out = tmp.resolve("term");
        CliRunner.Result straight = CliRunner.run(args(out, "straight"));
        assertEquals(0, straight.code(), straight.err());

        Child c = new Child(40, args(out, "sig"));
        c.await("epoch 1/2"); // a progress line: training is under way, at batch 3 or so of 24
        // a second process into the same folder is refused with one line naming the holder
        CliRunner.Result second = CliRunner.run(args(out, "sig"));
        assertEquals(2, second.code(), second.err());
        assertTrue(second.err().contains("in use by another trainer (pid " + c.p.pid() + " on "), second.err());
        assertEquals(1, second.err().strip().lines().count(), second.err());

        // Process.destroy() sends the same SIGTERM but also closes our end of the child's stdout, losing its last lines
        c.signal("TERM");
        assertEquals(143, c.exit(), c.out() + c.err());
        assertTrue(c.out().contains("stopped by SIGTERM at epoch 1, batch "), c.out() + "\nstderr: " + c.err());
        assertTrue(c.out().contains("resume with: java -cp ") && c.out().contains("--resume " + out.resolve("sig")),
                c.out());
        assertFalse(c.err().contains("\tat "), c.err());
        TrainState st = Checkpoint.read(out.resolve("sig/last.safetensors")).state();
        assertEquals(0, st.epochsDone);
        assertTrue(st.batchesDone > 0 && st.batchesDone < 24, "mid-epoch: batch " + st.batchesDone);

        CliRunner.Result rest = CliRunner.run("--resume", out.resolve("sig").toString());
        assertEquals(0, rest.code(), rest.err());
        assertFalse(rest.out().contains("forking"), rest.out());
        RunFolderTest.assertSameTensors(out.resolve("straight/last.safetensors"), out.resolve("sig/last.safetensors"));
        assertEquals(RunFolderTest.metricsWithoutTimes(out.resolve("straight")),
                RunFolderTest.metricsWithoutTimes(out.resolve("sig")));
    }

    @Test
    void sigusr1StopsGracefullyWithExitCode138() throws Exception {
        Path out = tmp.resolve("usr1");
        Child c = new Child(40, args(out, "usr1"));
        c.await("epoch 1/2");
        c.signal("USR1"); // what Slurm sends ahead of a time limit (sbatch --signal)
        assertEquals(138, c.exit(), c.out() + c.err());
        assertTrue(c.out().contains("stopped by SIGUSR1 at epoch 1, batch "), c.out() + "\nstderr: " + c.err());
        assertTrue(c.out().contains("--resume " + out.resolve("usr1")), c.out());
        assertFalse(c.err().contains("\tat "), c.err());
        TrainState st = Checkpoint.read(out.resolve("usr1/last.safetensors")).state();
        assertTrue(st.batchesDone > 0 && st.batchesDone < 24, "mid-epoch: batch " + st.batchesDone);
    }

    @Test
    void aSecondSignalExitsAtOnce() throws Exception {
        Path out = tmp.resolve("twice");
        // Slow steps: the first signal waits for the step in progress, so the second arrives before any checkpoint.
        Child c = new Child(3000, args(out, "twice"));
        c.await("training ");
        Thread.sleep(500); // inside the first step
        c.signal("USR1"); // what Slurm sends before a time limit
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!c.err().contains("SIGUSR1: stopping after the current step") && System.nanoTime() < end) {
            Thread.sleep(20);
        }
        assertTrue(c.err().contains("SIGUSR1: stopping after the current step"), c.err());
        // Ctrl-C; a shell's background job ignores SIGINT from birth (no handler can be set then), so SIGTERM there
        boolean intIgnored = c.ignores(2);
        long t0 = System.nanoTime();
        c.signal(intIgnored ? "TERM" : "INT");
        assertEquals(intIgnored ? 143 : 130, c.exit(), c.out() + c.err());
        assertTrue(System.nanoTime() - t0 < TimeUnit.MILLISECONDS.toNanos(1500), "the second signal exits at once");
        assertFalse(Files.exists(out.resolve("twice/last.safetensors")), "no checkpoint: it did not wait");
    }
}
