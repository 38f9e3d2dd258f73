"""FxpBatchNorm against independent references: training mode == Keras BatchNormalization; inference == the documented
fixed-point formula computed here in numpy float64.

Statistics (``_stats``) are spread out so that every channel's scale is within a few octaves of the largest one and
the per-layer scale exponent leaves almost every channel a non-zero quantized scale (asserted, >= 80 %); they include
a scale that saturates at the positive limit of the scale_bits grid, one at the negative limit, negative gammas, a zero
gamma, and non-power-of-two channel counts. The degenerate case (one tiny variance whose huge scale sets the exponent,
so most other scales quantize to 0) is its own test."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from tensorflow import keras  # noqa: E402

import keras_model  # noqa: E402,F401
from keras_model.layers import FxpBatchNorm  # noqa: E402

EPS = 1e-5


def _stats(rng, c, scale_bits=8):
    """Spread statistics: variances in [0.05, 3], |scale| in [0.25, 1.5] (random signs) plus, with the largest scale
    just below 2 (exponent 1, frac = scale_bits - 2): channel 0 at +2*(1 - 2**-(scale_bits+1)), whose code
    2**(scale_bits-1) - 0.25 rounds to 2**(scale_bits-1) and saturates to 2**(scale_bits-1) - 1; channel 1 the negative
    of it (code -2**(scale_bits-1), the negative limit); channel 2 a zero gamma; channel 3 negative."""
    var = rng.uniform(0.05, 3.0, c)
    s = rng.uniform(0.25, 1.5, c) * rng.choice([-1.0, 1.0], c)
    lim = 2.0 * (1.0 - 2.0 ** -(scale_bits + 1))
    s[0], s[1], s[2], s[3] = lim, -lim, 0.0, -abs(s[3])
    gamma = s * np.sqrt(var + EPS)
    return [gamma.astype(np.float32), rng.normal(0, 1, c).astype(np.float32),
            rng.normal(0, 2, c).astype(np.float32), var.astype(np.float32)]


def _stats_tiny_variance(rng, c):
    """The degenerate statistics: channel 1's variance 1e-7 gives it a huge scale that sets the per-layer exponent."""
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


def _run(w, c, seed, scale_bits, out_bits, out_frac):
    rng = np.random.default_rng(seed + 100)
    inp = keras.Input((5, 5, c))
    layer = FxpBatchNorm(scale_bits=scale_bits, out_bits=out_bits, out_frac=out_frac)
    m = keras.Model(inp, layer(inp))
    layer.set_weights(w)
    # inputs on a fine fixed-point grid (what a conv accumulator delivers), wide range to hit saturation, plus zeros
    x = (np.round(rng.normal(0, 3, (4, 5, 5, c)) * 2**9) / 2**9).astype(np.float32)
    x[0, 0] = 0.0
    x[1, 0, 0], x[1, 0, 1] = 40.0, -40.0  # |x * s| > 2**(out_bits-1-out_frac) for the large scales: saturation
    y = m.predict(x, verbose=0).astype(np.float64)
    ref, s_q, b_q, fs = _numpy_reference(x, *w, EPS, scale_bits, out_bits, out_frac)
    np.testing.assert_array_equal(y, ref)
    s2, b2, fs2 = layer.quantized_scale_shift()
    np.testing.assert_array_equal(s2, s_q)
    np.testing.assert_array_equal(b2, b_q)
    assert fs2 == fs
    return ref, s_q, fs


@pytest.mark.parametrize("seed,c,scale_bits,out_bits,out_frac",
                         [(0, 7, 8, 14, 10), (1, 5, 6, 12, 6), (2, 11, 12, 20, 14)])
def test_inference_matches_numpy_formula(seed, c, scale_bits, out_bits, out_frac):
    w = _stats(np.random.default_rng(seed), c, scale_bits)
    ref, s_q, fs = _run(w, c, seed, scale_bits, out_bits, out_frac)
    code = s_q * 2.0**fs  # integer scale codes of the numpy reference
    assert np.mean(s_q != 0) >= 0.8, f"degenerate statistics: {np.count_nonzero(s_q)}/{c} non-zero scales"
    assert code.max() == 2 ** (scale_bits - 1) - 1 and code.min() == -(2 ** (scale_bits - 1))  # both limits hit
    assert code[2] == 0 and np.count_nonzero(code < 0) >= 2
    assert np.abs(code[3:]).min() >= 2 ** (scale_bits - 4)  # all scales within a few octaves of the largest
    lim = 2.0 ** (out_bits - 1 - out_frac)
    assert np.any(ref == lim - 2.0**-out_frac) and np.any(ref == -lim)  # output saturation exercised both ways


def test_inference_tiny_variance_edge_case():
    """One channel with variance 1e-7 sets the exponent: most other channels' scales quantize to 0 (their output is
    the constant b_q). Still exactly the documented formula."""
    c, sb = 7, 8
    w = _stats_tiny_variance(np.random.default_rng(1), c)
    ref, s_q, fs = _run(w, c, 1, sb, 14, 10)
    assert np.count_nonzero(s_q) <= 2 and abs(s_q[1]) * 2.0**fs >= 2 ** (sb - 2)  # the degenerate case it claims
    zero = np.flatnonzero(s_q == 0)
    b_q = np.round((w[1] - w[2] * s_q) * 2.0**10) / 2.0**10
    np.testing.assert_array_equal(ref[..., zero], np.broadcast_to(np.clip(b_q[zero], -8, 8 - 2.0**-10),
                                                                  ref[..., zero].shape))


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
