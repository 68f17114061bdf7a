package dev.pdecnn.sweep;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.pdecnn.UserException;
import dev.pdecnn.io.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Objects;
import java.util.Set;

/**
 * A sweep folder (a contract with {@code report} and the Slurm CI test): {@code SWEEP/sweep.yaml} (the sweep file
 * as given), {@code SWEEP/plan.json} ({@link Plan}), {@code SWEEP/cells/<id>/} (each a normal trainer run folder),
 * {@code SWEEP/logs/} (the cells' output; {@code <id>.failed} holds a failed cell's error line).
 */
public final class SweepFolder {
    public static final String SWEEP_FILE = "sweep.yaml";
    public static final String CELLS = "cells";
    public static final String LOGS = "logs";
    /**
     * Exit code of {@code sweep cell} when another process already trains the cell (EX_TEMPFAIL): the cell is
     * not failed, and no {@code .failed} marker is written.
     */
    public static final int EXIT_BUSY = 75;

    private SweepFolder() {
    }

    /** The default sweep folder: {@code runs/sweeps/<name>}. */
    public static Path defaultDir(String name) {
        return Path.of("runs", "sweeps", name);
    }

    /**
     * Creates the folder for {@code plan} (or checks that an existing one holds the same plan, so that a re-run
     * continues it): one line and nothing touched when it holds a different plan.
     */
    public static void prepare(Path dir, Plan plan, Path sweepFile) {
        Path planFile = dir.resolve(Plan.FILE);
        if (Files.exists(planFile)) {
            JsonElement old;
            try {
                old = JsonParser.parseString(Files.readString(planFile));
            } catch (IOException | JsonParseException e) {
                throw new UserException("sweep folder " + dir + " has an unreadable " + Plan.FILE + " ("
                        + e.getMessage() + "); pass another --out");
            }
            if (!old.equals(plan.tree())) {
                throw new UserException("sweep folder " + dir + " holds a different plan (" + difference(old, plan)
                        + "); pass another --out, or the same sweep file and --epochs to continue it");
            }
        } else if (Files.exists(dir) && !isEmptyDir(dir)) {
            throw new UserException(dir + " exists and is not a sweep folder (no " + Plan.FILE + "); pass another --out");
        }
        try {
            Files.createDirectories(dir.resolve(CELLS));
            Files.createDirectories(dir.resolve(LOGS));
            if (!Files.exists(dir.resolve(SWEEP_FILE))) {
                AtomicFiles.writeBytes(dir.resolve(SWEEP_FILE), Files.readAllBytes(sweepFile));
            }
        } catch (IOException e) {
            throw new UserException("cannot create sweep folder " + dir + ": " + e.getMessage());
        }
        if (!Files.exists(planFile)) {
            AtomicFiles.writeString(planFile, plan.toJson());
        }
    }

    /**
     * The first difference, for the refusal: the sweep's name, else the first cell that differs and its first
     * differing key with both values (e.g. "cell 0 (cnn-s1): epochs was 2, now 5"), else the cell counts.
     */
    static String difference(JsonElement old, Plan plan) {
        try {
            JsonObject o = old.getAsJsonObject(), n = plan.tree().getAsJsonObject();
            if (!Objects.equals(o.get("name"), n.get("name"))) {
                return "name was " + o.get("name") + ", now " + n.get("name");
            }
            JsonArray oldCells = o.getAsJsonArray("cells"), newCells = n.getAsJsonArray("cells");
            for (int i = 0; i < Math.min(oldCells.size(), newCells.size()); i++) {
                JsonObject a = oldCells.get(i).getAsJsonObject(), b = newCells.get(i).getAsJsonObject();
                if (a.equals(b)) {
                    continue;
                }
                Set<String> keys = new LinkedHashSet<>(b.keySet());
                keys.addAll(a.keySet());
                for (String k : keys) {
                    if (!Objects.equals(a.get(k), b.get(k))) {
                        String id = b.get("id") != null && b.get("id").isJsonPrimitive() ? b.get("id").getAsString()
                                : "?";
                        return "cell " + i + " (" + id + "): " + k + " was " + brief(a.get(k)) + ", now "
                                + brief(b.get(k));
                    }
                }
            }
            return oldCells.size() + " cells before, " + newCells.size() + " now";
        } catch (RuntimeException e) {
            return "its " + Plan.FILE + " differs";
        }
    }

    /** A JSON value for the one-line refusal (a plan's values are short; a damaged one need not be). */
    private static String brief(JsonElement e) {
        String s = e == null ? "absent" : e.toString();
        return s.length() > 80 ? s.substring(0, 80) + "..." : s;
    }

    private static boolean isEmptyDir(Path dir) {
        try (var s = Files.list(dir)) {
            return s.findAny().isEmpty();
        } catch (IOException e) {
            return false;
        }
    }

    public static Path cellDir(Path sweepDir, Cell c) {
        return sweepDir.resolve(c.run());
    }

    public static Path log(Path sweepDir, Cell c) {
        return sweepDir.resolve(LOGS).resolve(c.id() + ".log");
    }

    /** The marker of a failed attempt: the error line, removed when the cell starts again. */
    public static Path failedMarker(Path sweepDir, Cell c) {
        return sweepDir.resolve(LOGS).resolve(c.id() + ".failed");
    }

    public static void markFailed(Path sweepDir, Cell c, String why) {
        try {
            Files.createDirectories(sweepDir.resolve(LOGS));
            AtomicFiles.writeString(failedMarker(sweepDir, c), why.strip() + "\n");
        } catch (IOException | RuntimeException e) {
            // the exit code still says it failed; the marker only helps `sweep status`
        }
    }

    public static void clearFailed(Path sweepDir, Cell c) {
        try {
            Files.deleteIfExists(failedMarker(sweepDir, c));
        } catch (IOException e) {
            throw new UserException("cannot remove " + failedMarker(sweepDir, c) + ": " + e.getMessage());
        }
    }
}
