"""The generated project's FIFO depths are the estimate's (issue #14): ``hls.fifo_depths`` / ``hls.fifo_margin_rows``.

* :func:`plan` -- the estimator's stream graph of the Keras model (:func:`pipeline.hw.estimator.layer_specs`) and
  its depths (:func:`pipeline.hw.fifo_sim.project_depths`): exactly what ``unet-fsic estimate`` reports.
* :func:`stream_map` -- which hls4ml stream variable (``layerN_out``, ``layerN_cpyK``) is which FIFO of that graph
  (``<layer>_out``, ``<layer>_clone_outK``, ``<conv>_pad_out``), derived from the two graphs' edges: a stream is the
  FIFO with the same writer and reader; processes hls4ml inserts (zero padding, clones) are matched by the edge they
  sit on. Every inter-layer stream must get exactly one FIFO and every FIFO one stream, else
  :class:`FifoMappingError`.
* :func:`apply` -- maps the streams onto the plan and sets each stream variable's ``pragma`` to
  ``('stream', depth)`` (hls4ml's own mechanism, the one its FIFO-depth optimizer uses), so ``hls_model.write()``
  -- also the rewrite in ``compile()`` -- emits ``#pragma HLS STREAM variable=... depth=...`` with our depths.
* :func:`parse_top` / :func:`read_top` -- the io_stream top function as written in ``firmware/<project>.cpp``
  (ports, streams with their STREAM depths, layer calls, weight loading); :func:`check_written` reads it back and
  fails unless every STREAM pragma is the planned depth; :func:`write_report` writes ``hls/fifo_depths.json``
  (stream, FIFO, writer, reader, depths).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

PORT = None  # marker: a top-level port (AXI stream), not a FIFO inside the IP


class FifoMappingError(RuntimeError):
    """The hls4ml project's streams and the estimator's FIFOs do not correspond one to one."""


def _sizing_model(model):
    """The Keras model as the estimator reads it: without the argmax head (the estimator adds its own from
    ``hls.output_head``), and with layers that belong to this graph only (a model whose layers were re-called, e.g.
    by the converter's input renaming, is rebuilt from its config)."""
    from tensorflow import keras

    last = model.layers[-1]
    if last.__class__.__name__ == "ArgmaxHead":
        model = keras.Model(model.input, last.input)
    if any(len(lay._inbound_nodes) > 1 for lay in model.layers):
        from keras_model.model_io import custom_objects

        model = keras.models.model_from_json(model.to_json(), custom_objects=custom_objects())
    return model


def plan(config, model) -> tuple | None:
    """(stream graph, :func:`pipeline.hw.fifo_sim.project_depths` result) for ``model`` under ``config`` -- what
    ``unet-fsic estimate`` reports for the same model and ``hls`` section; None unless io_stream. Call it before the
    converter re-calls the model's layers (or the model is rebuilt from its config)."""
    from ..hw.estimator import layer_specs
    from ..hw.fifo_sim import project_depths

    h = config["hls"]
    if h["io_type"] != "io_stream":
        return None
    _, g = layer_specs(config, _sizing_model(model))
    return g, project_depths(g, h.get("fifo_depths", "sized"), h.get("fifo_margin_rows", 1))


def _edges(hls_model):
    """hls4ml's streams: {output name: (variable, writer layer, [reader layers])} in graph order."""
    layers = list(hls_model.get_layers())
    out = {}
    for lay in layers:
        for o in lay.outputs:
            out[o] = (hls_model.output_vars[o], lay, [r for r in layers if o in r.inputs])
    return out


_KIND = {"ZeroPadding2D": "pad", "Clone": "clone"}  # processes hls4ml inserts -> the estimator's kind for them


def _chain(g, node: str, stop) -> list[str]:
    """Estimator nodes downstream of ``node`` along single-input, single-output processes that ``stop`` rejects
    (processes hls4ml fused into one of its own, e.g. with ``hls.fuse_conv_blocks``), plus the first one it accepts
    or that branches."""
    out, seen = [], set()
    frontier = [g.fifos[f].reader for f in g.nodes[node].outputs]
    while frontier:
        n = frontier.pop(0)
        if n in seen:
            continue
        seen.add(n)
        out.append(n)
        nd = g.nodes[n]
        if not stop(n) and len(nd.inputs) == 1 and len(nd.outputs) == 1:
            frontier.append(g.fifos[nd.outputs[0]].reader)
    return out


def _node_for(lay, producer_node, g, known, taken) -> str:
    """The estimator node of hls4ml layer ``lay`` whose input comes from estimator node ``producer_node``."""
    if lay.class_name == "Input":
        srcs = [n.name for n in g.nodes.values() if n.kind == "source" and n.name not in taken]
        if len(srcs) != 1:
            raise FifoMappingError(f"input layer {lay.name}: {len(srcs)} unmatched sources in the estimator graph")
        return srcs[0]
    if lay.name in g.nodes:
        return lay.name
    # inserted by hls4ml (zero padding of a 'same' conv, clone of a stream read twice): the estimator's process of
    # that kind on the edge it sits on -- downstream of the producer, not named like any hls4ml layer
    kind = _KIND.get(lay.class_name)
    cands = [n for n in _chain(g, producer_node, lambda n: n in known) if n not in known and n not in taken
             and (kind is None or g.nodes[n].kind == kind)] if producer_node else []
    if not cands:
        raise FifoMappingError(f"hls4ml layer {lay.name} ({lay.class_name}): no estimator process after "
                               f"{producer_node}")
    return cands[0]


def _fifo_path(g, src: str, dst: str, mapped: set) -> list[str]:
    """The estimator FIFOs from node ``src`` to node ``dst`` through processes no hls4ml layer maps to (fused)."""
    for f in g.nodes[src].outputs:
        path, q = [f], g.fifos[f]
        while q.reader != dst and q.reader not in mapped and len(g.nodes[q.reader].outputs) == 1:
            path.append(g.nodes[q.reader].outputs[0])
            q = g.fifos[path[-1]]
        if q.reader == dst:
            return path
    return []


def stream_map(hls_model, g) -> list[dict]:
    """One row per hls4ml stream: ``stream`` (C++ variable), ``fifo`` (estimator FIFO, None for a top-level port),
    ``writer`` / ``reader`` (hls4ml layers), ``fused`` (estimator FIFOs inside an hls4ml process, if any).
    :class:`FifoMappingError` unless every stream has exactly one FIFO and every FIFO belongs to one stream."""
    edges = _edges(hls_model)
    ports = {v.name for v in list(hls_model.get_input_variables()) + list(hls_model.get_output_variables())}
    known = {lay.name for lay in hls_model.get_layers()}
    node = {}  # hls4ml layer name -> estimator node name
    writer_of = {o: w for o, (_, w, _) in edges.items()}
    for lay in hls_model.get_layers():
        prod = node.get(writer_of[lay.inputs[0]].name) if lay.inputs and lay.inputs[0] in writer_of else None
        node[lay.name] = _node_for(lay, prod, g, known, set(node.values()))
    rows, used, mapped = [], set(), set(node.values())
    for o, (var, w, readers) in edges.items():
        rname = readers[0].name if len(readers) == 1 else None
        if var.name in ports:
            # an output port: the estimator FIFOs between its writer and the sink lie inside the writer (a fused
            # block writing the port: its conv -> BN -> ReLU FIFOs); an input port has no FIFO of its own
            sinks = [n.name for n in g.nodes.values() if n.kind == "sink"] if not readers else []
            inside = next((p for p in (_fifo_path(g, node[w.name], s, mapped) for s in sinks) if p), [])
            used |= set(inside[:-1])
            rows.append({"stream": var.name, "fifo": PORT, "writer": w.name, "reader": rname, "fused": inside[:-1]})
            continue
        if rname is None:
            raise FifoMappingError(f"stream {var.name} ({o}) has {len(readers)} readers; expected one")
        path = _fifo_path(g, node[w.name], node[rname], mapped)
        if not path or used & set(path):
            raise FifoMappingError(f"stream {var.name} ({w.name} -> {rname}): no estimator FIFO "
                                   f"{node[w.name]} -> {node[rname]} of its own")
        used |= set(path)
        rows.append({"stream": var.name, "fifo": path[-1], "writer": w.name, "reader": rname, "fused": path[:-1]})
    inner = {f for f, q in g.fifos.items() if g.nodes[q.writer].kind != "source" and g.nodes[q.reader].kind != "sink"}
    if inner - used:
        raise FifoMappingError(f"estimator FIFOs without an hls4ml stream: {sorted(inner - used)}")
    return rows


def apply(hls_model, planned) -> dict | None:
    """Map the streams onto the :func:`plan` and set every inter-layer stream's STREAM depth to it
    (``hls.fifo_depths: hls4ml`` plans hls4ml's own depths). Returns the record :func:`write_report` writes."""
    if planned is None:
        return None
    g, info = planned
    rows = stream_map(hls_model, g)
    by_var = {v.name: v for v in hls_model.output_vars.values()}
    for r in rows:
        if r["fifo"] is PORT:
            continue
        var, depth = by_var[r["stream"]], int(info["depths"][r["fifo"]])
        if not (isinstance(var.pragma, tuple) and var.pragma[0] == "stream"):
            raise FifoMappingError(f"stream {r['stream']}: pragma {var.pragma!r} is not a STREAM pragma")
        r.update(depth=depth, sized=int(info["sized_depths"][r["fifo"]]),
                 hls4ml_default=int(g.fifos[r["fifo"]].default_depth), skip=r["fifo"] in info["culprits"])
        var.pragma = ("stream", depth)
    return {"mode": info["mode"], "margin_rows": info["margin_rows"], "skip_fifos": info["culprits"],
            "latency_cycles": info["cycles"], "streams": rows}


_DECL = re.compile(r'^hls::stream<(\w+)>\s+(\w+)\("(\w+)"\);$')
_PRAGMA = re.compile(r"^#pragma HLS STREAM variable=(\w+) depth=(\d+)$")
_CALL = re.compile(r"^(\S.*;)\s*// (\w+)$")
_GROUP = re.compile(r"^// (\w+)$")
_PORT = re.compile(r"hls::stream<(\w+)>\s*&\s*(\w+)")


@dataclass
class TopFunction:
    """The io_stream top function of a generated project, as written in ``firmware/<project>.cpp``."""
    project: str
    inputs: list  # [(type, name)]
    outputs: list
    streams: list  # [(type, name, depth)] in declaration order
    processes: list  # [(layer name, [C++ statements])] in call order
    weights: str  # the weight-loading block, verbatim
    includes: list = field(default_factory=list)  # the file's #include lines before the top function

    @property
    def depths(self) -> dict:
        return {name: depth for _, name, depth in self.streams}


def _region(text: str, start: str, end_re: str) -> list[str]:
    lines = text.splitlines()
    i = next((k for k, ln in enumerate(lines) if start in ln), None)
    if i is None:
        raise ValueError(f"marker {start!r} not found")
    out = []
    for ln in lines[i + 1:]:
        if re.match(end_re, ln):
            return out
        out.append(ln)
    raise ValueError(f"no end ({end_re!r}) after {start!r}")


def _ports(text: str, project: str) -> tuple[list, list]:
    m = re.search(rf"void {re.escape(project)}\s*\(([^)]*)\)\s*{{", text)
    if not m:
        raise ValueError(f"top function {project}(...) not found")
    ports = _PORT.findall(m.group(1))
    if len(ports) < 2:
        raise ValueError(f"top function {project}: expected hls::stream ports, got {m.group(1).strip()!r}")
    return ports[:-1], ports[-1:]  # hls4ml: inputs first, then the output(s); our IP has one of each


def parse_top(text: str, project: str) -> TopFunction:
    """The top function of ``firmware/<project>.cpp``: ports, streams with their STREAM pragma depths, layer calls,
    weight loading. Raises ``ValueError`` naming the first line it does not understand, a stream without a STREAM
    pragma or a pragma without a stream."""
    ins, outs = _ports(text, project)
    weights = "\n".join(_region(text, "hls-fpga-machine-learning insert load weights", r"^\s*// \*{8}"))
    streams, depth, procs = [], {}, []
    group = None
    in_trace = False
    for raw in _region(text, "hls-fpga-machine-learning insert layers", r"^}"):
        ln = raw.strip()
        if not ln:
            group = None
            continue
        if in_trace or ln == "#ifndef __SYNTHESIS__":  # hls4ml's trace hooks (save_layer_output): not a process
            in_trace = ln != "#endif"
            continue
        if m := _DECL.match(ln):
            if m.group(2) != m.group(3):
                raise ValueError(f"stream {m.group(2)} is named {m.group(3)!r}")
            streams.append((m.group(1), m.group(2)))
        elif m := _PRAGMA.match(ln):
            depth[m.group(1)] = int(m.group(2))
        elif m := _CALL.match(ln):
            procs.append((m.group(2), [m.group(1)]))
        elif m := _GROUP.match(ln):
            group = (m.group(1), [])
            procs.append(group)
        elif group is not None and ln.endswith(";"):
            group[1].append(ln)
        else:
            raise ValueError(f"unexpected line in the dataflow region of {project}.cpp: {ln!r}")
    names = {n for _, n in streams}
    missing = [n for _, n in streams if n not in depth]
    extra = sorted(set(depth) - names)
    if missing or extra:
        raise ValueError(f"{project}.cpp: streams without a STREAM depth pragma: {missing}; pragmas without a "
                         f"stream: {extra}")
    head = text[:text.find(f"void {project}(")]
    includes = [ln.strip() for ln in head.splitlines() if ln.strip().startswith("#include")]
    return TopFunction(project, ins, outs, [(t, n, depth[n]) for t, n in streams], procs, weights, includes)


def read_top(hls_dir: Path, project: str) -> TopFunction:
    cpp = Path(hls_dir) / "firmware" / f"{project}.cpp"
    if not cpp.is_file():
        raise UserError(f"{cpp}: missing (convert the project first)")
    return parse_top(cpp.read_text(), project)


def check_written(project_dir: Path, project: str, record: dict) -> None:
    """Read ``firmware/<project>.cpp`` back: every stream's STREAM pragma must be the planned depth."""
    written = read_top(project_dir, project).depths
    want = {r["stream"]: r["depth"] for r in record["streams"] if r["fifo"] is not PORT}
    bad = {s: (written.get(s), d) for s, d in want.items() if written.get(s) != d}
    extra = sorted(set(written) - set(want))
    if bad or extra:
        raise FifoMappingError(f"{project}.cpp: STREAM depths differ from the plan (written, planned): {bad}; "
                               f"streams not planned: {extra}")


def write_report(project_dir: Path, project: str, record: dict | None) -> None:
    """Check the written project (:func:`check_written`) and write ``fifo_depths.json`` next to it."""
    if record is None:
        return
    check_written(project_dir, project, record)
    (Path(project_dir) / "fifo_depths.json").write_text(json.dumps(record, indent=1) + "\n")


def load_report(project_dir: Path) -> dict | None:
    p = Path(project_dir) / "fifo_depths.json"
    return json.loads(p.read_text()) if p.is_file() else None
