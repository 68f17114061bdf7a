package dev.pdecnn.report;

import com.google.gson.Gson;
import dev.pdecnn.UserException;
import dev.pdecnn.config.ConfigFiles;
import dev.pdecnn.config.RunConfig;
import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A sweep folder written by hand (plan.json and run folders with known summary.json / metrics.csv), so every
 * number the report prints can be checked against values computed by hand here.
 */
class SweepReportTest {
    /** Accuracies pass through a few double additions; 1e-12 is far below any printed digit. */
    private static final double EPS = 1e-12;
    /** The CSV prints accuracies with 6 decimals: half a unit of the last one. */
    private static final double CSV_EPS = 5e-7;

    private static final Path ROW1 = Path.of("configs/cifar10/row1_resnet32.yaml").toAbsolutePath();
    private static final Path ROW2 = Path.of("configs/cifar10/row2_resnet32_global.yaml").toAbsolutePath();
    private static final Path ROW6 = Path.of("configs/cifar10/row6_init_basic.yaml").toAbsolutePath();
    private static final Path CNN1 = Path.of("configs/mnist_cnn_c1.yaml").toAbsolutePath();

    /** Builds the fixture: 5 groups, 12 cells, some finished, one partial, some not started. */
    static Path fixture(Path dir) throws IOException {
        List<Map<String, Object>> cells = new ArrayList<>();
        // Row 2, three finished seeds. best: 0.9000, 0.9100, 0.9350; final: 0.8950, 0.9100, 0.9300.
        finished(dir, cells, "row2-s1", ROW2, Map.of(), Map.of(), 1, 10, 0.9000, 0.8950, 100.0, 163_578);
        finished(dir, cells, "row2-s2", ROW2, Map.of(), Map.of(), 2, 10, 0.9100, 0.9100, 110.0, 163_578);
        finished(dir, cells, "row2-s3", ROW2, Map.of(), Map.of(), 3, 10, 0.9350, 0.9300, 120.0, 163_578);
        // Row 2 with K = 3 (an axis): two finished, seed 3 stopped after 4 of 10 epochs (no summary yet).
        finished(dir, cells, "row2-K3-s1", ROW2, Map.of(), Map.of("K", 3), 1, 10, 0.8800, 0.8700, 90.0, 163_578);
        finished(dir, cells, "row2-K3-s2", ROW2, Map.of(), Map.of("K", 3), 2, 10, 0.8600, 0.8600, 70.0, 163_578);
        partial(dir, cells, "row2-K3-s3", ROW2, Map.of("K", 3), 3, 10, new double[]{0.5, 0.7, 0.65, 0.69});
        // ... whose last attempt failed: the sweep runner's marker, read back as the cell's note.
        Files.createDirectories(dir.resolve("logs"));
        Files.writeString(dir.resolve("logs/row2-K3-s3.failed"), "exit 3: training diverged\nmore detail\n");
        // Row 1 with one seed: no std.
        finished(dir, cells, "row1-s1", ROW1, Map.of(), Map.of(), 1, 10, 0.9250, 0.9200, 200.0, 844_922);
        // ... and a second seed whose summary says 5 epochs of the 10 planned (stopped early): not finished.
        finished(dir, cells, "row1-s2", ROW1, Map.of(), Map.of(), 2, 5, 0.9000, 0.9000, 100.0, 844_922);
        cells.get(cells.size() - 1).put("epochs", 10);
        // MNIST cnn C=1 with an override, one seed finished, one not started.
        Map<String, Object> lr = Map.of("lr", 0.05, "batch_size", 16);
        finished(dir, cells, "cnn1-s1", CNN1, lr, Map.of(), 1, 10, 0.7000, 0.6900, 6.0, 526);
        planned(cells, "cnn1-s2", CNN1.toString(), lr, Map.of(), 2, 10);
        // Row 6, not started: counts come from building the model (SPEC.md section 2: 261,242 and 28.93M).
        planned(cells, "row6-s1", ROW6.toString(), Map.of(), Map.of(), 1, 10);
        // Not a study row (a pwconv velocity), not started, and a config the report cannot find: no identity.
        planned(cells, "mine-s1", ROW2.toString(), Map.of("velocity_net", "pwconv"), Map.of(), 1, 10);
        planned(cells, "lost-s1", "/no/such/config.yaml", Map.of(), Map.of(), 1, 10);
        Map<String, Object> plan = new LinkedHashMap<>();
        plan.put("name", "fixture");
        plan.put("cells", cells);
        Files.writeString(dir.resolve("plan.json"), new Gson().toJson(plan));
        return dir;
    }

