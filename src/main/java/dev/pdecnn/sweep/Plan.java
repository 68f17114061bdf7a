package dev.pdecnn.sweep;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.ToNumberPolicy;
import dev.pdecnn.UserException;
import dev.pdecnn.config.RunConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The expanded grid, as {@code SWEEP/plan.json}: {@code {"name": ..., "cells": [{"index", "id", "config",
 * "overrides", "axes", "seed", "epochs", "run"}, ...]}}. That layout is a contract with {@code report} and the
 * Slurm CI test; cells are run by index ({@code sweep cell --index I}, a Slurm array task, a Kubernetes index).
 */
public record Plan(String name, List<Cell> cells) {
    public static final String FILE = "plan.json";
    /** Integers stay integers (seeds, K), reals stay reals: the plan reads back as it was written. */
    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().serializeNulls()
            .setObjectToNumberStrategy(ToNumberPolicy.LONG_OR_DOUBLE).create();

    public Map<String, Object> toMap() {
        List<Map<String, Object>> cs = new ArrayList<>();
        for (Cell c : cells) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("index", c.index());
            m.put("id", c.id());
            m.put("config", c.config());
            m.put("overrides", c.overrides());
            m.put("axes", c.axes());
            m.put("seed", c.seed());
            m.put("epochs", c.epochs());
            m.put("run", c.run());
            cs.add(m);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.put("cells", cs);
        return m;
    }

    public String toJson() {
        return GSON.toJson(toMap()) + "\n";
    }

    /** The plan as a JSON tree, to compare with another (numbers compare by value). */
    public JsonElement tree() {
        return JsonParser.parseString(toJson());
    }

