"""Argmax head: Keras layer and hls4ml C simulation equal numpy.argmax (lowest index on ties), 5-bit output for 21
classes. Runtime ~20 s (one g++ compile)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from qkeras import QActivation, QConv2D, quantized_bits  # noqa: E402
from tensorflow import keras  # noqa: E402

import keras_model  # noqa: E402,F401
from pipeline.config import validate  # noqa: E402
from pipeline.extensions import register_extensions  # noqa: E402
from pipeline.extensions.argmax import index_bits, keras_layer_class  # noqa: E402
from pipeline.hls.cmodel import predict_csim  # noqa: E402
from pipeline.hls.project import convert, interface  # noqa: E402
from pipeline.hw.streams import csim_input  # noqa: E402

register_extensions()


def test_keras_argmax_tie_rule():
    x = np.array([[[[1, 3, 3, 0]], [[2, 2, 2, 2]], [[-1, -5, -1, -0.5]]]], np.float32)  # (1,3,1,4)
    y = keras_layer_class()()(x).numpy()[..., 0]
    np.testing.assert_array_equal(y, np.argmax(x, -1))
    assert y.ravel().tolist() == [1, 0, 3]


def test_index_bits():
    assert index_bits(21) == 5 and index_bits(2) == 1 and index_bits(32) == 5 and index_bits(33) == 6


def test_argmax_head_csim_matches_numpy_with_ties(tmp_path):
    rng = np.random.default_rng(5)
    inp = keras.Input((4, 4, 3), name="x_in")
    x = QActivation(quantized_bits(8, 0, keep_negative=False, alpha=1), name="input_quant")(inp)
    x = QConv2D(21, 1, use_bias=True, name="head", kernel_quantizer=quantized_bits(5, 0, alpha=1),
                bias_quantizer=quantized_bits(8, 2, alpha=1))(x)
    x = QActivation(quantized_bits(4, 1, keep_negative=True, alpha=1), name="head_quant")(x)  # coarse -> many ties
    m = keras.Model(inp, x)
    w = rng.uniform(-1, 1, (1, 1, 3, 21)).astype(np.float32)
    w[..., 7] = w[..., 3]  # duplicated classes: exact ties
    w[..., 20] = w[..., 0]
    b = rng.uniform(-0.5, 0.5, 21).astype(np.float32)
    b[7], b[20] = b[3], b[0]
    m.get_layer("head").set_weights([w, b])
    cfg = validate({"build_dir": str(tmp_path / "b"), "hls": {"reuse_factor": 1, "strategy": "Latency"}})
    hm = convert(cfg, model=m, output_head="argmax").hls_model
    hm.compile()
    imgs = rng.integers(0, 256, (8, 4, 4, 3), dtype=np.uint8)
    got = predict_csim(hm, imgs, workers=2)[..., 0]
    logits = m.predict(csim_input(imgs), verbose=0)
    ref = np.argmax(logits, -1)
    ties = np.sum(logits == logits.max(-1, keepdims=True), -1) > 1
    assert ties.mean() > 0.2  # the test does exercise the tie rule
    np.testing.assert_array_equal(got, ref)
    itf = interface(hm, cfg)
    assert itf["out_elem_bits"] == 5 and itf["out_channels"] == 1 and itf["out_tdata_width"] == 8
    assert itf["in_elem_bits"] == 8 and itf["in_frac_bits"] == 8 and itf["in_tdata_width"] == 24
