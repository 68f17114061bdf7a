package dev.pdecnn.train;

import java.io.PrintStream;
import java.util.Locale;

/**
 * Progress of an epoch: a redrawn bar with ETA, images/s, loss and accuracy on a terminal, plain lines about
 * every 10% (and at least every 30 s) otherwise, so logs stay readable when output goes to a file.
 */
public final class Progress {
    private final PrintStream out;
    private final boolean tty;
    private final String label;
    private final int total;
    private final long start = System.nanoTime();
    private long lastDraw;
    private int lastDecile = -1;

    public Progress(PrintStream out, boolean tty, String label, int total) {
        this.out = out;
        this.tty = tty;
        this.label = label;
        this.total = total;
    }

    public static boolean isTerminal() {
        return System.console() != null && !"dumb".equals(System.getenv("TERM"));
    }

    public void update(int done, long images, double loss, double acc) {
        long now = System.nanoTime();
        double secs = (now - start) / 1e9;
        int decile = (int) (10L * done / Math.max(1, total));
        boolean end = done == total;
        if (tty) {
            if (!end && now - lastDraw < 200_000_000L) {
                return;
            }
            lastDraw = now;
            int width = 24, filled = (int) ((long) width * done / Math.max(1, total));
            String bar = "=".repeat(filled) + (filled < width ? ">" : "") + " ".repeat(Math.max(0, width - filled - 1));
            out.print("\r" + line(done, images, loss, acc, secs, "[" + bar + "]") + (end ? "\n" : ""));
            out.flush();
        } else if (end || decile > lastDecile && decile > 0 || now - lastDraw > 30_000_000_000L) {
            if (!end && decile == 10) {
                return;
            }
            lastDecile = decile;
            lastDraw = now;
            out.println(line(done, images, loss, acc, secs, ""));
        }
    }

    private String line(int done, long images, double loss, double acc, double secs, String bar) {
        double rate = images / Math.max(1e-9, secs);
        double eta = done == 0 ? 0 : secs * (total - done) / done;
        return String.format(Locale.ROOT, "%s %s %3d%% %d/%d  loss %.4f  acc %5.2f%%  %.0f img/s  %s %s", label,
                bar, 100L * done / Math.max(1, total), done, total, loss, 100 * acc, rate,
                done == total ? "took" : "ETA", clock(done == total ? secs : eta));
    }

    public static String clock(double secs) {
        long s = Math.round(secs);
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }
}
