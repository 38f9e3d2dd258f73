"""``hls.multiplier_binding``: every conv / convT multiply bound to a DSP48 or to LUT fabric (issue #14, item 2).

The binding of a layer is the IR attribute ``fsic_mult_binding`` (``'dsp'`` | ``'lut'``), set from the per-layer
hls4ml config key ``FsicMultBinding`` (:func:`pipeline.hls.project.hls_config_for`; ``auto`` is resolved per layer by
the estimator before conversion, :func:`pipeline.hw.budget.resolved_config`). A bound layer's ``mult_config`` names
one of our product classes (``nnet_utils/nnet_fsic_mult.h``) instead of hls4ml's ``nnet::product::mult``:

* ``nnet::product::fsic_mult_dsp`` -- Vitis HLS ``#pragma HLS BIND_OP variable=p op=mul impl=dsp`` (UG1399), Vivado
  HLS ``#pragma HLS RESOURCE variable=p core=DSP48`` (UG902);
* ``nnet::product::fsic_mult_lut`` -- ``impl=fabric`` / ``core=Mul_LUT``.

Same interface and arithmetic as ``nnet::product::mult`` (C simulation is bit-exact). Only a plain ``mult`` product
is replaced: hls4ml's binary / ternary / exponential products (no multiplier) stay as they are.

Who names the class:

* ``FsicConv2DTranspose`` and ``FsicFusedConvBlock`` (conv part and BatchNorm epilogue): their own config templates,
  through :func:`product_type` / :func:`bind_config`;
* hls4ml's ``Conv2D`` / ``PointwiseConv2D``: :class:`BindMultipliers`, a template pass registered after every other
  template (:mod:`pipeline.extensions.registry`, last in ``TEMPLATES``), which rewrites the product line of the
  layer's already-formatted ``config<i>_mult`` -- hls4ml fills ``product_type`` from the backend's global
  ``product_type()`` with no per-layer hook. It also adds ``nnet_fsic_mult.h`` to every bound layer's includes
  (after the layer's function template has set them). It refuses a bound layer whose config has no product line to
  rewrite, so a change of pass order fails the conversion instead of silently emitting unbound code.
"""
from __future__ import annotations

import re
from pathlib import Path

from hls4ml.backends.template import Template

NNET_DIR = Path(__file__).resolve().parent / "nnet_utils"
HEADERS = ("nnet_fsic_mult.h",)
ATTR = "fsic_mult_binding"
CONFIG_KEY = "FsicMultBinding"
BINDINGS = ("dsp", "lut")
#: IR classes whose multiplies follow the binding (the classes the estimator's conv / convT rows stand for)
BOUND_CLASSES = ("Conv2D", "PointwiseConv2D", "FsicConv2DTranspose", "FsicFusedConvBlock")
_CONFIG_SIDE = ("Conv2D", "PointwiseConv2D")  # hls4ml's templates: rewritten by BindMultipliers
_PRODUCT_RE = re.compile(r"using product = nnet::product::mult<x_T, y_T>;")

__all__ = ["ATTR", "BINDINGS", "BOUND_CLASSES", "CONFIG_KEY", "HEADERS", "BindMultipliers", "bind_config",
           "binding_of", "product_class", "product_type"]


def binding_of(node) -> str | None:
    """The node's binding (``'dsp'`` / ``'lut'``) or None (hls4ml's own product)."""
    b = node.get_attr(ATTR, None)
    if b is None:
        return None
    b = str(b).lower()
    if b not in BINDINGS:
        raise ValueError(f"layer '{node.name}': {CONFIG_KEY} must be one of {', '.join(BINDINGS)}, got {b!r}")
    return b


def product_class(binding: str) -> str:
    """The product class (in ``nnet::product``) for a binding."""
    return f"fsic_mult_{binding}"


def product_type(node, default: str) -> str:
    """What a config template writes into ``using product = nnet::product::{product_type}<x_T, y_T>``: hls4ml's
    ``default`` (``backend.product_type(...)``) unless the node is bound and ``default`` is a real multiply."""
    b = binding_of(node)
    return product_class(b) if b and default == "mult" else default


def bind_config(text: str, node) -> str:
    """``text`` (a formatted layer config) with every ``nnet::product::mult`` product line naming the node's bound
    class; unchanged for an unbound node."""
    b = binding_of(node)
    if not b:
        return text
    return _PRODUCT_RE.sub(f"using product = nnet::product::{product_class(b)}<x_T, y_T>;", text)


class BindMultipliers(Template):
    """Late template pass (see the module docstring): bound ``Conv2D`` / ``PointwiseConv2D`` get our product class in
    their ``config_cpp``; every bound layer gets ``nnet_utils/nnet_fsic_mult.h`` in its ``include_header``."""

    def __init__(self):
        super().__init__("fsic_bind_multipliers", [], "config_cpp")

    def match(self, node):
        return node.class_name in BOUND_CLASSES and binding_of(node) is not None

    def transform(self, model, node):
        include = f"nnet_utils/{HEADERS[0]}"
        heads = list(node.get_attr("include_header", None) or [])
        if include not in heads:
            node.set_attr("include_header", [*heads, include])  # a list: the writer sum()s them
        if node.class_name in _CONFIG_SIDE:
            cfg = node.get_attr("config_cpp", None)
            if not cfg:
                raise RuntimeError(f"{self.name}: layer '{node.name}' has no config yet (this pass must run after "
                                   "hls4ml's config templates)")
            if "using product = nnet::product::" not in cfg:
                raise RuntimeError(f"{self.name}: layer '{node.name}': no product line in its config to bind")
            node.set_attr("config_cpp", bind_config(cfg, node))  # idempotent; a non-'mult' product stays
        return False
