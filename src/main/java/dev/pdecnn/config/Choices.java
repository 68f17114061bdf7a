package dev.pdecnn.config;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Enum constants as config values: {@code PERONA_MALIK} is written {@code perona_malik}. The enums that name a
 * key's choices (the Global layer's modes and sub-networks, {@code nn.GlobalSpec}) are the one list of them:
 * {@link RunConfig} takes its allowed values from them and turns a value back into its constant here.
 */
public final class Choices {
    private Choices() {
    }

    /** The config spelling of {@code e}. */
    public static String name(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }

    /** The config spellings of {@code values}, in their order. */
    @SafeVarargs
    public static <E extends Enum<E>> List<String> names(E... values) {
        return Arrays.stream(values).map(Choices::name).toList();
    }

    /** The constant of {@code type} that a validated config value names (null stays null). */
    public static <E extends Enum<E>> E parse(Class<E> type, String value) {
        return value == null ? null : Enum.valueOf(type, value.toUpperCase(Locale.ROOT));
    }
}
