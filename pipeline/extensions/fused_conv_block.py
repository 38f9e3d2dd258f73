"""Fused conv block for hls4ml 1.3 (Vivado and Vitis backends, io_stream): Conv2D / FsicConv2DTranspose ->
BatchNormalization (our FxpBatchNorm) -> ReLU as ONE IR layer ``FsicFusedConvBlock`` and ONE dataflow process.

Why: hls4ml gives every conv block three dataflow processes (conv, BatchNorm, ReLU) joined by two feature-map-deep
FIFOs (channels x accumulator bits, channels x BN bits). hls4ml cannot merge them itself: ``bn_fuse`` refuses a
quantized conv followed by a non-unit-scale BatchNorm and it has no ReLU merge pass (PR #586, unmerged).

What this module holds (registered with hls4ml by :mod:`pipeline.extensions.registry`):

* :func:`chain_of` -- the matcher: ``(bn, relu)`` when a conv node heads a fusable chain, else the reason it does not;
* the optimizer pass :class:`FuseConvBlocks` (``fsic_fuse_conv_blocks``). It is appended to the backends'
  ``specific_types`` flow (``vivado:specific_types``, which Vitis runs too), i.e. it runs after everything that shapes
  the conv node -- our FoldBatchNorm and precision passes (``convert`` flow), hls4ml's ``infer_precision_types``,
  the layer-init passes (Strategy, ReuseFactor snapping, our ConvT weight layout), the streaming passes (zero padding
  before a 'same' conv, Clone layers for tensors used twice), the pointwise (1x1) conversion, the Resource weight
  transposition and the backend type conversion -- and before the templates. The fused node therefore takes the
  conv exactly as hls4ml would have emitted it (attributes, index, weights, types);
* the IR layer :class:`FsicFusedConvBlock` (built only by the pass) and its config / function-call templates. The
  config is the producer's own hls4ml config (``Conv2DConfigTemplate`` / our ``Conv2DTransposeConfigTemplate``,
  unchanged) plus an epilogue struct ``config<i>_fsic``; the kernels are in
  ``nnet_utils/nnet_fsic_fused_conv_block_stream.h``.

Matching. Only chains whose conv layer has ``fsic_fuse`` set (hls4ml layer config ``FsicFuse: true``; the converter
sets it on every QConv2D / QConv2DTranspose when ``hls.fuse_conv_blocks`` is true) and: io_stream; producer
``Conv2D`` (line-buffer implementation), ``PointwiseConv2D`` (hls4ml's form of a 1x1 conv) or
``FsicConv2DTranspose``; Strategy Latency or Resource; channels_last; the conv's output consumed only by a
per-channel FxpBatchNorm (``BatchNormalization`` with ``fsic_fxp``), the BatchNorm's output consumed only by a
``relu`` Activation; neither intermediate tensor a model output; every type fixed-point. Anything else (a conv without
BatchNorm, a BatchNorm without ReLU, a BatchNorm or conv output used twice, io_parallel, ...) is left alone. The
ReLU's output may have any number of consumers (hls4ml has put a Clone after it already): the fused node produces
the ReLU's output variable itself, so clones, pools and concatenations downstream are untouched.

Exactness. The kernel runs the conv's own line buffer and dense kernel, casts the dense result to the conv's former
result type, then per channel ``y = product(x, scale) + bias`` cast to the BatchNorm result type (AP_TRN, AP_SAT) and
``y > 0 ? y : 0`` cast to the ReLU type (AP_RND_CONV, AP_SAT) -- the same operations on the same types as hls4ml's
``normalize`` and ``relu`` kernels, so the fused project is bit-identical to the unfused one (and to Keras). With
``hls.fold_batchnorm`` the BatchNorm's shift already sits in the conv bias; the epilogue is unchanged.

Epilogue schedule: pipelined at II = ``epilogue_reuse`` (default the conv's ReuseFactor; per conv layer config
``FsicEpilogueReuse``) with ``ceil(Cout / epilogue_reuse)`` multipliers (:func:`epilogue_multipliers`).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
from hls4ml.backends.vivado.passes.convolution_templates import Conv2DConfigTemplate
from hls4ml.model.attributes import Attribute, TypeAttribute, WeightAttribute
from hls4ml.model.layers import BatchNormalization, Layer
from hls4ml.model.optimizer import OptimizerPass
from hls4ml.model.types import NamedType, TensorVariable

from .conv2d_transpose import LAYER_NAME as CONVT_LAYER_NAME
from .conv2d_transpose import Conv2DTransposeConfigTemplate
from .fixed import from_hls

LAYER_NAME = "FsicFusedConvBlock"
NNET_DIR = Path(__file__).resolve().parent / "nnet_utils"
HEADERS = ("nnet_fsic_fused_conv_block_stream.h",)
FUSE_PASS = "fsic_fuse_conv_blocks"
#: the backend flow (``<backend>:<FLOW>`` of each backend's default 'ip' flow) the pass is appended to
FLOW = "specific_types"
#: producer IR class -> kernel (``nnet::fsic_fused_<kernel>_cl``)
PRODUCERS = {"Conv2D": "conv_2d", "PointwiseConv2D": "pointwise_conv_2d", CONVT_LAYER_NAME: "conv2d_transpose"}
STRATEGIES = ("latency", "resource")

__all__ = ["FLOW", "FUSE_PASS", "HEADERS", "LAYER_NAME", "PRODUCERS", "FsicFusedConvBlock",
           "FusedConvBlockConfigTemplate", "FusedConvBlockFunctionTemplate", "FuseConvBlocks", "chain_of",
           "conv_multiplies", "epilogue_multipliers"]


# --------------------------------------------------------------------------------------------------------------------
# matching (pure graph inspection)
# --------------------------------------------------------------------------------------------------------------------
def _sole_consumer(node):
    """The only node reading ``node``'s (single) output, or None (none, several, or the output is a model output)."""
    out = node.outputs[0]
    if len(node.outputs) != 1 or out in node.model.outputs:
        return None
    users = [n for n in node.model.get_layers() if out in n.inputs]
    if len(users) != 1 or len(users[0].inputs) != 1:
        return None
    return users[0]


