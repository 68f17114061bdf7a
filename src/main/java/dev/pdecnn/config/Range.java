package dev.pdecnn.config;

import java.math.BigDecimal;
import java.util.Locale;

/**
 * The allowed values of one numeric config key. The same range object checks a value from the command line, a
 * config file and a checkpoint's stored state, and its {@link #text()} is what --help and the README show, so
 * the documented bound and the enforced one cannot drift apart. Integer ranges compare exactly (as BigDecimal)
 * before any narrowing, so 4294967297 is refused instead of wrapping to 1.
 */
public record Range(BigDecimal lo, boolean loIncl, BigDecimal hi, boolean hiIncl, boolean integral) {

    public static Range ints(long lo, long hi) {
        return new Range(BigDecimal.valueOf(lo), true, BigDecimal.valueOf(hi), true, true);
    }

    /** Finite and > 0. */
    public static Range positive() {
        return new Range(BigDecimal.ZERO, false, null, false, false);
    }

    /** Finite and >= 0. */
    public static Range nonNegative() {
        return new Range(BigDecimal.ZERO, true, null, false, false);
    }

    /** Real numbers between lo and hi with the given end points. */
    public static Range reals(double lo, boolean loIncl, double hi, boolean hiIncl) {
        return new Range(BigDecimal.valueOf(lo), loIncl, BigDecimal.valueOf(hi), hiIncl, false);
    }

    /** Whether {@code v} (finite) lies in the range. */
    public boolean contains(BigDecimal v) {
        if (lo != null) {
            int c = v.compareTo(lo);
            if (c < 0 || (c == 0 && !loIncl)) {
                return false;
            }
        }
        if (hi != null) {
            int c = v.compareTo(hi);
            return c < 0 || (c == 0 && hiIncl);
        }
        return true;
    }

    public boolean contains(double v) {
        return Double.isFinite(v) && contains(new BigDecimal(v));
    }

    /** The range as --help and the README write it, e.g. {@code 1..1000}, {@code > 0}, {@code [0, 1)}. */
    public String text() {
        if (integral) {
            return plain(lo) + ".." + plain(hi);
        }
        if (hi == null) {
            return (loIncl ? ">= " : "> ") + plain(lo);
        }
        return (loIncl ? "[" : "(") + plain(lo) + ", " + plain(hi) + (hiIncl ? "]" : ")");
    }

    private static String plain(BigDecimal d) {
        return d.stripTrailingZeros().toPlainString().toLowerCase(Locale.ROOT);
    }
}
