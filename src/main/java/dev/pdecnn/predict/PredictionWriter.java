package dev.pdecnn.predict;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import dev.pdecnn.UserException;
import dev.pdecnn.io.SafeText;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code predict --output}: predictions as CSV (one row per image: {@code file, class_1, probability_1, ...,
 * class_k, probability_k}, with logits {@code logit_0 ...}, then {@code diverged}) or JSON Lines (one object per
 * image: {@code file}, {@code top} as a list of {@code class, index, probability}, {@code logits} and
 * {@code diverged}), chosen by the extension. Numbers are written so they read back exactly (shortest round-trip
 * decimal of the float logits and the double probabilities).
 *
 * <p>An image whose logits are not all finite (a diverged Global layer, docs/design.md §8) has {@code diverged}
 * true, and its non-finite numbers are empty CSV cells and JSON {@code null}: NaN and Infinity are not JSON, and
 * strict parsers (Python's json with parse_constant raising, JavaScript's JSON.parse) reject a file holding them.
 * CSV text cells (paths, class names) are neutralised for spreadsheets ({@link SafeText#csvField}).
 */
public final class PredictionWriter {
    public enum Format { CSV, JSONL }

    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().serializeNulls().create();

    private final Format format;
    private final List<String> classes;
    private final boolean logits;
    private final int k;
    private final StringBuilder text = new StringBuilder();

    public PredictionWriter(Format format, List<String> classes, int k, boolean logits) {
        this.format = format;
        this.classes = classes;
        this.k = k;
        this.logits = logits;
        if (format == Format.CSV) {
            List<String> head = new ArrayList<>(List.of("file"));
            for (int r = 1; r <= k; r++) {
                head.add("class_" + r);
                head.add("probability_" + r);
            }
            if (logits) {
                for (int j = 0; j < classes.size(); j++) {
                    head.add("logit_" + j);
                }
            }
            head.add("diverged");
            line(head);
        }
    }

    /** The format an output file's name asks for; anything but .csv and .jsonl is refused. */
    public static Format formatOf(Path file) {
        String n = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (n.endsWith(".csv")) {
            return Format.CSV;
        }
        if (n.endsWith(".jsonl")) {
            return Format.JSONL;
        }
        throw new UserException("--output " + file + ": the name must end in .csv or .jsonl (that picks the format)");
    }

    /** The class name of logit {@code j}; a model has more logits than a folder data set with fewer classes. */
    public static String name(List<String> classes, int j) {
        return j < classes.size() ? classes.get(j) : "class " + j;
    }

    public void add(Prediction p) {
        if (format == Format.CSV) {
            List<String> row = new ArrayList<>(List.of(p.file()));
            for (int r = 0; r < k; r++) {
                row.add(name(classes, p.top()[r]));
                row.add(Double.isFinite(p.probabilities()[p.top()[r]]) ? Double.toString(p.probabilities()[p.top()[r]]) : "");
            }
            if (logits) {
                for (float v : p.logits()) {
                    row.add(Float.isFinite(v) ? Float.toString(v) : "");
                }
            }
            row.add(Boolean.toString(p.diverged()));
            line(row);
            return;
        }
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("file", p.file());
        List<Map<String, Object>> top = new ArrayList<>();
        for (int r = 0; r < k; r++) {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("class", name(classes, p.top()[r]));
            t.put("index", p.top()[r]);
            t.put("probability", finite(p.probabilities()[p.top()[r]]));
            top.add(t);
        }
        o.put("top", top);
        if (logits) {
            List<Float> z = new ArrayList<>();
            for (float v : p.logits()) {
                z.add(Float.isFinite(v) ? v : null); // as Float: its shortest decimal, as before
            }
            o.put("logits", z);
        }
        o.put("diverged", p.diverged());
        text.append(GSON.toJson(o)).append('\n');
    }

    /** {@code v}, or null (JSON null) when it is NaN or infinite. */
    private static Double finite(double v) {
        return Double.isFinite(v) ? v : null;
    }

    public String text() {
        return text.toString();
    }

    private void line(List<String> fields) {
        for (int i = 0; i < fields.size(); i++) {
            text.append(i == 0 ? "" : ",").append(SafeText.csvField(fields.get(i)));
        }
        text.append('\n');
    }
}
