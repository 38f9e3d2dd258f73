"""Conv2DTranspose / QConv2DTranspose hls4ml extension (issue #3): conversion + g++ csim vs Keras/QKeras.

Every matrix case builds a one-layer Keras model, converts it with ``pipeline.extensions`` registered, compiles it with
``hls_model.compile()`` (g++, ~7 s) and compares ``hls_model.predict`` with the Keras output:

* QKeras cases (``q``/``qn``: 8-bit input quantizer, 5-bit kernel quantizer (``qn``: quantized_bits(5,-2)), 8-bit
  bias quantizer, 'auto' accum/result): identical outputs (0 LSB).
* float Keras cases (``f``): input ap_fixed<8,3>, kernel/bias drawn on the ap_fixed<10,2> grid, accum ap_fixed<32,12>,
  result ap_fixed<16,6>; |hls - keras| <= 1 LSB of the result (2**-10).

Inputs are drawn on the input quantizer's grid, so input quantization is the identity and the comparison isolates the
layer.

Runtime (2-core machine, measured): the default run ``pytest tests/test_ext_conv2d_transpose.py`` is the FULL
37-configuration ``MATRIX`` plus the U-Net decoder chain and the error/registration/multiply-count tests: 44 tests,
~2 min 55-3 min 15 s. ``SLOW_MATRIX`` (4 U-Net-sized layers, e.g. 128->64 k2s2 at 4x4, 16->8 at 32x32; bigger g++
compiles) is marked ``@pytest.mark.slow``: ``pytest -m slow tests/test_ext_conv2d_transpose.py`` (~30 s). The first
``CI_CASES`` rows of ``MATRIX`` are a minimal subset covering every axis, for quick iteration with ``-k``.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import hls4ml  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from qkeras import QActivation, QConv2D, QConv2DTranspose, quantized_bits, quantized_relu  # noqa: E402

import keras_model  # noqa: E402,F401  (applies the QKeras/TF 2.14 compat fixes)
from pipeline.extensions import UnsupportedLayerError, register_extensions  # noqa: E402
from pipeline.extensions.conv2d_transpose import LAYER_NAME, multiplies_per_output_pixel  # noqa: E402

register_extensions()

OUT_LSB_FLOAT = 2.0**-10  # ap_fixed<16,6>

# id, kind, k, s, padding, bias, H, W, Cin, Cout, io_type, backend, strategy, reuse_factor
MATRIX = [
    # --- first CI_CASES rows: minimal subset covering every axis (handy with -k for quick iteration) ---
    ("q_k2s2_valid_stream_vitis_lat", "q", 2, 2, "valid", True, 4, 4, 8, 4, "io_stream", "Vitis", "Latency", 1),
    ("q_k2s2_same_stream_vivado_res", "q", 2, 2, "same", True, 3, 5, 16, 8, "io_stream", "Vivado", "Resource", 4),
    ("q_k3s2_same_par_vivado_lat", "q", 3, 2, "same", False, 3, 4, 3, 5, "io_parallel", "Vivado", "Latency", 1),
    ("q_k3s1_valid_stream_vitis_res", "q", 3, 1, "valid", True, 4, 3, 4, 2, "io_stream", "Vitis", "Resource", 2),
    ("q_k5s3_valid_par_vitis_res", "q", 5, 3, "valid", True, 2, 3, 2, 3, "io_parallel", "Vitis", "Resource", 4),
    ("q_k1s3_same_stream_vivado_lat", "q", 1, 3, "same", True, 3, 2, 1, 1, "io_stream", "Vivado", "Latency", 1),
    ("q_k4s3_same_stream_vitis_lat", "q", 4, 3, "same", False, 2, 4, 5, 3, "io_stream", "Vitis", "Latency", 1),
    ("q_k2s3_valid_par_vivado_res", "q", 2, 3, "valid", True, 3, 3, 4, 4, "io_parallel", "Vivado", "Resource", 8),
    ("q_k2s2_cin32_stream_vitis_res", "q", 2, 2, "same", True, 2, 3, 32, 32, "io_stream", "Vitis", "Resource", 16),
    ("f_k2s2_valid_stream_vitis_lat", "f", 2, 2, "valid", True, 3, 4, 4, 4, "io_stream", "Vitis", "Latency", 1),
    ("f_k3s2_same_par_vivado_res", "f", 3, 2, "same", True, 4, 3, 3, 2, "io_parallel", "Vivado", "Resource", 2),
    ("f_k5s1_same_stream_vivado_lat", "f", 5, 1, "same", False, 3, 5, 2, 3, "io_stream", "Vivado", "Latency", 1),
    ("f_k4s2_valid_par_vitis_lat", "f", 4, 2, "valid", True, 2, 2, 1, 6, "io_parallel", "Vitis", "Latency", 1),
    ("q_k1s1_valid_par_vitis_lat", "q", 1, 1, "valid", True, 3, 4, 6, 6, "io_parallel", "Vitis", "Latency", 1),
    ("q_k1s2_valid_stream_vitis_res", "q", 1, 2, "valid", False, 3, 2, 4, 2, "io_stream", "Vitis", "Resource", 2),
    ("q_k2s1_same_stream_vivado_lat", "q", 2, 1, "same", True, 4, 3, 3, 3, "io_stream", "Vivado", "Latency", 1),
    ("q_k2s2_valid_par_vitis_lat_c1", "q", 2, 2, "valid", False, 3, 5, 1, 1, "io_parallel", "Vitis", "Latency", 1),
    ("q_k3s3_same_stream_vivado_res", "q", 3, 3, "same", True, 2, 3, 6, 4, "io_stream", "Vivado", "Resource", 6),
    ("q_k3s3_valid_par_vivado_lat", "q", 3, 3, "valid", False, 3, 2, 2, 2, "io_parallel", "Vivado", "Latency", 1),
    ("q_k4s1_valid_stream_vitis_lat", "q", 4, 1, "valid", True, 2, 3, 3, 2, "io_stream", "Vitis", "Latency", 1),
    ("q_k4s2_same_par_vitis_res", "q", 4, 2, "same", True, 3, 4, 2, 8, "io_parallel", "Vitis", "Resource", 4),
    ("q_k4s2_valid_stream_vivado_lat", "q", 4, 2, "valid", False, 4, 2, 4, 4, "io_stream", "Vivado", "Latency", 1),
    ("q_k5s2_same_stream_vitis_res", "q", 5, 2, "same", True, 3, 3, 4, 3, "io_stream", "Vitis", "Resource", 4),
    ("q_k5s1_valid_par_vivado_lat", "q", 5, 1, "valid", True, 2, 3, 32, 2, "io_parallel", "Vivado", "Latency", 1),
    ("q_k5s3_same_stream_vivado_lat", "q", 5, 3, "same", False, 2, 2, 3, 5, "io_stream", "Vivado", "Latency", 1),
    ("q_k3s2_valid_stream_vivado_res_big", "q", 3, 2, "valid", True, 4, 4, 16, 32, "io_stream", "Vivado", "Resource", 32),
    ("q_k2s2_same_par_vivado_lat_c32", "q", 2, 2, "same", True, 2, 2, 32, 16, "io_parallel", "Vivado", "Latency", 1),
    ("q_k1s1_same_stream_vitis_res", "q", 1, 1, "same", True, 3, 3, 8, 4, "io_stream", "Vitis", "Resource", 4),
    ("f_k1s2_same_par_vitis_lat", "f", 1, 2, "same", True, 3, 4, 2, 2, "io_parallel", "Vitis", "Latency", 1),
    ("f_k2s3_same_stream_vitis_res", "f", 2, 3, "same", True, 3, 2, 3, 4, "io_stream", "Vitis", "Resource", 3),
    ("f_k3s1_same_par_vivado_lat", "f", 3, 1, "same", True, 3, 4, 4, 2, "io_parallel", "Vivado", "Latency", 1),
    ("f_k3s3_valid_stream_vivado_res", "f", 3, 3, "valid", False, 2, 3, 2, 4, "io_stream", "Vivado", "Resource", 2),
    ("f_k5s2_valid_stream_vitis_lat", "f", 5, 2, "valid", True, 2, 3, 2, 2, "io_stream", "Vitis", "Latency", 1),
    ("f_k2s2_same_par_vivado_res_c16", "f", 2, 2, "same", True, 3, 3, 16, 8, "io_parallel", "Vivado", "Resource", 8),
    ("f_k4s3_valid_stream_vivado_lat", "f", 4, 3, "valid", False, 2, 3, 3, 3, "io_stream", "Vivado", "Latency", 1),
    ("qn_k2s2_valid_stream_vitis_lat_w5neg", "qn", 2, 2, "valid", True, 3, 4, 8, 8, "io_stream", "Vitis", "Latency", 1),
    ("qn_k3s2_same_par_vivado_res_w5neg", "qn", 3, 2, "same", True, 3, 3, 4, 4, "io_parallel", "Vivado", "Resource", 4),
]
CI_CASES = 13

# U-Net-sized layers (QKeras W5A8, bit-exact); large g++ compiles -> slow marker.
SLOW_MATRIX = [
    ("q_unet_128to64_4x4_stream_vitis_lat", "q", 2, 2, "valid", True, 4, 4, 128, 64, "io_stream", "Vitis", "Latency", 1),
    ("q_unet_16to8_32x32_stream_vivado_res", "q", 2, 2, "same", True, 32, 32, 16, 8, "io_stream", "Vivado", "Resource", 8),
    ("q_unet_64to32_8x8_par_vitis_res", "q", 2, 2, "valid", True, 8, 8, 64, 32, "io_parallel", "Vitis", "Resource", 64),
    ("q_unet_32to16_16x16_stream_vitis_k3", "q", 3, 2, "same", True, 16, 16, 32, 16, "io_stream", "Vitis", "Latency", 1),
]


def _params():
    out = [pytest.param(*case[1:], id=case[0]) for case in MATRIX]
    out += [pytest.param(*case[1:], id=case[0], marks=pytest.mark.slow) for case in SLOW_MATRIX]
    return out


def _ref_and_hls(kind, k, s, padding, bias, H, W, cin, cout, io_type, backend, strategy, rf, tmp_path, seed=0):
    rng = np.random.default_rng(seed)
    inp = tf.keras.Input((H, W, cin), name="x_in")
    if kind in ("q", "qn"):  # qn: 5-bit weights with negative integer bits (step 2**-6, as in the U-Net's W5)
        x = QActivation(quantized_bits(8, 2, alpha=1), name="qin")(inp)
        ct = QConv2DTranspose(
            cout, k, strides=s, padding=padding, use_bias=bias, name="ct",
            kernel_quantizer=quantized_bits(5, -2 if kind == "qn" else 0, alpha=1),
            bias_quantizer=quantized_bits(8, 2, alpha=1) if bias else None,
        )
    else:
        x = inp
        ct = tf.keras.layers.Conv2DTranspose(cout, k, strides=s, padding=padding, use_bias=bias, name="ct")
    model = tf.keras.Model(inp, ct(x))
    weights = [rng.normal(0, 0.05 if kind == "qn" else 0.5, w.shape) for w in ct.get_weights()]
    if kind == "f":  # float model whose parameters are representable in the configured ap_fixed<10,2>
        weights = [np.clip(np.round(w * 256) / 256, -2, 2 - 2**-8) for w in weights]
    else:  # exercise the quantizers' full ranges (incl. saturation) on the bias
        weights = [w * 4 if i == 1 else w for i, w in enumerate(weights)]
    ct.set_weights([w.astype("float32") for w in weights])

    X = (rng.integers(-128, 128, (4, H, W, cin)) / 32).astype("float32")  # on the ap_fixed<8,3> grid
    y_ref = model.predict(X, verbose=0)

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    cfg["Model"]["Strategy"] = strategy
    cfg["Model"]["ReuseFactor"] = rf
    if kind == "f":
        cfg["LayerName"]["x_in"]["Precision"] = {"result": "ap_fixed<8,3>"}
        cfg["LayerName"]["ct"]["Precision"] = {
            "weight": "ap_fixed<10,2>", "bias": "ap_fixed<10,2>", "accum": "ap_fixed<32,12>", "result": "ap_fixed<16,6>"
        }
    hm = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, io_type=io_type, backend=backend, output_dir=str(tmp_path / "prj")
    )
    hm.compile()
    y_hls = hm.predict(np.ascontiguousarray(X)).reshape(y_ref.shape)
    return model, hm, y_ref, y_hls


@pytest.mark.parametrize("kind,k,s,padding,bias,H,W,cin,cout,io_type,backend,strategy,rf", _params())
def test_matrix(kind, k, s, padding, bias, H, W, cin, cout, io_type, backend, strategy, rf, tmp_path):
    model, hm, y_ref, y_hls = _ref_and_hls(kind, k, s, padding, bias, H, W, cin, cout, io_type, backend, strategy, rf,
                                           tmp_path)
    node = hm.graph["ct"]
    assert node.class_name == LAYER_NAME
    assert node.get_attr("strategy") == strategy.lower()
    assert node.get_attr("reuse_factor") == rf  # the matrix uses valid RFs only
    assert y_hls.shape == y_ref.shape
    assert np.any(y_ref != 0)
    if kind in ("q", "qn"):
        np.testing.assert_array_equal(y_hls, y_ref)
        acc = node.types["accum_t"].precision
        assert acc.width <= 8 + 5 + 10 + 1 + 1, acc  # exact but not blown up (<= 25 bits for n_terms <= 800)
    else:
        assert np.max(np.abs(y_hls - y_ref)) <= OUT_LSB_FLOAT


def test_generated_multiplies_k2s2(tmp_path):
    """k2s2: the generated dense product is Cin x Cout per output pixel (= Cin*Cout*k^2 per input pixel)."""
    inp = tf.keras.Input((4, 4, 16), name="x_in")
    layer = tf.keras.layers.Conv2DTranspose(8, 2, strides=2, name="ct")
    model = tf.keras.Model(inp, layer(inp))
    hm = hls4ml.converters.convert_from_keras_model(model, io_type="io_stream", backend="Vitis",
                                                    output_dir=str(tmp_path / "prj"))
    hm.write()
    params = (tmp_path / "prj" / "firmware" / "parameters.h").read_text()
    mult = params[params.index("_mult : nnet::dense_config"):]
    assert "n_in = 16;" in mult and "n_out = 8;" in mult  # 16*8 products per output pixel, 4 output px per input px
    counts = multiplies_per_output_pixel(layer)
    assert counts == {"generated": 16 * 8, "useful": 16 * 8, "per_input_pixel": 16 * 8 * 4,
                      "zero_insertion": 4 * 16 * 8}
    assert multiplies_per_output_pixel(hm.graph["ct"]) == counts


def test_unet_decoder_chain_stream_bit_exact(tmp_path):
    """Conv2D -> (pool) -> ConvT -> Concatenate with the skip (U-Net decoder pattern), io_stream, bit-exact."""
    rng = np.random.default_rng(3)
    inp = tf.keras.Input((8, 6, 3), name="x_in")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="qin")(inp)
    c = QConv2D(4, 3, padding="same", name="enc", kernel_quantizer=quantized_bits(5, 0, alpha=1),
                bias_quantizer=quantized_bits(8, 2, alpha=1))(x)
    c = QActivation(quantized_relu(8, 3), name="enc_act")(c)
    p = tf.keras.layers.MaxPooling2D(2, name="pool")(c)
    u = QConv2DTranspose(4, 2, strides=2, name="up", kernel_quantizer=quantized_bits(5, 0, alpha=1),
                         bias_quantizer=quantized_bits(8, 2, alpha=1))(p)
    out = tf.keras.layers.Concatenate(name="cat")([u, c])
    model = tf.keras.Model(inp, out)
    for layer in (model.get_layer("enc"), model.get_layer("up")):
        layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()])
    X = (rng.integers(-128, 128, (4, 8, 6, 3)) / 32).astype("float32")
    y_ref = model.predict(X, verbose=0)

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    # QKeras quantized_relu rounds to nearest and saturates; the concat must hold both inputs exactly
    cfg["LayerName"]["enc_act"]["Precision"]["result"] = "ap_ufixed<8,3,AP_RND_CONV,AP_SAT>"
    cfg["LayerName"]["cat"]["Precision"] = {"result": "ap_fixed<24,12>"}
    hm = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, io_type="io_stream", backend="Vitis", output_dir=str(tmp_path / "prj")
    )
    hm.compile()
    y_hls = hm.predict(np.ascontiguousarray(X)).reshape(y_ref.shape)
    assert np.any(y_ref[..., :4] != 0)
    np.testing.assert_array_equal(y_hls, y_ref)


@pytest.mark.parametrize(
    "kwargs,attr",
    [
        ({"dilation_rate": 2}, "dilation_rate=(2, 2)"),
        ({"output_padding": 1, "strides": 2}, "output_padding=(1, 1)"),
        ({"data_format": "channels_first"}, "data_format='channels_first'"),
    ],
)
def test_unsupported_attribute_refused(kwargs, attr, tmp_path):
    kw = {"filters": 2, "kernel_size": 3, "name": "up4"}
    kw.update(kwargs)
    shape = (3, 5, 5) if kw.get("data_format") == "channels_first" else (5, 5, 3)
    inp = tf.keras.Input(shape)
    model = tf.keras.Model(inp, tf.keras.layers.Conv2DTranspose(**kw)(inp))
    with pytest.raises(UnsupportedLayerError) as err:
        hls4ml.converters.convert_from_keras_model(model, io_type="io_stream", backend="Vitis",
                                                   output_dir=str(tmp_path / "prj"))
    msg = str(err.value)
    assert "'up4'" in msg and "Conv2DTranspose" in msg and attr in msg and "\n" not in msg


def test_invalid_reuse_factor_snapped_with_warning(tmp_path, capsys):
    inp = tf.keras.Input((3, 3, 3), name="x_in")
    model = tf.keras.Model(inp, tf.keras.layers.Conv2DTranspose(4, 2, strides=2, name="ct")(inp))
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vivado")
    cfg["Model"]["Strategy"] = "Resource"
    cfg["Model"]["ReuseFactor"] = 5  # n_in=3, n_out=4: not a valid dense RF
    hm = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, io_type="io_stream", backend="Vivado",
                                                    output_dir=str(tmp_path / "prj"))
    rf = hm.graph["ct"].get_attr("reuse_factor")
    valid = hls4ml.backends.get_backend("Vivado").get_valid_reuse_factors(3, 4)
    assert rf != 5 and rf in valid
    assert 'Invalid ReuseFactor=5 in layer "ct"' in capsys.readouterr().out


def test_register_extensions_idempotent():
    register_extensions()
    register_extensions()
    from hls4ml.converters.keras_v2_to_hls import get_layer_handlers

    assert {"Conv2DTranspose", "QConv2DTranspose"} <= set(get_layer_handlers())
    convert = hls4ml.model.flow.get_flow("convert").optimizers
    assert convert.count("fsic_conv2d_transpose_infer_precision") == 1
    assert hls4ml.model.flow.get_flow("vivado:init_layers").optimizers.count("vivado:fsic_conv2d_transpose_init") == 1


# --------------------------------------------------------------------------------------------------------------------
# issue #14 item 4: adversarial cases for the ConvT's own Resource product (phase-major word layout) and line buffer
# --------------------------------------------------------------------------------------------------------------------
# id, k, s, padding, H, W, Cin, Cout, io_type, backend, strategy, reuse_factor -- RFs from each hls4ml Resource
# variant the snapping can produce (rf_leq_nin: RF | n_in, RF == n_in, rf_gt_nin_rem0: RF = n_in*j, j | n_out), Cin /
# Cout 1 and non-powers of two, k3s2 (M = 2) and k2s2 (M = 1). Inputs: all-0, all-max, all-min, random; weights all at
# the quantizer's maximum for the '_wmax' cases. QKeras W5A8, 'auto' (exact) types: identical outputs.
ADVERSARIAL = [
    ("adv_k2s2_c1to1_stream_vitis_res_rf1_wmax", 2, 2, "valid", 3, 4, 1, 1, "io_stream", "Vitis", "Resource", 1),
    ("adv_k3s2_c5to3_stream_vivado_res_rem0_rf60", 3, 2, "same", 3, 4, 5, 3, "io_stream", "Vivado", "Resource", 60),
    ("adv_k3s2_c5to3_stream_vitis_res_leq_rf5", 3, 2, "same", 3, 4, 5, 3, "io_stream", "Vitis", "Resource", 5),
    ("adv_k3s2_c5to3_stream_vitis_res_eq_rf20_wmax", 3, 2, "valid", 2, 3, 5, 3, "io_stream", "Vitis", "Resource", 20),
    ("adv_k2s2_c6to7_stream_vivado_res_leq_rf2", 2, 2, "valid", 3, 3, 6, 7, "io_stream", "Vivado", "Resource", 2),
    ("adv_k2s2_c6to7_stream_vitis_res_eq_rf6", 2, 2, "same", 2, 3, 6, 7, "io_stream", "Vitis", "Resource", 6),
    ("adv_k2s2_c6to7_stream_vitis_res_rem0_rf42_wmax", 2, 2, "valid", 2, 3, 6, 7, "io_stream", "Vitis", "Resource", 42),
    ("adv_k2s2_c3to1_par_vivado_res_eq_rf3", 2, 2, "valid", 3, 2, 3, 1, "io_parallel", "Vivado", "Resource", 3),
    ("adv_k3s2_c1to6_par_vitis_res_rem0_rf24", 3, 2, "same", 2, 3, 1, 6, "io_parallel", "Vitis", "Resource", 24),
    ("adv_k3s2_c2to6_stream_vitis_lat_rf1_wmax", 3, 2, "same", 3, 3, 2, 6, "io_stream", "Vitis", "Latency", 1),
    ("adv_k3s2_c7to2_stream_vivado_lat_rf2", 3, 2, "valid", 2, 3, 7, 2, "io_stream", "Vivado", "Latency", 2),
    ("adv_k2s2_c5to3_par_vitis_lat_rf1", 2, 2, "same", 2, 2, 5, 3, "io_parallel", "Vitis", "Latency", 1),
]
ADVERSARIAL_DEFAULT = 2  # the first rows run in the default suite, the rest with -m slow


def _adversarial_params():
    return [pytest.param(*c[1:], id=c[0], marks=() if i < ADVERSARIAL_DEFAULT else pytest.mark.slow)
            for i, c in enumerate(ADVERSARIAL)]


@pytest.mark.parametrize("k,s,padding,H,W,cin,cout,io_type,backend,strategy,rf", _adversarial_params())
def test_adversarial_inputs_bit_exact(k, s, padding, H, W, cin, cout, io_type, backend, strategy, rf, request,
                                      tmp_path):
    rng = np.random.default_rng(11)
    inp = tf.keras.Input((H, W, cin), name="x_in")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="qin")(inp)
    ct = QConv2DTranspose(cout, k, strides=s, padding=padding, name="ct",
                          kernel_quantizer=quantized_bits(5, 0, alpha=1), bias_quantizer=quantized_bits(8, 2, alpha=1))
    model = tf.keras.Model(inp, ct(x))
    kernel = np.ones(ct.kernel.shape) if "wmax" in request.node.callspec.id else rng.normal(0, 0.5, ct.kernel.shape)
    ct.set_weights([kernel.astype("float32"), rng.normal(0, 2, cout).astype("float32")])
    lim = 127 / 32  # ap_fixed<8,3> grid: -4 .. 127/32
    X = np.stack([np.zeros((H, W, cin)), np.full((H, W, cin), lim), np.full((H, W, cin), -4.0),
                  rng.integers(-128, 128, (H, W, cin)) / 32]).astype("float32")
    y_ref = model.predict(X, verbose=0)

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    cfg["Model"]["Strategy"] = strategy
    cfg["Model"]["ReuseFactor"] = rf
    hm = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, io_type=io_type, backend=backend,
                                                    output_dir=str(tmp_path / "prj"))
    hm.compile()
    assert hm.graph["ct"].get_attr("reuse_factor") == rf  # valid RFs only: the variant is the one named
    y_hls = hm.predict(np.ascontiguousarray(X)).reshape(y_ref.shape)
    assert np.any(y_ref[1] != y_ref[0]) and np.any(y_ref[3] != y_ref[0])
    np.testing.assert_array_equal(y_hls, y_ref)
