package dev.pdecnn.config;

import dev.pdecnn.UserException;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.DuplicateKeyException;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.YAMLException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;

/** Reads run configs: YAML (JSON is valid YAML, so run folders' config.json files load too). */
public final class ConfigFiles {
    /**
     * A config is a few dozen short keys (the shipped ones are under 1 KB). The limit is applied while reading,
     * before the parser sees a byte: SnakeYAML's scanner is slow on long scalars and long lists (a 50 MB scalar
     * took minutes, 1 MB still several seconds on a cold JVM), while 64 KiB of anything parses in about a second
     * at worst.
     */
    public static final int MAX_BYTES = 64 << 10;
    /** Configs are flat mappings with short lists; deeper nesting only comes from a corrupt or hostile file. */
    static final int MAX_NESTING = 10;

    private ConfigFiles() {
    }

    /** Applies every key of {@code file} to {@code cfg}; unknown keys and bad values name the file and the key. */
    public static void apply(Path file, RunConfig cfg) {
        Object doc = load(file, "config file");
        if (doc == null) {
            return;
        }
        if (!(doc instanceof Map<?, ?> map)) {
            throw new UserException("config file " + file + " must be a mapping of keys to values");
        }
        for (Map.Entry<?, ?> e : map.entrySet()) {
            cfg.set(String.valueOf(e.getKey()), e.getValue(), "config file " + file);
        }
    }

    /**
     * Parses a small YAML file (a config, a sweep file) with the limits below: size, nesting, aliases, duplicate
     * keys. {@code what} names the kind of file in messages ("config file", "sweep file"). Null for an empty file.
     */
    public static Object load(Path file, String what) {
        String text = read(file, what);
        try {
            return new Yaml(new SafeConstructor(options())).load(text);
        } catch (DuplicateKeyException e) {
            Mark m = e.getProblemMark();
            throw new UserException(what + " " + file + (m == null ? "" : " line " + (m.getLine() + 1)) + ": "
                    + e.getProblem() + " (each key may appear once)");
        } catch (YAMLException e) {
            throw new UserException(what + " " + file + " is not valid YAML: " + e.getMessage());
        } catch (StackOverflowError e) {
            throw new UserException(what + " " + file + " is nested too deeply");
        }
    }

    /** SnakeYAML's own guards: duplicate keys are an error, no alias bombs, bounded nesting and size. */
    static LoaderOptions options() {
        LoaderOptions o = new LoaderOptions();
        o.setAllowDuplicateKeys(false);
        o.setMaxAliasesForCollections(10);
        o.setAllowRecursiveKeys(false);
        o.setNestingDepthLimit(MAX_NESTING);
        o.setCodePointLimit(MAX_BYTES);
        return o;
    }

    /** The file as UTF-8 text; reads at most MAX_BYTES + 1 bytes, so a huge file or a device is refused early. */
    private static String read(Path file, String what) {
        byte[] bytes;
        try (InputStream in = Files.newInputStream(file)) {
            bytes = in.readNBytes(MAX_BYTES + 1);
        } catch (NoSuchFileException e) {
            throw new UserException(what + " " + file + " does not exist");
        } catch (IOException e) {
            throw new UserException("cannot read " + what + " " + file + ": " + e.getMessage());
        }
        if (bytes.length > MAX_BYTES) {
            throw new UserException(what + " " + file + " is larger than " + (MAX_BYTES >> 10)
                    + " KiB; such a file holds a few dozen keys, is this the right file?");
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new UserException(what + " " + file + " is not UTF-8 text");
        }
    }
}
