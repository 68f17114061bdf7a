package dev.pdecnn.data;

import dev.pdecnn.UserException;
import dev.pdecnn.io.AtomicFiles;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DirectColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.zip.CRC32C;
import java.util.zip.CheckedInputStream;
import java.util.zip.CheckedOutputStream;

/**
 * Loads an image-folder dataset: {@code dir/train/<class>/*.png|jpg|jpeg} and {@code dir/test/<class>/*}.
 *
 * <p><b>Classes and order.</b> The classes are the sorted sub-folder names of {@code train/} (hidden
 * folders, whose names start with '.', are skipped); {@code test/} must have exactly the same ones. Label
 * {@code i} is the {@code i}-th class. Samples are ordered by class, then by file name, so the result
 * does not depend on the file system's listing order or on thread timing. Note that this order is
 * class-sorted: {@link Dataset#subset(int)} (a prefix) would then hold only the first classes; use
 * {@link Dataset#evenSubset(int)} for quick runs on such a dataset.
 *
 * <p><b>Images.</b> Decoded with {@code javax.imageio} (PNG, baseline and progressive JPEG) on
 * one thread per core ({@link #THREADS}). All images must have one size. If every image is grayscale the dataset has
 * one channel; otherwise three (RGB; palette PNGs count as RGB) and a grayscale image among colour ones is
 * an error, since a mixed folder usually means stray files. Alpha is dropped. Sample values above 8 bits
 * (16-bit PNG) are scaled to 0..255.
 *
 * <p><b>Cache.</b> Decoding tens of thousands of files takes a while, so the decoded pixels, labels and
 * class names of both splits are stored in one binary file, {@code dir/.pde-cache/}{@value #CACHE_FILE}
 * when {@code dir} is writable, else {@code ~/.cache/pde-trainer/imagefolder/<sha-256 of dir's real
 * path>/}. It is keyed by a fingerprint of the image list (relative paths, sizes, modification times)
 * and carries a CRC-32C of its content; a stale, truncated or otherwise unreadable cache is ignored and
 * rebuilt, never an error. It is written atomically, so a killed run never leaves a half-written cache
 * that looks valid.
 */
public final class ImageFolder {
    /** Accepted file extensions (case-insensitive); other files in class folders are ignored. */
    public static final List<String> EXTENSIONS = List.of("png", "jpg", "jpeg");
    public static final String TRAIN = "train";
    public static final String TEST = "test";
    /** Cache folder inside the dataset folder. */
    public static final String CACHE_FOLDER = ".pde-cache";
    /** Cache file name; the version in the name changes whenever the format or decoding changes. */
    public static final String CACHE_FILE = "imagefolder-v1.bin";
    /** Decoder threads: every core (decoding is the whole cost of a first load; a GPU host has many). */
    static final int THREADS = Math.max(1, Math.min(32, Runtime.getRuntime().availableProcessors()));

        /** Images decoded per work item; small enough to balance the threads, large enough to be cheap. */
    private static final int BLOCK = 64;
    private static final long PROGRESS_INTERVAL_MS = 10_000;

    private ImageFolder() {
    }

    /** The outcome of a load, with how it was obtained (for logs and tests). */
    record Result(Split split, boolean fromCache, Path cacheFile, int decoded) {
    }

    /** One image file. {@code rel} is its path relative to the dataset folder, with '/' separators. */
    record Entry(Path file, String rel, int label, long size, long mtime) {
    }

    /** The scanned folder: classes, both splits' files in load order, and their fingerprint. */
    record Listing(List<String> classes, List<Entry> train, List<Entry> test, byte[] fingerprint,
                   int ignored, String ignoredExample) {
    }

    /**
     * Loads both splits, from the cache when it is up to date. The datasets are named after the folder.
     * Progress lines go to {@code log} (may be null).
     */
    public static Split load(Path dir, PrintStream log) {
        return load(dir, log, defaultName(dir));
    }

    /** Like {@link #load(Path, PrintStream)}, naming the datasets {@code name} (e.g. "cifar10"). */
    public static Split load(Path dir, PrintStream log, String name) {
        return loadDetailed(dir, log, name, userCacheRoot()).split();
    }

    /** {@code ~/.cache/pde-trainer/imagefolder}, for folders where the cache cannot be written next to the images. */
    public static Path userCacheRoot() {
        return Path.of(System.getProperty("user.home"), ".cache", "pde-trainer", "imagefolder");
    }

