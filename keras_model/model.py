"""The seed U-Net (see shared/design/seed_unet.md), as a float twin and a QKeras W5A8 model from one definition.

Layer names are stable and meaningful; the converter, the precision config and the reports key on them:

    input, input_quant(W5A8 only)
    enc{1..4}_conv{1,2}, enc{n}_bn{1,2}, enc{n}_relu{1,2}, pool{1..4}
    bott_conv{1,2}, bott_bn{1,2}, bott_relu{1,2}
    up{4..1}, up{n}_quant(W5A8 only), dec{n}_concat, dec{n}_conv{1,2}, dec{n}_bn{1,2}, dec{n}_relu{1,2}
    head, head_quant(W5A8 only)

W5A8: every conv / transposed-conv kernel is ``quantized_bits(weight_bits, int)``; every ReLU is
``quantized_relu(act_bits, int)``; the input is ``quantized_bits(input_bits, 0, keep_negative=False)``
(unsigned, [0,1));
each up-convolution's output and the head's logits go through a signed ``quantized_bits(act_bits, int)``, so every
tensor between layers is an 8-bit value. BatchNorm layers are :class:`keras_model.layers.FxpBatchNorm` (exact
fixed-point inference). The integer bits of every quantizer come from ``int_bits`` (per layer name; see
:mod:`keras_model.calibrate`) with sensible defaults when a layer has none.
"""
from __future__ import annotations

import math
from typing import Mapping

from tensorflow import keras

from .layers import FxpBatchNorm

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9

# Defaults when no calibration is available (training from scratch): post-BN ReLU outputs are ~N(0,1) clipped at 0,
# so 2 integer bits (max 3.98) hold >99.9 %; logits and up-conv outputs get more headroom.
DEFAULT_ACT_INT = {"relu": 2, "up": 2, "head": 4}


# The width multiplier never takes a level below this many filters (nor above the unscaled count). Measured (issue
# #13): at width 0.5 the unfloored level 1 had 4 channels at full resolution, and after 3 float epochs 39 % of the
# validation pixels reached the head with all 4 dec1 features zero (full width: 1.6 %) -- those pixels all get the
# head's bias, i.e. one class; the model stayed at 13.6 % mIoU after the default budget. With level 1 at 8 (+2 % params)
# it learns as fast as full width. Full width (level 1 = 8) is unchanged. Override: ``model.min_filters``.
MIN_FILTERS = 8


def level_filters(config: Mapping) -> list[int]:
    """Filters per level (enc1 .. bottleneck): ``round(base_filters * 2**i * width_multiplier)``, but a width
    multiplier below 1 never takes a level below ``min(min_filters, base_filters * 2**i)``."""
    m = config["model"]
    floor = int(m.get("min_filters", MIN_FILTERS))
    out = []
    for i in range(m["depth"] + 1):
        unscaled = m["base_filters"] * 2**i
        scaled = int(round(unscaled * m["width_multiplier"])) or 1
        out.append(max(scaled, min(floor, unscaled)))
    return out


