package dev.pdecnn.backend.cpu;

import org.bytedeco.dnnl.IntMemoryMap;
import org.bytedeco.dnnl.convolution_backward_data;
import org.bytedeco.dnnl.convolution_backward_weights;
import org.bytedeco.dnnl.convolution_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.primitive_attr;
import org.bytedeco.dnnl.reorder;
import org.bytedeco.javacpp.FloatPointer;

import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_WEIGHTS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;
import static org.bytedeco.dnnl.global.dnnl.algorithm;
import static org.bytedeco.dnnl.global.dnnl.prop_kind;

/**
 * Float32 convolutions through oneDNN primitives (forward, backward data, backward weights; any stride, padding
 * and groups), with the semantics of {@link ConvOps}: y and gx are written, gw is accumulated.
 *
 * <p>Our tensors are {@code float[]} in NCHW; oneDNN reads native memory, and is fast only in its own blocked
 * layouts (channels in blocks of 8 or 16; on plain NCHW it falls back to reference code hundreds of times
 * slower). So each call copies its operands into native NCHW staging buffers, reorders them into the layouts
 * the primitive chose ({@code format_tag::any}), runs it, and reorders and copies the result back. The copies
 * and reorders are part of every measured time (docs/benchmarks.md); they are why the built-in depthwise kernels
 * stay faster on large planes ({@link ConvPath}).
 *
 * <p>One {@link Plan} per shape (batch size included) holds the three primitives, their reorders and argument
 * maps, created at first use and reused for the life of the process. The native buffers are shared by all
 * plans, one per role, grown to the largest shape; a plan binds its memories to them before each call. The
 * primitives are created with the deterministic attribute, so a given thread count gives the same bits on
 * every run. Calls are serialised (one stream); the kernels themselves run on {@link Parallel#threads()}
 * OpenMP threads ({@link OneDnn#useThreads}).
 */
final class OneDnnConv {
    private OneDnnConv() {
    }

    /** Native buffer roles: user (NCHW/OIHW) staging and the primitives' own layouts. */
    private enum Role { USER_X, USER_Y, USER_W, FWD_X, FWD_W, FWD_Y, BWD_DY, BWD_W, BWD_DX, WGT_X, WGT_DY, WGT_DW }

    /** One float buffer per role, grown on demand. */
    private static final Map<Role, FloatPointer> BUFFERS = new EnumMap<>(Role.class);
    /** The oneDNN memories that own the buffers. */
    private static final Map<Role, memory> OWNERS = new EnumMap<>(Role.class);
    private static final Map<Shape, Plan> PLANS = new HashMap<>();
    /** Host array the weight gradient is read back into before it is added to gw. */
    private static float[] gwTemp = new float[0];

    /** A convolution's full geometry; the key of its plan. */
    record Shape(int n, int c, int h, int w, int co, int kh, int kw, int stride, int pad, int groups) {
        int ho() {
            return (h + 2 * pad - kh) / stride + 1;
        }

        int wo() {
            return (w + 2 * pad - kw) / stride + 1;
        }

        static Shape of(ConvOps.Geom g) {
            return new Shape(g.n, g.c, g.h, g.w, g.co, g.kh, g.kw, g.stride, g.pad, g.groups);
        }
    }

    static synchronized void forward(float[] x, int xOff, float[] w, int wOff, float[] y, int yOff, Shape s) {
        Plan p = plan(s);
        OneDnn.useThreads();
        p.bind();
        BUFFERS.get(Role.USER_X).put(x, xOff, p.nx);
        BUFFERS.get(Role.USER_W).put(w, wOff, p.nw);
        p.fwdX.toPrimitive();
        p.fwdW.toPrimitive();
        p.fwd.execute(OneDnn.stream(), p.fwdArgs);
        p.fwdY.toUser();
        OneDnn.stream()._wait();
        BUFFERS.get(Role.USER_Y).get(y, yOff, p.ny);
    }

