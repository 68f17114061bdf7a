package dev.pdecnn.backend.cpu;

import org.bytedeco.dnnl.IntMemoryMap;
import org.bytedeco.dnnl.convolution_backward_data;
import org.bytedeco.dnnl.convolution_backward_weights;
import org.bytedeco.dnnl.convolution_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.primitive;
import org.bytedeco.dnnl.primitive_attr;
import org.bytedeco.dnnl.reorder;
import org.bytedeco.dnnl.stream;
import org.bytedeco.javacpp.FloatPointer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static dev.pdecnn.backend.cpu.RowKernels.groupStart;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_WEIGHTS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_FROM;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCRATCHPAD;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_TO;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;
import static org.bytedeco.dnnl.global.dnnl.algorithm;
import static org.bytedeco.dnnl.global.dnnl.prop_kind;
import static org.bytedeco.dnnl.global.dnnl.scratchpad_mode;

/**
 * Float32 convolutions through oneDNN primitives (forward, backward data, backward weights; any stride, padding
 * and groups), with the semantics of {@link ConvOps}: y and gx are written, gw is accumulated.
 *
 * <p><b>Threads.</b> The batch is split into {@link Parallel#threads()} runs of whole images, and each run is a
 * task of our own thread pool that calls oneDNN single-threaded ({@link OneDnn#useThreads}) on its images with
 * its own {@link Slot}: stream, native buffers, scratchpad and primitives. oneDNN's OpenMP team is never used:
 * after each call its idle threads would spin on the cores our pool needs for the next operation, or, told to
 * sleep, take a wake-up per parallel region (both measured slower than this split). The copies in and out run
 * in parallel this way too. The weight gradients of the runs are added in run order.
 *
 * <p><b>Layouts.</b> Our tensors are {@code float[]} in NCHW; oneDNN reads native memory, and is fast only in its
 * own blocked layouts (channels in blocks of 8 or 16; on plain NCHW it falls back to reference code a hundred
 * times slower). So each call copies its operands into native NCHW staging buffers, reorders them into the
 * layouts the primitive chose ({@code format_tag::any}), runs it, and reorders and copies the result back.
 * These copies are part of every measured time (docs/benchmarks.md); they are why the built-in depthwise
 * kernels, which read NCHW in place, stay faster on large planes ({@link ConvPath}).
 *
 * <p><b>Plans.</b> A slot holds one {@link Plan} per shape (its run's image count included): the three
 * primitives, their reorders and argument maps, created at first use and reused for the life of the process.
 * Its native buffers, one per role, are shared by its plans and grown to the largest. The primitives are
 * created with the deterministic attribute and a user-managed scratchpad (oneDNN's own scratchpad would tie a
 * primitive to the thread that created it, and a slot's task may run on either pool thread).
 */
final class OneDnnConv {
    private OneDnnConv() {
    }

    /** Native buffer roles: user (NCHW/OIHW) staging, the primitives' own layouts, the scratchpad. */
    private enum Role {
        USER_X, USER_Y, USER_W, FWD_X, FWD_W, FWD_Y, BWD_DY, BWD_W, BWD_DX, WGT_X, WGT_DY, WGT_DW, SCRATCH
    }

    private static Slot[] slots = new Slot[0];

    /** A primitive's scratchpad memory and its size. */
    private record Scratch(memory memory, long bytes) {
    }

    /** A convolution's full geometry; the key of its plans. */
    record Shape(int n, int c, int h, int w, int co, int kh, int kw, int stride, int pad, int groups) {
        int ho() {
            return (h + 2 * pad - kh) / stride + 1;
        }

        int wo() {
            return (w + 2 * pad - kw) / stride + 1;
        }

        Shape withBatch(int images) {
            return new Shape(images, c, h, w, co, kh, kw, stride, pad, groups);
        }

        static Shape of(ConvOps.Geom g) {
            return new Shape(g.n, g.c, g.h, g.w, g.co, g.kh, g.kw, g.stride, g.pad, g.groups);
        }
    }

    /** Runs of whole images: one per pool thread, never more than the images. */
    private static int runs(int n) {
        int runs = Math.max(1, Math.min(Parallel.threads(), n));
        if (slots.length < runs) {
            Slot[] more = Arrays.copyOf(slots, runs);
            for (int i = slots.length; i < runs; i++) {
                more[i] = new Slot();
            }
            slots = more;
        }
        return runs;
    }

    static synchronized void forward(float[] x, int xOff, float[] w, int wOff, float[] y, int yOff, Shape s) {
        int runs = runs(s.n()), xImg = s.c() * s.h() * s.w(), yImg = s.co() * s.ho() * s.wo();
        Parallel.forTasks(runs, t -> {
            int i0 = groupStart(s.n(), t, runs), i1 = groupStart(s.n(), t + 1, runs);
            slots[t].forward(x, xOff + i0 * xImg, w, wOff, y, yOff + i0 * yImg, s.withBatch(i1 - i0));
        });
    }

