"""Conv2DTranspose / QConv2DTranspose for hls4ml 1.3 (Vivado and Vitis backends, io_parallel and io_stream).

What this module holds (registered with hls4ml by :mod:`pipeline.extensions.registry`):

* geometry helpers (pure Python, also used by the bench): :func:`output_size`, :func:`pad_before`, :func:`n_taps`,
  :func:`phase_weights`, :func:`resource_word_order`, :func:`multiplies_per_output_pixel`;
* the Keras v2 parser :func:`parse_conv2d_transpose` for ``Conv2DTranspose`` and ``QConv2DTranspose`` -> IR layer
  ``FsicConv2DTranspose`` (a name hls4ml itself does not use). Unsupported attributes raise
  :class:`UnsupportedLayerError` at conversion;
* the IR layer :class:`FsicConv2DTranspose`. Its weights are stored *per stride phase* (see below), shape
  ``(s_h*s_w, M_h*M_w*Cin, Cout)`` for Latency (phase-major, hls4ml's DenseLatency order per phase) and, for
  Resource, in the phase-major Resource *word* order of :func:`resource_word_order`, shape
  ``(block_factor, s_h*s_w, RF)``: flat index ``(phase*RF + ir) + im*(s_h*s_w*RF)``, so that the kernel's
  ``ARRAY_RESHAPE block factor=block_factor`` turns word ``phase*RF + ir`` into the weights of one ReuseLoop
  iteration (one word per cycle);
* optimizer passes :class:`InferConv2DTransposePrecision` (global, runs in the ``convert`` flow just before hls4ml's
  ``infer_precision_types``) and :class:`InitConv2DTranspose` (strategy / ReuseFactor validation and Resource weight
  layout, in the backend's ``init_layers`` flow);
* config / function-call templates :class:`Conv2DTransposeConfigTemplate` / :class:`Conv2DTransposeFunctionTemplate`;
  kernels ``nnet_utils/nnet_conv2d_transpose.h`` (io_parallel) and ``nnet_utils/nnet_conv2d_transpose_stream.h``
  (io_stream).

Stride-phase decomposition. Keras kernel ``K`` has shape ``(k_h, k_w, Cout, Cin)``; the un-cropped ("full") output is
``y[t, u] = sum_{iy*s_h+ky = t, ix*s_w+kx = u} x[iy, ix] K[ky, kx]``. Output pixel ``(oy, ox)`` is full pixel
``(t, u) = (oy + pad_top, ox + pad_left)``. With phase ``p = t mod s``, base ``q = t div s`` and ``M = ceil(k / s)``,
the contributing input rows are ``q - m`` with kernel rows ``ky = p + m*s`` (``m < M``, taps ``ky >= k`` are zero). So
every output pixel is one dense product of the ``M_h x M_w x Cin`` input window ending at ``(q, q_x)`` with the weight
matrix of phase ``(p_y, p_x)`` -- no inserted zeros are multiplied. For k=2, s=2 (the U-Net), M=1: Cin*Cout multiplies
per output pixel, i.e. exactly Cin*Cout*k^2 per input pixel.

Precision (when ``accum``/``result``/``weight``/``bias`` are ``auto``/unspecified): weight and bias types come from the
QKeras quantizers (else the model default); accumulator = :func:`pipeline.extensions.fixed.exact_accum` of
``M_h*M_w*Cin`` products plus the bias when the layer has one; result = accumulator. Set explicit types through the
usual hls4ml config dict:
``hls_config['LayerName'][name]['Precision'] = {'weight': ..., 'bias': ..., 'accum': ..., 'result': ...}``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
from hls4ml.converters.keras.qkeras import get_quantizer_from_config
from hls4ml.converters.keras_v2_to_hls import get_weights_data, parse_default_keras_layer
from hls4ml.model.attributes import Attribute, TypeAttribute, WeightAttribute
from hls4ml.model.layers import Layer
from hls4ml.model.optimizer import OptimizerPass
from hls4ml.model.types import UnspecifiedPrecisionType

from .errors import UnsupportedLayerError
from .fixed import exact_accum, from_hls, to_hls

LAYER_NAME = "FsicConv2DTranspose"
KERAS_CLASSES = ("Conv2DTranspose", "QConv2DTranspose")
NNET_DIR = Path(__file__).resolve().parent / "nnet_utils"
HEADERS = ("nnet_conv2d_transpose.h", "nnet_conv2d_transpose_stream.h")

PRECISION_PASS = "fsic_conv2d_transpose_infer_precision"
INIT_PASS = "fsic_conv2d_transpose_init"


# --------------------------------------------------------------------------------------------------------------------
# geometry helpers (pure Python; shared by the parser, the IR layer and the bench)
# --------------------------------------------------------------------------------------------------------------------
def output_size(in_size: int, k: int, s: int, padding: str) -> int:
    """Keras ``deconv_output_length`` with output_padding=None, dilation=1."""
    if padding == "valid":
        return in_size * s + max(k - s, 0)
    if padding == "same":
        return in_size * s
    raise ValueError(padding)


def pad_before(k: int, s: int, padding: str) -> int:
    """Rows/cols cropped at the top/left of the full transposed-conv output (TF convention: the smaller half first)."""
    if padding == "valid":
        return 0
    return max(k - s, 0) // 2


def n_taps(k: int, s: int) -> int:
    return -(-k // s)


def phase_weights(kernel: np.ndarray, stride: tuple[int, int]) -> np.ndarray:
    """Rearrange a Keras ConvT kernel ``(k_h, k_w, Cout, Cin)`` into ``(s_h*s_w, M_h*M_w*Cin, Cout)``.

    Phase ``p = p_y*s_w + p_x``; window row index ``(m*M_w + n)*Cin + c`` is input pixel ``(q - m, q_x - n)``,
    channel c.
    """
    kh, kw, cout, cin = kernel.shape
    sh, sw = stride
    mh, mw = n_taps(kh, sh), n_taps(kw, sw)
    out = np.zeros((sh * sw, mh * mw * cin, cout), dtype=kernel.dtype)
    for py in range(sh):
        for px in range(sw):
            for m in range(mh):
                ky = py + m * sh
                if ky >= kh:
                    continue
                for n in range(mw):
                    kx = px + n * sw
                    if kx >= kw:
                        continue
                    row = (m * mw + n) * cin
                    out[py * sw + px, row : row + cin, :] = kernel[ky, kx].T  # (Cin, Cout)
    return out


def resource_word_order(phase_w: np.ndarray, rf: int) -> np.ndarray:
    """Strategy Resource weight layout: per-phase matrices ``(P, n_in, n_out)`` (:func:`phase_weights`) -> the
    phase-major Resource word order, shape ``(block_factor, P, RF)`` (C order = the flat C++ array).

    ``out[im, phase, ir] = W_phase[o][i]`` with ``o*n_in + i = ir + im*RF`` (hls4ml's transposed Resource matrix
    ``(n_out, n_in)``, read by ``dense_resource`` at ReuseLoop iteration ``ir``, MultLoop lane ``im``), i.e. flat index
    ``(phase*RF + ir) + im*(P*RF)``. The kernel's ``ARRAY_RESHAPE block factor=block_factor`` (block length ``P*RF``)
    packs flat elements ``w, w + P*RF, ...`` into word ``w``: word ``phase*RF + ir`` is exactly the ``block_factor``
    weights one ReuseLoop iteration of one phase multiplies -- one ROM word per cycle, ``P*RF`` words.
    ``RF`` must divide ``n_in*n_out`` (every ReuseFactor hls4ml's snapping produces does).
    """
    p, n_in, n_out = phase_w.shape
    if (n_in * n_out) % rf:
        raise ValueError(f"ReuseFactor {rf} does not divide n_in*n_out = {n_in * n_out}")
    bf = n_in * n_out // rf
    wt = np.transpose(phase_w, (0, 2, 1)).reshape(p, bf, rf)  # (P, n_out*n_in) row-major, split as [im][ir]
    return np.ascontiguousarray(np.transpose(wt, (1, 0, 2)))


def multiplies_per_output_pixel(layer) -> dict:
    """Multiply counts of the generated kernel for one ConvT layer.

    ``layer`` is a Keras (Q)Conv2DTranspose layer, an hls4ml ``FsicConv2DTranspose`` node, or a dict with keys
    ``kernel_size, strides, n_chan, n_filt``. Returns ``generated`` (multiplications instantiated per output pixel:
    ``M_h*M_w*Cin*Cout``), ``useful`` (non-structurally-zero ones, averaged over the phases),
    ``per_input_pixel`` (generated * s_h*s_w) and ``zero_insertion`` (what a zero-inserting implementation --
    UpSampling/zero-stuffing + k x k conv -- multiplies per output pixel: ``k_h*k_w*Cin*Cout``).
    """
    if isinstance(layer, dict):
        (kh, kw), (sh, sw), cin, cout = layer["kernel_size"], layer["strides"], layer["n_chan"], layer["n_filt"]
    elif hasattr(layer, "get_attr"):
        kh, kw = layer.get_attr("filt_height"), layer.get_attr("filt_width")
        sh, sw = layer.get_attr("stride_height"), layer.get_attr("stride_width")
        cin, cout = layer.get_attr("n_chan"), layer.get_attr("n_filt")
    else:
        kh, kw = layer.kernel_size
        sh, sw = layer.strides
        cin, cout = int(layer.kernel.shape[-1]), layer.filters  # kernel: (k_h, k_w, Cout, Cin)
    mh, mw = n_taps(kh, sh), n_taps(kw, sw)
    generated = mh * mw * cin * cout
    return {
        "generated": generated,
        "useful": kh * kw * cin * cout / (sh * sw),
        "per_input_pixel": generated * sh * sw,
        "zero_insertion": kh * kw * cin * cout,
    }


# --------------------------------------------------------------------------------------------------------------------
# parser
# --------------------------------------------------------------------------------------------------------------------
def _pair(v):
    if isinstance(v, (list, tuple)):
        return tuple(int(x) for x in v)
    return (int(v), int(v))


def _check_quantizer(name, cls, qcfg, which):
    if qcfg is None:
        return
    qname = qcfg.get("class_name")
    if qname != "quantized_bits":
        raise UnsupportedLayerError(name, cls, f"{which}_quantizer", qname, "quantized_bits")
    alpha = qcfg.get("config", {}).get("alpha", None)
    if alpha not in (None, 1, 1.0):
        raise UnsupportedLayerError(name, cls, f"{which}_quantizer.alpha", alpha, "1 or None")


def parse_conv2d_transpose(keras_layer, input_names, input_shapes, data_reader):
    """hls4ml Keras v2 handler: a (Q)Conv2DTranspose layer dict -> an ``FsicConv2DTranspose`` layer dict + shape."""
    cls = keras_layer["class_name"]
    cfg = keras_layer["config"]
    name = cfg["name"]

    fmt = cfg.get("data_format", "channels_last")
    if fmt != "channels_last":
        raise UnsupportedLayerError(name, cls, "data_format", fmt, "'channels_last'")
    dil = _pair(cfg.get("dilation_rate", 1))
    if dil != (1, 1):
        raise UnsupportedLayerError(name, cls, "dilation_rate", dil, "1")
    if cfg.get("output_padding") is not None:
        raise UnsupportedLayerError(name, cls, "output_padding", _pair(cfg["output_padding"]), "None")
    padding = cfg.get("padding", "valid")
    if padding not in ("valid", "same"):
        raise UnsupportedLayerError(name, cls, "padding", padding, "'valid' or 'same'")
    if cls == "QConv2DTranspose":
        _check_quantizer(name, cls, cfg.get("kernel_quantizer"), "kernel")
        _check_quantizer(name, cls, cfg.get("bias_quantizer"), "bias")

    layer = parse_default_keras_layer(keras_layer, input_names)
    layer["class_name"] = LAYER_NAME
    layer["keras_class_name"] = cls
    _, in_h, in_w, n_chan = input_shapes[0]
    kh, kw = _pair(cfg["kernel_size"])
    sh, sw = _pair(cfg["strides"])
    layer.update(
        in_height=in_h,
        in_width=in_w,
        n_chan=n_chan,
        n_filt=cfg["filters"],
        filt_height=kh,
        filt_width=kw,
        stride_height=sh,
        stride_width=sw,
        out_height=output_size(in_h, kh, sh, padding),
        out_width=output_size(in_w, kw, sw, padding),
        pad_top=pad_before(kh, sh, padding),
        pad_left=pad_before(kw, sw, padding),
        n_taps_h=n_taps(kh, sh),
        n_taps_w=n_taps(kw, sw),
        padding=padding,
    )
    layer["weight_data"] = get_weights_data(data_reader, name, "kernel")
    layer["bias_data"] = get_weights_data(data_reader, name, "bias") if cfg.get("use_bias", True) else None
    if cls == "QConv2DTranspose":
        layer["weight_quantizer"] = get_quantizer_from_config(keras_layer, "kernel")
        layer["bias_quantizer"] = get_quantizer_from_config(keras_layer, "bias")
    return layer, [input_shapes[0][0], layer["out_height"], layer["out_width"], layer["n_filt"]]


# --------------------------------------------------------------------------------------------------------------------
# IR layer
# --------------------------------------------------------------------------------------------------------------------
class FsicConv2DTranspose(Layer):
    """Transposed 2D convolution, channels_last, weights stored per stride phase (see module docstring)."""

    _expected_attributes = [
        Attribute("in_height"),
        Attribute("in_width"),
        Attribute("n_chan"),
        Attribute("out_height"),
        Attribute("out_width"),
        Attribute("n_filt"),
        Attribute("filt_height"),
        Attribute("filt_width"),
        Attribute("stride_height"),
        Attribute("stride_width"),
        Attribute("pad_top"),
        Attribute("pad_left"),
        Attribute("n_taps_h"),
        Attribute("n_taps_w"),
        WeightAttribute("weight"),
        WeightAttribute("bias"),
        TypeAttribute("weight"),
        TypeAttribute("bias"),
        TypeAttribute("accum"),
    ]

    def initialize(self):
        self.add_output_variable([self.get_attr("out_height"), self.get_attr("out_width"), self.get_attr("n_filt")])
        kernel = np.asarray(self.get_attr("weight_data"), dtype=np.float32)
        quantizer = self.get_attr("weight_quantizer")
        precision = type_name = None
        if quantizer is not None:
            kernel = quantizer(kernel)  # same tensor shape QKeras quantizes, (k_h, k_w, Cout, Cin)
            precision, type_name = quantizer.hls_type, "weight{index}_t"
        data = phase_weights(kernel, (self.get_attr("stride_height"), self.get_attr("stride_width")))
        self.add_weights_variable(
            name="weight", var_name="w{index}", type_name=type_name, precision=precision, data=data
        )
        self.add_bias(quantizer=self.get_attr("bias_quantizer"))

    @property
    def mult_size(self):
        """(n_in, n_out) of the per-phase dense product: (M_h*M_w*Cin, Cout)."""
        n_in = self.get_attr("n_taps_h") * self.get_attr("n_taps_w") * self.get_attr("n_chan")
        return (n_in, self.get_attr("n_filt"))


# --------------------------------------------------------------------------------------------------------------------
# optimizer passes
# --------------------------------------------------------------------------------------------------------------------
class InferConv2DTransposePrecision(OptimizerPass):
    """Exact accumulator/result types for FsicConv2DTranspose (runs before hls4ml's infer_precision_types, which would
    give an unknown layer's unspecified types the model default)."""

    def match(self, node):
        if not isinstance(node, FsicConv2DTranspose):
            return False
        inp = node.get_input_variable()
        if inp is None or isinstance(inp.type.precision, UnspecifiedPrecisionType):
            return False
        return any(isinstance(t.precision, UnspecifiedPrecisionType) for t in node.types.values())

    def transform(self, model, node):
        default = model.config.backend.convert_precision_string(model.config.model_precision["default"])
        for var, qattr in (("weight", "weight_quantizer"), ("bias", "bias_quantizer")):
            t = node.types[f"{var}_t"]
            if isinstance(t.precision, UnspecifiedPrecisionType):
                q = node.get_attr(qattr)
                t.name = f"{node.name}_{var}_t"
                t.precision = q.hls_type if q is not None else default
                node.weights[var].update_precision(t.precision)
        x = from_hls(node.get_input_variable().type.precision)
        w = from_hls(node.types["weight_t"].precision)
        b = from_hls(node.types["bias_t"].precision)
        if x is not None and w is not None and b is not None:
            n_terms = node.mult_size[0]
            accum = to_hls(exact_accum(x, w, n_terms, b if node.get_attr("bias_data") is not None else None))
        else:
            accum = default
        changed_result = False
        for var in ("accum", "result"):  # result 'auto' = the accumulator type (user-set or derived): exact
            t = node.types[f"{var}_t"]
            if isinstance(t.precision, UnspecifiedPrecisionType):
                t.name = f"{node.name}_{var}_t"
                t.precision = accum
                changed_result |= var == "result"
            accum = t.precision
        return changed_result


class InitConv2DTranspose(OptimizerPass):
    """Strategy + ReuseFactor (validated/snapped like hls4ml's Conv2D) and the Resource weight layout
    (:func:`resource_word_order`)."""

    def match(self, node):
        return isinstance(node, FsicConv2DTranspose) and not node.get_attr("_fsic_init_done", False)

    def transform(self, model, node):
        node.set_attr("reuse_factor", model.config.get_reuse_factor(node))
        strategy = model.config.get_strategy(node).lower()
        n_in, n_out = node.mult_size
        if strategy == "resource":
            node.set_attr("strategy", "resource")
            model.config.backend.set_closest_reuse_factor(node, n_in, n_out)
            rf = int(node.get_attr("reuse_factor"))
            if (n_in * n_out) % rf:  # hls4ml's valid RFs always divide n_in*n_out; refuse rather than mis-lay
                raise UnsupportedLayerError(node.name, node.get_attr("keras_class_name", LAYER_NAME), "ReuseFactor",
                                            rf, f"a divisor of n_in*n_out = {n_in * n_out}")
            w = node.weights["weight"]
            w.data = resource_word_order(w.data, rf)
            w.shape = list(w.data.shape)
            node.set_attr("weight_layout_rf", rf)
        elif strategy == "latency":
            node.set_attr("strategy", "latency")
        else:
            raise UnsupportedLayerError(node.name, node.get_attr("keras_class_name", LAYER_NAME), "Strategy",
                                        strategy, "'Latency' or 'Resource'")
        node.set_attr("_fsic_init_done", True)
        return False


# --------------------------------------------------------------------------------------------------------------------
# templates (the same C++ for Vivado and Vitis)
# --------------------------------------------------------------------------------------------------------------------
conv2d_transpose_mult_config_template = """struct config{index}_mult : nnet::dense_config {{
    static const unsigned n_in = {n_in};
    static const unsigned n_out = {n_out};
    static const unsigned io_type = nnet::io_parallel;
    static const unsigned reuse_factor = {reuse};
    static const unsigned strategy = nnet::{strategy};
    static const unsigned n_zeros = {nzeros};
    static const unsigned multiplier_limit = DIV_ROUNDUP(n_in * n_out, reuse_factor) - n_zeros / reuse_factor;
    static const bool store_weights_in_bram = false;
    typedef {accum_t.name} accum_t;
    typedef {bias_t.name} bias_t;
    typedef {weight_t.name} weight_t;
    template<class data_T, class res_T, class CONFIG_T>
    using kernel = {dense_function}<data_T, res_T, CONFIG_T>;
    template<class x_T, class y_T>
    using product = nnet::product::{product_type}<x_T, y_T>;
}};\n"""

conv2d_transpose_config_template = """struct config{index} : nnet::conv2d_transpose_config {{
    static const unsigned in_height = {in_height};
    static const unsigned in_width = {in_width};
    static const unsigned n_chan = {n_chan};
    static const unsigned out_height = {out_height};
    static const unsigned out_width = {out_width};
    static const unsigned n_filt = {n_filt};
    static const unsigned filt_height = {filt_height};
    static const unsigned filt_width = {filt_width};
    static const unsigned stride_height = {stride_height};
    static const unsigned stride_width = {stride_width};
    static const unsigned pad_top = {pad_top};
    static const unsigned pad_left = {pad_left};
    static const unsigned n_taps_h = {n_taps_h};
    static const unsigned n_taps_w = {n_taps_w};
    static const unsigned n_phases = stride_height * stride_width;
    static const unsigned reuse_factor = {reuse};
    static const unsigned strategy = nnet::{strategy};
    typedef {accum_t.name} accum_t;
    typedef {bias_t.name} bias_t;
    typedef {weight_t.name} weight_t;
    typedef config{index}_mult mult_config;
}};\n"""


class Conv2DTransposeConfigTemplate(LayerConfigTemplate):
    def __init__(self):
        super().__init__(FsicConv2DTranspose)

    def format(self, node):
        params = self._default_config_params(node)
        n_in, n_out = node.mult_size
        mparams = dict(params)
        mparams["n_in"], mparams["n_out"] = n_in, n_out
        mparams["nzeros"] = 0  # phase matrices of k % s != 0 hold structural zeros in some phases only
        from . import mult_binding

        mparams["product_type"] = mult_binding.product_type(node, node.model.config.backend.product_type(
            node.get_input_variable().type.precision, node.get_weights("weight").type.precision
        ))  # hls.multiplier_binding: our DSP / LUT-bound product class (mult_binding.py)
        if node.get_attr("strategy") == "resource":
            rf = int(params["reuse"])
            if rf != node.get_attr("weight_layout_rf"):  # the weights were laid out for another RF
                raise RuntimeError(f"{node.name}: ReuseFactor changed from {node.get_attr('weight_layout_rf')} to {rf} "
                                   "after the Resource weight layout was written")
            # informational only: the ConvT's Resource product is its own loop (convt_product_resource, the same
            # index patterns on the phase-major word layout); the mult_config's `kernel` alias is not called
            mparams["dense_function"] = (
                "nnet::DenseResource_rf_leq_nin" if rf <= n_in else "nnet::DenseResource_rf_gt_nin_rem0"
            )
        else:
            mparams["dense_function"] = "nnet::DenseLatency"
        return (conv2d_transpose_mult_config_template.format(**mparams) + "\n"
                + conv2d_transpose_config_template.format(**params))


class Conv2DTransposeFunctionTemplate(FunctionCallTemplate):
    def __init__(self):
        super().__init__(FsicConv2DTranspose, include_header=[f"nnet_utils/{h}" for h in HEADERS])

    def format(self, node):
        params = self._default_function_params(node)
        params["w"] = node.get_weights("weight").name
        params["b"] = node.get_weights("bias").name
        io = node.model.config.get_config_value("IOType")
        fn = "conv2d_transpose_cl_stream" if io == "io_stream" else "conv2d_transpose_cl"
        return f"nnet::{fn}<{params['input_t']}, {params['output_t']}, {params['config']}>" \
               f"({params['input']}, {params['output']}, {params['w']}, {params['b']});"


__all__ = [
    "HEADERS",
    "INIT_PASS",
    "KERAS_CLASSES",
    "LAYER_NAME",
    "PRECISION_PASS",
    "Conv2DTransposeConfigTemplate",
    "Conv2DTransposeFunctionTemplate",
    "FsicConv2DTranspose",
    "InferConv2DTransposePrecision",
    "InitConv2DTranspose",
    "multiplies_per_output_pixel",
    "n_taps",
    "output_size",
    "pad_before",
    "parse_conv2d_transpose",
    "phase_weights",
    "resource_word_order",
]
