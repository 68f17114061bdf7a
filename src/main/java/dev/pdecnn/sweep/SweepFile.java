package dev.pdecnn.sweep;

import dev.pdecnn.UserException;
import dev.pdecnn.config.ConfigFiles;
import dev.pdecnn.config.FolderName;
import dev.pdecnn.config.RunConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A sweep file: the grid of a study. Read with the config files' YAML limits (size, nesting, aliases, duplicate
 * keys) and checked strictly: every key known, every config loading, every cell's config passing the same checks
 * as a training run's, no two cells alike. Example:
 * <pre>
 * name: table2
 * configs:                         # a file (relative to the sweep file or the working folder), or
 *   - configs/cifar10/row1_resnet32.yaml
 *   - config: configs/mnist_pde_const_c8.yaml   # a file with overrides and an optional id prefix
 *     overrides: {hflip: false}
 *     name: pde_c8_noflip
 *   - overrides: {model: cnn, channels: 1}       # no file: a model and its keys
 * seeds: [1, 2, 3]
 * epochs: 200
 * axes: {K: [1, 3, 5]}             # free axes: every combination, for every config
 * train: {batch_size: 32}          # keys for every cell (an entry's overrides win over these)
 * </pre>
 */
public final class SweepFile {
    private static final Set<String> TOP = Set.of("name", "configs", "seeds", "epochs", "axes", "train");
    private static final Set<String> ENTRY = Set.of("config", "overrides", "name");
    /** Keys the sweep itself sets per cell; a sweep file sets them through seeds, epochs and the folder layout. */
    private static final Set<String> MANAGED = Set.of("seed", "epochs", "out", "name");
    /** Far beyond a study (Table 2 x 3 seeds is 24 cells); a typo in an axis should not create a million folders. */
    public static final int MAX_CELLS = 10_000;

    private SweepFile() {
    }

    /**
     * Reads and expands {@code file} into a validated plan. {@code epochs}, when not null, replaces the file's
     * epochs (sweep run --epochs). Nothing is written.
     */
    public static Plan expand(Path file, Integer epochs) {
        String src = "sweep file " + file;
        Object doc = ConfigFiles.load(file, "sweep file");
        if (!(doc instanceof Map<?, ?> top)) {
            throw new UserException(src + " must be a mapping with keys " + sorted(TOP));
        }
        knownKeys(top, TOP, src);
        String name = string(top.get("name"), src + ": key 'name'");
        FolderName.check(src + ": key 'name'", name, FolderName.MAX_RUN_NAME);
        List<?> entries = list(top.get("configs"), src + ": key 'configs'");
        List<Long> seeds = new ArrayList<>();
        for (Object s : list(top.get("seeds"), src + ": key 'seeds'")) {
            if (!(s instanceof Integer || s instanceof Long)) {
                throw new UserException(src + ": key 'seeds' must list integers, got '" + s + "'");
            }
            seeds.add(((Number) s).longValue());
        }
        int ep = epochs != null ? epochs : epochsOf(top.get("epochs"), src);
        if (ep < 1 || ep > RunConfig.MAX_EPOCHS) {
            throw new UserException(src + ": epochs must be in 1.." + RunConfig.MAX_EPOCHS + ", got " + ep);
        }
        Map<String, List<?>> axes = axes(top.get("axes"), src);
        Map<String, Object> train = keys(top.get("train"), src + ": key 'train'");
        for (String k : train.keySet()) {
            if (axes.containsKey(k)) {
                throw new UserException(src + ": key '" + k + "' is both a train key and a free axis; keep one");
            }
        }

        List<Entry> parsed = new ArrayList<>();
        Path dir = file.toAbsolutePath().getParent();
        for (int i = 0; i < entries.size(); i++) {
            parsed.add(entry(entries.get(i), i + 1, dir, axes, src));
        }
        List<Map<String, Object>> combos = combinations(axes);
        long total = (long) parsed.size() * combos.size() * seeds.size();
        if (total > MAX_CELLS) {
            throw new UserException(src + " expands into " + total + " cells; at most " + MAX_CELLS);
        }
        Map<String, Long> baseUses = new HashMap<>();
        parsed.forEach(e -> baseUses.merge(e.base, 1L, Long::sum));

        List<Cell> cells = new ArrayList<>();
        Map<String, Cell> byId = new HashMap<>();
        Map<List<Object>, Cell> byRun = new HashMap<>();
        Path cellsDir = Path.of("cells");
        for (Entry e : parsed) {
            Map<String, Object> overrides = new LinkedHashMap<>(train);
            overrides.putAll(e.overrides); // an entry's own keys win over the sweep-wide train keys
            // Two entries of one file (e.g. with and without hflip) share a base: their overrides tell them apart.
            String base = baseUses.get(e.base) > 1 && e.name == null ? e.base + suffix(e.overrides) : e.base;
            for (Map<String, Object> combo : combos) {
                for (long seed : seeds) {
                    String id = base + suffix(combo) + "-s" + seed;
                    String why = Plan.idProblem(id); // plan.json is read back with the same rule
                    if (why != null) {
                        throw new UserException(src + ": cell id " + Plan.shown(id) + " " + why + "; give its "
                                + "config entry a shorter 'name'");
                    }
                    Cell c = new Cell(cells.size(), id, e.config, overrides, combo, seed, ep, "cells/" + id);
                    c.toConfig(e.file, cellsDir, src); // every key checked now: nothing starts on a bad grid
                    List<Object> run = List.of(e.config, overrides, combo, seed);
                    Cell same = byRun.putIfAbsent(run, c);
                    if (same != null) {
                        throw new UserException(src + ": cells " + same.id() + " and " + id + " are the same run "
                                + "(config " + e.config + ", seed " + seed + "); remove the repeated entry or seed");
                    }
                    Cell clash = byId.putIfAbsent(id, c);
                    if (clash != null) {
                        throw new UserException(src + ": two cells would be named " + id + "; give one of their "
                                + "config entries its own 'name'");
                    }
                    cells.add(c);
                }
            }
        }
        return new Plan(name, cells);
    }

