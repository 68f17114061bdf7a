package dev.pdecnn.gpu;

import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.backend.cuda.DeviceMemory;
import dev.pdecnn.cli.CliRunner;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.nn.Param;
import dev.pdecnn.nn.ParamStore;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import dev.pdecnn.train.Checkpoint;
import dev.pdecnn.train.SyntheticMnist;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Training steps through the GPU backend keep their tensors on the device (emulated device, counted by
 * {@link CountingRunner}):
 * <ul>
 *   <li>for every model, the first step copies to the device the batch, the labels and each flat tensor of the
 *       parameter store the host initialised (weights, BN statistics), once (the flat gradients and velocities,
 *       created as zeros by the backend, are zeroed on the device instead), and every later step makes exactly
 *       four copies: the images and the labels in, the per-sample losses and the predictions out; gradients are
 *       zeroed on the device (one memset for all of them), never get a host array, and the pool hands out no
 *       block after the first step;</li>
 *   <li>several device-resident steps with fresh batches agree with the CPU (float64, the same algorithm), also
 *       when host code reads and writes parameters between steps (the write reaches the device);</li>
 *   <li>an activation of a finished step that only the device held cannot be read silently;</li>
 *   <li>staging the next batch while a step runs (the Trainer's pattern) uploads it as one staged copy, changes no
 *       result, and settles to no pool block per step;</li>
 *   <li>a run split with --stop-after / --resume through the emulated device ends bit-identical to the run
 *       straight through (checkpoints read the device-resident tensors, resume writes them).</li>
 * </ul>
 */
class DeviceResidentStepTest {
    @RegisterExtension
    static final Emulated.PerClass DEVICE = new Emulated.PerClass();
    @TempDir
    static Path tmp;

    static List<String> configs() {
        return TrainStepEquivalenceTest.configs();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void aStepCopiesOnlyTheBatchInAndTheLossOut(String file) {
        RunConfig cfg = Steps.config(file);
        CountingRunner rt = new CountingRunner(DEVICE.runner());
        int n = 2;
        try (DeviceMemory pool = DeviceMemory.pool(rt, 64L << 20)) {
            CudaBackend be = new CudaBackend(pool, DType.F32);
            Network net = Models.build(cfg, be);
            Map<String, Param> named = net.namedParams();
            long trainable = named.values().stream().filter(p -> p.trainable).count();
            int[] y = Steps.labels(n, 8);
            Map<String, Tensor> vel = Steps.velocities();

            ParamStore store = net.paramStore();
            long flat = java.util.stream.Stream.of(store.weights(), store.grads(), store.velocity(), store.stats())
                    .filter(Tensor::hostAllocated).count();
            Tensor x1 = Steps.batch(net, n, DType.F32, 7);
            Steps.sgdStep(net, be, x1, y, vel, 0.1, 0.9, 5e-4);
            assertEquals(2 + flat, rt.copiesToDevice,
                    "step 1: batch, labels, and each host-initialised flat tensor of the parameter store once");
            assertEquals(2, rt.copiesToHost, "step 1: per-sample losses and predictions");

            long launchesPerStep = -1;
            for (int step = 2; step <= 3; step++) {
                long toDev = rt.copiesToDevice, toHost = rt.copiesToHost, bIn = rt.bytesToDevice, bOut = rt.bytesToHost;
                long launches = rt.launches, memsets = rt.memsets, poolAllocs = pool.allocations();
                Tensor x = Steps.batch(net, n, DType.F32, 7 + step); // a fresh batch, as the DataLoader gives
                Steps.sgdStep(net, be, x, y, vel, 0.1, 0.9, 5e-4);
                String at = file + " step " + step + ": ";
                assertEquals(2, rt.copiesToDevice - toDev, at + "copies to the device (images, labels)");
                assertEquals(4L * x.size() + 4L * n, rt.bytesToDevice - bIn, at + "bytes to the device");
                assertEquals(2, rt.copiesToHost - toHost, at + "copies to the host (losses, predictions)");
                assertEquals(8L * n + 4L * n, rt.bytesToHost - bOut, at + "bytes to the host");
                assertEquals(1, rt.memsets - memsets, at + "gradients zeroed on the device: one flat tensor");
                assertEquals(0, pool.allocations() - poolAllocs, at + "blocks taken from the pool");
                if (launchesPerStep >= 0) {
                    assertEquals(launchesPerStep, rt.launches - launches, at + "launches");
                }
                launchesPerStep = rt.launches - launches;
            }
            assertEquals(1, rt.allocs, "one driver allocation: the pool");
            for (Map.Entry<String, Param> e : named.entrySet()) {
                if (e.getValue().trainable) {
                    assertTrue(!e.getValue().grad.hostAllocated() && !vel.get(e.getKey()).hostAllocated(),
                            e.getKey() + ": gradient and velocity live on the device only");
                }
            }
            System.out.printf(Locale.ROOT, "[gpu] %-48s a step: 2 copies in, 2 out, %d launches, 1 memset; %s resident%n",
                    file, launchesPerStep, DeviceMemory.bytes(be.device().residentBytes()));
            be.device().releaseDevice();
            assertEquals(0, pool.inUse());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"mnist_residual_c8.yaml", "mnist_pde_pm_c8.yaml", "cifar10/row2_resnet32_global.yaml"})
    void residentStepsMatchTheCpuAndSeeHostEdits(String file) {
        RunConfig cfg = Steps.config(file);
        Network init = Models.build(cfg, new ReferenceBackend());
        CountingRunner rt = new CountingRunner(DEVICE.runner());
        CudaBackend gpuBe = new CudaBackend(DeviceMemory.pool(rt, 64L << 20), DType.F64);
        ReferenceBackend cpuBe = new ReferenceBackend();
        Network gpu = Models.build(cfg, gpuBe), cpu = Models.build(cfg, cpuBe);
        Steps.copyWeights(init, gpu);
        Steps.copyWeights(init, cpu);
        Map<String, Tensor> gv = Steps.velocities(), cv = Steps.velocities();
        int[] y = Steps.labels(2, 5);
        List<String> failures = new ArrayList<>();
        for (int step = 1; step <= 3; step++) {
            if (step == 3) {
                // host code between steps (a checkpoint reads, a restore writes): the device must see the write
                for (Network net : List.of(gpu, cpu)) {
                    Tensor w = net.namedParams().get(firstWeight(net)).value.download();
                    double v = w.get(0);
                    w.set(0, 0.5 * v + 0.25);
                }
            }
            Tensor x = Steps.batch(gpu, 2, DType.F64, 20 + step);
            double lg = Steps.sgdStep(gpu, gpuBe, x, y, gv, 0.1, 0.9, 5e-4);
            double lc = Steps.sgdStep(cpu, cpuBe, x.copy(), y, cv, 0.1, 0.9, 5e-4);
            if (Math.abs(lg - lc) > 1e-10 * Math.abs(lc)) {
                failures.add("step " + step + " loss " + lg + " vs " + lc);
            }
        }
        Map<String, Param> a = cpu.namedParams(), b = gpu.namedParams();
        for (String k : a.keySet()) {
            double e = Steps.error(b.get(k).value, a.get(k).value);
            if (!(e <= 1e-10)) {
                failures.add(String.format(Locale.ROOT, "%s after 3 steps: error %.2e", k, e));
            }
            if (a.get(k).trainable) {
                double eg = Steps.error(b.get(k).grad, a.get(k).grad);
                if (!(eg <= 1e-10)) {
                    failures.add(String.format(Locale.ROOT, "gradient of %s: error %.2e", k, eg));
                }
                double ev = Steps.error(gv.get(k), cv.get(k));
                if (!(ev <= 1e-10)) {
                    failures.add(String.format(Locale.ROOT, "velocity of %s: error %.2e", k, ev));
                }
            }
        }
        assertTrue(failures.isEmpty(), file + ":\n  " + String.join("\n  ", failures));

        // host reads of device data are explicit: an accessor refuses newer device values, download() brings them
        Tensor w = gpu.namedParams().get(firstWeight(gpu)).value;
        Steps.sgdStep(gpu, gpuBe, Steps.batch(gpu, 2, DType.F64, 30), y, gv, 0.1, 0.9, 5e-4); // w changes on the device
        IllegalStateException implicit = assertThrows(IllegalStateException.class, () -> w.get(0));
        assertTrue(implicit.getMessage().contains("call download()"), implicit.getMessage());
        assertEquals(w.download().get(0), w.get(0));

        // activations: readable during their step, gone (loudly) once the next step has reused their buffers
        gpuBe.device().endStep();
        Tensor logits = gpu.forward(Steps.batch(gpu, 2, DType.F64, 40));
        double first = logits.download().get(0); // downloaded while the step is live: the host copy survives the step
        Tensor unread = gpu.forward(Steps.batch(gpu, 2, DType.F64, 41));
        assertTrue(!unread.hostAllocated(), "an activation has no host array until host code reads it");
        gpuBe.device().endStep();
        assertEquals(first, logits.get(0));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> unread.get(0));
        assertTrue(e.getMessage().contains("activation of a finished training step"), e.getMessage());
        gpuBe.device().releaseDevice();
        assertEquals(0, gpuBe.device().memory().inUse());
        gpuBe.device().memory().close();
    }

    @Test
    void stagedBatchesUploadWhileTheStepRuns() {
        RunConfig cfg = Steps.config("mnist_pde_pm_c8.yaml");
        Network init = Models.build(cfg, new ReferenceBackend());
        int n = 2, steps = 4;
        int[] y = Steps.labels(n, 8);
        Map<String, float[]> plain = new java.util.HashMap<>();
        try (DeviceMemory pool = DeviceMemory.pool(DEVICE.runner(), 64L << 20)) {
            CudaBackend be = new CudaBackend(pool, DType.F32);
            Network net = Models.build(cfg, be);
            Steps.copyWeights(init, net);
            Map<String, Tensor> vel = Steps.velocities();
            for (int step = 1; step <= steps; step++) {
                Steps.sgdStep(net, be, Steps.batch(net, n, DType.F32, 30 + step), y, vel, 0.1, 0.9, 5e-4);
            }
            net.namedParams().forEach((k, p) -> plain.put(k, p.value.download().copy().f32()));
        }
        CountingRunner rt = new CountingRunner(DEVICE.runner());
        try (DeviceMemory pool = DeviceMemory.pool(rt, 64L << 20)) {
            CudaBackend be = new CudaBackend(pool, DType.F32);
            Network net = Models.build(cfg, be);
            Steps.copyWeights(init, net);
            Map<String, Tensor> vel = Steps.velocities();
            Tensor next = Steps.batch(net, n, DType.F32, 31);
            assertTrue(be.device().stage(next));
            for (int step = 1; step <= steps; step++) {
                Tensor x = next;
                next = Steps.batch(net, n, DType.F32, 31 + step);
                long toDev = rt.copiesToDevice, staged = rt.stagedCopies, blocks = pool.allocations();
                assertTrue(be.device().stage(next), "the next batch goes up while this step runs");
                assertTrue(!be.device().stage(next), "a tensor already on the device is not staged again");
                Steps.sgdStep(net, be, x, y, vel, 0.1, 0.9, 5e-4);
                if (step >= 2) {
                    assertEquals(2, rt.copiesToDevice - toDev, "step " + step + ": the staged batch and the labels");
                    assertEquals(1, rt.stagedCopies - staged, "step " + step + ": one staged copy");
                }
                if (step >= 3) { // three batch buffers in turn: the last step's, this step's, the staged one
                    assertEquals(0, pool.allocations() - blocks, "step " + step + ": blocks taken from the pool");
                }
            }
            Map<String, Param> got = net.namedParams();
            for (Map.Entry<String, float[]> e : plain.entrySet()) {
                assertArrayEquals(e.getValue(), got.get(e.getKey()).value.download().copy().f32(), e.getKey() + ": staged vs plain steps");
            }
            be.device().releaseDevice(); // also frees the batch staged last, which no step read
            assertEquals(0, pool.inUse());
            assertEquals(next.get(0), next.f32()[0], "a staged batch keeps its host values");
        }
    }

    /** The Trainer stages each training batch (the next one while the current step runs); test batches are not. */
    @Test
    void theTrainerStagesEveryTrainingBatch() throws Exception {
        Path data = SyntheticMnist.write(tmp.resolve("stage-data"), 48, 16, 6);
        RunConfig cfg = new RunConfig();
        cfg.model = "pde";
        cfg.channels = 2;
        cfg.batchSize = 16;
        cfg.epochs = 1;
        cfg.validate();
        CountingRunner rt = new CountingRunner(DEVICE.runner());
        try (DeviceMemory pool = DeviceMemory.pool(rt, 64L << 20)) {
            CudaBackend be = new CudaBackend(pool, DType.F32);
            java.io.PrintStream quiet = new java.io.PrintStream(java.io.OutputStream.nullOutputStream());
            new dev.pdecnn.train.Trainer(cfg, dev.pdecnn.data.DataSets.load("mnist", data, quiet), tmp.resolve("stage-run"),
                    quiet, false, be).run(null);
            assertEquals(3, rt.stagedCopies, "48 training images in batches of 16, each staged");
            be.device().releaseDevice();
            assertEquals(0, pool.inUse());
        }
    }

    /** A tensor only one backend's device holds is read correctly by another backend (through the host). */
    @Test
    void anotherBackendReadsADeviceOnlyTensor() {
        try (DeviceMemory ma = DeviceMemory.pool(DEVICE.runner(), 1L << 20); DeviceMemory mb = DeviceMemory.pool(DEVICE.runner(), 1L << 20)) {
            CudaBackend a = new CudaBackend(ma, DType.F32), b = new CudaBackend(mb, DType.F32);
            Tensor x = Steps.batch(Models.build(Steps.config("mnist_cnn_c1.yaml"), a), 1, DType.F32, 9);
            Tensor y = a.zeros(x.shape()), z = b.zeros(x.shape());
            a.relu(x, y); // y lives on a's device only
            assertTrue(!y.hostAllocated());
            b.relu(y, z);
            z.download();
            for (int i = 0; i < x.size(); i++) {
                assertEquals(Math.max(0f, (float) x.get(i)), z.get(i), "element " + i);
            }
            a.device().releaseDevice();
            b.device().releaseDevice();
            assertEquals(0, ma.inUse() + mb.inUse());
        }
    }

    private static String firstWeight(Network net) {
        for (Map.Entry<String, Param> e : net.namedParams().entrySet()) {
            if (e.getValue().trainable && e.getValue().value.rank() == 4) {
                return e.getKey();
            }
        }
        throw new AssertionError("no conv weight");
    }

    @Test
    void resumeThroughTheDeviceContinuesExactly() throws Exception {
        Emulated.executable();
        Path data = SyntheticMnist.write(tmp.resolve("data"), 48, 16, 5);
        String[] base = {"--model", "pde", "--channels", "2", "--batch-size", "16", "--epochs", "2", "--lr", "0.05",
                "--data-dir", data.toString(), "--out", tmp.resolve("runs").toString(), "--device", "emulated"};
        CliRunner.Result straight = CliRunner.run(with(base, "--name", "straight"));
        assertEquals(0, straight.code(), straight.err());
        CliRunner.Result first = CliRunner.run(with(base, "--name", "split", "--stop-after", "1"));
        assertEquals(0, first.code(), first.err());
        CliRunner.Result rest = CliRunner.run("--resume", tmp.resolve("runs/split").toString(), "--device", "emulated",
                "--data-dir", data.toString());
        assertEquals(0, rest.code(), rest.err() + rest.out());
        Checkpoint.Loaded s = Checkpoint.read(tmp.resolve("runs/straight/last.safetensors"));
        Checkpoint.Loaded r = Checkpoint.read(tmp.resolve("runs/split/last.safetensors"));
        assertEquals(s.tensors().keySet(), r.tensors().keySet());
        for (String k : s.tensors().keySet()) {
            assertArrayEquals(s.tensors().get(k).f32(), r.tensors().get(k).f32(), k);
        }
        List<String> ms = Files.readAllLines(tmp.resolve("runs/straight/metrics.csv")),
                mr = Files.readAllLines(tmp.resolve("runs/split/metrics.csv"));
        assertEquals(3, ms.size());
        for (int i = 1; i < ms.size(); i++) {
            String[] p = ms.get(i).split(","), q = mr.get(i).split(",");
            for (int col = 0; col <= 5; col++) { // epoch, losses, accuracies, lr (not the timings)
                assertEquals(p[col], q[col], "metrics.csv line " + i + " column " + col);
            }
        }
    }

    private static String[] with(String[] base, String... extra) {
        String[] r = java.util.Arrays.copyOf(base, base.length + extra.length);
        System.arraycopy(extra, 0, r, base.length, extra.length);
        return r;
    }
}