def _producer_refusal(conv) -> str | None:
    """Why ``conv`` cannot head a fused block (None: it can)."""
    if conv.class_name not in PRODUCERS:
        return f"{conv.class_name} is not a fusable producer ({', '.join(PRODUCERS)})"
    if str(conv.model.config.get_config_value("IOType")).lower() != "io_stream":
        return "only io_stream has a fused kernel"
    strategy = str(conv.get_attr("strategy", "")).lower()
    if strategy not in STRATEGIES:
        return f"strategy {strategy!r} (only Latency, Resource)"
    if conv.class_name == "Conv2D" and str(conv.get_attr("implementation", "linebuffer")).lower() != "linebuffer":
        return f"conv implementation {conv.get_attr('implementation')!r} (only LineBuffer)"
    if conv.get_attr("data_format", "channels_last") != "channels_last":
        return "channels_first"
    return None


def chain_of(conv):
    """``((bn, relu), None)`` when ``conv`` heads a fusable Conv -> FxpBatchNorm -> ReLU chain (module docstring),
    else ``(None, reason)``. Ignores the ``fsic_fuse`` opt-in flag (the pass checks it)."""
    reason = _producer_refusal(conv)
    if reason:
        return None, reason
    bn = _sole_consumer(conv)
    if not (isinstance(bn, BatchNormalization) and bn.get_attr("fsic_fxp", False)):
        return None, "the conv's output is not read by one FxpBatchNorm only"
    if bn.get_attr("n_filt") != conv.get_attr("n_filt"):
        return None, "the BatchNorm is not per output channel"
    relu = _sole_consumer(bn)
    if relu is None or relu.class_name != "Activation" or str(relu.get_attr("activation", "")).lower() != "relu":
        return None, "the BatchNorm's output is not read by one ReLU only"
    types = (conv.get_output_variable().type, bn.weights["scale"].type, bn.weights["bias"].type,
             bn.get_output_variable().type, relu.get_output_variable().type)
    if any(from_hls(t.precision) is None for t in types):
        return None, "a type in the chain is not fixed-point"
    return (bn, relu), None