    /** A parsed config entry: file (null without one), the string the plan records, overrides, id base. */
    private record Entry(Path file, String config, Map<String, Object> overrides, String base, String name) {
    }

    private static Entry entry(Object raw, int n, Path sweepDir, Map<String, List<?>> axes, String src) {
        String where = src + ", configs entry " + n;
        String configText;
        Map<String, Object> overrides = Map.of();
        String name = null;
        if (raw instanceof String s) {
            configText = s;
        } else if (raw instanceof Map<?, ?> m) {
            knownKeys(m, ENTRY, where);
            configText = m.get("config") == null ? null : string(m.get("config"), where + ": key 'config'");
            overrides = keys(m.get("overrides"), where + ": key 'overrides'");
            if (m.get("name") != null) {
                name = string(m.get("name"), where + ": key 'name'");
                FolderName.check(where + ": key 'name'", name, 60);
            }
        } else {
            throw new UserException(where + " must be a config file path or a mapping with keys " + sorted(ENTRY));
        }
        for (String k : overrides.keySet()) {
            if (axes.containsKey(k)) {
                throw new UserException(where + ": override '" + k + "' is also a free axis; keep one");
            }
        }
        Path file = null;
        String config;
        if (configText == null) {
            Object model = overrides.get("model");
            if (model == null) {
                throw new UserException(where + " names neither a config file ('config') nor a model (overrides: "
                        + "{model: ...})");
            }
            config = String.valueOf(model);
        } else {
            if (!Cell.isFileName(configText)) {
                throw new UserException(where + ": config '" + configText + "' must be a .yaml, .yml or .json file");
            }
            file = findConfig(configText, sweepDir, where);
            config = recorded(file);
        }
        String stem = file == null ? config : file.getFileName().toString().replaceFirst("\\.(yaml|yml|json)$", "");
        return new Entry(file, config, overrides, name != null ? name : safe(stem), name);
    }

    /** The config file: relative to the sweep file's folder first, then to the working folder (the repository). */
    private static Path findConfig(String text, Path sweepDir, String where) {
        Path p = Path.of(text);
        if (p.isAbsolute()) {
            if (Files.isRegularFile(p)) {
                return p.normalize();
            }
        } else {
            for (Path base : List.of(sweepDir, Path.of("").toAbsolutePath())) {
                Path q = base.resolve(p).normalize();
                if (Files.isRegularFile(q)) {
                    return q;
                }
            }
        }
        throw new UserException(where + ": config file " + text + " does not exist (looked next to the sweep file "
                + "and in the working folder)");
    }

