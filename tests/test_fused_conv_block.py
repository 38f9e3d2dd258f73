"""Fused conv blocks (issue #14): Conv2D / transposed conv -> FxpBatchNorm -> quantized ReLU as one hls4ml layer
(``FsicFusedConvBlock``) and one io_stream process, bit-exact against Keras/QKeras.

Matrix (:data:`MATRIX`): every case is ONE model of four chained blocks (one g++ compile), converted with
``hls.fuse_conv_blocks: true`` through ``pipeline.hls.project.convert``; the C simulation's output AND every fused
block's own output (hls4ml trace hook on the fused node, against the Keras ReLU output) must be identical
(``assert_array_equal``). The two chains cover kernel 1 and 3 (same and valid padding, stride 1), the transposed conv
(k2 s2) as producer, Cin / Cout 1 and non-powers of two (3, 5, 7, 6, 2), and the BatchNorm edge cases: a quantized
scale saturating at +127, one at -128, zero scales (constant channels), negative scales; BatchNorm result types
narrow enough to saturate, ReLU types that saturate (quantized_relu(8,0) at ~1, (8,2) at ~4). The case axes are
backend (Vitis / Vivado), strategy (Latency / Resource), per-layer ReuseFactor (1, a mid one <= n_in, the largest
valid one: the Resource kernels rf_leq_nin / rf_gt_nin(_rem0)) and ``hls.fold_batchnorm``. The default suite runs 4
cases covering every axis value; ``-m slow`` runs the other 44 of the full cross product (2 x 2 x 2 x 3 x 2).

Also: chains that must be left alone (conv without BN, BN without ReLU, BN / conv output used twice) next to fused
ones whose ReLU output is used twice (Clone + Concatenate downstream), in one bit-exact model; the reduced U-Net
(16x16, base_filters 2, depth 2, random weights) fused and bit-exact on synthetic validation + out-of-distribution
frames, with one layer / process per conv block in ``layers.json``; the full default U-Net (``-m slow``; also
``bench/bench_fused.py``).

Runtime (2 cores, measured, machine shared): default ~3 min (6 g++ compiles of 19-35 s); ``-m slow`` ~15 min
matrix + ~5 min full U-Net (convert ~25 s, g++ ~80 s, 76 frames).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from qkeras import QActivation, QConv2D, QConv2DTranspose, quantized_bits, quantized_relu  # noqa: E402
from tensorflow import keras  # noqa: E402

import keras_model  # noqa: E402,F401  (QKeras / TF 2.14 compat fixes)
from keras_model.layers import FxpBatchNorm  # noqa: E402
from pipeline.config import validate  # noqa: E402
from pipeline.extensions import register_extensions  # noqa: E402
from pipeline.hls.cmodel import predict_csim  # noqa: E402
from pipeline.hls.project import convert  # noqa: E402

register_extensions()

FUSED = "FsicFusedConvBlock"
EPS = 1e-5
# block: (producer, kernel, Cout, padding); transposed convs are k2 s2 valid (the U-Net's up-convolution)
SHAPE_A = (("conv", 3, 1, "same"), ("conv", 1, 5, "same"), ("convt", 2, 3, "valid"), ("conv", 3, 7, "same"))
SHAPE_B = (("convt", 2, 2, "valid"), ("conv", 3, 1, "valid"), ("conv", 3, 6, "same"), ("conv", 1, 3, "same"))
SHAPES = {"A": (SHAPE_A, 6), "B": (SHAPE_B, 4)}  # name -> (blocks, input height = width)
# per block (cycled): FxpBatchNorm (out_bits, out_frac), quantized_relu integer bits
BN_RELU = (((12, 8), 2), ((9, 6), 2), ((10, 7), 0), ((12, 7), 3))
SPECIAL_SCALES = (1.998, -1.998, 0.0, -0.6)  # quantized codes +128 -> 127 (saturates), -128, 0, negative

# id, shape, backend, strategy, reuse mode, fold
DEFAULT_CASES = [
    ("A_vitis_latency_rf1", "A", "Vitis", "Latency", "one", False),
    ("A_vivado_resource_rfmax_fold", "A", "Vivado", "Resource", "max", True),
    ("B_vivado_latency_rfmid_fold", "B", "Vivado", "Latency", "mid", True),
    ("B_vitis_resource_rfmid", "B", "Vitis", "Resource", "mid", False),
]


def _matrix():
    default = {c[1:] for c in DEFAULT_CASES}
    out = [pytest.param(*c[1:], id=c[0]) for c in DEFAULT_CASES]
    for shape in SHAPES:
        for backend in ("Vitis", "Vivado"):
            for strategy in ("Latency", "Resource"):
                for rf in ("one", "mid", "max"):
                    for fold in (False, True):
                        case = (shape, backend, strategy, rf, fold)
                        if case not in default:
                            cid = f"{shape}_{backend.lower()}_{strategy.lower()}_rf{rf}{'_fold' if fold else ''}"
                            out.append(pytest.param(*case, id=cid, marks=pytest.mark.slow))
    return out


# --------------------------------------------------------------------------------------------------------------------
# small Keras models
# --------------------------------------------------------------------------------------------------------------------
def _bn_stats(rng, c, offset):
    """(gamma, beta, mean, var) with target scales s = gamma/sqrt(var+eps): the first min(c, 4) channels take the
    special scales (cycled from ``offset``), the rest |s| in [0.3, 1.5] with random signs."""
    var = rng.uniform(0.05, 3.0, c)
    s = rng.uniform(0.3, 1.5, c) * rng.choice([-1.0, 1.0], c)
    for i in range(min(c, 4)):
        s[i] = SPECIAL_SCALES[(i + offset) % 4]
    gamma = s * np.sqrt(var + EPS)
    return [gamma.astype(np.float32), rng.normal(0, 1, c).astype(np.float32),
            rng.normal(0, 1.5, c).astype(np.float32), var.astype(np.float32)]


def _producer(kind, k, cout, padding, name):
    q = quantized_bits(5, 0, alpha=1)
    if kind == "conv":
        return QConv2D(cout, k, padding=padding, use_bias=False, name=name, kernel_quantizer=q)
    return QConv2DTranspose(cout, k, strides=2, padding=padding, use_bias=False, name=name, kernel_quantizer=q)


def _block(x, i, kind, k, cout, padding, prefix="b"):
    (out_bits, out_frac), relu_int = BN_RELU[i % len(BN_RELU)]
    x = _producer(kind, k, cout, padding, f"{prefix}{i}_conv")(x)
    x = FxpBatchNorm(scale_bits=8, out_bits=out_bits, out_frac=out_frac, name=f"{prefix}{i}_bn")(x)
    return QActivation(quantized_relu(8, relu_int), name=f"{prefix}{i}_relu")(x)


def _input(hw):
    inp = keras.Input((hw, hw, 3), name="x_in")
    return inp, QActivation(quantized_bits(8, 0, keep_negative=False, alpha=1), name="input_quant")(inp)


def _set_weights(model, seed):
    """Kernels uniform in [-2, 2) / sqrt(fan_in) (5-bit quantized), BatchNorm statistics from :func:`_bn_stats`."""
    rng = np.random.default_rng(seed)
    n_bn = 0
    for layer in model.layers:
        if isinstance(layer, FxpBatchNorm):  # block i's BatchNorm starts at special scale i
            layer.set_weights(_bn_stats(rng, int(layer.gamma.shape[0]), n_bn))
            n_bn += 1
        elif isinstance(layer, (QConv2D, QConv2DTranspose)):
            ws = layer.get_weights()
            kern = ws[0]
            fan_in = kern.shape[0] * kern.shape[1] * (kern.shape[2] if isinstance(layer, QConv2D) else kern.shape[3])
            ws[0] = (rng.uniform(-2, 2, kern.shape) / np.sqrt(fan_in)).astype(np.float32)
            ws[1:] = [rng.normal(0, 1, b.shape).astype(np.float32) for b in ws[1:]]
            layer.set_weights(ws)


def _head(x):
    """A U-Net-like head (1x1 conv with bias -> quantized_bits): the model output is not a fused block's."""
    x = QConv2D(2, 1, use_bias=True, name="head", kernel_quantizer=quantized_bits(5, 0, alpha=1),
                bias_quantizer=quantized_bits(8, 3, alpha=1))(x)
    return QActivation(quantized_bits(8, 4, alpha=1), name="head_quant")(x)


