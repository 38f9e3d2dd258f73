"""The compiled hls4ml C model and its Keras golden, frame by frame.

* :func:`compile_model` -- g++ through hls4ml, its output in a log file, a failure one :class:`UserError` line;
  :func:`ensure_compiled` -- the build's compiled shared library (converting and compiling if needed);
  :func:`compiled_model` -- the build's library checked loadable (what the simulated IP will ``dlopen``).
* :func:`predict_csim` -- runs the compiled C model on uint8 frames (mapped by :func:`pipeline.hw.streams.csim_input`)
  in parallel worker processes (fork), optionally capturing per-layer outputs with hls4ml's trace hooks.
* :func:`keras_layer_outputs`, :func:`logits_layer_name` -- the Keras side; :func:`first_divergence` -- the first
  hls4ml layer whose traced output differs from Keras.
"""
from __future__ import annotations

import ctypes
import json
import os
import sys
from pathlib import Path

import numpy as np

from ..build import BuildDir
from ..errors import UserError
from ..hw.rtlsim import first_error, output_to
from ..hw.streams import csim_input

RERUN = "re-run `unet-fsic csim CONFIG`"


def compile_model(hls_model, log: Path) -> None:
    """``hls_model.compile()`` (g++) with everything it prints (hls4ml prints the compiler's errors) appended to
    ``log``; a failed compile is one :class:`UserError` naming the project and the log."""
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with output_to(log):
            hls_model.compile()
    except Exception as e:  # hls4ml raises a bare Exception('Failed to compile project ...')
        raise UserError(f"g++ could not compile the hls4ml project {hls_model.config.get_output_dir()} ("
                        f"{first_error(log) or e}); see {log}") from None


def ensure_compiled(config, log: Path) -> Path:
    """The build's compiled C model (``hls/firmware/*.so``); converts and compiles (g++, output in ``log``) when there
    is none."""
    bd = BuildDir.of(config)
    lib = bd.compiled_lib()
    if lib is None:  # csim not run yet: convert + compile (g++) here
        from .project import convert

        compile_model(convert(config).hls_model, log)
        lib = bd.compiled_lib()
    if lib is None:
        raise UserError(f"{bd.hls_firmware}: hls4ml compile produced no shared library (see {log})")
    return lib


def compiled_model(build) -> tuple[Path, Path]:
    """(shared library, interface.json) of a build's compiled C model (``build``: a :class:`BuildDir`, a config or a
    path) -- the library loaded here with ctypes and checked to export the ``<top>_double`` entry the simulated IP
    calls. :class:`UserError` naming what is missing or broken and how to make it."""
    bd = (build if isinstance(build, BuildDir) else BuildDir.of(build)).resolved()
    itf = bd.interface_json
    if not itf.is_file():
        raise UserError(f"{itf}: missing (the build has no converted hls4ml project) -- run `unet-fsic csim CONFIG`")
    lib = bd.compiled_lib()
    if lib is None:
        raise UserError(f"{bd.hls_firmware}: no compiled C model (*.so) -- run `unet-fsic csim CONFIG` to compile it")
    try:
        handle = ctypes.CDLL(str(lib))
    except OSError as e:
        reason = str(e).replace(f"{lib}: ", "")
        raise UserError(f"{lib} cannot be loaded: {reason} -- {RERUN}") from None
    top = json.loads(itf.read_text()).get("hls_top_name", "?")
    if not hasattr(handle, f"{top}_double"):
        raise UserError(f"{lib} has no function {top}_double (not the C model of this build's {itf.name}) -- "
                        f"{RERUN}")
    return lib, itf


# --- running the compiled model (in worker processes) -----------------------------------------------------------
_HM = None  # the hls model in forked workers


def run_frames(hm, x, trace_layers=None):
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
    return run_frames(_HM, x, trace_layers)


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
            results[i] = run_frames(hls_model, c, trace_layers)
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


# --- Keras side ------------------------------------------------------------------------------------------------------
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


def first_divergence(hls_model, keras_model, images_u8, log: Path) -> dict | None:
    """The first hls4ml layer (graph order) whose traced output differs from the Keras layer of the same name (g++
    output appended to ``log``)."""
    for node in hls_model.get_layers():  # trace every layer (one more g++ compile, only on a mismatch)
        node.set_attr("trace", True)
    hls_model.config.trace_output = True
    compile_model(hls_model, log)
    names = [n.name for n in hls_model.get_layers() if n.get_attr("function_cpp", None)]
    knames = {layer.name for layer in keras_model.layers}
    names = [n for n in names if n in knames]
    # a fused conv block (hls.fuse_conv_blocks) is named after its conv but outputs what the Keras ReLU outputs
    kname = {n: (hls_model.graph[n].get_attr("fsic_fused") or {}).get("relu", n) for n in names}
    _, tr = predict_csim(hls_model, images_u8, workers=1, trace_layers=names)
    yk = keras_layer_outputs(keras_model, csim_input(images_u8), [kname[n] for n in names])
    for n in names:
        a = tr[n].reshape(tr[n].shape[0], -1)
        b = np.asarray(yk[kname[n]], np.float64).reshape(a.shape[0], -1)
        if a.shape != b.shape:
            return {"layer": n, "reason": f"shape {a.shape} vs {b.shape}"}
        if not np.array_equal(a, b):
            node = hls_model.graph[n]
            out = {"layer": n, "class": node.class_name, "exact_fraction": float(np.mean(a == b)),
                   "max_abs_diff": float(np.max(np.abs(a - b))),
                   "result_type": str(node.get_output_variable().type.precision)}
            if node.get_attr("fsic_fused"):  # a fused conv block: the Keras conv / BN / ReLU it stands for
                out["fused"] = dict(node.get_attr("fsic_fused"))
            return out
    return None