    /** gx (written) and gw (accumulated) may each be null. */
    static synchronized void backward(float[] x, int xOff, float[] w, int wOff, float[] gy, int gyOff,
                                      float[] gx, int gxOff, float[] gw, int gwOff, Shape s) {
        Plan p = plan(s);
        OneDnn.useThreads();
        p.bind();
        BUFFERS.get(Role.USER_Y).put(gy, gyOff, p.ny);
        if (gx != null) {
            BUFFERS.get(Role.USER_W).put(w, wOff, p.nw);
            p.bwdDy.toPrimitive();
            p.bwdW.toPrimitive();
            p.bwd.execute(OneDnn.stream(), p.bwdArgs);
            p.bwdDx.toUser();
            OneDnn.stream()._wait();
            BUFFERS.get(Role.USER_X).get(gx, gxOff, p.nx);
        }
        if (gw != null) {
            BUFFERS.get(Role.USER_X).put(x, xOff, p.nx);
            p.wgtX.toPrimitive();
            p.wgtDy.toPrimitive();
            p.wgt.execute(OneDnn.stream(), p.wgtArgs);
            p.wgtDw.toUser();
            OneDnn.stream()._wait();
            if (gwTemp.length < p.nw) {
                gwTemp = new float[p.nw];
            }
            BUFFERS.get(Role.USER_W).get(gwTemp, 0, p.nw);
            for (int i = 0; i < p.nw; i++) {
                gw[gwOff + i] += gwTemp[i];
            }
        }
    }

    /** The implementations oneDNN picked for the shape, e.g. "jit:avx512_core" for all three passes. */
    static synchronized String implementation(Shape s) {
        return plan(s).impl;
    }

    private static Plan plan(Shape s) {
        return PLANS.computeIfAbsent(s, Plan::new);
    }

    /**
     * The role's buffer, grown to at least the given bytes (contents are not kept). It is a oneDNN memory (so
     * aligned as oneDNN likes), seen as a FloatPointer at its start for the copies from and to Java arrays.
     */
    private static FloatPointer buffer(Role r, long bytes) {
        FloatPointer b = BUFFERS.get(r);
        long floats = (bytes + 3) / 4;
        if (b == null || b.capacity() < floats) {
            memory old = OWNERS.remove(r);
            if (old != null) {
                old.close();
            }
            memory m = new memory(new memory.desc(new long[] {floats}, memory.data_type.f32, memory.format_tag.a),
                    OneDnn.engine());
            OWNERS.put(r, m);
            b = new FloatPointer(m.get_data_handle());
            b.capacity(floats).limit(floats);
            BUFFERS.put(r, b);
        }
        return b;
    }

    /**
     * One operand: a native memory in the primitive's layout, and the user-layout memory it is reordered from or
     * to. When the two layouts are the same the primitive reads the user buffer and no reorder runs.
     */
    private static final class Operand {
        final memory user, prim;
        final Role userRole, primRole;
        final long userBytes, primBytes;
        final reorder toPrim, toUser;

        Operand(memory.desc userDesc, Role userRole, memory.desc primDesc, Role primRole, boolean input) {
            this.userRole = userRole;
            this.userBytes = userDesc.get_size();
            this.primBytes = primDesc.get_size();
            this.user = new memory(userDesc, OneDnn.engine(), buffer(userRole, userBytes));
            if (primDesc.equals(userDesc)) {
                this.primRole = userRole;
                this.prim = user;
                this.toPrim = null;
                this.toUser = null;
            } else {
                this.primRole = primRole;
                this.prim = new memory(primDesc, OneDnn.engine(), buffer(primRole, primBytes));
                this.toPrim = input ? new reorder(user, prim) : null;
                this.toUser = input ? null : new reorder(prim, user);
            }
        }

        void bind() {
            user.set_data_handle(buffer(userRole, userBytes));
            if (prim != user) {
                prim.set_data_handle(buffer(primRole, primBytes));
            }
        }

        void toPrimitive() {
            if (toPrim != null) {
                toPrim.execute(OneDnn.stream(), user, prim);
            }
        }

