"""``unet-fsic csim``: Keras golden vs the hls4ml C simulation (g++), frame by frame, bit for bit.

* :func:`hardware_input` -- uint8 image -> the bytes the IP's input stream carries. The model's input quantizer is
  ``quantized_bits(8, 0, keep_negative=False)`` applied to ``x = p/255``: code ``= clip(round_half_even(p*256/255), 0,
  255)``, and since ``p/255`` is never exactly ``.5``, ``code = min(255, p + (p >= 128))``. The C model / hardware input
  type is ``ap_ufixed<8,0>`` and the byte sent is that raw code (value ``code/256``).
* :func:`predict_csim` -- runs the compiled C model on uint8 frames, in parallel worker processes (fork), optionally
  capturing per-layer outputs with hls4ml's trace hooks.
* :func:`run` -- the fidelity report (``<build_dir>/csim/report.json`` + ``report.md``): frames, fraction of
  bit-exact logits, max |diff| in LSBs of the logits type, argmax agreement (hardware head vs numpy argmax of the
  Keras logits, lowest index on ties), and on any mismatch the first diverging layer (hls4ml trace vs Keras per-layer
  outputs, in graph order).
"""
from __future__ import annotations

import ctypes
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from .errors import UserError


# --------------------------------------------------------------------------------------------------------------------
# input mapping
# --------------------------------------------------------------------------------------------------------------------
def hardware_input(images_u8) -> np.ndarray:
    """uint8 image(s) -> uint8 raw ``ap_ufixed<8,0>`` codes (what the IP's input stream carries per channel)."""
    p = np.asarray(images_u8)
    if p.dtype != np.uint8:
        raise UserError(f"hardware_input: expected uint8 images, got {p.dtype}")
    p = p.astype(np.int32)
    return np.minimum(255, p + (p >= 128)).astype(np.uint8)


def csim_input(images_u8) -> np.ndarray:
    """float32 values fed to the C simulation (exactly representable: code / 256)."""
    return (hardware_input(images_u8).astype(np.float32) / 256.0).astype(np.float32)


# --------------------------------------------------------------------------------------------------------------------
# running the compiled model (in worker processes)
# --------------------------------------------------------------------------------------------------------------------
_HM = None  # the hls model in forked workers


def _run_frames(hm, x, trace_layers=None):
    """Run frames through the compiled library; with ``trace_layers`` also return those layers' outputs (needs the
    library compiled with ``config.trace_output = True``). Returns (outputs (n, size), {layer: (n, ...)})."""
    top, ctype = hm._get_top_function(x)
    n = x.shape[0]
    out_var = hm.get_output_variables()[0]
    outs = np.zeros((n, out_var.size()), dtype=ctype)
    traces = {k: [] for k in (trace_layers or [])}
    lib = hm._top_function_lib
    if trace_layers:
        class TraceData(ctypes.Structure):
            _fields_ = [("name", ctypes.c_char_p), ("data", ctypes.c_void_p)]

        sizes = {}
        n_traced = 0
        for layer in hm.get_layers():
            if layer.get_attr("function_cpp", None) and layer.get_attr("trace", False):
                n_traced += len(layer.get_variables())
                sizes[layer.name] = layer.get_output_variable().shape
        missing = [k for k in trace_layers if k not in sizes]
        if missing:
            raise RuntimeError(f"layers not traced in the compiled model: {missing}")
        collect = lib.collect_trace_output
        collect.argtypes = [ctypes.POINTER(TraceData)]
        collect.restype = None
        tdata = (TraceData * n_traced)()
        lib.allocate_trace_storage.argtypes = [ctypes.c_size_t]
        lib.allocate_trace_storage.restype = None
        lib.free_trace_storage.argtypes = None
        lib.free_trace_storage.restype = None
        lib.allocate_trace_storage(ctypes.sizeof(ctype))
    cwd = os.getcwd()
    os.chdir(str(Path(hm.config.get_output_dir()) / "firmware"))
    try:
        for i in range(n):
            inp = np.ascontiguousarray(x[i].ravel(), dtype=ctype)
            pred = np.zeros(out_var.size(), dtype=ctype)
            top(inp, pred)
            outs[i] = pred
            if trace_layers:
                collect(tdata)
                for t in tdata:
                    if not t.name:
                        continue
                    name = t.name.decode()
                    if name in traces:
                        arr = np.ctypeslib.as_array(ctypes.cast(t.data, ctypes.POINTER(ctype)), shape=sizes[name])
                        traces[name].append(np.copy(arr))
    finally:
        os.chdir(cwd)
        if trace_layers:
            lib.free_trace_storage()
    return outs, {k: np.asarray(v) for k, v in traces.items()}


def _worker(args):
    x, trace_layers = args
    return _run_frames(_HM, x, trace_layers)