def _chain_model(shape, seed):
    blocks, hw = SHAPES[shape]
    inp, x = _input(hw)
    for i, (kind, k, cout, padding) in enumerate(blocks):
        x = _block(x, i, kind, k, cout, padding)
    model = keras.Model(inp, _head(x))
    _set_weights(model, seed)
    return model


def _frames(hw, n=6, seed=0):
    imgs = np.random.default_rng(seed).integers(0, 256, (n, hw, hw, 3), dtype=np.uint8)
    imgs[0], imgs[1] = 0, 255
    return imgs


def _cfg(build_dir, backend="Vitis", strategy="Latency", fold=False, fuse=True, reuse_factors=None, **extra):
    hls = {"backend": backend, "io_type": "io_stream", "reuse_factor": 1, "strategy": strategy,
           "fold_batchnorm": fold, "fuse_conv_blocks": fuse, "output_head": "logits",
           "reuse_factors": reuse_factors or {}}
    return validate({"build_dir": str(build_dir), "hls": hls, **extra})


def _dense_size(layer):
    """(n_in, n_out) of the per-pixel dense product of a Keras QConv2D / QConv2DTranspose (k2 s2: M = 1)."""
    k = layer.kernel_size[0]
    cin = int(layer.input_shape[-1])
    return (k * k * cin if isinstance(layer, QConv2D) else cin), int(layer.filters)


