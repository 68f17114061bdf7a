package dev.pdecnn.data;

import dev.pdecnn.UserException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DataSetsTest {
    @TempDir
    Path tmp;

    private final PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());

    @Test
    void mnistFromAFolder() throws IOException {
        TestFiles.writeTinyMnist(tmp, 20, 10, true, false);
        Split s = DataSets.load("mnist", tmp, quiet);
        assertEquals(20, s.train().n());
        assertEquals(1, s.train().c());
    }

    @Test
    void cifar10FromBinaryBatchesDirectOrInSubfolder() throws IOException {
        Cifar10Test.writeBatches(tmp.resolve("direct"), 2);
        Split s = DataSets.load("cifar10", tmp.resolve("direct"), quiet);
        assertEquals(10, s.train().n());
        assertEquals("cifar10", s.train().name());

        Cifar10Test.writeBatches(tmp.resolve("parent").resolve(Cifar10.SUBFOLDER), 1);
        assertEquals(5, DataSets.load("cifar10", tmp.resolve("parent"), quiet).train().n());
    }

    @Test
    void cifar10FromAnImageFolder() throws IOException {
        Path root = tmp.resolve("jpg");
        for (String split : List.of("train", "test")) {
            for (String cls : List.of("airplane", "cat")) {
                ImageFolderTest.writeRgbPng(root.resolve(split).resolve(cls).resolve("0.png"), 4, 4, cls.length());
            }
        }
        Split s = DataSets.load("cifar10", root, quiet);
        assertEquals("cifar10", s.train().name());
        assertEquals(List.of("airplane", "cat"), s.train().classNames());
        // And as a generic folder dataset, named after the folder.
        Split f = DataSets.load("folder", root, quiet);
        assertEquals("jpg", f.train().name());
        assertEquals(2, f.test().n());
    }

    @Test
    void cifar10WithAnUnrecognisedFolder() throws IOException {
        Files.writeString(tmp.resolve("hello.txt"), "hi");
        UserException e = assertThrows(UserException.class, () -> DataSets.load("cifar10", tmp, quiet));
        assertTrue(e.getMessage().contains("neither"), e.getMessage());
        assertTrue(e.getMessage().contains(tmp.toString()), e.getMessage());
    }

    @Test
    void badArguments() {
        UserException e = assertThrows(UserException.class, () -> DataSets.load("folder", null, quiet));
        assertTrue(e.getMessage().contains("--data-dir"), e.getMessage());
        e = assertThrows(UserException.class, () -> DataSets.load("imagenet", tmp, quiet));
        assertTrue(e.getMessage().contains("mnist, cifar10, folder"), e.getMessage());
        e = assertThrows(UserException.class, () -> DataSets.load("cifar10", tmp.resolve("nope"), quiet));
        assertTrue(e.getMessage().contains("nope") && e.getMessage().contains("not a folder"), e.getMessage());
    }
}
