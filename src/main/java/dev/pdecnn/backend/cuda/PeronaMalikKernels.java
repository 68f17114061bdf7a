package dev.pdecnn.backend.cuda;

import dev.pdecnn.tensor.Tensor;

/**
 * The launches of {@code perona_malik.cu}: the Perona–Malik diffusivities Dx, Dy of h (planes of h x w, reflect
 * padding, so at least 2 x 2) with k = 1 / lambda^2, and their backward into gh (accumulated).
 */
final class PeronaMalikKernels {
    private final Launcher l;

    PeronaMalikKernels(Launcher launcher) {
        this.l = launcher;
    }

    void forward(DevicePtr h, int planes, int hh, int w, double lambda, DevicePtr dX, DevicePtr dY) {
        l.launch1d("pm_forward", (long) planes * hh * w, h, planes, hh, w, 1.0 / (lambda * lambda), dX, dY);
    }

    void backward(DevicePtr h, int planes, int hh, int w, double lambda, DevicePtr gDx, DevicePtr gDy, DevicePtr gh) {
        l.launch1d("pm_backward", (long) planes * hh * w, h, planes, hh, w, 1.0 / (lambda * lambda), gDx, gDy, gh);
    }

    /** Shape checks of the operation, before any buffer is resolved. */
    static void checkReflect(Tensor h) {
        if (h.dim(2) < 2 || h.dim(3) < 2) {
            throw new IllegalArgumentException("Perona-Malik needs maps of at least 2x2 for reflect padding, got "
                    + h.dim(2) + "x" + h.dim(3));
        }
    }
}
