package dev.pdecnn.data;

import com.sun.net.httpserver.HttpServer;
import dev.pdecnn.UserException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Cifar10FetcherTest {
    @TempDir
    Path tmp;

    private HttpServer server;
    private final AtomicInteger requests = new AtomicInteger();
    /** What the server answers with; null means 404. */
    private volatile byte[] body;

    private final ByteArrayOutputStream logBytes = new ByteArrayOutputStream();
    private final PrintStream log = new PrintStream(logBytes, true, StandardCharsets.UTF_8);

    @BeforeEach
    void startServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/cifar/", ex -> {
            requests.incrementAndGet();
            byte[] b = body;
            if (b == null) {
                ex.sendResponseHeaders(404, -1);
            } else {
                ex.sendResponseHeaders(200, b.length);
                try (OutputStream os = ex.getResponseBody()) {
                    os.write(b);
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

    private URI url() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/cifar/" + Cifar10Fetcher.ARCHIVE);
    }

    /** The layout of the real archive, with two records per batch file. */
    static byte[] archive(List<String> files) throws IOException {
        ByteArrayOutputStream tar = new ByteArrayOutputStream();
        TestFiles.tarFile(tar, "cifar-10-batches-bin/readme.html", "<html></html>".getBytes(StandardCharsets.UTF_8));
        TestFiles.tarFile(tar, "cifar-10-batches-bin/batches.meta.txt",
                String.join("\n", Cifar10.CLASS_NAMES).getBytes(StandardCharsets.UTF_8));
        for (int f = 0; f < files.size(); f++) {
            byte[] data = new byte[2 * Cifar10.RECORD];
            for (int r = 0; r < 2; r++) {
                System.arraycopy(Cifar10Test.record((f + r) % 10, 100L * f + r), 0, data, r * Cifar10.RECORD, Cifar10.RECORD);
            }
            TestFiles.tarFile(tar, "cifar-10-batches-bin/" + files.get(f), data);
        }
        TestFiles.tarEnd(tar);
        return TestFiles.gzip(tar.toByteArray());
    }

    static String hex(String alg, byte[] data) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance(alg).digest(data));
    }

    private Cifar10Fetcher fetcher(URI u, byte[] expected) throws Exception {
        return new Cifar10Fetcher(u, hex("MD5", expected), hex("SHA-256", expected), Duration.ofSeconds(2));
    }

    private List<String> filesIn(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).map(p -> dir.relativize(p).toString()).sorted().toList();
        }
    }

    @Test
    void downloadsVerifiesAndExtracts() throws Exception {
        body = archive(Cifar10.FILES);
        Path cache = tmp.resolve("cache");
        Path base = fetcher(url(), body).fetch(cache, log);
        assertEquals(cache.resolve(Cifar10.SUBFOLDER), base);
        assertEquals(1, requests.get());
        // Only the extracted files remain: no archive, no temporaries.
        assertEquals(List.of("cifar-10-batches-bin/batches.meta.txt", "cifar-10-batches-bin/data_batch_1.bin",
                "cifar-10-batches-bin/data_batch_2.bin", "cifar-10-batches-bin/data_batch_3.bin",
                "cifar-10-batches-bin/data_batch_4.bin", "cifar-10-batches-bin/data_batch_5.bin",
                "cifar-10-batches-bin/readme.html", "cifar-10-batches-bin/test_batch.bin"), filesIn(cache));
        Split s = Cifar10.load(cache);
        assertEquals(10, s.train().n());
        assertEquals(2, s.test().n());
        assertArrayEquals(new int[]{5, 6}, s.test().labels());
        assertTrue(logBytes.toString(StandardCharsets.UTF_8).contains("MD5 and SHA-256 verified"));

        // A second fetch finds everything in place and asks nobody.
        assertEquals(base, fetcher(url(), body).fetch(cache, log));
        assertEquals(1, requests.get());
    }

    @Test
    void wrongChecksumLeavesNothingBehind() throws Exception {
        body = archive(Cifar10.FILES);
        Path cache = tmp.resolve("cache");
        byte[] other = archive(List.of("data_batch_1.bin"));
        UserException e = assertThrows(UserException.class, () -> fetcher(url(), other).fetch(cache, log));
        assertTrue(e.getMessage().contains("MD5"), e.getMessage());
        assertTrue(e.getMessage().contains("--data-dir"), e.getMessage());
        assertEquals(List.of(), filesIn(cache));

        // Right MD5, wrong SHA-256.
        Cifar10Fetcher shaOnlyWrong = new Cifar10Fetcher(url(), hex("MD5", body), hex("SHA-256", other), Duration.ofSeconds(2));
        e = assertThrows(UserException.class, () -> shaOnlyWrong.fetch(cache, log));
        assertTrue(e.getMessage().contains("SHA-256"), e.getMessage());
        assertEquals(List.of(), filesIn(cache));

        // MD5 alone (no SHA-256 known) is accepted.
        new Cifar10Fetcher(url(), hex("MD5", body), null, Duration.ofSeconds(2)).fetch(cache, log);
        assertTrue(Cifar10.isComplete(cache));
    }

    @Test
    void noConnectionSaysNoInternetAndWhatToPass() throws Exception {
        // Port 1 on loopback refuses connections, like a machine without internet.
        URI dead = URI.create("http://127.0.0.1:1/" + Cifar10Fetcher.ARCHIVE);
        long t0 = System.nanoTime();
        UserException e = assertThrows(UserException.class,
                () -> fetcher(dead, new byte[1]).fetch(tmp.resolve("cache"), log));
        assertTrue((System.nanoTime() - t0) / 1e9 < 10);
        assertTrue(e.getMessage().contains("no internet"), e.getMessage());
        assertTrue(e.getMessage().contains("--data-dir"), e.getMessage());
        assertTrue(e.getMessage().contains(Cifar10Fetcher.DEFAULT_URL + " where there is internet access"),
                e.getMessage());
        assertFalse(e.getMessage().contains("shared/data"), "a folder only this repository's CI has: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    /** Issue 23: user-facing text (messages, help) names only what a user has, never the CI's ../shared/data. */
    @Test
    void mainSourcesNameNoCiDataFolder() throws Exception {
        try (var files = Files.walk(Path.of("src/main/java"))) {
            List<String> hits = files.filter(f -> f.toString().endsWith(".java")).filter(f -> {
                try {
                    return Files.readString(f).contains("shared/data");
                } catch (IOException ex) {
                    throw new java.io.UncheckedIOException(ex);
                }
            }).map(Path::toString).toList();
            assertEquals(List.of(), hits);
        }
    }

    @Test
    void httpErrorIsReported() throws Exception {
        body = null;
        UserException e = assertThrows(UserException.class,
                () -> fetcher(url(), new byte[1]).fetch(tmp.resolve("cache"), log));
        assertTrue(e.getMessage().contains("HTTP 404"), e.getMessage());
        assertTrue(e.getMessage().contains("--data-dir"), e.getMessage());
    }

    @Test
    void reusesAVerifiedArchiveAndReplacesACorruptOne() throws Exception {
        byte[] good = archive(Cifar10.FILES);
        Path cache = tmp.resolve("cache");
        TestFiles.write(cache.resolve(Cifar10Fetcher.ARCHIVE), good);
        body = null; // any request would fail
        fetcher(url(), good).fetch(cache, log);
        assertEquals(0, requests.get());
        assertTrue(Cifar10.isComplete(cache));
        assertFalse(Files.exists(cache.resolve(Cifar10Fetcher.ARCHIVE)));

        Path cache2 = tmp.resolve("cache2");
        TestFiles.write(cache2.resolve(Cifar10Fetcher.ARCHIVE), new byte[]{1, 2, 3});
        body = good;
        fetcher(url(), good).fetch(cache2, log);
        assertEquals(1, requests.get());
        assertTrue(Cifar10.isComplete(cache2));
    }

    @Test
    void archiveMissingABatchIsAnError() throws Exception {
        body = archive(Cifar10.FILES.subList(0, 5));
        UserException e = assertThrows(UserException.class,
                () -> fetcher(url(), body).fetch(tmp.resolve("cache"), log));
        assertTrue(e.getMessage().contains("test_batch.bin"), e.getMessage());
    }

    @Test
    void defaultsAreTheOfficialOnes() {
        assertEquals("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", Cifar10Fetcher.DEFAULT_URL.toString());
        assertEquals("c32a1d4ab5d03f1284b67883e8d87530", Cifar10Fetcher.MD5);
        assertTrue(Cifar10Fetcher.defaultCacheDir().endsWith(Path.of(".cache", "pde-trainer", "cifar10")));
    }
}