    /** gx (written) and gw (accumulated) may each be null. */
    static synchronized void backward(float[] x, int xOff, float[] w, int wOff, float[] gy, int gyOff,
                                      float[] gx, int gxOff, float[] gw, int gwOff, Shape s) {
        int runs = runs(s.n()), xImg = s.c() * s.h() * s.w(), yImg = s.co() * s.ho() * s.wo();
        Parallel.forTasks(runs, t -> {
            int i0 = groupStart(s.n(), t, runs), i1 = groupStart(s.n(), t + 1, runs);
            slots[t].backward(x, xOff + i0 * xImg, w, wOff, gy, gyOff + i0 * yImg, gx, gxOff + i0 * xImg,
                    gw != null, s.withBatch(i1 - i0));
        });
        if (gw != null) {
            int nw = s.co() * (s.c() / s.groups()) * s.kh() * s.kw();
            for (int i = 0; i < nw; i++) {
                double acc = 0;
                for (int t = 0; t < runs; t++) {
                    acc += slots[t].gwPart[i];
                }
                gw[gwOff + i] += (float) acc;
            }
        }
    }

    /** The implementations oneDNN picked for the shape, e.g. "jit:avx512_core" for all three passes. */
    static synchronized String implementation(Shape s) {
        runs(1);
        return slots[0].plan(s).impl;
    }

    /** One task's share of the work: its stream, buffers and plans (used by one task at a time). */
    private static final class Slot {
        final stream stream = new stream(OneDnn.engine());
        final Map<Role, FloatPointer> buffers = new EnumMap<>(Role.class);
        /** The oneDNN memories that own the buffers (aligned as oneDNN likes). */
        final Map<Role, memory> owners = new EnumMap<>(Role.class);
        final Map<Shape, Plan> plans = new HashMap<>();
        /** This run's weight gradient, read back before the runs are summed. */
        float[] gwPart = new float[0];

        Plan plan(Shape s) {
            return plans.computeIfAbsent(s, k -> new Plan(this, k));
        }

        void forward(float[] x, int xOff, float[] w, int wOff, float[] y, int yOff, Shape s) {
            Plan p = plan(s);
            OneDnn.useThreads();
            p.bind();
            buffers.get(Role.USER_X).put(x, xOff, p.nx);
            buffers.get(Role.USER_W).put(w, wOff, p.nw);
            run(p.fwdX, p.fwdW, p.fwd, p.fwdArgs, p.fwdY);
            buffers.get(Role.USER_Y).get(y, yOff, p.ny);
        }

        void backward(float[] x, int xOff, float[] w, int wOff, float[] gy, int gyOff, float[] gx, int gxOff,
                      boolean weights, Shape s) {
            Plan p = plan(s);
            OneDnn.useThreads();
            p.bind();
            buffers.get(Role.USER_Y).put(gy, gyOff, p.ny);
            if (gx != null) {
                buffers.get(Role.USER_W).put(w, wOff, p.nw);
                run(p.bwdDy, p.bwdW, p.bwd, p.bwdArgs, p.bwdDx);
                buffers.get(Role.USER_X).get(gx, gxOff, p.nx);
            }
            if (weights) {
                buffers.get(Role.USER_X).put(x, xOff, p.nx);
                // without its own gy operand the weights pass reads gy in the layout the data pass made
                Operand dy = p.wgtDy != null ? p.wgtDy : gx == null ? p.bwdDy : null;
                run(p.wgtX, dy, p.wgt, p.wgtArgs, p.wgtDw);
                if (gwPart.length < p.nw) {
                    gwPart = new float[p.nw];
                }
                buffers.get(Role.USER_W).get(gwPart, 0, p.nw);
            }
        }

        /**
         * Reorders the inputs (those not null) from the user buffers into the primitive's layouts, runs it and
         * reorders its output back into its user buffer; returns when all of it has run.
         */
        private void run(Operand in1, Operand in2, primitive prim, IntMemoryMap args, Operand out) {
            in1.toPrimitive(stream);
            if (in2 != null) {
                in2.toPrimitive(stream);
            }
            prim.execute(stream, args);
            out.toUser(stream);
            stream._wait();
        }

