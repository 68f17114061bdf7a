package dev.pdecnn.train;

import dev.pdecnn.cli.CliRunner;
import dev.pdecnn.cli.Main;
import dev.pdecnn.io.Safetensors;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Run folders are never shared or silently rewritten: locks and unique names, resume rules (in place only from the
 * newest checkpoint, else a fork with resumed_from), stale temporary files, scheduled mid-epoch checkpoints that
 * resume bit-exactly, and the refusals of empty splits, --stop-after 0 and a finished run.
 */
public class RunFolderTest {
    @TempDir
    static Path tmp;
    static Path data;

    @BeforeAll
    static void data() throws Exception {
        data = SyntheticMnist.write(tmp.resolve("data"), 96, 32, 11);
    }

    /** A tiny run: 24 steps per epoch. */
    static String[] tiny(Path out, String... extra) {
        String[] base = {"--model", "pde", "--channels", "1", "--batch-size", "4", "--lr", "0.05", "--seed", "5",
                "--data-dir", data.toString(), "--out", out.toString(), "--checkpoint-every", "0"};
        List<String> r = new ArrayList<>();
        List<String> given = java.util.Arrays.asList(extra);
        for (int i = 0; i < base.length; i += 2) {
            if (!given.contains(base[i])) { // an option given twice is an error
                r.add(base[i]);
                r.add(base[i + 1]);
            }
        }
        r.addAll(given);
        return r.toArray(new String[0]);
    }

