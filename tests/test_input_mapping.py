"""The IP's input mapping (``pipeline.hw.streams.hardware_input``): uint8 pixel -> the 8-bit code the input stream
carries.

Reference: QKeras's own input quantizer -- the W5A8 model's ``input_quant`` layer, i.e. ``quantized_bits(8, 0,
keep_negative=False, alpha=1)`` -- applied to the model's own input scaling ``p / 255`` (``keras_model.data``), for
every one of the 256 byte values. Nothing here is computed by the code under test. ~5 s.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras_model  # noqa: E402,F401
from keras_model.data import to_model_input  # noqa: E402
from pipeline.config import validate  # noqa: E402
from pipeline.errors import UserError  # noqa: E402
from pipeline.hw.streams import csim_input, hardware_input  # noqa: E402

ALL_BYTES = np.arange(256, dtype=np.uint8)


def _qkeras_codes():
    """QKeras's input quantizer, taken from a W5A8 model as built for the default config, on p/255."""
    from keras_model.model import build_model

    m = build_model(validate({"model": {"input_shape": [8, 8, 3], "base_filters": 2, "depth": 1}}), quantized=True)
    q = m.get_layer("input_quant").quantizer
    assert (q.bits, q.integer, q.keep_negative) == (8, 0, False), "the model's input quantizer changed"
    v = np.asarray(q(to_model_input(ALL_BYTES.reshape(1, 16, 16, 1)))).reshape(-1).astype(np.float64)
    codes = v * 256.0
    assert np.array_equal(codes, np.round(codes)), "QKeras input values are not on the 1/256 grid"
    return codes.astype(np.int64)


def test_hardware_input_equals_qkeras_input_quantizer_on_all_256_bytes():
    ref = _qkeras_codes()
    got = hardware_input(ALL_BYTES).astype(np.int64)
    bad = np.flatnonzero(got != ref)
    assert bad.size == 0, f"bytes {bad.tolist()}: hardware code {got[bad].tolist()} != QKeras {ref[bad].tolist()}"
    # and what the C simulation is fed is that code on the ap_ufixed<8,0> grid
    np.testing.assert_array_equal(csim_input(ALL_BYTES).astype(np.float64), ref / 256.0)
    # sanity of the reference itself: monotone, 0 -> 0, 255 -> 255 (saturated), a step of 2 somewhere near 128
    assert ref[0] == 0 and ref[255] == 255 and np.all(np.diff(ref) >= 0)
    assert sorted(set(np.diff(ref).tolist())) == [0, 1, 2]


def test_hardware_input_refuses_non_uint8():
    with pytest.raises(UserError, match="expected uint8"):
        hardware_input(np.zeros((2, 2, 3), np.float32))