def _reuse_factors(model, backend, mode):
    """Per conv layer: 1, a mid valid RF (the largest valid one <= n_in, > 1 when possible), or the largest valid."""
    from hls4ml.backends import get_backend

    be = get_backend(backend)
    rfs = {}
    for layer in model.layers:
        if isinstance(layer, (QConv2D, QConv2DTranspose)):
            n_in, n_out = _dense_size(layer)
            valid = sorted(be.get_valid_reuse_factors(n_in, n_out))
            if mode == "one":
                rfs[layer.name] = 1
            elif mode == "mid":
                rfs[layer.name] = max([r for r in valid if r <= n_in] or [1])
            else:
                rfs[layer.name] = valid[-1]
    return rfs


def _run(model, cfg, imgs, traced):
    """Convert (+ trace the ``traced`` fused nodes), compile, C-simulate ``imgs``; returns (hls model, output,
    traces)."""
    hm = convert(cfg, model=model, output_head="logits").hls_model
    for node in hm.get_layers():
        node.set_attr("trace", node.name in traced)
    hm.config.trace_output = bool(traced)
    hm.compile()
    if not traced:
        return hm, predict_csim(hm, imgs, workers=1), {}
    y, tr = predict_csim(hm, imgs, workers=1, trace_layers=list(traced))
    return hm, y, tr


def _keras_outputs(model, names, imgs):
    sub = keras.Model(model.input, [model.get_layer(n).output for n in names])
    ys = sub.predict(imgs.astype(np.float32) / 255.0, verbose=0)
    return dict(zip(names, ys if len(names) > 1 else [ys]))


# --------------------------------------------------------------------------------------------------------------------
# the matrix
# --------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,backend,strategy,rf_mode,fold", _matrix())
def test_fused_matrix_bit_exact(tmp_path, shape, backend, strategy, rf_mode, fold):
    blocks, hw = SHAPES[shape]
    model = _chain_model(shape, seed=sum(map(ord, shape)))
    rfs = _reuse_factors(model, backend, rf_mode)
    cfg = _cfg(tmp_path / "b", backend, strategy, fold, reuse_factors=rfs)
    convs = [f"b{i}_conv" for i in range(len(blocks))]
    imgs = _frames(hw)
    hm, y, tr = _run(model, cfg, imgs, convs)

    classes = {n.name: n.class_name for n in hm.get_layers()}
    assert not {"BatchNormalization"} & set(classes.values())
    assert all(classes[c] == FUSED for c in convs) and not any(f"b{i}_relu" in classes for i in range(len(blocks)))
    for c in convs:
        node = hm.graph[c]
        assert node.get_attr("reuse_factor") == rfs[c] and node.get_attr("strategy") == strategy.lower()
        assert node.get_attr("epilogue_reuse") == rfs[c]
    if fold:
        assert any(np.any(hm.graph[c].weights["bias"].data != 0) for c in convs), "fold did not reach the conv bias"

    relus = [f"b{i}_relu" for i in range(len(blocks))]
    ref = _keras_outputs(model, relus + [f"b{i}_bn" for i in range(len(blocks))], imgs)
    for c, r in zip(convs, relus):
        np.testing.assert_array_equal(tr[c].reshape(ref[r].shape), ref[r].astype(np.float64), err_msg=c)
    out = model.predict(imgs.astype(np.float32) / 255.0, verbose=0).astype(np.float64)
    np.testing.assert_array_equal(y.reshape(out.shape), out)
    _assert_edge_cases_exercised(model, ref, len(blocks))


