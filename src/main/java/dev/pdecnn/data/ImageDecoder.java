package dev.pdecnn.data;

import dev.pdecnn.UserException;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Iterator;

/**
 * Reads and decodes one image file with {@code javax.imageio}; every failure names the file. The size an image
 * declares in its header is checked before any pixel is decoded: PNG and JPEG compress a blank canvas so well
 * that a 1 MB file can declare 20000x20000 pixels, which a plain {@code ImageIO.read} would decode in full
 * (1.9 GB) before anything could look at its size.
 */
final class ImageDecoder {
    /** Largest width or height accepted; the models take 28x28 and 32x32 images, so this is only a guard. */
    static final int MAX_SIDE = 4096;
    /** Largest file read: a 4096x4096 RGB PNG stored without any compression is 48 MiB. */
    static final long MAX_FILE_BYTES = 64L << 20;

    private ImageDecoder() {
    }

    static BufferedImage read(Path file) {
        byte[] bytes;
        try {
            if (Files.size(file) > MAX_FILE_BYTES) {
                throw new UserException(file + " is larger than " + (MAX_FILE_BYTES >> 20) + " MiB, more than any "
                        + "image of at most " + MAX_SIDE + "x" + MAX_SIDE + " pixels needs; remove it");
            }
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException ex) {
            throw new UserException(file + " vanished while the folder was being loaded; run again");
        } catch (IOException ex) {
            throw new UserException(file + ": cannot read (" + IdxReader.oneLine(ex) + ")", ex);
        }
        BufferedImage img;
        // An in-memory stream: ImageIO.read(InputStream) would buffer through a temporary file by default.
        try (ImageInputStream iis = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes))) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(iis);
            if (!readers.hasNext()) {
                throw new UserException(file + " cannot be decoded: not a PNG or JPEG image that javax.imageio "
                        + "can read (" + bytes.length + " bytes); convert or remove it");
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(iis, true, true);
                int w = reader.getWidth(0); // from the header (PNG IHDR, JPEG SOF) only
                int h = reader.getHeight(0);
                if (w <= 0 || h <= 0 || w > MAX_SIDE || h > MAX_SIDE) {
                    throw new UserException(file + " declares " + w + "x" + h + " pixels (width x height); images may "
                            + "be at most " + MAX_SIDE + "x" + MAX_SIDE + " (the models take 28x28 or 32x32): "
                            + "resize or remove it");
                }
                img = reader.read(0, reader.getDefaultReadParam());
            } finally {
                reader.dispose();
            }
        } catch (UserException ex) {
            throw ex;
        } catch (IOException | RuntimeException ex) {
            throw new UserException(file + " cannot be decoded (" + IdxReader.oneLine(ex)
                    + "); it is corrupt or in a variant javax.imageio does not support (e.g. CMYK JPEG): "
                    + "convert or remove it", ex);
        }
        if (img == null) {
            throw new UserException(file + " cannot be decoded: javax.imageio returned no image (" + bytes.length
                    + " bytes); convert or remove it");
        }
        return img;
    }
}
