package dev.pdecnn.config;

import java.util.Map;

/**
 * A validated {@link RunConfig}, parsed once into its typed parts (choices as enums, model defaults filled in),
 * with the keys they were made from as the trainer records them (config.json, every checkpoint, summary.json).
 * Made by {@link RunConfig#validate()}; code that trains, builds or loads reads these parts, not the config's
 * string fields.
 *
 * @param model what {@code Models.build} reads
 * @param data  the data set, augmentation and limits
 * @param optim the schedule and SGD step
 * @param run   device, precision and run folder
 * @param keys  the effective config as an ordered key-value map (read-only; lists are copies)
 */
public record TypedConfig(ModelConfig model, DataConfig data, OptimConfig optim, RunSetup run,
                          Map<String, Object> keys) {
}
