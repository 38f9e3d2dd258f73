"""The one loader of simulated IP models (``load_model``), and the wrapper tests' deterministic stand-ins.

A model is ``model(frame: np.ndarray[H, W, C] uint8) -> np.ndarray``: (H, W) class indices for an argmax
build, (H, W, classes) integer logits (low ``logit_bits`` bits are streamed) for a logits build.
``load_model(spec, p)`` resolves ``UF_MODEL``: 'summod' / 'bytefn' (the stand-ins below), 'module:factory'
(a module on the simulator's PYTHONPATH: ``uf_hls_ip:factory`` is the build's compiled hls4ml C model,
``sim_models:<name>`` the host tests' models) or 'path/to/file.py:factory', naming a factory
``factory(params: dict) -> model`` (params = the resolved wrapper params, see pipeline.hw.rtl.resolve_params).
"""
from __future__ import annotations

import importlib
import importlib.util
import os

import numpy as np


def summod_model(p: dict):
    classes = p["classes"]

    def model(frame):
        f = frame.astype(np.int64)
        return (f.sum(axis=2)) % classes
    return model


def bytefn_model(p: dict):
    classes = p["classes"]
    k = np.arange(classes, dtype=np.int64)

    def model(frame):
        f = frame.astype(np.int64)
        r, g, b = f[..., 0:1], f[..., 1 % f.shape[2]:1 % f.shape[2] + 1], f[..., -1:]
        v = (r * (k + 1) + g * 3 + b * (7 * k + 1) + k) & 0xFF
        return np.where(v >= 128, v - 256, v)   # signed int8 logits
    return model


def load_model(spec: str | None, p: dict):
    if not spec:
        spec = "summod" if p["argmax"] else "bytefn"
    if spec == "summod":
        return summod_model(p)
    if spec == "bytefn":
        return bytefn_model(p)
    mod, _, attr = spec.rpartition(":")
    if mod.endswith(".py"):
        s = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(mod))[0], mod)
        m = importlib.util.module_from_spec(s)
        s.loader.exec_module(m)
    else:
        m = importlib.import_module(mod)
    return getattr(m, attr)(p)
