"""Per-layer integer bits for the W5A8 quantizers, chosen from the trained float twin and a batch of data.

For a signed ``quantized_bits(b, n)`` the range is [-2**n, 2**n); for ``quantized_relu(b, n)`` it is [0, 2**n). We pick
the smallest ``n`` whose range holds the ``percentile``-th percentile of |values| (weights of a kernel, or the float
model's activations at that point on the calibration batch). Larger outliers saturate: QAT learns around it.
"""
from __future__ import annotations

import math

import numpy as np
from tensorflow import keras


def int_bits_for(values: np.ndarray, percentile: float, lo: int = -12, hi: int = 12) -> int:
    a = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    if a.size == 0:
        return 0
    v = float(np.percentile(a, percentile))
    if v <= 0:
        v = float(a.max()) or 2.0**lo
    n = int(math.ceil(math.log2(v)))
    if 2.0**n < v:  # guard log2 rounding
        n += 1
    return max(lo, min(hi, n))


def calibrate(float_model: keras.Model, images: np.ndarray, percentile: float) -> dict[str, int]:
    """Integer bits keyed by W5A8 layer names (``<conv>``, ``<conv>/bias``, ``<relu>``, ``up<n>_quant``,
    ``head_quant``), from the float twin's weights and its activations on ``images`` (float32 model input)."""
    out: dict[str, int] = {}
    probes = {}
    for layer in float_model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
            out[layer.name] = int_bits_for(layer.kernel.numpy(), percentile)
            if layer.use_bias:
                out[layer.name + "/bias"] = int_bits_for(layer.bias.numpy(), 100.0)
            if isinstance(layer, keras.layers.Conv2DTranspose):
                probes[layer.name + "_quant"] = layer.output
            if layer.name == "head":
                probes["head_quant"] = layer.output
        elif isinstance(layer, keras.layers.ReLU):
            probes[layer.name] = layer.output
    names = list(probes)
    probe = keras.Model(float_model.input, [probes[n] for n in names])
    acts = probe.predict(images, batch_size=16, verbose=0)
    for n, a in zip(names, acts):
        # a ReLU's range is [0, 2**n): include a step of headroom so the max code is reachable
        out[n] = int_bits_for(a, percentile)
    return out
