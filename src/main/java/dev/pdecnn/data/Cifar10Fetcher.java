package dev.pdecnn.data;

import dev.pdecnn.UserException;
import dev.pdecnn.io.AtomicFiles;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.zip.GZIPInputStream;

/**
 * Downloads the binary version of CIFAR-10 ({@value #ARCHIVE}, 170,052,171 bytes) into a cache folder,
 * checks its MD5 (the checksum published with the dataset and used by torchvision) and SHA-256 (as
 * recorded by TensorFlow Datasets), and extracts the batch files into {@code <cache>/cifar-10-batches-bin/}.
 *
 * <p>Every file is written atomically (temporary file + rename), so an interrupted fetch never leaves a
 * half-written file behind that looks valid; the archive is deleted once extracted. The connect timeout
 * is short, so that a machine without internet fails fast with a message saying what to do instead.
 */
public final class Cifar10Fetcher {
    public static final URI DEFAULT_URL = URI.create("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz");
    public static final String ARCHIVE = "cifar-10-binary.tar.gz";
    public static final String MD5 = "c32a1d4ab5d03f1284b67883e8d87530";
    public static final String SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd";
    public static final long ARCHIVE_SIZE = 170_052_171L;

    private static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration HEADERS_TIMEOUT = Duration.ofSeconds(60);
    /** Archive members copied out (by base name); anything else in the archive is skipped. */
    private static final Set<String> WANTED;

    static {
        Set<String> w = new LinkedHashSet<>(Cifar10.FILES);
        w.add(Cifar10.META_FILE);
        w.add("readme.html");
        WANTED = java.util.Collections.unmodifiableSet(w);
    }

    private final URI url;
    private final String md5;
    private final String sha256;
    private final Duration connectTimeout;

    /** The official URL and checksums. */
    public Cifar10Fetcher() {
        this(DEFAULT_URL, MD5, SHA256, DEFAULT_CONNECT_TIMEOUT);
    }

    /**
     * @param url            where to get the gzipped tar archive
     * @param md5            expected MD5 of the archive (hex); required
     * @param sha256         expected SHA-256 of the archive (hex), or null to check only the MD5
     * @param connectTimeout HTTP connect timeout; keep it short so machines without internet fail fast
     */
    public Cifar10Fetcher(URI url, String md5, String sha256, Duration connectTimeout) {
        this.url = url;
        this.md5 = md5.toLowerCase(java.util.Locale.ROOT);
        this.sha256 = sha256 == null ? null : sha256.toLowerCase(java.util.Locale.ROOT);
        this.connectTimeout = connectTimeout;
    }

    /** {@code ~/.cache/pde-trainer/cifar10}. */
    public static Path defaultCacheDir() {
        return Path.of(System.getProperty("user.home"), ".cache", "pde-trainer", "cifar10");
    }

    /** What to do instead of downloading; ends every failure message. */
    static String alternatives() {
        return "download " + DEFAULT_URL + " where there is internet access, copy it here, extract it (`mkdir -p DIR"
                + " && tar xzf " + ARCHIVE + " -C DIR`) and pass --data-dir DIR (the folder cifar-10-batches-bin,"
                + " with data_batch_1.bin .. data_batch_5.bin and test_batch.bin, is found inside it); or pass"
                + " --data-dir pointing at an image folder with train/<class>/ and test/<class>/";
    }

    /**
     * Makes {@code cacheDir} hold the six CIFAR-10 batch files (in {@code cacheDir/cifar-10-batches-bin/}),
     * downloading and extracting the archive unless they are already there, and returns the folder holding
     * them, ready for {@link Cifar10#load}. Progress goes to {@code log} (may be null).
     *
     * @throws UserException if the archive cannot be downloaded, fails its checksum or lacks files; the
     *                       message says why and what to pass instead
     */
    public Path fetch(Path cacheDir, PrintStream log) {
        PrintStream out = log != null ? log : new PrintStream(OutputStream.nullOutputStream());
        if (Cifar10.isComplete(cacheDir)) {
            Path base = Cifar10.locate(cacheDir).orElseThrow();
            out.println("cifar10: already cached in " + base);
            return base;
        }
        try {
            Files.createDirectories(cacheDir);
        } catch (IOException e) {
            throw new UserException("cannot create the CIFAR-10 cache folder " + cacheDir + " ("
                    + IdxReader.oneLine(e) + "); " + alternatives());
        }
        Path archive = cacheDir.resolve(ARCHIVE);
        if (Files.isRegularFile(archive)) {
            String problem = checkArchive(archive);
            if (problem == null) {
                out.println("cifar10: using the verified " + archive + " from an earlier download");
            } else {
                out.println("cifar10: ignoring " + archive + " (" + problem + "); downloading it again");
                download(archive, out);
            }
        } else {
            download(archive, out);
        }
        Path base = extract(archive, cacheDir, out);
        try {
            Files.deleteIfExists(archive);
        } catch (IOException ignored) {
            // Only disk space; the extracted files are what we use.
        }
        return base;
    }

