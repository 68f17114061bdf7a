package dev.pdecnn.backend.cuda;

import dev.pdecnn.UserException;
import dev.pdecnn.config.RunConfig;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The precision of the float32 matrix products: the config key's validation, PyTorch's default per device, the
 * refusal of TF32 where there are no tensor cores for it, and the tile choice of the TF32 kernels.
 */
class PrecisionTest {
    /** A runner that only answers what {@link Precision#resolve} asks. */
    private static KernelRunner device(String name, boolean capable, boolean byDefault) {
        return (KernelRunner) Proxy.newProxyInstance(KernelRunner.class.getClassLoader(),
                new Class<?>[]{KernelRunner.class}, (p, m, a) -> switch (m.getName()) {
                    case "description" -> name;
                    case "tf32Capable" -> capable;
                    case "tf32ByDefault" -> byDefault;
                    default -> throw new UnsupportedOperationException(m.getName());
                });
    }

    @Test
    void defaultFollowsPyTorchAndTheUserOverrides() {
        KernelRunner ampere = device("GPU 0: NVIDIA H200 (sm_90)", true, true);
        KernelRunner volta = device("GPU 0: Tesla V100 (sm_70)", false, false);
        KernelRunner emulated = device("emulated", true, false);
        assertEquals(Precision.TF32_CONV, Precision.resolve(null, ampere));
        assertEquals(Precision.FP32, Precision.resolve(null, volta));
        assertEquals(Precision.FP32, Precision.resolve(null, emulated));
        assertEquals(Precision.TF32, Precision.resolve("tf32", ampere));
        assertEquals(Precision.TF32, Precision.resolve("tf32", emulated));
        assertEquals(Precision.FP32, Precision.resolve("fp32", ampere));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Precision.resolve("tf32", volta));
        assertTrue(e.getMessage().startsWith("--precision tf32: GPU 0: Tesla V100 (sm_70) has no TF32"), e.getMessage());
        assertTrue(Precision.TF32_CONV.tf32Conv() && !Precision.TF32_CONV.tf32Dense());
        assertTrue(Precision.TF32.tf32Conv() && Precision.TF32.tf32Dense());
        assertTrue(!Precision.FP32.tf32Conv() && !Precision.FP32.tf32Dense());
    }

    /** Tensor cores only through SASS of sm_80+: the compute_70 PTX carries the kernels' fp32 fallback body. */
    @Test
    void configKeyAcceptsTf32AndFp32Only() {
        RunConfig c = new RunConfig();
        assertNull(c.precision);
        c.set("precision", "TF32", "--precision");
        assertEquals("tf32", c.precision);
        c.set("precision", "fp32", "config.yaml");
        assertEquals("fp32", c.precision);
        UserException e = assertThrows(UserException.class, () -> c.set("precision", "fp16", "--precision"));
        assertEquals("--precision: key 'precision' has value 'fp16'; allowed: [tf32, fp32]", e.getMessage());
        assertEquals("fp32", RunConfig.fromMap(c.toMap(), "test").precision);
    }

    @Test
    void tilesFitTheRowsOfEachLayer() {
        // the ResNets' 16-channel layers take the 16-row tile, 32-channel ones the 32-row tile
        assertEquals(Tf32Gemm.Tile.M16_N128, Tf32Gemm.choose(16, 128 * 32 * 32, 1));
        assertEquals(Tf32Gemm.Tile.M16_N128, Tf32Gemm.choose(3, 10, 1));
        assertEquals(Tf32Gemm.Tile.M32_N128, Tf32Gemm.choose(32, 128 * 16 * 16, 1));
        // 64 channels: the wide tile while it still gives 2 blocks per SM, else 64 x 64
        // (resnet32's 64-channel layers at batch 128 on 8x8 maps: 64 wide tiles, so 128 of 64 x 64)
        assertEquals(Tf32Gemm.Tile.M64_N64, Tf32Gemm.choose(64, 128 * 8 * 8, 1));
        assertEquals(Tf32Gemm.Tile.M64_N128, Tf32Gemm.choose(64, 128 * 32 * 32, 1));
        assertEquals(Tf32Gemm.Tile.M64_N128, Tf32Gemm.choose(64, 576, 64));
        assertEquals("conv_forward_tf32_16x128", Tf32Gemm.Tile.M16_N128.kernel("conv_forward"));
        Dim3 g = Tf32Gemm.Tile.M32_N128.grid(33, 129, 3);
        assertEquals(2, g.x());
        assertEquals(2, g.y());
        assertEquals(3, g.z());
    }
}
