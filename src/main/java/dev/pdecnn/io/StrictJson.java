package dev.pdecnn.io;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;

import java.util.Map;

/**
 * JSON for files other programs read (metrics.jsonl, summary.json): NaN and Infinity, which Gson can be told to
 * write, are not JSON, and strict parsers (Python's json with parse_constant raising, JavaScript's JSON.parse,
 * jq) reject the whole file. A diverged run does meet them (a test loss over no finite logits), so they become
 * {@code null}, and the key stays, so a reader sees the value is missing rather than the column.
 */
public final class StrictJson {
    private StrictJson() {
    }

    /** {@code value} as {@code gson} writes it (pretty or not), with every non-finite number as null. */
    public static String toJson(Gson gson, Object value) {
        return gson.newBuilder().serializeNulls().create().toJson(finite(gson.toJsonTree(value)));
    }

    private static JsonElement finite(JsonElement e) {
        if (e instanceof JsonObject o) {
            JsonObject r = new JsonObject();
            for (Map.Entry<String, JsonElement> m : o.entrySet()) {
                r.add(m.getKey(), finite(m.getValue()));
            }
            return r;
        }
        if (e instanceof JsonArray a) {
            JsonArray r = new JsonArray(a.size());
            a.forEach(x -> r.add(finite(x)));
            return r;
        }
        if (e instanceof JsonPrimitive p && p.isNumber()) {
            Number n = p.getAsNumber();
            if ((n instanceof Double || n instanceof Float) && !Double.isFinite(n.doubleValue())) {
                return JsonNull.INSTANCE;
            }
        }
        return e;
    }
}
