package dev.pdecnn.report;

import com.google.gson.Gson;
import com.google.gson.JsonParseException;
import com.google.gson.reflect.TypeToken;
import dev.pdecnn.UserException;
import dev.pdecnn.io.AtomicFiles;
import dev.pdecnn.io.SafeText;
import dev.pdecnn.viz.Plots;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Gathers finished runs (folders with a summary.json) into the study's table layout: architecture, velocity,
 * diffusivity, init, parameters, MACs, best and final accuracy, epochs and seconds per epoch; as Markdown, CSV
 * and a PNG of accuracy against MACs.
 */
public final class RunReport {
    public record Row(String run, String model, String velocity, String diffusivity, String init, long trainable,
                      long withStats, long macs, double bestAcc, double finalAcc, int epochs, double secondsPerEpoch) {
    }

    private RunReport() {
    }

    /**
     * Every run folder at or below the given paths (a folder holding summary.json is a run); a summary with invalid
     * values ({@link SummaryCheck}) is left out with one line to {@code warn} naming it.
     */
    public static List<Row> collect(List<Path> roots, Consumer<String> warn) {
        List<Row> rows = new ArrayList<>();
        for (Path root : roots) {
            if (!Files.isDirectory(root)) {
                throw new UserException("report: " + root + " is not a folder of runs");
            }
            try (Stream<Path> s = Files.walk(root, 3)) {
                for (Path summary : s.filter(p -> p.getFileName().toString().equals("summary.json")).sorted().toList()) {
                    Row row = read(summary, warn);
                    if (row != null) {
                        rows.add(row);
                    }
                }
            } catch (IOException e) {
                throw new UserException("report: cannot read " + root + ": " + e.getMessage());
            }
        }
        if (rows.isEmpty()) {
            throw new UserException("report: no finished runs (folders with summary.json) under " + roots);
        }
        rows.sort(Comparator.comparing(Row::model).thenComparing(Row::macs).thenComparing(Row::run));
        return rows;
    }

    @SuppressWarnings("unchecked")
    private static Row read(Path summary, Consumer<String> warn) {
        Map<String, Object> m;
        try {
            m = new Gson().fromJson(Files.readString(summary), new TypeToken<Map<String, Object>>() { }.getType());
        } catch (IOException | JsonParseException e) {
            throw new UserException("report: unreadable " + summary + ": " + e.getMessage());
        }
        String bad = m == null ? "no values" : SummaryCheck.problem(m);
        if (bad != null) {
            warn.accept("report: " + summary + " holds invalid values (" + bad + "); run left out");
            return null;
        }
        Map<String, Object> cfg = (Map<String, Object>) m.getOrDefault("config", Map.of());
        ModelIdentity id = ModelIdentity.of(cfg, "report: " + summary);
        int epochs = num(m, "epochs").intValue();
        return new Row(summary.getParent().getFileName().toString(), String.valueOf(m.get("model")), id.velocity(),
                id.diffusivity(), id.init(),
                num(m, "trainable_params").longValue(), num(m, "params_with_bn_stats").longValue(),
                num(m, "macs").longValue(), num(m, "best_test_acc").doubleValue(),
                num(m, "final_test_acc").doubleValue(), epochs,
                epochs == 0 ? Double.NaN : num(m, "wall_seconds").doubleValue() / epochs);
    }

    private static Number num(Map<String, Object> m, String key) {
        Object v = m.get(key);
        return v instanceof Number n ? n : Double.NaN;
    }

    public static String markdown(List<Row> rows) {
        StringBuilder sb = new StringBuilder();
        sb.append("| run | model | v | D | init | params (trainable) | params (with BN stats) | MACs | best acc | "
                + "final acc | epochs | s / epoch |\n");
        sb.append("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (Row r : rows) {
            String macs = r.macs() >= 1e6 ? String.format(Locale.ROOT, "%.2fM", r.macs() / 1e6)
                    : String.format(Locale.ROOT, "%.1fK", r.macs() / 1e3);
            sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %,d | %,d | %s | %.2f%% | %.2f%% | %d | %.0f |%n",
                    SafeText.markdownCell(r.run()), SafeText.markdownCell(r.model()), r.velocity(), r.diffusivity(),
                    r.init(), r.trainable(), r.withStats(),
                    macs, 100 * r.bestAcc(), 100 * r.finalAcc(), r.epochs(), r.secondsPerEpoch()));
        }
        return sb.toString();
    }

    public static String csv(List<Row> rows) {
        List<List<Object>> out = new ArrayList<>();
        for (Row r : rows) {
            out.add(List.of(r.run(), r.model(), r.velocity(), r.diffusivity(), r.init(), r.trainable(), r.withStats(),
                    r.macs(), String.format(Locale.ROOT, "%.6f", r.bestAcc()),
                    String.format(Locale.ROOT, "%.6f", r.finalAcc()), r.epochs(),
                    String.format(Locale.ROOT, "%.3f", r.secondsPerEpoch())));
        }
        return SweepTables.csv(List.of("run", "model", "velocity", "diffusivity", "init", "trainable_params",
                "params_with_bn_stats", "macs", "best_test_acc", "final_test_acc", "epochs", "seconds_per_epoch"), out);
    }

    /** Writes {@code <out>.md}, {@code <out>.csv} and {@code <out>.png} (best accuracy against MACs). */
    public static List<Path> write(List<Row> rows, Path out) {
        Path md = Path.of(out + ".md"), csv = Path.of(out + ".csv"), png = Path.of(out + ".png");
        AtomicFiles.writeString(md, markdown(rows));
        AtomicFiles.writeString(csv, csv(rows));
        List<Plots.Point> pts = new ArrayList<>();
        for (Row r : rows) {
            pts.add(new Plots.Point(r.run(), r.macs() / 1e6, 100 * r.bestAcc()));
        }
        Plots.scatter(png, "Best test accuracy against multiply-accumulates", "MACs per image (millions)",
                "best test accuracy (%)", pts);
        return List.of(md, csv, png);
    }
}
