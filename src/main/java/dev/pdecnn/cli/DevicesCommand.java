package dev.pdecnn.cli;

import dev.pdecnn.Settings;
import dev.pdecnn.UserException;
import dev.pdecnn.backend.open.DeviceList;
import dev.pdecnn.config.Choices.MatmulPrecision;
import dev.pdecnn.run.Devices;
import dev.pdecnn.selfcheck.DeviceCheck;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.io.PrintStream;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code devices}: the GPUs this machine offers for {@code --device N} and what else the backend lists
 * ({@link DeviceList}: the driver, libraries, kernels, the emulated device), and the {@link Settings} set. Exit
 * code 0 also when there is no GPU: that is an answer, printed with its reason.
 */
@Command(name = "devices", mixinStandardHelpOptions = true,
        description = {"Lists the GPUs usable with --device N: memory, driver, compute capability, and which of "
                + "cuDNN 8 / cuBLAS 11 / cuRAND 10 load. Without a GPU it says why (no driver, no device).",
                "With --check: checks that a GPU computes what the CPU computes (every kernel family, a training "
                        + "step of a plain and two condensed networks, CUDA graphs, TF32), one line per check and a "
                        + "verdict; exit code 0 when all pass, 1 when one does not, 2 when the device cannot be opened."})
final class DevicesCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Option(names = "--check", description = "Run the device self-check on the device --device names (about 10 s "
            + "on a GPU, a few minutes on the emulated device).")
    boolean check;

    @Option(names = "--device", paramLabel = "N|emulated", description = "With --check: the GPU number to check, or "
            + "emulated (the host build of the kernels; needs the project's src/main/cuda and g++). Default: 0.")
    String device;

    @Override
    public Integer call() {
        if (check) {
            return check(device == null ? "0" : device.strip());
        }
        if (device != null) {
            throw new UserException("--device applies to --check only (devices --check --device " + device.strip() + ")");
        }
        PrintStream out = main.out;
        DeviceList.print(out);
        printSettings(out);
        return 0;
    }

    /** The settings set in this JVM (docs/settings.md lists them all), so a report shows what was switched. */
    static void printSettings(PrintStream out) {
        List<Settings.Value> set = Settings.inEffect();
        out.println(set.isEmpty() ? "settings: all at their defaults (docs/settings.md lists them)"
                : "settings (docs/settings.md lists them all):");
        for (Settings.Value v : set) {
            out.println("  " + v.describe());
        }
    }

    /** {@code devices --check}: exit 0 when every check passed, 1 when one did not. */
    private int check(String d) {
        if (!d.equals("emulated") && !d.matches("\\d{1,4}")) {
            throw new UserException("--device '" + d + "': --check compares a GPU with the CPU; name a GPU number "
                    + "(see 'devices') or emulated");
        }
        Devices.Opened o;
        try {
            o = Devices.open(d, MatmulPrecision.FP32, main.out);
        } catch (UserException e) {
            throw new UserException(e.getMessage().replace("; use --device cpu (or auto)", "") + (d.equals("emulated")
                    ? "" : "; without a GPU, 'devices --check --device emulated' checks the kernels on the host emulation"));
        }
        try (o) {
            return DeviceCheck.on(o.device(), main.out).runAll() ? 0 : 1;
        }
    }
}
