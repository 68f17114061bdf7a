package dev.pdecnn.config;

import dev.pdecnn.UserException;
import dev.pdecnn.io.SafeText;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Names the trainer turns into folders (sweep names, sweep entry names, run names): letters, digits, '.', '_' and
 * '-', starting with a letter or digit, so a name is one path element that stays inside its parent ('..', '/',
 * '' and "a\nb" are not names), looks the same in every shell, table and log, and never reads as an option.
 */
public final class FolderName {
    /** The longest run name (--name), as for a sweep's name. */
    public static final int MAX_RUN_NAME = 100;
    private static final String CHARS = "letters, digits, '.', '_' and '-', starting with a letter or digit";

    private FolderName() {
    }

    public static boolean valid(String name, int maxLength) {
        return name != null && name.matches("[A-Za-z0-9][A-Za-z0-9._-]{0," + (maxLength - 1) + "}");
    }

    /** Refuses {@code name} with one line naming {@code what} ("--name", "sweep file x: key 'name'") unless valid. */
    public static String check(String what, String name, int maxLength) {
        if (!valid(name, maxLength)) {
            throw new UserException(what + " must be a folder name of " + CHARS + " (at most " + maxLength
                    + "), got '" + (name == null ? "" : SafeText.printable(name)) + "'");
        }
        return name;
    }

    /**
     * {@code parent/name}, refused when it exists and resolves (through a symbolic link) to a folder outside
     * {@code parent}: a run named into --out must land in --out, not wherever a link points.
     */
    public static Path inside(Path parent, String name, String what) {
        Path dir = parent.resolve(name);
        if (!Files.exists(dir)) {
            return dir;
        }
        try {
            Path real = dir.toRealPath();
            Path realParent = parent.toRealPath();
            if (!realParent.equals(real.getParent())) {
                throw new UserException(what + " " + name + ": " + dir + " leads to " + real + ", outside " + parent
                        + "; pass another name");
            }
        } catch (IOException e) {
            throw new UserException(what + " " + name + ": cannot resolve " + dir + " (" + e.getMessage() + ")");
        }
        return dir;
    }
}
