"""Small, documented compatibility fixes for QKeras 0.9.0 on TensorFlow 2.14 (Keras 2).

Imported (and applied) by ``keras_model`` before any model is built, so every entry point -- training, the hls4ml
converter (which re-creates quantizers from their configs), the tests -- sees the same behaviour.

1. ``QConv2DTranspose`` calls ``tensorflow.python.ops.array_ops.stack``, which TF 2.14 no longer exports
   (``module 'tensorflow.python.ops.array_ops' has no attribute 'stack'``). We provide it as ``tf.stack``.
2. ``quantized_bits`` computes ``2**integer`` as ``K.pow(2, integer)``; with a Python int TF builds an *integer*
   ``Pow`` and refuses negative exponents (``Integers to negative integer powers are not allowed``). Negative integer
   bits are what a 5-bit weight grid finer than 1/16 needs (e.g. ``quantized_bits(5, -2)`` has step 2**-6). We give the
   quantizers module a ``K`` whose ``pow`` evaluates Python-number powers in floating point; everything else is the
   real ``keras.backend``. Results for integer >= 0 are unchanged.

Both are idempotent.
"""
from __future__ import annotations

import numbers

import tensorflow as tf
from tensorflow.python.ops import array_ops

_applied = False


class _BackendWithFloatPow:
    """Delegates to ``keras.backend``; ``pow`` of two Python numbers is done in float."""

    def __init__(self, backend):
        self._backend = backend

    def pow(self, x, a):  # noqa: A003 - mirrors keras.backend.pow
        if isinstance(x, numbers.Number) and isinstance(a, numbers.Number):
            return tf.constant(float(x) ** float(a), dtype=tf.float32)
        return self._backend.pow(x, a)

    def __getattr__(self, name):
        return getattr(self._backend, name)


def apply() -> None:
    global _applied
    if _applied:
        return
    if not hasattr(array_ops, "stack"):
        array_ops.stack = tf.stack
    from qkeras import quantizers

    if not isinstance(quantizers.K, _BackendWithFloatPow):
        quantizers.K = _BackendWithFloatPow(quantizers.K)
    _applied = True
