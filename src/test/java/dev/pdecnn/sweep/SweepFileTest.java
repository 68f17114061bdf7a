package dev.pdecnn.sweep;

import dev.pdecnn.UserException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.Yaml;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Sweep files: expansion into cells, ids, strict validation; the Slurm script and the Kubernetes manifest. */
class SweepFileTest {
    @TempDir
    Path tmp;

    private Path write(String name, String text) throws Exception {
        Path f = tmp.resolve(name);
        Files.writeString(f, text);
        return f;
    }

    private Path config(String name, String text) throws Exception {
        return write(name, text);
    }

    @Test
    void expandsConfigsTimesAxesTimesSeedsWithStableReadableIds() throws Exception {
        config("a.yaml", "model: pde\nchannels: 1\n");
        config("b.yaml", "model: cnn\nchannels: 8\n");
        // random axis values and seeds: the count and the order must follow from the file alone
        SplittableRandom r = new SplittableRandom(7);
        for (int trial = 0; trial < 4; trial++) {
            int nk = 1 + r.nextInt(3), ns = 1 + r.nextInt(3);
            List<Integer> ks = new ArrayList<>();
            while (ks.size() < nk) {
                int k = 1 + r.nextInt(20);
                if (!ks.contains(k)) {
                    ks.add(k);
                }
            }
            List<Long> seeds = new ArrayList<>();
            while (seeds.size() < ns) {
                long s = r.nextInt(1000);
                if (!seeds.contains(s)) {
                    seeds.add(s);
                }
            }
            Path f = write("s" + trial + ".yaml", "name: t" + trial + "\nconfigs: [a.yaml, {config: b.yaml, overrides: "
                    + "{hflip: false}}]\nseeds: " + seeds + "\nepochs: 3\naxes:\n  K: " + ks + "\n  dt: [0.1, 0.25]\n"
                    + "train: {limit_train: 64, batch_size: 16}\n");
            Plan p = SweepFile.expand(f, null);
            assertEquals(2 * nk * 2 * ns, p.cells().size());
            int i = 0;
            for (String base : List.of("a", "b")) {
                for (int k : ks) {
                    for (String dt : List.of("0.1", "0.25")) {
                        for (long s : seeds) {
                            Cell c = p.cells().get(i);
                            assertEquals(i, c.index());
                            assertEquals(base + "-K" + k + "-dt" + dt + "-s" + s, c.id());
                            assertEquals("cells/" + c.id(), c.run());
                            assertEquals(Map.of("K", k, "dt", Double.parseDouble(dt)), c.axes());
                            assertEquals(s, c.seed());
                            assertEquals(3, c.epochs());
                            assertEquals(64, c.overrides().get("limit_train"));
                            assertEquals(base.equals("b") ? Boolean.FALSE : null, c.overrides().get("hflip"));
                            i++;
                        }
                    }
                }
            }
            // stable: the same file gives the same plan, and --epochs only changes the epochs
            assertEquals(p.toJson(), SweepFile.expand(f, null).toJson());
            Plan p9 = SweepFile.expand(f, 9);
            assertTrue(p9.cells().stream().allMatch(c -> c.epochs() == 9));
            // the plan reads back as written
            Path dir = tmp.resolve("sw" + trial);
            SweepFolder.prepare(dir, p, f);
            assertEquals(p.tree(), Plan.read(dir).tree());
            assertEquals(Files.readString(f), Files.readString(dir.resolve("sweep.yaml")));
            assertTrue(Files.isDirectory(dir.resolve("cells")) && Files.isDirectory(dir.resolve("logs")));
        }
    }

    @Test
    void shippedSweepFilesExpandIntoTheStudysGrids() {
        Plan t2 = SweepFile.expand(Path.of("configs", "sweeps", "table2.yaml"), null);
        assertEquals(24, t2.cells().size());
        assertEquals("row1_resnet32-s1", t2.cells().get(0).id());
        assertEquals("row8_advection-s3", t2.cells().get(23).id());
        assertTrue(t2.cells().stream().allMatch(c -> c.epochs() == 200 && c.config().startsWith("configs/cifar10/")));
        Plan t1 = SweepFile.expand(Path.of("configs", "sweeps", "mnist_table1.yaml"), 10);
        assertEquals(16, t1.cells().size());
        assertTrue(t1.cells().stream().allMatch(c -> c.epochs() == 10 && !c.id().contains("noflip")));
        assertEquals(8, t1.cells().stream().map(Cell::config).distinct().count());
    }

