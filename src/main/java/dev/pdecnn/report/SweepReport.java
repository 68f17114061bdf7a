package dev.pdecnn.report;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.ToNumberPolicy;
import com.google.gson.JsonParseException;
import com.google.gson.reflect.TypeToken;
import dev.pdecnn.UserException;
import dev.pdecnn.config.ConfigFiles;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.nn.Param;
import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVParser;
import org.apache.commons.csv.CSVRecord;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * A sweep folder read back: its plan ({@code plan.json}: cells with a config, overrides, axes, a seed and planned
 * epochs) and each cell's run folder, grouped across seeds by (config, overrides, axes). A group's accuracy is the
 * mean and sample standard deviation over its finished cells only; unfinished cells are counted and listed, never
 * averaged in. {@link SweepTables} writes the result.
 */
public final class SweepReport {
    public static final String PLAN = "plan.json";

    /**
     * FINISHED: summary.json with the planned epochs; FAILED: not finished and the sweep runner left
     * {@code logs/<id>.failed} (its last attempt failed); PARTIAL: started (config or metrics) but not finished;
     * INVALID: its summary.json holds values no run writes (see {@link SummaryCheck}): listed, never averaged.
     */
    public enum State { FINISHED, PARTIAL, FAILED, NOT_STARTED, INVALID }

    /**
     * One cell as found on disk. Accuracies are fractions; for a partial cell they are the best and last test
     * accuracy of the epochs done so far (NaN before the first epoch). Counts are 0 where no summary exists.
     * {@code note}: why a failed cell failed (the first line of its marker), what an invalid one holds, else empty.
     */
    public record Cell(int index, String id, long seed, int plannedEpochs, Path run, State state, int epochs,
                       double bestAcc, double finalAcc, double secondsPerEpoch, long trainable, long withStats,
                       long macs, String note) {
        Cell failed(String why) {
            return new Cell(index, id, seed, plannedEpochs, run, State.FAILED, epochs, bestAcc, finalAcc,
                    secondsPerEpoch, trainable, withStats, macs, why);
        }
    }

    /** Mean and sample standard deviation (n - 1) of n values; NaN mean for n = 0, NaN std for n < 2. */
    public record Stat(int n, double mean, double std) {
        public static Stat of(List<Double> xs) {
            int n = xs.size();
            double mean = n == 0 ? Double.NaN : xs.stream().mapToDouble(Double::doubleValue).sum() / n;
            double ss = 0; // two passes: the mean first, then squared deviations (no cancellation)
            for (double x : xs) {
                ss += (x - mean) * (x - mean);
            }
            return new Stat(n, mean, n < 2 ? Double.NaN : Math.sqrt(ss / (n - 1)));
        }
    }

    /**
     * Cells that differ only in their seed. {@code id} is null when no cell's config could be read (no run folder
     * yet and the plan's config not found from here); {@code published} is null when the study has no such row.
     * Counts come from a finished cell's summary, else from building the model.
     */
    public record Group(String label, String config, Map<String, Object> overrides, Map<String, Object> axes,
                        ModelIdentity id, Published published, List<Cell> cells, Stat best, Stat last,
                        double secondsPerEpoch, long trainable, long withStats, long macs) {
        public List<Cell> finished() {
            return cells.stream().filter(c -> c.state() == State.FINISHED).toList();
        }

        public List<Cell> unfinished() {
            return cells.stream().filter(c -> c.state() != State.FINISHED).toList();
        }

        /** Smallest and largest epoch count of the finished cells ({0, 0} when none). */
        public int[] epochRange() {
            return new int[]{finished().stream().mapToInt(Cell::epochs).min().orElse(0),
                    finished().stream().mapToInt(Cell::epochs).max().orElse(0)};
        }
    }

    public final Path dir;
    public final String name;
    public final List<Cell> cells;
    public final List<Group> groups;
    /** One line per cell left out for invalid values, naming its summary.json (the command prints them). */
    public final List<String> warnings;