def predict_csim(hls_model, images_u8, workers=None, trace_layers=None, progress=False, chunk=2):
    """Compiled C model on uint8 frames ``(n,H,W,3)`` -> outputs ``(n, *out_shape)`` (float: class indices for the
    argmax head, logits otherwise). ``hls_model`` must be compiled. With ``trace_layers`` returns ``(outputs,
    {layer: array})``. Frames are split across ``workers`` forked processes (default: CPU count)."""
    global _HM
    if getattr(hls_model, "_top_function_lib", None) is None:
        hls_model.compile()
    x = csim_input(images_u8)
    n = x.shape[0]
    workers = max(1, min(int(workers or os.cpu_count() or 1), n))
    chunks = [x[i:i + chunk] for i in range(0, n, chunk)]
    results = [None] * len(chunks)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, desc="csim", unit="frame", file=sys.stderr)
    if workers == 1:
        for i, c in enumerate(chunks):
            results[i] = _run_frames(hls_model, c, trace_layers)
            if bar:
                bar.update(len(c))
    else:
        import multiprocessing as mp

        _HM = hls_model
        try:
            with mp.get_context("fork").Pool(workers) as pool:
                it = pool.imap(_worker, [(c, trace_layers) for c in chunks])
                for i, r in enumerate(it):
                    results[i] = r
                    if bar:
                        bar.update(len(chunks[i]))
        finally:
            _HM = None
    if bar:
        bar.close()
    out_shape = tuple(hls_model.get_output_variables()[0].shape)
    outs = np.concatenate([r[0] for r in results]).astype(np.float64).reshape((n,) + out_shape)
    if trace_layers:
        tr = {k: np.concatenate([r[1][k] for r in results]).astype(np.float64) for k in trace_layers}
        return outs, tr
    return outs


# --------------------------------------------------------------------------------------------------------------------
# Keras side
# --------------------------------------------------------------------------------------------------------------------
def _own_output(layer):
    return layer.get_output_at(len(layer._inbound_nodes) - 1)


def logits_layer_name(keras_model) -> str:
    last = keras_model.layers[-1]
    if last.__class__.__name__ == "ArgmaxHead":
        from .precision import inbound_map

        return inbound_map(keras_model)[last.name][0]
    return last.name


def keras_layer_outputs(keras_model, x, names):
    from tensorflow import keras

    sub = keras.Model(keras_model.input, [_own_output(keras_model.get_layer(n)) for n in names])
    ys = sub.predict(x, verbose=0, batch_size=8)
    if len(names) == 1:
        ys = [ys]
    return dict(zip(names, ys))


def first_divergence(hls_model, keras_model, images_u8) -> dict | None:
    """The first hls4ml layer (graph order) whose traced output differs from the Keras layer of the same name."""
    for node in hls_model.get_layers():  # trace every layer (one more g++ compile, only on a mismatch)
        node.set_attr("trace", True)
    hls_model.config.trace_output = True
    hls_model.compile()
    names = [n.name for n in hls_model.get_layers() if n.get_attr("function_cpp", None)]
    knames = {layer.name for layer in keras_model.layers}
    names = [n for n in names if n in knames]
    _, tr = predict_csim(hls_model, images_u8, workers=1, trace_layers=names)
    yk = keras_layer_outputs(keras_model, csim_input(images_u8), names)
    for n in names:
        a = tr[n].reshape(tr[n].shape[0], -1)
        b = np.asarray(yk[n], np.float64).reshape(a.shape[0], -1)
        if a.shape != b.shape:
            return {"layer": n, "reason": f"shape {a.shape} vs {b.shape}"}
        if not np.array_equal(a, b):
            node = hls_model.graph[n]
            return {"layer": n, "class": node.class_name, "exact_fraction": float(np.mean(a == b)),
                    "max_abs_diff": float(np.max(np.abs(a - b))),
                    "result_type": str(node.get_output_variable().type.precision)}
    return None


# --------------------------------------------------------------------------------------------------------------------
def csim_dir(config) -> Path:
    return Path(config["build_dir"]) / "csim"


