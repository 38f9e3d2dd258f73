"""Per-layer hls4ml precisions derived from the QKeras quantizers (no ``auto`` anywhere), plus YAML overrides.

Rules (docs/hls.md has the full derivation). ``(W, I, s)`` is ``ap_fixed<W,I>`` (s=signed) / ``ap_ufixed<W,I>``:

* input: the input quantizer ``quantized_bits(b, i, keep_negative=False)`` -> ``ap_ufixed<b, i>`` (the hardware input
  stream carries exactly these codes; see :func:`pipeline.hw.streams.hardware_input`).
* QActivation ``quantized_relu(b, i)`` -> result ``ap_ufixed<b, i, AP_RND_CONV, AP_SAT>``;
  ``quantized_bits(b, i, keep_negative)`` -> ``ap_(u)fixed<b, i + keep_negative, AP_RND_CONV, AP_SAT>`` (QKeras rounds
  half to even and clips).
* QConv2D / QConv2DTranspose: weight = kernel quantizer ``ap_fixed<b, i+1>``; bias = bias quantizer (or none);
  accum = the exact sum of ``n`` products: ``W_x + W_w + ceil(log2 n)`` bits (+1 integer bit and the bias' fraction
  when there is a bias); result = accum (exact: the following FxpBatchNorm / quantizer does the only rounding).
* FxpBatchNorm: scale / bias / result from :func:`pipeline.extensions.fxp_batchnorm.bn_types` (exact).
* MaxPooling2D: result = accum = input type. Concatenate: the smallest type holding both inputs exactly.
* ArgmaxHead: ``ap_uint<ceil(log2 C)>``.

``hls.precision_overrides`` (layer -> {weight|bias|accum|result|scale: 'ap_fixed<W,I,...>'}) replace derived types;
an override narrower than the exact type raises a :class:`PrecisionWarning` naming the layer.

The fixed-point arithmetic itself (:class:`Fx`, :func:`exact_accum`, :func:`index_bits`) lives in
:mod:`pipeline.extensions.fixed`, shared with the hls4ml extension passes; it is re-exported here.
"""
from __future__ import annotations

import difflib
import json
import re
import warnings

from ..errors import UserError
from ..extensions.fixed import Fx, exact_accum, index_bits

__all__ = ["OVERRIDE_KEYS", "SUPPORTED", "Fx", "PrecisionWarning", "check_supported", "derive", "exact_accum",
           "inbound_map", "parse_type", "quantizer_type", "to_hls_precision", "union"]

SUPPORTED = ("InputLayer", "QActivation", "QConv2D", "QConv2DTranspose", "FxpBatchNorm", "MaxPooling2D",
             "Concatenate", "ArgmaxHead")
OVERRIDE_KEYS = {"weight", "bias", "accum", "result", "scale"}


class PrecisionWarning(UserWarning):
    """An explicit precision is narrower than the exact one: values may overflow (integer bits) or round."""


_TYPE_RE = re.compile(r"^\s*(ap_fixed|ap_ufixed|ap_int|ap_uint)\s*<\s*(-?\d+)\s*(?:,\s*(-?\d+)\s*)?"
                      r"(?:,\s*(AP_\w+)\s*)?(?:,\s*(AP_\w+)\s*)?(?:,\s*\d+\s*)?>\s*$")


def parse_type(s: str) -> Fx:
    """``'ap_fixed<8,3,AP_RND_CONV,AP_SAT>'`` (or ap_ufixed / ap_int / ap_uint) -> :class:`Fx`."""
    m = _TYPE_RE.match(str(s))
    if not m:
        raise ValueError(f"not an ap_fixed/ap_ufixed/ap_int/ap_uint type: {s!r}")
    kind, w, i, rnd, sat = m.groups()
    w = int(w)
    if kind in ("ap_int", "ap_uint"):
        return Fx(w, w, kind == "ap_int")
    if i is None:
        raise ValueError(f"{s!r}: ap_fixed needs <W,I>")
    return Fx(w, int(i), kind == "ap_fixed", rnd or "", sat or "")


def union(a: Fx, b: Fx) -> Fx:
    """Smallest type holding every value of a and of b exactly."""
    signed = a.signed or b.signed
    ia = a.integer + (signed and not a.signed)
    ib = b.integer + (signed and not b.signed)
    i = max(ia, ib)
    f = max(a.frac, b.frac)
    return Fx(i + f, i, signed)


