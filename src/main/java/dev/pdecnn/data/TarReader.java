package dev.pdecnn.data;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * A minimal streaming reader for (uncompressed) tar archives, enough for npm package tarballs: ustar
 * headers with the name prefix, GNU long names ('L') and pax path records ('x'). Only the entry names
 * and regular-file contents are exposed; permissions, owners and links are ignored because we never
 * unpack the archive, we only copy a few known files out of it.
 */
final class TarReader {
    private static final int BLOCK = 512;

    /** One archive member. {@code type} is the raw typeflag ('0' or '\0' for regular files). */
    record Entry(String name, long size, char type) {
        boolean isFile() {
            return type == '0' || type == '\0' || type == '7';
        }

        /** The last path component, which is how we recognise files regardless of the package layout. */
        String baseName() {
            String n = name.endsWith("/") ? name.substring(0, name.length() - 1) : name;
            return n.substring(n.lastIndexOf('/') + 1);
        }
    }

    private final InputStream in;
    private long remaining; // unread content bytes of the current entry
    private long padding;   // zero bytes after the current entry up to the next 512 boundary
    private boolean done;

    TarReader(InputStream in) {
        this.in = in;
    }

    /** Advances to the next entry, skipping whatever is left of the current one; null at the end. */
    Entry next() throws IOException {
        String longName = null;
        while (true) {
            skipFully(remaining + padding);
            remaining = 0;
            padding = 0;
            if (done) {
                return null;
            }
            byte[] header = in.readNBytes(BLOCK);
            if (header.length == 0 || isZero(header)) {
                // Real archives end with two zero blocks; stopping at the first is enough and also tolerates
                // writers that omit the second one.
                done = true;
                return null;
            }
            if (header.length < BLOCK) {
                throw new EOFException("tar archive ends inside a header");
            }
            verifyChecksum(header);
            String name = string(header, 0, 100);
            if (string(header, 257, 5).equals("ustar")) {
                String prefix = string(header, 345, 155);
                if (!prefix.isEmpty()) {
                    name = prefix + "/" + name;
                }
            }
            long size = parseNumber(header, 124, 12);
            char type = (char) (header[156] & 0xff);
            remaining = size;
            padding = (BLOCK - size % BLOCK) % BLOCK;
            if (type == 'L') {
                // GNU long name: the content is the name of the following entry.
                longName = string(readContent(size), 0, (int) size);
                continue;
            }
            if (type == 'x') {
                String path = paxPath(readContent(size));
                if (path != null) {
                    longName = path;
                }
                continue;
            }
            if (type == 'g') {
                continue; // global pax header: nothing we need
            }
            return new Entry(longName != null ? longName : name, size, type);
        }
    }

    /** The content of the entry last returned by {@link #next()}; valid until the next call to next(). */
    InputStream content() {
        return new InputStream() {
            @Override
            public int read() throws IOException {
                if (remaining <= 0) {
                    return -1;
                }
                int b = in.read();
                if (b < 0) {
                    throw new EOFException("tar archive ends inside an entry");
                }
                remaining--;
                return b;
            }

            @Override
            public int read(byte[] buf, int off, int len) throws IOException {
                if (remaining <= 0) {
                    return -1;
                }
                int r = in.read(buf, off, (int) Math.min(len, remaining));
                if (r < 0) {
                    throw new EOFException("tar archive ends inside an entry");
                }
                remaining -= r;
                return r;
            }
        };
    }

    private byte[] readContent(long size) throws IOException {
        if (size > (1 << 20)) {
            throw new IOException("tar metadata entry of " + size + " bytes is implausibly large");
        }
        byte[] b = in.readNBytes((int) size);
        if (b.length < size) {
            throw new EOFException("tar archive ends inside an entry");
        }
        remaining = 0;
        return b;
    }

    private void skipFully(long n) throws IOException {
        while (n > 0) {
            long s = in.skip(n);
            if (s <= 0) {
                // skip() may legitimately return 0; fall back to read() to distinguish that from EOF.
                if (in.read() < 0) {
                    throw new EOFException("tar archive ends inside an entry");
                }
                s = 1;
            }
            n -= s;
        }
    }

    /** Extracts the "path" record from pax extended-header data ("LEN key=value\n" records). */
    static String paxPath(byte[] data) {
        int pos = 0;
        while (pos < data.length) {
            int sp = pos;
            while (sp < data.length && data[sp] != ' ') {
                sp++;
            }
            if (sp >= data.length) {
                return null;
            }
            int len;
            try {
                len = Integer.parseInt(new String(data, pos, sp - pos, StandardCharsets.US_ASCII));
            } catch (NumberFormatException e) {
                return null;
            }
            if (len <= 0 || pos + len > data.length) {
                return null;
            }
            String record = new String(data, sp + 1, pos + len - sp - 1, StandardCharsets.UTF_8);
            if (record.endsWith("\n")) {
                record = record.substring(0, record.length() - 1);
            }
            if (record.startsWith("path=")) {
                return record.substring(5);
            }
            pos += len;
        }
        return null;
    }

    private static void verifyChecksum(byte[] h) throws IOException {
        long stored = parseNumber(h, 148, 8);
        long sum = 0;
        for (int i = 0; i < BLOCK; i++) {
            sum += (i >= 148 && i < 156) ? ' ' : (h[i] & 0xff);
        }
        if (sum != stored) {
            throw new IOException("tar header checksum mismatch (not a tar archive, or corrupt)");
        }
    }

    /** Parses an octal numeric field, or the GNU base-256 form (high bit of the first byte set). */
    static long parseNumber(byte[] h, int off, int len) throws IOException {
        if ((h[off] & 0x80) != 0) {
            long v = h[off] & 0x7f;
            for (int i = 1; i < len; i++) {
                v = (v << 8) | (h[off + i] & 0xff);
            }
            return v;
        }
        long v = 0;
        boolean any = false;
        for (int i = off; i < off + len; i++) {
            int b = h[i] & 0xff;
            if (b == 0 || (b == ' ' && any)) {
                break;
            }
            if (b == ' ') {
                continue; // leading padding
            }
            if (b < '0' || b > '7') {
                throw new IOException("bad octal number in tar header");
            }
            v = v * 8 + (b - '0');
            any = true;
        }
        return v;
    }

    private static String string(byte[] b, int off, int len) {
        int end = off;
        while (end < off + len && b[end] != 0) {
            end++;
        }
        return new String(b, off, end - off, StandardCharsets.UTF_8);
    }

    private static boolean isZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }
}
