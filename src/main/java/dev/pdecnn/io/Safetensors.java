package dev.pdecnn.io;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonPrimitive;
import com.google.gson.Strictness;
import dev.pdecnn.UserException;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Hugging Face safetensors format, so checkpoints open in PyTorch / JAX / numpy tooling unchanged:
 * <pre>
 *   u64 little-endian N | N bytes UTF-8 JSON header, space-padded to a multiple of 8 | raw data
 *   header: {"__metadata__": {str: str}, "name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}
 * </pre>
 * Offsets are relative to the start of the data section; tensors are contiguous, little-endian, row-major.
 * We write tensors in the map's iteration order and read them back in data order, so a round trip keeps
 * the order. F32 and F64 are written as themselves; F16 and BF16 files are read into F32. I64 tensors (PyTorch's
 * {@code num_batches_tracked} counters) are not {@link Tensor}s, whose elements are floating point: they are read
 * and written as {@link Int64} values beside the tensors.
 */
public final class Safetensors {

    /** What {@link #read} returns: tensors in file (data offset) order, the free-form metadata, and I64 entries. */
    public record Loaded(LinkedHashMap<String, Tensor> tensors, Map<String, String> metadata,
                         LinkedHashMap<String, Int64> integers) {
        public Loaded(LinkedHashMap<String, Tensor> tensors, Map<String, String> metadata) {
            this(tensors, metadata, new LinkedHashMap<>());
        }
    }

    /** An I64 entry: its shape and row-major values (a scalar has shape {@code []} and one value). */
    public record Int64(int[] shape, long[] values) {
        public Int64 {
            if (Tensor.numel(shape) != values.length) {
                throw new IllegalArgumentException("I64 shape " + Arrays.toString(shape) + " does not hold "
                        + values.length + " values");
            }
        }

        public static Int64 scalar(long v) {
            return new Int64(new int[0], new long[]{v});
        }
    }

    /** The reference implementation's limit; a bigger header means a corrupt or foreign file. */
    static final long MAX_HEADER_BYTES = 100_000_000L;
    static final String METADATA_KEY = "__metadata__";

    private static final Gson GSON = new GsonBuilder()
            // Gson escapes <, >, =, & and ' for HTML embedding by default; other readers do not need it.
            .disableHtmlEscaping()
            .setStrictness(Strictness.STRICT)
            .create();

    private Safetensors() {
    }

    // ------------------------------------------------------------------------------------------ writing

    /**
     * Writes {@code tensors} (in iteration order) and {@code metadata} (may be null or empty, then omitted)
     * to {@code file}, atomically. Throws IllegalArgumentException for names the format cannot hold.
     */
    public static void write(Path file, LinkedHashMap<String, Tensor> tensors, Map<String, String> metadata) {
        write(file, tensors, new LinkedHashMap<>(), metadata);
    }

    /** As {@link #write(Path, LinkedHashMap, Map)}, with I64 entries written after the tensors. */
    public static void write(Path file, LinkedHashMap<String, Tensor> tensors, LinkedHashMap<String, Int64> integers,
                             Map<String, String> metadata) {
        byte[] header = header(tensors, integers, metadata);
        AtomicFiles.write(file, out -> {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length);
            out.write(len.array());
            out.write(header);
            for (Tensor t : tensors.values()) {
                writeData(out, t);
            }
            for (Int64 v : integers.values()) {
                ByteBuffer b = ByteBuffer.allocate(8 * v.values().length).order(ByteOrder.LITTLE_ENDIAN);
                b.asLongBuffer().put(v.values());
                out.write(b.array());
            }
        });
    }

    /** The padded JSON header bytes, exactly as they go into the file. Package-private for tests. */
    static byte[] header(LinkedHashMap<String, Tensor> tensors, Map<String, String> metadata) {
        return header(tensors, new LinkedHashMap<>(), metadata);
    }

    private static byte[] header(LinkedHashMap<String, Tensor> tensors, LinkedHashMap<String, Int64> integers,
                                 Map<String, String> metadata) {
        JsonObject root = new JsonObject(); // keeps insertion order
        if (metadata != null && !metadata.isEmpty()) {
            JsonObject meta = new JsonObject();
            metadata.forEach((k, v) -> {
                if (k == null || v == null) {
                    throw new IllegalArgumentException("safetensors metadata cannot hold null: " + k + "=" + v);
                }
                meta.addProperty(k, v);
            });
            root.add(METADATA_KEY, meta);
        }
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            Tensor t = e.getValue();
            if (t == null) {
                throw new IllegalArgumentException("cannot store tensor named " + e.getKey() + " (null)");
            }
            // DType names are the safetensors names
            offset = describe(root, e.getKey(), t.dtype().name(), t.shape(), offset, (long) t.size() * t.dtype().bytes);
        }
        for (Map.Entry<String, Int64> e : integers.entrySet()) {
            if (tensors.containsKey(e.getKey())) {
                throw new IllegalArgumentException("cannot store " + e.getKey() + " twice");
            }
            offset = describe(root, e.getKey(), "I64", e.getValue().shape(), offset, 8L * e.getValue().values().length);
        }
        byte[] json = GSON.toJson(root).getBytes(StandardCharsets.UTF_8);
        // Padding keeps the data section 8-byte aligned so readers can map F64 data in place.
        int padded = (json.length + 7) & ~7;
        byte[] header = Arrays.copyOf(json, padded);
        Arrays.fill(header, json.length, padded, (byte) ' ');
        return header;
    }

    /** Adds one entry's header object to {@code root}; returns the data offset after it. */
    private static long describe(JsonObject root, String name, String dtype, int[] dims, long offset, long bytes) {
        if (name == null || name.equals(METADATA_KEY)) {
            throw new IllegalArgumentException("cannot store tensor named " + name);
        }
        JsonObject info = new JsonObject();
        info.addProperty("dtype", dtype);
        JsonArray shape = new JsonArray();
        for (int d : dims) {
            shape.add(d);
        }
        info.add("shape", shape);
        JsonArray offsets = new JsonArray();
        offsets.add(offset);
        offsets.add(offset + bytes);
        info.add("data_offsets", offsets);
        root.add(name, info);
        return offset + bytes;
    }

    private static void writeData(OutputStream out, Tensor t) throws IOException {
        // Chunked so a large tensor costs a fixed 64 KiB buffer rather than a second copy of itself.
        ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        int n = t.size(), off = t.offset(); // a view of the parameter store starts inside its array
        if (t.dtype() == DType.F32) {
            float[] a = t.f32();
            for (int i = 0; i < n; ) {
                int m = Math.min(n - i, buf.capacity() / 4);
                buf.clear();
                buf.asFloatBuffer().put(a, off + i, m);
                out.write(buf.array(), 0, m * 4);
                i += m;
            }
        } else {
            double[] a = t.f64();
            for (int i = 0; i < n; ) {
                int m = Math.min(n - i, buf.capacity() / 8);
                buf.clear();
                buf.asDoubleBuffer().put(a, off + i, m);
                out.write(buf.array(), 0, m * 8);
                i += m;
            }
        }
    }

    // ------------------------------------------------------------------------------------------ reading

    /** Stored element types we can read, and how wide they are on disk. */
    private enum Stored {
        F32(4), F64(8), F16(2), BF16(2), I64(8);

        final int bytes;

        Stored(int bytes) {
            this.bytes = bytes;
        }
    }

    private record Entry(String name, Stored dtype, int[] shape, long begin, long end) {
    }

    /**
     * Reads and validates {@code file}. Every defect (missing file, truncation, bad JSON, overlapping or
     * out-of-range offsets, unsupported dtype, shape/size mismatch) is a {@link UserException} naming the file.
     */
    public static Loaded read(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return read(file, ch);
        } catch (NoSuchFileException e) {
            throw new UserException("cannot read " + file + ": no such file; check the path");
        } catch (IOException e) {
            throw new UserException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static Loaded read(Path file, FileChannel ch) throws IOException {
        long fileSize = ch.size();
        if (fileSize < 8) {
            throw corrupt(file, "file is " + fileSize + " bytes, shorter than the 8-byte header length");
        }
        ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, lenBuf, 0);
        long n = lenBuf.flip().getLong();
        // Unsigned on disk: a negative long is a length above 2^63, certainly wrong.
        if (n < 0 || n > fileSize - 8) {
            throw corrupt(file, "header length " + Long.toUnsignedString(n) + " exceeds file size " + fileSize);
        }
        if (n > MAX_HEADER_BYTES) {
            throw corrupt(file, "header length " + n + " exceeds the " + MAX_HEADER_BYTES + "-byte limit");
        }
        if (n < 2) {
            throw corrupt(file, "header length " + n + " is too small for a JSON object");
        }
        ByteBuffer headerBuf = ByteBuffer.allocate((int) n);
        readFully(ch, headerBuf, 8);
        String json;
        try {
            json = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(headerBuf.flip()).toString();
        } catch (CharacterCodingException e) {
            throw corrupt(file, "header is not valid UTF-8");
        }
        JsonObject root = parseHeader(file, json);

        long dataStart = 8 + n;
        long dataSize = fileSize - dataStart;
        Map<String, String> metadata = new LinkedHashMap<>();
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<String, JsonElement> e : root.entrySet()) {
            if (e.getKey().equals(METADATA_KEY)) {
                readMetadata(file, e.getValue(), metadata);
            } else {
                entries.add(parseEntry(file, e.getKey(), e.getValue()));
            }
        }
        checkLayout(file, entries, dataSize);

        LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
        LinkedHashMap<String, Int64> integers = new LinkedHashMap<>();
        for (Entry e : entries) {
            ByteBuffer raw = ByteBuffer.allocate((int) (e.end - e.begin)).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, raw, dataStart + e.begin);
            raw.flip();
            if (e.dtype == Stored.I64) {
                long[] v = new long[(int) Tensor.numel(e.shape)];
                raw.asLongBuffer().get(v);
                integers.put(e.name, new Int64(e.shape, v));
            } else {
                tensors.put(e.name, decode(e, raw));
            }
        }
        return new Loaded(tensors, metadata, integers);
    }

    private static JsonObject parseHeader(Path file, String json) {
        if (!json.startsWith("{")) {
            // Checked up front so that, e.g., a PyTorch pickle gets a clear message rather than a JSON error.
            throw corrupt(file, "header does not start with '{'");
        }
        JsonElement root;
        try {
            root = GSON.fromJson(json, JsonElement.class);
        } catch (JsonParseException e) {
            throw corrupt(file, "header is not valid JSON (" + oneLine(e.getMessage()) + ")");
        }
        if (root == null || !root.isJsonObject()) {
            throw corrupt(file, "header is not a JSON object");
        }
        return root.getAsJsonObject();
    }

    private static void readMetadata(Path file, JsonElement el, Map<String, String> into) {
        if (!el.isJsonObject()) {
            throw corrupt(file, METADATA_KEY + " is not an object");
        }
        for (Map.Entry<String, JsonElement> m : el.getAsJsonObject().entrySet()) {
            JsonElement v = m.getValue();
            if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString()) {
                throw corrupt(file, METADATA_KEY + " value for '" + m.getKey() + "' is not a string");
            }
            into.put(m.getKey(), v.getAsString());
        }
    }

    private static Entry parseEntry(Path file, String name, JsonElement el) {
        String what = "tensor '" + name + "'";
        if (!el.isJsonObject()) {
            throw corrupt(file, what + " is not described by an object");
        }
        JsonObject o = el.getAsJsonObject();
        JsonElement dt = o.get("dtype");
        if (dt == null || !dt.isJsonPrimitive() || !dt.getAsJsonPrimitive().isString()) {
            throw corrupt(file, what + " has no string \"dtype\"");
        }
        Stored dtype;
        try {
            dtype = Stored.valueOf(dt.getAsString());
        } catch (IllegalArgumentException e) {
            throw new UserException(file + ": " + what + " has dtype " + dt.getAsString()
                    + ", which this trainer cannot load (supported: F32, F64, F16, BF16, I64); convert it to F32");
        }
        JsonArray shapeArr = array(file, o, "shape", what);
        int[] shape = new int[shapeArr.size()];
        for (int i = 0; i < shape.length; i++) {
            long d = nonNegativeLong(file, shapeArr.get(i), what + " shape");
            if (d > Integer.MAX_VALUE) {
                throw corrupt(file, what + " has dimension " + d + ", too large");
            }
            shape[i] = (int) d;
        }
        JsonArray offs = array(file, o, "data_offsets", what);
        if (offs.size() != 2) {
            throw corrupt(file, what + " data_offsets has " + offs.size() + " entries, expected 2");
        }
        long begin = nonNegativeLong(file, offs.get(0), what + " data_offsets");
        long end = nonNegativeLong(file, offs.get(1), what + " data_offsets");
        if (end < begin) {
            throw corrupt(file, what + " data_offsets [" + begin + ", " + end + "] end before begin");
        }
        long numel;
        try {
            numel = 1;
            for (int d : shape) {
                numel = Math.multiplyExact(numel, d);
            }
            if (Math.multiplyExact(numel, dtype.bytes) != end - begin) {
                throw corrupt(file, what + " has shape " + Arrays.toString(shape) + " of " + dtype + " ("
                        + numel * dtype.bytes + " bytes) but data_offsets span " + (end - begin) + " bytes");
            }
        } catch (ArithmeticException e) {
            throw corrupt(file, what + " shape " + Arrays.toString(shape) + " overflows");
        }
        if (numel > Integer.MAX_VALUE || end - begin > Integer.MAX_VALUE) {
            // Tensor holds a Java array; nothing in this trainer comes near 2 GiB per tensor.
            throw new UserException(file + ": " + what + " has " + numel + " elements, more than a tensor can hold");
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    /** Offsets must tile the data section exactly: no gaps, no overlaps, nothing past the end or left over. */
    private static void checkLayout(Path file, List<Entry> entries, long dataSize) {
        entries.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long expected = 0;
        for (Entry e : entries) {
            if (e.end > dataSize) {
                throw corrupt(file, "tensor '" + e.name + "' data_offsets [" + e.begin + ", " + e.end
                        + "] run past the end of the data (" + dataSize + " bytes); the file is truncated");
            }
            if (e.begin != expected) {
                throw corrupt(file, "tensor '" + e.name + "' starts at data offset " + e.begin + ", expected "
                        + expected + (e.begin < expected ? " (overlaps the previous tensor)" : " (gap)"));
            }
            expected = e.end;
        }
        if (expected != dataSize) {
            throw corrupt(file, "tensors cover " + expected + " data bytes but the file holds " + dataSize);
        }
    }

    private static Tensor decode(Entry e, ByteBuffer raw) {
        int n = (int) Tensor.numel(e.shape);
        switch (e.dtype) {
            case F64: {
                double[] a = new double[n];
                raw.asDoubleBuffer().get(a);
                return Tensor.of(a, e.shape);
            }
            case F32: {
                float[] a = new float[n];
                raw.asFloatBuffer().get(a);
                return Tensor.of(a, e.shape);
            }
            case BF16: {
                float[] a = new float[n];
                for (int i = 0; i < n; i++) {
                    a[i] = Float.intBitsToFloat((raw.getShort() & 0xffff) << 16); // bf16 is f32's top half
                }
                return Tensor.of(a, e.shape);
            }
            case F16: {
                float[] a = new float[n];
                for (int i = 0; i < n; i++) {
                    a[i] = halfToFloat(raw.getShort());
                }
                return Tensor.of(a, e.shape);
            }
            default:
                throw new AssertionError(e.dtype);
        }
    }

    /** IEEE 754 binary16 to float (Float.float16ToFloat only arrived in Java 20). */
    static float halfToFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0x1f) { // inf / NaN: keep the payload
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) { // zero or subnormal: exact as mant * 2^-24
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }

    // ------------------------------------------------------------------------------------------ helpers

    private static JsonArray array(Path file, JsonObject o, String key, String what) {
        JsonElement el = o.get(key);
        if (el == null || !el.isJsonArray()) {
            throw corrupt(file, what + " has no array \"" + key + "\"");
        }
        return el.getAsJsonArray();
    }

    private static long nonNegativeLong(Path file, JsonElement el, String what) {
        if (el.isJsonPrimitive()) {
            JsonPrimitive p = el.getAsJsonPrimitive();
            if (p.isNumber()) {
                try {
                    long v = new BigDecimal(p.getAsString()).longValueExact();
                    if (v >= 0) {
                        return v;
                    }
                } catch (ArithmeticException | NumberFormatException ignored) {
                    // falls through to the error below
                }
            }
        }
        throw corrupt(file, what + " contains " + el + ", not a non-negative integer");
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos);
            if (r < 0) {
                throw new EOFException("unexpected end of file at byte " + pos);
            }
            pos += r;
        }
    }

    private static UserException corrupt(Path file, String problem) {
        return new UserException(file + " is not a valid safetensors file: " + problem);
    }

    /** A parser's message for the user: one line, without Gson's exception class prefix and troubleshooting link. */
    public static String oneLine(String s) {
        return s == null ? "" : s.replaceAll("\\s+", " ").replaceFirst("^[\\w.]+(Exception|Error): ", "")
                .replaceFirst(" See https://github.com/google/gson/\\S*$", "").trim();
    }
}
