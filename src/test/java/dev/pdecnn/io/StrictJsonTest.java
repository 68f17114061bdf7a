package dev.pdecnn.io;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import dev.pdecnn.train.Checkpoint;
import dev.pdecnn.train.EpochStats;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.StringReader;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** metrics.jsonl and summary.json are strict JSON even for a diverged run: NaN and Infinity become null. */
public class StrictJsonTest {

    /** {@code text} parsed as strict JSON (RFC 8259: no NaN, Infinity, comments or trailing text), or an exception. */
    public static JsonElement parse(String text) throws IOException {
        JsonReader r = new JsonReader(new StringReader(text));
        r.setStrictness(Strictness.STRICT);
        JsonElement e = new Gson().getAdapter(JsonElement.class).read(r);
        if (r.peek() != JsonToken.END_DOCUMENT) {
            throw new IOException("trailing text after the JSON value");
        }
        return e;
    }

    @Test
    void theStrictParserRejectsWhatGsonWritesForNaN() {
        String lenient = Checkpoint.gson().toJson(Map.of("loss", Double.NaN));
        assertThrows(IOException.class, () -> parse(lenient), lenient);
    }

    @Test
    void epochStatsOfADivergedTestSetAreStrict() throws IOException {
        // The test loss over no finite logits is NaN (Trainer's evaluation); metrics.jsonl is written like this.
        EpochStats s = new EpochStats(3, 0.25, 0.9, Double.NaN, 0.1, 0.01, 2.5, Double.POSITIVE_INFINITY, 64);
        String line = StrictJson.toJson(Checkpoint.gson(), s);
        JsonObject o = parse(line).getAsJsonObject();
        assertTrue(o.get("testLoss").isJsonNull(), line);
        assertTrue(o.get("imagesPerSecond").isJsonNull(), line);
        assertEquals(0.25, o.get("trainLoss").getAsDouble());
        assertEquals(64, o.get("testDiverged").getAsInt());
        assertEquals(Checkpoint.gson().toJson(new EpochStats(1, 0.5, 0.5, 0.5, 0.5, 0.1, 1, 2, 0)),
                StrictJson.toJson(Checkpoint.gson(), new EpochStats(1, 0.5, 0.5, 0.5, 0.5, 0.1, 1, 2, 0)),
                "finite values are written exactly as before");
    }

    @Test
    void nestedValuesAndPrettyPrintingAsInSummaryJson() throws IOException {
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("best_test_acc", Double.NaN);
        summary.put("final_test_acc", Double.NEGATIVE_INFINITY);
        summary.put("epochs", 3);
        summary.put("macs", Long.MAX_VALUE);
        summary.put("history", List.of(Map.of("x", Float.NaN), Arrays.asList(1.5, Double.POSITIVE_INFINITY, null)));
        String text = StrictJson.toJson(Checkpoint.gson().newBuilder().setPrettyPrinting().create(), summary);
        JsonObject o = parse(text).getAsJsonObject();
        assertTrue(o.get("best_test_acc").isJsonNull() && o.get("final_test_acc").isJsonNull(), text);
        assertEquals(Long.MAX_VALUE, o.get("macs").getAsLong());
        assertEquals("[{\"x\":null},[1.5,null,null]]", o.get("history").toString());
        assertTrue(text.contains("\n  \"epochs\": 3"), "pretty printed as before: " + text);
    }
}
