package dev.pdecnn.train;

import dev.pdecnn.UserException;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;

/**
 * A run folder owned by this process: an OS lock on {@code RUN/.lock}, held until {@link #close()}. Two processes
 * writing one folder would silently replace each other's checkpoints and metrics, so every way into a folder
 * (a new run, a fork, an in-place resume) goes through here, and a second process is refused with one line
 * naming the holder. The lock file itself stays behind when the run ends: deleting it could let two later
 * processes lock two different inodes of the same name.
 */
public final class RunFolder implements AutoCloseable {
    public static final String LOCK_FILE = ".lock";
    /** Files whose presence means the folder holds (or held) a run. */
    private static final List<String> RUN_FILES = List.of("config.json", "last.safetensors", "best.safetensors",
            "metrics.csv", "summary.json");
    /** The run files that record training done; a folder with only the others stopped before its first checkpoint. */
    private static final List<String> PROGRESS_FILES = RUN_FILES.subList(1, RUN_FILES.size());

    /**
     * The refusal when another process holds a folder's lock: a {@link UserException} of its own type, so that a
     * caller racing for the folder (two {@code sweep cell}s of one index) can tell "busy" from a failure.
     */
    public static final class Busy extends UserException {
        private static final long serialVersionUID = 1L;

        Busy(String message) {
            super(message);
        }
    }

    private final Path dir;
    private final FileChannel channel;
    private final FileLock lock;
    private final boolean created;
    /** Set by {@link #claimNew} when it took over a folder whose earlier start stopped before its first checkpoint. */
    private boolean restarted;

    private RunFolder(Path dir, FileChannel channel, FileLock lock, boolean created) {
        this.dir = dir;
        this.channel = channel;
        this.lock = lock;
        this.created = created;
    }

    /** True when this new run reuses a folder that held only the config of a start without any checkpoint. */
    public boolean restarted() {
        return restarted;
    }

    public Path dir() {
        return dir;
    }

    /**
     * A new folder {@code parent/base}, or {@code base-2}, {@code base-3}, ... when taken. Each name is claimed by
     * an atomic {@link Files#createDirectory}, so two runs started in the same second never share a folder.
     */
    public static RunFolder createUnique(Path parent, String base) {
        mkdirs(parent);
        for (int i = 1; i <= 10_000; i++) {
            Path dir = parent.resolve(i == 1 ? base : base + "-" + i);
            try {
                Files.createDirectory(dir);
            } catch (FileAlreadyExistsException e) {
                continue;
            } catch (IOException e) {
                throw new UserException("cannot create run folder " + dir + ": " + e.getMessage());
            }
            return lock(dir, true);
        }
        throw new UserException("cannot find a free run folder name " + base + "-N under " + parent
                + "; pass --name");
    }

    /**
     * The folder {@code dir} for a new run: created, or taken over when it exists but holds no run (e.g. made by
     * hand) or only the config.json of a start that stopped before its first checkpoint (a double SIGTERM or a
     * kill in step 1): nothing in it can be resumed, so starting again is the only way on. A folder that holds a
     * checkpoint or metrics is refused, and so is one another process has locked.
     */
    public static RunFolder claimNew(Path dir, String whatToDo) {
        mkdirs(dir.toAbsolutePath().getParent());
        boolean created;
        try {
            Files.createDirectory(dir);
            created = true;
        } catch (FileAlreadyExistsException e) {
            if (!Files.isDirectory(dir)) {
                throw new UserException("run folder " + dir + " exists and is not a folder; " + whatToDo);
            }
            created = false;
        } catch (IOException e) {
            throw new UserException("cannot create run folder " + dir + ": " + e.getMessage());
        }
        RunFolder f = lock(dir, created);
        if (!created && holdsProgress(dir)) {
            f.close();
            throw new UserException("run folder " + dir + " already holds a run; --resume " + dir
                    + " continues it, " + whatToDo);
        }
        f.restarted = !created && holdsRun(dir);
        return f;
    }

    /** An existing run folder, to continue the run in it (--resume). */
    public static RunFolder lockExisting(Path dir) {
        return lock(dir, false);
    }

    /** True when {@code dir} holds the files of a run (config, checkpoints, metrics). */
    public static boolean holdsRun(Path dir) {
        return RUN_FILES.stream().anyMatch(f -> Files.exists(dir.resolve(f)));
    }

    /** True when {@code dir} holds a checkpoint, metrics or a summary: a run that trained (part of) an epoch. */
    public static boolean holdsProgress(Path dir) {
        return PROGRESS_FILES.stream().anyMatch(f -> Files.exists(dir.resolve(f)));
    }

    /**
     * Who holds the lock of run folder {@code dir} ("pid 123 on host, started ..."), or null when no process does.
     * Probed with a shared lock on a read-only channel, which neither creates nor rewrites the lock file (taking
     * the lock the trainer's way would write this process's name into it).
     */
    public static String lockHolder(Path dir) {
        Path file = dir.resolve(LOCK_FILE);
        return isLocked(file) ? holder(file) : null;
    }

