package dev.pdecnn;

/**
 * A mistake the user can fix (bad flag, missing or corrupt file, wrong checkpoint, diverged training).
 * The CLI prints only the message, on one line, and exits with {@link #exitCode()}; no stack trace.
 * The message must name the culprit (file, key, value) and, where possible, say what to do.
 */
public class UserException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private static final int MAX_CHARS = 2000;
    private final int exitCode;

    public UserException(String message) {
        this(message, 2);
    }

    public UserException(String message, int exitCode) {
        super(oneLine(message));
        this.exitCode = exitCode;
    }

    public UserException(String message, Throwable cause) {
        super(oneLine(message), cause);
        this.exitCode = 2;
    }

    /**
     * Messages often quote values from files the user did not write (a config, a checkpoint, an image); a line
     * break or control character among them would break the one-line promise, and a megabyte-long value would
     * flood the terminal, so both are neutralised here, once for every message.
     */
    static String oneLine(String message) {
        if (message == null) {
            return null;
        }
        String s = message.length() > MAX_CHARS ? message.substring(0, MAX_CHARS) + "..." : message;
        return s.replaceAll("[\\p{Cntrl}\\u2028\\u2029\\u0085]+", " ").strip();
    }

    public int exitCode() {
        return exitCode;
    }
}