# --------------------------------------------------------------------------------------------------------------------
# counts (shared with the converter's layer table and the estimator)
# --------------------------------------------------------------------------------------------------------------------
def conv_multiplies(node) -> int:
    """Multiplies per frame of the conv part of a producer / fused node (MACs: out pixels x dense size)."""
    px = int(node.get_attr("out_height")) * int(node.get_attr("out_width"))
    if node.get_attr("fsic_producer", node.class_name) == CONVT_LAYER_NAME:
        n_in = node.get_attr("n_taps_h") * node.get_attr("n_taps_w") * node.get_attr("n_chan")
    else:
        n_in = node.get_attr("filt_height") * node.get_attr("filt_width") * node.get_attr("n_chan")
    return int(px * n_in * node.get_attr("n_filt"))


def epilogue_multipliers(n_filt: int, epilogue_reuse: int) -> int:
    """BatchNorm multipliers of the fused epilogue: ``ceil(Cout / epilogue_reuse)`` (at least 1)."""
    return max(1, math.ceil(int(n_filt) / max(1, int(epilogue_reuse))))


# --------------------------------------------------------------------------------------------------------------------
# IR layer
# --------------------------------------------------------------------------------------------------------------------
class FsicFusedConvBlock(Layer):
    """Conv (its own attributes, weights ``weight``/``bias`` and types) + BatchNorm (weights ``bn_scale``/``bn_bias``,
    types ``conv_result_t`` = its input, ``bn_result_t``) + ReLU (the output variable). Built only by
    :class:`FuseConvBlocks` (``initialize=False``), never by a parser."""

    _expected_attributes = [
        Attribute("n_chan"),
        Attribute("n_filt"),
        Attribute("out_height"),
        Attribute("out_width"),
        Attribute("epilogue_reuse"),
        WeightAttribute("weight"),
        WeightAttribute("bias"),
        WeightAttribute("bn_scale"),
        WeightAttribute("bn_bias"),
        TypeAttribute("accum"),
        TypeAttribute("conv_result"),
        TypeAttribute("bn_result"),
    ]

    def initialize(self):
        raise RuntimeError(f"{LAYER_NAME} is created by the '{FUSE_PASS}' pass only")

    @property
    def mult_size(self):
        """(n_in, n_out) of the per-pixel dense product (what ``Conv2DTransposeConfigTemplate`` reads)."""
        if self.get_attr("fsic_producer") == CONVT_LAYER_NAME:
            n_in = self.get_attr("n_taps_h") * self.get_attr("n_taps_w") * self.get_attr("n_chan")
        else:
            n_in = self.get_attr("filt_height") * self.get_attr("filt_width") * self.get_attr("n_chan")
        return (n_in, self.get_attr("n_filt"))


# --------------------------------------------------------------------------------------------------------------------
# the pass
# --------------------------------------------------------------------------------------------------------------------
class FuseConvBlocks(OptimizerPass):
    """Replace an opted-in Conv -> FxpBatchNorm -> ReLU chain by one :class:`FsicFusedConvBlock` (module docstring)."""

    def match(self, node):
        return bool(node.get_attr("fsic_fuse", False)) and chain_of(node)[0] is not None

    def transform(self, model, node):
        # every matching chain at once (they are disjoint): the flow restarts once, not once per block
        for conv in [n for n in model.graph.values() if self.match(n)]:
            _fuse(model, conv)
        return True


def _fuse(model, conv) -> None:
    """Replace ``conv`` -> BN -> ReLU in ``model``'s graph by one fused node at the conv's position."""
    (bn, relu), _ = chain_of(conv)
    fused = model.make_node(LAYER_NAME, conv.name, _fused_attributes(conv, bn, relu), list(conv.inputs),
                            outputs=list(relu.outputs), initialize=False)
    model.graph = OrderedDict((k, fused if k == conv.name else v) for k, v in model.graph.items()
                              if k not in (bn.name, relu.name))
    for name in (conv.outputs[0], bn.outputs[0]):  # their FIFOs disappear
        model.output_vars.pop(name, None)


