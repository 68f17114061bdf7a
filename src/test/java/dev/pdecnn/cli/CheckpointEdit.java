package dev.pdecnn.cli;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * Edits a checkpoint the way a user (or an attacker) could with a hex editor: the trainer-state JSON inside the
 * safetensors header, the raw header bytes, or a tensor's data, keeping the rest of the file as it was.
 */
final class CheckpointEdit {
    static final Gson GSON = new GsonBuilder().serializeSpecialFloatingPointValues().serializeNulls()
            .disableHtmlEscaping().create();

    /** The header JSON text (padding stripped) and the data section of a safetensors file. */
    record Parts(String header, byte[] data) {
        JsonObject json() {
            return JsonParser.parseString(header).getAsJsonObject();
        }

        JsonObject state() {
            return JsonParser.parseString(json().getAsJsonObject("__metadata__").get("trainer_state").getAsString())
                    .getAsJsonObject();
        }
    }

    private CheckpointEdit() {
    }

    static Parts read(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        int n = (int) ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(all, 8, n, StandardCharsets.UTF_8).stripTrailing();
        return new Parts(header, Arrays.copyOfRange(all, 8 + n, all.length));
    }

    /** Writes raw header bytes (padded to 8 with spaces) and the data section. */
    static Path write(Path file, byte[] header, byte[] data) throws IOException {
        int padded = (header.length + 7) & ~7;
        byte[] h = Arrays.copyOf(header, padded);
        Arrays.fill(h, header.length, padded, (byte) ' ');
        ByteBuffer out = ByteBuffer.allocate(8 + padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded).put(h).put(data);
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.write(file, out.array());
        return file;
    }

    static Path write(Path file, JsonObject header, byte[] data) throws IOException {
        return write(file, GSON.toJson(header).getBytes(StandardCharsets.UTF_8), data);
    }

    /** A copy of {@code src} at {@code dst} with the trainer state's JSON object changed by {@code edit}. */
    static Path editState(Path src, Path dst, Consumer<JsonObject> edit) throws IOException {
        Parts p = read(src);
        JsonObject state = p.state();
        edit.accept(state);
        return withState(p, dst, GSON.toJson(state));
    }

    /** A copy of {@code src} at {@code dst} whose trainer state is the given text. */
    static Path withState(Parts p, Path dst, String stateJson) throws IOException {
        JsonObject header = p.json();
        header.getAsJsonObject("__metadata__").addProperty("trainer_state", stateJson);
        return write(dst, header, p.data());
    }

    /** A copy of {@code src} at {@code dst} whose tensor {@code name} (F32) starts with {@code value}. */
    static Path poison(Path src, Path dst, String name, float value) throws IOException {
        Parts p = read(src);
        int begin = p.json().getAsJsonObject(name).getAsJsonArray("data_offsets").get(0).getAsInt();
        byte[] data = p.data().clone();
        ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).putFloat(begin, value);
        return write(dst, p.header().getBytes(StandardCharsets.UTF_8), data);
    }
}