    /** Whether a process holds {@code lockFile} (a folder's {@value #LOCK_FILE}); see {@link #lockHolder}. */
    public static boolean isLocked(Path lockFile) {
        if (!Files.exists(lockFile)) {
            return false;
        }
        try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.READ)) {
            FileLock l = ch.tryLock(0, Long.MAX_VALUE, true);
            if (l == null) {
                return true;
            }
            l.release();
            return false;
        } catch (OverlappingFileLockException e) {
            return true; // this JVM trains in it (tests run cells in-process)
        } catch (IOException e) {
            return false;
        }
    }

    private static void mkdirs(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UserException("cannot create folder " + dir + ": " + e.getMessage());
        }
    }

    private static RunFolder lock(Path dir, boolean created) {
        Path file = dir.resolve(LOCK_FILE);
        FileChannel ch;
        try {
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new UserException("cannot open the lock file " + file + " of run folder " + dir + ": "
                    + e.getMessage());
        }
        FileLock lock;
        try {
            lock = ch.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null; // this JVM holds it already (two runs started in one process, as tests do)
        } catch (IOException e) {
            closeQuietly(ch);
            throw new UserException("cannot lock run folder " + dir + " (" + e.getMessage() + "); a file system "
                    + "without locks cannot guard against two runs writing one folder");
        }
        if (lock == null) {
            String holder = holder(file);
            closeQuietly(ch);
            throw new Busy("run folder " + dir + " is in use by another trainer (" + holder + "); wait "
                    + "for it to end, or pass another --name/--out");
        }
        // Written through the locked channel, never by a rename: a rename would put a new, unlocked inode in place.
        String me = "pid " + ProcessHandle.current().pid() + " on " + hostName() + ", started "
                + Instant.ofEpochMilli(ManagementFactory.getRuntimeMXBean().getStartTime()).truncatedTo(ChronoUnit.SECONDS)
                + "\n";
        try {
            ch.truncate(0);
            ch.write(ByteBuffer.wrap(me.getBytes(StandardCharsets.UTF_8)), 0);
            ch.force(false);
        } catch (IOException e) {
            // The lock is what guards the folder; the text only makes the refusal message friendlier.
        }
        return new RunFolder(dir, ch, lock, created);
    }

    private static String holder(Path lockFile) {
        // The holder writes its name just after taking the lock; give a run that started a moment ago that moment.
        for (int attempt = 0; attempt < 25; attempt++) {
            try {
                String s = Files.readString(lockFile, StandardCharsets.UTF_8).strip();
                if (!s.isEmpty() && s.length() < 300 && s.lines().count() == 1) {
                    return s;
                }
                Thread.sleep(20);
            } catch (IOException | RuntimeException e) {
                break; // the holder stays unnamed; the refusal stands
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        return "holder not recorded in " + lockFile;
    }

    private static String hostName() {
        try { // the kernel's name first: getLocalHost() may wait on DNS
            String k = Files.readString(Path.of("/proc/sys/kernel/hostname")).strip();
            if (!k.isEmpty()) {
                return k;
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux
        }
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException | RuntimeException e) {
            String h = System.getenv("HOSTNAME");
            return h == null ? "unknown host" : h;
        }
    }

    /**
     * Deletes the {@code .NAME.*.tmp} files that interrupted atomic writes (see io/AtomicFiles) left in the folder.
     * Only safe with the lock held: another process's write in progress would look the same.
     */
    public int removeStaleTemps() {
        int n = 0;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, ".*.tmp")) {
            for (Path p : ds) {
                if (Files.isRegularFile(p) && Files.deleteIfExists(p)) {
                    n++;
                }
            }
        } catch (IOException e) {
            throw new UserException("cannot clean up temporary files in run folder " + dir + ": " + e.getMessage());
        }
        return n;
    }

    /**
     * Releases the lock. A folder this process created that still holds nothing but the lock file (the run failed
     * before writing anything, e.g. bad data) is removed, so failed starts leave no empty folders behind.
     */
    @Override
    public void close() {
        try {
            if (created && !holdsRun(dir)) {
                try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
                    boolean onlyLock = true;
                    for (Path p : ds) {
                        onlyLock &= p.getFileName().toString().equals(LOCK_FILE);
                    }
                    if (onlyLock) {
                        Files.deleteIfExists(dir.resolve(LOCK_FILE));
                        Files.deleteIfExists(dir);
                    }
                }
            }
        } catch (IOException ignored) {
            // leaving an empty folder behind is harmless
        } finally {
            try {
                if (lock != null && lock.isValid()) {
                    lock.release();
                }
            } catch (IOException ignored) {
                // closing the channel releases it too
            }
            closeQuietly(channel);
        }
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }
}
