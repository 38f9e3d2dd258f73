"""FxpBatchNorm against independent references: training mode == Keras BatchNormalization; inference == the documented
fixed-point formula computed here in numpy float64 (random statistics incl. negative gammas and tiny variances)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras_model  # noqa: E402,F401
from tensorflow import keras  # noqa: E402

from keras_model.layers import FxpBatchNorm  # noqa: E402


def _stats(rng, c):
    gamma = rng.normal(0, 1.5, c)
    gamma[0] = -abs(gamma[0]) - 0.5  # negative gamma
    var = rng.uniform(0.01, 4.0, c)
    var[1] = 1e-7  # tiny variance -> huge scale
    return [gamma.astype(np.float32), rng.normal(0, 1, c).astype(np.float32),
            rng.normal(0, 2, c).astype(np.float32), var.astype(np.float32)]


def _numpy_reference(x, gamma, beta, mean, var, eps, scale_bits, out_bits, out_frac):
    """The docstring formula, float64 numpy (independent of the layer's TF code)."""
    # s in float32 as documented ("float32, TF ops"; IEEE sqrt/div are correctly rounded), the rest in float64
    s = (gamma / np.sqrt(var + np.float32(eps))).astype(np.float64)
    exp = int(np.ceil(np.log2(np.max(np.abs(s)))))
    fs = scale_bits - 1 - exp
    s_q = np.clip(np.round(s * 2.0**fs), -(2.0 ** (scale_bits - 1)), 2.0 ** (scale_bits - 1) - 1) / 2.0**fs
    b_q = np.round((beta - mean * s_q) * 2.0**out_frac) / 2.0**out_frac
    y = np.floor((x.astype(np.float64) * s_q + b_q) * 2.0**out_frac)
    lim = 2.0 ** (out_bits - 1)
    return np.clip(y, -lim, lim - 1) / 2.0**out_frac, s_q, b_q, fs


@pytest.mark.parametrize("seed,scale_bits,out_bits,out_frac", [(0, 8, 14, 10), (1, 6, 12, 6), (2, 12, 20, 14)])
def test_inference_matches_numpy_formula(seed, scale_bits, out_bits, out_frac):
    rng = np.random.default_rng(seed)
    c = 7
    inp = keras.Input((5, 5, c))
    layer = FxpBatchNorm(scale_bits=scale_bits, out_bits=out_bits, out_frac=out_frac)
    m = keras.Model(inp, layer(inp))
    w = _stats(rng, c)
    layer.set_weights(w)
    # inputs on a fine fixed-point grid (what a conv accumulator delivers), wide range to hit saturation
    x = (np.round(rng.normal(0, 3, (4, 5, 5, c)) * 2**9) / 2**9).astype(np.float32)
    y = m.predict(x, verbose=0).astype(np.float64)
    ref, s_q, b_q, fs = _numpy_reference(x, *w, 1e-5, scale_bits, out_bits, out_frac)
    np.testing.assert_array_equal(y, ref)
    s2, b2, fs2 = layer.quantized_scale_shift()
    np.testing.assert_array_equal(s2, s_q)
    np.testing.assert_array_equal(b2, b_q)
    assert fs2 == fs


def test_training_mode_equals_keras_batchnorm():
    rng = np.random.default_rng(3)
    c = 6
    w = _stats(rng, c)
    x = rng.normal(1, 2, (8, 4, 4, c)).astype(np.float32)
    fx = FxpBatchNorm(epsilon=1e-5, momentum=0.9)
    kb = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9)
    fx.build(x.shape)
    kb.build(x.shape)
    fx.set_weights(w)
    kb.set_weights(w)
    y1 = fx(x, training=True).numpy()
    y2 = kb(x, training=True).numpy()
    np.testing.assert_allclose(y1, y2, rtol=1e-6, atol=1e-6)
    # moving statistics updated identically
    for a, b in zip(fx.get_weights(), kb.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
