package dev.pdecnn.cli;

import dev.pdecnn.UserException;

import java.io.PrintStream;

/** Resolves --device. This version has the CPU backend only; GPU ordinals are refused with a clear message. */
final class Devices {
    private Devices() {
    }

    static void requireCpu(String device, PrintStream out) {
        switch (device) {
            case "cpu" -> {
            }
            case "auto" -> out.println("note: --device auto: no GPU backend in this version, training on the CPU");
            default -> throw new UserException("--device " + device + ": GPU backends are not part of this version; "
                    + "use --device cpu (or auto)");
        }
    }
}