        void toUser() {
            if (toUser != null) {
                toUser.execute(OneDnn.stream(), prim, user);
            }
        }
    }

    /** The primitives, operands and argument maps of one shape. */
    private static final class Plan {
        final int nx, ny, nw;
        final convolution_forward fwd;
        final convolution_backward_data bwd;
        final convolution_backward_weights wgt;
        final Operand fwdX, fwdW, fwdY, bwdDy, bwdW, bwdDx, wgtX, wgtDy, wgtDw;
        final Operand[] operands;
        final IntMemoryMap fwdArgs, bwdArgs, wgtArgs;
        final String impl;

        Plan(Shape s) {
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
            var fpd = new convolution_forward.primitive_desc(OneDnn.engine(), prop_kind.forward_training,
                    algorithm.convolution_direct, xAny, wAny, none, yAny, strides, pads, pads, attr, false);
            var dpd = new convolution_backward_data.primitive_desc(OneDnn.engine(), algorithm.convolution_direct,
                    xAny, wAny, yAny, strides, pads, pads, fpd, attr, false);
            var wpd = new convolution_backward_weights.primitive_desc(OneDnn.engine(),
                    algorithm.convolution_direct, xAny, wAny, none, yAny, strides, pads, pads, fpd, attr, false);
            fwd = new convolution_forward(fpd);
            bwd = new convolution_backward_data(dpd);
            wgt = new convolution_backward_weights(wpd);
            fwdX = new Operand(xUser, Role.USER_X, fpd.src_desc(), Role.FWD_X, true);
            fwdW = new Operand(wUser, Role.USER_W, fpd.weights_desc(), Role.FWD_W, true);
            fwdY = new Operand(yUser, Role.USER_Y, fpd.dst_desc(), Role.FWD_Y, false);
            bwdDy = new Operand(yUser, Role.USER_Y, dpd.diff_dst_desc(), Role.BWD_DY, true);
            bwdW = new Operand(wUser, Role.USER_W, dpd.weights_desc(), Role.BWD_W, true);
            bwdDx = new Operand(xUser, Role.USER_X, dpd.diff_src_desc(), Role.BWD_DX, false);
            wgtX = new Operand(xUser, Role.USER_X, wpd.src_desc(), Role.WGT_X, true);
            wgtDy = new Operand(yUser, Role.USER_Y, wpd.diff_dst_desc(), Role.WGT_DY, true);
            wgtDw = new Operand(wUser, Role.USER_W, wpd.diff_weights_desc(), Role.WGT_DW, false);
            fwdArgs = new IntMemoryMap().put(DNNL_ARG_SRC, fwdX.prim).put(DNNL_ARG_WEIGHTS, fwdW.prim)
                    .put(DNNL_ARG_DST, fwdY.prim);
            bwdArgs = new IntMemoryMap().put(DNNL_ARG_DIFF_DST, bwdDy.prim).put(DNNL_ARG_WEIGHTS, bwdW.prim)
                    .put(DNNL_ARG_DIFF_SRC, bwdDx.prim);
            wgtArgs = new IntMemoryMap().put(DNNL_ARG_SRC, wgtX.prim).put(DNNL_ARG_DIFF_DST, wgtDy.prim)
                    .put(DNNL_ARG_DIFF_WEIGHTS, wgtDw.prim);
            operands = new Operand[] {fwdX, fwdW, fwdY, bwdDy, bwdW, bwdDx, wgtX, wgtDy, wgtDw};
            String f = fpd.impl_info_str().getString(), d = dpd.impl_info_str().getString(),
                    g = wpd.impl_info_str().getString();
            impl = f.equals(d) && d.equals(g) ? f : f + " / " + d + " / " + g;
        }

        /** Points every memory at its role's buffer (a larger plan may have grown them since). */
        void bind() {
            for (Operand o : operands) {
                o.bind();
            }
        }

        private static memory.desc desc(long[] dims, memory.format_tag tag) {
            return new memory.desc(dims, memory.data_type.f32, tag);
        }
    }
}
