package dev.pdecnn.backend.cuda;

/** A kernel launch, allocation or copy failed on the device (or in the host emulation). */
public class KernelException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public KernelException(String message) {
        super(message);
    }

    public KernelException(String message, Throwable cause) {
        super(message, cause);
    }
}
