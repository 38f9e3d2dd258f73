"""FxpBatchNorm hls4ml handler alone: Conv2D -> BN -> ReLU and ConvT -> BN -> ReLU, converted with
pipeline.hls.project and
run in the g++ C simulation, bit-exact against Keras (the BN layer's own output, read with hls4ml's trace hook, and the
model output). Also the fold option (shift folded into the conv bias): still bit-exact, and the generated weight files
stay 5-bit.

Statistics are spread out (``_stats``): every scale within a few octaves of the largest, so >= 80 % of the channels have
a non-zero quantized scale (asserted in each test); one scale saturates at +127 (8-bit limit), one sits at -128,
negative gammas, one zero gamma (its channel is the constant b_q; with fold it keeps that constant in the BN bias);
7 (conv) / 5 (convT) channels. The degenerate statistics (one variance 1e-6 whose huge scale zeroes most other
channels' quantized scales) are their own test. Frames include an all-zero one: a zero accumulator puts ``A*s + b``
exactly on the output grid, where a fold bias that is one grid step off would change the floor.

Runtime (2 cores): ~2-3 min (8 g++ compiles of tiny models)."""
import math
import os
import re
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from qkeras import QActivation, QConv2D, QConv2DTranspose, quantized_bits, quantized_relu  # noqa: E402
from tensorflow import keras  # noqa: E402

import keras_model  # noqa: E402,F401
from keras_model.layers import FxpBatchNorm  # noqa: E402
from pipeline.config import validate  # noqa: E402
from pipeline.hls.cmodel import predict_csim  # noqa: E402
from pipeline.hls.project import convert  # noqa: E402

EPS = 1e-5


def _stats(rng, c, kind):
    """(gamma, beta, mean, var). ``spread``: var in [0.05, 3]; target scales s = gamma/sqrt(var+eps): channel 0
    +1.998 (code round(1.998*64) = 128 -> saturates to 127), channel 1 -1.998 (code -128, the negative limit),
    channel 2 zero gamma, channel 3 negative, the rest |s| in [0.3, 1.5] with random signs. ``tiny``: the old
    degenerate statistics (var[1] = 1e-6)."""
    if kind == "tiny":
        gamma = rng.normal(0, 1.0, c)
        gamma[::3] = -np.abs(gamma[::3]) - 0.2  # negative gammas
        var = rng.uniform(0.05, 3.0, c)
        var[1] = 1e-6  # tiny variance -> large scale
    else:
        var = rng.uniform(0.05, 3.0, c)
        s = rng.uniform(0.3, 1.5, c) * rng.choice([-1.0, 1.0], c)
        s[0], s[1], s[2], s[3] = 1.998, -1.998, 0.0, -abs(s[3])
        gamma = s * np.sqrt(var + EPS)
    return [gamma.astype(np.float32), rng.normal(0, 1, c).astype(np.float32),
            rng.normal(0, 1.5, c).astype(np.float32), var.astype(np.float32)]


def _model(kind, seed, cin=3, cout=7, hw=6, stats="spread"):
    rng = np.random.default_rng(seed)
    inp = keras.Input((hw, hw, cin), name="x_in")
    x = QActivation(quantized_bits(8, 0, keep_negative=False, alpha=1), name="input_quant")(inp)
    if kind == "conv":
        x = QConv2D(cout, 3, padding="same", use_bias=False, name="c",
                    kernel_quantizer=quantized_bits(5, 0, alpha=1))(x)
    else:
        x = QConv2DTranspose(cout, 2, strides=2, padding="valid", use_bias=False, name="c",
                             kernel_quantizer=quantized_bits(5, 0, alpha=1))(x)
    bn = FxpBatchNorm(scale_bits=8, out_bits=14, out_frac=8, name="bn")
    x = bn(x)
    x = QActivation(quantized_relu(8, 2), name="relu")(x)
    m = keras.Model(inp, x)
    k = m.get_layer("c")
    k.set_weights([rng.uniform(-1, 1, k.get_weights()[0].shape).astype(np.float32)])
    bn.set_weights(_stats(rng, cout, stats))
    return m


def _assert_spread(m):
    """The statistics are not degenerate: >= 80 % non-zero quantized scales, both 8-bit limits, a zero, negatives."""
    s_q, _, fs = m.get_layer("bn").quantized_scale_shift()
    code = s_q * 2.0**fs
    assert np.mean(s_q != 0) >= 0.8, f"{np.count_nonzero(s_q)}/{s_q.size} non-zero quantized scales"
    assert code.max() == 127 and code.min() == -128 and code[2] == 0 and np.count_nonzero(code < 0) >= 2
    return s_q


def _cfg(tmp_path, backend="Vitis", fold=False):
    return validate({"build_dir": str(tmp_path / "b"),
                     "hls": {"backend": backend, "io_type": "io_stream", "reuse_factor": 1, "strategy": "Latency",
                             "fold_batchnorm": fold, "output_head": "logits",
                             "fuse_conv_blocks": False}})  # the BatchNorm kernel itself (fused: test_fused_conv_block)


def _images(seed, hw=6, n=6):
    imgs = np.random.default_rng(seed).integers(0, 256, (n, hw, hw, 3), dtype=np.uint8)
    imgs[0] = 0  # zero accumulator: A*s + b = b exactly on the output grid
    imgs[1] = 255
    return imgs


