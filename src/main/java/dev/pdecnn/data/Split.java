package dev.pdecnn.data;

/** A dataset's training and test parts, loaded together so their shapes and classes are known to agree. */
public record Split(Dataset train, Dataset test) {
}
