package dev.pdecnn.train;

import dev.pdecnn.UserException;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * When to write a mid-epoch checkpoint besides the one at each epoch's end: every {@code steps} optimizer steps
 * (counted over the whole run, so the same steps are saved however the run was split into sessions), or when
 * {@code minutes} of wall time have passed since the last checkpoint; {@link #NEVER} for epoch ends only.
 * A mid-epoch checkpoint changes nothing in the training, so any schedule leaves the results bit-identical.
 */
public record CheckpointEvery(long steps, double minutes) {
    public static final CheckpointEvery NEVER = new CheckpointEvery(0, 0);
    /** The default: a CIFAR-10 epoch on the CPU takes 4-8 minutes, so a stop loses at most 5 minutes of work. */
    public static final String DEFAULT = "5m";

    private static final Pattern FORM = Pattern.compile("(\\d{1,12})|(\\d{1,6}(?:\\.\\d{1,6})?)m");

    /** {@code 500} (steps), {@code 5m} or {@code 0.5m} (minutes), {@code 0} (epoch ends only). */
    public static CheckpointEvery parse(String text) {
        Matcher m = FORM.matcher(text == null ? "" : text.strip().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new UserException("--checkpoint-every must be a number of steps (e.g. 500) or of minutes (e.g. "
                    + "5m), or 0 for epoch ends only; got '" + text + "'");
        }
        if (m.group(1) != null) {
            long n = Long.parseLong(m.group(1));
            return n == 0 ? NEVER : new CheckpointEvery(n, 0);
        }
        double min = Double.parseDouble(m.group(2));
        return min == 0 ? NEVER : new CheckpointEvery(0, min);
    }

    /** Whether a checkpoint is due after global step {@code step}, {@code nanosSince} after the last one. */
    boolean due(long step, long nanosSince) {
        if (steps > 0) {
            return step % steps == 0;
        }
        return minutes > 0 && nanosSince >= (long) (minutes * 60e9);
    }
}