    private SweepReport(Path dir, String name, List<Cell> cells, List<Group> groups, List<String> warnings) {
        this.dir = dir;
        this.name = name;
        this.cells = cells;
        this.groups = groups;
        this.warnings = List.copyOf(warnings);
    }

    /** True when the folder is a sweep (holds a plan.json). */
    public static boolean isSweep(Path dir) {
        return Files.isRegularFile(dir.resolve(PLAN));
    }

    /**
     * The report of sweep folder {@code dir}, without the sweep's own checks of its plan: for a plan the caller
     * checked, or wrote.
     */
    public static SweepReport read(Path dir) {
        return read(dir, d -> { });
    }

    /**
     * The report of sweep folder {@code dir}; {@code checkPlan} gets the folder once plan.json has been read and
     * before any path of it is used: the sweep's own checks ({@code sweep.Plan.read}: ids that name folders,
     * unique, runs in cells/), which live above this package.
     */
    @SuppressWarnings("unchecked")
    public static SweepReport read(Path dir, Consumer<Path> checkPlan) {
        Path planFile = dir.resolve(PLAN);
        Map<String, Object> plan = json(planFile);
        if (!(plan.get("cells") instanceof List<?> list) || list.isEmpty()) {
            throw new UserException("report: " + planFile + " lists no cells (key 'cells')");
        }
        checkPlan.accept(dir); // the sweep's own checks (ids that name folders, unique, runs in cells/) before any path
        Map<String, List<Cell>> byKey = new LinkedHashMap<>();
        Map<String, Map<String, Object>> firstOfKey = new LinkedHashMap<>();
        List<Cell> cells = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        for (Object o : list) {
            if (!(o instanceof Map<?, ?> m) || !(m.get("id") instanceof String)) {
                throw new UserException("report: " + planFile + ": each cell must be an object with an 'id'");
            }
            Map<String, Object> c = (Map<String, Object>) m;
            Cell cell = readCell(dir, c, cells.size(), warnings);
            cells.add(cell);
            // Group key: (config, overrides, axes) with sorted keys, so key order in the file does not split a group.
            String key = GSON.toJson(List.of(String.valueOf(c.get("config")), sorted(c.get("overrides")),
                    sorted(c.get("axes"))));
            byKey.computeIfAbsent(key, k -> new ArrayList<>()).add(cell);
            firstOfKey.putIfAbsent(key, c);
        }
        List<Group> groups = new ArrayList<>();
        for (Map.Entry<String, List<Cell>> e : byKey.entrySet()) {
            groups.add(group(dir, firstOfKey.get(e.getKey()), e.getValue()));
        }
        // The study's order (Table 2 rows, then Table 1), then groups without a published row in plan order.
        groups.sort(Comparator.<Group>comparingInt(g -> g.published() == null ? Integer.MAX_VALUE : g.published().order())
                .thenComparingInt(g -> g.cells().get(0).index()));
        Object name = plan.get("name");
        return new SweepReport(dir, name == null ? dir.getFileName().toString() : name.toString(), cells, groups,
                warnings);
    }

    private static Map<String, Object> sorted(Object o) {
        Map<String, Object> m = new TreeMap<>();
        if (o instanceof Map<?, ?> map) {
            map.forEach((k, v) -> m.put(String.valueOf(k), v));
        }
        return m;
    }

