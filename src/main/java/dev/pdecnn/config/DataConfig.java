package dev.pdecnn.config;

import dev.pdecnn.config.Choices.DataSet;

/**
 * The data part of a validated {@link RunConfig}: which data set, where its files are, the augmentation, and how
 * much of each split a run uses.
 *
 * @param dataset    the data set (the model's default filled in)
 * @param dataDir    the folder with its files, or null for the download cache
 * @param padCrop    augmentation: zero-pad by this much, then crop back at random (0 = off)
 * @param hflip      augmentation: random horizontal flip
 * @param limitTrain use only this many training images, evenly spaced (0 = all)
 * @param limitTest  use only this many test images (0 = all)
 */
public record DataConfig(DataSet dataset, String dataDir, int padCrop, boolean hflip, int limitTrain, int limitTest) {
}
