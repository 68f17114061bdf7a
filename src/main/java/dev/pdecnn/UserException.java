package dev.pdecnn;

/**
 * A mistake the user can fix (bad flag, missing or corrupt file, wrong checkpoint, diverged training).
 * The CLI prints only the message, on one line, and exits with {@link #exitCode()}; no stack trace.
 * The message must name the culprit (file, key, value) and, where possible, say what to do.
 */
public class UserException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final int exitCode;

    public UserException(String message) {
        this(message, 2);
    }

    public UserException(String message, int exitCode) {
        super(message);
        this.exitCode = exitCode;
    }

    public UserException(String message, Throwable cause) {
        super(message, cause);
        this.exitCode = 2;
    }

    public int exitCode() {
        return exitCode;
    }
}
