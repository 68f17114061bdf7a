package dev.pdecnn.cli;

import dev.pdecnn.config.RunConfig;

import java.util.Iterator;
import java.util.List;

/**
 * The allowed values of the config keys that are choices, as picocli completion candidates: an option names one
 * of these classes ({@code completionCandidates}) and writes {@code ${COMPLETION-CANDIDATES}} in its description,
 * so --help lists the values {@link RunConfig} accepts for the key, which come from the key's enum
 * ({@code config.Choices}). Shell completion gets the same list.
 */
final class ChoiceNames {
    private ChoiceNames() {
    }

    /** The allowed values of one choice key. */
    abstract static class Of implements Iterable<String> {
        private final List<String> names;

        Of(String key) {
            names = RunConfig.choices(key);
            if (names == null) {
                throw new IllegalStateException("config key '" + key + "' is no choice");
            }
        }

        @Override
        public Iterator<String> iterator() {
            return names.iterator();
        }
    }

    static final class Models extends Of {
        Models() {
            super("model");
        }
    }

    static final class DataSets extends Of {
        DataSets() {
            super("dataset");
        }
    }

    static final class Velocities extends Of {
        Velocities() {
            super("velocity");
        }
    }

    static final class Diffusivities extends Of {
        Diffusivities() {
            super("diffusivity");
        }
    }

    static final class SubNets extends Of {
        SubNets() {
            super("velocity_net");
        }
    }

    static final class Inits extends Of {
        Inits() {
            super("init");
        }
    }

    static final class WeightInits extends Of {
        WeightInits() {
            super("weight_init");
        }
    }

    static final class Precisions extends Of {
        Precisions() {
            super("precision");
        }
    }
}
