"""Custom Keras layers of the W5A8 model.

``FxpBatchNorm`` -- BatchNormalization whose *inference* is an exact fixed-point affine map.

Training (``training=True``) is ordinary BatchNormalization on batch statistics (epsilon 1e-5, momentum 0.9, moving
statistics updated), so QAT behaves like the seed's BN. Inference (``training=False``) folds the trained running
statistics into a per-channel scale and shift, puts both on fixed-point grids, and rounds the result onto a
fixed-point grid -- exactly what a hardware ``y = x*s + b`` with typed operands computes:

    s   = gamma / sqrt(moving_variance + eps)                       (float32, TF ops)
    s_q = clip(round_half_even(s * 2**fs), -2**(scale_bits-1), 2**(scale_bits-1)-1) / 2**fs
          with fs = scale_bits - 1 - ceil(log2(max|s|))   (per-layer power-of-two range, all channels share it)
    b_q = round_half_even((beta - moving_mean * s_q) * 2**out_frac) / 2**out_frac
    y   = floor((x * s_q + b_q) * 2**out_frac) / 2**out_frac, saturated to the signed range of
          out_bits bits with out_frac fractional bits                (computed in float64: exact)

In hardware terms: ``s_q`` is ``ap_fixed<scale_bits, scale_bits-fs>``, ``b_q`` is ``ap_fixed`` on the output grid, and
the result type is ``ap_fixed<out_bits, out_bits-out_frac, AP_TRN, AP_SAT>`` -- the product and sum are exact. Values
passed between layers are float32; ``out_bits <= 24`` keeps every output exactly representable.

``quantized_scale_shift()`` returns ``(s_q, b_q, fs)`` as numpy arrays computed by the very same TF code the layer runs,
so a converter reproduces the golden bit for bit.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow import keras


@keras.utils.register_keras_serializable(package="unet_fsic")
class FxpBatchNorm(keras.layers.BatchNormalization):
    def __init__(self, scale_bits: int = 8, out_bits: int = 16, out_frac: int = 10, **kwargs):
        kwargs.setdefault("epsilon", 1e-5)
        kwargs.setdefault("momentum", 0.9)
        super().__init__(**kwargs)
        if not 2 <= int(scale_bits) <= 18:
            raise ValueError(f"FxpBatchNorm '{self.name}': scale_bits={scale_bits} outside 2..18")
        if not 2 <= int(out_bits) <= 24:
            raise ValueError(f"FxpBatchNorm '{self.name}': out_bits={out_bits} outside 2..24 (float32 exactness)")
        self.scale_bits = int(scale_bits)
        self.out_bits = int(out_bits)
        self.out_frac = int(out_frac)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(scale_bits=self.scale_bits, out_bits=self.out_bits, out_frac=self.out_frac)
        return cfg

    # --- the fixed-point inference map -------------------------------------------------------------------------
    def _scale_shift_tensors(self):
        s = self.gamma / tf.sqrt(self.moving_variance + self.epsilon)
        max_abs = tf.maximum(tf.reduce_max(tf.abs(s)), tf.constant(2.0**-30, s.dtype))
        exp = tf.math.ceil(tf.math.log(max_abs) / np.log(2.0))
        # guard against log() rounding: make sure max|s| <= 2**exp
        exp = tf.where(tf.pow(2.0, exp) < max_abs, exp + 1.0, exp)
        fs = float(self.scale_bits - 1) - exp
        lo = -(2.0 ** (self.scale_bits - 1))
        hi = 2.0 ** (self.scale_bits - 1) - 1.0
        s_q = tf.clip_by_value(tf.round(s * tf.pow(2.0, fs)), lo, hi) / tf.pow(2.0, fs)
        of = 2.0**self.out_frac
        # float64: beta - mean*s_q is not exact in float32 (the rounding below must see the exact value)
        f64 = tf.float64
        b_q = tf.round((tf.cast(self.beta, f64) - tf.cast(self.moving_mean, f64) * tf.cast(s_q, f64)) * of) / of
        return s_q, b_q, fs

    def quantized_scale_shift(self):
        """(scale, shift, scale_frac_bits) exactly as the inference path uses them (numpy)."""
        s_q, b_q, fs = self._scale_shift_tensors()
        return s_q.numpy().astype(np.float64), b_q.numpy().astype(np.float64), int(fs.numpy())

    def _fixed_point_inference(self, x):
        s_q, b_q, _ = self._scale_shift_tensors()
        of = 2.0**self.out_frac
        y = tf.cast(x, tf.float64) * tf.cast(s_q, tf.float64) + tf.cast(b_q, tf.float64)
        y = tf.floor(y * of)
        lim = 2.0 ** (self.out_bits - 1)
        y = tf.clip_by_value(y, -lim, lim - 1.0) / of
        return tf.cast(y, x.dtype)

    def call(self, inputs, training=None):
        if training is None:
            training = keras.backend.learning_phase()
        if isinstance(training, bool) or isinstance(training, int):
            if training:
                return super().call(inputs, training=True)
            return self._fixed_point_inference(inputs)
        return tf.cond(
            tf.cast(training, tf.bool),
            lambda: super(FxpBatchNorm, self).call(inputs, training=True),
            lambda: self._fixed_point_inference(inputs),
        )


CUSTOM_OBJECTS = {"FxpBatchNorm": FxpBatchNorm}