def _assert_edge_cases_exercised(model, ref, n_blocks):
    """The data reach the cases the matrix claims: saturating / zero / negative quantized scales, saturated BatchNorm
    results, ReLU zeros, ReLU saturation and values in between."""
    codes = np.concatenate([(lambda s: s[0] * 2.0 ** s[2])(model.get_layer(f"b{i}_bn").quantized_scale_shift())
                            for i in range(n_blocks)])
    assert codes.max() == 127 and codes.min() == -128 and np.any(codes == 0) and np.count_nonzero(codes < 0) >= 3
    bn_sat = relu_sat = 0
    for i in range(n_blocks):
        bn = model.get_layer(f"b{i}_bn")
        lim = 2.0 ** (bn.out_bits - 1 - bn.out_frac)
        bn_sat += np.count_nonzero((ref[f"b{i}_bn"] >= lim - 2.0**-bn.out_frac) | (ref[f"b{i}_bn"] <= -lim))
        q = model.get_layer(f"b{i}_relu").quantizer
        relu_sat += np.count_nonzero(ref[f"b{i}_relu"] == 2.0**q.integer - 2.0 ** (q.integer - q.bits))
    acts = np.concatenate([ref[f"b{i}_relu"].ravel() for i in range(n_blocks)])
    assert bn_sat > 0 and relu_sat > 0
    assert 0.1 < np.mean(acts == 0) < 0.9 and len(np.unique(acts)) > 20


# --------------------------------------------------------------------------------------------------------------------
# what is fused and what is left alone
# --------------------------------------------------------------------------------------------------------------------
def _topology_model(seed=5, hw=6):
    """a: fusable, its ReLU output used twice; b: conv -> ReLU (no BN); c: conv -> BN -> quantized_bits (no ReLU);
    d: BN output used twice; e: conv output used twice; f: fusable."""
    inp, x = _input(hw)
    relu = quantized_relu(8, 2)
    a = _block(x, 0, "conv", 3, 4, "same", prefix="a")
    b = QActivation(relu, name="b_relu")(_producer("conv", 3, 3, "same", "b_conv")(a))
    c = FxpBatchNorm(out_bits=12, out_frac=8, name="c_bn")(_producer("conv", 1, 5, "same", "c_conv")(b))
    c = QActivation(quantized_bits(8, 3, alpha=1), name="c_q")(c)
    d_bn = FxpBatchNorm(out_bits=12, out_frac=8, name="d_bn")(_producer("conv", 3, 2, "same", "d_conv")(c))
    d = keras.layers.Concatenate(name="d_cat")([QActivation(relu, name="d_relu")(d_bn), d_bn])
    e_conv = _producer("conv", 1, 3, "same", "e_conv")(d)
    e_bn = FxpBatchNorm(out_bits=12, out_frac=8, name="e_bn")(e_conv)
    e = keras.layers.Concatenate(name="e_cat")([QActivation(relu, name="e_relu")(e_bn), e_conv])
    f = _block(e, 1, "conv", 3, 5, "same", prefix="f")
    out = keras.layers.Concatenate(name="out_cat")([f, a])
    model = keras.Model(inp, out)
    _set_weights(model, seed)
    return model


def test_only_matching_chains_are_fused_and_stay_bit_exact(tmp_path):
    model = _topology_model()
    imgs = _frames(6, seed=3)
    hm, y, tr = _run(model, _cfg(tmp_path / "b", "Vitis", "Resource", reuse_factors={}), imgs, ["a0_conv", "f1_conv"])
    classes = {n.name: n.class_name for n in hm.get_layers()}
    assert classes["a0_conv"] == FUSED and classes["f1_conv"] == FUSED
    assert classes["b_conv"] == classes["d_conv"] == "Conv2D"
    assert classes["c_conv"] == classes["e_conv"] == "PointwiseConv2D"  # hls4ml's form of a 1x1 conv
    assert {"c_bn", "d_bn", "e_bn", "b_relu", "d_relu", "e_relu"} <= set(classes)
    assert not {"a0_bn", "a0_relu", "f1_bn", "f1_relu"} & set(classes)
    assert "Clone" in {n.class_name for n in hm.get_layers()}  # a's ReLU output (fused) feeds b_conv and out_cat
    ref = _keras_outputs(model, ["a0_relu", "f1_relu", "out_cat"], imgs)
    np.testing.assert_array_equal(tr["a0_conv"].reshape(ref["a0_relu"].shape), ref["a0_relu"].astype(np.float64))
    np.testing.assert_array_equal(tr["f1_conv"].reshape(ref["f1_relu"].shape), ref["f1_relu"].astype(np.float64))
    np.testing.assert_array_equal(y.reshape(ref["out_cat"].shape), ref["out_cat"].astype(np.float64))


