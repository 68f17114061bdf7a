import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.config.ConfigFiles;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.data.Dataset;
import dev.pdecnn.data.Mnist;
import dev.pdecnn.io.Safetensors;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.nn.Param;
import dev.pdecnn.tensor.Tensor;
import dev.pdecnn.train.Checkpoint;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes one float64 training step of a model for tools/pytorch/reference.py to replay: the initial
 * parameters and BN buffers ("param.NAME"), a random batch ("x", "y"), the loss, every parameter gradient
 * ("grad.NAME"), the BN buffers after the step's forward ("after.NAME"), the logits in eval mode after that
 * ("eval_logits") and the parameters after one SGD step with the study's optimizer ("sgd.NAME").
 *
 * Run from the repository root after `mvn -q package -DskipTests`:
 *   java -cp target/trainer.jar tools/pytorch/ExportStep.java configs/cifar10/row2_global_dwconv.yaml /tmp/step.safetensors [batch] [seed] [CKPT [MNIST_DIR]]
 *
 * With a trainer checkpoint CKPT the step starts from its weights and BN statistics instead of the config's initial
 * ones (a run's state where training went wrong, replayed through autograd); with an MNIST folder too, the batch is
 * {@code batch} MNIST training images starting at image {@code seed * batch}, normalised with the checkpoint's mean
 * and std, instead of Gaussian noise.
 */
public class ExportStep {
    public static void main(String[] args) {
        RunConfig cfg = new RunConfig();
        ConfigFiles.apply(Path.of(args[0]), cfg);
        cfg.validate();
        int batch = args.length > 2 ? Integer.parseInt(args[2]) : 8;
        long seed = args.length > 3 ? Long.parseLong(args[3]) : 7;
        var be = new ReferenceBackend();
        Network net = Models.build(cfg, be);
        Checkpoint.Loaded ck = null;
        if (args.length > 4) {
            ck = Checkpoint.read(Path.of(args[4]));
            Checkpoint.restore(Path.of(args[4]), ck, net, net.name, null);
        }
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        net.namedParams().forEach((k, p) -> out.put("param." + k, copy(p.value)));

        int[] chw = net.inputChw;
        SplittableRandom rnd = new SplittableRandom(seed);
        double[] xs = new double[batch * chw[0] * chw[1] * chw[2]];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = rnd.nextGaussian();
        }
        int[] y = new int[batch];
        double[] yd = new double[batch];
        for (int i = 0; i < batch; i++) {
            y[i] = rnd.nextInt(net.classes);
            yd[i] = y[i];
        }
        if (args.length > 5) { // real digits: where the Perona-Malik D and BN see flat backgrounds
            Dataset d = Mnist.load(Path.of(args[5])).train();
            int per = d.sampleSize(), from = (int) ((seed * batch) % (d.size() - batch));
            for (int i = 0; i < batch; i++) {
                for (int j = 0; j < per; j++) {
                    xs[i * per + j] = ((d.pixels()[(from + i) * per + j] & 0xff) / 255.0 - ck.state().mean[0])
                            / ck.state().std[0];
                }
                y[i] = d.labels()[from + i];
                yd[i] = y[i];
            }
        }
        Tensor x = Tensor.of(xs, batch, chw[0], chw[1], chw[2]);
        out.put("x", copy(x));
        out.put("y", Tensor.of(yd, batch));

        net.zeroGrad();
        Tensor logits = net.forward(x);
        Tensor g = logits.zerosLike();
        double loss = be.softmaxCrossEntropy(logits, y, g, new int[batch]);
        net.backward(g);
        out.put("logits", copy(logits));
        net.namedParams().forEach((k, p) -> {
            if (p.trainable) {
                out.put("grad." + k, copy(p.grad));
            } else {
                out.put("after." + k, copy(p.value));
            }
        });
        net.train(false);
        out.put("eval_logits", copy(net.forward(x)));
        net.train(true);
        for (Map.Entry<String, Param> e : net.namedParams().entrySet()) {
            Param p = e.getValue();
            if (p.trainable) {
                be.sgdStep(p.value, p.grad, p.value.zerosLike(), cfg.lr, cfg.momentum, cfg.weightDecay);
                out.put("sgd." + e.getKey(), copy(p.value));
            }
        }
        Safetensors.write(Path.of(args[1]), out, Map.of("loss", Double.toString(loss), "model", net.name,
                "lr", Double.toString(cfg.lr), "momentum", Double.toString(cfg.momentum),
                "weight_decay", Double.toString(cfg.weightDecay), "config", args[0]));
        System.out.printf("%s: loss %.12f, %d tensors -> %s%n", net.name, loss, out.size(), args[1]);
    }

    private static Tensor copy(Tensor t) {
        Tensor c = t.zerosLike();
        for (int i = 0; i < t.size(); i++) {
            c.set(i, t.get(i));
        }
        return c;
    }
}
