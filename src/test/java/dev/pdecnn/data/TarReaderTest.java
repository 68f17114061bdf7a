package dev.pdecnn.data;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

class TarReaderTest {
    @Test
    void readsPlainPrefixedLongAndPaxNames() throws IOException {
        String longDir = "package/" + "d".repeat(120) + "/";
        byte[] big = TestFiles.pixels(1300, 1);
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        TestFiles.tarFile(bos, "package/a.txt", "hello".getBytes(StandardCharsets.UTF_8));
        TestFiles.tarFile(bos, longDir + "long.bin", big);
        TestFiles.tarFilePax(bos, "package/pax/name.bin", new byte[]{1, 2, 3});
        TestFiles.tarFilePrefixed(bos, "package/prefix", "p.bin", new byte[512]);
        TestFiles.tarFile(bos, "package/empty", new byte[0]);
        TestFiles.tarEnd(bos);

        TarReader tar = new TarReader(new ByteArrayInputStream(bos.toByteArray()));
        List<String> names = new ArrayList<>();
        for (TarReader.Entry e; (e = tar.next()) != null; ) {
            names.add(e.name());
            if (e.name().endsWith("long.bin")) {
                assertEquals("long.bin", e.baseName());
                assertArrayEquals(big, tar.content().readAllBytes());
            }
            if (e.name().endsWith("name.bin")) {
                assertArrayEquals(new byte[]{1, 2, 3}, tar.content().readAllBytes());
            }
            // a.txt content is deliberately not read: next() must skip it.
        }
        assertEquals(List.of("package/a.txt", longDir + "long.bin", "package/pax/name.bin", "package/prefix/p.bin",
                "package/empty"), names);
        assertNull(tar.next());
    }

    @Test
    void rejectsGarbage() {
        byte[] junk = TestFiles.pixels(1024, 5);
        assertThrows(IOException.class, () -> new TarReader(new ByteArrayInputStream(junk)).next());
    }

    @Test
    void truncatedEntryIsAnError() throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        TestFiles.tarFile(bos, "x", new byte[2000]);
        byte[] cut = java.util.Arrays.copyOf(bos.toByteArray(), 1200);
        TarReader tar = new TarReader(new ByteArrayInputStream(cut));
        tar.next();
        assertThrows(IOException.class, () -> tar.content().readAllBytes());
    }

    @Test
    void paxPathParsing() {
        byte[] data = "20 mtime=1234567890\n20 path=foo/bar.txt\n".getBytes(StandardCharsets.UTF_8);
        assertEquals("foo/bar.txt", TarReader.paxPath(data));
        assertNull(TarReader.paxPath("12 uid=1000\n".getBytes(StandardCharsets.UTF_8)));
    }
}
