package dev.pdecnn.sweep;

import dev.pdecnn.cli.CliRunner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 23 item 10 and the Slurm memory request: {@code sweep run} passes --jvm-arg to every executor (it was
 * dropped for k8s), refuses options that its executor does not read (they were ignored) and --mem sizes.
 */
class SweepOptionsTest {
    @TempDir
    Path tmp;

    private Path sweepFile() throws Exception {
        Path f = tmp.resolve("o.yaml");
        Files.writeString(f, "name: o\nconfigs: [configs/mnist_cnn_c1.yaml]\nseeds: [1, 2]\nepochs: 1\n");
        return f;
    }

    @Test
    void jvmArgsAndMemoryReachTheKubernetesJob() throws Exception {
        Path dir = tmp.resolve("K");
        CliRunner.Result r = CliRunner.run("sweep", "run", sweepFile().toString(), "--executor", "k8s", "--out",
                dir.toString(), "--jvm-arg", "-Xmx1g", "--jvm-arg", "-XX:+UseSerialGC", "--mem", "3G");
        assertEquals(0, r.code(), r.err());
        String yaml = Files.readString(dir.resolve(K8sExecutor.MANIFEST));
        assertTrue(yaml.contains("value: -Dpdecnn.cpu.threads=2 -Xmx1g -XX:+UseSerialGC\n"), yaml);
        assertTrue(yaml.contains("memory: 3Gi"), yaml);
    }

    @Test
    void slurmScriptRequestsMemoryByDefault() throws Exception {
        CliRunner.Result r = CliRunner.run("sweep", "run", sweepFile().toString(), "--executor", "slurm", "--dry-run",
                "--out", tmp.resolve("S").toString(), "--jvm-arg", "-Dfoo=1");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("\n#SBATCH --mem=" + CellMemory.DEFAULT + "\n"), r.out());
        assertTrue(r.out().contains(" -Dfoo=1 -Xmx3072m "), r.out());
    }

    @Test
    void optionsOfAnotherExecutorAndBadValuesAreRefused() throws Exception {
        String f = sweepFile().toString();
        Path dir = tmp.resolve("never");
        String[][] cases = {
                {"--executor", "k8s", "--workers", "5"}, {"--executor", "k8s", "--devices", "0,1"},
                {"--executor", "k8s", "--time", "1:00:00"}, {"--executor", "k8s", "--dry-run"},
                {"--executor", "slurm", "--image", "x:1"}, {"--executor", "slurm", "--workers", "2"},
                {"--executor", "slurm", "--grace-period", "30"}, {"--max-parallel", "2"}, {"--mem", "8G"},
                {"--partition", "gpu"}, {"--pvc", "v"}, {"--executor", "slurm", "--dry-run", "--mem", "100M"},
                {"--executor", "slurm", "--dry-run", "--mem", "lots"}, {"--jvm-arg", "Xmx1g"},
                {"--executor", "k8s", "--jvm-arg", "-Dx=a b"}};
        for (String[] c : cases) {
            List<String> args = new java.util.ArrayList<>(List.of("sweep", "run", f, "--out", dir.toString()));
            args.addAll(List.of(c));
            CliRunner.Result r = CliRunner.run(args.toArray(String[]::new));
            assertEquals(2, r.code(), args + ": " + r.out() + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertFalse(Files.exists(dir), args + " created the sweep folder");
        }
        CliRunner.Result r = CliRunner.run("sweep", "run", f, "--out", dir.toString(), "--executor", "k8s", "--workers",
                "5");
        assertTrue(r.err().contains("--workers is for --executor local, not k8s"), r.err());
        r = CliRunner.run("sweep", "run", f, "--out", dir.toString(), "--executor", "slurm", "--pvc", "v", "--dry-run");
        assertTrue(r.err().contains("--pvc is for --executor k8s, not slurm"), r.err());
    }
}
