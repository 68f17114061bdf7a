package dev.pdecnn.train;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;

/**
 * Slow training steps in a child JVM, so that a test's signal reliably arrives mid-epoch on any machine: a java
 * agent that sets {@link Trainer#afterEachStep} to a sleep before the trainer's main runs. Changes no number. The
 * agent's jar holds only a manifest; its class is found on the child's class path (the tests' own).
 */
public final class SlowSteps {
    private static Path jar;

    private SlowSteps() {
    }

    /** Agent entry point; {@code args} is the delay in milliseconds. */
    public static void premain(String args) {
        long ms = Long.parseLong(args.strip());
        Trainer.afterEachStep = () -> {
            try {
                Thread.sleep(ms);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
    }

    /** The JVM argument that slows each step of a child trainer by {@code millis}. */
    public static synchronized String jvmArg(long millis) {
        if (jar == null) {
            try {
                Path f = Files.createTempFile("slow-steps", ".jar");
                f.toFile().deleteOnExit();
                Manifest m = new Manifest();
                m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
                m.getMainAttributes().putValue("Premain-Class", SlowSteps.class.getName());
                try (OutputStream out = Files.newOutputStream(f); JarOutputStream j = new JarOutputStream(out, m)) {
                    j.flush();
                }
                jar = f;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return "-javaagent:" + jar + "=" + millis;
    }
}