        /** The role's buffer, grown to at least the given bytes (contents are not kept). */
        FloatPointer buffer(Role r, long bytes) {
            FloatPointer b = buffers.get(r);
            long floats = Math.max(1, (bytes + 3) / 4);
            if (b == null || b.capacity() < floats) {
                memory old = owners.remove(r);
                if (old != null) {
                    old.close();
                }
                memory m = new memory(new memory.desc(new long[] {floats}, memory.data_type.f32,
                        memory.format_tag.a), OneDnn.engine());
                owners.put(r, m);
                b = new FloatPointer(m.get_data_handle());
                b.capacity(floats).limit(floats);
                buffers.put(r, b);
            }
            return b;
        }
    }

    /**
     * One operand: a native memory in the primitive's layout, and the user-layout memory it is reordered from or
     * to. When the two layouts are the same the primitive reads the user buffer and no reorder runs.
     */
    private static final class Operand {
        final Slot slot;
        final memory user, prim;
        final Role userRole, primRole;
        final long userBytes, primBytes;
        final primitive reorder;
        final IntMemoryMap reorderArgs;

        Operand(Slot slot, memory.desc userDesc, Role userRole, memory.desc primDesc, Role primRole, boolean input,
                primitive_attr attr, List<Scratch> scratchpads) {
            this.slot = slot;
            this.userRole = userRole;
            this.userBytes = userDesc.get_size();
            this.user = new memory(userDesc, OneDnn.engine(), slot.buffer(userRole, userBytes));
            if (primDesc.equals(userDesc)) {
                this.primRole = userRole;
                this.primBytes = userBytes;
                this.prim = user;
                this.reorder = null;
                this.reorderArgs = null;
            } else {
                this.primRole = primRole;
                this.primBytes = primDesc.get_size();
                this.prim = new memory(primDesc, OneDnn.engine(), slot.buffer(primRole, primBytes));
                memory from = input ? user : prim, to = input ? prim : user;
                var pd = new reorder.primitive_desc(from, to, attr, false);
                this.reorder = new reorder(pd);
                this.reorderArgs = Plan.withScratchpad(slot, scratchpads, pd.scratchpad_desc(),
                        new IntMemoryMap().put(DNNL_ARG_FROM, from).put(DNNL_ARG_TO, to));
            }
        }

        void bind() {
            user.set_data_handle(slot.buffer(userRole, userBytes));
            if (prim != user) {
                prim.set_data_handle(slot.buffer(primRole, primBytes));
            }
        }

        void toPrimitive(stream st) {
            if (reorder != null) {
                reorder.execute(st, reorderArgs);
            }
        }

        void toUser(stream st) {
            toPrimitive(st);
        }
    }

    /** The primitives, operands and argument maps of one shape in one slot. */
    private static final class Plan {
        final Slot slot;
        final int nx, ny, nw;
        final convolution_forward fwd;
        final convolution_backward_data bwd;
        final convolution_backward_weights wgt;
        final Operand fwdX, fwdW, fwdY, bwdDy, bwdW, bwdDx, wgtX, wgtDy, wgtDw;
        final Operand[] operands;
        final IntMemoryMap fwdArgs, bwdArgs, wgtArgs;
        /** The scratchpad memories of the primitives and reorders, bound to the slot's SCRATCH buffer. */
        final List<Scratch> scratchpads = new ArrayList<>();
        final String impl;

