"""Per-layer hls4ml precisions derived from the QKeras quantizers (no ``auto`` anywhere), plus YAML overrides.

Rules (docs/hls.md has the full derivation). ``(W, I, s)`` is ``ap_fixed<W,I>`` (s=signed) / ``ap_ufixed<W,I>``:

* input: the input quantizer ``quantized_bits(b, i, keep_negative=False)`` -> ``ap_ufixed<b, i>`` (the hardware input
  stream carries exactly these codes; see :func:`pipeline.csim.hardware_input`).
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
"""
from __future__ import annotations

import difflib
import math
import re
import warnings
from dataclasses import dataclass

from .errors import UserError

SUPPORTED = ("InputLayer", "QActivation", "QConv2D", "QConv2DTranspose", "FxpBatchNorm", "MaxPooling2D",
             "Concatenate", "ArgmaxHead")
OVERRIDE_KEYS = {"weight", "bias", "accum", "result", "scale"}


class PrecisionWarning(UserWarning):
    """An explicit precision is narrower than the exact one: values may overflow (integer bits) or round."""


@dataclass(frozen=True)
class Fx:
    width: int
    integer: int
    signed: bool
    rounding: str = ""
    saturation: str = ""

    @property
    def frac(self) -> int:
        return self.width - self.integer

    def __str__(self) -> str:
        base = "ap_fixed" if self.signed else "ap_ufixed"
        extra = ""
        if self.rounding or self.saturation:
            extra = f",{self.rounding or 'AP_TRN'},{self.saturation or 'AP_WRAP'}"
        return f"{base}<{self.width},{self.integer}{extra}>"

    def plain(self) -> "Fx":
        return Fx(self.width, self.integer, self.signed)


_TYPE_RE = re.compile(r"^\s*(ap_fixed|ap_ufixed|ap_int|ap_uint)\s*<\s*(-?\d+)\s*(?:,\s*(-?\d+)\s*)?"
                      r"(?:,\s*(AP_\w+)\s*)?(?:,\s*(AP_\w+)\s*)?(?:,\s*\d+\s*)?>\s*$")


def parse_type(s: str) -> Fx:
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


def exact_accum(x: Fx, w: Fx, n_terms: int, bias: Fx | None) -> Fx:
    grow = math.ceil(math.log2(n_terms)) if n_terms > 1 else 0
    signed = x.signed or w.signed
    integer = x.integer + w.integer + grow
    frac = x.frac + w.frac
    if bias is not None:
        integer = max(integer + (bias.signed and not signed), bias.integer + (signed and not bias.signed)) + 1
        frac = max(frac, bias.frac)
        signed = signed or bias.signed
    return Fx(integer + frac, integer, signed)


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
    import json

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
    for layer in model.layers:
        cls = layer.__class__.__name__
        if cls not in SUPPORTED:
            raise UserError(f"layer '{layer.name}' ({cls}) is not supported by the unet-fsic converter "
                            f"(supported: {', '.join(SUPPORTED)}); quantize it with QKeras / FxpBatchNorm")


def derive(model, overrides: dict | None = None) -> dict[str, dict[str, Fx]]:
    """layer name -> {var: Fx} for every layer of a (Q)Keras model, overrides applied (see module docstring)."""
    from .extensions.fxp_batchnorm import bn_types

    check_supported(model)
    overrides = dict(overrides or {})
    names = [layer.name for layer in model.layers]
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

    out: dict[str, dict[str, Fx]] = {}
    res: dict[str, Fx] = {}

    def apply(name: str, types: dict[str, Fx]) -> dict[str, Fx]:
        for k, s in overrides.get(name, {}).items():
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

    layers = model.layers
    inb = inbound_map(model)

    def _inbound(layer):
        return inb[layer.name]

    first_q = None
    for layer in layers:
        if layer.__class__.__name__ == "QActivation":
            if _inbound(layer) and _inbound(layer)[0] == layers[0].name:
                first_q = layer
            break
    for layer in layers:
        cls = layer.__class__.__name__
        name = layer.name
        if cls == "InputLayer":
            if first_q is not None and getattr(first_q, "quantizer", None) is not None \
                    and first_q.quantizer.__class__.__name__ == "quantized_bits":
                t = quantizer_type(first_q.quantizer, rounding=False)
            else:
                t = Fx(16, 6, True)
                warnings.warn(PrecisionWarning(f"layer '{name}': no input quantizer follows the input; using {t} "
                                               "(the C simulation rounds the float input to it)"), stacklevel=2)
            types = {"result": t}
        else:
            ins = [res[n] for n in _inbound(layer)]
            x = ins[0]
            if cls == "QActivation":
                types = {"result": quantizer_type(layer.quantizer, rounding=True)}
            elif cls in ("QConv2D", "QConv2DTranspose"):
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
                else:
                    sh, sw = layer.strides
                    n = -(-kh // sh) * -(-kw // sw) * cin
                acc = exact_accum(x.plain(), w, n, bias)
                types = {"weight": w, "bias": bias or Fx(1, 1, False), "accum": acc, "result": acc}
            elif cls == "FxpBatchNorm":
                bt = bn_types(layer)
                types = {"scale": parse_type(bt["scale"]), "bias": parse_type(bt["bias"]),
                         "result": parse_type(bt["result"])}
            elif cls == "MaxPooling2D":
                types = {"accum": x.plain(), "result": x.plain()}
            elif cls == "Concatenate":
                t = ins[0].plain()
                for o in ins[1:]:
                    t = union(t, o.plain())
                types = {"result": t}
            elif cls == "ArgmaxHead":
                from .extensions.argmax import index_bits

                types = {"result": Fx(index_bits(int(layer.input_shape[-1])), index_bits(int(layer.input_shape[-1])),
                                      False)}
            else:  # pragma: no cover (check_supported)
                raise UserError(f"layer '{name}' ({cls}) is not supported")
        types = apply(name, types)
        out[name] = types
        res[name] = types["result"]
    return out


def to_hls_precision(types: dict[str, Fx]) -> dict[str, str]:
    return {k: (f"ap_uint<{v.width}>" if not v.signed and v.width == v.integer and k == "result" and
                not v.rounding else str(v)) for k, v in types.items()}
