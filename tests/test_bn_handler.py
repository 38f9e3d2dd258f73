"""FxpBatchNorm hls4ml handler alone: Conv2D -> BN -> ReLU and ConvT -> BN -> ReLU, random statistics (negative
gammas, tiny variances), converted with pipeline.convert and run in the g++ C simulation: bit-exact vs Keras. Also the
fold option (shift folded into the conv bias): still bit-exact, and the generated weight files stay 5-bit.

Runtime (2 cores): ~1.5-2.5 min (6 g++ compiles of tiny models)."""
import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras_model  # noqa: E402,F401
from qkeras import QActivation, QConv2D, QConv2DTranspose, quantized_bits, quantized_relu  # noqa: E402
from tensorflow import keras  # noqa: E402

from keras_model.layers import FxpBatchNorm  # noqa: E402
from pipeline.config import validate  # noqa: E402
from pipeline.convert import convert  # noqa: E402
from pipeline.csim import csim_input, predict_csim  # noqa: E402


def _model(kind, seed, cin=3, cout=6, hw=6):
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
    gamma = rng.normal(0, 1.0, cout)
    gamma[::3] = -np.abs(gamma[::3]) - 0.2  # negative gammas
    var = rng.uniform(0.05, 3.0, cout)
    var[1] = 1e-6  # tiny variance -> large scale
    bn.set_weights([gamma.astype(np.float32), rng.normal(0, 1, cout).astype(np.float32),
                    rng.normal(0, 1.5, cout).astype(np.float32), var.astype(np.float32)])
    return m


def _cfg(tmp_path, backend="Vitis", fold=False):
    return validate({"build_dir": str(tmp_path / "b"),
                     "hls": {"backend": backend, "io_type": "io_stream", "reuse_factor": 1, "strategy": "Latency",
                             "fold_batchnorm": fold, "output_head": "logits"}})


def _images(seed, hw=6, n=6):
    return np.random.default_rng(seed).integers(0, 256, (n, hw, hw, 3), dtype=np.uint8)


def _check(m, cfg, seed, hw):
    hm = convert(cfg, model=m, output_head="logits")
    hm.compile()
    imgs = _images(seed, hw)
    y = predict_csim(hm, imgs, workers=1)
    ref = hm._fsic_keras_model.predict(csim_input(imgs), verbose=0).astype(np.float64)
    np.testing.assert_array_equal(y.reshape(ref.shape), ref)
    return hm


@pytest.mark.parametrize("kind", ["conv", "convt"])
@pytest.mark.parametrize("backend", ["Vitis", "Vivado"])
def test_bn_handler_bit_exact(tmp_path, kind, backend):
    seed = 11 if kind == "conv" else 12
    hw = 6 if kind == "conv" else 3
    m = _model(kind, seed, hw=hw)
    hm = _check(m, _cfg(tmp_path, backend), seed, hw)
    bn = hm.graph["bn"]
    s_q, b_q, _ = m.get_layer("bn").quantized_scale_shift()
    np.testing.assert_array_equal(bn.weights["scale"].data, s_q)  # no float recomputation by hls4ml
    np.testing.assert_array_equal(bn.weights["bias"].data, b_q)
    assert "AP_SAT" in str(bn.get_output_variable().type.precision) or "SAT" in str(
        bn.get_output_variable().type.precision)


def _weight_file_values(prj, var):
    """Values of a generated weight header (firmware/weights/<var>.h)."""
    txt = (prj / "firmware" / "weights" / f"{var}.h").read_text()
    body = txt[txt.index("{") + 1: txt.rindex("}")]
    return np.array([float(v) for v in re.split(r"[,\s]+", body.strip()) if v])


@pytest.mark.parametrize("kind", ["conv", "convt"])
def test_fold_bit_exact_and_weights_stay_5bit(tmp_path, kind):
    seed = 21 if kind == "conv" else 22
    hw = 6 if kind == "conv" else 3
    m = _model(kind, seed, hw=hw)
    cfg = _cfg(tmp_path, fold=True)
    hm = _check(m, cfg, seed, hw)
    conv, bn = hm.graph["c"], hm.graph["bn"]
    assert bn.get_attr("fsic_fold_info"), "BN was not folded"
    s_q, _, _ = m.get_layer("bn").quantized_scale_shift()
    assert np.all(bn.weights["bias"].data[s_q != 0] == 0) and np.any(conv.weights["bias"].data != 0)
    prj = cfg["build_dir"] + "/hls"
    from pathlib import Path

    w = _weight_file_values(Path(prj), conv.weights["weight"].name)
    # 5-bit quantized_bits(5,0): values k/16, k in [-16, 15]
    k = w * 16
    assert np.array_equal(k, np.round(k)) and k.min() >= -16 and k.max() <= 15
    assert len(np.unique(k)) <= 32
    assert str(conv.weights["weight"].type.precision).startswith("fixed<5,") or "<5," in str(
        conv.weights["weight"].type.precision)
