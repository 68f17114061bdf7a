package dev.pdecnn.backend.cuda;

import jcuda.Pointer;
import jcuda.driver.CUDA_KERNEL_NODE_PARAMS;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUfunction;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUgraphNode;
import jcuda.driver.CUgraphNodeType;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUstream_flags;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static dev.pdecnn.backend.cuda.JCudaKernelRunner.check;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecKernelNodeSetParams;
import static jcuda.driver.JCudaDriver.cuGraphGetNodes;
import static jcuda.driver.JCudaDriver.cuGraphGetRootNodes;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuGraphNodeGetDependentNodes;
import static jcuda.driver.JCudaDriver.cuGraphNodeGetType;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD8Async;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static jcuda.driver.JCudaDriver.cuStreamWaitEvent;

/**
 * A step as a CUDA graph on a GPU, through the driver API: the recorded operations are issued once on a stream of
 * the graph's own (non-blocking, never the legacy default stream) between cuStreamBeginCapture and
 * cuStreamEndCapture, so each becomes a node of a chain, and cuGraphInstantiate makes the executable graph.
 * Uploads copy from, and downloads copy into, slots of one page-locked buffer (cuMemAllocHost): a replay writes the
 * step's bytes into the upload slots, launches the graph once (cuGraphLaunch), waits for its stream, and copies the
 * download slots out. Launches whose scalar arguments changed (the learning rate) are updated in the executable
 * graph with cuGraphExecKernelNodeSetParams; their nodes are found by walking the captured chain from its root
 * (one stream captured: every node depends on the one before), the k-th kernel node being the k-th launch.
 *
 * <p>Ordering with the eager operations on the legacy stream: before each launch the graph's stream waits for an
 * event recorded there (device-side, the host does not stall), and the host waits for the graph before the step's
 * results are read, so whatever follows on the legacy stream comes after it.
 */
final class JCudaStepGraph implements StepGraph {
    private final JCudaKernelRunner rt;
    private final CUstream stream = new CUstream();
    private final CUevent eagerDone = new CUevent();
    private final CUgraph graph = new CUgraph();
    private final CUgraphExec exec = new CUgraphExec();
    private final Pointer slots = new Pointer();
    private final ByteBuffer slotBytes;
    /** Per operation: its slot's offset (uploads, downloads), or the index of its kernel node (launches). */
    private final long[] where;
    private final List<CUgraphNode> kernelNodes = new ArrayList<>();
    private final List<StepOp> ops;
    private boolean closed;

    /** A CUDA graph captured from the step's operations on a stream of its own. */
    static StepGraph capture(JCudaKernelRunner rt, List<StepOp> ops) {
        synchronized (rt) {
            rt.current();
            return new JCudaStepGraph(rt, ops);
        }
    }

