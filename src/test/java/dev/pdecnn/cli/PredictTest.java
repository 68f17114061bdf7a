package dev.pdecnn.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.pdecnn.config.ConfigFiles;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.data.DataLoader;
import dev.pdecnn.data.Dataset;
import dev.pdecnn.data.Mnist;
import dev.pdecnn.io.Safetensors;
import dev.pdecnn.predict.NetworkClassifier;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.tensor.Tensor;
import dev.pdecnn.train.Checkpoint;
import dev.pdecnn.train.SyntheticMnist;
import dev.pdecnn.train.TrainStep;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code predict} end to end on a tiny trained MNIST run (synthetic digits, 2 epochs of 15 steps), and what the run
 * records for users of the model: num_batches_tracked, normalisation and class names, and old checkpoints.
 */
class PredictTest {
    static final int TRAIN = 240, BATCH = 16, EPOCHS = 2, STEPS = EPOCHS * TRAIN / BATCH;

    @TempDir
    static Path tmp;
    static Path data, run;
    static Dataset test;

    @BeforeAll
    static void train() throws Exception {
        data = SyntheticMnist.write(tmp.resolve("data"), TRAIN, 60, 5);
        CliRunner.Result r = CliRunner.run("--model", "pde", "--channels", "2", "--epochs", String.valueOf(EPOCHS),
                "--batch-size", String.valueOf(BATCH), "--lr", "0.05", "--data-dir", data.toString(),
                "--out", tmp.toString(), "--name", "run");
        assertEquals(0, r.code(), r.err());
        run = tmp.resolve("run");
        test = Mnist.load(data).test();
    }

    /** Test image {@code i} as a 28x28 grey PNG, byte for byte the data set's pixels. */
    static Path png(Path file, int i) throws Exception {
        BufferedImage img = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
        byte[] px = Arrays.copyOfRange(test.pixels(), i * 784, (i + 1) * 784);
        img.getRaster().setDataElements(0, 0, 28, 28, px);
        Files.createDirectories(file.getParent());
        ImageIO.write(img, "png", file.toFile());
        return file;
    }