    /**
     * Whether {@code dir} looks like an image folder: it has {@code train/} and {@code test/} folders, and
     * {@code train/} has at least one (non-hidden) sub-folder. Cheap; does not validate anything else.
     */
    public static boolean looksLike(Path dir) {
        if (!Files.isDirectory(dir.resolve(TRAIN)) || !Files.isDirectory(dir.resolve(TEST))) {
            return false;
        }
        try {
            return !classFolders(dir.resolve(TRAIN)).isEmpty();
        } catch (IOException e) {
            return false;
        }
    }

    /** The two places a cache may live, in lookup (and write) order. */
    static List<Path> cacheCandidates(Path dir, Path userCacheRoot) {
        Path real;
        try {
            real = dir.toRealPath();
        } catch (IOException e) {
            real = dir.toAbsolutePath().normalize();
        }
        String key = HexFormat.of().formatHex(sha256(real.toString().getBytes(StandardCharsets.UTF_8))).substring(0, 32);
        return List.of(dir.resolve(CACHE_FOLDER).resolve(CACHE_FILE), userCacheRoot.resolve(key).resolve(CACHE_FILE));
    }

    static Result loadDetailed(Path dir, PrintStream log, String name, Path userCacheRoot) {
        PrintStream out = log != null ? log : new PrintStream(OutputStream.nullOutputStream());
        if (!Files.isDirectory(dir)) {
            throw new UserException("image folder " + dir + " does not exist or is not a folder; pass --data-dir "
                    + "pointing at a folder with train/<class>/ and test/<class>/ sub-folders of PNG or JPEG files");
        }
        long t0 = System.nanoTime();
        Listing listing = scan(dir);
        if (listing.ignored() > 0) {
            out.println(name + ": ignored " + listing.ignored() + " entr" + (listing.ignored() == 1 ? "y" : "ies")
                    + " in the class folders that are not ." + String.join("/.", EXTENSIONS) + " files (e.g. "
                    + listing.ignoredExample() + ")");
        }

        List<Path> candidates = cacheCandidates(dir, userCacheRoot);
        List<Path> unusable = new ArrayList<>();
        String why = "first run";
        for (Path c : candidates) {
            if (!Files.isRegularFile(c)) {
                continue;
            }
            ImageFolderCache.Read r = ImageFolderCache.read(c, listing.fingerprint(), name);
            if (r.split() != null) {
                Split s = r.split();
                out.printf(Locale.ROOT, "%s: loaded %d images (%d train + %d test, %dx%dx%d, %d classes) from the cache %s"
                                + " in %.1f s%n", name, s.train().n() + s.test().n(), s.train().n(), s.test().n(),
                        s.train().c(), s.train().h(), s.train().w(), s.train().numClasses(), c,
                        (System.nanoTime() - t0) / 1e9);
                return new Result(s, true, c, 0);
            }
            unusable.add(c);
            why = r.problem();
            if (!r.stale()) {
                out.println(name + ": ignoring the unreadable cache " + c + " (" + r.problem() + ")");
            }
        }

        int total = listing.train().size() + listing.test().size();
        out.println(name + ": decoding " + total + " images (" + listing.train().size() + " train + "
                + listing.test().size() + " test) in " + dir + " on " + THREADS + " threads (" + why
                + "; cached afterwards)");
        long t1 = System.nanoTime();
        Split split = decode(listing, name, out);
        out.printf(Locale.ROOT, "%s: decoded %d images (%dx%dx%d, %d classes) in %.1f s%n", name, total,
                split.train().c(), split.train().h(), split.train().w(), split.train().numClasses(),
                (System.nanoTime() - t1) / 1e9);

        Path written = null;
        List<String> failures = new ArrayList<>();
        for (Path c : candidates) {
            try {
                ImageFolderCache.write(c, listing.fingerprint(), split);
                written = c;
                break;
            } catch (UserException e) {
                failures.add(e.getMessage());
            }
        }
        if (written == null) {
            out.println(name + ": could not write the decoded-image cache (" + String.join("; ", failures)
                    + "); the next run decodes again");
        } else {
            out.println(name + ": cached the decoded images in " + written);
            for (Path u : unusable) {
                if (!u.equals(written)) {
                    try {
                        Files.deleteIfExists(u);
                    } catch (IOException ignored) {
                        // A leftover stale cache is only wasted disk space.
                    }
                }
            }
        }
        return new Result(split, false, written, total);
    }

