package dev.pdecnn.sweep;

import com.google.gson.GsonBuilder;
import dev.pdecnn.cli.CliRunner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 23 item 9: plan.json is checked when it is read, so a hand-edited or damaged one is refused with one line
 * and exit 2 by every command that reads it (sweep cell, sweep status, report) instead of an InvalidPathException
 * trace (an id with a NUL byte) or a cell training straight into SWEEP/cells/ (an empty id).
 */
class PlanFileTest {
    @TempDir
    Path tmp;

    /** A valid two-cell plan (a model name, no file), changed by {@code edit}, written to a new sweep folder. */
    private Path plan(Consumer<List<Map<String, Object>>> edit, Consumer<Map<String, Object>> top) throws IOException {
        List<Map<String, Object>> cells = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("index", i);
            c.put("id", "cnn-s" + (i + 1));
            c.put("config", "cnn");
            c.put("overrides", new LinkedHashMap<>(Map.of("model", "cnn", "channels", 1)));
            c.put("axes", new LinkedHashMap<>());
            c.put("seed", i + 1);
            c.put("epochs", 1);
            c.put("run", "cells/cnn-s" + (i + 1));
            cells.add(c);
        }
        edit.accept(cells);
        Map<String, Object> m = new LinkedHashMap<>(Map.of("name", "p", "cells", cells));
        top.accept(m);
        Path dir = Files.createTempDirectory(tmp, "sweep");
        Files.writeString(dir.resolve("plan.json"), new GsonBuilder().serializeNulls().create().toJson(m));
        return dir;
    }

    private Path cellEdit(int i, String key, Object value) throws IOException {
        return plan(cells -> cells.get(i).put(key, value), m -> { });
    }

    /** sweep cell, sweep status and report each refuse with one line containing {@code what}, exit 2. */
    private static void refused(Path dir, String what) throws IOException {
        for (String[] cmd : new String[][]{{"sweep", "cell", dir.toString(), "--index", "0"},
                {"sweep", "status", dir.toString()}, {"report", dir.toString()}}) {
            CliRunner.Result r = CliRunner.run(cmd);
            assertEquals(2, r.code(), String.join(" ", cmd) + ": " + r.out() + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().startsWith("error: ") && r.err().contains(dir.resolve("plan.json").toString())
                    && r.err().contains(what), String.join(" ", cmd) + ": " + r.err());
            assertFalse(r.err().contains("Exception"), r.err());
        }
        try (var s = Files.list(dir)) {
            assertEquals(List.of("plan.json"), s.map(p -> p.getFileName().toString()).toList(), "nothing written");
        }
    }

    @Test
    void idWithANulByteIsRefused() throws IOException {
        Path dir = plan(cells -> {
            cells.get(1).put("id", "a\u0000b");
            cells.get(1).put("run", "cells/a\u0000b");
        }, m -> { });
        refused(dir, "cell 1: id \"a\\u0000b\" is not a folder name");
    }

    @Test
    void emptyDotAndEscapingIdsAreRefused() throws IOException {
        for (String id : new String[]{"", ".", "..", "../x", "a/b", ".hidden", "x".repeat(201)}) {
            Path dir = plan(cells -> {
                cells.get(0).put("id", id);
                cells.get(0).put("run", "cells/" + id);
            }, m -> { });
            refused(dir, "cell 0: id ");
        }
    }

    @Test
    void repeatedIdsAndOtherBadFieldsAreRefused() throws IOException {
        refused(plan(cells -> {
            cells.get(1).put("id", "cnn-s1");
            cells.get(1).put("run", "cells/cnn-s1");
        }, m -> { }), "cell 1 repeats the id \"cnn-s1\"");
        refused(cellEdit(0, "run", "cells/../x"), "'run' is");
        refused(cellEdit(1, "index", 0), "'index' is 0, not 1");
        refused(cellEdit(0, "seed", 1.5), "'seed' 1.5 is not an integer");
        refused(cellEdit(0, "epochs", 0), "'epochs' 0 is not in 1..");
        refused(cellEdit(0, "config", "x\u0000.yaml"), "'config' \"x\\u0000.yaml\" is neither");
        refused(cellEdit(0, "overrides", Map.of("no_such_key", 1)), "unknown config key \"no_such_key\"");
        refused(cellEdit(0, "axes", List.of(1)), "'axes' is not an object");
        refused(plan(cells -> { }, m -> m.put("name", "../x")), "'name' \"../x\" is not a sweep name");
        refused(plan(List::clear, m -> { }), "");
    }

    @Test
    void aValidPlanReadsBackAndIdsOfSweepRunPass() throws IOException {
        Plan p = Plan.read(plan(cells -> { }, m -> { }));
        assertEquals(List.of("cnn-s1", "cnn-s2"), p.cells().stream().map(Cell::id).toList());
        // what SweepFile makes from axis values: ',' and '+' are part of the rule
        assertEquals(null, Plan.idProblem("row2-dil1,2-lr+1e-3-s1"));
    }
}
