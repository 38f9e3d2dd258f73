"""Deterministic stand-in models for the wrapper tests (the lead plugs the hls4ml C model in the same way).

A model is ``model(frame: np.ndarray[H, W, C] uint8) -> np.ndarray``: (H, W) class indices for an argmax
build, (H, W, classes) integer logits (low ``logit_bits`` bits are streamed) for a logits build.
``load_model(spec, p)`` resolves ``UF_MODEL``: 'summod' / 'bytefn' (defaults below) or 'module:attr' naming a
factory ``attr(params: dict) -> model`` (params = the resolved wrapper params, see pipeline.wrap.resolve_params).
"""
from __future__ import annotations

import importlib

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
    mod, _, attr = spec.partition(":")
    return getattr(importlib.import_module(mod), attr)(p)
