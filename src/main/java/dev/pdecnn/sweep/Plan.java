package dev.pdecnn.sweep;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.ToNumberPolicy;
import dev.pdecnn.UserException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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

    /** Reads {@code SWEEP/plan.json}; one-line errors for a missing or damaged file. */
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
        try {
            Map<?, ?> m = GSON.fromJson(text, Map.class);
            List<Cell> cells = new ArrayList<>();
            for (Object o : (List<?>) m.get("cells")) {
                Map<?, ?> c = (Map<?, ?>) o;
                cells.add(new Cell(((Number) c.get("index")).intValue(), (String) c.get("id"), (String) c.get("config"),
                        strMap(c.get("overrides")), strMap(c.get("axes")), ((Number) c.get("seed")).longValue(),
                        ((Number) c.get("epochs")).intValue(), (String) c.get("run")));
            }
            for (int i = 0; i < cells.size(); i++) {
                Cell c = cells.get(i);
                if (c.index() != i || c.id() == null || c.config() == null || c.run() == null
                        || !c.run().equals("cells/" + c.id()) || c.id().contains("/") || c.id().startsWith(".")) {
                    throw new UserException(file + ": cell " + i + " is damaged (index, id, config or run)");
                }
            }
            return new Plan((String) m.get("name"), cells);
        } catch (JsonParseException | ClassCastException | NullPointerException e) {
            throw new UserException(file + " is damaged (" + e.getClass().getSimpleName() + "); run sweep run again "
                    + "with the sweep file to rewrite it");
        }
    }

    private static Map<String, Object> strMap(Object o) {
        Map<String, Object> m = new LinkedHashMap<>();
        ((Map<?, ?>) o).forEach((k, v) -> m.put((String) k, v));
        return m;
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