    private void download(Path archive, PrintStream out) {
        HttpClient client = HttpClient.newBuilder()
                .connectTimeout(connectTimeout)
                .followRedirects(HttpClient.Redirect.NORMAL)
                .build();
        out.println("cifar10: downloading " + url + " (about 170 MB)");
        HttpResponse<InputStream> resp;
        try {
            resp = client.send(HttpRequest.newBuilder(url).timeout(HEADERS_TIMEOUT).GET().build(),
                    HttpResponse.BodyHandlers.ofInputStream());
        } catch (IOException e) {
            throw new UserException("cannot download CIFAR-10 from " + url + " (" + IdxReader.oneLine(e)
                    + "): this machine seems to have no internet access; " + alternatives(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UserException("CIFAR-10 download interrupted");
        }
        Digests d = new Digests();
        long[] got = {0};
        try (InputStream body = resp.body()) {
            if (resp.statusCode() != 200) {
                throw new UserException("cannot download CIFAR-10 from " + url + ": HTTP " + resp.statusCode()
                        + "; " + alternatives());
            }
            long announced = resp.headers().firstValueAsLong("Content-Length").orElse(-1);
            AtomicFiles.write(archive, os -> {
                byte[] buf = new byte[1 << 16];
                long nextReport = 0;
                for (int r; (r = body.read(buf)) > 0; ) {
                    d.update(buf, r);
                    os.write(buf, 0, r);
                    got[0] += r;
                    if (announced > 0 && got[0] >= nextReport) {
                        out.printf(java.util.Locale.ROOT, "cifar10:   %d%% (%d of %d bytes)%n",
                                got[0] * 100 / announced, got[0], announced);
                        nextReport += Math.max(announced / 10, 1);
                    }
                }
                String problem = d.mismatch(md5, sha256, got[0]);
                if (problem != null) {
                    // Abort the atomic write: nothing is renamed into place.
                    throw new UserException("the CIFAR-10 archive downloaded from " + url + " is corrupt: " + problem
                            + "; try again later, or " + alternatives());
                }
            });
        } catch (UserException e) {
            if (e.getCause() instanceof IOException io) {
                throw new UserException("CIFAR-10 download from " + url + " failed after " + got[0] + " bytes ("
                        + IdxReader.oneLine(io) + "); check the connection and the free space in "
                        + archive.getParent() + ", or " + alternatives(), io);
            }
            throw e;
        } catch (IOException e) {
            throw new UserException("CIFAR-10 download from " + url + " failed (" + IdxReader.oneLine(e) + "); "
                    + alternatives(), e);
        }
        out.println("cifar10:   ok, " + got[0] + " bytes, MD5" + (sha256 != null ? " and SHA-256" : "") + " verified");
    }

    /** Null if the archive's checksums match, else what is wrong. */
    private String checkArchive(Path archive) {
        Digests d = new Digests();
        long n = 0;
        try (InputStream in = Files.newInputStream(archive)) {
            byte[] buf = new byte[1 << 16];
            for (int r; (r = in.read(buf)) > 0; ) {
                d.update(buf, r);
                n += r;
            }
        } catch (IOException e) {
            return "unreadable: " + IdxReader.oneLine(e);
        }
        return d.mismatch(md5, sha256, n);
    }

    /** Copies the wanted members, by base name, into {@code cacheDir/cifar-10-batches-bin/}. */
    private static Path extract(Path archive, Path cacheDir, PrintStream out) {
        Path base = cacheDir.resolve(Cifar10.SUBFOLDER);
        out.println("cifar10: extracting " + archive.getFileName() + " into " + base);
        List<String> extracted = new ArrayList<>();
        try (InputStream in = new GZIPInputStream(new BufferedInputStream(Files.newInputStream(archive), 1 << 16), 1 << 16)) {
            TarReader tar = new TarReader(in);
            for (TarReader.Entry e; (e = tar.next()) != null; ) {
                if (!e.isFile() || !WANTED.contains(e.baseName())) {
                    continue;
                }
                InputStream content = tar.content();
                AtomicFiles.write(base.resolve(e.baseName()), os -> content.transferTo(os));
                extracted.add(e.baseName());
            }
        } catch (IOException e) {
            throw new UserException(archive + ": cannot extract (" + IdxReader.oneLine(e) + "); delete it and fetch"
                    + " again, or " + alternatives(), e);
        }
        List<String> missing = new ArrayList<>(Cifar10.FILES);
        missing.removeAll(extracted);
        if (!missing.isEmpty()) {
            throw new UserException(archive + " passed its checksum but lacks " + String.join(", ", missing)
                    + "; " + alternatives());
        }
        if (!Cifar10.isComplete(base)) {
            throw new UserException(base + ": the extracted batch files are not whole 3073-byte records; delete "
                    + base + " and fetch again, or " + alternatives());
        }
        out.println("cifar10:   ok, extracted " + String.join(", ", extracted));
        return base;
    }

    /** MD5 and SHA-256 computed together in one pass. */
    private static final class Digests {
        private final MessageDigest md5 = get("MD5");
        private final MessageDigest sha = get("SHA-256");

        void update(byte[] b, int len) {
            md5.update(b, 0, len);
            sha.update(b, 0, len);
        }

        /** Null if both match (SHA-256 only when expected), else a one-line description; consumes the digests. */
        String mismatch(String wantMd5, String wantSha, long bytes) {
            String gotMd5 = HexFormat.of().formatHex(md5.digest());
            String gotSha = HexFormat.of().formatHex(sha.digest());
            if (!gotMd5.equals(wantMd5)) {
                return "MD5 " + gotMd5 + " of " + bytes + " bytes, expected " + wantMd5;
            }
            if (wantSha != null && !gotSha.equals(wantSha)) {
                return "SHA-256 " + gotSha + " of " + bytes + " bytes, expected " + wantSha;
            }
            return null;
        }

        private static MessageDigest get(String alg) {
            try {
                return MessageDigest.getInstance(alg);
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(alg + " is mandatory in every JRE", e);
            }
        }
    }
}
