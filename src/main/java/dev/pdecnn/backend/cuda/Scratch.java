package dev.pdecnn.backend.cuda;

/**
 * Device buffers for one operation only (partial sums, intermediate states), handed to the kernel families by
 * the operation that runs them; they go back when the operation ends (to the step cache on a pool).
 */
interface Scratch {
    /** {@code bytes} bytes; {@code what} names them in an out-of-memory message. */
    DevicePtr alloc(long bytes, String what);

    /** {@code n} elements of the backend's type. */
    DevicePtr elems(long n, String what);
}