    @Test
    void entriesOfOneFileAreToldApartByTheirOverrides() throws Exception {
        config("m.yaml", "model: pde\nchannels: 1\n");
        Path f = write("s.yaml", "name: x\nconfigs:\n  - m.yaml\n  - {config: m.yaml, overrides: {hflip: false}}\n"
                + "  - {overrides: {model: cnn, channels: 2}}\n  - {config: m.yaml, name: wide, overrides: {channels: 4}}\n"
                + "seeds: [5]\nepochs: 1\n");
        List<String> ids = SweepFile.expand(f, null).cells().stream().map(Cell::id).toList();
        assertEquals(List.of("m-s5", "m-hflip_false-s5", "cnn-s5", "wide-s5"), ids);
        assertEquals(4, new HashSet<>(ids).size());
    }

    private String refusal(String sweep) throws Exception {
        config("m.yaml", "model: pde\nchannels: 1\n");
        Path f = write("bad.yaml", sweep);
        UserException e = assertThrows(UserException.class, () -> SweepFile.expand(f, null));
        assertEquals(2, e.exitCode());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    @Test
    void badSweepFilesAreRefusedWithOneLineNamingTheCulprit() throws Exception {
        String ok = "name: x\nconfigs: [m.yaml]\nseeds: [1]\nepochs: 2\n";
        assertTrue(refusal(ok + "colour: red\n").contains("unknown key 'colour'"));
        assertTrue(refusal(ok + "axes: {Kay: [1, 2]}\n").contains("unknown config key 'Kay'"));
        assertTrue(refusal(ok + "train: {seed: 3}\n").contains("key 'seed' is set by the sweep"));
        assertTrue(refusal("name: x\nconfigs: [{config: m.yaml, overides: {K: 2}}]\nseeds: [1]\nepochs: 2\n")
                .contains("unknown key 'overides'"));
        // a bad value in an override or an axis: the config checks (Range, Values, RunConfig.validate) answer
        assertTrue(refusal("name: x\nconfigs: [{config: m.yaml, overrides: {K: 0}}]\nseeds: [1]\nepochs: 2\n")
                .contains("key 'K' must be an integer in 1..100"));
        assertTrue(refusal(ok + "axes: {dt: [0.1, -1]}\n").contains("key 'dt' must be a finite number"));
        assertTrue(refusal(ok + "axes: {dataset: [mnist, cifar10]}\n").contains("is the MNIST example"));
        assertTrue(refusal("name: x\nconfigs: [nothere.yaml]\nseeds: [1]\nepochs: 2\n").contains("nothere.yaml does not exist"));
        assertTrue(refusal("name: x\nconfigs: [m.yaml, m.yaml]\nseeds: [1]\nepochs: 2\n").contains("the same run"));
        assertTrue(refusal("name: x\nconfigs: [m.yaml]\nseeds: [1, 1]\nepochs: 2\n").contains("the same run"));
        assertTrue(refusal("name: x\nconfigs: [m.yaml]\nseeds: [1]\nepochs: 0\n").contains("epochs must be in 1.."));
        assertTrue(refusal("name: ../x\nconfigs: [m.yaml]\nseeds: [1]\nepochs: 2\n").contains("key 'name' must be"));
        assertTrue(refusal(ok + "axes: {K: [1, 1]}\n").contains("repeats a value"));
        assertTrue(refusal(ok + "ok: [\n").contains("is not valid YAML"));
        assertTrue(refusal(ok + "epochs: 3\n").contains("each key may appear once"));
        config("broken.yaml", "model: pde\nchannels: many\n");
        assertTrue(refusal("name: x\nconfigs: [broken.yaml]\nseeds: [1]\nepochs: 2\n")
                .contains("key 'channels' must be an integer"));
    }

    @Test
    void aFolderWithAnotherPlanIsRefused() throws Exception {
        config("m.yaml", "model: pde\nchannels: 1\n");
        Path f = write("s.yaml", "name: x\nconfigs: [m.yaml]\nseeds: [1, 2]\nepochs: 2\n");
        Path dir = tmp.resolve("sw");
        SweepFolder.prepare(dir, SweepFile.expand(f, null), f);
        SweepFolder.prepare(dir, SweepFile.expand(f, null), f); // the same plan: continues
        UserException e = assertThrows(UserException.class, () -> SweepFolder.prepare(dir, SweepFile.expand(f, 5), f));
        assertTrue(e.getMessage().contains("holds a different plan (cell 0 (m-s1): epochs was 2, now 5)"),
                e.getMessage());
        // the refusal names what differs (issue 23): the first differing key of a cell, the name, the cell count
        Path lr = write("lr.yaml", "name: x\nconfigs: [m.yaml]\nseeds: [1, 2]\nepochs: 2\ntrain: {lr: 0.05}\n");
        e = assertThrows(UserException.class, () -> SweepFolder.prepare(dir, SweepFile.expand(lr, null), lr));
        assertTrue(e.getMessage().contains("(cell 0 (m-s1): overrides was {}, now {\"lr\":0.05})"), e.getMessage());
        Path more = write("more.yaml", "name: x\nconfigs: [m.yaml]\nseeds: [1, 2, 3]\nepochs: 2\n");
        e = assertThrows(UserException.class, () -> SweepFolder.prepare(dir, SweepFile.expand(more, null), more));
        assertTrue(e.getMessage().contains("(2 cells before, 3 now)"), e.getMessage());
        Path renamed = write("y.yaml", "name: y\nconfigs: [m.yaml]\nseeds: [1, 2]\nepochs: 2\n");
        e = assertThrows(UserException.class, () -> SweepFolder.prepare(dir, SweepFile.expand(renamed, null), renamed));
        assertTrue(e.getMessage().contains("(name was \"x\", now \"y\")"), e.getMessage());
    }

    @Test
    void slurmScriptIsAnArrayThatForwardsUsr1AndRequeuesOnTheTimeLimit() throws Exception {
        config("m.yaml", "model: pde\nchannels: 1\n");
        Path f = write("s.yaml", "name: sl\nconfigs: [m.yaml]\nseeds: [1, 2, 3]\nepochs: 2\naxes: {K: [1, 2]}\n");
        Plan p = SweepFile.expand(f, null);
        String s = SlurmExecutor.script(tmp.resolve("sw"), p, new SlurmExecutor.Options(4, 3, 1, "02:00:00", "gpu",
                "proj", 90, "16G"), List.of("-Xmx2g"));
        List<String> lines = s.lines().toList();
        String abs = tmp.resolve("sw").toAbsolutePath().toString();
        for (String l : List.of("#SBATCH --array=0-5%4", "#SBATCH --cpus-per-task=3", "#SBATCH --gpus-per-task=1",
                "#SBATCH --time=02:00:00", "#SBATCH --partition=gpu", "#SBATCH --account=proj", "#SBATCH --requeue",
                "#SBATCH --signal=B:USR1@90", "#SBATCH --output=" + abs + "/logs/slurm-%A_%a.out",
                "#SBATCH --mem=16G")) {
            assertTrue(lines.contains(l), l + " in\n" + s);
        }
        String java = lines.stream().filter(l -> l.contains(" sweep cell ")).findFirst().orElseThrow();
        assertTrue(java.endsWith(" sweep cell " + abs + " --device 0 &"), java);
        assertTrue(java.contains("-Xmx2g") && java.contains("\"-Dpdecnn.cpu.threads=${SLURM_CPUS_PER_TASK:-3}\""), java);
        assertFalse(java.contains("-Xmx12288m"), "the user's heap wins over the one derived from --mem: " + java);
        assertTrue(lines.contains("trap 'echo \"SIGUSR1: asking the trainer to checkpoint\"; kill -USR1 \"$child\" "
                + "2>/dev/null' USR1"), s);
        assertFalse(s.contains("kill -TERM") || s.contains("kill -15"), "TERM is never forwarded");
        assertTrue(s.contains("if [ \"$code\" -eq 138 ]; then") && s.contains(
                "scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\""), s);
        assertTrue(s.strip().endsWith("exit \"$code\""), s);
        // no GPU: no --gpus-per-task line, the cell keeps its configured device; no P: all cells at once
        String cpu = SlurmExecutor.script(tmp.resolve("sw"), p, new SlurmExecutor.Options(0, 2, 0, null, null, null,
                120, "4G"), List.of());
        assertTrue(cpu.contains("#SBATCH --array=0-5%6\n") && !cpu.contains("gpus-per-task")
                && !cpu.contains("--device") && !cpu.contains("--time") && !cpu.contains("--partition"), cpu);
        assertTrue(cpu.contains("#SBATCH --mem=4G\n") && cpu.contains(" -Xmx3072m "), "75% of --mem: " + cpu);
    }

    @Test
    void kubernetesManifestIsAnIndexedJobThatParsesBack() throws Exception {
        config("m.yaml", "model: pde\nchannels: 1\n");
        Path f = write("s.yaml", "name: Table_2\nconfigs: [m.yaml]\nseeds: [1, 2, 3, 4, 5]\nepochs: 2\n");
        Plan p = SweepFile.expand(f, null);
        String text = K8sExecutor.yaml(K8sExecutor.manifest(p, new K8sExecutor.Options("reg/pde-trainer:1", "vol",
                2, 4, 1, 5, 600, List.of(), "4G")));
        assertFalse(text.contains("&id") || text.contains("*id"), "no anchors:\n" + text);
        Map<String, Object> m = new Yaml().load(text);
        assertEquals("batch/v1", m.get("apiVersion"));
        assertEquals("Job", m.get("kind"));
        assertEquals("sweep-table-2", get(m, "metadata").get("name"));
        Map<String, Object> spec = get(m, "spec");
        assertEquals("Indexed", spec.get("completionMode"));
        assertEquals(5, spec.get("completions"));
        assertEquals(2, spec.get("parallelism"));
        assertEquals(5, spec.get("backoffLimitPerIndex"));
        Map<String, Object> pod = get(spec, "template", "spec");
        assertEquals("Never", pod.get("restartPolicy"));
        assertEquals(600, pod.get("terminationGracePeriodSeconds"));
        Map<String, Object> c = first(pod.get("containers"));
        assertEquals("reg/pde-trainer:1", c.get("image"));
        assertEquals(List.of("sweep", "cell", "/sweeps/Table_2", "--device", "0"), c.get("args"));
        assertEquals(1, get(c, "resources", "limits").get("nvidia.com/gpu"));
        assertEquals("4Gi", get(c, "resources", "requests").get("memory"));
        assertEquals(List.of(Map.of("name", "JAVA_TOOL_OPTIONS", "value", "-Dpdecnn.cpu.threads=4 -Xmx3072m")), c.get("env"));
        assertEquals("/sweeps/Table_2", first(c.get("volumeMounts")).get("mountPath"));
        Map<String, Object> vol = first(pod.get("volumes"));
        assertEquals(first(c.get("volumeMounts")).get("name"), vol.get("name"));
        assertEquals("vol", get(vol, "persistentVolumeClaim").get("claimName"));
        // CPU only: no GPU limit, the cell's own device
        Map<String, Object> cpu = new Yaml().load(K8sExecutor.yaml(K8sExecutor.manifest(p, new K8sExecutor.Options(
                "i", "v", 0, 2, 0, 1, 60, List.of("-Xmx1g", "-XX:+UseSerialGC"), "2G"))));
        Map<String, Object> cc = first(get(cpu, "spec", "template", "spec").get("containers"));
        assertEquals(List.of("sweep", "cell", "/sweeps/Table_2"), cc.get("args"));
        assertFalse(get(cc, "resources").containsKey("limits"));
        assertEquals(5, get(cpu, "spec").get("parallelism"));
        assertEquals("2Gi", get(cc, "resources", "requests").get("memory"));
        assertEquals(List.of(Map.of("name", "JAVA_TOOL_OPTIONS", "value", "-Dpdecnn.cpu.threads=2 -Xmx1g -XX:+UseSerialGC")),
                cc.get("env"), "--jvm-arg reaches the pods; the user's -Xmx replaces the derived one");
        UserException e = assertThrows(UserException.class, () -> K8sExecutor.manifest(p, new K8sExecutor.Options("i",
                "v", 0, 2, 0, 1, 60, List.of("-Dx=a b"), "2G")));
        assertTrue(e.getMessage().contains("JAVA_TOOL_OPTIONS"), e.getMessage());
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> get(Map<String, Object> m, String... path) {
        Map<String, Object> cur = m;
        for (String k : path) {
            cur = (Map<String, Object>) cur.get(k);
        }
        return cur;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> first(Object list) {
        return ((List<Map<String, Object>>) list).get(0);
    }
}
