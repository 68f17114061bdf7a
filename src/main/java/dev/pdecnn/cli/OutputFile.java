package dev.pdecnn.cli;

import dev.pdecnn.UserException;
import dev.pdecnn.train.RunFolder;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * The one rule for a file the user names as a command's output (export -o, visualize -o, predict -o, report -o,
 * and any command added later): checked before any work, so a refusal costs nothing and changes nothing.
 * <ul>
 * <li>its name ends in the extension of the format written (so -o m.txt is a typo caught, not a surprise);</li>
 * <li>it is not one of a run folder's own files (checkpoints, metrics, config, summary, lock, curves): a finished
 * run cannot rebuild them, and eval, --resume and report then fail on the run;</li>
 * <li>it is not one of the command's own input files.</li>
 * </ul>
 * Paths are compared after resolving them as the file system will ({@code RUN/./best.safetensors},
 * {@code RUN/x/../best.safetensors}, a symbolic link to the run folder or to the file), so no spelling slips past.
 * The commands write through {@link dev.pdecnn.io.AtomicFiles}: a failed write leaves the old file whole.
 */
final class OutputFile {
    /** The files Trainer and RunFolder keep in a run folder, besides its *.safetensors checkpoints. */
    private static final List<String> RUN_FILES = List.of("config.json", "summary.json", "metrics.csv",
            "metrics.jsonl", "curves.png", RunFolder.LOCK_FILE);

    private OutputFile() {
    }

    /**
     * Refuses {@code file} (named by {@code option}) with one line unless the rule above holds.
     *
     * @param format     why the extension, for the message, e.g. "export writes an ONNX model"
     * @param extensions the allowed endings, lower case, e.g. ".csv", ".jsonl"
     * @param inputs     the command's input files and folders (null entries are skipped)
     */
    static void check(String option, Path file, String format, List<String> extensions, Collection<Path> inputs) {
        String what = option + " " + file;
        Path lexical = file.toAbsolutePath().normalize();
        String name = lexical.getFileName() == null ? "" : lexical.getFileName().toString().toLowerCase(Locale.ROOT);
        Path real = resolve(file);
        if (Files.isDirectory(real)) {
            throw new UserException(what + " is a folder; give a file name such as out" + extensions.get(0));
        }
        // Before the extension: for -o RUN/best.safetensors, "a checkpoint of the run" is the reason worth reading.
        String own = runFile(real);
        if (own != null) {
            throw new UserException(what + (real.equals(lexical) ? "" : " (" + real + ")") + " is " + own
                    + " of the run in " + real.getParent() + "; replacing it would lose the run's record: name "
                    + "another file");
        }
        for (Path in : inputs) {
            if (in != null && Files.exists(in) && real.equals(resolve(in))) {
                throw new UserException(what + " is this command's input " + in + "; name another file");
            }
        }
        if (extensions.stream().noneMatch(name::endsWith)) {
            throw new UserException(what + ": the name must end in " + String.join(" or ", extensions) + " ("
                    + format + ")");
        }
    }

    /** What {@code file} is to the run folder it lies in ("a checkpoint"), or null when it is no run's file. */
    private static String runFile(Path file) {
        Path dir = file.getParent();
        if (dir == null || !(RunFolder.holdsRun(dir) || Files.exists(dir.resolve(RunFolder.LOCK_FILE)))) {
            return null;
        }
        String n = Objects.requireNonNull(file.getFileName()).toString().toLowerCase(Locale.ROOT);
        if (n.endsWith(".safetensors")) {
            return "a checkpoint";
        }
        return RUN_FILES.contains(n) ? "the " + (n.equals(RunFolder.LOCK_FILE) ? "lock file" : n) : null;
    }

    /**
     * The absolute path {@code p} names once the file system has followed it: the deepest part that exists with
     * its links and dots resolved ({@link Path#toRealPath}), then the rest, which does not exist yet and so holds
     * no links, normalised. A dangling link counts as not existing, as a write would replace the link itself.
     */
    static Path resolve(Path p) {
        Path abs = p.toAbsolutePath();
        Path existing = abs;
        Path rest = null;
        while (existing != null && !Files.exists(existing)) {
            Path leaf = existing.getFileName();
            rest = rest == null ? leaf : leaf.resolve(rest);
            existing = existing.getParent();
        }
        if (existing == null) {
            return abs.normalize();
        }
        try {
            Path real = existing.toRealPath();
            return (rest == null ? real : real.resolve(rest)).normalize();
        } catch (IOException e) { // unreadable: compare as written
            return abs.normalize();
        }
    }
}
