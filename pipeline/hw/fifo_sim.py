"""Cycle-level dataflow simulation of an hls4ml io_stream graph, and FIFO depth sizing from it.

Every layer is a process that repeatedly performs *operations*: read one token (one pixel: all channels in parallel)
from each of some input FIFOs, write one token to each of some output FIFOs, then wait ``ii`` cycles before its next
operation; a written token becomes visible to the reader ``lat`` cycles later. Blocking is exact FIFO semantics: an
operation starts only when every token it reads is present and visible and every FIFO it writes has a free slot
(a slot freed by a read at cycle t is usable from t+1). The simulation is event-driven (it jumps over idle cycles) but
cycle-accurate for this model: every operation happens at an integer cycle, and a graph that deadlocks in the model
(every unfinished process blocked) is reported as a :class:`Deadlock` naming the blocked processes and FIFOs.

Layer behaviours (the hls4ml 1.3 io_stream kernels, read in its source; the ConvT is our extension's kernel):

- ``source``/``sink``: one pixel per ``ii`` cycles (the AXI-stream ports).
- ``map`` (BatchNorm, ReLU, quantizer, argmax): read one pixel, write one pixel, ``ii`` = 1.
- ``pad`` (ZeroPadding2D, Conv2D 'same' is lowered to pad + valid conv): one padded pixel per cycle, reads only
  interior pixels.
- ``conv`` (line-buffer Conv2D, valid): one input pixel per ReuseFactor cycles; writes an output pixel when the input
  pixel completes a k x k window.
- ``pool`` (2x2/2 max pool): one input pixel per cycle, an output pixel on every odd row's odd column.
- ``convt`` (stride-phase Conv2DTranspose): per output row, first reads the input rows it needs (one pixel per cycle),
  then emits the row's pixels at one per ReuseFactor cycles.
- ``clone`` (a stream used twice): reads one pixel, writes it to both outputs in the same operation.
- ``concat`` (channel concat): reads one pixel from each input in the same operation, writes one.

That ``clone`` writes both copies at once and ``concat`` reads both inputs at once is what makes a U-Net's skip FIFOs
need depth: the skip copy must hold everything the encoder produces while the down/up path has not yet produced the
first pixel the concat pairs it with.

:func:`size_fifos` finds deadlock-free depths; :func:`project_depths` adds the margin and gives the depths the
estimate reports and ``convert`` writes into the project (``hls.fifo_depths``, ``hls.fifo_margin_rows``;
pipeline/hls/fifo_depths.py, docs/hls.md#fifo-depths).
"""
from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field

INF = math.inf


class Deadlock(Exception):
    def __init__(self, cycle, blocked):
        self.cycle = cycle
        self.blocked = blocked  # list of (node, 'read'|'write', fifo)
        desc = ", ".join(f"{n} waits to {how} {f}" for n, how, f in blocked[:6])
        super().__init__(f"dataflow deadlock at cycle {cycle}: {desc}")


@dataclass
class Fifo:
    name: str
    width: int = 8  # bits per token (all channels)
    depth: float = INF
    default_depth: int = 0  # hls4ml's default (a full feature map)
    writer: str = ""
    reader: str = ""
    row: int = 0  # tokens per feature-map row (0: unknown, taken as sqrt(default_depth): a square map)


@dataclass
class Node:
    name: str
    kind: str
    inputs: list = field(default_factory=list)  # fifo names
    outputs: list = field(default_factory=list)
    p: dict = field(default_factory=dict)  # geometry / ii / lat


class Graph:
    def __init__(self):
        self.nodes: dict[str, Node] = {}
        self.fifos: dict[str, Fifo] = {}

    def add(self, name, kind, inputs=(), n_out=1, **p) -> list[str]:
        """Add a process reading the given FIFOs; returns the names of its ``n_out`` output FIFOs."""
        outs = [f"{name}_out" if n_out == 1 else f"{name}_out{i}" for i in range(n_out)] if kind != "sink" else []
        node = Node(name, kind, list(inputs), outs, dict(p))
        self.nodes[name] = node
        for f in inputs:
            self.fifos[f].reader = name
        for f in outs:
            self.fifos[f] = Fifo(f, width=int(p.get("width", 8)), default_depth=int(p.get("out_pixels", 1)),
                                 writer=name, row=int(p.get("out_row", 0)))
        return outs