def test_fused_block_writing_the_output_port(tmp_path):
    """A fused block whose ReLU output is the model output (the top's AXI-stream port)."""
    inp, x = _input(6)
    model = keras.Model(inp, _block(x, 0, "conv", 3, 5, "same"))
    _set_weights(model, 9)
    imgs = _frames(6)
    hm, y, _ = _run(model, _cfg(tmp_path / "b"), imgs, [])
    assert [n.class_name for n in hm.get_layers()][-1] == FUSED
    ref = model.predict(imgs.astype(np.float32) / 255.0, verbose=0).astype(np.float64)
    np.testing.assert_array_equal(y.reshape(ref.shape), ref)


def test_fusion_default_on_can_be_switched_off_and_io_stream_only(tmp_path):
    """Fusion is on by default (issue #14, once proven); ``hls.fuse_conv_blocks: false`` fuses nothing; io_parallel is
    left alone even when asked."""
    from pipeline.config import defaults

    assert defaults()["hls"]["fuse_conv_blocks"] is True
    model = _chain_model("A", seed=1)
    hm = convert(_cfg(tmp_path / "a", fuse=False), model=model, output_head="logits", write=False).hls_model
    assert FUSED not in {n.class_name for n in hm.get_layers()}
    assert sum(n.class_name == "BatchNormalization" for n in hm.get_layers()) == 4
    cfg = _cfg(tmp_path / "b")
    cfg["hls"]["io_type"] = "io_parallel"
    hm = convert(cfg, model=model, output_head="logits", write=False).hls_model
    assert FUSED not in {n.class_name for n in hm.get_layers()}


def test_registration_idempotent_and_placed_last_before_templates():
    import hls4ml

    from pipeline.extensions import fused_conv_block

    register_extensions()
    register_extensions()
    flow = hls4ml.model.flow.get_flow("vivado:specific_types").optimizers
    name = f"vivado:{fused_conv_block.FUSE_PASS}"
    assert flow.count(name) == 1 and flow[-1] == name
    for be in ("vivado", "vitis"):
        req = hls4ml.model.flow.get_flow(f"{be}:ip").requires
        assert req.index("vivado:specific_types") < req.index(f"{be}:apply_templates")
    assert fused_conv_block.epilogue_multipliers(64, 16) == 4 and fused_conv_block.epilogue_multipliers(7, 9) == 1
    assert fused_conv_block.epilogue_multipliers(21, 1) == 21


