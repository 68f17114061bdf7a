package dev.pdecnn.report;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The study's published numbers (Table 2 rows 1-8 on CIFAR-10, Table 1 on MNIST), read from the resource
 * {@code published.csv} beside this class, which states the source. Rows are keyed by {@link ModelIdentity}, never
 * by a config's file name, and listed in the study's order, which is the order of the sweep report.
 *
 * @param table  1 (MNIST) or 2 (CIFAR-10)
 * @param row    the row's name in its table ("2", "cnn C=1")
 * @param params parameters with BN statistics as printed (Table 2 rounded to thousands)
 * @param macs   multiply-accumulates per image as printed, 0 where the study gives none
 * @param acc    test accuracy as a fraction (the file holds percent)
 * @param order  position in the file, which lists the rows in the report's order (Table 2, then Table 1)
 */
public record Published(int table, String row, ModelIdentity id, long params, long macs, double acc, int order) {

    private static final List<Published> ALL = load();

    public static List<Published> all() {
        return ALL;
    }

    /** The published row whose identity is exactly this one. */
    public static Optional<Published> match(ModelIdentity id) {
        return ALL.stream().filter(p -> p.id.equals(id)).findFirst();
    }

    /** "Table 2 row 3" or "Table 1 cnn C=1". */
    public String label() {
        return "Table " + table + (table == 2 ? " row " : " ") + row;
    }

    /** The short name plots use: "row 3", "cnn C=1". */
    public String shortLabel() {
        return table == 2 ? "row " + row : row;
    }

    private static List<Published> load() {
        List<Published> out = new ArrayList<>();
        try (InputStream in = Published.class.getResourceAsStream("published.csv")) {
            if (in == null) {
                throw new IllegalStateException("resource dev/pdecnn/report/published.csv missing from the jar");
            }
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            boolean header = true;
            for (String line; (line = r.readLine()) != null; ) {
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                if (header) { // column names, documented in the file
                    header = false;
                    continue;
                }
                // A fixed table without quoting: split keeping empty trailing fields.
                String[] f = line.split(",", -1);
                if (f.length != 10) {
                    throw new IllegalStateException("published.csv: expected 10 fields, got " + f.length + ": " + line);
                }
                out.add(new Published(Integer.parseInt(f[0]), f[1], new ModelIdentity(f[2], f[3], f[4], f[5], f[6]),
                        f[7].isEmpty() ? 0 : Long.parseLong(f[7]), f[8].isEmpty() ? 0 : Long.parseLong(f[8]),
                        Double.parseDouble(f[9]) / 100, out.size()));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return List.copyOf(out);
    }
}
