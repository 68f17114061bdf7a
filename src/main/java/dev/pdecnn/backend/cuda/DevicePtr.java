package dev.pdecnn.backend.cuda;

/**
 * An address in device memory, as a {@link KernelRunner} hands it out: a GPU virtual address for a real
 * device, an address in the host driver's process for the emulation. {@code bytes} is the size from this
 * address to the end of the allocation, for bounds checks on the Java side.
 */
public record DevicePtr(long address, long bytes) {
    /** The null pointer: an absent optional tensor argument. */
    public static final DevicePtr NULL = new DevicePtr(0, 0);

    public boolean isNull() {
        return address == 0;
    }

    /** The address {@code byteOffset} bytes further into the same allocation. */
    public DevicePtr plus(long byteOffset) {
        if (isNull() || byteOffset < 0 || byteOffset > bytes) {
            throw new IllegalArgumentException("offset " + byteOffset + " outside a " + bytes + "-byte buffer");
        }
        return new DevicePtr(address + byteOffset, bytes - byteOffset);
    }
}