    static Path uniform(Path file, int w, int h, int rgb, String format) throws Exception {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, rgb);
            }
        }
        ImageIO.write(img, format, file.toFile());
        return file;
    }

    /** The argmax of eval's path (DataLoader batch, no augmentation, the checkpoint's normalisation) per image. */
    static int[] evalArgmax(Path ckpt, int[] indices) {
        NetworkClassifier m = NetworkClassifier.open(ckpt, new CpuBackend());
        byte[] px = new byte[indices.length * 784];
        int[] labels = new int[indices.length];
        for (int i = 0; i < indices.length; i++) {
            System.arraycopy(test.pixels(), indices[i] * 784, px, i * 784, 784);
        }
        Dataset sub = new Dataset("sub", px, labels, 1, 28, 28, Mnist.CLASS_NAMES);
        DataLoader dl = new DataLoader(sub, 64, false, 1, DataLoader.Augment.NONE, m.mean(), m.std(), false);
        DataLoader.Batch b = dl.epoch(0).next();
        TrainStep step = new TrainStep(m.network());
        return step.eval(Tensor.of(b.x(), b.n(), 1, 28, 28), l -> {
            int[] arg = new int[b.n()];
            for (int i = 0; i < b.n(); i++) {
                for (int j = 1; j < 10; j++) {
                    arg[i] = l.get(i * 10 + j) > l.get(i * 10 + arg[i]) ? j : arg[i];
                }
            }
            return arg;
        });
    }

    static double[] softmax(double[] z) {
        double max = Arrays.stream(z).max().orElseThrow(), sum = 0;
        double[] p = new double[z.length];
        for (int j = 0; j < z.length; j++) {
            p[j] = Math.exp(z[j] - max);
            sum += p[j];
        }
        for (int j = 0; j < z.length; j++) {
            p[j] /= sum;
        }
        return p;
    }

    @Test
    void classifiesGoodFilesReportsBadOnesAndWritesCsvAndJsonl() throws Exception {
        Path in = tmp.resolve("in");
        int[] same = {0, 3, 7, 11};
        List<Path> exact = new ArrayList<>();
        for (int i : same) {
            exact.add(png(in.resolve("t" + i + ".png"), i));
        }
        Path dir = in.resolve("dir");
        png(dir.resolve("b.png"), 20);
        png(dir.resolve("a.png"), 21);
        png(dir.resolve("sub/c.png"), 22);
        Files.writeString(dir.resolve("readme.txt"), "not an image, and not picked up from a folder");
        Path jpeg = uniform(in.resolve("odd.jpg"), 45, 33, 0x3080c0, "jpeg");
        Path wide = uniform(in.resolve("wide.png"), 100, 30, 0xffffff, "png");
        Path text = Files.writeString(in.resolve("notes.png"), "this is text with an image's name");
        byte[] full = Files.readAllBytes(exact.get(0));
        Path cut = Files.write(in.resolve("truncated.png"), Arrays.copyOf(full, full.length / 2));
        Path missing = in.resolve("missing.jpg");

        List<String> args = new ArrayList<>(List.of("predict", run.toString()));
        exact.forEach(p -> args.add(p.toString()));
        for (Path p : List.of(text, jpeg, dir, cut, wide, missing)) {
            args.add(p.toString());
        }
        Path csv = tmp.resolve("preds.csv");
        args.addAll(List.of("--output", csv.toString(), "--logits", "--batch-size", "3"));
        CliRunner.Result r = CliRunner.run(args.toArray(String[]::new));
        assertEquals(2, r.code(), r.out() + r.err());
        List<String> errors = r.err().lines().filter(l -> l.startsWith("error: ")).toList();
        assertEquals(3, errors.size(), r.err());
        assertTrue(errors.get(0).contains(text.toString()) && errors.get(0).contains("cannot be decoded"), errors.get(0));
        assertTrue(errors.get(1).contains(cut.toString()), errors.get(1));
        assertTrue(errors.get(2).contains(missing.toString()) && errors.get(2).contains("no such file"), errors.get(2));
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());

        // Every good image once, in the order given, folders expanded and sorted; the printout agrees with the file.
        List<String> expected = new ArrayList<>();
        exact.forEach(p -> expected.add(p.toString()));
        expected.addAll(List.of(jpeg.toString(), dir.resolve("a.png").toString(), dir.resolve("b.png").toString(),
                dir.resolve("sub/c.png").toString(), wide.toString()));
        List<String> rows = Files.readAllLines(csv);
        assertEquals("file,class_1,probability_1,class_2,probability_2,class_3,probability_3,logit_0,logit_1,"
                + "logit_2,logit_3,logit_4,logit_5,logit_6,logit_7,logit_8,logit_9,diverged", rows.get(0));
        assertEquals(expected.size() + 1, rows.size());
        assertEquals(expected.size(), r.out().lines().filter(l -> l.contains(": ") && l.contains("%")).count(), r.out());
        int[] predicted = new int[same.length];
        for (int i = 0; i < expected.size(); i++) {
            String[] f = rows.get(i + 1).split(",");
            assertEquals(expected.get(i), f[0]);
            double[] z = new double[10];
            for (int j = 0; j < 10; j++) {
                z[j] = Float.parseFloat(f[7 + j]);
            }
            double[] p = softmax(z);
            double sum = 0;
            for (int rank = 0; rank < 3; rank++) {
                int cls = Integer.parseInt(f[1 + 2 * rank]); // MNIST class names are the digits
                double prob = Double.parseDouble(f[2 + 2 * rank]);
                // Both sides are the double softmax of the same float logits; only summation order may differ.
                assertEquals(p[cls], prob, 1e-12, "row " + i + " rank " + rank);
                if (rank > 0) {
                    assertTrue(prob <= Double.parseDouble(f[2 * rank]), "ranked by probability");
                }
                sum += prob;
            }
            assertTrue(sum <= 1 + 1e-12, "top-3 probabilities sum to " + sum);
            int arg = 0;
            for (int j = 1; j < 10; j++) {
                arg = z[j] > z[arg] ? j : arg;
            }
            assertEquals(arg, Integer.parseInt(f[1]));
            assertTrue(r.out().contains(f[0] + ": " + f[1] + " "), r.out());
            if (i < same.length) {
                predicted[i] = arg;
            }
        }
        assertArrayEquals(evalArgmax(best(), same), predicted, "predict on PNGs = eval on the data set");

        // JSON Lines, all ten classes: the probabilities are a distribution.
        Path jsonl = tmp.resolve("preds.jsonl");
        CliRunner.Result j = CliRunner.run("predict", run.resolve("best.safetensors").toString(), dir.toString(),
                "--top", "12", "-o", jsonl.toString());
        assertEquals(0, j.code(), j.err());
        List<String> lines = Files.readAllLines(jsonl);
        assertEquals(3, lines.size());
        for (String line : lines) {
            JsonObject o = JsonParser.parseString(line).getAsJsonObject();
            JsonArray top = o.getAsJsonArray("top");
            assertEquals(10, top.size(), "--top is capped at the class count");
            double sum = 0;
            for (var t : top) {
                JsonObject e = t.getAsJsonObject();
                assertEquals(e.get("index").getAsString(), e.get("class").getAsString());
                sum += e.get("probability").getAsDouble();
            }
            assertEquals(1, sum, 1e-12);
            assertFalse(o.has("logits"));
        }
        assertTrue(lines.get(0).contains(dir.resolve("a.png").toString()), lines.get(0));
    }

    /** A uniform image of any size and colour is resized to a uniform 28x28 image of its luma. */
    @Test
    void oddSizesAndColourMatchTheirExactSizeGreyEquivalent() throws Exception {
        Path a = uniform(tmp.resolve("u-odd.png"), 61, 17, 0x40a020, "png");
        int luma = (int) Math.round(0.299 * 0x40 + 0.587 * 0xa0 + 0.114 * 0x20);
        Path b = uniform(tmp.resolve("u-28.png"), 28, 28, luma * 0x010101, "png");
        Path out = tmp.resolve("u.csv");
        CliRunner.Result r = CliRunner.run("predict", run.toString(), a.toString(), b.toString(), "--logits", "-o",
                out.toString());
        assertEquals(0, r.code(), r.err());
        List<String> rows = Files.readAllLines(out);
        assertEquals(rows.get(1).replace(a.toString(), "X"), rows.get(2).replace(b.toString(), "X"));
    }

    @Test
    void runRecordsNormalisationClassNamesAndBatchesTracked() throws Exception {
        Checkpoint.Loaded ck = Checkpoint.read(best());
        Checkpoint.Loaded last = Checkpoint.read(run.resolve("last.safetensors"));
        assertEquals(STEPS, last.state().step);
        List<String> bns = new ArrayList<>();
        for (String k : last.tensors().keySet()) {
            if (k.endsWith(".running_mean")) {
                bns.add(k.substring(0, k.length() - ".running_mean".length()));
            }
        }
        assertEquals(3, bns.size(), "pde model: input BN, the velocity's BN and BN_out: " + bns);
        List<String> tracked = new ArrayList<>(last.integers().keySet());
        assertEquals(bns.stream().map(b -> b + ".num_batches_tracked").toList(), tracked);
        for (String b : bns) {
            assertEquals(STEPS, Checkpoint.batchesTracked(last, b), b);
            assertArrayEquals(new int[0], last.integers().get(b + ".num_batches_tracked").shape());
        }
        assertEquals(Mnist.CLASS_NAMES, ck.state().classNames);
        for (String f : List.of("config.json", "summary.json")) {
            JsonObject o = JsonParser.parseString(Files.readString(run.resolve(f))).getAsJsonObject();
            JsonObject norm = o.getAsJsonObject("normalization");
            assertEquals(ck.state().mean[0], norm.getAsJsonArray("mean").get(0).getAsDouble(), 0, f);
            assertEquals(ck.state().std[0], norm.getAsJsonArray("std").get(0).getAsDouble(), 0, f);
            assertEquals(Mnist.CLASS_NAMES.toString(), o.getAsJsonArray("class_names").toString().replace("\"", "")
                    .replace(",", ", "), f);
        }
        RunConfig cfg = new RunConfig();
        ConfigFiles.apply(run.resolve("config.json"), cfg); // the run's config.json is still a valid --config
        cfg.validate();
        assertEquals("pde", cfg.model);
    }

    /** A checkpoint from before num_batches_tracked and class names: loads, predicts the same, resumes, counts on. */
    @Test
    void oldCheckpointsStillLoad() throws Exception {
        Path best = best();
        Safetensors.Loaded l = Safetensors.read(best);
        JsonObject st = JsonParser.parseString(l.metadata().get(Checkpoint.STATE_KEY)).getAsJsonObject();
        st.remove("classNames");
        Map<String, String> meta = new LinkedHashMap<>(l.metadata());
        meta.put(Checkpoint.STATE_KEY, st.toString());
        Path old = tmp.resolve("old/best.safetensors");
        Files.createDirectories(old.getParent());
        Safetensors.write(old, l.tensors(), meta); // no I64 entries, as written before
        Checkpoint.Loaded ck = Checkpoint.read(old);
        assertTrue(ck.integers().isEmpty());
        assertEquals(ck.state().step, Checkpoint.batchesTracked(ck, "bn0"));
        assertEquals(Mnist.CLASS_NAMES, Checkpoint.classNames(ck.state(), 10));

        Path img = png(tmp.resolve("old-in/x.png"), 5);
        CliRunner.Result a = CliRunner.run("predict", best.toString(), img.toString(), "--logits");
        CliRunner.Result b = CliRunner.run("predict", old.toString(), img.toString(), "--logits");
        assertEquals(0, b.code(), b.err());
        assertEquals(a.out(), b.out());

        CliRunner.Result res = CliRunner.run("--resume", old.toString(), "--epochs", String.valueOf(EPOCHS + 1),
                "--data-dir", data.toString(), "--out", tmp.resolve("forks").toString(), "--name", "old-resumed");
        assertEquals(0, res.code(), res.err());
        Checkpoint.Loaded after = Checkpoint.read(tmp.resolve("forks/old-resumed/last.safetensors"));
        assertEquals(ck.state().step + TRAIN / BATCH, Checkpoint.batchesTracked(after, "block.bn_out"));
        assertEquals(Mnist.CLASS_NAMES, after.state().classNames);
    }

    @Test
    void checkpointOfAnUnknownModelIsOneLine() throws Exception {
        Safetensors.Loaded l = Safetensors.read(best());
        JsonObject st = JsonParser.parseString(l.metadata().get(Checkpoint.STATE_KEY)).getAsJsonObject();
        st.addProperty("model", "vgg16");
        st.getAsJsonObject("config").addProperty("model", "vgg16");
        Path bad = tmp.resolve("bad.safetensors");
        Safetensors.write(bad, l.tensors(), Map.of(Checkpoint.STATE_KEY, st.toString()));
        Path img = png(tmp.resolve("bad-in/x.png"), 1);
        CliRunner.Result r = CliRunner.run("predict", bad.toString(), img.toString());
        assertEquals(2, r.code());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().contains(bad.toString()) && r.err().contains("vgg16"), r.err());
        CliRunner.Result fmt = CliRunner.run("predict", run.toString(), img.toString(), "-o", "x.txt");
        assertEquals(2, fmt.code());
        assertTrue(fmt.err().contains(".csv or .jsonl"), fmt.err());
    }

    private static Path best() {
        return run.resolve("best.safetensors");
    }
}
