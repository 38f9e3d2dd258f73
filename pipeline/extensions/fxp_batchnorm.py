"""FxpBatchNorm (``keras_model.layers.FxpBatchNorm``) for hls4ml 1.3 -- bit-exact fixed-point BatchNorm.

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

import numpy as np

KERAS_CLASS = "FxpBatchNorm"
_FOLD_PASS = "fsic_fold_batchnorm"


# --------------------------------------------------------------------------------------------------------------------
# exact type helpers (pure Python)
# --------------------------------------------------------------------------------------------------------------------
def signed_int_bits(values, frac: int) -> int:
    """Smallest I (>= 1) such that every value fits ap_fixed<I+frac, I> (values already on the 2**-frac grid)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return 1
    lsb = 2.0**-frac
    hi, lo = float(v.max()), float(v.min())
    i = 1
    while not (-(2.0 ** (i - 1)) <= lo and hi <= 2.0 ** (i - 1) - lsb):
        i += 1
    return i


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
    from hls4ml.converters.keras_v2_to_hls import get_weights_data

    from keras_model.layers import FxpBatchNorm

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
    from hls4ml.converters.keras_v2_to_hls import parse_default_keras_layer

    from .errors import UnsupportedLayerError

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
def _fixed_tuple(p):
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType

    if isinstance(p, FixedPrecisionType):
        return p.width, p.integer, p.signed
    if isinstance(p, IntegerPrecisionType):
        return p.width, p.width, p.signed
    return None


_classes: dict = {}


def _build_classes():
    if _classes:
        return _classes
    from hls4ml.model.layers import BatchNormalization, Conv2D
    from hls4ml.model.optimizer import OptimizerPass
    from hls4ml.model.types import FixedPrecisionType

    class FoldBatchNorm(OptimizerPass):
        """Move an FxpBatchNorm's shift into the preceding conv's bias (exact; see :func:`fold_bias`)."""

        def match(self, node):
            if not (isinstance(node, BatchNormalization) and node.get_attr("fsic_fold", False)
                    and not node.get_attr("fsic_folded", False)):
                return False
            prev = node.get_input_node()
            return prev is not None and (isinstance(prev, Conv2D) or prev.class_name == "FsicConv2DTranspose")

        def transform(self, model, node):
            import warnings

            prev = node.get_input_node()
            node.set_attr("fsic_folded", True)
            if len(prev.get_output_use_map()[prev.outputs[0]]) > 1:
                warnings.warn(f"layer '{node.name}': not folded (its input '{prev.name}' has other consumers)")
                return False
            xi = _fixed_tuple(prev.get_input_variable().type.precision)
            wi = _fixed_tuple(prev.weights["weight"].type.precision)
            if xi is None or wi is None:
                warnings.warn(f"layer '{node.name}': not folded (input/weight types of '{prev.name}' not fixed)")
                return False
            if np.any(prev.weights["bias"].data != 0):
                warnings.warn(f"layer '{node.name}': not folded ('{prev.name}' already has a bias)")
                return False
            acc_frac = (xi[0] - xi[1]) + (wi[0] - wi[1])
            s_q = np.asarray(node.weights["scale"].data, np.float64)
            b_q = np.asarray(node.weights["bias"].data, np.float64)
            try:
                c, g = fold_bias(s_q, b_q, node.get_attr("fsic_scale_frac"), acc_frac)
            except ValueError as e:
                warnings.warn(f"layer '{node.name}': not folded ({e})")
                return False
            n_terms = int(np.prod(prev.mult_size[:1])) if hasattr(prev, "mult_size") else \
                prev.get_attr("filt_height") * prev.get_attr("filt_width") * prev.get_attr("n_chan")
            grow = math.ceil(math.log2(n_terms)) if n_terms > 1 else 0
            prod_int = xi[1] + wi[1] + grow
            cfrac = acc_frac + g
            cint = signed_int_bits(c, cfrac)
            acc_int = max(prod_int + (not (xi[2] or wi[2])), cint) + 1
            acc = FixedPrecisionType(acc_int + cfrac, acc_int, True)
            bias_p = FixedPrecisionType(cint + cfrac, cint, True)
            bw = prev.weights["bias"]
            bw.data = c.astype(np.float64)
            bw.data_unquantized = bw.data
            bw.type.name = f"{prev.name}_bias_t"
            bw.update_precision(bias_p)
            prev.types["bias_t"] = bw.type
            for var in ("accum_t",):
                prev.types[var].name = f"{prev.name}_{var}"
                prev.types[var].precision = acc
            prev.get_output_variable().type.precision = acc
            nb = node.weights["bias"]
            nb.data = np.where(s_q == 0, b_q, 0.0)  # s_q == 0 channels keep their constant output in the BN bias
            nb.data_unquantized = nb.data
            if np.any(nb.data != 0):
                nb.update_precision(FixedPrecisionType(signed_int_bits(nb.data, node.get_attr("fsic_types")["out_frac"])
                                                       + node.get_attr("fsic_types")["out_frac"],
                                                       signed_int_bits(nb.data, node.get_attr("fsic_types")["out_frac"]),
                                                       True))
            else:
                nb.update_precision(FixedPrecisionType(2, 2, True))
            node.set_attr("fsic_fold_info", {"conv": prev.name, "bias": str(bias_p), "accum": str(acc), "g": g})
            return True

    _classes.update(fold=FoldBatchNorm)
    return _classes


def register() -> None:
    """Register the FxpBatchNorm parser and the fold pass. Idempotent."""
    import hls4ml
    from hls4ml.converters.keras_v2_to_hls import get_layer_handlers
    from hls4ml.model.flow import get_flow
    from hls4ml.model.optimizer.optimizer import optimizer_map, register_pass

    handlers = get_layer_handlers()
    if KERAS_CLASS not in handlers:
        hls4ml.converters.register_keras_v2_layer_handler(KERAS_CLASS, parse_fxp_batchnorm)
    elif handlers[KERAS_CLASS] is not parse_fxp_batchnorm:
        raise RuntimeError(f"hls4ml already has a Keras handler for {KERAS_CLASS}; refusing to override it")
    c = _build_classes()
    if _FOLD_PASS not in optimizer_map:
        register_pass(_FOLD_PASS, c["fold"])
    convert = get_flow("convert")
    if _FOLD_PASS not in convert._optimizers:
        # after the user's explicit types are attached, before hls4ml's own (float) BN fusion
        convert._optimizers.insert(convert._optimizers.index("fuse_consecutive_batch_normalization"), _FOLD_PASS)


__all__ = ["KERAS_CLASS", "bn_types", "bind_keras_model", "fold_bias", "parse_fxp_batchnorm", "register",
           "signed_int_bits"]
