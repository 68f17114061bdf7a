package dev.pdecnn.train;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * Writes a small learnable MNIST look-alike (raw IDX files): class k is a bright 6x6 patch at a position that
 * depends on k, plus noise, so a few epochs of training must beat chance by far.
 */
public final class SyntheticMnist {
    private SyntheticMnist() {
    }

    public static Path write(Path dir, int nTrain, int nTest, long seed) throws IOException {
        Files.createDirectories(dir);
        pair(dir, "train", nTrain, seed);
        pair(dir, "t10k", nTest, seed + 1);
        return dir;
    }

    private static void pair(Path dir, String prefix, int n, long seed) throws IOException {
        SplittableRandom r = new SplittableRandom(seed);
        ByteBuffer img = ByteBuffer.allocate(16 + n * 784).putInt(2051).putInt(n).putInt(28).putInt(28);
        ByteBuffer lab = ByteBuffer.allocate(8 + n).putInt(2049).putInt(n);
        for (int i = 0; i < n; i++) {
            int k = r.nextInt(10);
            int pi = 3 + (k / 5) * 12, pj = 2 + (k % 5) * 5;
            for (int y = 0; y < 28; y++) {
                for (int x = 0; x < 28; x++) {
                    boolean on = y >= pi && y < pi + 6 && x >= pj && x < pj + 5;
                    img.put((byte) Math.min(255, (on ? 200 : 0) + r.nextInt(40)));
                }
            }
            lab.put((byte) k);
        }
        Files.write(dir.resolve(prefix + "-images-idx3-ubyte"), img.array());
        Files.write(dir.resolve(prefix + "-labels-idx1-ubyte"), lab.array());
    }
}
