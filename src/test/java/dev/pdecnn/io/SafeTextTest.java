package dev.pdecnn.io;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Names from the user's files on their way into spreadsheets, terminals and Markdown tables. */
class SafeTextTest {
    @Test
    void formulasBecomeTextNumbersStayNumbers() {
        for (String f : new String[]{"=HYPERLINK(\"http://x\")", "+1+cmd", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "-",
                "+", "=", "-x.png", "-Infinity", "--name"}) {
            assertEquals("'" + f, SafeText.spreadsheetCell(f), f);
        }
        for (String n : new String[]{"-0.5", "+3", "-1e-7", "0.25", "12", "-.5", "1.5E+10", "", "cat", "a=b",
                "/runs/x", "'quoted"}) {
            assertEquals(n, SafeText.spreadsheetCell(n), n);
        }
    }

    @Test
    void csvFieldsAreQuotedAfterNeutralising() {
        assertEquals("\"'=1,2\"", SafeText.csvField("=1,2"));
        assertEquals("\"a \"\"b\"\"\"", SafeText.csvField("a \"b\""));
        assertEquals("\"'-a\nb\"", SafeText.csvField("-a\nb"));
        assertEquals("plain", SafeText.csvField("plain"));
    }

    @Test
    void controlCharactersAreEscapedOnTerminalsAndInTables() {
        assertEquals("a\\nb\\tc\\rd\\u001b[31me\\u0000\\u2028", SafeText.printable("a\nb\tc\rd\u001b[31me\u0000\u2028"));
        assertEquals("café \\ ok", SafeText.printable("café \\ ok"));
        assertEquals("a \\| b\\nc", SafeText.markdownCell("a | b\nc"));
    }
}