def quantizer_type(q, rounding: bool) -> Fx:
    """hls type of a QKeras quantized_bits / quantized_relu object."""
    name = q.__class__.__name__
    rnd, sat = ("AP_RND_CONV", "AP_SAT") if rounding else ("", "")
    bits, integer = int(q.bits), int(q.integer)
    if name == "quantized_relu":
        return Fx(bits, integer, False, rnd, sat)
    if name == "quantized_bits":
        alpha = getattr(q, "alpha", None)
        if alpha not in (None, 1, 1.0):
            raise UserError(f"quantizer {q}: alpha={alpha!r} is not supported (only 1)")
        keep_neg = bool(getattr(q, "keep_negative", True))
        return Fx(bits, integer + keep_neg, keep_neg, rnd, sat)
    raise UserError(f"quantizer {name} is not supported (only quantized_bits, quantized_relu)")


def inbound_map(model) -> dict[str, list[str]]:
    """layer name -> names of its input layers, from the model's own (serialised) graph."""
    arch = json.loads(model.to_json())["config"]
    out = {}
    for layer in arch["layers"]:
        nodes = layer.get("inbound_nodes") or []
        names = []
        if nodes:
            node = nodes[0]
            if isinstance(node, dict):  # keras 3 style
                node = node.get("args", [])
            for item in node:
                if isinstance(item, list) and item and isinstance(item[0], str):
                    names.append(item[0])
        out[layer["name"]] = names
    return out


def check_supported(model) -> None:
    """Refuse (one line naming the layer) a model with a layer class the converter has no exact rule for."""
    for layer in model.layers:
        cls = layer.__class__.__name__
        if cls not in SUPPORTED:
            raise UserError(f"layer '{layer.name}' ({cls}) is not supported by the unet-fsic converter "
                            f"(supported: {', '.join(SUPPORTED)}); quantize it with QKeras / FxpBatchNorm")


def derive(model, overrides: dict | None = None) -> dict[str, dict[str, Fx]]:
    """layer name -> {var: Fx} for every layer of a (Q)Keras model, overrides applied (see module docstring)."""
    check_supported(model)
    overrides = dict(overrides or {})
    _check_overrides(overrides, [layer.name for layer in model.layers])
    inb = inbound_map(model)
    input_quant = _input_quantizer(model, inb)
    out: dict[str, dict[str, Fx]] = {}
    res: dict[str, Fx] = {}  # layer name -> its result type (the input type of the layers it feeds)
    for layer in model.layers:
        types = _exact_types(layer, [res[n] for n in inb[layer.name]], input_quant)
        types = _apply_overrides(layer.name, types, overrides.get(layer.name, {}))
        out[layer.name] = types
        res[layer.name] = types["result"]
    return out


def _check_overrides(overrides: dict, names: list[str]) -> None:
    """Every override names a layer of the model and only known precision keys (else one UserError line)."""
    for name, ov in overrides.items():
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UserError(f"hls.precision_overrides.{name}: no layer of that name in the model{hint}")
        if not isinstance(ov, dict):
            raise UserError(f"hls.precision_overrides.{name}: expected a mapping of {sorted(OVERRIDE_KEYS)}")
        for k in ov:
            if k not in OVERRIDE_KEYS:
                raise UserError(f"hls.precision_overrides.{name}.{k}: unknown key (expected one of "
                                f"{', '.join(sorted(OVERRIDE_KEYS))})")


def _apply_overrides(name: str, types: dict[str, Fx], layer_overrides: dict) -> dict[str, Fx]:
    """``types`` with the layer's overrides put in; a PrecisionWarning (at derive's caller) for each narrower one."""
    for k, s in layer_overrides.items():
        try:
            t = parse_type(s)
        except ValueError as e:
            raise UserError(f"hls.precision_overrides.{name}.{k}: {e}") from None
        if k not in types:
            raise UserError(f"hls.precision_overrides.{name}.{k}: layer '{name}' has no '{k}' precision "
                            f"(it has: {', '.join(types)})")
        exact = types[k]
        t_int = t.integer + (exact.signed and not t.signed)
        if t_int < exact.integer + (t.signed and not exact.signed) or (exact.signed and not t.signed):
            warnings.warn(PrecisionWarning(
                f"layer '{name}': {k} precision {t} has fewer integer bits than the exact {exact} -- values "
                f"may overflow"), stacklevel=3)
        elif t.frac < exact.frac:
            warnings.warn(PrecisionWarning(
                f"layer '{name}': {k} precision {t} has fewer fractional bits than the exact {exact} -- "
                f"results are rounded (not bit-exact)"), stacklevel=3)
        types[k] = t
    return types


