package dev.pdecnn;

import dev.pdecnn.cli.CliRunner;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Settings} is the complete list: every property or environment variable name read anywhere in src/main is
 * a setting (read only through Settings) or a platform name; old names still set their settings; docs/settings.md
 * is the class's table; {@code devices} shows what is set.
 */
class SettingsTest {
    private static final Path SOURCES = Path.of("src/main/java");
    private static final Pattern READ = Pattern.compile(
            "\\b(?:System\\.getenv|System\\.getProperty|Boolean\\.getBoolean|Integer\\.getInteger|Long\\.getLong)"
                    + "\\(\\s*([^,)]*)|System::get(?:env|Property)");

    /** Every read in src/main: "file: argument" (the argument as written; a string literal for a name). */
    private static List<String[]> reads() throws IOException {
        List<String[]> out = new ArrayList<>();
        try (Stream<Path> files = Files.walk(SOURCES)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).sorted().toList()) {
                Matcher m = READ.matcher(Files.readString(f));
                while (m.find()) {
                    out.add(new String[]{SOURCES.relativize(f).toString(), m.group(1) == null ? m.group() : m.group(1)});
                }
            }
        }
        return out;
    }

    @Test
    void everyNameReadInTheSourcesIsListedAndSettingsAreReadOnlyThroughTheClass() throws IOException {
        List<String[]> reads = reads();
        assertTrue(reads.size() >= 10, "the scan finds the reads: " + reads.size());
        Set<String> platformRead = new TreeSet<>();
        List<String> wrong = new ArrayList<>();
        for (String[] r : reads) {
            String file = r[0], arg = r[1].strip();
            if (file.equals("dev/pdecnn/Settings.java")) {
                continue; // the one place that reads settings, by their names
            }
            if (!arg.matches("\"[^\"]+\"")) {
                wrong.add(file + ": " + arg + " (name the variable with a literal, or read it through Settings)");
                continue;
            }
            String name = arg.substring(1, arg.length() - 1);
            if (Settings.named(name) != null) {
                wrong.add(file + ": " + name + " (read it through its Settings constant)");
            } else if (!Settings.PLATFORM.containsKey(name)) {
                wrong.add(file + ": " + name + " (not listed in Settings)");
            }
            platformRead.add(name);
        }
        assertEquals(List.of(), wrong);
        assertEquals(new TreeSet<>(Settings.PLATFORM.keySet()), platformRead, "PLATFORM lists what is read");
    }

    @Test
    void everySettingIsUsedOutsideTheClass() throws IOException {
        StringBuilder all = new StringBuilder();
        try (Stream<Path> files = Files.walk(SOURCES)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java") && !p.endsWith("Settings.java")).toList()) {
                all.append(Files.readString(f));
            }
        }
        for (var field : Settings.class.getFields()) {
            if (field.getType() == Settings.Setting.class) {
                assertTrue(all.indexOf("Settings." + field.getName() + ".") >= 0, field.getName() + " is never read");
            }
        }
    }

    @Test
    void oneRuleForTheNamesAndTheOldNamesStillWork() {
        assertEquals("PDECNN_CUDA_FORCE_PTX", Settings.CUDA_FORCE_PTX.env());
        assertEquals("PDECNN_HOST_TIMEOUT_SECONDS", Settings.HOST_TIMEOUT.env());
        assertEquals("pdecnn.cpu.threads", Settings.CPU_THREADS.property());
        // the eleven names read before there was one prefix: each still sets its setting
        Map<String, Settings.Setting> before = Map.ofEntries(Map.entry("pde.threads", Settings.CPU_THREADS),
                Map.entry("pde.gemm", Settings.CPU_GEMM), Map.entry("bench.profile", Settings.BENCH_PROFILE),
                Map.entry("pdecnn.cuda.sync", Settings.CUDA_SYNC), Map.entry("PDECNN_CUDA_SYNC", Settings.CUDA_SYNC),
                Map.entry("pdecnn.cuda.dir", Settings.CUDA_DIR), Map.entry("PDECNN_CXX", Settings.CXX),
                Map.entry("pdecnn.host.timeoutSeconds", Settings.HOST_TIMEOUT),
                Map.entry("PDECNN_CUDA_FORCE_PTX", Settings.CUDA_FORCE_PTX),
                Map.entry("PDECNN_CUDA_GRAPHS", Settings.CUDA_GRAPHS), Map.entry("pdecnn.cuda.graphs", Settings.CUDA_GRAPHS),
                Map.entry("pdecnn.gpu.pool", Settings.GPU_POOL), Map.entry("PDECNN_GPU_POOL", Settings.GPU_POOL));
        before.forEach((name, s) -> assertSame(s, Settings.named(name), name));
        for (Settings.Setting s : Settings.ALL) {
            assertTrue(s.property().startsWith("pdecnn.") && s.env().startsWith("PDECNN_"), s.key());
        }

        Map<String, String> props = new HashMap<>(Map.of("pde.threads", "3"));
        Map<String, String> env = new HashMap<>();
        Optional<Settings.Value> v = Settings.CPU_THREADS.lookup(props::get, env::get);
        assertEquals("3", v.orElseThrow().text());
        assertEquals("-Dpde.threads", v.get().source());
        assertTrue(v.get().deprecated());
        assertEquals("pdecnn.cpu.threads = 3 (-Dpde.threads, a deprecated name)", v.get().describe());
        env.put("PDECNN_CPU_THREADS", "5");
        assertEquals("PDECNN_CPU_THREADS", Settings.CPU_THREADS.lookup(props::get, env::get).orElseThrow().source(),
                "the new name wins over the old one");
        props.put("pdecnn.cpu.threads", " 2 ");
        v = Settings.CPU_THREADS.lookup(props::get, env::get);
        assertEquals("2", v.orElseThrow().text(), "the property wins over the environment");
        assertFalse(v.get().deprecated());
        props.put("pdecnn.cpu.threads", " ");
        assertEquals("5", Settings.CPU_THREADS.lookup(props::get, env::get).orElseThrow().text(), "blank is unset");
        assertTrue(Settings.GPU_POOL.lookup(props::get, env::get).isEmpty());
    }

    @Test
    void flagsAndNumbers() {
        String p = Settings.BENCH_PROFILE.property();
        try {
            for (String off : List.of("0", "false", "OFF", "no")) {
                System.setProperty(p, off);
                assertFalse(Settings.BENCH_PROFILE.flag(true), off);
            }
            for (String on : List.of("1", "true", "yes")) {
                System.setProperty(p, on);
                assertTrue(Settings.BENCH_PROFILE.flag(false), on);
            }
            System.setProperty(p, "");
            assertTrue(Settings.BENCH_PROFILE.flag(true), "unset follows the default");
            System.setProperty("bench.profile", "true");
            assertTrue(Settings.BENCH_PROFILE.flag(false), "the old name");
        } finally {
            System.clearProperty(p);
            System.clearProperty("bench.profile");
        }
        String t = Settings.HOST_TIMEOUT.property();
        try {
            System.setProperty(t, "42");
            assertEquals(42, Settings.HOST_TIMEOUT.number(600));
            System.setProperty(t, "soon");
            assertEquals(600, Settings.HOST_TIMEOUT.number(600), "malformed: the default, with a note");
        } finally {
            System.clearProperty(t);
        }
    }

    @Test
    void docsListEverySetting() throws IOException {
        String doc = Files.readString(Path.of("docs/settings.md"));
        assertTrue(doc.contains(Settings.markdown()), "docs/settings.md holds Settings.markdown(); paste it:\n"
                + Settings.markdown());
    }

    @Test
    void devicesPrintsTheSettingsSet() {
        CliRunner.Result r = CliRunner.run("devices");
        assertEquals(0, r.code(), r.err());
        if (Settings.inEffect().isEmpty()) {
            assertTrue(r.out().contains("settings: all at their defaults"), r.out());
        }
        String p = Settings.BENCH_PROFILE.property();
        try {
            System.setProperty(p, "on");
            r = CliRunner.run("devices");
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("\n  pdecnn.bench.profile = on (-Dpdecnn.bench.profile)\n"), r.out());
            assertFalse(r.out().contains("pdecnn.cpu.gemm ="), "only those set: " + r.out());
        } finally {
            System.clearProperty(p);
        }
    }
}
