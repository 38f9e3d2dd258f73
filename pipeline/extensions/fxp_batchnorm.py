"""FxpBatchNorm (``keras_model.layers.FxpBatchNorm``) for hls4ml 1.3 -- bit-exact fixed-point BatchNorm.

What this module holds (registered with hls4ml by :mod:`pipeline.extensions.registry`): the exact type helpers
:func:`bn_types` and :func:`fold_bias`, the Keras v2 parser :func:`parse_fxp_batchnorm` (with
:func:`bind_keras_model`), and the optimizer pass :class:`FoldBatchNorm`.

Stock hls4ml recomputes a BatchNormalization's scale/shift in float from gamma/beta/mean/variance and ignores any
quantizers, so its outputs differ from the trained QKeras model (see docs/hls.md). This handler instead converts an
``FxpBatchNorm`` into hls4ml's own ``BatchNormalization`` IR layer whose weights are *exactly* the layer's quantized
``(s_q, b_q)`` from :meth:`FxpBatchNorm.quantized_scale_shift` (the same TF code the Keras layer runs), stored with
``scale_data``/``bias_data`` so hls4ml never recomputes them. With the types from :func:`bn_types`::

    scale_t  = ap_fixed<scale_bits, scale_bits - fs>            (s_q is on this grid by construction)
    bias_t   = ap_fixed<I_b + out_frac, I_b>                    (b_q is on the output grid; I_b holds max|b_q|)
    result_t = ap_fixed<out_bits, out_bits - out_frac, AP_TRN, AP_SAT>

hls4ml's batchnorm kernels compute ``res = x * scale + bias`` with an exact ap_fixed product and sum, then one cast to
``result_t`` (floor + saturate) -- precisely the Keras layer's inference formula, for any exact input type.

Fold (``fold=True`` on the parsed layer, set by the converter from ``hls.fold_batchnorm``): the pass
``fsic_fold_batchnorm`` moves the per-channel *shift* into the bias of the preceding Conv2D / FsicConv2DTranspose and
leaves a scale-only per-channel multiply. Conv weights are untouched (still the 5-bit quantized kernel). The folded
bias ``c`` is chosen so that the result is still bit-identical (see :func:`fold_bias`):
``floor((A + c) * s_q * 2**F) == floor((A * s_q + b_q) * 2**F)`` for every accumulator value ``A`` on its grid.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from hls4ml.converters.keras_v2_to_hls import get_weights_data, parse_default_keras_layer
from hls4ml.model.layers import BatchNormalization, Conv2D
from hls4ml.model.optimizer import OptimizerPass

from .errors import UnsupportedLayerError
from .fixed import Fx, exact_accum, from_hls, signed_int_bits, to_hls

KERAS_CLASS = "FxpBatchNorm"
FOLD_PASS = "fsic_fold_batchnorm"


# --------------------------------------------------------------------------------------------------------------------
# exact type helpers (pure Python)
# --------------------------------------------------------------------------------------------------------------------
def bn_types(layer) -> dict:
    """Exact hls4ml type strings of an FxpBatchNorm layer: ``scale``, ``bias``, ``result`` (+ the raw numbers)."""
    s_q, b_q, fs = layer.quantized_scale_shift()
    sb, ob, of = layer.scale_bits, layer.out_bits, layer.out_frac
    ib = signed_int_bits(b_q, of)
    return {
        "scale": f"ap_fixed<{sb},{sb - fs}>",
        "bias": f"ap_fixed<{ib + of},{ib}>",
        "result": f"ap_fixed<{ob},{ob - of},AP_TRN,AP_SAT>",
        "scale_frac": fs,
        "scale_bits": sb,
        "out_bits": ob,
        "out_frac": of,
        "bias_int": ib,
    }


def fold_bias(s_q: np.ndarray, b_q: np.ndarray, scale_frac: int, acc_frac: int) -> tuple[np.ndarray, int]:
    """Per-channel conv bias ``c`` (on the grid 2**-(acc_frac+g)) making the fold bit-exact, and ``g``.

    For an accumulator ``A`` on the 2**-acc_frac grid, ``x = A*s + b`` lies on a grid of step ``h`` (the coarser of
    2**-(acc_frac+scale_frac) and the bias grid). ``floor`` (and the monotone saturation after it) gives the same
    result for ``x`` and ``x + e`` whenever ``0 <= e < h`` (both on/after the same grid point), *also across the output
    grid*, because output grid points are grid points of ``x``. With ``c`` = ``b/s`` rounded towards +inf (s > 0) or
    -inf (s < 0) on a grid of step ``2**-(acc_frac+g)``: ``(A+c)*s = x + e`` with ``0 <= e < |s| * 2**-(acc_frac+g)``;
    ``|s| <= 2**(sb-1-scale_frac)``... so ``g = bits(|m|)`` with ``m = s*2**scale_frac`` suffices: ``e < 2**-(acc_frac
    + scale_frac) <= h``. Channels whose ``s`` quantized to 0 output the constant ``b`` whatever ``A`` is: they get
    ``c = 0`` and keep ``b`` in the (otherwise zero) BN bias.
    """
    s_q = np.asarray(s_q, np.float64)
    b_q = np.asarray(b_q, np.float64)
    nz = s_q != 0
    if not np.any(nz):
        raise ValueError("every quantized scale is 0; nothing to fold")
    m = np.abs(s_q[nz]) * 2.0**scale_frac  # integers
    g = int(math.ceil(math.log2(float(m.max()) + 1)))
    step = 2.0 ** -(acc_frac + g)
    r = np.where(nz, b_q / np.where(nz, s_q, 1.0) / step, 0.0)
    c = np.where(s_q > 0, np.ceil(r), np.floor(r)) * step
    c[~nz] = 0.0
    # verify the bound exactly (float64 is exact here for the widths we use)
    e = (c * s_q - b_q)[nz]
    assert np.all(e >= 0) and np.all(e < 2.0 ** -(acc_frac + scale_frac)), "fold bias bound violated"
    return c, g


# --------------------------------------------------------------------------------------------------------------------
# parser
# --------------------------------------------------------------------------------------------------------------------
_model_layers: dict = {}  # layer name -> live Keras FxpBatchNorm (set by the converter; the parser needs its TF code)


def bind_keras_model(model) -> None:
    """Let the parser find the live FxpBatchNorm objects of ``model`` (quantized_scale_shift runs their TF code)."""
    _model_layers.clear()
    for layer in model.layers:
        if layer.__class__.__name__ == KERAS_CLASS:
            _model_layers[layer.name] = layer


def _scale_shift_from_config(keras_layer, data_reader):
    """Rebuild an FxpBatchNorm from config + weights when no live layer was bound (same TF code -> same numbers)."""
    from keras_model.layers import FxpBatchNorm  # imports TensorFlow: only when no live layer was bound

    cfg = dict(keras_layer["config"])
    layer = FxpBatchNorm.from_config(cfg)
    gamma, beta, mean, var = get_weights_data(data_reader, cfg["name"], ["gamma", "beta", "moving_mean",
                                                                         "moving_variance"])
    n = int(np.asarray(mean).shape[-1])
    layer.build((None, n))
    ws = []
    for w in layer.weights:
        key = w.name.split("/")[-1].split(":")[0]
        ws.append({"gamma": gamma, "beta": beta, "moving_mean": mean, "moving_variance": var}[key])
    layer.set_weights(ws)
    return layer


def parse_fxp_batchnorm(keras_layer, input_names, input_shapes, data_reader):
    """hls4ml Keras v2 handler: an FxpBatchNorm layer dict -> hls4ml's ``BatchNormalization`` with the exact
    quantized scale / shift as its weights."""
    cfg = keras_layer["config"]
    name = cfg["name"]
    axis = cfg.get("axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if axis not in (-1, len(input_shapes[0]) - 1):
        raise UnsupportedLayerError(name, KERAS_CLASS, "axis", axis, "-1 (channels_last)")
    layer = parse_default_keras_layer(keras_layer, input_names)
    layer["class_name"] = "BatchNormalization"
    layer["keras_class_name"] = KERAS_CLASS
    in_size = int(np.prod(input_shapes[0][1:]))
    layer["n_in"] = layer["n_out"] = in_size
    layer["n_filt"] = input_shapes[0][-1] if len(input_shapes[0]) > 2 else -1
    live = _model_layers.get(name)
    if live is None:
        live = _scale_shift_from_config(keras_layer, data_reader)
    s_q, b_q, fs = live.quantized_scale_shift()
    layer["scale_data"] = s_q
    layer["bias_data"] = b_q
    layer["use_gamma"] = layer["use_beta"] = True
    layer["fsic_fxp"] = True
    layer["fsic_scale_frac"] = fs
    layer["fsic_types"] = bn_types(live)
    return layer, [s for s in input_shapes[0]]


# --------------------------------------------------------------------------------------------------------------------
# fold pass
# --------------------------------------------------------------------------------------------------------------------
def _n_terms(conv) -> int:
    """Products summed per output of the conv (FsicConv2DTranspose: its dense size; Conv2D: k_h*k_w*Cin)."""
    if hasattr(conv, "mult_size"):
        return int(conv.mult_size[0])
    return conv.get_attr("filt_height") * conv.get_attr("filt_width") * conv.get_attr("n_chan")


class FoldBatchNorm(OptimizerPass):
    """Move an FxpBatchNorm's shift into the preceding conv's bias (exact; see :func:`fold_bias`)."""

    def match(self, node):
        if not (isinstance(node, BatchNormalization) and node.get_attr("fsic_fold", False)
                and not node.get_attr("fsic_folded", False)):
            return False
        prev = node.get_input_node()
        return prev is not None and (isinstance(prev, Conv2D) or prev.class_name == "FsicConv2DTranspose")

    def transform(self, model, node):
        prev = node.get_input_node()
        node.set_attr("fsic_folded", True)
        x = from_hls(prev.get_input_variable().type.precision)
        w = from_hls(prev.weights["weight"].type.precision)
        reason = self._refusal(prev, x, w)
        if reason is None:
            s_q = np.asarray(node.weights["scale"].data, np.float64)
            b_q = np.asarray(node.weights["bias"].data, np.float64)
            try:
                c, g = fold_bias(s_q, b_q, node.get_attr("fsic_scale_frac"), x.frac + w.frac)
            except ValueError as e:
                reason = str(e)
        if reason is not None:
            warnings.warn(f"layer '{node.name}': not folded ({reason})")
            return False
        cfrac = x.frac + w.frac + g
        cint = signed_int_bits(c, cfrac)
        bias = Fx(cint + cfrac, cint, True)
        acc = to_hls(exact_accum(x, w, _n_terms(prev), bias))
        self._set_conv_bias(prev, c, to_hls(bias), acc)
        self._set_bn_bias(node, np.where(s_q == 0, b_q, 0.0))  # s_q == 0 channels keep their constant output
        node.set_attr("fsic_fold_info", {"conv": prev.name, "bias": str(to_hls(bias)), "accum": str(acc), "g": g})
        return True

    @staticmethod
    def _refusal(prev, x, w) -> str | None:
        """Why the BN after ``prev`` cannot be folded (None: it can)."""
        if len(prev.get_output_use_map()[prev.outputs[0]]) > 1:
            return f"its input '{prev.name}' has other consumers"
        if x is None or w is None:
            return f"input/weight types of '{prev.name}' not fixed"
        if np.any(prev.weights["bias"].data != 0):
            return f"'{prev.name}' already has a bias"
        return None

    @staticmethod
    def _set_conv_bias(conv, c, bias_precision, acc) -> None:
        """The folded bias ``c`` becomes the conv's bias; its accumulator and output get the exact type ``acc``."""
        bw = conv.weights["bias"]
        bw.data = c.astype(np.float64)
        bw.data_unquantized = bw.data
        bw.type.name = f"{conv.name}_bias_t"
        bw.update_precision(bias_precision)
        conv.types["bias_t"] = bw.type
        conv.types["accum_t"].name = f"{conv.name}_accum_t"
        conv.types["accum_t"].precision = acc
        conv.get_output_variable().type.precision = acc

    @staticmethod
    def _set_bn_bias(node, data) -> None:
        """The BN keeps only the constant outputs of channels whose scale quantized to 0 (else an all-zero bias)."""
        nb = node.weights["bias"]
        nb.data = data
        nb.data_unquantized = nb.data
        if np.any(nb.data != 0):
            out_frac = node.get_attr("fsic_types")["out_frac"]
            bint = signed_int_bits(nb.data, out_frac)
            nb.update_precision(to_hls(Fx(bint + out_frac, bint, True)))
        else:
            nb.update_precision(to_hls(Fx(2, 2, True)))


__all__ = ["FOLD_PASS", "KERAS_CLASS", "FoldBatchNorm", "bind_keras_model", "bn_types", "fold_bias",
           "parse_fxp_batchnorm", "signed_int_bits"]
