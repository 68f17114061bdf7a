package dev.pdecnn.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/** Runs the CLI in-process and captures its streams and exit code. */
public final class CliRunner {
    public record Result(int code, String out, String err) {
    }

    private CliRunner() {
    }

    public static Result run(String... args) {
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        int code;
        try (PrintStream po = new PrintStream(o, true, StandardCharsets.UTF_8);
             PrintStream pe = new PrintStream(e, true, StandardCharsets.UTF_8)) {
            code = Main.run(args, po, pe);
        }
        return new Result(code, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
    }

    /**
     * A tiny cnn run in {@code out/name}, trained on {@code data} for the first of two epochs (so it can still be
     * resumed): every file a run folder holds, in seconds. Returns the run folder.
     */
    public static java.nio.file.Path tinyRun(java.nio.file.Path data, java.nio.file.Path out, String name) {
        Result r = run("--model", "cnn", "--channels", "2", "--batch-size", "16", "--epochs", "2", "--stop-after", "1",
                "--data-dir", data.toString(), "--out", out.toString(), "--name", name);
        if (r.code() != 0) {
            throw new AssertionError("training the tiny run failed: " + r.err());
        }
        return out.resolve(name);
    }
}