# ---------------------------------------------------------------------------------------------------------------------
# operation generators: yield (reads, writes, ii, lat) with fifo *indices*
def _ops(node: Node, fi: dict):
    p = node.p
    ins = [fi[f] for f in node.inputs]
    outs = [fi[f] for f in node.outputs]
    ii, lat = int(p.get("ii", 1)), int(p.get("lat", 1))
    k = node.kind
    frames = int(p.get("frames", 1))
    for _ in range(frames):
        if k == "source":
            for _ in range(p["pixels"]):
                yield (), tuple(outs), ii, lat
        elif k == "sink":
            for _ in range(p["pixels"]):
                yield tuple(ins), (), ii, lat
        elif k in ("map", "clone", "concat"):
            r, w = tuple(ins), tuple(outs)
            for _ in range(p["pixels"]):
                yield r, w, ii, lat
        elif k == "pad":
            h, w_, pt, pb, pl, pr = p["h"], p["w"], p["pt"], p["pb"], p["pl"], p["pr"]
            r, wr = tuple(ins), tuple(outs)
            for y in range(h + pt + pb):
                for x in range(w_ + pl + pr):
                    inside = pt <= y < pt + h and pl <= x < pl + w_
                    yield (r if inside else ()), wr, ii, lat
        elif k == "conv":
            h, w_, kk, s = p["h"], p["w"], p["k"], p.get("s", 1)
            r, wr = tuple(ins), tuple(outs)
            for y in range(h):
                rowok = y >= kk - 1 and (y - kk + 1) % s == 0
                for x in range(w_):
                    emit = rowok and x >= kk - 1 and (x - kk + 1) % s == 0
                    yield r, (wr if emit else ()), ii, lat
        elif k == "pool":
            h, w_, ps = p["h"], p["w"], p.get("pool", 2)
            r, wr = tuple(ins), tuple(outs)
            for y in range(h):
                for x in range(w_):
                    emit = y % ps == ps - 1 and x % ps == ps - 1
                    yield r, (wr if emit else ()), 1, lat
        elif k == "convt":
            h, w_, s = p["h"], p["w"], p.get("s", 2)  # input geometry; k == s (no overlap), pad 0
            r, wr = tuple(ins), tuple(outs)
            rows_read = 0
            for oy in range(h * s):
                q = oy // s
                while rows_read <= min(q, h - 1):
                    for _ in range(w_):
                        yield r, (), 1, lat
                    rows_read += 1
                for _ in range(w_ * s):
                    yield (), wr, ii, lat
        else:  # pragma: no cover
            raise ValueError(f"unknown process kind {k!r}")


@dataclass
class SimResult:
    cycles: int  # cycle of the last operation (+ its latency): frame latency for one frame
    max_occupancy: dict  # fifo -> max tokens held
    busy: dict  # node -> cycles spent (sum of ii)
    first_out: int | None = None
    stalls: dict = field(default_factory=dict)  # node -> cycles blocked


def _readiness(reads, writes, vis, occ, depth, t):
    """(what blocks the operation -- ("read"|"write", fifo) or None --, the cycle its input tokens are visible)."""
    wait_t = t
    for f in reads:
        q = vis[f]
        if not q:
            return ("read", f), t
        if q[0] > wait_t:
            wait_t = q[0]
    for f in writes:
        if occ[f] + 1 > depth[f]:
            return ("write", f), t
    return None, wait_t


def _wake(waiters: list, heap: list, queued: list, when: int) -> None:
    """Re-schedule the processes blocked on a FIFO whose state just changed."""
    for j in waiters:
        if not queued[j]:
            heapq.heappush(heap, (when, j))
            queued[j] = True
    waiters.clear()