# --------------------------------------------------------------------------------------------------------------------
# U-Nets
# --------------------------------------------------------------------------------------------------------------------
def ood_frames(h, w, seed=0):
    """Out-of-distribution frames: uniform noise (2), all-black, all-white, the six saturated primaries /
    secondaries, a 0/255 checkerboard (per pixel) and a 0/255 checkerboard of 4x4 tiles."""
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, (h, w, 3)), rng.integers(0, 256, (h, w, 3)),
              np.zeros((h, w, 3)), np.full((h, w, 3), 255)]
    for rgb in ((1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (0, 1, 1), (1, 0, 1)):
        frames.append(np.broadcast_to(np.array(rgb) * 255, (h, w, 3)))
    yy, xx = np.mgrid[:h, :w]
    for tile in (1, 4):
        frames.append(np.repeat((((yy // tile + xx // tile) % 2) * 255)[..., None], 3, axis=-1))
    return np.stack(frames).astype(np.uint8)


def unet_chains(model) -> list[tuple[str, str, str]]:
    """(conv, bn, relu) names of every conv -> FxpBatchNorm -> ReLU chain of a Keras U-Net."""
    out = []
    for layer in model.layers:
        if isinstance(layer, (QConv2D, QConv2DTranspose)):
            bn = layer.outbound_nodes[0].outbound_layer if len(layer.outbound_nodes) == 1 else None
            if isinstance(bn, FxpBatchNorm):
                out.append((layer.name, bn.name, bn.outbound_nodes[0].outbound_layer.name))
    return out


def check_layers_json(path: Path, chains) -> dict:
    """One row per fused conv block in ``layers.json``, no BatchNormalization / ReLU rows left for them; returns the
    class counts."""
    rows = json.loads(path.read_text())
    by_name = {r["name"]: r for r in rows}
    for conv, bn, relu in chains:
        assert by_name[conv]["class"] == FUSED, conv
        assert by_name[conv]["fused"] == {"conv": conv, "bn": bn, "relu": relu, "producer": "Conv2D"}
        assert bn not in by_name and relu not in by_name
    counts: dict = {}
    for r in rows:
        counts[r["class"]] = counts.get(r["class"], 0) + 1
    assert counts.get("BatchNormalization", 0) == 0 and counts[FUSED] == len(chains)
    return counts


def _small_unet(tmp_path, fuse, seed=21):
    from _support import randomize_weights

    from keras_model.model import build_model

    cfg = _cfg(tmp_path / ("fused" if fuse else "plain"), "Vitis", "Resource", fuse=fuse,
               model={"input_shape": [16, 16, 3], "base_filters": 2, "depth": 2},
               data={"synthetic": {"train": 8, "val": 8}})
    cfg["hls"]["reuse_factor"] = 4
    model = build_model(cfg)
    randomize_weights(model, seed)
    return cfg, model


def _streams(build_dir: Path) -> int:
    """FIFOs of the written top function (``hls::stream`` declarations inside it)."""
    cpp = next((build_dir / "hls" / "firmware").glob("unet_fsic.cpp")).read_text()
    return cpp.count("hls::stream<") - 2  # minus the top's own input / output ports


def test_reduced_unet_fused_bit_exact_one_process_per_block(tmp_path):
    from keras_model import data

    cfg, model = _small_unet(tmp_path, fuse=True)
    chains = unet_chains(model)
    assert len(chains) == 10
    conv = convert(cfg, model=model, output_head="logits")
    counts = check_layers_json(Path(cfg["build_dir"]) / "hls" / "layers.json", chains)
    rows = json.loads((Path(cfg["build_dir"]) / "hls" / "layers.json").read_text())
    assert {r["name"] for r in rows if r["class"] == "Activation"} == {"input_quant", "up1_quant", "up2_quant",
                                                                        "head_quant"}  # no ReLU left
    assert counts[FUSED] == 10
    hm = conv.hls_model
    hm.compile()
    val, _ = data.load(cfg, "val")
    imgs = np.concatenate([val, ood_frames(16, 16)])
    y = predict_csim(hm, imgs, workers=2)
    ref = model.predict(data.to_model_input(imgs), verbose=0).astype(np.float64)
    np.testing.assert_array_equal(y.reshape(ref.shape), ref)
    assert len(np.unique(np.argmax(ref, -1))) >= 3  # the random U-Net's logits are not degenerate

    plain_cfg, plain_model = _small_unet(tmp_path, fuse=False)  # same seed: same weights (a fresh, unconverted model)
    plain = convert(plain_cfg, model=plain_model, output_head="logits")
    n_plain, n_fused = len(list(plain.hls_model.get_layers())), len(list(hm.get_layers()))
    assert n_plain - n_fused == 2 * len(chains)  # BN + ReLU process gone per block
    assert _streams(Path(plain_cfg["build_dir"])) - _streams(Path(cfg["build_dir"])) == 2 * len(chains)


@pytest.mark.slow
def test_full_unet_fused_bit_exact(tmp_path):
    """The default U-Net (hls4ml_configs/default.yaml: 64x64, width x0.25, random weights), fused: exact logits on 64
    validation frames and the out-of-distribution frames; 18 fused blocks, no BatchNormalization / ReLU layer left."""
    from _support import randomize_weights

    from keras_model import data
    from keras_model.model import build_model
    from pipeline.config import load_config

    repo = Path(__file__).resolve().parents[1]
    cfg = load_config(repo / "hls4ml_configs" / "default.yaml",
                      {"build_dir": str(tmp_path / "b"), "hls": {"fuse_conv_blocks": True, "output_head": "logits"}})
    model = build_model(cfg)
    randomize_weights(model, 3)
    chains = unet_chains(model)
    assert len(chains) == 18
    hm = convert(cfg, model=model, output_head="logits").hls_model
    check_layers_json(Path(cfg["build_dir"]) / "hls" / "layers.json", chains)
    hm.compile()
    val, _ = data.load(cfg, "val")
    imgs = np.concatenate([val[:64], ood_frames(64, 64)])
    y = predict_csim(hm, imgs, workers=2)
    ref = model.predict(data.to_model_input(imgs), verbose=0, batch_size=8).astype(np.float64)
    np.testing.assert_array_equal(y.reshape(ref.shape), ref)
