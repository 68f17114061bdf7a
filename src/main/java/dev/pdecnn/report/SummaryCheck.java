package dev.pdecnn.report;

import dev.pdecnn.config.RunConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The numbers a report takes from a run's summary.json, checked before they are averaged, printed or plotted: a
 * hand-edited or damaged summary (NaN, 1e400 read as infinity, a negative accuracy, a count beyond a long) is left
 * out with one warning instead of turning into a plot library's stack trace or a mean of -220 %.
 */
final class SummaryCheck {
    /** The count keys; whole numbers, at most a long (the trainer writes them from longs). */
    private static final List<String> COUNTS = List.of("trainable_params", "params_with_bn_stats", "macs");

    private SummaryCheck() {
    }

    /**
     * What is wrong with the summary's values, or null when they are sane: accuracies are fractions in [0, 1] (as
     * the trainer writes them; not checked for a summary of 0 epochs, which has none), epochs a whole number in
     * 0..MAX_EPOCHS, wall_seconds finite and not negative, the counts whole, not negative and within a long.
     */
    static String problem(Map<String, Object> summary) {
        List<String> bad = new ArrayList<>();
        Double epochs = check(summary, "epochs", 0, RunConfig.MAX_EPOCHS, true, bad);
        if (epochs == null || epochs > 0) {
            check(summary, "best_test_acc", 0, 1, false, bad);
            check(summary, "final_test_acc", 0, 1, false, bad);
        }
        check(summary, "wall_seconds", 0, Double.MAX_VALUE, false, bad);
        for (String k : COUNTS) {
            check(summary, k, 0, 0x1p63, true, bad); // 2^63: the first double beyond Long.MAX_VALUE
        }
        return bad.isEmpty() ? null : String.join(", ", bad);
    }

    /** The value of {@code key} when it is a number in [min, max] (whole when asked; max itself excluded for 2^63). */
    private static Double check(Map<String, Object> m, String key, double min, double max, boolean whole,
                                List<String> bad) {
        Object v = m.get(key);
        if (v == null) {
            bad.add(key + " is missing");
            return null;
        }
        // A lenient JSON reader reads NaN and Infinity as strings, 1e400 as a number (infinity).
        double d = v instanceof Number n ? n.doubleValue() : Double.NaN;
        boolean ok = Double.isFinite(d) && d >= min && (max == 0x1p63 ? d < max : d <= max)
                && (!whole || d == Math.rint(d));
        if (!ok) {
            String range = max == Double.MAX_VALUE ? ">= 0" : max == 0x1p63 ? "a whole number >= 0 within a long"
                    : (whole ? "a whole number in " : "in ") + "[" + fmt(min) + ", " + fmt(max) + "]";
            String shown = String.valueOf(v).replaceAll("\\p{Cntrl}", "?"); // one line whatever it holds
            bad.add(key + " is " + (shown.length() > 40 ? shown.substring(0, 40) + "..." : shown) + " (must be "
                    + range + ")");
            return null;
        }
        return d;
    }

    private static String fmt(double x) {
        return x == Math.rint(x) ? Long.toString((long) x) : Double.toString(x);
    }
}