    private static RunConfig config(Path yaml, Map<String, Object> overrides, Map<String, Object> axes, int seed,
                                    int epochs) {
        RunConfig cfg = new RunConfig();
        ConfigFiles.apply(yaml, cfg);
        overrides.forEach((k, v) -> cfg.set(k, v, "test"));
        axes.forEach((k, v) -> cfg.set(k, v, "test"));
        cfg.seed = seed;
        cfg.epochs = epochs;
        cfg.validate();
        return cfg;
    }

    private static Map<String, Object> planned(List<Map<String, Object>> cells, String id, String config,
                                               Map<String, Object> overrides, Map<String, Object> axes, int seed,
                                               int epochs) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("index", cells.size());
        c.put("id", id);
        c.put("config", config);
        c.put("overrides", overrides);
        c.put("axes", axes);
        c.put("seed", seed);
        c.put("epochs", epochs);
        c.put("run", "cells/" + id);
        cells.add(c);
        return c;
    }

    private static void finished(Path dir, List<Map<String, Object>> cells, String id, Path yaml,
                                 Map<String, Object> overrides, Map<String, Object> axes, int seed, int epochs,
                                 double best, double last, double wall, long withStats) throws IOException {
        planned(cells, id, yaml.toString(), overrides, axes, seed, epochs);
        Path run = Files.createDirectories(dir.resolve("cells/" + id));
        RunConfig cfg = config(yaml, overrides, axes, seed, epochs);
        Files.writeString(run.resolve("config.json"), new Gson().toJson(cfg.toMap()));
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("model", "whatever"); // the identity comes from the config, not from this name
        s.put("best_test_acc", best);
        s.put("best_epoch", epochs);
        s.put("final_test_acc", last);
        s.put("epochs", epochs);
        s.put("wall_seconds", wall);
        s.put("trainable_params", withStats - 100);
        s.put("params_with_bn_stats", withStats);
        s.put("macs", withStats * 100);
        s.put("config", cfg.toMap());
        Files.writeString(run.resolve("summary.json"), new Gson().toJson(s));
    }

    private static void partial(Path dir, List<Map<String, Object>> cells, String id, Path yaml,
                                Map<String, Object> axes, int seed, int epochs, double[] testAcc) throws IOException {
        planned(cells, id, yaml.toString(), Map.of(), axes, seed, epochs);
        Path run = Files.createDirectories(dir.resolve("cells/" + id));
        Files.writeString(run.resolve("config.json"), new Gson().toJson(config(yaml, Map.of(), axes, seed, epochs).toMap()));
        StringBuilder sb = new StringBuilder("epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds,images_per_second\n");
        for (int e = 0; e < testAcc.length; e++) {
            sb.append(e + 1).append(",1.0,0.5,1.0,").append(testAcc[e]).append(",0.01,").append(10 + e).append(",100\n");
        }
        Files.writeString(run.resolve("metrics.csv"), sb);
    }

    private static SweepReport.Group group(SweepReport r, String label) {
        return r.groups.stream().filter(g -> g.label().equals(label)).findFirst().orElseThrow(() -> new AssertionError(label));
    }

    @Test
    void groupsSeedsWithMeanAndSampleStdAndFlagsUnfinished(@TempDir Path tmp) throws IOException {
        SweepReport r = SweepReport.read(fixture(tmp));
        // The study's order: Table 2 row 1, row 2 (plain, then K=3 in plan order), row 6, Table 1, then the rest.
        assertEquals(List.of("row1", "row2", "row2-K3", "row6", "cnn1", "mine", "lost"),
                r.groups.stream().map(SweepReport.Group::label).toList());

        SweepReport.Group row2 = group(r, "row2");
        assertEquals(3, row2.best().n());
        // By hand: mean (0.9 + 0.91 + 0.935) / 3 = 0.915; deviations -0.015, -0.005, 0.02; squares sum 0.00065;
        // sample variance 0.00065 / 2 = 0.000325, std 0.0180277564.
        assertEquals(0.915, row2.best().mean(), EPS);
        assertEquals(Math.sqrt(0.000325), row2.best().std(), EPS);
        // final: 0.895, 0.91, 0.93 -> mean 0.911667; deviations -0.016667, -0.001667, 0.018333;
        // squares sum 0.000616667, variance 0.000308333.
        assertEquals(2.735 / 3, row2.last().mean(), EPS);
        assertEquals(Math.sqrt(0.000616666666666667 / 2), row2.last().std(), 1e-12);
        assertEquals(11.0, row2.secondsPerEpoch(), EPS); // (10 + 11 + 12) / 3
        assertEquals(163_578, row2.withStats());
        assertEquals("2", row2.published().row());
        assertEquals(0.9127, row2.published().acc(), EPS);

        SweepReport.Group k3 = group(r, "row2-K3");
        assertEquals(Map.of("K", 3L), k3.axes());
        assertEquals(2, k3.best().n(), "the partial seed is not averaged in");
        assertEquals(0.87, k3.best().mean(), EPS);
        assertEquals(Math.sqrt(2 * 0.01 * 0.01), k3.best().std(), EPS); // two values 0.01 either side: var 0.0002
        assertEquals(List.of("row2-K3-s3"), k3.unfinished().stream().map(SweepReport.Cell::id).toList());
        SweepReport.Cell p = k3.unfinished().get(0);
        assertEquals(SweepReport.State.FAILED, p.state());
        assertEquals("exit 3: training diverged", p.note());
        assertEquals(4, p.epochs());
        assertEquals(0.7, p.bestAcc(), EPS);
        assertEquals(0.69, p.finalAcc(), EPS);
        assertEquals(11.5, p.secondsPerEpoch(), EPS); // (10 + 11 + 12 + 13) / 4
        assertEquals("2", k3.published().row(), "K is not part of a row's identity");

        SweepReport.Group row1 = group(r, "row1");
        assertEquals(1, row1.best().n());
        assertTrue(Double.isNaN(row1.best().std()));
        assertEquals("1", row1.published().row());
        assertEquals(SweepReport.State.PARTIAL, row1.unfinished().get(0).state());
        assertEquals(5, row1.unfinished().get(0).epochs());

        SweepReport.Group cnn = group(r, "cnn1");
        assertEquals("cnn C=1", cnn.published().row());
        assertEquals(0.6459, cnn.published().acc(), EPS);
        assertEquals(Map.of("batch_size", 16L, "lr", 0.05), cnn.overrides());
        assertEquals(SweepReport.State.NOT_STARTED, cnn.unfinished().get(0).state());

        SweepReport.Group row6 = group(r, "row6");
        assertEquals(0, row6.best().n());
        assertEquals("6", row6.published().row());
        assertEquals(261_242, row6.withStats(), "SPEC.md section 2, counted by building the model");
        assertEquals(258_618, row6.trainable());
        assertEquals(28.93e6, row6.macs(), 0.005e6);

        assertNull(group(r, "mine").published());
        assertEquals("pwconv", group(r, "mine").id().velocity());
        assertNull(group(r, "lost").id());
    }

    @Test
    void markdownCsvAndPng(@TempDir Path tmp) throws IOException {
        SweepReport r = SweepReport.read(fixture(tmp));
        String md = SweepTables.markdown(r);
        assertTrue(md.contains("# Sweep fixture: 7 of 13 cells finished, 7 groups"), md);
        assertTrue(md.contains("| Table 2 row 2 | row2 | resnet32_global | dwconv | dwconv | identity | – | 3/3 | 163,578 | "
                + "16.36M | 91.50 ± 1.80 | 91.17 ± 1.76 | 91.27 | 11.0 | 10 |"), md);
        assertTrue(md.contains("| Table 2 row 2 | row2-K3 | resnet32_global | dwconv | dwconv | identity | K=3 | 2/3 ⚠ |"), md);
        assertTrue(md.contains("| 92.50 ± – | 92.00 ± – | 93.92 |"), md); // one seed: no std
        assertTrue(md.contains("| Table 1 cnn C=1 | cnn1 | mnist_cnn_c1 | - | - | - | – | 1/2 ⚠ |"), md);
        assertTrue(md.contains("| – | lost | ? | ? | ? | ? |"), md);
        assertTrue(md.contains("6 unfinished cell(s), left out of the means: row2-K3-s3 failed after 4 epochs (exit 3: training diverged); row1-s2 5/10 epochs; cnn1-s2 not started;"), md);

        List<Path> files = SweepTables.write(r, tmp.resolve("out/report"));
        assertEquals(4, files.size());
        List<CSVRecord> groups = parse(Files.readString(tmp.resolve("out/report.csv")));
        assertEquals(7, groups.size());
        CSVRecord g2 = groups.get(1);
        assertEquals("row2", g2.get("group"));
        assertEquals(0.915, Double.parseDouble(g2.get("best_test_acc_mean")), CSV_EPS);
        assertEquals(Math.sqrt(0.000325), Double.parseDouble(g2.get("best_test_acc_std")), CSV_EPS);
        assertEquals(0.9127, Double.parseDouble(g2.get("study_test_acc")), CSV_EPS);
        assertEquals("3", g2.get("seeds_finished"));
        CSVRecord k3 = groups.get(2);
        assertEquals("row2-K3-s3", k3.get("unfinished_cells"));
        assertEquals(Map.of("K", 3.0), new Gson().fromJson(k3.get("axes"), Map.class));
        assertEquals(Map.of("batch_size", 16.0, "lr", 0.05), new Gson().fromJson(groups.get(4).get("overrides"), Map.class),
                "JSON with a comma and quotes survives the CSV");
        assertEquals("", groups.get(0).get("best_test_acc_std"), "one seed: no std");
        assertEquals("", groups.get(6).get("study_test_acc"));
        List<CSVRecord> cells = parse(Files.readString(tmp.resolve("out/report-cells.csv")));
        assertEquals(13, cells.size());
        assertEquals(List.of("finished", "finished", "finished", "finished", "finished", "failed", "finished",
                "partial", "finished", "not_started", "not_started", "not_started", "not_started"),
                cells.stream().map(c -> c.get("state")).toList());
        assertEquals("cells/row2-K3-s3", cells.get(5).get("run"));
        assertEquals("exit 3: training diverged", cells.get(5).get("note"));

        BufferedImage png = ImageIO.read(tmp.resolve("out/report.png").toFile());
        assertNotNull(png);
        assertEquals(2 * 620, png.getHeight(), "one panel per data set: cifar10 and mnist");
    }

    @Test
    void badPlanIsOneClearError(@TempDir Path tmp) throws IOException {
        Files.writeString(tmp.resolve("plan.json"), "{\"name\": \"x\"}");
        UserException e = assertThrows(UserException.class, () -> SweepReport.read(tmp));
        assertTrue(e.getMessage().contains("lists no cells"), e.getMessage());
        Files.writeString(tmp.resolve("plan.json"), "{\"cells\": [");
        e = assertThrows(UserException.class, () -> SweepReport.read(tmp));
        assertTrue(e.getMessage().startsWith("report: unreadable " + tmp.resolve("plan.json")), e.getMessage());
    }

    static List<CSVRecord> parse(String csv) throws IOException {
        return CSVFormat.DEFAULT.builder().setHeader().setSkipHeaderRecord(true).build()
                .parse(new StringReader(csv)).getRecords();
    }
}
