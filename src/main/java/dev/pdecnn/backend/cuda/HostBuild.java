package dev.pdecnn.backend.cuda;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Compiles the kernel sources of {@code src/main/cuda} for the CPU, with the emulation header
 * {@code host/cuda_host.h}, into the host driver {@code pdecnn-host} that {@link HostKernelRunner} talks to.
 *
 * <p>Cached: the executable lands in {@code target/cuda-host/<hash>/} where the hash covers the compiler's
 * version, the flags and every source and header, so an unchanged tree reuses it and any edit rebuilds.
 * Translation units compile in parallel (one per core). The compiler is {@code g++} on the PATH, or the
 * {@code PDECNN_CXX} environment variable; without one, {@link #build()} reports why instead of failing.
 *
 * <p>Flags: C++20 for {@code std::atomic_ref}; {@code -ffp-contract=off} so that no multiply-add is fused,
 * as in Java, which keeps host float results comparable bit for bit where the operation order matches.
 */
public final class HostBuild {
    static final List<String> FLAGS = List.of("-O2", "-std=c++20", "-pthread", "-ffp-contract=off", "-fno-fast-math",
            "-Wall", "-Wno-unknown-pragmas");

    /** The executable, or why there is none. */
    public record Result(Path executable, String reason) {
        public boolean ok() {
            return executable != null;
        }
    }

    private HostBuild() {
    }

    /** The kernel source directory: property {@code pdecnn.cuda.dir}, else {@code src/main/cuda} of the project. */
    public static Path sourceDir() {
        String dir = dev.pdecnn.Settings.CUDA_DIR.text();
        if (dir != null) {
            return Path.of(dir);
        }
        return projectDir().resolve("src/main/cuda");
    }

    static Path projectDir() {
        String basedir = System.getProperty("basedir");
        return basedir != null ? Path.of(basedir) : Path.of("").toAbsolutePath();
    }

    /** Builds (or finds in the cache) the host driver for the sources of {@link #sourceDir()}. */
    public static synchronized Result build() {
        Path src = sourceDir();
        if (!Files.isRegularFile(src.resolve("host/driver.cpp"))) {
            return new Result(null, "kernel sources not found at " + src.toAbsolutePath()
                    + " (set -Dpdecnn.cuda.dir to the project's src/main/cuda)");
        }
        String cxx = dev.pdecnn.Settings.CXX.text("g++");
        String version;
        try {
            version = run(List.of(cxx, "--version"), null).lines().findFirst().orElse("?");
        } catch (IOException e) {
            return new Result(null, "no C++ compiler: '" + cxx + " --version' failed (" + e.getMessage()
                    + "); install g++ (12 or newer) or set PDECNN_CXX");
        }
        try {
            List<Path> units = translationUnits(src);
            String hash = hash(src, version);
            Path outDir = projectDir().resolve("target/cuda-host").resolve(hash);
            Path exe = outDir.resolve("pdecnn-host");
            if (Files.isExecutable(exe)) {
                return new Result(exe, null);
            }
            Files.createDirectories(outDir);
            Path objDir = Files.createTempDirectory(outDir, "obj");
            int threads = Math.max(1, Runtime.getRuntime().availableProcessors());
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            List<Path> objects = new ArrayList<>();
            List<Future<String>> jobs = new ArrayList<>();
            try {
                for (Path unit : units) {
                    Path obj = objDir.resolve(src.relativize(unit).toString().replace('/', '_') + ".o");
                    objects.add(obj);
                    List<String> cmd = new ArrayList<>(List.of(cxx));
                    cmd.addAll(FLAGS);
                    cmd.addAll(List.of("-I", src.toString(), "-x", "c++", "-c", unit.toString(), "-o", obj.toString()));
                    jobs.add(pool.submit(() -> run(cmd, null)));
                }
                for (Future<String> job : jobs) {
                    job.get();
                }
            } catch (java.util.concurrent.ExecutionException e) {
                Throwable c = e.getCause();
                return new Result(null, "host build of the kernels failed: " + c.getMessage());
            } finally {
                pool.shutdownNow();
                pool.awaitTermination(1, TimeUnit.MINUTES);
            }
            List<String> link = new ArrayList<>(List.of(cxx, "-pthread"));
            objects.forEach(o -> link.add(o.toString()));
            Path tmp = Files.createTempFile(outDir, "pdecnn-host", ".tmp");
            link.addAll(List.of("-o", tmp.toString()));
            run(link, null);
            Files.move(tmp, exe, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            try (Stream<Path> s = Files.list(objDir)) {
                for (Path p : (Iterable<Path>) s::iterator) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(objDir);
            return new Result(exe, null);
        } catch (IOException e) {
            return new Result(null, "host build of the kernels failed: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(null, "host build interrupted");
        }
    }

    /** Every kernel source (*.cu in the directory and in host/) and the driver. */
    static List<Path> translationUnits(Path src) throws IOException {
        List<Path> units = new ArrayList<>();
        try (Stream<Path> s = Files.list(src)) {
            s.filter(p -> p.toString().endsWith(".cu")).sorted().forEach(units::add);
        }
        try (Stream<Path> s = Files.list(src.resolve("host"))) {
            s.filter(p -> p.toString().endsWith(".cu") || p.toString().endsWith(".cpp")).sorted().forEach(units::add);
        }
        return units;
    }

    private static String hash(Path src, String compilerVersion) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(compilerVersion.getBytes(StandardCharsets.UTF_8));
            md.update(String.join(" ", FLAGS).getBytes(StandardCharsets.UTF_8));
            List<Path> files;
            try (Stream<Path> s = Files.walk(src)) {
                files = s.filter(Files::isRegularFile).sorted().toList();
            }
            for (Path f : files) {
                md.update(src.relativize(f).toString().getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0);
                md.update(Files.readAllBytes(f));
                md.update((byte) 0);
            }
            return HexFormat.of().formatHex(md.digest()).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Runs a command, returns its output, throws IOException with the output when it fails. */
    static String run(List<String> cmd, Path dir) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        if (dir != null) {
            pb.directory(dir.toFile());
        }
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            int rc = p.waitFor();
            if (rc != 0) {
                throw new IOException(String.join(" ", cmd) + " exited " + rc + ":\n" + tail(out, 4000));
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + String.join(" ", cmd));
        }
        return out;
    }

    private static String tail(String s, int n) {
        return s.length() <= n ? s : "..." + s.substring(s.length() - n);
    }
}