def run(config, frames=None, hls_model=None, workers=None, progress=None) -> dict:
    """Convert (unless ``hls_model`` is given), compile, run ``frames`` validation frames through Keras and the C
    simulation, write ``<build_dir>/csim/report.{json,md}`` and return the report dict (``passed`` per threshold)."""
    from keras_model import data
    from keras_model.model_io import save_json

    from .convert import convert

    t0 = time.time()
    n = int(frames or config["csim"]["frames"])
    if hls_model is None:
        hls_model = convert(config)
    km = hls_model._fsic_keras_model
    head = hls_model._fsic_output_head
    t_conv = time.time() - t0
    images, _ = data.load(config, "val")
    if len(images) < n:
        raise UserError(f"csim: {n} frames requested but the validation split has {len(images)}")
    images = images[:n]
    logits_name = logits_layer_name(km)
    t1 = time.time()
    if head == "argmax":  # the logits are read with hls4ml's trace hook on that one layer
        for node in hls_model.get_layers():
            node.set_attr("trace", node.name == logits_name)
        hls_model.config.trace_output = True
    hls_model.compile()
    t_compile = time.time() - t1
    x = csim_input(images)
    ref = keras_layer_outputs(km, x, [logits_name])[logits_name].astype(np.float64)
    ref_argmax = np.argmax(ref, axis=-1)  # numpy: lowest index on ties
    workers = workers or config["csim"].get("workers")
    if progress is None:
        progress = sys.stderr.isatty()
    t2 = time.time()
    if head == "argmax":
        out, tr = predict_csim(hls_model, images, workers=workers, trace_layers=[logits_name], progress=progress)
        c_logits = tr[logits_name].reshape(ref.shape)
        c_argmax = out.reshape(ref.shape[:-1])
    else:
        out = predict_csim(hls_model, images, workers=workers, progress=progress)
        c_logits = out.reshape(ref.shape)
        c_argmax = np.argmax(c_logits, axis=-1)
    t_sim = time.time() - t2

    lnode = hls_model.graph[logits_name]
    lp = lnode.get_output_variable().type.precision
    lsb = 2.0 ** -(lp.width - lp.integer)
    diff = np.abs(c_logits - ref)
    exact = float(np.mean(diff == 0))
    frame_exact = np.all((diff == 0).reshape(n, -1), axis=1)
    agree = float(np.mean(c_argmax == ref_argmax))
    thr = float(config["csim"]["threshold"])
    report = {
        "frames": n,
        "output_head": head,
        "backend": config["hls"]["backend"],
        "io_type": config["hls"]["io_type"],
        "logits_layer": logits_name,
        "logits_type": str(lp),
        "logits_bit_exact_fraction": exact,
        "frames_bit_exact": int(frame_exact.sum()),
        "max_abs_diff_lsb": float(diff.max() / lsb),
        "argmax_agreement": agree,
        "argmax_pixels": int(c_argmax.size),
        "argmax_mismatched_pixels": int(np.sum(c_argmax != ref_argmax)),
        "threshold": thr,
        "passed": bool(exact >= thr and agree >= thr),
        "first_divergence": None,
        "timing_s": {"convert": round(t_conv, 2), "compile": round(t_compile, 2), "csim": round(t_sim, 2)},
        "csim_frames_per_s": round(n / t_sim, 3) if t_sim > 0 else None,
        "workers": int(max(1, min(int(workers or os.cpu_count() or 1), n))),
        "tool": "hls4ml C simulation (g++), compared with Keras/QKeras",
    }
    if exact < 1.0 or agree < 1.0:
        bad = int(np.argmin(frame_exact)) if exact < 1.0 else int(np.argmax(np.any(
            (c_argmax != ref_argmax).reshape(n, -1), axis=1)))
        div = first_divergence(hls_model, km, images[bad:bad + 1])
        report["first_divergence"] = dict(div or {"layer": None}, frame=bad)
    d = csim_dir(config)
    d.mkdir(parents=True, exist_ok=True)
    save_json(d / "report.json", report)
    md = to_markdown(report)
    tmp = d / "report.md.tmp"
    tmp.write_text(md)
    os.replace(tmp, d / "report.md")
    return report


def to_markdown(r: dict) -> str:
    lines = [
        "# C simulation vs Keras (hls4ml csim, g++)", "",
        f"- frames: {r['frames']} ({r['backend']}, {r['io_type']}, output head: {r['output_head']})",
        f"- logits ({r['logits_layer']}, {r['logits_type']}): {100 * r['logits_bit_exact_fraction']:.4f} % bit-exact "
        f"({r['frames_bit_exact']}/{r['frames']} frames fully exact), max |diff| {r['max_abs_diff_lsb']:g} LSB",
        f"- argmax agreement: {100 * r['argmax_agreement']:.4f} % of {r['argmax_pixels']} pixels "
        f"({r['argmax_mismatched_pixels']} differ; tie rule: lowest class index)",
        f"- threshold {100 * r['threshold']:g} %: {'PASS' if r['passed'] else 'FAIL'}",
        f"- time: convert {r['timing_s']['convert']} s, compile {r['timing_s']['compile']} s, csim "
        f"{r['timing_s']['csim']} s ({r['csim_frames_per_s']} frames/s, {r['workers']} processes)",
    ]
    if r.get("first_divergence"):
        dv = r["first_divergence"]
        lines.append(f"- first diverging layer (frame {dv.get('frame')}, hls4ml trace vs Keras): "
                     f"`{dv.get('layer')}` {json.dumps({k: v for k, v in dv.items() if k not in ('layer', 'frame')})}")
    return "\n".join(lines) + "\n"


def cmd_csim(args, cfg) -> int:
    r = run(cfg, frames=args.frames, workers=args.workers)
    print(to_markdown(r))
    print(f"[csim] report in {csim_dir(cfg)}/report.json")
    if not r["passed"]:
        print(f"unet-fsic: error: fidelity below threshold ({100 * r['logits_bit_exact_fraction']:.4f} % bit-exact "
              f"logits, {100 * r['argmax_agreement']:.4f} % argmax agreement < {100 * r['threshold']:g} %)",
              file=sys.stderr)
        return 1
    return 0


def register_cli(add):
    sp = add("csim", cmd_csim, "compile the hls4ml project with g++ and compare the C simulation with Keras on "
             "validation frames (report in BUILD/csim); exit 1 below csim.threshold")
    sp.add_argument("--frames", type=int, help="validation frames (default csim.frames)")
    sp.add_argument("--workers", type=int, help="C simulation processes (default csim.workers / CPU count)")
