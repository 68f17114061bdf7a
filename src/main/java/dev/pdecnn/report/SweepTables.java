package dev.pdecnn.report;

import com.google.gson.Gson;
import dev.pdecnn.io.AtomicFiles;
import dev.pdecnn.io.SafeText;
import dev.pdecnn.report.SweepReport.Cell;
import dev.pdecnn.report.SweepReport.Group;
import dev.pdecnn.report.SweepReport.Stat;
import dev.pdecnn.viz.TradeOffPlot;
import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVPrinter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * A {@link SweepReport} as the study's tables: Markdown (one row per group, in the study's order, the study's
 * accuracy beside ours), a CSV per group and one per cell, and the accuracy-against-MACs picture.
 */
public final class SweepTables {
    /** "–" (en dash) where a value does not exist: the std of one seed, the mean of none, a row the study lacks. */
    public static final String NONE = "–";

    private SweepTables() {
    }

    public static String markdown(SweepReport s) {
        long finished = s.cells.stream().filter(c -> c.state() == SweepReport.State.FINISHED).count();
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "# Sweep %s: %d of %d cells finished, %d groups%n%n", s.name, finished,
                s.cells.size(), s.groups.size()));
        sb.append("| study row | group | model | v | D | init | axes | seeds | params | MACs | best acc (%) | "
                + "final acc (%) | study acc (%) | s / epoch | epochs |\n");
        sb.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (Group g : s.groups) {
            ModelIdentity id = g.id();
            int done = g.finished().size();
            String seeds = done + "/" + g.cells().size() + (done < g.cells().size() ? " ⚠" : "");
            int[] ep = g.epochRange();
            sb.append("| ").append(String.join(" | ",
                    g.published() == null ? NONE : g.published().label(),
                    SafeText.markdownCell(g.label()),
                    id == null ? "?" : id.model(), id == null ? "?" : id.velocity(),
                    id == null ? "?" : id.diffusivity(), id == null ? "?" : id.init(),
                    g.axes().isEmpty() ? NONE : axesText(g.axes()),
                    seeds,
                    g.withStats() == 0 ? NONE : String.format(Locale.ROOT, "%,d", g.withStats()),
                    g.macs() == 0 ? NONE : macs(g.macs()),
                    meanStd(g.best()), meanStd(g.last()),
                    g.published() == null ? NONE : String.format(Locale.ROOT, "%.2f", 100 * g.published().acc()),
                    Double.isFinite(g.secondsPerEpoch()) ? String.format(Locale.ROOT, "%.1f", g.secondsPerEpoch()) : NONE,
                    done == 0 ? NONE : ep[0] == ep[1] ? Integer.toString(ep[0]) : ep[0] + "–" + ep[1]))
                    .append(" |\n");
        }
        sb.append("\nAccuracies: mean ± sample standard deviation over the finished seeds (").append(NONE)
                .append(" for a single seed). params: with BN running statistics, as the study counts them. ")
                .append("Study: Kag & Saligrama, CVPR 2022, Table 2 (CIFAR-10, 200 epochs, K = 5) and Table 1 ")
                .append("(MNIST), matched by model and Global-layer options, so a group that changes other settings ")
                .append("(axes, epochs) still shows its row's published value for reference.\n");
        List<Cell> open = s.cells.stream().filter(c -> c.state() != SweepReport.State.FINISHED).toList();
        if (!open.isEmpty()) {
            sb.append("\n⚠ ").append(open.size()).append(" unfinished cell(s), left out of the means: ")
                    .append(open.stream().map(SweepTables::cellState).collect(Collectors.joining("; "))).append(".\n");
        }
        return sb.toString();
    }

    private static String cellState(Cell c) {
        return c.id() + " " + switch (c.state()) {
            case NOT_STARTED -> "not started";
            case FAILED -> "failed after " + c.epochs() + " epochs" + (c.note().isEmpty() ? "" : " (" + c.note() + ")");
            case PARTIAL -> c.epochs() + "/" + (c.plannedEpochs() > 0 ? c.plannedEpochs() : "?") + " epochs";
            case FINISHED -> "finished";
            case INVALID -> "has an invalid summary.json (" + c.note() + ")";
        };
    }

    static String meanStd(Stat st) {
        if (st.n() == 0) {
            return NONE;
        }
        return String.format(Locale.ROOT, "%.2f ± %s", 100 * st.mean(),
                st.n() < 2 ? NONE : String.format(Locale.ROOT, "%.2f", 100 * st.std()));
    }

    static String macs(long m) {
        return m >= 1e6 ? String.format(Locale.ROOT, "%.2fM", m / 1e6) : String.format(Locale.ROOT, "%.1fK", m / 1e3);
    }

    /** "K=3, dt=0.1". */
    static String axesText(Map<String, Object> axes) {
        return axes.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(", "));
    }

    public static final List<String> GROUP_COLUMNS = List.of("group", "study_table", "study_row", "dataset", "model",
            "velocity", "diffusivity", "init", "config", "overrides", "axes", "seeds_finished", "seeds_planned",
            "unfinished_cells", "trainable_params", "params_with_bn_stats", "macs", "best_test_acc_mean",
            "best_test_acc_std", "final_test_acc_mean", "final_test_acc_std", "study_test_acc", "study_params",
            "study_macs", "seconds_per_epoch", "epochs_min", "epochs_max");

    /** One row per group; accuracies as fractions; empty where a value does not exist (see {@link #NONE}). */
    public static String groupsCsv(SweepReport s) {
        List<List<Object>> rows = new ArrayList<>();
        Gson gson = new Gson();
        for (Group g : s.groups) {
            ModelIdentity id = g.id();
            Published p = g.published();
            int[] ep = g.epochRange();
            List<Object> r = new ArrayList<>(List.of(g.label(), p == null ? "" : p.table(), p == null ? "" : p.row(),
                    id == null ? "" : id.dataset(), id == null ? "" : id.model(), id == null ? "" : id.velocity(),
                    id == null ? "" : id.diffusivity(), id == null ? "" : id.init(), g.config(),
                    gson.toJson(g.overrides()), gson.toJson(g.axes()), g.finished().size(), g.cells().size(),
                    g.unfinished().stream().map(Cell::id).collect(Collectors.joining(" ")),
                    count(g.trainable()), count(g.withStats()), count(g.macs())));
            r.addAll(List.of(num(g.best().mean()), num(g.best().std()), num(g.last().mean()), num(g.last().std()),
                    p == null ? "" : num(p.acc()), p == null ? "" : count(p.params()), p == null ? "" : count(p.macs()),
                    num(g.secondsPerEpoch()), g.finished().isEmpty() ? "" : ep[0], g.finished().isEmpty() ? "" : ep[1]));
            rows.add(r);
        }
        return csv(GROUP_COLUMNS, rows);
    }

    public static final List<String> CELL_COLUMNS = List.of("index", "id", "group", "seed", "state", "epochs",
            "planned_epochs", "best_test_acc", "final_test_acc", "seconds_per_epoch", "trainable_params",
            "params_with_bn_stats", "macs", "run", "note");

    /** One row per cell of the plan, in plan order; a partial cell's accuracies are those of its epochs so far. */
    public static String cellsCsv(SweepReport s) {
        Map<Cell, String> groupOf = new LinkedHashMap<>();
        s.groups.forEach(g -> g.cells().forEach(c -> groupOf.put(c, g.label())));
        List<List<Object>> rows = new ArrayList<>();
        for (Cell c : s.cells) {
            rows.add(List.of(c.index(), c.id(), groupOf.get(c), c.seed(), c.state().name().toLowerCase(Locale.ROOT),
                    c.epochs(), c.plannedEpochs(), num(c.bestAcc()), num(c.finalAcc()), num(c.secondsPerEpoch()),
                    count(c.trainable()), count(c.withStats()), count(c.macs()),
                    s.dir.toAbsolutePath().relativize(c.run().toAbsolutePath()).toString(), c.note()));
        }
        return csv(CELL_COLUMNS, rows);
    }

    private static Object num(double x) {
        return Double.isFinite(x) ? String.format(Locale.ROOT, "%.6f", x) : "";
    }

    private static Object count(long n) {
        return n == 0 ? "" : n;
    }

    static String csv(List<String> header, List<List<Object>> rows) {
        StringBuilder sb = new StringBuilder();
        try (CSVPrinter p = new CSVPrinter(sb, CSVFormat.DEFAULT.builder().setRecordSeparator('\n')
                .setHeader(header.toArray(String[]::new)).build())) {
            for (List<Object> r : rows) { // text cells (run names, paths, notes) neutralised for spreadsheets
                p.printRecord(r.stream().map(v -> v instanceof String t ? SafeText.spreadsheetCell(t) : v).toList());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a StringBuilder does not throw
        }
        return sb.toString();
    }

    /**
     * Accuracy (best test, mean ± std over finished seeds) against MACs, one panel per data set, with the study's
     * point for each matched group: at the study's printed MACs where it gives them, else at ours (Table 2 rows 7-8
     * and Table 1 print none; our counts are exact conv+dense MACs of the same architecture).
     */
    static List<TradeOffPlot.Panel> panels(SweepReport s) {
        Map<String, List<TradeOffPlot.Point>> byDataset = new LinkedHashMap<>();
        for (Group g : s.groups) {
            if (g.best().n() == 0 || g.macs() == 0) {
                continue;
            }
            String dataset = g.id() == null ? "?" : g.id().dataset();
            boolean millions = !dataset.equals("mnist");
            double scale = millions ? 1e6 : 1e3;
            Published p = g.published();
            String label = p == null ? g.label() : p.shortLabel() + (g.axes().isEmpty() ? "" : ", " + axesText(g.axes()));
            double x = g.macs() / scale;
            byDataset.computeIfAbsent(dataset, k -> new ArrayList<>()).add(new TradeOffPlot.Point(label, x,
                    100 * g.best().mean(), 100 * g.best().std(),
                    p == null ? Double.NaN : p.macs() > 0 ? p.macs() / scale : x, p == null ? Double.NaN : 100 * p.acc()));
        }
        List<TradeOffPlot.Panel> panels = new ArrayList<>();
        byDataset.forEach((dataset, pts) -> panels.add(new TradeOffPlot.Panel(
                "Accuracy against multiply-accumulates: " + s.name + " (" + dataset + ")",
                "MACs per image (" + (dataset.equals("mnist") ? "thousands" : "millions") + ")",
                "best test accuracy (%)", pts)));
        return panels;
    }

    /**
     * Writes PREFIX.md, PREFIX.csv (per group), PREFIX-cells.csv and PREFIX.png; the PNG only when some group has
     * a finished seed (there is nothing to plot before).
     */
    public static List<Path> write(SweepReport s, Path prefix) {
        Path md = Path.of(prefix + ".md"), csv = Path.of(prefix + ".csv"), cells = Path.of(prefix + "-cells.csv"),
                png = Path.of(prefix + ".png");
        AtomicFiles.writeString(md, markdown(s));
        AtomicFiles.writeString(csv, groupsCsv(s));
        AtomicFiles.writeString(cells, cellsCsv(s));
        List<TradeOffPlot.Panel> panels = panels(s);
        if (panels.isEmpty()) {
            return List.of(md, csv, cells);
        }
        TradeOffPlot.write(png, panels);
        return List.of(md, csv, cells, png);
    }
}