    static String defaultName(Path dir) {
        Path abs = dir.toAbsolutePath().normalize();
        Path fn = abs.getFileName();
        return fn == null ? "folder" : fn.toString();
    }

    // ------------------------------------------------------------------------------------------------
    // Scanning

    static Listing scan(Path dir) {
        Path trainDir = dir.resolve(TRAIN);
        Path testDir = dir.resolve(TEST);
        for (Path p : List.of(trainDir, testDir)) {
            if (!Files.isDirectory(p)) {
                throw new UserException(p + " not found; an image folder needs train/<class>/ and test/<class>/ "
                        + "sub-folders holding ." + String.join("/.", EXTENSIONS) + " files");
            }
        }
        List<String> trainClasses;
        List<String> testClasses;
        try {
            trainClasses = classFolders(trainDir);
            testClasses = classFolders(testDir);
        } catch (IOException e) {
            throw new UserException(dir + ": cannot list the class folders (" + IdxReader.oneLine(e) + ")", e);
        }
        if (trainClasses.isEmpty()) {
            throw new UserException(trainDir + " has no class sub-folders; put each class's images in "
                    + trainDir + "/<class>/");
        }
        if (!trainClasses.equals(testClasses)) {
            TreeSet<String> onlyTrain = new TreeSet<>(trainClasses);
            testClasses.forEach(onlyTrain::remove);
            TreeSet<String> onlyTest = new TreeSet<>(testClasses);
            trainClasses.forEach(onlyTest::remove);
            List<String> parts = new ArrayList<>();
            if (!onlyTrain.isEmpty()) {
                parts.add("only in train/: " + String.join(", ", onlyTrain));
            }
            if (!onlyTest.isEmpty()) {
                parts.add("only in test/: " + String.join(", ", onlyTest));
            }
            throw new UserException(dir + ": train/ and test/ have different class folders (" + String.join("; ", parts)
                    + "); both need the same class sub-folders");
        }
        int[] ignored = {0};
        String[] example = {null};
        List<Entry> train = new ArrayList<>();
        List<Entry> test = new ArrayList<>();
        for (int label = 0; label < trainClasses.size(); label++) {
            String cls = trainClasses.get(label);
            listImages(trainDir.resolve(cls), TRAIN + "/" + cls, label, train, ignored, example);
            listImages(testDir.resolve(cls), TEST + "/" + cls, label, test, ignored, example);
        }
        MessageDigest md = newSha256();
        md.update(("pde-trainer imagefolder v" + ImageFolderCache.FORMAT_VERSION + "\n").getBytes(StandardCharsets.UTF_8));
        for (List<Entry> part : List.of(train, test)) {
            for (Entry e : part) {
                md.update((e.rel() + "\0" + e.size() + "\0" + e.mtime() + "\n").getBytes(StandardCharsets.UTF_8));
            }
            md.update((byte) '\f');
        }
        return new Listing(trainClasses, train, test, md.digest(), ignored[0], example[0]);
    }

