package dev.pdecnn.sweep;

import dev.pdecnn.cli.CliRunner;
import dev.pdecnn.train.RunFolder;
import dev.pdecnn.train.SyntheticMnist;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 23 item 5: a {@code sweep cell} that finds its cell trained by another process (two pods of one index,
 * two {@code sweep run}s) exits {@value SweepFolder#EXIT_BUSY} and leaves no {@code .failed} marker, so
 * {@code sweep status} and {@code report} never call the cell failed while the winner trains it.
 */
class CellRaceTest {
    @TempDir
    Path tmp;

    private Path sweep(Path data, String name) throws Exception {
        Path f = tmp.resolve("race.yaml");
        Files.writeString(f, "name: race\nconfigs: [configs/mnist_cnn_c1.yaml]\nseeds: [1]\nepochs: 1\n"
                + "train: {limit_train: 64, limit_test: 16, batch_size: 16, data_dir: '" + data + "'}\n");
        Path dir = tmp.resolve(name);
        SweepFolder.prepare(dir, SweepFile.expand(f, null), f);
        return dir;
    }

    @Test
    void aCellHeldByAnotherProcessIsBusyNotFailed() throws Exception {
        Path dir = sweep(SyntheticMnist.write(tmp.resolve("data"), 64, 16, 3), "held");
        Cell c = Plan.read(dir).cell(0);
        Path run = Files.createDirectories(SweepFolder.cellDir(dir, c));
        try (RunFolder held = RunFolder.lockExisting(run)) {
            CliRunner.Result r = CliRunner.run("sweep", "cell", dir.toString(), "--index", "0");
            assertEquals(SweepFolder.EXIT_BUSY, r.code(), r.out() + r.err());
            assertTrue(r.err().contains("running in another process") && r.err().contains("pid "
                    + ProcessHandle.current().pid()), r.err());
            assertFalse(Files.exists(SweepFolder.failedMarker(dir, c)), "no failure marker");
            assertEquals(CellState.Kind.RUNNING, CellState.of(dir, c).kind());
        }
        assertEquals(CellState.Kind.NOT_STARTED, CellState.of(dir, c).kind(), "not failed once the holder is gone");
    }

    /**
     * Two cells of one index started together: both pass the early lock check, one claims the folder, the other
     * loses the race at the claim. Repeated (each try in a new sweep folder) until the race was lost at least once.
     */
    @Test
    void twoCellsOfOneIndexStartedTogether() throws Exception {
        Path data = SyntheticMnist.write(tmp.resolve("data"), 64, 16, 3);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            int busy = 0;
            for (int attempt = 0; attempt < 8 && busy == 0; attempt++) {
                Path dir = sweep(data, "race" + attempt);
                Cell c = Plan.read(dir).cell(0);
                CyclicBarrier together = new CyclicBarrier(2);
                List<Future<CliRunner.Result>> runs = new ArrayList<>();
                for (int i = 0; i < 2; i++) {
                    runs.add(pool.submit(() -> {
                        together.await();
                        return CliRunner.run("sweep", "cell", dir.toString(), "--index", "0");
                    }));
                }
                for (Future<CliRunner.Result> f : runs) {
                    CliRunner.Result r = f.get();
                    assertTrue(r.code() == 0 || r.code() == SweepFolder.EXIT_BUSY, r.code() + ": " + r.out() + r.err());
                    busy += r.code() == SweepFolder.EXIT_BUSY ? 1 : 0;
                }
                assertFalse(Files.exists(SweepFolder.failedMarker(dir, c)), "the loser wrote a failure marker");
                assertEquals(CellState.Kind.DONE, CellState.of(dir, c).kind());
                CliRunner.Result st = CliRunner.run("sweep", "status", dir.toString());
                assertTrue(st.out().contains("1 done") && st.out().contains("0 failed"), st.out());
            }
            assertTrue(busy > 0, "the race was never lost in 8 tries; the test did not exercise it");
        } finally {
            pool.shutdownNow();
        }
    }
}
