package dev.pdecnn.io;

import dev.pdecnn.UserException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AtomicFilesTest {

    @TempDir
    Path dir;

    private List<Path> listing() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.collect(Collectors.toList());
        }
    }

    @Test
    void writesNewFileAndReplacesExisting() throws IOException {
        Path f = dir.resolve("metrics.json");
        AtomicFiles.writeString(f, "first");
        assertEquals("first", Files.readString(f));
        AtomicFiles.writeString(f, "second, longer ☃");
        assertEquals("second, longer ☃", Files.readString(f, StandardCharsets.UTF_8));
        assertEquals(List.of(f), listing());
    }

    @Test
    void createsMissingParentDirectories() throws IOException {
        Path f = dir.resolve("a/b/c.bin");
        AtomicFiles.writeBytes(f, new byte[] {1, 2, 3});
        assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(f));
    }

    @Test
    void ioFailureMidwayKeepsOldContentAndLeavesNoTemp() throws IOException {
        Path f = dir.resolve("ckpt.safetensors");
        AtomicFiles.writeString(f, "old content");
        UserException e = assertThrows(UserException.class, () -> AtomicFiles.write(f, out -> {
            out.write(new byte[100_000]); // past the buffer, so some bytes reach the temp file
            throw new IOException("disk full");
        }));
        assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("disk full"), e.getMessage());
        assertEquals("old content", Files.readString(f));
        assertEquals(List.of(f), listing());
    }

    @Test
    void runtimeFailureIsRethrownUnchangedAndCleansUp() throws IOException {
        Path f = dir.resolve("plot.png");
        AtomicFiles.writeString(f, "old");
        RuntimeException boom = new UncheckedIOException(new IOException("boom"));
        RuntimeException thrown = assertThrows(RuntimeException.class, () -> AtomicFiles.write(f, out -> {
            out.write(1);
            throw boom;
        }));
        assertSame(boom, thrown);
        assertEquals("old", Files.readString(f));
        assertEquals(List.of(f), listing());
    }

    @Test
    void writerClosingTheStreamIsHarmless() throws IOException {
        Path f = dir.resolve("x.txt");
        AtomicFiles.write(f, out -> {
            try (OutputStream o = out) {
                o.write("hello".getBytes(StandardCharsets.UTF_8));
            }
        });
        assertEquals("hello", Files.readString(f));
    }

    @Test
    void unwritableTargetIsAUserError() throws IOException {
        Path blocker = dir.resolve("file");
        Files.writeString(blocker, "I am a file, not a directory");
        UserException e = assertThrows(UserException.class,
                () -> AtomicFiles.writeString(blocker.resolve("child.txt"), "x"));
        assertTrue(e.getMessage().startsWith("cannot write "), e.getMessage());
    }
}