def simulate(graph: Graph, depths: dict | None = None, max_events: int = 50_000_000) -> SimResult:
    """Run the graph to completion with FIFO depths ``depths`` (fifo name -> depth; missing = the FIFO's ``depth``).
    Raises :class:`Deadlock` if the processes block each other."""
    names = list(graph.fifos)
    fi = {n: i for i, n in enumerate(names)}
    depth = [float((depths or {}).get(n, graph.fifos[n].depth)) for n in names]
    vis = [deque() for _ in names]  # visible-at times of tokens in the FIFO
    occ = [0] * len(names)
    maxocc = [0] * len(names)
    waiting: list[list] = [[] for _ in names]  # node indices blocked on this fifo
    nodes = list(graph.nodes.values())
    gens = [_ops(n, fi) for n in nodes]
    cur = [next(g, None) for g in gens]
    busy = [0] * len(nodes)
    stall = [0] * len(nodes)
    blocked_on = [None] * len(nodes)
    blocked_since = [0] * len(nodes)
    heap = [(0, i) for i in range(len(nodes)) if cur[i] is not None]
    heapq.heapify(heap)
    queued = [cur[i] is not None for i in range(len(nodes))]
    done = [cur[i] is None for i in range(len(nodes))]
    end = 0
    events = 0
    while heap:
        t, i = heapq.heappop(heap)
        queued[i] = False
        reads, writes, ii, lat = cur[i]
        events += 1
        if events > max_events:  # pragma: no cover
            raise RuntimeError("simulation event limit exceeded")
        blk, wait_t = _readiness(reads, writes, vis, occ, depth, t)
        if blk is not None:
            waiting[blk[1]].append(i)
            if blocked_on[i] is None:
                blocked_since[i] = t
            blocked_on[i] = blk
            continue
        if wait_t > t:  # tokens present but not yet visible
            heapq.heappush(heap, (wait_t, i))
            queued[i] = True
            continue
        if blocked_on[i] is not None:
            stall[i] += t - blocked_since[i]
            blocked_on[i] = None
        for f in reads:
            vis[f].popleft()
            occ[f] -= 1
            _wake(waiting[f], heap, queued, t + 1)  # a writer blocked on this full FIFO may go next cycle
        for f in writes:
            vis[f].append(t + lat)
            occ[f] += 1
            if occ[f] > maxocc[f]:
                maxocc[f] = occ[f]
            _wake(waiting[f], heap, queued, t)
        busy[i] += ii
        end = max(end, t + (lat if writes else 1))
        nxt = next(gens[i], None)
        cur[i] = nxt
        if nxt is None:
            done[i] = True
        else:
            heapq.heappush(heap, (t + ii, i))
            queued[i] = True
    if not all(done):
        raise Deadlock(end, [(n.name, blocked_on[i][0], names[blocked_on[i][1]]) for i, n in enumerate(nodes)
                             if not done[i] and blocked_on[i] is not None])
    return SimResult(cycles=end, max_occupancy={n: maxocc[i] for i, n in enumerate(names)},
                     busy={n.name: busy[i] for i, n in enumerate(nodes)},
                     stalls={n.name: stall[i] for i, n in enumerate(nodes)})


def size_fifos(graph: Graph, base_depth: int = 2, max_rounds: int = 64, minimize: bool = False) -> dict:
    """FIFO depths that run the graph without deadlock: every FIFO starts at ``base_depth``; whenever the simulation
    deadlocks, each *full* FIFO whose reader is itself blocked reading a different (empty) FIFO (the classic
    skip-connection pattern) is made unbounded; finally every unbounded FIFO gets the maximum occupancy it reached,
    which reproduces the same schedule (so the result provably runs, in this model). Returns
    ``{"depths", "rounds", "cycles", "unbounded_cycles", "culprits"}``."""
    depths = {f: base_depth for f in graph.fifos}
    culprits: list[str] = []
    for rnd in range(max_rounds):
        try:
            res = simulate(graph, depths)
            break
        except Deadlock as d:
            blocked = {n: (how, f) for n, how, f in d.blocked}
            grow = []
            for n, how, f in d.blocked:
                if how != "write":
                    continue
                reader = graph.fifos[f].reader
                rb = blocked.get(reader)
                if rb is not None and rb[0] == "read" and rb[1] != f:
                    grow.append(f)
            if not grow:  # no clear culprit: grow every full FIFO a writer waits on
                grow = [f for _, how, f in d.blocked if how == "write"]
            if not grow:
                raise
            for f in grow:
                depths[f] = INF
                culprits.append(f)
    else:  # pragma: no cover
        raise RuntimeError("FIFO sizing did not converge")
    for f in set(culprits):
        depths[f] = max(base_depth, res.max_occupancy[f])
    if minimize:  # smallest deadlock-free depth per culprit (binary search; deadlock is monotone in depth)
        for f in sorted(set(culprits)):
            lo, hi = base_depth, depths[f]
            while lo < hi:
                mid = (lo + hi) // 2
                try:
                    simulate(graph, dict(depths, **{f: mid}))
                    hi = mid
                except Deadlock:
                    lo = mid + 1
            depths[f] = lo
    final = simulate(graph, depths)
    unb = simulate(graph, {f: INF for f in graph.fifos})
    return {"depths": {f: int(d) for f, d in depths.items()}, "rounds": rnd + 1, "cycles": final.cycles,
            "unbounded_cycles": unb.cycles, "culprits": sorted(set(culprits)), "busy": final.busy,
            "max_occupancy_unbounded": unb.max_occupancy}