    @SuppressWarnings("unchecked")
    private static Group group(Path dir, Map<String, Object> first, List<Cell> cells) {
        RunConfig cfg = null;
        for (Cell c : cells) { // a started cell's own config.json is what actually ran
            if (Files.isRegularFile(c.run().resolve("config.json"))) {
                cfg = load(c.run().resolve("config.json"));
                break;
            }
        }
        if (cfg == null) {
            cfg = fromPlan(dir, first);
        }
        ModelIdentity id = cfg == null ? null : ModelIdentity.of(cfg);
        Published pub = id == null ? null : Published.match(id).orElse(null);
        List<Cell> done = cells.stream().filter(c -> c.state() == State.FINISHED).toList();
        long trainable = 0, withStats = 0, macs = 0;
        if (!done.isEmpty()) {
            trainable = done.get(0).trainable();
            withStats = done.get(0).withStats();
            macs = done.get(0).macs();
        } else if (cfg != null) {
            // No summary yet: count the model itself (shapes only, no weights allocated).
            Network net = Models.shapes(cfg);
            for (Param p : net.namedParams().values()) {
                withStats += p.size();
                trainable += p.trainable ? p.size() : 0;
            }
            macs = net.macs();
        }
        Cell c0 = cells.get(0);
        String label = c0.id().replaceFirst("-s" + c0.seed() + "$", "");
        return new Group(label, String.valueOf(first.get("config")), sorted(first.get("overrides")),
                sorted(first.get("axes")), id, pub, List.copyOf(cells),
                Stat.of(done.stream().map(Cell::bestAcc).toList()), Stat.of(done.stream().map(Cell::finalAcc).toList()),
                Stat.of(done.stream().map(Cell::secondsPerEpoch).toList()).mean(), trainable, withStats, macs);
    }

    private static RunConfig load(Path configJson) {
        RunConfig cfg = new RunConfig();
        ConfigFiles.apply(configJson, cfg); // JSON is YAML; names the file and key on a bad value
        try {
            cfg.validate();
        } catch (UserException e) { // a combination of keys: say which file holds it
            throw new UserException("report: " + configJson + ": " + e.getMessage());
        }
        return cfg;
    }

    /**
     * The config a not-yet-started cell will run: the plan's config (a file, relative to the working directory or
     * to the sweep folder, or a model name) with the cell's overrides and axes. Null when the file is not found
     * from here: the report then shows the group without its identity rather than failing.
     */
    private static RunConfig fromPlan(Path dir, Map<String, Object> cell) {
        String config = String.valueOf(cell.get("config"));
        RunConfig cfg = new RunConfig();
        Path file = configBases(dir).stream().map(b -> b.resolve(config)).filter(Files::isRegularFile).findFirst()
                .orElse(null);
        if (file != null) {
            ConfigFiles.apply(file, cfg);
        } else if (RunConfig.MODELS.contains(config)) {
            cfg.model = config; // a sweep entry without a file names the model
        } else {
            return null;
        }
        String source = "report: " + dir.resolve(PLAN) + " cell " + cell.get("id");
        sorted(cell.get("overrides")).forEach((k, v) -> cfg.set(k, v, source));
        sorted(cell.get("axes")).forEach((k, v) -> cfg.set(k, v, source));
        cfg.validate();
        return cfg;
    }

