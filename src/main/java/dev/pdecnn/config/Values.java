package dev.pdecnn.config;

import dev.pdecnn.UserException;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Exact conversion of parsed config values (from picocli, SnakeYAML or Gson) to numbers. YAML gives Integer,
 * Long or BigInteger depending on the size of a literal and JSON readers give doubles, so a value is compared
 * with its key's range as an exact decimal first and only then narrowed: {@code epochs: 4294967297} is refused,
 * where {@code ((Number) v).intValue()} would have wrapped it to 1.
 */
final class Values {
    /** Plain decimal integers only; 30 digits are past any range and keep a huge string from being parsed. */
    private static final Pattern INTEGER = Pattern.compile("[+-]?[0-9]{1,30}");
    private static final int SHOW_CHARS = 60;

    private Values() {
    }

    /** The value as a long in {@code range}; else a UserException, {@code bad} for a non-integer, else key + must + range. */
    static long integer(String source, String key, Object value, Range range, String bad, String must) {
        BigDecimal d = null;
        if (value instanceof Integer || value instanceof Long || value instanceof Short || value instanceof Byte) {
            d = BigDecimal.valueOf(((Number) value).longValue());
        } else if (value instanceof BigInteger b) {
            d = new BigDecimal(b);
        } else if (value instanceof Double || value instanceof Float) {
            double x = ((Number) value).doubleValue();
            if (Double.isFinite(x) && x == Math.rint(x)) {
                d = new BigDecimal(x); // JSON readers give every number as a double; 3.0 is the integer 3
            }
        } else if (value instanceof String s && INTEGER.matcher(s.trim()).matches()) {
            d = new BigDecimal(new BigInteger(s.trim()));
        }
        if (d == null) {
            throw new UserException(bad);
        }
        if (!range.contains(d)) {
            throw new UserException(source + ": key '" + key + "' " + must + range.text() + ", got "
                    + show(value));
        }
        return d.longValueExact();
    }

    /** The value as a double (range not checked yet), or null when it is not a number. */
    static Double real(Object value) {
        if (value instanceof Number n) {
            return n.doubleValue();
        }
        if (value instanceof String s && s.length() <= 100) {
            try {
                return Double.parseDouble(s.trim());
            } catch (NumberFormatException e) {
                return null;
            }
        }
        return null;
    }

    /**
     * A value for an error message: one line, at most a few dozen characters (it may come from a hostile file).
     * Lists and mappings are not printed element by element: a file can nest them thousands deep, and their
     * toString would recurse that deep.
     */
    static String show(Object value) {
        String s;
        if (value instanceof java.util.Collection<?> c) {
            s = "a list of " + c.size();
        } else if (value instanceof Map<?, ?> m) {
            s = "a mapping of " + m.size() + " keys";
        } else if (value instanceof String str && str.length() > 4 * SHOW_CHARS) {
            s = str.substring(0, 4 * SHOW_CHARS);
        } else {
            s = String.valueOf(value);
        }
        s = s.replaceAll("\\p{Cntrl}", " ");
        return s.length() > SHOW_CHARS ? s.substring(0, SHOW_CHARS) + "..." : s;
    }
}
