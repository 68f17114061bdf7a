package dev.pdecnn.io;

import java.util.Locale;

/**
 * Text the trainer did not make (class names from image sub-folder names, file paths, run folder names) on its way
 * into a spreadsheet, a terminal or a Markdown table. A folder name may hold a line break, an escape sequence or a
 * leading '=', and each of those misbehaves in one of these places: a spreadsheet runs '=...' as a formula, a
 * terminal obeys escape sequences, a line break or '|' splits a Markdown table row.
 */
public final class SafeText {
    private SafeText() {
    }

    /** A plain decimal number, which a spreadsheet reads as a number even with a leading sign: -0.5, +3, 1e-7. */
    private static final String NUMBER = "[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?";

    /**
     * A CSV cell a spreadsheet shows as text: one starting with '=', '+', '-', '@' (or a tab or carriage return,
     * which some strip before looking) is a formula to Excel, LibreOffice and Google Sheets, so it gets a leading
     * single quote, as they expect for text (OWASP's advice). Plain numbers such as -0.5 stay as they are.
     */
    public static String spreadsheetCell(String s) {
        if (s.isEmpty() || "=+-@\t\r".indexOf(s.charAt(0)) < 0 || s.matches(NUMBER)) {
            return s;
        }
        return "'" + s;
    }

    /** One RFC 4180 CSV field: neutralised as {@link #spreadsheetCell}, quoted when it holds a comma, quote or line break. */
    public static String csvField(String s) {
        String v = spreadsheetCell(s);
        return v.matches("[^,\"\\r\\n]*") ? v : "\"" + v.replace("\"", "\"\"") + "\"";
    }

    /**
     * {@code s} with control characters written as escapes (\n, \t, \r, \\u001b), so it takes one line on a
     * terminal and cannot move the cursor or change colours; a backslash stays a backslash.
     */
    public static String printable(String s) {
        StringBuilder b = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean control = Character.getType(c) == Character.CONTROL || c == '\u2028' || c == '\u2029';
            if (!control) {
                if (b != null) {
                    b.append(c);
                }
                continue;
            }
            if (b == null) {
                b = new StringBuilder(s.length() + 8).append(s, 0, i);
            }
            b.append(switch (c) {
                case '\n' -> "\\n";
                case '\r' -> "\\r";
                case '\t' -> "\\t";
                default -> String.format(Locale.ROOT, "\\u%04x", (int) c);
            });
        }
        return b == null ? s : b.toString();
    }

    /** A Markdown table cell: {@link #printable} and its '|' escaped, so the row keeps its columns. */
    public static String markdownCell(String s) {
        return printable(s).replace("|", "\\|");
    }
}