    /** The cell's run folder, then the sweep runner's failure marker for a cell that did not finish. */
    /**
     * Where a relative config path may be resolved: the working folder, the sweep folder, and the running jar's
     * folder and its parent (which hold configs/ in the repository and the Docker image), as the sweep runner does.
     */
    private static List<Path> configBases(Path dir) {
        List<Path> bases = new ArrayList<>(List.of(Path.of("").toAbsolutePath(), dir));
        try {
            Path jar = Path.of(SweepReport.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (jar.getParent() != null) {
                bases.add(jar.getParent());
                if (jar.getParent().getParent() != null) {
                    bases.add(jar.getParent().getParent());
                }
            }
        } catch (java.net.URISyntaxException | RuntimeException e) {
            // no code source (an unusual class loader): the other bases remain
        }
        return bases;
    }

    private static Cell readCell(Path dir, Map<String, Object> c, int position, List<String> warnings) {
        Cell cell = readRun(dir, c, position, warnings);
        Path marker = dir.resolve("logs").resolve(cell.id() + ".failed");
        if (cell.state() == State.FINISHED || cell.state() == State.INVALID || !Files.isRegularFile(marker)) {
            return cell;
        }
        try {
            String why = Files.readString(marker).strip().lines().findFirst().orElse("");
            return cell.failed(why.length() > 200 ? why.substring(0, 200) + "..." : why);
        } catch (IOException e) {
            return cell.failed("see " + marker);
        }
    }

    private static Cell readRun(Path dir, Map<String, Object> c, int position, List<String> warnings) {
        String id = (String) c.get("id");
        int index = c.get("index") instanceof Number n ? n.intValue() : position;
        long seed = c.get("seed") instanceof Number n ? n.longValue() : -1;
        int planned = c.get("epochs") instanceof Number n ? n.intValue() : 0;
        Path run = dir.resolve(c.get("run") instanceof String s ? s : "cells/" + id);
        Path summary = run.resolve("summary.json");
        if (Files.isRegularFile(summary)) {
            Map<String, Object> m = json(summary);
            String bad = SummaryCheck.problem(m);
            if (bad != null) {
                warnings.add("report: " + summary + " holds invalid values (" + bad + "); cell " + id
                        + " is left out of the means and the plot");
                return new Cell(index, id, seed, planned, run, State.INVALID, 0, Double.NaN, Double.NaN, Double.NaN,
                        0, 0, 0, bad);
            }
            int epochs = num(m, "epochs").intValue();
            // A run stopped early (--stop-after, a time limit) also writes a summary: short of the plan, not done.
            State state = planned > 0 && epochs < planned ? State.PARTIAL : State.FINISHED;
            return new Cell(index, id, seed, planned, run, state, epochs, num(m, "best_test_acc").doubleValue(),
                    num(m, "final_test_acc").doubleValue(),
                    epochs == 0 ? Double.NaN : num(m, "wall_seconds").doubleValue() / epochs,
                    num(m, "trainable_params").longValue(), num(m, "params_with_bn_stats").longValue(),
                    num(m, "macs").longValue(), "");
        }
        Path metrics = run.resolve("metrics.csv");
        if (Files.isRegularFile(metrics)) {
            double best = Double.NaN, last = Double.NaN, secs = 0;
            int epochs = 0;
            try (Reader r = Files.newBufferedReader(metrics);
                 CSVParser p = CSVFormat.DEFAULT.builder().setHeader().setSkipHeaderRecord(true).build().parse(r)) {
                for (CSVRecord rec : p) {
                    double acc = Double.parseDouble(rec.get("test_acc"));
                    best = epochs == 0 || acc > best ? acc : best;
                    last = acc;
                    secs += Double.parseDouble(rec.get("seconds"));
                    epochs++;
                }
            } catch (IOException | RuntimeException e) { // IllegalArgumentException: a missing column
                throw new UserException("report: unreadable " + metrics + ": " + e.getMessage());
            }
            return new Cell(index, id, seed, planned, run, State.PARTIAL, epochs, best, last,
                    epochs == 0 ? Double.NaN : secs / epochs, 0, 0, 0, "");
        }
        State state = Files.isRegularFile(run.resolve("config.json")) ? State.PARTIAL : State.NOT_STARTED;
        return new Cell(index, id, seed, planned, run, state, 0, Double.NaN, Double.NaN, Double.NaN, 0, 0, 0, "");
    }

    // Whole numbers stay Long, so axes read back as "K=3" and set integer keys; fractions stay Double.
    private static final Gson GSON = new GsonBuilder().setObjectToNumberStrategy(ToNumberPolicy.LONG_OR_DOUBLE).create();

    private static Map<String, Object> json(Path file) {
        try {
            Map<String, Object> m = GSON.fromJson(Files.readString(file),
                    new TypeToken<Map<String, Object>>() { }.getType());
            if (m == null) {
                throw new JsonParseException("empty file");
            }
            return m;
        } catch (IOException | JsonParseException e) {
            throw new UserException("report: unreadable " + file + ": " + e.getMessage());
        }
    }

    private static Number num(Map<String, Object> m, String key) {
        return m.get(key) instanceof Number n ? n : Double.NaN;
    }
}