    static void assertOneLineError(CliRunner.Result r, int code, String mention) {
        assertEquals(code, r.code(), "stderr: " + r.err() + " stdout: " + r.out());
        assertTrue(r.err().contains(mention), "should mention '" + mention + "': " + r.err());
        assertFalse(r.err().contains("\tat "), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }

    /** Every file of a folder with its bytes, to show a folder was left untouched. */
    static Map<String, byte[]> snapshot(Path dir) throws Exception {
        Map<String, byte[]> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) s.filter(Files::isRegularFile)::iterator) {
                m.put(dir.relativize(p).toString(), Files.readAllBytes(p));
            }
        }
        return m;
    }

    static void assertSameFolder(Map<String, byte[]> before, Path dir) throws Exception {
        Map<String, byte[]> after = snapshot(dir);
        assertEquals(before.keySet(), after.keySet(), "files of " + dir);
        before.forEach((k, v) -> assertArrayEquals(v, after.get(k), k + " changed"));
    }

    public static void assertSameTensors(Path a, Path b) {
        Map<String, Tensor> x = Safetensors.read(a).tensors(), y = Safetensors.read(b).tensors();
        assertEquals(x.keySet(), y.keySet());
        for (String k : x.keySet()) {
            assertArrayEquals(x.get(k).f32(), y.get(k).f32(), k); // bit-exact, momentum buffers included
        }
    }

    /** metrics.csv without the timing columns (seconds, images per second), which differ between sessions. */
    public static List<String> metricsWithoutTimes(Path run) throws Exception {
        List<String> rows = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.csv"))) {
            String[] f = l.split(",");
            rows.add(String.join(",", f[0], f[1], f[2], f[3], f[4], f[5], f[8]));
        }
        return rows;
    }

    @Test
    void defaultNamesAreUniqueAndAFolderHasOneOwner() throws Exception {
        Path out = tmp.resolve("names");
        try (RunFolder a = RunFolder.createUnique(out, "m-20260101-000000");
             RunFolder b = RunFolder.createUnique(out, "m-20260101-000000")) {
            assertNotEquals(a.dir(), b.dir(), "same second, same base: still two folders");
            assertEquals("m-20260101-000000-2", b.dir().getFileName().toString());
            String lock = Files.readString(a.dir().resolve(RunFolder.LOCK_FILE));
            assertTrue(lock.startsWith("pid " + ProcessHandle.current().pid() + " on "), lock);
            var e = assertThrows(dev.pdecnn.UserException.class, () -> RunFolder.lockExisting(a.dir()));
            assertTrue(e.getMessage().contains("in use by another trainer (pid " + ProcessHandle.current().pid()),
                    e.getMessage());
        }
        // a failed start leaves no empty folder behind
        try (Stream<Path> s = Files.list(out)) {
            assertEquals(0, s.count());
        }

        // two runs started together, once with default names and once with the same --name
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<CliRunner.Result>> runs = new ArrayList<>();
            for (String lr : new String[]{"0.01", "0.05"}) {
                runs.add(pool.submit(() -> CliRunner.run(tiny(out, "--epochs", "1", "--lr", lr))));
            }
            for (Future<CliRunner.Result> f : runs) {
                assertEquals(0, f.get().code(), f.get().err());
            }
            List<String> lrs = new ArrayList<>();
            try (Stream<Path> s = Files.list(out)) {
                for (Path run : (Iterable<Path>) s::iterator) {
                    assertTrue(Files.exists(run.resolve("last.safetensors")), run.toString());
                    lrs.add(Files.readString(run.resolve("config.json")).replaceAll("(?s).*\"lr\": ([0-9.]+).*", "$1"));
                }
            }
            lrs.sort(null);
            assertEquals(List.of("0.01", "0.05"), lrs, "each run in its own folder with its own config");

            Callable<CliRunner.Result> same = () -> CliRunner.run(tiny(out, "--epochs", "1", "--name", "same"));
            Future<CliRunner.Result> x = pool.submit(same), y = pool.submit(same);
            CliRunner.Result rx = x.get(), ry = y.get();
            CliRunner.Result refused = rx.code() == 0 ? ry : rx;
            assertEquals(0, (rx.code() == 0 ? rx : ry).code());
            assertEquals(2, refused.code(), "one of two runs with the same --name is refused: " + refused.err());
            assertTrue(refused.err().contains("in use by another trainer (pid")
                    || refused.err().contains("already holds a run"), refused.err());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void resumingAnOlderCheckpointOrIntoAnotherFolderForks() throws Exception {
        Path out = tmp.resolve("fork");
        assertEquals(0, CliRunner.run(tiny(out, "--epochs", "3", "--stop-after", "1", "--name", "a")).code());
        Path a = out.resolve("a");
        Files.copy(a.resolve("last.safetensors"), out.resolve("e1.safetensors"));
        CliRunner.Result cont = CliRunner.run("--resume", a.toString(), "--stop-after", "2");
        assertEquals(0, cont.code(), cont.err());
        assertFalse(cont.out().contains("forking"), "the newest checkpoint continues in place: " + cont.out());
        // best at epoch 1, last at epoch 2 (as when epoch 2 did not improve)
        Files.copy(out.resolve("e1.safetensors"), a.resolve("best.safetensors"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Map<String, byte[]> before = snapshot(a);

        CliRunner.Result fork = CliRunner.run("--resume", a.resolve("best.safetensors").toString(), "--stop-after", "2");
        assertEquals(0, fork.code(), fork.err());
        assertTrue(fork.out().contains("forking into a new run folder"), fork.out());
        assertSameFolder(before, a);
        Path f = out.resolve("a-from-e1");
        String cfg = Files.readString(f.resolve("config.json"));
        assertTrue(cfg.contains("\"resumed_from\"") && cfg.contains("best.safetensors") && cfg.contains("\"epoch\": 1"),
                cfg);
        assertTrue(cfg.contains("\"name\": \"a-from-e1\""), cfg);
        // the fork redoes epoch 2 exactly as the original did
        assertSameTensors(a.resolve("last.safetensors"), f.resolve("last.safetensors"));
        assertEquals(metricsWithoutTimes(a), metricsWithoutTimes(f));
        // and its config.json reads back as a config (resumed_from is skipped)
        assertEquals(0, CliRunner.run("ops", "--config", f.resolve("config.json").toString()).code());

        Path other = tmp.resolve("elsewhere");
        CliRunner.Result moved = CliRunner.run("--resume", a.toString(), "--out", other.toString(), "--name", "y");
        assertEquals(0, moved.code(), moved.err());
        assertSameFolder(before, a);
        String ycfg = Files.readString(other.resolve("y/config.json"));
        assertTrue(ycfg.contains("\"name\": \"y\"") && ycfg.contains("\"resumed_from\"")
                && ycfg.contains("\"epoch\": 2"), ycfg);
        assertEquals(3, Checkpoint.read(other.resolve("y/last.safetensors")).state().epochsDone);

        // a finished run, and --stop-after 0 or at an epoch already done: nothing to do, said so
        assertOneLineError(CliRunner.run("--resume", other.resolve("y").toString()), 2, "nothing to do");
        assertOneLineError(CliRunner.run("--resume", a.toString(), "--stop-after", "1"), 2, "nothing to do");
        assertOneLineError(CliRunner.run(tiny(out, "--stop-after", "0", "--name", "zero")), 2, "--stop-after");
        assertFalse(Files.exists(out.resolve("zero")));
        assertSameFolder(before, a);
    }

    @Test
    void missingLastResumesFromBestAndStaleTempsAreRemoved() throws Exception {
        Path out = tmp.resolve("disk");
        assertEquals(0, CliRunner.run(tiny(out, "--epochs", "2", "--stop-after", "1", "--name", "d")).code());
        Path d = out.resolve("d");
        // a full disk at the end of epoch 1: best written, last and the metrics not
        Files.delete(d.resolve("last.safetensors"));
        Files.delete(d.resolve("metrics.csv"));
        Files.delete(d.resolve("metrics.jsonl"));
        Path stale = Files.write(d.resolve(".last.safetensors.1f2e3d4c5b6a7980.tmp"), new byte[1000]);
        CliRunner.Result r = CliRunner.run("--resume", d.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("has no last.safetensors") && r.out().contains("removed 1 temporary file"), r.out());
        assertFalse(r.out().contains("forking"), r.out());
        assertFalse(Files.exists(stale));
        assertEquals(2, Checkpoint.read(d.resolve("last.safetensors")).state().epochsDone);

        Path empty = Files.createDirectories(out.resolve("empty"));
        assertOneLineError(CliRunner.run("--resume", empty.toString()), 2, "holds no checkpoint");
    }

    /**
     * Issue 23 item 6: a stop before the first checkpoint (double SIGTERM or a kill in step 1) leaves only
     * config.json; both a fresh start with the same --name and --resume must get out of it, and --resume of such a
     * folder that a live process holds must name the holder.
     */
    @Test
    void aStartStoppedBeforeItsFirstCheckpointStartsAgain() throws Exception {
        Path out = tmp.resolve("early");
        assertEquals(0, CliRunner.run(tiny(out, "--epochs", "1", "--name", "ref")).code());
        assertEquals(0, CliRunner.run(tiny(out, "--epochs", "1", "--name", "e")).code());
        Path e = out.resolve("e");
        stripToConfig(e);

        try (RunFolder held = RunFolder.lockExisting(e)) { // a live trainer in its first step
            CliRunner.Result r = CliRunner.run("--resume", e.toString());
            assertOneLineError(r, 2, "in use by another trainer (pid " + ProcessHandle.current().pid() + " on ");
            assertFalse(r.err().contains("start it again"), r.err());
        }

        CliRunner.Result r = CliRunner.run("--resume", e.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("starting it again from epoch 1"), r.out());
        assertSameTensors(out.resolve("ref/last.safetensors"), e.resolve("last.safetensors"));

        stripToConfig(e);
        r = CliRunner.run(tiny(out, "--epochs", "1", "--name", "e"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("starting it again"), r.out());
        assertSameTensors(out.resolve("ref/last.safetensors"), e.resolve("last.safetensors"));
        // a folder with a checkpoint still refuses a fresh start
        assertOneLineError(CliRunner.run(tiny(out, "--epochs", "1", "--name", "e")), 2, "already holds a run");
    }

    /** What a stop in step 1 leaves: config.json (and the lock file). */
    private static void stripToConfig(Path run) throws Exception {
        try (Stream<Path> s = Files.list(run)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String n = p.getFileName().toString();
                if (!n.equals("config.json") && !n.equals(RunFolder.LOCK_FILE)) {
                    Files.delete(p);
                }
            }
        }
    }

    @Test
    void scheduledMidEpochCheckpointResumesBitExactly() throws Exception {
        Path out = tmp.resolve("every");
        assertEquals(0, CliRunner.run(tiny(out, "--epochs", "2", "--name", "straight")).code());
        // Copy last.safetensors while the run is in epoch 1, at its progress line for batch 8 (of 24): the
        // checkpoint of step 5 was written just before.
        Path run = out.resolve("sched"), mid = out.resolve("mid.safetensors");
        OutputStream watch = new OutputStream() {
            final ByteArrayOutputStream line = new ByteArrayOutputStream();

            @Override
            public void write(int b) {
                if (b != '\n') {
                    line.write(b);
                    return;
                }
                String l = line.toString(StandardCharsets.UTF_8);
                line.reset();
                if (l.startsWith("epoch 1/2") && l.contains(" 8/24 ")) {
                    try {
                        Files.copy(run.resolve("last.safetensors"), mid);
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
            }
        };
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(tiny(out, "--epochs", "2", "--name", "sched", "--checkpoint-every", "5"),
                new PrintStream(watch, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, code, err.toString(StandardCharsets.UTF_8));
        assertTrue(Files.exists(mid), "no progress line for batch 8 seen");
        TrainState st = Checkpoint.read(mid).state();
        assertEquals(0, st.epochsDone);
        assertEquals(5, st.batchesDone);
        assertEquals(5, st.step);
        assertSameTensors(out.resolve("straight/last.safetensors"), run.resolve("last.safetensors"));

        // resumed from the mid-epoch checkpoint: the same weights and the same metrics rows as straight through
        CliRunner.Result r = CliRunner.run("--resume", mid.toString(), "--out", out.toString(), "--name", "resumed");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("at epoch 1, batch 5 (step 5)"), r.out());
        assertSameTensors(out.resolve("straight/last.safetensors"), out.resolve("resumed/last.safetensors"));
        assertEquals(metricsWithoutTimes(out.resolve("straight")), metricsWithoutTimes(out.resolve("resumed")));

        assertOneLineError(CliRunner.run("--resume", mid.toString(), "--out", out.toString(), "--name", "bs",
                "--batch-size", "8"), 2,
                "batch_size");
        assertOneLineError(CliRunner.run(tiny(out, "--checkpoint-every", "5s")), 2, "--checkpoint-every");
    }

    @Test
    void emptySplitsAndEarlyDivergenceSayWhatIsTrue() throws Exception {
        Path noTest = SyntheticMnist.write(tmp.resolve("notest"), 32, 0, 1);
        Path out = tmp.resolve("empty-runs");
        String[] args = tiny(out, "--name", "e");
        args[java.util.Arrays.asList(args).indexOf("--data-dir") + 1] = noTest.toString();
        assertOneLineError(CliRunner.run(args), 2, "no test images");
        assertFalse(Files.exists(out.resolve("e")), "nothing written for a refused run");

        CliRunner.Result div = CliRunner.run(tiny(out, "--name", "div", "--lr", "1e30", "--epochs", "1"));
        assertOneLineError(div, 3, "diverged");
        assertTrue(div.err().contains("no checkpoint was written"), div.err());
        assertFalse(div.err().contains("kept"), div.err());
        assertNotNull(div);
    }
}
