"""The seed U-Net in Keras: architecture facts from shared/design/seed_unet.md, and the W5A8 quantization grids."""
import numpy as np
import pytest

import keras_model  # noqa: F401  (applies the QKeras compat fixes)
from keras_model import build_model
from keras_model.model import quantized_layers
from pipeline.config import validate

# From the seed spec (independent of our code): 485,120 conv/convT weights + 21 head biases + 1,472 BN gamma/beta.
SEED_TRAINABLE = 486_613
SEED_TOTAL = 488_085


@pytest.fixture(scope="module")
def cfg():
    return validate({})


@pytest.fixture(scope="module")
def qmodel(cfg):
    return build_model(cfg, quantized=True)


@pytest.fixture(scope="module")
def fmodel(cfg):
    return build_model(cfg, quantized=False)


def _trainable(m):
    return int(sum(np.prod(w.shape) for w in m.trainable_weights))


@pytest.mark.parametrize("which", ["float", "w5a8"])
def test_parameter_count_matches_seed(which, fmodel, qmodel):
    m = fmodel if which == "float" else qmodel
    assert _trainable(m) == SEED_TRAINABLE
    assert m.count_params() == SEED_TOTAL


def test_conv_weight_count_matches_seed(fmodel):
    n = sum(int(np.prod(layer.kernel.shape)) for layer in fmodel.layers if hasattr(layer, "kernel"))
    assert n == 485_120


@pytest.mark.parametrize("which", ["float", "w5a8"])
def test_output_shape(which, fmodel, qmodel):
    m = fmodel if which == "float" else qmodel
    y = m.predict(np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32), verbose=0)
    assert y.shape == (2, 64, 64, 21)


def test_layer_names_and_structure(qmodel):
    names = [layer.name for layer in qmodel.layers]
    for n in ["input_quant", "enc1_conv1", "enc1_bn1", "enc1_relu1", "enc1_conv2", "pool1", "enc4_relu2", "pool4",
              "bott_conv1", "bott_relu2", "up4", "up4_quant", "dec4_concat", "dec4_conv1", "dec1_relu2", "up1",
              "head", "head_quant"]:
        assert n in names, n
    # concat order is [upsampled, skip]
    concat = qmodel.get_layer("dec4_concat")
    srcs = [t.node.layer.name for t in concat.input]
    assert srcs == ["up4_quant", "enc4_relu2"]
    # convolutions have no bias except the head; transposed convs are k2 s2 valid
    for layer in quantized_layers(qmodel):
        assert layer.use_bias == (layer.name == "head"), layer.name
    for lvl in range(1, 5):
        up = qmodel.get_layer(f"up{lvl}")
        assert type(up).__name__ == "QConv2DTranspose"
        assert tuple(up.kernel_size) == (2, 2) and tuple(up.strides) == (2, 2) and up.padding == "valid"
    # BN epsilon / momentum from the seed
    bn = qmodel.get_layer("enc1_bn1")
    assert bn.epsilon == pytest.approx(1e-5) and bn.momentum == pytest.approx(0.9)


def test_every_kernel_takes_at_most_2_pow_5_values(qmodel):
    """Quantize real (randomised, partly saturating) kernels through each layer's own quantizer."""
    rng = np.random.default_rng(1)
    layers = quantized_layers(qmodel)
    assert len(layers) == 23  # 18 block convs + 4 up-convs + head
    for layer in layers:
        k = layer.kernel.numpy()
        wide = rng.normal(0, 2 * np.abs(k).max() + 1e-3, k.shape).astype(np.float32)
        for w in (k, wide):
            q = layer.kernel_quantizer_internal(w).numpy()
            vals = np.unique(q)
            assert len(vals) <= 32, (layer.name, len(vals))
            # the values lie on a 5-bit signed grid: integers in [-16, 15] times a power-of-two step
            step = 2.0 ** (qmodel.unet_int_bits[layer.name] - 4)
            codes = q / step
            assert np.array_equal(codes, np.round(codes)), layer.name
            assert codes.min() >= -16 and codes.max() <= 15, layer.name


def _probe(model, names, x):
    from tensorflow import keras

    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    return dict(zip(names, probe.predict(x, verbose=0)))


def test_activations_lie_on_8bit_grids(qmodel):
    x = np.random.default_rng(2).random((2, 64, 64, 3), dtype=np.float32)
    relus = [layer.name for layer in qmodel.layers if "_relu" in layer.name]
    assert len(relus) == 18
    signed = ["up4_quant", "up3_quant", "up2_quant", "up1_quant", "head_quant"]
    outs = _probe(qmodel, relus + signed + ["input_quant"], x)
    ib = qmodel.unet_int_bits
    for n in relus:  # quantized_relu(8, i): unsigned codes 0..255 times 2**(i-8)
        codes = outs[n] / 2.0 ** (ib[n] - 8)
        assert np.array_equal(codes, np.round(codes)), n
        assert codes.min() >= 0 and codes.max() <= 255, n
        assert len(np.unique(codes)) <= 256
    for n in signed:  # quantized_bits(8, i) signed: codes -128..127 times 2**(i-7)
        codes = outs[n] / 2.0 ** (ib[n] - 7)
        assert np.array_equal(codes, np.round(codes)), n
        assert codes.min() >= -128 and codes.max() <= 127, n
    codes = outs["input_quant"] * 256
    assert np.array_equal(codes, np.round(codes)) and codes.min() >= 0 and codes.max() <= 255


def test_width_and_bits_come_from_config():
    cfg = validate({"model": {"input_shape": [32, 32, 3], "base_filters": 4, "depth": 2, "num_classes": 5},
                    "quant": {"weight_bits": 3, "act_bits": 6, "int_bits": {"enc1_conv1": -1}}})
    m = build_model(cfg, quantized=True)
    assert m.output_shape == (None, 32, 32, 5)
    assert m.get_layer("bott_conv1").filters == 16
    q = m.get_layer("enc1_conv1").kernel_quantizer_internal
    assert q.bits == 3 and q.integer == -1
    assert m.get_layer("enc1_relu1").activation.bits == 6
