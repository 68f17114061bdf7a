package dev.pdecnn.backend.cuda;

/**
 * A device allocation did not fit. The message names what was being allocated (the operation and the tensor),
 * how many bytes, and how much was free; the fields carry the same for programs ({@code -1}: unknown).
 */
public final class DeviceOutOfMemoryException extends KernelException {
    private static final long serialVersionUID = 1L;
    public final String what;
    public final long requested, free, largestFree, capacity;

    public DeviceOutOfMemoryException(String what, long requested, long free, long largestFree, long capacity,
                                      String message, Throwable cause) {
        super(message, cause);
        this.what = what;
        this.requested = requested;
        this.free = free;
        this.largestFree = largestFree;
        this.capacity = capacity;
    }
}