def _fused_attributes(conv, bn, relu) -> dict:
    """The fused node's attributes: the conv's (index, geometry, strategy, weights, types; not its output), the
    BatchNorm's weights, the two intermediate types as scalar types, the ReLU's output variable."""
    attrs = {k: v for k, v in conv.attributes.items()
             if not isinstance(v, TensorVariable) and k not in ("result_t", "function_cpp", "config_cpp",
                                                                "include_header")}
    epi = int(conv.get_attr("fsic_epilogue_reuse", conv.get_attr("reuse_factor", 1)) or 1)
    n_filt = int(conv.get_attr("n_filt"))
    attrs.update(
        bn_scale=bn.weights["scale"],
        bn_bias=bn.weights["bias"],
        conv_result_t=NamedType(f"{conv.name}_conv_result_t", conv.get_output_variable().type.precision),
        bn_result_t=NamedType(f"{conv.name}_bn_result_t", bn.get_output_variable().type.precision),
        fsic_producer=conv.class_name,
        fsic_fused={"conv": conv.name, "bn": bn.name, "relu": relu.name, "producer": conv.class_name},
        epilogue_reuse=epi,
        epilogue_mults=epilogue_multipliers(n_filt, epi),
        fsic_multiplies=conv_multiplies(conv) + int(conv.get_attr("out_height")) * int(conv.get_attr("out_width"))
        * n_filt,
    )
    attrs[relu.outputs[0]] = relu.get_output_variable()
    return attrs


# --------------------------------------------------------------------------------------------------------------------
# templates (the same C++ for Vivado and Vitis)
# --------------------------------------------------------------------------------------------------------------------
fused_epilogue_config_template = """struct config{index}_fsic : nnet::fsic_fused_block_config {{
    static const unsigned n_filt = {n_filt};
    static const unsigned reuse_factor = {epilogue_reuse};
    static const unsigned n_mult = {epilogue_mults};
    typedef {conv_result_t.name} conv_res_t;
    typedef {bn_result_t.name} bn_res_t;
    typedef {bn_scale_t.name} scale_t;
    typedef {bn_bias_t.name} bias_t;
    template<class x_T, class y_T>
    using product = nnet::product::{product_type}<x_T, y_T>;
    typedef config{index} conv_config;
}};\n"""

_PRODUCER_TEMPLATES = {"Conv2D": Conv2DConfigTemplate, "PointwiseConv2D": Conv2DConfigTemplate,
                       CONVT_LAYER_NAME: Conv2DTransposeConfigTemplate}


class FusedConvBlockConfigTemplate(LayerConfigTemplate):
    """The producer's own hls4ml config (``config<i>_mult`` + ``config<i>``), then the epilogue's ``config<i>_fsic``."""

    def __init__(self):
        super().__init__(FsicFusedConvBlock)

    def format(self, node):
        producer = _PRODUCER_TEMPLATES[node.get_attr("fsic_producer")]()
        params = self._default_config_params(node)
        from . import mult_binding  # hls.multiplier_binding: conv part and epilogue (mult_binding.py)

        params["product_type"] = mult_binding.product_type(node, node.model.config.backend.product_type(
            node.types["conv_result_t"].precision, node.weights["bn_scale"].type.precision
        ))
        return (mult_binding.bind_config(producer.format(node), node) + "\n"
                + fused_epilogue_config_template.format(**params))


class FusedConvBlockFunctionTemplate(FunctionCallTemplate):
    def __init__(self):
        super().__init__(FsicFusedConvBlock, include_header=[f"nnet_utils/{h}" for h in HEADERS])

    def format(self, node):
        params = self._default_function_params(node)
        kernel = PRODUCERS[node.get_attr("fsic_producer")]
        args = ", ".join([params["input"], params["output"]]
                         + [node.get_weights(w).name for w in ("weight", "bias", "bn_scale", "bn_bias")])
        return f"nnet::fsic_fused_{kernel}_cl<{params['input_t']}, {params['output_t']}, config{node.index}_fsic>" \
               f"({args});"
