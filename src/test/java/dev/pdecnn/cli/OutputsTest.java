package dev.pdecnn.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.pdecnn.io.Safetensors;
import dev.pdecnn.io.StrictJsonTest;
import dev.pdecnn.train.Checkpoint;
import dev.pdecnn.train.SyntheticMnist;
import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVRecord;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The issue's reproductions for files the commands write: outputs refused on a run's own files (the run still
 * evaluates and resumes afterwards), strict JSON and a diverged flag from predict, and names from the user's files
 * neutralised in CSV, escaped on the terminal and in Markdown. FuzzTest tries every output option systematically.
 */
class OutputsTest {
    @TempDir
    static Path tmp;
    static Path data, run, image;

    @BeforeAll
    static void train() throws Exception {
        data = SyntheticMnist.write(tmp.resolve("data"), 64, 32, 3);
        run = CliRunner.tinyRun(data, tmp.resolve("runs"), "run");
        image = tmp.resolve("digit.png");
        BufferedImage img = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < 28; y++) {
            for (int x = 14; x < 28; x++) {
                img.getRaster().setSample(x, y, 0, 255); // black and white: +-Infinity under a tiny std
            }
        }
        ImageIO.write(img, "png", image.toFile());
    }

    @Test
    void theIssuesCommandsAreRefusedAndTheRunStillWorks() throws Exception {
        Map<String, String> before = HostileInputTest.snapshot(run);
        String r = run.toString();
        String[][] cases = {
                {"a checkpoint", "export", r, "-o", r + "/best.safetensors"},
                {"a checkpoint", "export", r + "/last.safetensors", "-o", r + "/last.safetensors"},
                {"a checkpoint", "visualize", r, "-o", r + "/best.safetensors"},
                {"the metrics.csv", "predict", r, image.toString(), "-o", r + "/metrics.csv"},
                {"the metrics.csv", "report", r, "-o", r + "/metrics"},
                {"the curves.png", "visualize", r, "-o", r + "/./curves.png"},
                {"must end in .onnx", "export", r, "-o", tmp.resolve("m.txt").toString()},
                {"must end in .png", "visualize", r, "-o", tmp.resolve("fig.jpg").toString()},
        };
        for (String[] c : cases) {
            HostileInputTest.refused(c[0], java.util.Arrays.copyOfRange(c, 1, c.length));
        }
        assertEquals(before, HostileInputTest.snapshot(run), "the run's files are unchanged");
        assertFalse(Files.exists(tmp.resolve("m.txt")));
        assertEquals(0, CliRunner.run("eval", r, "--data-dir", data.toString()).code());
        // A new file in the run folder is not one of the run's: allowed, and written whole.
        CliRunner.Result ok = CliRunner.run("export", r, "-o", r + "/model.onnx");
        assertEquals(0, ok.code(), ok.err());
        assertTrue(Files.size(run.resolve("model.onnx")) > 100);
    }

    /**
     * The run's checkpoint with a pixel std of 1e-300: every pixel off the mean normalises to +-Infinity in float,
     * so the logits are not finite although every weight is (a checkpoint with non-finite weights is refused).
     */
    private static Path divergedCheckpoint() throws Exception {
        return withState("diverged", st -> {
            JsonArray std = new JsonArray();
            std.add(1e-300);
            st.add("std", std);
        });
    }

    /** A copy of the run's best checkpoint, its trainer state edited by {@code edit}. */
    private static Path withState(String name, java.util.function.Consumer<JsonObject> edit) throws Exception {
        Safetensors.Loaded l = Safetensors.read(run.resolve("best.safetensors"));
        JsonObject st = JsonParser.parseString(l.metadata().get(Checkpoint.STATE_KEY)).getAsJsonObject();
        edit.accept(st);
        Map<String, String> meta = new LinkedHashMap<>(l.metadata());
        meta.put(Checkpoint.STATE_KEY, st.toString());
        Path ck = tmp.resolve(name + "/best.safetensors");
        Files.createDirectories(ck.getParent());
        Safetensors.write(ck, l.tensors(), meta);
        return ck;
    }

    @Test
    void predictWritesStrictJsonAndSaysWhichRowsDiverged() throws Exception {
        Path bad = divergedCheckpoint();
        for (Path ck : List.of(run.resolve("best.safetensors"), bad)) {
            boolean diverged = ck.equals(bad);
            Path jsonl = tmp.resolve((diverged ? "bad" : "good") + ".jsonl");
            Path csv = tmp.resolve((diverged ? "bad" : "good") + ".csv");
            for (Path out : List.of(jsonl, csv)) {
                CliRunner.Result r = CliRunner.run("predict", ck.toString(), image.toString(), "--logits", "-o",
                        out.toString());
                assertEquals(0, r.code(), r.err());
                assertEquals(diverged, r.out().contains("[diverged"), r.out());
            }
            String text = Files.readString(jsonl);
            assertFalse(text.matches("(?s).*\\b(NaN|Infinity)\\b.*"), text);
            JsonObject o = StrictJsonTest.parse(text.strip()).getAsJsonObject();
            assertEquals(diverged, o.get("diverged").getAsBoolean(), text);
            JsonArray logits = o.getAsJsonArray("logits");
            assertEquals(10, logits.size());
            for (int j = 0; j < 10; j++) {
                assertEquals(diverged, logits.get(j).isJsonNull(), "logit " + j + ": " + text);
            }
            for (var t : o.getAsJsonArray("top")) {
                assertEquals(diverged, t.getAsJsonObject().get("probability").isJsonNull(), text);
            }
            List<CSVRecord> rows = CSVFormat.DEFAULT.builder().setHeader().setSkipHeaderRecord(true).build()
                    .parse(new StringReader(Files.readString(csv))).getRecords();
            assertEquals(1, rows.size());
            assertEquals(Boolean.toString(diverged), rows.get(0).get("diverged"));
            assertEquals(diverged, rows.get(0).get("probability_1").isEmpty());
            assertEquals(diverged, rows.get(0).get("logit_7").isEmpty());
        }
    }

    @Test
    void classNamesAreNeutralisedInCsvAndEscapedOnTheTerminal() throws Exception {
        List<String> names = List.of("=HYPERLINK(\"http://x\")", "-x", "@SUM(A1)", "+1", "a\nb", "c|d",
                "\u001b[31mred", "-0.5", "8", "9");
        Path ck = withState("named", st -> {
            JsonArray arr = new JsonArray();
            names.forEach(arr::add);
            st.add("classNames", arr);
        });

        Path csv = tmp.resolve("named.csv");
        CliRunner.Result r = CliRunner.run("predict", ck.toString(), image.toString(), "--top", "10", "-o",
                csv.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(1, r.out().lines().count(), "one line per image: " + r.out());
        assertFalse(r.out().contains("\u001b"), r.out());
        assertTrue(r.out().contains("a\\nb") && r.out().contains("\\u001b[31mred"), r.out());
        CSVRecord row = CSVFormat.DEFAULT.builder().setHeader().setSkipHeaderRecord(true).build()
                .parse(new StringReader(Files.readString(csv))).getRecords().get(0);
        List<String> shown = new java.util.ArrayList<>();
        for (int k = 1; k <= 10; k++) {
            shown.add(row.get("class_" + k));
        }
        for (String n : names) {
            boolean number = n.matches("[+-]?[0-9.]+"); // -0.5 and +1 read as numbers, not formulas
            String expected = "=-@+".indexOf(n.charAt(0)) >= 0 && !number ? "'" + n : n;
            assertTrue(shown.contains(expected), expected + " in " + shown);
        }
    }

    @Test
    void reportTablesKeepTheirRowsWhateverTheRunIsCalled() throws Exception {
        Path root = tmp.resolve("report-in");
        Path odd = Files.createDirectories(root.resolve("=cmd|x\ny"));
        Files.copy(run.resolve("summary.json"), odd.resolve("summary.json"));
        Path prefix = tmp.resolve("rep");
        CliRunner.Result r = CliRunner.run("report", root.toString(), "-o", prefix.toString());
        assertEquals(0, r.code(), r.err());
        List<String> md = Files.readAllLines(Path.of(prefix + ".md"));
        assertEquals(3, md.size(), "header, rule, one row: " + md);
        assertTrue(md.get(2).startsWith("| =cmd\\|x\\ny | "), md.get(2));
        CSVRecord row = CSVFormat.DEFAULT.builder().setHeader().setSkipHeaderRecord(true).build()
                .parse(new StringReader(Files.readString(Path.of(prefix + ".csv")))).getRecords().get(0);
        assertEquals("'=cmd|x\ny", row.get("run"));
        // The trainer's own JSON files are strict too.
        StrictJsonTest.parse(Files.readString(run.resolve("summary.json")));
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            StrictJsonTest.parse(line);
        }
    }
}