    /** Sorted names of the non-hidden sub-folders. */
    private static List<String> classFolders(Path splitDir) throws IOException {
        List<String> names = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(splitDir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (!n.startsWith(".") && Files.isDirectory(p)) {
                    names.add(n);
                }
            }
        }
        names.sort(null);
        return names;
    }

    private static void listImages(Path classDir, String relDir, int label, List<Entry> into, int[] ignored,
                                   String[] example) {
        List<Entry> found = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(classDir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (n.startsWith(".")) {
                    continue; // .DS_Store, editor swap files, our own temporaries
                }
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                if (!a.isRegularFile() || !hasImageExtension(n)) {
                    if (ignored[0]++ == 0) {
                        example[0] = relDir + "/" + n + (a.isDirectory() ? "/" : "");
                    }
                    continue;
                }
                found.add(new Entry(p, relDir + "/" + n, label, a.size(), a.lastModifiedTime().toMillis()));
            }
        } catch (NoSuchFileException e) {
            throw new UserException(classDir + " not found (it vanished while being listed)");
        } catch (IOException e) {
            throw new UserException(classDir + ": cannot list (" + IdxReader.oneLine(e) + ")", e);
        }
        if (found.isEmpty()) {
            throw new UserException(classDir + " has no ." + String.join("/.", EXTENSIONS) + " images; every class "
                    + "needs images in both train/ and test/ (add some, or remove the class folder from both)");
        }
        found.sort((x, y) -> x.file().getFileName().toString().compareTo(y.file().getFileName().toString()));
        into.addAll(found);
    }

    public static boolean hasImageExtension(String fileName) {
        int dot = fileName.lastIndexOf('.');
        return dot > 0 && EXTENSIONS.contains(fileName.substring(dot + 1).toLowerCase(Locale.ROOT));
    }

    // ------------------------------------------------------------------------------------------------
    // Decoding

    /** One decoded image's properties; pixels go straight into the output arrays. */
    private record Decoded(int w, int h, boolean gray) {
    }

    private static Split decode(Listing listing, String name, PrintStream out) {
        List<Entry> all = new ArrayList<>(listing.train().size() + listing.test().size());
        all.addAll(listing.train());
        all.addAll(listing.test());
        int nTrain = listing.train().size();
        int total = all.size();

        // The first image fixes the size every other image must have.
        BufferedImage img0 = ImageDecoder.read(all.get(0).file());
        int w = img0.getWidth();
        int h = img0.getHeight();
        long plane = (long) w * h;
        if (3L * plane * Math.max(nTrain, total - nTrain) > Integer.MAX_VALUE - 8) {
            throw new UserException(all.get(0).file() + ": " + total + " images of " + w + "x" + h
                    + " are more than this loader can hold in memory arrays; use smaller images or fewer of them");
        }
        // Decode into a three-channel layout; an all-grayscale set is compacted to one channel at the end.
        byte[][] pix = {new byte[(int) (3 * plane * nTrain)], new byte[(int) (3 * plane * (total - nTrain))]};
        boolean[] gray = new boolean[total];

        AtomicInteger nextBlock = new AtomicInteger();
        AtomicInteger done = new AtomicInteger();
        // Index of the earliest failed image so far; blocks after it are skipped, blocks before it still run,
        // so the reported error is the first bad file in load order no matter how the threads interleave.
        AtomicInteger firstBad = new AtomicInteger(Integer.MAX_VALUE);
        Map<Integer, RuntimeException> problems = new java.util.concurrent.ConcurrentHashMap<>();
        AtomicReference<Throwable> crash = new AtomicReference<>();
        int blocks = (total + BLOCK - 1) / BLOCK;
        Runnable worker = () -> {
            try {
                for (int b; (b = nextBlock.getAndIncrement()) < blocks; ) {
                    int start = b * BLOCK;
                    if (start > firstBad.get()) {
                        break;
                    }
                    int end = Math.min(total, start + BLOCK);
                    for (int i = start; i < end; i++) {
                        Entry e = all.get(i);
                        try {
                            BufferedImage img = i == 0 ? img0 : ImageDecoder.read(e.file());
                            if (img.getWidth() != w || img.getHeight() != h) {
                                throw new UserException(e.file() + " is " + img.getWidth() + "x" + img.getHeight()
                                        + " (width x height) but the images are expected to be " + w + "x" + h
                                        + " like the first one, " + all.get(0).file() + "; all images must have one size "
                                        + "(resize them, or remove the odd ones)");
                            }
                            int dst = (int) (3 * plane * (i < nTrain ? i : i - nTrain));
                            gray[i] = extract(img, pix[i < nTrain ? 0 : 1], dst, (int) plane);
                        } catch (RuntimeException ex) {
                            problems.put(i, ex);
                            firstBad.accumulateAndGet(i, Math::min);
                            break;
                        }
                    }
                    done.addAndGet(end - start);
                }
            } catch (Throwable t) {
                crash.compareAndSet(null, t);
                firstBad.set(-1);
            }
        };
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            Thread th = new Thread(worker, "imagefolder-decode-" + t);
            th.setDaemon(true);
            th.start();
            threads.add(th);
        }
        long lastReport = System.currentTimeMillis();
        try {
            for (Thread th : threads) {
                while (th.isAlive()) {
                    th.join(1000);
                    long now = System.currentTimeMillis();
                    if (now - lastReport >= PROGRESS_INTERVAL_MS && th.isAlive()) {
                        out.println(name + ":   decoded " + done.get() + " / " + total + " images");
                        lastReport = now;
                    }
                }
            }
        } catch (InterruptedException e) {
            firstBad.set(-1);
            Thread.currentThread().interrupt();
            throw new UserException("decoding " + total + " images was interrupted");
        }
        if (crash.get() != null) {
            Throwable t = crash.get();
            if (t instanceof RuntimeException re) {
                throw re;
            }
            if (t instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException(t);
        }
        if (!problems.isEmpty()) {
            int first = problems.keySet().stream().min(Integer::compare).orElseThrow();
            throw problems.get(first);
        }

        int nGray = 0;
        int firstGray = -1;
        int firstColour = -1;
        for (int i = 0; i < total; i++) {
            if (gray[i]) {
                nGray++;
                if (firstGray < 0) {
                    firstGray = i;
                }
            } else if (firstColour < 0) {
                firstColour = i;
            }
        }
        int c = 3;
        if (nGray == total) {
            c = 1;
            for (int s = 0; s < 2; s++) {
                int n = (int) (pix[s].length / (3 * plane));
                byte[] one = new byte[(int) (n * plane)];
                for (int i = 0; i < n; i++) {
                    System.arraycopy(pix[s], (int) (3 * plane * i), one, (int) (plane * i), (int) plane);
                }
                pix[s] = one;
            }
        } else if (nGray > 0) {
            throw new UserException(all.get(firstGray).file() + " is a grayscale image but " + all.get(firstColour).file()
                    + " is in colour (" + nGray + " of " + total + " images are grayscale); a folder mixing the two "
                    + "usually holds stray files: convert them all to RGB (or all to grayscale), or remove the odd ones");
        }
        int[] trainLabels = listing.train().stream().mapToInt(Entry::label).toArray();
        int[] testLabels = listing.test().stream().mapToInt(Entry::label).toArray();
        return new Split(new Dataset(name, pix[0], trainLabels, c, h, w, listing.classes()),
                new Dataset(name, pix[1], testLabels, c, h, w, listing.classes()));
    }

    /**
     * Writes the image into {@code dst} at {@code off} as three planes of {@code plane} bytes (R, G, B), or,
     * for a grayscale image, only the first plane. Returns whether the image is grayscale.
     */
    static boolean extract(BufferedImage img, byte[] dst, int off, int plane) {
        int w = img.getWidth();
        int h = img.getHeight();
        ColorModel cm = img.getColorModel();
        Raster r = img.getRaster();
        int[] buf = new int[plane];
        if (!(cm instanceof IndexColorModel) && cm.getColorSpace().getType() == ColorSpace.TYPE_GRAY) {
            // Read the raw samples: getRGB() would push linear-gray images through a gamma curve.
            r.getSamples(0, 0, w, h, 0, buf);
            store(buf, cm.getComponentSize(0), dst, off);
            return true;
        }
        if ((cm instanceof ComponentColorModel || cm instanceof DirectColorModel) && cm.getColorSpace().isCS_sRGB()
                && cm.getNumColorComponents() == 3) {
            for (int b = 0; b < 3; b++) {
                r.getSamples(0, 0, w, h, b, buf);
                store(buf, cm.getComponentSize(b), dst, off + b * plane);
            }
            return false;
        }
        // Palette images and anything in another colour space: let Java2D convert to sRGB.
        int[] argb = img.getRGB(0, 0, w, h, null, 0, w);
        for (int i = 0; i < plane; i++) {
            int v = argb[i];
            dst[off + i] = (byte) (v >> 16);
            dst[off + plane + i] = (byte) (v >> 8);
            dst[off + 2 * plane + i] = (byte) v;
        }
        return false;
    }

    private static void store(int[] samples, int bits, byte[] dst, int off) {
        if (bits == 8) {
            for (int i = 0; i < samples.length; i++) {
                dst[off + i] = (byte) samples[i];
            }
            return;
        }
        long max = (1L << bits) - 1;
        for (int i = 0; i < samples.length; i++) {
            dst[off + i] = (byte) ((samples[i] * 255L * 2 + max) / (2 * max)); // rounded v * 255 / max
        }
    }

    // ------------------------------------------------------------------------------------------------

    private static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is mandatory in every JRE", e);
        }
    }

    private static byte[] sha256(byte[] data) {
        return newSha256().digest(data);
    }
}
