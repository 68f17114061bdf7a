package dev.pdecnn.data;

import dev.pdecnn.UserException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** An image's size is checked from its header, before a single pixel is decoded. */
class ImageDecoderTest {
    @TempDir
    Path tmp;

    /**
     * A grayscale PNG that declares {@code w x h} pixels but carries only the first rows of zeros: the header is
     * all it takes to be refused, and a decoder that ignored it would allocate w*h bytes first.
     */
    static byte[] pngDeclaring(int w, int h) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(out);
        d.write(new byte[]{(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        ByteArrayOutputStream ihdr = new ByteArrayOutputStream();
        DataOutputStream i = new DataOutputStream(ihdr);
        i.writeInt(w);
        i.writeInt(h);
        i.write(new byte[]{8, 0, 0, 0, 0}); // 8-bit grayscale, deflate, no filter, no interlace
        chunk(d, "IHDR", ihdr.toByteArray());
        Deflater def = new Deflater(9);
        def.setInput(new byte[1 << 20]); // 1 MiB of zero rows
        def.finish();
        byte[] buf = new byte[1 << 16];
        int n = def.deflate(buf);
        chunk(d, "IDAT", java.util.Arrays.copyOf(buf, n));
        chunk(d, "IEND", new byte[0]);
        return out.toByteArray();
    }

    private static void chunk(DataOutputStream d, String type, byte[] data) throws IOException {
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        d.writeInt(data.length);
        d.write(t);
        d.write(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        d.writeInt((int) crc.getValue());
    }

    @Test
    void hugeDeclaredSizeIsRefusedFromTheHeader() throws Exception {
        Path big = Files.write(tmp.resolve("big.png"), pngDeclaring(20000, 20000));
        UserException e = assertTimeoutPreemptively(Duration.ofSeconds(3),
                () -> assertThrows(UserException.class, () -> ImageDecoder.read(big)));
        assertTrue(e.getMessage().contains("declares 20000x20000") && e.getMessage().contains(big.toString()),
                e.getMessage());
        assertThrows(UserException.class, () -> ImageDecoder.read(Files.write(tmp.resolve("wide.png"),
                pngDeclaring(ImageDecoder.MAX_SIDE + 1, 1))));

        // the same through a whole image folder
        Path dir = tmp.resolve("folder");
        for (String split : new String[]{"train", "test"}) {
            Files.createDirectories(dir.resolve(split + "/a"));
            BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
            ImageIO.write(img, "png", dir.resolve(split + "/a/0.png").toFile());
        }
        Files.copy(big, dir.resolve("train/a/1.png"));
        UserException viaFolder = assertTimeoutPreemptively(Duration.ofSeconds(5), () -> assertThrows(
                UserException.class, () -> ImageFolder.load(dir, new PrintStream(new ByteArrayOutputStream()))));
        assertTrue(viaFolder.getMessage().contains("1.png declares 20000x20000"), viaFolder.getMessage());
    }

    @Test
    void normalImagesStillDecode() throws Exception {
        BufferedImage img = new BufferedImage(ImageDecoder.MAX_SIDE, 3, BufferedImage.TYPE_BYTE_GRAY);
        Path f = tmp.resolve("ok.png");
        ImageIO.write(img, "png", f.toFile());
        BufferedImage back = ImageDecoder.read(f);
        assertEquals(ImageDecoder.MAX_SIDE, back.getWidth());
        assertEquals(3, back.getHeight());
    }
}
