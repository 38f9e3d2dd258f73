"""IP model factories for the sim backend (``UF_MODEL='sim_models:<name>'``), each ``factory(params) -> model``
with ``model(frame uint8[H, W, C]) -> (H, W) class indices`` (see fsic_wrapper/sim/ip_model.py).

keras_argmax  a QKeras model as the IP: UF_KERAS_MODEL = path of a JSON {"config": <partial config for
              pipeline.config.validate>, "weights": <.npz of model.get_weights() as arr_0..>}; the frame holds the
              stream's input codes (value = code / 256, what the model's 8-bit input quantizer produces); returns
              the argmax of the model's logits. A stand-in for builds without a compiled hls4ml model (the sim
              backend's default IP is the build's compiled C model, fsic_wrapper/sim/uf_hls_ip.py).
overflow      returns class index == classes everywhere (the wrapper flags ERR.OVERFLOW).
hang          never returns (blocks the simulator; the host must time out by wall clock).
"""
from __future__ import annotations

import json
import os

import numpy as np


def keras_argmax(p: dict):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras_model  # noqa: F401  (QKeras/TF compat fixes before qkeras)
    from keras_model.model import build_model
    from pipeline.config import validate

    spec = json.loads(open(os.environ["UF_KERAS_MODEL"]).read())
    cfg = validate(spec["config"])
    model = build_model(cfg, quantized=True)
    w = np.load(spec["weights"])
    model.set_weights([w[f"arr_{i}"] for i in range(len(w.files))])
    h, wd, c = cfg["model"]["input_shape"]
    if (h, wd, c) != (p["H"], p["W"], p["C"]) or cfg["model"]["num_classes"] != p["classes"]:
        raise ValueError(f"keras model {h}x{wd}x{c}/{cfg['model']['num_classes']} does not match the build "
                         f"{p['H']}x{p['W']}x{p['C']}/{p['classes']}")

    def run(frame):
        x = (np.asarray(frame, dtype=np.float32) / 256.0)[None]  # codes -> the quantized input values
        y = model(x, training=False).numpy()[0]
        return np.argmax(y, axis=-1)
    return run


def overflow(p: dict):
    classes = p["classes"]

    def run(frame):
        return np.full(frame.shape[:2], classes, dtype=np.int64)
    return run


def hang(p: dict):
    """A model that never returns (for the host's wall-clock timeout path): sleeps UF_HANG_SECONDS (3600)."""
    import time

    secs = float(os.environ.get("UF_HANG_SECONDS", "3600"))

    def run(frame):
        time.sleep(secs)
        return np.zeros(frame.shape[:2], dtype=np.int64)
    return run
