"""The build's compiled hls4ml C model as the IP of the RTL co-simulation (``UF_MODEL='uf_hls_ip:factory'``).

``factory(params) -> model`` loads the shared library that ``hls_model.compile()`` wrote
(``<build>/hls/firmware/<project>-<stamp>.so``, path in ``UF_HLS_LIB``) with ctypes and calls its exported
``<project>_double(double *in, double *out)`` wrapper -- the same entry point hls4ml's own ``predict`` uses, so the
simulated IP computes exactly what the C simulation computes. No TensorFlow or hls4ml import in the simulator.

``model(frame uint8[H, W, C]) -> ints``: the frame holds the raw input codes the stream carries (``ap_ufixed<8,0>``:
value = code / 2^in_frac_bits, see ``pipeline.hw.streams.hardware_input``). Returns (H, W) class indices for an argmax
build, or (H, W, classes) logits as signed integer codes (value * 2^out_frac_bits) for a logits build -- the bit
patterns the HLS IP puts on its output stream.

Environment: ``UF_HLS_LIB`` (the .so), ``UF_HLS_INTERFACE`` (``<build>/hls/interface.json``, written by convert).
"""
from __future__ import annotations

import ctypes
import json
import os

import numpy as np


def factory(p: dict):
    with open(os.environ["UF_HLS_INTERFACE"]) as fh:
        itf = json.load(fh)
    lib = ctypes.cdll.LoadLibrary(os.environ["UF_HLS_LIB"])
    fn = getattr(lib, f"{itf['hls_top_name']}_double")
    fn.restype = None
    dptr = np.ctypeslib.ndpointer(dtype=np.float64, flags="C_CONTIGUOUS")
    fn.argtypes = [dptr, dptr]
    h, w, c = itf["in_shape"]
    if (h, w, c) != (p["H"], p["W"], p["C"]):
        raise ValueError(f"hls4ml IP input {h}x{w}x{c} does not match the wrapper build {p['H']}x{p['W']}x{p['C']}")
    n_out = int(np.prod(itf["out_shape"]))
    in_scale = 2.0 ** -itf["in_frac_bits"]
    out_scale = 2.0 ** itf["out_frac_bits"]
    argmax = itf["output_mode"] == "argmax"
    # hls4ml's library changes directory-relative state only for weight .txt loading; run from its firmware dir
    fw_dir = os.path.dirname(os.environ["UF_HLS_LIB"])

    def model(frame):
        x = np.ascontiguousarray(np.asarray(frame, dtype=np.float64).reshape(-1) * in_scale)
        y = np.zeros(n_out, dtype=np.float64)
        cwd = os.getcwd()
        os.chdir(fw_dir)
        try:
            fn(x, y)
        finally:
            os.chdir(cwd)
        if argmax:
            return np.rint(y).astype(np.int64).reshape(h, w)
        codes = np.rint(y * out_scale).astype(np.int64)
        return codes.reshape(h, w, -1)

    return model