def _check(m, cfg, seed, hw):
    """Convert + compile with the BN layer traced; C simulation vs Keras fed through the model's own input path
    (p/255 into its input quantizer): the BN output and the model output, bit for bit."""
    hm = convert(cfg, model=m, output_head="logits").hls_model
    for node in hm.get_layers():
        node.set_attr("trace", node.name == "bn")
    hm.config.trace_output = True
    hm.compile()
    imgs = _images(seed, hw)
    y, tr = predict_csim(hm, imgs, workers=1, trace_layers=["bn"])
    x = imgs.astype(np.float32) / 255.0
    ref_bn, ref = keras.Model(m.input, [m.get_layer("bn").output, m.output]).predict(x, verbose=0)
    np.testing.assert_array_equal(tr["bn"].reshape(ref_bn.shape), ref_bn.astype(np.float64))
    np.testing.assert_array_equal(y.reshape(ref.shape), ref.astype(np.float64))
    return hm


@pytest.mark.parametrize("kind", ["conv", "convt"])
@pytest.mark.parametrize("backend", ["Vitis", "Vivado"])
def test_bn_handler_bit_exact(tmp_path, kind, backend):
    seed = 11 if kind == "conv" else 12
    hw, cout = (6, 7) if kind == "conv" else (3, 5)
    m = _model(kind, seed, cout=cout, hw=hw)
    _assert_spread(m)
    hm = _check(m, _cfg(tmp_path, backend), seed, hw)
    bn = hm.graph["bn"]
    s_q, b_q, _ = m.get_layer("bn").quantized_scale_shift()
    np.testing.assert_array_equal(bn.weights["scale"].data, s_q)  # no float recomputation by hls4ml
    np.testing.assert_array_equal(bn.weights["bias"].data, b_q)
    assert "SAT" in str(bn.get_output_variable().type.precision)


def _weight_file_values(prj, var):
    """Values of a generated weight header (firmware/weights/<var>.h)."""
    txt = (prj / "firmware" / "weights" / f"{var}.h").read_text()
    body = txt[txt.index("{") + 1: txt.rindex("}")]
    return np.array([float(v) for v in re.split(r"[,\s]+", body.strip()) if v])


def _check_fold(m, tmp_path, seed, hw):
    cfg = _cfg(tmp_path, fold=True)
    hm = _check(m, cfg, seed, hw)
    conv, bn = hm.graph["c"], hm.graph["bn"]
    assert bn.get_attr("fsic_fold_info"), "BN was not folded"
    s_q, b_q, _ = m.get_layer("bn").quantized_scale_shift()
    nb = bn.weights["bias"].data
    assert np.all(nb[s_q != 0] == 0) and np.any(conv.weights["bias"].data != 0)
    np.testing.assert_array_equal(nb[s_q == 0], b_q[s_q == 0])  # zero-scale channels keep their constant
    w = _weight_file_values(Path(cfg["build_dir"]) / "hls", conv.weights["weight"].name)
    # 5-bit quantized_bits(5,0): values k/16, k in [-16, 15]
    k = w * 16
    assert np.array_equal(k, np.round(k)) and k.min() >= -16 and k.max() <= 15
    assert len(np.unique(k)) <= 32
    assert "<5," in str(conv.weights["weight"].type.precision)
    return s_q


def _fold_uses_finest_bias_bit(m, acc_frac=12):
    """docs/hls.md: the folded bias c = b/s is rounded up (s > 0) / down (s < 0) onto the grid 2**-(acc_frac + g),
    g = bits(max |s| * 2**fs); acc_frac = 8 (input ap_ufixed<8,0>) + 4 (quantized_bits(5,0) kernel). True when some
    positive-scale channel's c needs the last bit of that grid: a conv bias type one fractional bit short then truncates
    c by one step and, for a zero accumulator (the all-zero frame), A*s + b = b sits exactly on the output grid, so the
    BN output drops by one LSB -- the data can see such a bug."""
    s_q, b_q, fs = m.get_layer("bn").quantized_scale_shift()
    g = math.ceil(math.log2(np.abs(s_q * 2.0**fs).max() + 1))
    pos = s_q > 0
    k = np.ceil(b_q[pos] / s_q[pos] * 2.0 ** (acc_frac + g))
    return bool(np.any(k % 2 == 1))


@pytest.mark.parametrize("kind", ["conv", "convt"])
def test_fold_bit_exact_and_weights_stay_5bit(tmp_path, kind):
    seed = 29 if kind == "conv" else 25
    hw, cout = (6, 7) if kind == "conv" else (3, 5)
    m = _model(kind, seed, cout=cout, hw=hw)
    _assert_spread(m)
    assert _fold_uses_finest_bias_bit(m)
    _check_fold(m, tmp_path, seed, hw)


@pytest.mark.parametrize("fold", [False, True])
def test_tiny_variance_edge_case(tmp_path, fold):
    """One channel's variance 1e-6 sets the per-layer scale exponent, so most other channels' quantized scales are 0
    (constant output b_q). Still bit-exact, folded or not."""
    m = _model("conv", 11, cout=6, stats="tiny")
    s_q, _, fs = m.get_layer("bn").quantized_scale_shift()
    assert np.count_nonzero(s_q) <= 3 and abs(s_q[1]) * 2.0**fs >= 64  # really the degenerate case
    if fold:
        _check_fold(m, tmp_path, 11, 6)
    else:
        _check(m, _cfg(tmp_path), 11, 6)
