package dev.pdecnn.backend;

/** Time stepping of the Global layer (docs/design.md §1): K explicit steps of size dt on a grid of spacing dx, dy. */
public record PdeSpec(int steps, double dt, double dx, double dy) {
    public PdeSpec {
        if (steps < 1) {
            throw new IllegalArgumentException("PDE steps K must be >= 1, got " + steps);
        }
        if (!(dt > 0) || !(dx > 0) || !(dy > 0)) {
            throw new IllegalArgumentException("PDE dt, dx, dy must be > 0, got dt=" + dt + " dx=" + dx + " dy=" + dy);
        }
    }
}
