package dev.pdecnn.cli;

import com.google.gson.Gson;
import dev.pdecnn.train.SyntheticMnist;
import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code report SWEEP} on a sweep folder whose cells are real (tiny) training runs made through the CLI: the
 * summary files the trainer writes are the ones the report reads.
 */
class SweepReportCommandTest {
    private static final Path CNN = Path.of("configs/mnist_cnn_c1.yaml").toAbsolutePath();
    private static final Path PDE = Path.of("configs/mnist_pde_const_c1.yaml").toAbsolutePath();

    @Test
    void reportsRealRunsGroupedAcrossSeeds(@TempDir Path tmp) throws Exception {
        Path data = SyntheticMnist.write(tmp.resolve("data"), 128, 32, 5);
        Path sweep = tmp.resolve("sweep");
        List<Map<String, Object>> cells = new ArrayList<>();
        double[][] best = new double[2][3];
        Path[] configs = {CNN, PDE};
        for (int c = 0; c < 2; c++) {
            for (int seed = 1; seed <= 3 - c; seed++) { // cnn: 3 seeds; pde: 2 seeds
                String id = (c == 0 ? "cnn" : "pde") + "-s" + seed;
                Map<String, Object> cell = new LinkedHashMap<>();
                cell.put("index", cells.size());
                cell.put("id", id);
                cell.put("config", configs[c].toString());
                cell.put("overrides", Map.of("data_dir", data.toString()));
                cell.put("axes", Map.of());
                cell.put("seed", seed);
                cell.put("epochs", 1);
                cell.put("run", "cells/" + id);
                cells.add(cell);
                if (c == 1 && seed == 2) {
                    continue; // left unstarted: must be flagged, not averaged
                }
                CliRunner.Result r = CliRunner.run("--config", configs[c].toString(), "--epochs", "1", "--seed",
                        Integer.toString(seed), "--data-dir", data.toString(), "--out", sweep.resolve("cells").toString(),
                        "--name", id);
                assertEquals(0, r.code(), r.err());
                String summary = Files.readString(sweep.resolve("cells/" + id + "/summary.json"));
                best[c][seed - 1] = Double.parseDouble(summary.replaceAll("(?s).*\"best_test_acc\": ([0-9.]+).*", "$1"));
            }
        }
        Files.writeString(sweep.resolve("plan.json"), new Gson().toJson(Map.of("name", "tiny", "cells", cells)));

        CliRunner.Result rep = CliRunner.run("report", sweep.toString());
        assertEquals(0, rep.code(), rep.err());
        for (String f : List.of("report.md", "report.csv", "report-cells.csv", "report.png")) {
            assertTrue(Files.isRegularFile(sweep.resolve(f)), "default output beside the plan: " + f);
        }
        assertNotNull(ImageIO.read(sweep.resolve("report.png").toFile()));
        String md = Files.readString(sweep.resolve("report.md"));
        assertTrue(md.contains("| Table 1 cnn C=1 | cnn | mnist_cnn_c1 | - | - | - | – | 3/3 | 526 |"), md);
        assertTrue(md.contains("| Table 1 pde constant D C=1 | pde | mnist_pde_const_c1 | conv (u = v) | constant 1 | - "
                + "| – | 1/2 ⚠ | 530 |"), md);
        assertTrue(md.contains("pde-s2 not started"), md);
        assertTrue(rep.out().startsWith(md), "the table is printed too");

        List<CSVRecord> rows = CSVFormat.DEFAULT.builder().setHeader().setSkipHeaderRecord(true).build()
                .parse(new StringReader(Files.readString(sweep.resolve("report.csv")))).getRecords();
        assertEquals(2, rows.size());
        // Mean and sample std of the summaries' own numbers; the CSV prints 6 decimals (5e-7 is half a unit).
        double m0 = (best[0][0] + best[0][1] + best[0][2]) / 3;
        double v0 = (Math.pow(best[0][0] - m0, 2) + Math.pow(best[0][1] - m0, 2) + Math.pow(best[0][2] - m0, 2)) / 2;
        assertEquals(m0, Double.parseDouble(rows.get(0).get("best_test_acc_mean")), 5e-7);
        assertEquals(Math.sqrt(v0), Double.parseDouble(rows.get(0).get("best_test_acc_std")), 5e-7);
        assertEquals(best[1][0], Double.parseDouble(rows.get(1).get("best_test_acc_mean")), 5e-7);
        assertEquals("", rows.get(1).get("best_test_acc_std"), "one seed: no std");
        assertEquals(0.6459, Double.parseDouble(rows.get(0).get("study_test_acc")), 1e-9);
        assertEquals(0.6531, Double.parseDouble(rows.get(1).get("study_test_acc")), 1e-9);
        assertFalse(rows.get(0).get("seconds_per_epoch").isEmpty());

        // Damaged input: one line naming the file, exit code 2, no stack trace.
        Files.writeString(sweep.resolve("cells/cnn-s2/summary.json"), "{ not json");
        CliRunner.Result bad = CliRunner.run("report", sweep.toString());
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("unreadable " + sweep.resolve("cells/cnn-s2/summary.json")), bad.err());
        assertEquals(1, bad.err().strip().lines().count(), bad.err());
    }
}