def default_weight_int(fan_in: int, fan_out: int) -> int:
    """Integer bits for a glorot-uniform initialised kernel: the smallest n with limit <= 2**n."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return int(math.ceil(math.log2(limit)))


def _quantizers():
    from qkeras import quantized_bits, quantized_relu

    return quantized_bits, quantized_relu


class _Builder:
    def __init__(self, config: Mapping, quantized: bool, int_bits: Mapping[str, int] | None):
        self.cfg = config
        self.q = quantized
        self.quant = config["quant"]
        self.int_bits = dict(self.quant.get("int_bits") or {})
        if int_bits:
            # calibration first, explicit per-layer overrides from the YAML win
            merged = dict(int_bits)
            merged.update(self.int_bits)
            self.int_bits = merged
        self.used_int_bits: dict[str, int] = {}

    def _int(self, name: str, default: int) -> int:
        n = int(self.int_bits.get(name, default))
        self.used_int_bits[name] = n
        return n

    def conv(self, x, filters, kernel, name, use_bias=False):
        fan_in = int(x.shape[-1]) * kernel * kernel
        if not self.q:
            return keras.layers.Conv2D(filters, kernel, padding="same", use_bias=use_bias, name=name)(x)
        from qkeras import QConv2D

        quantized_bits, _ = _quantizers()
        wb = self.quant["weight_bits"]
        wint = self._int(name, default_weight_int(fan_in, filters * kernel * kernel))
        kw = {}
        if use_bias:
            bb = self.quant["bias_bits"]
            kw["bias_quantizer"] = quantized_bits(bb, self._int(name + "/bias", 2), alpha=1)
        return QConv2D(
            filters, kernel, padding="same", use_bias=use_bias, name=name,
            kernel_quantizer=quantized_bits(wb, wint, alpha=1), **kw,
        )(x)

    def up(self, x, filters, name):
        cin = int(x.shape[-1])
        if not self.q:
            return keras.layers.Conv2DTranspose(filters, 2, strides=2, padding="valid", use_bias=False, name=name)(x)
        from qkeras import QActivation, QConv2DTranspose

        quantized_bits, _ = _quantizers()
        wb, ab = self.quant["weight_bits"], self.quant["act_bits"]
        wint = self._int(name, default_weight_int(cin * 4, filters * 4))
        y = QConv2DTranspose(
            filters, 2, strides=2, padding="valid", use_bias=False, name=name,
            kernel_quantizer=quantized_bits(wb, wint, alpha=1),
        )(x)
        qint = self._int(name + "_quant", DEFAULT_ACT_INT["up"])
        return QActivation(quantized_bits(ab, qint, keep_negative=True, alpha=1), name=name + "_quant")(y)

    def bn_relu(self, x, bn_name, relu_name):
        if not self.q:
            x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=bn_name)(x)
            return keras.layers.ReLU(name=relu_name)(x)
        from qkeras import QActivation

        _, quantized_relu = _quantizers()
        ab = self.quant["act_bits"]
        aint = self._int(relu_name, DEFAULT_ACT_INT["relu"])
        # BN result grid: the following relu's grid plus `bn_extra_frac` guard bits, one integer bit of headroom and
        # a sign bit (anything beyond saturates identically after the relu's clip).
        afrac = ab - aint
        out_frac = afrac + self.quant["bn_extra_frac"]
        out_bits = out_frac + aint + 2
        x = FxpBatchNorm(
            scale_bits=self.quant["bn_scale_bits"], out_bits=out_bits, out_frac=out_frac,
            epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=bn_name,
        )(x)
        return QActivation(quantized_relu(ab, aint), name=relu_name)(x)

    def block(self, x, filters, prefix):
        for i in (1, 2):
            x = self.conv(x, filters, 3, f"{prefix}_conv{i}")
            x = self.bn_relu(x, f"{prefix}_bn{i}", f"{prefix}_relu{i}")
        return x

    def build(self) -> keras.Model:
        m = self.cfg["model"]
        h, w, c = m["input_shape"]
        filters = level_filters(self.cfg)
        depth = m["depth"]
        inp = keras.Input((h, w, c), name="input")
        x = inp
        if self.q:
            from qkeras import QActivation

            quantized_bits, _ = _quantizers()
            x = QActivation(
                quantized_bits(self.quant["input_bits"], 0, keep_negative=False, alpha=1), name="input_quant"
            )(x)
        skips = []
        for lvl in range(1, depth + 1):
            x = self.block(x, filters[lvl - 1], f"enc{lvl}")
            skips.append(x)
            x = keras.layers.MaxPooling2D(2, strides=2, name=f"pool{lvl}")(x)
        x = self.block(x, filters[depth], "bott")
        for lvl in range(depth, 0, -1):
            u = self.up(x, filters[lvl - 1], f"up{lvl}")
            x = keras.layers.Concatenate(axis=-1, name=f"dec{lvl}_concat")([u, skips[lvl - 1]])
            x = self.block(x, filters[lvl - 1], f"dec{lvl}")
        x = self.conv(x, m["num_classes"], 1, "head", use_bias=True)
        if self.q:
            from qkeras import QActivation

            quantized_bits, _ = _quantizers()
            hint = self._int("head_quant", DEFAULT_ACT_INT["head"])
            x = QActivation(quantized_bits(self.quant["act_bits"], hint, keep_negative=True, alpha=1),
                            name="head_quant")(x)
        name = "unet_w%da%d" % (self.quant["weight_bits"], self.quant["act_bits"]) if self.q else "unet_float"
        model = keras.Model(inp, x, name=name)
        model.unet_int_bits = dict(self.used_int_bits) if self.q else {}
        return model


def build_model(config: Mapping, quantized: bool | None = None, int_bits: Mapping[str, int] | None = None):
    """Build the U-Net for a loaded (validated) config dict.

    ``quantized``: True for the QKeras W5A8 model, False for the float twin; default ``config['model']['variant']``.
    ``int_bits``: per-layer integer bits (layer name -> int; ``<layer>/bias`` for biases) from calibration; the YAML's
    ``quant.int_bits`` overrides them. The model records what it used in ``model.unet_int_bits``.
    """
    if quantized is None:
        quantized = config["model"].get("variant", "w5a8") == "w5a8"
    return _Builder(config, bool(quantized), int_bits).build()


def quantized_layers(model) -> list:
    """Layers carrying a kernel quantizer (QConv2D / QConv2DTranspose)."""
    return [layer for layer in model.layers if getattr(layer, "kernel_quantizer_internal", None) is not None]
