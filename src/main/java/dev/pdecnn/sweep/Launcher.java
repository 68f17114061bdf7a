package dev.pdecnn.sweep;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command that starts this trainer again in a new JVM: the running java binary, and the running jar (or,
 * when run from classes as in tests, the class path and the main class). Cells run in their own JVMs so that a
 * crash, an out-of-memory error or a stop signal of one cell touches no other.
 */
public final class Launcher {
    static final String MAIN_CLASS = "dev.pdecnn.cli.Main";

    private Launcher() {
    }

    /** The java binary of this process (ProcessHandle knows it; java.home is the fallback). */
    public static String javaBinary() {
        return ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    }

    /** The jar this class was loaded from, or null when it runs from a classes folder. */
    public static Path selfJar() {
        try {
            Path loc = Path.of(Launcher.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            return loc.toString().endsWith(".jar") && Files.isRegularFile(loc) ? loc.toAbsolutePath() : null;
        } catch (java.net.URISyntaxException | RuntimeException e) {
            return null;
        }
    }

    /**
     * {@code java [jvmArgs] -jar JAR args...}, or {@code java [jvmArgs] -cp CLASSPATH dev.pdecnn.cli.Main args...}
     * outside a jar.
     */
    public static List<String> command(List<String> jvmArgs, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(javaBinary());
        cmd.add("-Djava.awt.headless=true");
        cmd.addAll(jvmArgs);
        Path jar = selfJar();
        if (jar != null) {
            cmd.add("-jar");
            cmd.add(jar.toString());
        } else {
            cmd.add("-cp");
            cmd.add(System.getProperty("java.class.path"));
            cmd.add(MAIN_CLASS);
        }
        cmd.addAll(args);
        return cmd;
    }

    /** The same as one shell word (for the scripts the Slurm executor writes). */
    public static String shellQuote(String s) {
        return s.matches("[A-Za-z0-9_./:=+,@%-]+") ? s : "'" + s.replace("'", "'\\''") + "'";
    }
}
