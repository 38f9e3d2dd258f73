"""Argmax output head: a Keras layer (the golden) and its hls4ml IR layer ``FsicArgmax`` (Vivado + Vitis).

What this module holds (registered with hls4ml by :mod:`pipeline.extensions.registry`): the Keras layer
``ArgmaxHead`` (:func:`keras_layer_class`, :func:`with_argmax`), the Keras v2 parser :func:`parse_argmax`, the IR layer
:class:`FsicArgmax` and its config / function-call templates.

``ArgmaxHead`` maps ``(N, H, W, C)`` logits to ``(N, H, W, 1)`` class indices (float32 in Keras). Tie rule: the
**lowest** channel index among equal maxima wins -- numpy.argmax's documented rule; the Keras layer implements it
explicitly (first index where x == max) instead of relying on tf.argmax's unspecified tie behaviour. The hardware
kernel (``nnet_utils/nnet_fsic_argmax.h``) scans channels upwards with a strict ``>``, which is the same rule.
The output type is ``ap_uint<ceil(log2(C))>`` (5 bits for 21 classes, :func:`index_bits`): the FSIC link carries one
index per pixel instead of C 8-bit logits.

The Keras layer class is built on first use (:func:`keras_layer_class`): defining it needs TensorFlow, which hls4ml
itself does not import.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
from hls4ml.converters.keras_v2_to_hls import parse_default_keras_layer
from hls4ml.model.attributes import Attribute
from hls4ml.model.layers import Layer
from hls4ml.model.types import IntegerPrecisionType

from .fixed import index_bits

LAYER_NAME = "FsicArgmax"
KERAS_CLASS = "ArgmaxHead"
NNET_DIR = Path(__file__).resolve().parent / "nnet_utils"
HEADERS = ("nnet_fsic_argmax.h",)


# --------------------------------------------------------------------------------------------------------------------
# Keras layer (the golden)
# --------------------------------------------------------------------------------------------------------------------
_keras_cls = None


def keras_layer_class():
    """The Keras layer class (built lazily; registered as ``unet_fsic>ArgmaxHead``)."""
    global _keras_cls
    if _keras_cls is not None:
        return _keras_cls
    import tensorflow as tf
    from tensorflow import keras

    @keras.utils.register_keras_serializable(package="unet_fsic")
    class ArgmaxHead(keras.layers.Layer):
        """Per-pixel argmax over the last axis, lowest index on ties; output (..., 1) float32."""

        def call(self, x):
            mx = tf.reduce_max(x, axis=-1, keepdims=True)
            n = tf.shape(x)[-1]
            idx = tf.cast(tf.range(n), x.dtype)
            big = tf.cast(n, x.dtype)
            first = tf.reduce_min(tf.where(tf.equal(x, mx), idx, big), axis=-1, keepdims=True)
            return first

        def compute_output_shape(self, input_shape):
            return tuple(input_shape[:-1]) + (1,)

    _keras_cls = ArgmaxHead
    return ArgmaxHead


def with_argmax(model, name: str = "argmax"):
    """``model`` followed by an ArgmaxHead (a new functional model sharing the layers)."""
    from tensorflow import keras

    out = keras_layer_class()(name=name)(model.output)
    return keras.Model(model.input, out, name=model.name + "_argmax")


# --------------------------------------------------------------------------------------------------------------------
# parser, IR layer, templates
# --------------------------------------------------------------------------------------------------------------------
def parse_argmax(keras_layer, input_names, input_shapes, data_reader):
    """hls4ml Keras v2 handler: an ArgmaxHead layer dict -> an ``FsicArgmax`` layer dict + output shape."""
    layer = parse_default_keras_layer(keras_layer, input_names)
    layer["class_name"] = LAYER_NAME
    shape = list(input_shapes[0][1:])
    layer["n_chan"] = int(shape[-1])
    layer["n_pixels"] = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    layer["out_shape"] = shape[:-1] + [1]
    layer["index_bits"] = index_bits(layer["n_chan"])
    return layer, [input_shapes[0][0]] + layer["out_shape"]


class FsicArgmax(Layer):
    """Per-pixel argmax over the channels; output ``ap_uint<index_bits>``, shape ``(..., 1)``."""

    _expected_attributes = [Attribute("n_chan"), Attribute("n_pixels"), Attribute("index_bits")]

    def initialize(self):
        self.add_output_variable(list(self.get_attr("out_shape")),
                                 precision=IntegerPrecisionType(self.get_attr("index_bits"), signed=False))


argmax_config_template = """struct config{index} : nnet::fsic_argmax_config {{
    static const unsigned n_pixels = {n_pixels};
    static const unsigned n_chan = {n_chan};
}};\n"""


class ArgmaxConfigTemplate(LayerConfigTemplate):
    def __init__(self):
        super().__init__(FsicArgmax)

    def format(self, node):
        return argmax_config_template.format(**self._default_config_params(node))


class ArgmaxFunctionTemplate(FunctionCallTemplate):
    def __init__(self):
        super().__init__(FsicArgmax, include_header=[f"nnet_utils/{h}" for h in HEADERS])

    def format(self, node):
        p = self._default_function_params(node)
        io = node.model.config.get_config_value("IOType")
        fn = "fsic_argmax_stream" if io == "io_stream" else "fsic_argmax"
        return f"nnet::{fn}<{p['input_t']}, {p['output_t']}, {p['config']}>({p['input']}, {p['output']});"


__all__ = ["HEADERS", "KERAS_CLASS", "LAYER_NAME", "ArgmaxConfigTemplate", "ArgmaxFunctionTemplate", "FsicArgmax",
           "index_bits", "keras_layer_class", "parse_argmax", "with_argmax"]
