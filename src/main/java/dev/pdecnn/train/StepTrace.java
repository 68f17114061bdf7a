package dev.pdecnn.train;

import dev.pdecnn.backend.StepArena;
import dev.pdecnn.Settings;
import dev.pdecnn.UserException;
import dev.pdecnn.models.MnistBlocks;
import dev.pdecnn.models.Network;
import dev.pdecnn.nn.Module;
import dev.pdecnn.nn.Param;
import dev.pdecnn.tensor.Tensor;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Per-step diagnostics of a training run, for finding out why a run does not learn (issue 25): with the JVM
 * setting {@code -Dpdecnn.trace=FILE} ({@code PDECNN_TRACE}) the trainer writes one CSV row per step with the learning rate, the batch's
 * loss and accuracy, the norm of the whole gradient and, per trainable tensor, the norms of its gradient and its
 * value (the signed mean for vectors: BN scales and shifts, biases). For the MNIST PDE block it adds the block's inputs to the PDE on the step's batch: the Perona–Malik
 * diffusivity Dx (mean, min), the velocity u (mean, std, largest |u| dt / dx, the explicit scheme's advective
 * Courant number), and the fraction and the largest value of the block's outputs that are active (> 0). Those come from one more
 * training-mode forward pass of the batch after the step, whose BN running statistics are put back, so the run
 * itself is the same with or without the trace. Costs one forward pass per step; meant for small models.
 */
final class StepTrace implements AutoCloseable {
    static final String PROPERTY = Settings.TRACE.property();

    private final Network net;
    private final PrintWriter out;
    private List<String> header;

    private StepTrace(Network net, PrintWriter out) {
        this.net = net;
        this.out = out;
    }

    /** The trace the JVM property asks for, or null. */
    static StepTrace fromProperty(Network net) {
        String file = Settings.TRACE.text();
        if (file == null || file.isBlank()) {
            return null;
        }
        try {
            return new StepTrace(net, new PrintWriter(Files.newBufferedWriter(Path.of(file), StandardCharsets.UTF_8)));
        } catch (IOException | RuntimeException e) {
            throw new UserException("-D" + PROPERTY + "=" + file + ": cannot write the trace file: " + e.getMessage());
        }
    }

    void record(long step, int epoch, double lr, double loss, int[] pred, int[] y, int n, Tensor x) {
        Map<String, Double> row = new LinkedHashMap<>();
        row.put("step", (double) step);
        row.put("epoch", (double) epoch);
        row.put("lr", lr);
        row.put("loss", loss);
        int correct = 0;
        for (int i = 0; i < n; i++) {
            correct += pred[i] == y[i] ? 1 : 0;
        }
        row.put("batch_acc", (double) correct / n);
        double total = 0;
        Map<String, Double> perParam = new LinkedHashMap<>();
        for (Param p : net.namedParams().values()) {
            if (p.trainable) {
                double g = norm(p.grad);
                total += g * g;
                perParam.put("grad:" + name(p), g);
                // vectors (BN scales and shifts, biases) by their signed mean: a BN shift drifting below zero shows
                if (p.value.rank() == 1) {
                    perParam.put("mean:" + name(p), moments(p.value)[0]);
                } else {
                    // vectors (BN scales and shifts, biases) by their signed mean: a BN shift drifting below zero shows
                if (p.value.rank() == 1) {
                    perParam.put("mean:" + name(p), moments(p.value)[0]);
                } else {
                    perParam.put("value:" + name(p), norm(p.value));
                }
                }
            }
        }
        row.put("grad_norm", Math.sqrt(total));
        row.putAll(perParam);
        row.putAll(blockStats(x));
        if (header == null) {
            header = new ArrayList<>(row.keySet());
            out.println(String.join(",", header));
        }
        StringBuilder sb = new StringBuilder();
        for (String k : header) {
            Double v = row.get(k);
            sb.append(sb.length() == 0 ? "" : ",").append(v == null ? "" : String.format(Locale.ROOT, "%.6g", v));
        }
        out.println(sb);
        out.flush(); // a run that stops or dies keeps its rows
    }

    /** Parameters know only their short name; the full one is the key of namedParams. */
    private String name(Param p) {
        for (Map.Entry<String, Param> e : net.namedParams().entrySet()) {
            if (e.getValue() == p) {
                return e.getKey();
            }
        }
        return p.name;
    }

    private Map<String, Double> blockStats(Tensor x) {
        Map<String, Double> s = new LinkedHashMap<>();
        Module block = net.body().children().get("block");
        if (!(block instanceof MnistBlocks.Pde pde)) {
            return s;
        }
        List<Param> stats = net.namedParams().values().stream().filter(p -> !p.trainable).toList();
        List<Tensor> saved = stats.stream().map(p -> p.value.copy()).toList();
        try (StepArena.Step open = net.backend().arena().open()) {
            net.forward(x);
            Tensor d = pde.lastDiffusivity(), u = pde.lastVelocity(), o = pde.lastOutput();
            if (d != null) {
                double[] m = moments(d);
                s.put("D_mean", m[0]);
                s.put("D_min", m[2]);
            }
            double[] mu = moments(u);
            s.put("u_mean", mu[0]);
            s.put("u_std", mu[1]);
            s.put("courant_max", mu[3] * pde.pdeSpec().dt() / Math.min(pde.pdeSpec().dx(), pde.pdeSpec().dy()));
            int active = 0;
            for (int i = 0; i < o.size(); i++) {
                active += o.get(i) > 0 ? 1 : 0;
            }
            s.put("out_active", (double) active / o.size());
            s.put("out_max", moments(o)[3]);
        }
        for (int i = 0; i < stats.size(); i++) {
            Tensor v = stats.get(i).value;
            for (int j = 0; j < v.size(); j++) {
                v.set(j, saved.get(i).get(j));
            }
        }
        return s;
    }

    /** mean, std, min, max |.| */
    private static double[] moments(Tensor t) {
        double sum = 0, sq = 0, min = Double.POSITIVE_INFINITY, amax = 0;
        for (int i = 0; i < t.size(); i++) {
            double v = t.get(i);
            sum += v;
            sq += v * v;
            min = Math.min(min, v);
            amax = Math.max(amax, Math.abs(v));
        }
        double mean = sum / t.size();
        return new double[]{mean, Math.sqrt(Math.max(0, sq / t.size() - mean * mean)), min, amax};
    }

    private static double norm(Tensor t) {
        double sq = 0;
        for (int i = 0; i < t.size(); i++) {
            double v = t.get(i);
            sq += v * v;
        }
        return Math.sqrt(sq);
    }

    @Override
    public void close() {
        out.close();
    }
}
