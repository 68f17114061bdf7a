package dev.pdecnn.cli;

import dev.pdecnn.config.RunConfig;
import dev.pdecnn.train.SyntheticMnist;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The user's path through the CLI on a small learnable data set: train, files of a run, eval, visualize, help. */
class CliEndToEndTest {
    @Test
    void trainEvalVisualize(@TempDir Path tmp) throws Exception {
        Path data = SyntheticMnist.write(tmp.resolve("data"), 480, 120, 9);
        CliRunner.Result r = CliRunner.run("--model", "pde", "--channels", "2", "--epochs", "3", "--batch-size", "16",
                "--lr", "0.05", "--data-dir", data.toString(), "--out", tmp.toString(), "--name", "pde");
        assertEquals(0, r.code(), r.err());
        Path run = tmp.resolve("pde");
        for (String f : List.of("best.safetensors", "last.safetensors", "config.json", "metrics.csv", "metrics.jsonl",
                "curves.png", "summary.json")) {
            assertTrue(Files.isRegularFile(run.resolve(f)), f);
        }
        List<String> csv = Files.readAllLines(run.resolve("metrics.csv"));
        assertEquals(4, csv.size(), "header + 3 epochs");
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("done: mnist_pde_const_c2 best test acc")), r.out());
        String summary = Files.readString(run.resolve("summary.json"));
        double best = Double.parseDouble(summary.replaceAll("(?s).*\"best_test_acc\": ([0-9.]+).*", "$1"));
        assertTrue(best > 0.5, "a learnable 10-class task must beat chance by far, got " + best);

        CliRunner.Result ev = CliRunner.run("eval", run.toString(), "--data-dir", data.toString());
        assertEquals(0, ev.code(), ev.err());
        assertTrue(ev.out().contains(String.format(java.util.Locale.ROOT, "test accuracy %.2f%%", 100 * best)), ev.out());

        Path png = tmp.resolve("fig.png");
        CliRunner.Result vis = CliRunner.run("visualize", run.toString(), "--data-dir", data.toString(), "--images",
                "3", "--first", "5", "-o", png.toString());
        assertEquals(0, vis.code(), vis.err());
        BufferedImage img = ImageIO.read(png.toFile());
        assertNotNull(img);
        assertTrue(img.getWidth() > 300 && img.getHeight() > 300);
        assertNotNull(ImageIO.read(run.resolve("curves.png").toFile()));

        CliRunner.Result rep = CliRunner.run("report", tmp.toString(), "-o", tmp.resolve("report").toString());
        assertEquals(0, rep.code(), rep.err());
        String md = Files.readString(tmp.resolve("report.md"));
        assertTrue(md.contains("| pde | mnist_pde_const_c2 | conv (u = v) | constant 1 |"), md);
        assertTrue(md.contains(String.format(java.util.Locale.ROOT, "%.2f%%", 100 * best)), md);
        assertEquals(2, Files.readAllLines(tmp.resolve("report.csv")).size());
        assertNotNull(ImageIO.read(tmp.resolve("report.png").toFile()));
        CliRunner.Result none = CliRunner.run("report", data.toString());
        assertEquals(2, none.code());
        assertTrue(none.err().contains("no finished runs"), none.err());
    }

    @Test
    void helpExplainsEveryOptionWithItsDefault() {
        for (String[] cmd : new String[][]{{"--help"}, {"eval", "--help"}, {"ops", "--help"}, {"visualize", "--help"},
                {"data", "--help"}, {"bench", "--help"}, {"report", "--help"}, {"predict", "--help"}}) {
            CliRunner.Result r = CliRunner.run(cmd);
            assertEquals(0, r.code(), String.join(" ", cmd) + ": " + r.err());
            assertTrue(r.out().contains("Usage:"), r.out());
        }
        String help = CliRunner.run("--help").out();
        // the defaults --help shows are RunConfig's own
        RunConfig d = new RunConfig();
        for (String[] opt : new String[][]{{"--epochs", "" + d.epochs}, {"--batch-size", "" + d.batchSize},
                {"--lr", "" + d.lr}, {"--momentum", "" + d.momentum}, {"--weight-decay", "" + d.weightDecay},
                {"--K", "" + d.steps}, {"--dt", "" + d.dt}, {"--channels", "" + d.channels}, {"--model", d.model},
                {"--pad-crop", "" + d.padCrop}, {"--seed", "" + d.seed}, {"--bn-momentum", "" + d.bnMomentum},
                {"--bn-eps", "" + d.bnEps}, {"--pm-lambda", "" + d.pmLambda}, {"--device", d.device}}) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^\\s+(?:-\\w, )?" + opt[0] + "[=\\s]")
                    .matcher(help);
            assertTrue(m.find(), opt[0] + " is listed in --help");
            String block = help.substring(m.start()).replaceAll("\\s+", " ");
            String upToNext = block.substring(0, block.indexOf("Default:") + 40);
            assertTrue(upToNext.contains("Default: " + opt[1] + "."), opt[0] + " should show default " + opt[1] + ": " + upToNext);
        }
    }
}
