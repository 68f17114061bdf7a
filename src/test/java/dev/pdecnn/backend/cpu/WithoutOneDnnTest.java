package dev.pdecnn.backend.cpu;

import org.junit.jupiter.api.Test;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A platform without oneDNN's natives (macOS, Linux on arm64, the GPU kit): the trainer, in a child JVM whose
 * class path lacks the linux-x86_64 natives jar, says so in one note and trains ResNet32 on the built-in kernels.
 */
class WithoutOneDnnTest {
    @Test
    void trainsOnTheBuiltInKernelsWithOneNote() throws Exception {
        String[] entries = System.getProperty("java.class.path").split(File.pathSeparator);
        String classPath = Arrays.stream(entries).filter(e -> !(e.contains("dnnl") && e.contains("linux-x86_64")))
                .collect(Collectors.joining(File.pathSeparator));
        assertTrue(entries.length > classPath.split(File.pathSeparator).length, "the natives jar is on the class path");
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                classPath, "dev.pdecnn.cli.Main", "bench", "resnet32", "--batch", "2", "--warmup", "0", "--reps", "1");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "bench finished");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), out);
        assertEquals(1, out.lines().filter(l -> l.startsWith("note: oneDNN could not be loaded")).count(), out);
        assertTrue(out.lines().anyMatch(l -> l.startsWith("float32, ") && l.contains("convolutions: OpenBLAS")
                && l.contains("; oneDNN not loaded")), out);
        assertTrue(out.lines().anyMatch(l -> l.startsWith("| resnet32 | 2 |")), out);
        assertTrue(out.lines().noneMatch(l -> l.startsWith("\tat ") || l.startsWith("Caused by")), out);
    }
}