        Plan(Slot slot, Shape s) {
            this.slot = slot;
            int cg = s.c() / s.groups();
            long[] xDims = {s.n(), s.c(), s.h(), s.w()}, yDims = {s.n(), s.co(), s.ho(), s.wo()};
            long[] wDims = s.groups() == 1 ? new long[] {s.co(), s.c(), s.kh(), s.kw()}
                    : new long[] {s.groups(), s.co() / s.groups(), cg, s.kh(), s.kw()};
            nx = s.n() * s.c() * s.h() * s.w();
            ny = s.n() * s.co() * s.ho() * s.wo();
            nw = s.co() * cg * s.kh() * s.kw();
            memory.desc xUser = desc(xDims, memory.format_tag.nchw), yUser = desc(yDims, memory.format_tag.nchw);
            memory.desc wUser = desc(wDims, s.groups() == 1 ? memory.format_tag.oihw : memory.format_tag.goihw);
            memory.desc xAny = desc(xDims, memory.format_tag.any), yAny = desc(yDims, memory.format_tag.any);
            memory.desc wAny = desc(wDims, memory.format_tag.any), none = new memory.desc();
            long[] strides = {s.stride(), s.stride()}, pads = {s.pad(), s.pad()};
            primitive_attr attr = new primitive_attr();
            attr.set_deterministic(true);
            attr.set_scratchpad_mode(scratchpad_mode.user);
            var fpd = new convolution_forward.primitive_desc(OneDnn.engine(), prop_kind.forward_training,
                    algorithm.convolution_direct, xAny, wAny, none, yAny, strides, pads, pads, attr, false);
            var dpd = new convolution_backward_data.primitive_desc(OneDnn.engine(), algorithm.convolution_direct,
                    xAny, wAny, yAny, strides, pads, pads, fpd, attr, false);
            var wpd = new convolution_backward_weights.primitive_desc(OneDnn.engine(),
                    algorithm.convolution_direct, xAny, wAny, none, yAny, strides, pads, pads, fpd, attr, false);
            fwd = new convolution_forward(fpd);
            bwd = new convolution_backward_data(dpd);
            wgt = new convolution_backward_weights(wpd);
            fwdX = new Operand(slot, xUser, Role.USER_X, fpd.src_desc(), Role.FWD_X, true, attr, scratchpads);
            fwdW = new Operand(slot, wUser, Role.USER_W, fpd.weights_desc(), Role.FWD_W, true, attr, scratchpads);
            fwdY = new Operand(slot, yUser, Role.USER_Y, fpd.dst_desc(), Role.FWD_Y, false, attr, scratchpads);
            bwdDy = new Operand(slot, yUser, Role.USER_Y, dpd.diff_dst_desc(), Role.BWD_DY, true, attr, scratchpads);
            bwdW = new Operand(slot, wUser, Role.USER_W, dpd.weights_desc(), Role.BWD_W, true, attr, scratchpads);
            bwdDx = new Operand(slot, xUser, Role.USER_X, dpd.diff_src_desc(), Role.BWD_DX, false, attr, scratchpads);
            wgtX = new Operand(slot, xUser, Role.USER_X, wpd.src_desc(), Role.WGT_X, true, attr, scratchpads);
            // (null when the weights pass wants gy in the layout the data pass already reordered it into)
            wgtDy = wpd.diff_dst_desc().equals(dpd.diff_dst_desc()) ? null
                    : new Operand(slot, yUser, Role.USER_Y, wpd.diff_dst_desc(), Role.WGT_DY, true, attr, scratchpads);
            wgtDw = new Operand(slot, wUser, Role.USER_W, wpd.diff_weights_desc(), Role.WGT_DW, false, attr,
                    scratchpads);
            operands = java.util.stream.Stream.of(fwdX, fwdW, fwdY, bwdDy, bwdW, bwdDx, wgtX, wgtDy, wgtDw)
                    .filter(java.util.Objects::nonNull).toArray(Operand[]::new);
            fwdArgs = withScratchpad(slot, scratchpads, fpd.scratchpad_desc(), new IntMemoryMap()
                    .put(DNNL_ARG_SRC, fwdX.prim).put(DNNL_ARG_WEIGHTS, fwdW.prim).put(DNNL_ARG_DST, fwdY.prim));
            bwdArgs = withScratchpad(slot, scratchpads, dpd.scratchpad_desc(), new IntMemoryMap().put(DNNL_ARG_DIFF_DST,
                    bwdDy.prim).put(DNNL_ARG_WEIGHTS, bwdW.prim).put(DNNL_ARG_DIFF_SRC, bwdDx.prim));
            wgtArgs = withScratchpad(slot, scratchpads, wpd.scratchpad_desc(), new IntMemoryMap()
                    .put(DNNL_ARG_SRC, wgtX.prim).put(DNNL_ARG_DIFF_DST, (wgtDy == null ? bwdDy : wgtDy).prim)
                    .put(DNNL_ARG_DIFF_WEIGHTS, wgtDw.prim));
            String f = fpd.impl_info_str().getString(), d = dpd.impl_info_str().getString(),
                    g = wpd.impl_info_str().getString();
            impl = f.equals(d) && d.equals(g) ? f : f + " / " + d + " / " + g;
        }

        /** Points every memory at its role's buffer (a larger plan of the slot may have grown them since). */
        void bind() {
            for (Operand o : operands) {
                o.bind();
            }
            for (Scratch sp : scratchpads) {
                sp.memory().set_data_handle(slot.buffer(Role.SCRATCH, sp.bytes()));
            }
        }

        /**
         * Adds a scratchpad memory on the slot's SCRATCH buffer to the arguments when the primitive needs one, and
         * to the plan's list, so that {@link #bind} follows the buffer when it grows.
         */
        static IntMemoryMap withScratchpad(Slot slot, List<Scratch> into, memory.desc scratch, IntMemoryMap args) {
            long bytes = scratch.get_size();
            if (bytes > 0) {
                memory m = new memory(scratch, OneDnn.engine(), slot.buffer(Role.SCRATCH, bytes));
                args.put(DNNL_ARG_SCRATCHPAD, m);
                into.add(new Scratch(m, bytes));
            }
            return args;
        }

        private static memory.desc desc(long[] dims, memory.format_tag tag) {
            return new memory.desc(dims, memory.data_type.f32, tag);
        }
    }
}
