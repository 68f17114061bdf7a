package dev.pdecnn.tensor;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Views share their base's array from an offset; every accessor must stay inside the window. */
class TensorViewTest {
    @Test
    void accessorsStayInsideTheWindow() {
        for (DType dt : DType.values()) {
            SplittableRandom r = new SplittableRandom(dt.ordinal() + 7);
            Tensor base = Tensor.zeros(dt, 23);
            for (int i = 0; i < 23; i++) {
                base.set(i, r.nextDouble());
            }
            Tensor before = base.copy();
            Tensor v = Tensor.view(base, 5, 2, 3, 2); // elements 5..16
            assertEquals(5, v.offset());
            assertSame(base, v.base());
            assertEquals(12, v.size());
            for (int i = 0; i < 12; i++) {
                assertEquals(base.get(5 + i), v.get(i));
            }
            v.fill(-1);
            for (int i = 0; i < 23; i++) {
                assertEquals(i >= 5 && i < 17 ? -1 : before.get(i), base.get(i), "element " + i);
            }
            v.set(3, 9);
            assertEquals(9, base.get(8));
            Tensor c = v.copy();
            assertEquals(0, c.offset());
            assertEquals(12, c.size());
            assertEquals(9, c.get(3));
            Tensor w = Tensor.view(v, 2, 4); // a view of a view is a view of the base
            assertSame(base, w.base());
            assertEquals(7, w.offset());
            Tensor src = Tensor.zeros(dt, 4);
            src.fill(3);
            src.copyInto(w);
            assertEquals(3, base.get(7));
            assertEquals(3, base.get(10));
            assertEquals(-1, base.get(11));
            assertEquals(before.get(4), base.get(4));
            Tensor rs = v.reshape(12);
            assertEquals(5, rs.offset());
            assertArrayEquals(new int[]{2, 3, 2}, v.zerosLike().shape());
            assertEquals(0, v.zerosLike().offset());
        }
    }

    @Test
    void outOfRangeViewsAreRefused() {
        Tensor base = Tensor.zeros(DType.F32, 10);
        assertThrows(IllegalArgumentException.class, () -> Tensor.view(base, 8, 3));
        assertThrows(IllegalArgumentException.class, () -> Tensor.view(base, -1, 2));
        Tensor v = Tensor.view(base, 2, 3);
        assertThrows(IllegalStateException.class, () -> v.deviceCopy(null));
    }
}