FIFO_DEPTH_MODES = ("sized", "hls4ml")


def row_tokens(fifo: Fifo) -> int:
    """Tokens (pixels) in one row of the feature map a FIFO carries."""
    return fifo.row or max(1, math.isqrt(max(1, fifo.default_depth)))


def project_depths(graph: Graph, mode: str = "sized", margin_rows: int = 1, base_depth: int = 2) -> dict:
    """The depths the generated project gets (``hls.fifo_depths`` / ``hls.fifo_margin_rows``), with the
    :func:`size_fifos` analysis they come from. ``sized``: every FIFO ``base_depth`` (2) except the skip FIFOs
    (``culprits``), which get their simulated occupancy (``sized_depths``) plus ``margin_rows`` rows of their
    feature map, at most a full feature map (hls4ml's default: a FIFO never holds more of one frame). ``hls4ml``:
    hls4ml's default everywhere. ``cycles``: the one-frame latency simulated at the returned depths.

    Why a margin, and why rows: the depth a skip FIFO needs to be deadlock-free depends only on the order in which
    the kernels read and write (the threaded bounded C simulation confirms the model's minimum to within one token,
    tests/test_fifo_depths.py), and the sized occupancy is above it. What the margin buys is throughput when the
    real schedule differs from the simulated one: the processes between a clone and its concat move data in
    row-sized bursts (line buffers, the transposed conv reads a row before it writes two), so a schedule off by
    one burst shifts the occupancy by up to one row."""
    if mode not in FIFO_DEPTH_MODES:
        raise ValueError(f"fifo depth mode {mode!r}: expected one of {FIFO_DEPTH_MODES}")
    info = size_fifos(graph, base_depth=base_depth)
    sized = info["depths"]
    if mode == "hls4ml":
        depths = {f: max(1, graph.fifos[f].default_depth) for f in graph.fifos}
    else:
        depths = dict(sized)
        for f in info["culprits"]:
            full = max(base_depth, graph.fifos[f].default_depth)
            depths[f] = max(sized[f], min(full, sized[f] + int(margin_rows) * row_tokens(graph.fifos[f])))
    info.update(sized_depths=sized, depths=depths, mode=mode, margin_rows=int(margin_rows),
                cycles=simulate(graph, depths).cycles)
    return info


def skip_graph(h=8, w=8, rf_down=1, rf_up=1, width=8) -> Graph:
    """A small skip-connection graph for tests: source -> clone -> (pool -> conv1x1 -> convT k2s2) ++ skip -> concat
    -> sink."""
    g = Graph()
    (x,) = g.add("src", "source", pixels=h * w, width=width, out_pixels=h * w)
    a, skip = g.add("clone", "clone", [x], n_out=2, pixels=h * w, width=width, out_pixels=h * w)
    (p,) = g.add("pool", "pool", [a], h=h, w=w, width=width, out_pixels=h * w // 4)
    (c,) = g.add("conv", "conv", [p], h=h // 2, w=w // 2, k=1, ii=rf_down, lat=rf_down + 2, width=width,
                 out_pixels=h * w // 4)
    (u,) = g.add("up", "convt", [c], h=h // 2, w=w // 2, s=2, ii=rf_up, lat=rf_up + 2, width=width,
                 out_pixels=h * w)
    (cat,) = g.add("cat", "concat", [u, skip], pixels=h * w, width=2 * width, out_pixels=h * w)
    g.add("sink", "sink", [cat], pixels=h * w)
    return g