def _input_quantizer(model, inb: dict[str, list[str]]):
    """The first QActivation when it directly follows the model input (it defines the input type), else None."""
    layers = model.layers
    for layer in layers:
        if layer.__class__.__name__ == "QActivation":
            return layer if inb[layer.name] and inb[layer.name][0] == layers[0].name else None
    return None


def _exact_types(layer, ins: list[Fx], input_quant) -> dict[str, Fx]:
    """The exact types of one layer given the result types ``ins`` of its inputs (module docstring's rules)."""
    cls = layer.__class__.__name__
    if cls == "InputLayer":
        return {"result": _input_type(layer.name, input_quant)}
    if cls == "QActivation":
        return {"result": quantizer_type(layer.quantizer, rounding=True)}
    if cls in ("QConv2D", "QConv2DTranspose"):
        return _conv_types(layer, ins[0])
    if cls == "FxpBatchNorm":
        return _batchnorm_types(layer)
    if cls == "MaxPooling2D":
        return {"accum": ins[0].plain(), "result": ins[0].plain()}
    if cls == "Concatenate":
        t = ins[0].plain()
        for o in ins[1:]:
            t = union(t, o.plain())
        return {"result": t}
    if cls == "ArgmaxHead":
        bits = index_bits(int(layer.input_shape[-1]))
        return {"result": Fx(bits, bits, False)}
    raise UserError(f"layer '{layer.name}' ({cls}) is not supported")  # pragma: no cover (check_supported)


def _input_type(name: str, input_quant) -> Fx:
    """The input quantizer's grid (no rounding: the hardware input carries its codes), else ap_fixed<16,6> + warning."""
    q = getattr(input_quant, "quantizer", None) if input_quant is not None else None
    if q is not None and q.__class__.__name__ == "quantized_bits":
        return quantizer_type(q, rounding=False)
    t = Fx(16, 6, True)
    warnings.warn(PrecisionWarning(f"layer '{name}': no input quantizer follows the input; using {t} "
                                   "(the C simulation rounds the float input to it)"), stacklevel=4)
    return t


def _conv_types(layer, x: Fx) -> dict[str, Fx]:
    """QConv2D / QConv2DTranspose: quantizer weight / bias types, exact accumulator, result = accumulator."""
    cls, name = layer.__class__.__name__, layer.name
    w = quantizer_type(layer.kernel_quantizer_internal, rounding=False)
    bias = None
    if layer.use_bias:
        bq = layer.bias_quantizer_internal
        if bq is None:
            raise UserError(f"layer '{name}' ({cls}): a bias without bias_quantizer cannot be exact")
        bias = quantizer_type(bq, rounding=False)
    kh, kw = layer.kernel_size
    cin = int(layer.input_shape[-1])
    if cls == "QConv2D":
        n = kh * kw * cin
    else:  # products per output pixel of the stride-phase decomposition (pipeline.extensions.conv2d_transpose)
        sh, sw = layer.strides
        n = -(-kh // sh) * -(-kw // sw) * cin
    acc = exact_accum(x.plain(), w, n, bias)
    return {"weight": w, "bias": bias or Fx(1, 1, False), "accum": acc, "result": acc}


def _batchnorm_types(layer) -> dict[str, Fx]:
    """FxpBatchNorm: the exact scale / bias / result types of the BatchNorm handler."""
    from ..extensions.fxp_batchnorm import bn_types  # imports hls4ml: only when a model is converted

    bt = bn_types(layer)
    return {"scale": parse_type(bt["scale"]), "bias": parse_type(bt["bias"]), "result": parse_type(bt["result"])}


def to_hls_precision(types: dict[str, Fx]) -> dict[str, str]:
    """hls4ml precision strings of ``types`` (an unsigned integer result without rounding mode as ``ap_uint<W>``)."""
    return {k: (f"ap_uint<{v.width}>" if not v.signed and v.width == v.integer and k == "result" and
                not v.rounding else str(v)) for k, v in types.items()}