    /**
     * Reads {@code SWEEP/plan.json}; one-line errors for a missing, damaged or edited file. Every value is checked
     * before any is used as a path or a config ({@link #idProblem}, unique ids, run = cells/ID, index = position,
     * seed an integer, epochs in range), so a hand-edited plan cannot make a cell train outside {@code cells/}.
     */
    public static Plan read(Path sweepDir) {
        Path file = sweepDir.resolve(FILE);
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new UserException(sweepDir + " is not a sweep folder: it has no " + FILE + " (sweep run makes it)");
        } catch (IOException e) {
            throw new UserException("cannot read " + file + ": " + e.getMessage());
        }
        Object doc;
        try {
            doc = GSON.fromJson(text, Object.class);
        } catch (JsonParseException e) {
            throw new UserException(file + " is damaged (not JSON); " + REWRITE);
        }
        if (!(doc instanceof Map<?, ?> m) || !(m.get("cells") instanceof List<?> raw) || raw.isEmpty()) {
            throw new UserException(file + " is damaged (no list of cells); " + REWRITE);
        }
        if (!(m.get("name") instanceof String name) || !name.matches(NAME)) {
            throw new UserException(file + ": 'name' " + shown(m.get("name")) + " is not a sweep name (letters, "
                    + "digits, '.', '_', '-'); " + REWRITE);
        }
        List<Cell> cells = new ArrayList<>();
        Set<String> ids = new HashSet<>();
        for (Object o : raw) {
            String where = file + ": cell " + cells.size();
            Cell c = cell(o, cells.size(), where);
            if (!ids.add(c.id())) {
                throw new UserException(where + " repeats the id " + shown(c.id()) + "; " + REWRITE);
            }
            cells.add(c);
        }
        return new Plan(name, cells);
    }

    private static final String REWRITE = "plan.json is written by sweep run: run it again with the sweep file "
            + "(into a new --out)";
    /** The rule for sweep names (as a sweep file's 'name'). */
    static final String NAME = "[A-Za-z0-9][A-Za-z0-9._-]{0,99}";

    /**
     * Why {@code id} cannot name a cell (its folder cells/ID and its logs/ID.log), or null when it can: the
     * characters sweep run puts into ids (a sweep name's, plus ',' and '+' of axis values), not starting with '.'
     * (so never "." or ".."), and short enough for a file name with the logs' suffixes.
     */
    public static String idProblem(String id) {
        if (id.isEmpty()) {
            return "is empty";
        }
        if (id.length() > 200) {
            return "is longer than 200 characters";
        }
        if (!id.matches("[A-Za-z0-9_,+-][A-Za-z0-9._,+-]*")) {
            return "is not a folder name of letters, digits, '.', '_', '-', ',' and '+' (not starting with '.')";
        }
        return null;
    }

    private static Cell cell(Object o, int position, String where) {
        if (!(o instanceof Map<?, ?> c)) {
            throw new UserException(where + " is not an object; " + REWRITE);
        }
        if (!(c.get("id") instanceof String id)) {
            throw new UserException(where + " has no 'id'; " + REWRITE);
        }
        String why = idProblem(id);
        if (why != null) {
            throw new UserException(where + ": id " + shown(id) + " " + why + "; " + REWRITE);
        }
        if (!(c.get("index") instanceof Long index) || index != position) {
            throw new UserException(where + ": 'index' is " + shown(c.get("index")) + ", not " + position + "; " + REWRITE);
        }
        if (!("cells/" + id).equals(c.get("run"))) {
            throw new UserException(where + ": 'run' is " + shown(c.get("run")) + ", not \"cells/" + id + "\"; "
                    + REWRITE);
        }
        if (!(c.get("config") instanceof String config) || config.isEmpty() || config.length() > 4096
                || config.chars().anyMatch(ch -> ch < 0x20 || ch == 0x7f)
                || !(Cell.isFileName(config) || RunConfig.MODELS.contains(config))) {
            throw new UserException(where + ": 'config' " + shown(c.get("config")) + " is neither a .yaml, .yml or "
                    + ".json file nor a model name; " + REWRITE);
        }
        if (!(c.get("seed") instanceof Long seed)) {
            throw new UserException(where + ": 'seed' " + shown(c.get("seed")) + " is not an integer; " + REWRITE);
        }
        if (!(c.get("epochs") instanceof Long epochs) || epochs < 1 || epochs > RunConfig.MAX_EPOCHS) {
            throw new UserException(where + ": 'epochs' " + shown(c.get("epochs")) + " is not in 1.."
                    + RunConfig.MAX_EPOCHS + "; " + REWRITE);
        }
        return new Cell(position, id, config, keys(c.get("overrides"), where + ": 'overrides'"),
                keys(c.get("axes"), where + ": 'axes'"), seed, epochs.intValue(), "cells/" + id);
    }

    /** Config keys and values; the values are checked by {@link Cell#toConfig} as a config file's are. */
    private static Map<String, Object> keys(Object o, String where) {
        if (!(o instanceof Map<?, ?> map)) {
            throw new UserException(where + " is not an object; " + REWRITE);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        map.forEach((k, v) -> m.put((String) k, v)); // JSON object keys are strings
        for (String k : m.keySet()) {
            if (!RunConfig.keys().contains(k)) {
                throw new UserException(where + " holds the unknown config key " + shown(k) + "; " + REWRITE);
            }
        }
        return m;
    }

    /** A value for a message: quoted, control characters escaped, at most 60 characters of it. */
    static String shown(Object v) {
        if (!(v instanceof String s)) {
            return String.valueOf(v);
        }
        StringBuilder sb = new StringBuilder("\"");
        s.substring(0, Math.min(s.length(), 60)).chars().forEach(ch -> sb.append(ch < 0x20 || ch == 0x7f
                ? String.format(java.util.Locale.ROOT, "\\u%04x", ch) : String.valueOf((char) ch)));
        return sb.append(s.length() > 60 ? "...\"" : "\"").toString();
    }

    /** The cell of a Slurm array task or Kubernetes index, with a one-line error when out of range. */
    public Cell cell(int index) {
        if (index < 0 || index >= cells.size()) {
            throw new UserException("cell index " + index + " is out of range: sweep " + name + " has cells 0.."
                    + (cells.size() - 1));
        }
        return cells.get(index);
    }
}
