package dev.pdecnn.io;

import dev.pdecnn.UserException;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsTest {

    @TempDir
    Path dir;

    private static Tensor f32(int... shape) {
        Tensor t = Tensor.zeros(DType.F32, shape);
        for (int i = 0; i < t.size(); i++) {
            t.set(i, Math.sin(i * 0.37) * 1e3 - i);
        }
        return t;
    }

    private static Tensor f64(int... shape) {
        Tensor t = Tensor.zeros(DType.F64, shape);
        for (int i = 0; i < t.size(); i++) {
            t.set(i, Math.PI * i - 1e-300 * i);
        }
        return t;
    }

    @Test
    void roundTripKeepsOrderShapesDtypesAndMetadata() {
        LinkedHashMap<String, Tensor> in = new LinkedHashMap<>();
        in.put("stem.conv.weight", f32(16, 3, 3, 3));
        in.put("z.scalar", Tensor.of(new double[] {-0.125}));     // shape []
        in.put("a.odd", f32(3, 5, 7));                            // 105 floats: data not 8-aligned after it
        in.put("bn.running_var", f64(17));
        in.put("empty", Tensor.zeros(DType.F32, 0, 4));
        in.put("big", f32(70_000));                               // larger than the write chunk
        in.put("special", Tensor.of(new float[] {Float.NaN, Float.POSITIVE_INFINITY, -0.0f, Float.MIN_VALUE}, 2, 2));
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "pt");
        meta.put("config", "{\"model\": \"resnet32_global\", \"note\": \"<ü & =>\"}");

        Path f = dir.resolve("ckpt.safetensors");
        Safetensors.write(f, in, meta);
        Safetensors.Loaded out = Safetensors.read(f);

        assertEquals(List.copyOf(in.keySet()), List.copyOf(out.tensors().keySet()));
        assertEquals(meta, out.metadata());
        for (Map.Entry<String, Tensor> e : in.entrySet()) {
            Tensor a = e.getValue();
            Tensor b = out.tensors().get(e.getKey());
            assertEquals(a.dtype(), b.dtype(), e.getKey());
            assertArrayEquals(a.shape(), b.shape(), e.getKey());
            if (a.dtype() == DType.F32) {
                assertArrayEquals(a.f32(), b.f32(), e.getKey()); // bitwise, NaN and -0 included
            } else {
                assertArrayEquals(a.f64(), b.f64(), e.getKey());
            }
        }
    }

    @Test
    void headerLengthIsMultipleOfEightAndDataFollows() throws IOException {
        LinkedHashMap<String, Tensor> in = new LinkedHashMap<>();
        in.put("w", f32(3));
        Path f = dir.resolve("t.safetensors");
        Safetensors.write(f, in, null);
        byte[] bytes = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8);
        assertEquals(8 + n + 12, bytes.length);
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        assertTrue(!header.contains("__metadata__"), "empty metadata is omitted: " + header);
    }

    /** The exact bytes the format prescribes for a tiny file, assembled by hand from the spec. */
    @Test
    void matchesHandBuiltReferenceBytes() throws IOException {
        String json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"; // 54 bytes
        ByteArrayOutputStream ref = new ByteArrayOutputStream();
        ref.write(new byte[] {56, 0, 0, 0, 0, 0, 0, 0});                  // 54 padded up to 56
        ref.write(json.getBytes(StandardCharsets.US_ASCII));
        ref.write(new byte[] {' ', ' '});
        ref.write(new byte[] {0, 0, (byte) 0x80, 0x3f, 0, 0, 0, (byte) 0xc0}); // 1.0f, -2.0f little-endian

        LinkedHashMap<String, Tensor> in = new LinkedHashMap<>();
        in.put("a", Tensor.of(new float[] {1f, -2f}, 2));
        Path f = dir.resolve("a.safetensors");
        Safetensors.write(f, in, Map.of());
        assertArrayEquals(ref.toByteArray(), Files.readAllBytes(f));

        // And a hand-built file with metadata and an F64 scalar reads back.
        String json2 = "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]}}";
        ByteArrayOutputStream ref2 = new ByteArrayOutputStream();
        ref2.write(new byte[] {88, 0, 0, 0, 0, 0, 0, 0});
        ref2.write(json2.getBytes(StandardCharsets.US_ASCII));
        ref2.write("    ".getBytes(StandardCharsets.US_ASCII));
        ref2.write(new byte[] {0, 0, 0, 0, 0, 0, (byte) 0xe0, 0x3f}); // 0.5
        Path g = dir.resolve("b.safetensors");
        Files.write(g, ref2.toByteArray());
        Safetensors.Loaded l = Safetensors.read(g);
        assertEquals(Map.of("format", "pt"), l.metadata());
        assertArrayEquals(new int[0], l.tensors().get("b").shape());
        assertEquals(0.5, l.tensors().get("b").f64()[0]);

        LinkedHashMap<String, Tensor> in2 = new LinkedHashMap<>();
        in2.put("b", Tensor.of(new double[] {0.5}));
        Path h = dir.resolve("b2.safetensors");
        Safetensors.write(h, in2, Map.of("format", "pt"));
        assertArrayEquals(ref2.toByteArray(), Files.readAllBytes(h));
    }

    /** Files from other tools list tensors in any JSON order; we return them in data order. */
    @Test
    void readsHalfPrecisionAndOutOfOrderHeaders() throws IOException {
        String json = "{\"late\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,8]},"
                + "\"early\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}";
        ByteBuffer data = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        data.putShort((short) 0x3c00).putShort((short) 0xc000);   // f16 1.0, -2.0
        data.putShort((short) 0x3f80).putShort((short) 0x4049);   // bf16 1.0, 3.140625
        Path f = write(dir.resolve("half.safetensors"), json, data.array());
        Safetensors.Loaded l = Safetensors.read(f);
        assertEquals(List.of("early", "late"), List.copyOf(l.tensors().keySet()));
        assertArrayEquals(new float[] {1f, -2f}, l.tensors().get("early").f32());
        assertArrayEquals(new float[] {1f, 3.140625f}, l.tensors().get("late").f32());
    }

    @Test
    void halfToFloatCoversSpecialValues() {
        assertEquals(65504f, Safetensors.halfToFloat((short) 0x7bff));
        assertEquals(0x1p-24f, Safetensors.halfToFloat((short) 0x0001));       // smallest subnormal
        assertEquals(0x1p-14f, Safetensors.halfToFloat((short) 0x0400));       // smallest normal
        assertEquals(Float.NEGATIVE_INFINITY, Safetensors.halfToFloat((short) 0xfc00));
        assertTrue(Float.isNaN(Safetensors.halfToFloat((short) 0x7e00)));
        assertEquals(Float.floatToIntBits(-0f), Float.floatToIntBits(Safetensors.halfToFloat((short) 0x8000)));
    }

    // ----------------------------------------------------------------------------------- corrupt files

    private static Path write(Path f, String json, byte[] data) throws IOException {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        Files.write(f, b.array());
        return f;
    }

    private String readError(Path f) {
        UserException e = assertThrows(UserException.class, () -> Safetensors.read(f));
        assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    private Path valid() {
        LinkedHashMap<String, Tensor> in = new LinkedHashMap<>();
        in.put("a", f32(4, 4));
        in.put("b", f64(3));
        Path f = dir.resolve("valid.safetensors");
        Safetensors.write(f, in, Map.of("k", "v"));
        return f;
    }

    @Test
    void truncatedFile() throws IOException {
        byte[] bytes = Files.readAllBytes(valid());
        Path f = dir.resolve("trunc.safetensors");
        Files.write(f, Arrays.copyOf(bytes, bytes.length - 5));
        assertTrue(readError(f).contains("truncated"));

        Files.write(f, Arrays.copyOf(bytes, 30)); // cut inside the header
        assertTrue(readError(f).contains("exceeds file size"));

        Files.write(f, new byte[] {1, 2, 3});
        assertTrue(readError(f).contains("shorter than"));
    }

    @Test
    void hugeHeaderLength() throws IOException {
        Path f = dir.resolve("huge.safetensors");
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(123456789L);
        Files.write(f, b.array());
        assertTrue(readError(f).contains("header length 123456789 exceeds file size 16"));
        b.clear();
        b.putLong(-1L); // 2^64 - 1 unsigned
        Files.write(f, b.array());
        assertTrue(readError(f).contains("18446744073709551615"));
    }

    @Test
    void notJson() throws IOException {
        assertTrue(readError(write(dir.resolve("pickle.pt"), "\u0080\u0002}q\u0000", new byte[0])).contains("'{'"));
        assertTrue(readError(write(dir.resolve("bad.safetensors"), "{\"a\":{\"dtype\":", new byte[0]))
                .contains("not valid JSON"));
        assertTrue(readError(write(dir.resolve("lenient.safetensors"), "{'a':1}", new byte[0]))
                .contains("not valid JSON"));
        assertTrue(readError(write(dir.resolve("trail.safetensors"), "{}{}", new byte[0]))
                .contains("not valid JSON"));
        Path f = dir.resolve("utf.safetensors");
        ByteBuffer b = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putLong(4);
        b.put(new byte[] {'{', (byte) 0xff, '}', ' '});
        Files.write(f, b.array());
        assertTrue(readError(f).contains("UTF-8"));
    }

    @Test
    void badEntries() throws IOException {
        byte[] eight = new byte[8];
        assertTrue(readError(write(dir.resolve("past.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", eight)).contains("past the end"));
        assertTrue(readError(write(dir.resolve("gap.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", eight)).contains("gap"));
        assertTrue(readError(write(dir.resolve("overlap.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", eight)).contains("overlaps"));
        assertTrue(readError(write(dir.resolve("leftover.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", eight)).contains("holds 8"));
        assertTrue(readError(write(dir.resolve("shape.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", eight)).contains("span 8 bytes"));
        assertTrue(readError(write(dir.resolve("neg.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", eight)).contains("non-negative"));
        assertTrue(readError(write(dir.resolve("frac.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.5]}}", eight)).contains("non-negative"));
        assertTrue(readError(write(dir.resolve("dtype.safetensors"),
                "{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", eight)).contains("I32"));
        assertTrue(readError(write(dir.resolve("noshape.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", eight)).contains("\"shape\""));
        assertTrue(readError(write(dir.resolve("meta.safetensors"),
                "{\"__metadata__\":{\"epoch\":3}}", new byte[0])).contains("not a string"));
    }

    @Test
    void missingFile() {
        assertTrue(readError(dir.resolve("nope.safetensors")).contains("no such file"));
    }

    @Test
    void rejectsReservedName() {
        LinkedHashMap<String, Tensor> in = new LinkedHashMap<>();
        in.put("__metadata__", f32(1));
        assertThrows(IllegalArgumentException.class, () -> Safetensors.write(dir.resolve("x"), in, null));
    }

    /** I64 entries (PyTorch's num_batches_tracked) round-trip exactly, also beyond 2^53 where a double would round. */
    @Test
    void int64EntriesRoundTripBesideTensors() throws IOException {
        LinkedHashMap<String, Tensor> in = new LinkedHashMap<>();
        in.put("bn.running_mean", f32(3));
        LinkedHashMap<String, Safetensors.Int64> ints = new LinkedHashMap<>();
        ints.put("bn.num_batches_tracked", Safetensors.Int64.scalar(123_457));
        ints.put("big", new Safetensors.Int64(new int[] {3}, new long[] {(1L << 53) + 1, -7, Long.MAX_VALUE}));
        Path f = dir.resolve("ints.safetensors");
        Safetensors.write(f, in, ints, Map.of("format", "pt"));
        Safetensors.Loaded l = Safetensors.read(f);
        assertEquals(List.of("bn.running_mean"), List.copyOf(l.tensors().keySet()));
        assertEquals(List.of("bn.num_batches_tracked", "big"), List.copyOf(l.integers().keySet()));
        assertArrayEquals(new int[0], l.integers().get("bn.num_batches_tracked").shape());
        assertArrayEquals(new long[] {123_457}, l.integers().get("bn.num_batches_tracked").values());
        assertArrayEquals(new long[] {(1L << 53) + 1, -7, Long.MAX_VALUE}, l.integers().get("big").values());
        String header = new String(Files.readAllBytes(f), StandardCharsets.UTF_8);
        assertTrue(header.contains("\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[]"), header);
        assertThrows(IllegalArgumentException.class, () -> new Safetensors.Int64(new int[] {2}, new long[] {1}));
    }
}
