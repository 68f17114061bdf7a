package dev.pdecnn;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * No upward import in src/main: every package of dev.pdecnn sits in one layer of {@link #LAYERS}, and a class uses
 * (imports, or names by its full name in code) only classes of its own layer or of the layers below. Comments and
 * string literals are left out, so a javadoc link or a class name in a message does not count.
 */
class LayersTest {
    /**
     * Top first: cli -> bench/predict -> export/sweep -> train/report -> models -> nn/data/viz -> backend/config/io
     * -> tensor (docs/design.md), with run and selfcheck among the upper layers, backend split into its own order
     * (open above the implementations above the interfaces), and the root package (Settings, UserException) last.
     */
    static final List<List<String>> LAYERS = List.of(
            List.of("cli"),
            List.of("bench", "predict", "selfcheck"),
            List.of("export", "sweep"),
            List.of("run"),
            List.of("train", "report"),
            List.of("models"),
            List.of("nn", "data", "viz"),
            List.of("backend.open"),
            List.of("backend.cpu", "backend.cuda", "backend.reference"),
            List.of("backend"),
            List.of("config", "io"),
            List.of("tensor"),
            List.of(""));

    private static final Path MAIN = Path.of("src/main/java/dev/pdecnn");
    private static final Pattern USE = Pattern.compile("\\bdev\\.pdecnn\\.((?:[a-z][a-z0-9_]*\\.)*)[A-Z]");

    /** The layer of a package ("backend.cuda"; "" for the root), by its longest listed prefix; -1 when none. */
    static int layer(String pkg) {
        int best = -1, bestLength = -1;
        for (int i = 0; i < LAYERS.size(); i++) {
            for (String p : LAYERS.get(i)) {
                boolean covers = p.isEmpty() || pkg.equals(p) || pkg.startsWith(p + ".");
                if (covers && p.length() > bestLength) {
                    best = i;
                    bestLength = p.length();
                }
            }
        }
        return best;
    }

    /** The code of a Java source without its comments and the contents of its string and char literals. */
    static String code(String src) {
        StringBuilder out = new StringBuilder(src.length());
        int i = 0, n = src.length();
        while (i < n) {
            char c = src.charAt(i);
            if (src.startsWith("//", i)) {
                i = src.indexOf('\n', i) < 0 ? n : src.indexOf('\n', i);
            } else if (src.startsWith("/*", i)) {
                int end = src.indexOf("*/", i + 2);
                i = end < 0 ? n : end + 2;
                out.append(' ');
            } else if (src.startsWith("\"\"\"", i)) {
                int end = src.indexOf("\"\"\"", i + 3);
                i = end < 0 ? n : end + 3;
                out.append("\"\"");
            } else if (c == '"' || c == '\'') {
                int j = i + 1;
                while (j < n && src.charAt(j) != c) {
                    j += src.charAt(j) == '\\' ? 2 : 1;
                }
                i = j + 1;
                out.append(c).append(c);
            } else {
                out.append(c);
                i++;
            }
        }
        return out.toString();
    }

    /** Every use of a class in a layer above, as "from -> to (File.java)". */
    static List<String> upward() throws IOException {
        return uses((from, to) -> layer(to) < layer(from));
    }

    /** Every use from package {@code from} of package {@code to} that {@code bad} flags, as "from -> to (File.java)". */
    static List<String> uses(java.util.function.BiPredicate<String, String> bad) throws IOException {
        List<String> found = new ArrayList<>();
        try (Stream<Path> files = Files.walk(MAIN)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).sorted().toList()) {
                String from = MAIN.relativize(f.getParent() == null ? MAIN : f.getParent()).toString()
                        .replace(f.getFileSystem().getSeparator(), ".");
                assertTrue(layer(from) >= 0, "package '" + from + "' of " + f + " is in no layer of LayersTest.LAYERS");
                Matcher m = USE.matcher(code(Files.readString(f)));
                while (m.find()) {
                    String to = m.group(1).isEmpty() ? "" : m.group(1).substring(0, m.group(1).length() - 1);
                    if (bad.test(from, to)) {
                        found.add((from.isEmpty() ? "dev.pdecnn" : from) + " -> " + to + " (" + f.getFileName() + ")");
                    }
                }
            }
        }
        return found.stream().distinct().toList();
    }

    @Test
    void noPackageImportsFromALayerAbove() throws IOException {
        assertEquals(List.of(), upward());
    }

    /**
     * Devices are opened and listed through backend.open; besides backend itself only the two that deal with a GPU
     * as such name the CUDA package: run (--device: probing, and a device failure as a one-line error) and selfcheck
     * (the kernel checks). The CLI, training, models and the rest ask for a device by name.
     */
    @Test
    void onlyTheDevicePackagesNameCuda() throws IOException {
        List<String> allowed = List.of("backend", "run", "selfcheck");
        assertEquals(List.of(), uses((from, to) -> (to.equals("backend.cuda") || to.startsWith("backend.cuda."))
                && allowed.stream().noneMatch(a -> from.equals(a) || from.startsWith(a + "."))));
    }

    @Test
    void everyPackageHasALayer() throws IOException {
        Map<String, Integer> seen = new TreeMap<>();
        try (Stream<Path> dirs = Files.walk(MAIN)) {
            dirs.filter(Files::isDirectory).forEach(d -> {
                String pkg = MAIN.relativize(d).toString().replace(d.getFileSystem().getSeparator(), ".");
                seen.put(pkg, layer(pkg));
            });
        }
        seen.forEach((pkg, l) -> assertTrue(l >= 0, "package '" + pkg + "' is in no layer"));
        assertNotNull(seen.get("backend.open"));
    }

    /** The checker itself: comments and strings do not count, full names in code do, and the order holds. */
    @Test
    void theCheckerSeesCodeOnly() {
        String src = "import dev.pdecnn.tensor.Tensor; // dev.pdecnn.cli.Main\n/* {@link dev.pdecnn.cli.Main} */\n"
                + "String s = \"dev.pdecnn.cli.Main\"; char q = '\"'; var x = new dev.pdecnn.train.Trainer();";
        Matcher m = USE.matcher(code(src));
        List<String> uses = new ArrayList<>();
        while (m.find()) {
            uses.add(m.group(1));
        }
        assertEquals(List.of("tensor.", "train."), uses);
        assertTrue(layer("cli") < layer("sweep") && layer("sweep") < layer("report") && layer("report") < layer("config"));
        assertTrue(layer("backend.open") < layer("backend.cuda") && layer("backend.cuda") < layer("backend"));
        assertEquals(layer("export"), layer("export.onnx"), "a sub-package sits with its parent unless listed");
        assertEquals(LAYERS.size() - 1, layer(""));
    }
}
