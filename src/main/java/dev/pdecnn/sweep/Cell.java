package dev.pdecnn.sweep;

import dev.pdecnn.UserException;
import dev.pdecnn.config.ConfigFiles;
import dev.pdecnn.config.RunConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One run of a sweep: a config (a file, or a model name when the entry has no file), the overrides of its entry
 * and of the sweep's train keys, the values of the free axes, a seed and the epochs. Its run folder is
 * {@code SWEEP/cells/<id>} ({@link #run}, relative to the sweep folder), a normal trainer run folder.
 */
public record Cell(int index, String id, String config, Map<String, Object> overrides, Map<String, Object> axes,
                   long seed, int epochs, String run) {

    /** True when {@link #config} names a file; otherwise it is the model name of an entry without one. */
    public boolean hasFile() {
        return isFileName(config);
    }

    static boolean isFileName(String config) {
        String c = config.toLowerCase(java.util.Locale.ROOT);
        return c.endsWith(".yaml") || c.endsWith(".yml") || c.endsWith(".json");
    }

    /**
     * The cell's config file: {@link #config} as written when absolute, else the first existing one of it under
     * {@code bases} (the working folder; the jar's folder and its parent, which hold configs/ in the repository
     * and in the Docker image).
     */
    public Path configFile(List<Path> bases) {
        Path p = Path.of(config);
        if (p.isAbsolute()) {
            return p;
        }
        for (Path b : bases) {
            Path q = b.resolve(p);
            if (Files.isRegularFile(q)) {
                return q;
            }
        }
        throw new UserException("cell " + id + ": config file " + config + " not found under " + bases);
    }

    /** The folders {@link #configFile} looks in: the working folder, then the running jar's folder and parent. */
    public static List<Path> defaultBases() {
        List<Path> bases = new ArrayList<>();
        bases.add(Path.of("").toAbsolutePath());
        Path jar = Launcher.selfJar();
        if (jar != null && jar.getParent() != null) {
            bases.add(jar.getParent());
            if (jar.getParent().getParent() != null) {
                bases.add(jar.getParent().getParent());
            }
        }
        return bases;
    }

    /**
     * The effective, validated config of this cell, training into {@code cellsDir}/{@link #id}: built-in
     * defaults, the config file, the overrides, the axes, seed and epochs, each through {@link RunConfig#set}, so
     * a bad value is refused with the same message as in a config file. {@code source} names the sweep file.
     */
    public RunConfig toConfig(Path configFile, Path cellsDir, String source) {
        RunConfig c = new RunConfig();
        if (configFile != null) {
            ConfigFiles.apply(configFile, c);
        }
        overrides.forEach((k, v) -> c.set(k, v, source + ", overrides of cell " + id));
        axes.forEach((k, v) -> c.set(k, v, source + ", axis " + k + " of cell " + id));
        c.set("seed", seed, source + ", seeds");
        c.set("epochs", (long) epochs, source + ", epochs");
        c.set("out", cellsDir.toString(), source);
        c.set("name", id, source);
        try {
            c.validate();
        } catch (UserException e) {
            throw new UserException(source + ", cell " + id + ": " + e.getMessage());
        }
        return c;
    }
}
