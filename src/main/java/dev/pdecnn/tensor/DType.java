package dev.pdecnn.tensor;

/** Element type of a tensor. F32 is the product path; F64 exists so gradients can be checked exactly. */
public enum DType {
    F32(4), F64(8);

    public final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }
}
