package dev.pdecnn.config;

import dev.pdecnn.UserException;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.YAMLException;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;

/** Reads run configs: YAML (JSON is valid YAML, so run folders' config.json files load too). */
public final class ConfigFiles {
    private ConfigFiles() {
    }

    /** Applies every key of {@code file} to {@code cfg}; unknown keys and bad values name the file and the key. */
    public static void apply(Path file, RunConfig cfg) {
        Object doc;
        try (Reader r = Files.newBufferedReader(file)) {
            doc = new Yaml(new SafeConstructor(new LoaderOptions())).load(r);
        } catch (NoSuchFileException e) {
            throw new UserException("config file " + file + " does not exist");
        } catch (IOException e) {
            throw new UserException("cannot read config file " + file + ": " + e.getMessage());
        } catch (YAMLException e) {
            throw new UserException("config file " + file + " is not valid YAML: "
                    + e.getMessage().replace('\n', ' '));
        }
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
}
