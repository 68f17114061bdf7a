package dev.pdecnn.config;

import dev.pdecnn.config.Choices.MatmulPrecision;

/**
 * The run part of a validated {@link RunConfig}: where a run trains and where it is written.
 *
 * @param device    cpu, auto, a GPU number or emulated, as {@code --device} takes it
 * @param precision the float32 matrix products on a GPU, or null for the device's default
 * @param out       the folder that receives run folders
 * @param name      the run folder's name, or null for one derived from the model
 */
public record RunSetup(String device, MatmulPrecision precision, String out, String name) {
}