    private JCudaStepGraph(JCudaKernelRunner rt, List<StepOp> ops) {
        this.rt = rt;
        this.ops = List.copyOf(ops);
        this.where = new long[ops.size()];
        long bytes = 0;
        int launches = 0;
        List<CUfunction> functions = new ArrayList<>();
        for (int i = 0; i < ops.size(); i++) {
            StepOp op = ops.get(i);
            if (op instanceof StepOp.Launch l) {
                where[i] = launches++;
                functions.add(rt.prepare(l.kernel(), l.sharedBytes())); // module loads and opt-ins: not capturable
            } else if (op instanceof StepOp.Upload || op instanceof StepOp.Download) {
                where[i] = bytes;
                bytes += (slotSize(op) + 255) / 256 * 256;
            }
        }
        check(cuMemAllocHost(slots, Math.max(bytes, 1)), "cuMemAllocHost (graph slots)");
        slotBytes = slots.getByteBuffer(0, Math.max(bytes, 1)).order(ByteOrder.LITTLE_ENDIAN);
        check(cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
        check(cuEventCreate(eagerDone, CUevent_flags.CU_EVENT_DISABLE_TIMING), "cuEventCreate");
        try {
            capture(functions);
            byte[] log = new byte[1024];
            check(cuGraphInstantiate(exec, graph, new CUgraphNode(), log, log.length), "cuGraphInstantiate");
            findKernelNodes(launches);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private static long slotSize(StepOp op) {
        return op instanceof StepOp.Upload u ? u.data().length
                : KernelRunner.byteSize(((StepOp.Download) op).hostArray());
    }

    private Pointer slot(int i) {
        return slots.withByteOffset(where[i]);
    }

    private void capture(List<CUfunction> functions) {
        check(cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
                "cuStreamBeginCapture");
        RuntimeException failure = null;
        try {
            for (int i = 0; i < ops.size(); i++) {
                StepOp op = ops.get(i);
                if (op instanceof StepOp.Launch l) {
                    check(cuLaunchKernel(functions.get((int) where[i]), l.grid().x(), l.grid().y(), l.grid().z(),
                            l.block().x(), l.block().y(), l.block().z(), l.sharedBytes(), stream, rt.params(l.args()),
                            null), "cuLaunchKernel (capturing " + l.kernel() + ")");
                } else if (op instanceof StepOp.Upload u) {
                    check(cuMemcpyHtoDAsync(rt.devptr(u.dst()), slot(i), u.data().length, stream),
                            "cuMemcpyHtoDAsync (capturing)");
                } else if (op instanceof StepOp.Zero z) {
                    check(cuMemsetD8Async(rt.devptr(z.dst()), (byte) 0, z.bytes(), stream), "cuMemsetD8Async (capturing)");
                } else if (op instanceof StepOp.Download d) {
                    check(cuMemcpyDtoHAsync(slot(i), rt.devptr(d.src()), slotSize(d), stream),
                            "cuMemcpyDtoHAsync (capturing)");
                }
            }
        } catch (RuntimeException e) {
            failure = e;
        }
        int ended = cuStreamEndCapture(stream, graph); // always: a stream left capturing refuses all later work
        if (failure != null) {
            throw failure;
        }
        check(ended, "cuStreamEndCapture");
    }

    /** Walks the captured chain from its root and keeps the kernel nodes in order. */
    private void findKernelNodes(int launches) {
        // one node per operation at most (a capture adds no others), so arrays of that size hold them all
        CUgraphNode[] buf = new CUgraphNode[ops.size() + 1];
        for (int i = 0; i < buf.length; i++) {
            buf[i] = new CUgraphNode();
        }
        long[] count = {buf.length};
        check(cuGraphGetNodes(graph, buf, count), "cuGraphGetNodes");
        int n = (int) count[0];
        count[0] = buf.length;
        check(cuGraphGetRootNodes(graph, buf, count), "cuGraphGetRootNodes");
        CUgraphNode node = count[0] == 1 ? buf[0] : null;
        int seen = 0;
        while (node != null) {
            seen++;
            int[] type = new int[1];
            check(cuGraphNodeGetType(node, type), "cuGraphNodeGetType");
            if (type[0] == CUgraphNodeType.CU_GRAPH_NODE_TYPE_KERNEL) {
                kernelNodes.add(node);
            }
            CUgraphNode[] next = {new CUgraphNode(), new CUgraphNode()};
            long[] m = {next.length};
            check(cuGraphNodeGetDependentNodes(node, next, m), "cuGraphNodeGetDependentNodes");
            node = m[0] == 1 ? next[0] : null;
            if (m[0] > 1) {
                seen = -1;
                break;
            }
        }
        if (seen != n || kernelNodes.size() != launches) {
            throw new KernelException("the captured step is not one chain of " + launches + " kernels: " + n
                    + " nodes, " + kernelNodes.size() + " kernel nodes reached from the root");
        }
    }

    @Override
    public void replay(List<StepOp> now, int[] changed) {
        synchronized (rt) {
            rt.current();
            for (int i : changed) {
                StepOp.Launch l = (StepOp.Launch) now.get(i);
                CUDA_KERNEL_NODE_PARAMS p = new CUDA_KERNEL_NODE_PARAMS();
                p.func = rt.prepare(l.kernel(), l.sharedBytes());
                p.gridDimX = l.grid().x();
                p.gridDimY = l.grid().y();
                p.gridDimZ = l.grid().z();
                p.blockDimX = l.block().x();
                p.blockDimY = l.block().y();
                p.blockDimZ = l.block().z();
                p.sharedMemBytes = l.sharedBytes();
                p.kernelParams = rt.params(l.args());
                check(cuGraphExecKernelNodeSetParams(exec, kernelNodes.get((int) where[i]), p),
                        "cuGraphExecKernelNodeSetParams (" + l.kernel() + ")");
            }
            for (int i = 0; i < now.size(); i++) {
                if (now.get(i) instanceof StepOp.Upload u) {
                    slotBytes.put((int) where[i], u.data());
                }
            }
            check(cuEventRecord(eagerDone, null), "cuEventRecord");
            check(cuStreamWaitEvent(stream, eagerDone, 0), "cuStreamWaitEvent");
            check(cuGraphLaunch(exec, stream), "cuGraphLaunch");
            check(cuStreamSynchronize(stream), "cuStreamSynchronize (graph)");
            for (int i = 0; i < now.size(); i++) {
                if (now.get(i) instanceof StepOp.Download d) {
                    StepOp.fill(d.hostArray(), slotBytes.slice((int) where[i], (int) slotSize(d)));
                }
            }
        }
    }

    @Override
    public int nodes() {
        return ops.size();
    }

    @Override
    public void close() {
        synchronized (rt) {
            if (closed) {
                return;
            }
            closed = true;
            try {
                rt.current();
            } catch (KernelException e) {
                return; // the runner is closed: destroying its context freed all of this
            }
            cuStreamSynchronize(stream);
            cuGraphExecDestroy(exec);
            cuGraphDestroy(graph);
            cuEventDestroy(eagerDone);
            cuStreamDestroy(stream);
            cuMemFreeHost(slots);
        }
    }
}
