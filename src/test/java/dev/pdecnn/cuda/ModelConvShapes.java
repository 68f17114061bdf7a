package dev.pdecnn.cuda;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.config.ConfigFiles;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every distinct convolution of the 16 models of the study (the eight MNIST configs and the eight CIFAR-10 rows of
 * Table 2, at their real widths), found by running one forward pass of each on the CPU backend behind a proxy that
 * records the shapes of every conv2dForward call.
 */
final class ModelConvShapes {
    /** The 16 model configs of configs/. */
    static final List<String> CONFIGS = List.of("mnist_cnn_c1.yaml", "mnist_cnn_c8.yaml", "mnist_residual_c1.yaml",
            "mnist_residual_c8.yaml", "mnist_pde_const_c1.yaml", "mnist_pde_const_c8.yaml", "mnist_pde_pm_c1.yaml",
            "mnist_pde_pm_c8.yaml", "cifar10/row1_resnet32.yaml", "cifar10/row2_resnet32_global.yaml",
            "cifar10/row3_velocity_identity_d_constant.yaml", "cifar10/row4_basic_basic.yaml",
            "cifar10/row5_perona_malik.yaml", "cifar10/row6_init_basic.yaml", "cifar10/row7_diffusion.yaml",
            "cifar10/row8_advection.yaml");

    /** One convolution: input channels and size, output channels, square kernel, stride, padding, groups. */
    record Shape(int c, int h, int w, int co, int k, int stride, int pad, int groups) {
        String describe() {
            return String.format("%dx%d s%d p%d g%d %d->%d on %dx%d", k, k, stride, pad, groups, c, co, h, w);
        }
    }

    private static Map<Shape, String> cache;

    private ModelConvShapes() {
    }

    /** Each distinct shape with the first config that uses it. */
    static synchronized Map<Shape, String> all() {
        if (cache != null) {
            return cache;
        }
        Map<Shape, String> found = new LinkedHashMap<>();
        CpuBackend cpu = new CpuBackend();
        for (String file : CONFIGS) {
            RunConfig cfg = new RunConfig();
            ConfigFiles.apply(Path.of("configs").resolve(file), cfg);
            cfg.validate();
            Backend recording = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(),
                    new Class<?>[]{Backend.class}, (proxy, m, args) -> {
                        if (m.getName().equals("conv2dForward")) {
                            Tensor x = (Tensor) args[0], w = (Tensor) args[1];
                            ConvSpec s = (ConvSpec) args[3];
                            found.putIfAbsent(new Shape(x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(2), s.stride(),
                                    s.pad(), s.groups()), file);
                        }
                        try {
                            return m.invoke(cpu, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
            Network net = Models.build(cfg, recording);
            int[] chw = net.inputChw;
            Tensor x = Tensor.zeros(DType.F32, 1, chw[0], chw[1], chw[2]);
            for (int i = 0; i < x.size(); i++) {
                x.set(i, (float) Math.sin(i));
            }
            net.forward(x);
        }
        cache = found;
        return found;
    }
}
