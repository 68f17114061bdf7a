package dev.pdecnn.data;

import dev.pdecnn.UserException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Cifar10Test {
    @TempDir
    Path tmp;

    /** A record with label {@code label} whose pixel bytes are deterministic in (seed, position). */
    static byte[] record(int label, long seed) {
        byte[] r = new byte[Cifar10.RECORD];
        r[0] = (byte) label;
        System.arraycopy(TestFiles.pixels(Cifar10.IMAGE_BYTES, seed), 0, r, 1, Cifar10.IMAGE_BYTES);
        return r;
    }

    /**
     * Writes the six batch files with {@code perFile} records each; record {@code r} of file {@code f} has
     * label {@code (f + r) % 10} and pixels seeded by {@code 100 * f + r}.
     */
    static void writeBatches(Path dir, int perFile) throws IOException {
        for (int f = 0; f < Cifar10.FILES.size(); f++) {
            byte[] data = new byte[perFile * Cifar10.RECORD];
            for (int r = 0; r < perFile; r++) {
                System.arraycopy(record((f + r) % 10, 100L * f + r), 0, data, r * Cifar10.RECORD, Cifar10.RECORD);
            }
            TestFiles.write(dir.resolve(Cifar10.FILES.get(f)), data);
        }
    }

    @Test
    void pixelsLandInNchwOrder() throws IOException {
        // One hand-made record: R, G and B planes with a marker value each at (y=5, x=7).
        byte[] rec = new byte[Cifar10.RECORD];
        rec[0] = 3;
        rec[1 + 5 * 32 + 7] = 11;            // R
        rec[1 + 1024 + 5 * 32 + 7] = 22;     // G
        rec[1 + 2048 + 5 * 32 + 7] = 33;     // B
        rec[1 + 2048 + 31 * 32 + 31] = (byte) 200; // B, last pixel
        Path dir = tmp.resolve("one");
        for (String f : Cifar10.FILES) {
            TestFiles.write(dir.resolve(f), rec);
        }
        Split s = Cifar10.load(dir);
        Dataset tr = s.train();
        assertEquals(5, tr.n());
        assertEquals(3, tr.c());
        assertEquals(32, tr.h());
        assertEquals(32, tr.w());
        assertEquals(Cifar10.CLASS_NAMES, tr.classNames());
        for (int n = 0; n < 5; n++) {
            int base = n * 3072;
            assertEquals(11, tr.pixels()[base + (0 * 32 + 5) * 32 + 7]);
            assertEquals(22, tr.pixels()[base + (1 * 32 + 5) * 32 + 7]);
            assertEquals(33, tr.pixels()[base + (2 * 32 + 5) * 32 + 7]);
            assertEquals(200, tr.pixels()[base + (2 * 32 + 31) * 32 + 31] & 0xff);
            assertEquals(3, tr.labels()[n]);
        }
        assertEquals(1, s.test().n());
    }

    @Test
    void concatenatesTrainingBatchesInOrder() throws IOException {
        writeBatches(tmp, 3);
        Split s = Cifar10.load(tmp);
        assertEquals(15, s.train().n());
        assertEquals(3, s.test().n());
        for (int f = 0; f < 5; f++) {
            for (int r = 0; r < 3; r++) {
                int n = f * 3 + r;
                assertEquals((f + r) % 10, s.train().labels()[n]);
                assertArrayEquals(Arrays.copyOfRange(record(0, 100L * f + r), 1, Cifar10.RECORD),
                        Arrays.copyOfRange(s.train().pixels(), n * 3072, (n + 1) * 3072));
            }
        }
        assertArrayEquals(new int[]{5, 6, 7}, s.test().labels());
    }

    @Test
    void findsTheArchiveSubfolderAndMetaNames() throws IOException {
        Path sub = tmp.resolve(Cifar10.SUBFOLDER);
        writeBatches(sub, 1);
        List<String> names = List.of("a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9");
        Files.writeString(sub.resolve(Cifar10.META_FILE), String.join("\n", names) + "\n\n");
        assertTrue(Cifar10.isComplete(tmp));
        assertEquals(sub, Cifar10.locate(tmp).orElseThrow());
        Split s = Cifar10.load(tmp);
        assertEquals(names, s.train().classNames());

        // A meta file that does not name ten classes is ignored.
        Files.writeString(sub.resolve(Cifar10.META_FILE), "x\ny\n");
        assertEquals(Cifar10.CLASS_NAMES, Cifar10.load(tmp).train().classNames());
    }

    @Test
    void truncatedFileIsNamedWithItsSize() throws IOException {
        writeBatches(tmp, 2);
        Path f = tmp.resolve("data_batch_3.bin");
        byte[] data = Files.readAllBytes(f);
        Files.write(f, Arrays.copyOf(data, data.length - 100));
        assertFalse(Cifar10.isComplete(tmp));
        UserException e = assertThrows(UserException.class, () -> Cifar10.load(tmp));
        assertTrue(e.getMessage().contains("data_batch_3.bin"), e.getMessage());
        assertTrue(e.getMessage().contains(String.valueOf(data.length - 100)), e.getMessage());
        assertTrue(e.getMessage().contains("3073"), e.getMessage());

        Files.write(f, new byte[0]);
        e = assertThrows(UserException.class, () -> Cifar10.load(tmp));
        assertTrue(e.getMessage().contains("data_batch_3.bin") && e.getMessage().contains("size 0"), e.getMessage());
    }

    @Test
    void badLabelNamesFileAndRecord() throws IOException {
        writeBatches(tmp, 4);
        Path f = tmp.resolve("test_batch.bin");
        byte[] data = Files.readAllBytes(f);
        data[2 * Cifar10.RECORD] = 10;
        Files.write(f, data);
        UserException e = assertThrows(UserException.class, () -> Cifar10.load(tmp));
        assertTrue(e.getMessage().contains("test_batch.bin"), e.getMessage());
        assertTrue(e.getMessage().contains("record 2"), e.getMessage());
        assertTrue(e.getMessage().contains("label 10"), e.getMessage());
    }

    @Test
    void missingFileIsNamed() throws IOException {
        writeBatches(tmp, 1);
        Files.delete(tmp.resolve("data_batch_5.bin"));
        assertFalse(Cifar10.isComplete(tmp));
        UserException e = assertThrows(UserException.class, () -> Cifar10.load(tmp));
        assertTrue(e.getMessage().contains("data_batch_5.bin"), e.getMessage());
        assertTrue(e.getMessage().contains("not found"), e.getMessage());

        UserException none = assertThrows(UserException.class, () -> Cifar10.load(tmp.resolve("nope")));
        assertTrue(none.getMessage().contains("nope"), none.getMessage());
        assertTrue(Cifar10.locate(tmp.resolve("nope")).isEmpty());
    }
}