    /** What the plan records: the path relative to the working folder when inside it (so it also resolves in a
     * Docker image's /app), else absolute. */
    private static String recorded(Path file) {
        Path cwd = Path.of("").toAbsolutePath().normalize();
        Path abs = file.toAbsolutePath().normalize();
        return abs.startsWith(cwd) ? cwd.relativize(abs).toString() : abs.toString();
    }

    private static Map<String, List<?>> axes(Object raw, String src) {
        Map<String, Object> m = keys(raw, src + ": key 'axes'");
        Map<String, List<?>> axes = new LinkedHashMap<>();
        m.forEach((k, v) -> axes.put(k, list(v, src + ": axis '" + k + "'")));
        for (var e : axes.entrySet()) {
            if (new java.util.HashSet<>(e.getValue()).size() != e.getValue().size()) {
                throw new UserException(src + ": axis '" + e.getKey() + "' repeats a value: " + e.getValue());
            }
        }
        return axes;
    }

    /** Config keys and values (checked as keys here, as values when the cells' configs are built). */
    private static Map<String, Object> keys(Object raw, String where) {
        if (raw == null) {
            return Map.of();
        }
        if (!(raw instanceof Map<?, ?> m)) {
            throw new UserException(where + " must be a mapping of config keys to values");
        }
        Map<String, Object> out = new LinkedHashMap<>();
        for (var e : m.entrySet()) {
            String k = String.valueOf(e.getKey());
            if (MANAGED.contains(k)) {
                throw new UserException(where + ": key '" + k + "' is set by the sweep (seeds, epochs, the sweep "
                        + "folder); remove it here");
            }
            if (!RunConfig.keys().contains(k)) {
                throw new UserException(where + ": unknown config key '" + k + "'; allowed keys: "
                        + String.join(", ", RunConfig.keys()));
            }
            out.put(k, e.getValue());
        }
        return out;
    }

    /** Every combination of the axes' values, the last axis varying fastest; one empty map without axes. */
    private static List<Map<String, Object>> combinations(Map<String, List<?>> axes) {
        List<Map<String, Object>> out = new ArrayList<>();
        out.add(new LinkedHashMap<>());
        for (var axis : axes.entrySet()) {
            List<Map<String, Object>> next = new ArrayList<>();
            for (Map<String, Object> partial : out) {
                for (Object v : axis.getValue()) {
                    Map<String, Object> m = new LinkedHashMap<>(partial);
                    m.put(axis.getKey(), v);
                    next.add(m);
                }
            }
            out = next;
        }
        return out;
    }

    /** {@code -K3-dt0.1-velocity_net_dwconv}: readable and stable (file order of keys). */
    static String suffix(Map<String, Object> keys) {
        StringBuilder sb = new StringBuilder();
        keys.forEach((k, v) -> {
            String val = v instanceof List<?> l ? String.join(",", l.stream().map(String::valueOf).toList())
                    : String.valueOf(v);
            sb.append('-').append(k).append(val.matches("[-+]?[0-9.,eE+-]+") ? "" : "_").append(val);
        });
        return safe(sb.toString());
    }

    private static String safe(String s) {
        return s.replaceAll("[^A-Za-z0-9._,+-]", "_");
    }

    private static int epochsOf(Object v, String src) {
        if (!(v instanceof Integer i)) {
            throw new UserException(src + ": key 'epochs' must be an integer, got '" + v + "'");
        }
        return i;
    }

    private static String string(Object v, String where) {
        if (!(v instanceof String s) || s.isBlank()) {
            throw new UserException(where + " must be a non-empty string, got '" + v + "'");
        }
        return s;
    }

    private static List<?> list(Object v, String where) {
        if (!(v instanceof List<?> l) || l.isEmpty()) {
            throw new UserException(where + " must be a non-empty list, got '" + v + "'");
        }
        return l;
    }

    private static void knownKeys(Map<?, ?> m, Set<String> allowed, String where) {
        for (Object k : m.keySet()) {
            if (!allowed.contains(String.valueOf(k))) {
                throw new UserException(where + ": unknown key '" + k + "'; allowed keys: " + sorted(allowed));
            }
        }
    }

    private static String sorted(Set<String> keys) {
        return String.join(", ", new java.util.TreeSet<>(keys));
    }
}
