"""convert + csim end to end on a reduced U-Net with every layer type (16x16, base_filters 2, depth 2, trained 1+1
epochs on 16 synthetic frames), against Keras; with ``hls.fold_batchnorm``; bad inputs; the CLI.

The bit-exact tests do not rely on ``csim.run``'s own report alone (its Keras golden and its C model are both fed by
``pipeline.hw.streams.csim_input``, so an input-mapping bug would be invisible there): :func:`_independent_check`
computes
the Keras reference in the test from the uint8 images through the model's own input path (``p/255`` into the saved W5A8
model, whose first layer is its input quantizer) and compares it with the compiled C model run on the same images
(``predict_csim``: the hardware input codes) -- validation frames plus synthetic frames holding the byte values 0,
127, 128, 129, 254, 255 (all-0, all-255, a 0..255 gradient, a 0/255 checkerboard, the boundary bytes).

Runtime (2 cores, measured): ~3-4 min default (training ~20 s, ~7 g++ compiles). The full-size check (64x64, 486,613
params, short training, 64 frames, Vitis + Vivado) is ``@pytest.mark.slow`` (~6-8 min) and in bench/bench_unet_csim.py.
"""
import json
import os
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

import keras_model  # noqa: E402,F401
from pipeline.config import validate  # noqa: E402
from pipeline.errors import UserError  # noqa: E402

SMALL = {
    "model": {"input_shape": [16, 16, 3], "base_filters": 2, "depth": 2},
    "data": {"synthetic": {"train": 16, "val": 8}},
    "train": {"float": {"epochs": 1, "batch_size": 8}, "qat": {"epochs": 1, "batch_size": 8}, "verbose": 0},
    "hls": {"reuse_factor": 4},
    "csim": {"frames": 8, "workers": 2},
}


def _cfg(build_dir, **hls):
    d = json.loads(json.dumps(SMALL))
    d["build_dir"] = str(build_dir)
    d["hls"].update(hls)
    return validate(d)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from keras_model import train

    b = tmp_path_factory.mktemp("small")
    cfg = _cfg(b)
    train.run(cfg)
    return b


def _model_file(trained):
    return str(trained / "train" / "w5a8_model.h5")


EVERY_TYPE = {"QConv2D", "FxpBatchNorm", "QActivation", "MaxPooling2D", "QConv2DTranspose", "Concatenate"}
BOUNDARY_BYTES = (0, 127, 128, 129, 254, 255)  # the input quantizer's p -> p + (p >= 128) step and both ends


def _adversarial_frames(h, w):
    """all-0, all-255, a gradient over 0..255 (every byte value), a 0/255 checkerboard, the boundary bytes cycled."""
    n = h * w * 3
    grad = (np.arange(n) % 256).reshape(h, w, 3)
    yy, xx = np.mgrid[:h, :w]
    cb = np.repeat(((yy + xx) % 2 * 255)[..., None], 3, axis=-1)
    bnd = np.resize(np.array(BOUNDARY_BYTES), n).reshape(h, w, 3)
    frames = np.stack([np.zeros((h, w, 3)), np.full((h, w, 3), 255), grad, cb, bnd]).astype(np.uint8)
    assert set(BOUNDARY_BYTES) <= set(np.unique(frames).tolist()) and len(np.unique(grad)) == 256
    return frames


def _independent_check(cfg, hm, head):
    """Keras reference computed here from the uint8 images through the model's own input path (``to_model_input``:
    p/255, into the saved W5A8 model whose first layer is its input quantizer) vs the compiled C model on the same uint8
    images (``predict_csim`` feeds the hardware input codes): logits exactly, or the argmax class map (numpy argmax,
    lowest index on ties) for the argmax head."""
    from keras_model import data
    from keras_model.model_io import load_model
    from pipeline.hls.cmodel import predict_csim

    km = load_model(cfg["hls"]["model_file"])
    q, a = km.layers[1], km.layers[1].activation  # the input quantizer quantized_bits(8, 0, keep_negative=False)
    assert q.__class__.__name__ == "QActivation" and a.__class__.__name__ == "quantized_bits"
    assert (a.bits, a.integer, bool(a.keep_negative)) == (8, 0, False)
    val, _ = data.load(cfg, "val")
    h, w, _ = cfg["model"]["input_shape"]
    images = np.concatenate([val, _adversarial_frames(h, w)])
    logits = km.predict(data.to_model_input(images), verbose=0).astype(np.float64)
    out = predict_csim(hm, images, workers=2)
    if head == "logits":
        np.testing.assert_array_equal(out.reshape(logits.shape), logits)
    else:
        np.testing.assert_array_equal(out.reshape(logits.shape[:-1]), np.argmax(logits, axis=-1))
    return images, logits


@pytest.mark.parametrize("backend,head", [("Vitis", "argmax"), ("Vivado", "logits")])
def test_reduced_unet_csim_bit_exact(trained, tmp_path, backend, head):
    from pipeline.hls.project import convert
    from pipeline.stages import csim

    cfg = _cfg(tmp_path / "b", backend=backend, output_head=head, model_file=_model_file(trained))
    conv = convert(cfg)
    hm = conv.hls_model
    r = csim.run(cfg, conversion=conv)
    assert r["frames"] == 8
    assert r["logits_bit_exact_fraction"] == 1.0 and r["max_abs_diff_lsb"] == 0
    assert r["argmax_agreement"] == 1.0 and r["passed"]
    assert (tmp_path / "b" / "csim" / "report.json").is_file() and (tmp_path / "b" / "csim" / "report.md").is_file()
    itf = json.loads((tmp_path / "b" / "hls" / "interface.json").read_text())
    assert itf["output_mode"] == head and itf["in_tdata_width"] == 24
    assert itf["out_elem_bits"] == (5 if head == "argmax" else 8)
    from keras_model.model_io import load_model

    classes = {layer.__class__.__name__ for layer in load_model(_model_file(trained)).layers}
    assert EVERY_TYPE <= classes
    assert not list((tmp_path / "b").glob(".hls.tmp-*"))
    _independent_check(cfg, hm, head)


def test_reduced_unet_fold_batchnorm_csim_bit_exact(trained, tmp_path):
    """``hls.fold_batchnorm: true`` on the whole reduced U-Net: every BatchNorm's shift is folded into its Conv2D's
    bias (in this U-Net every BatchNorm follows a Conv2D), and the logits are still bit-exact against Keras."""
    from pipeline.hls.project import convert
    from pipeline.stages import csim

    cfg = _cfg(tmp_path / "b", backend="Vitis", output_head="logits", fold_batchnorm=True,
               fuse_conv_blocks=False,  # the BatchNorm layers themselves (fold + fusion: test_fused_conv_block)
               model_file=_model_file(trained))
    conv = convert(cfg)
    hm = conv.hls_model
    bns = [n for n in hm.get_layers() if n.class_name == "BatchNormalization"]
    assert len(bns) == 10 and all(n.get_attr("fsic_fold_info") for n in bns), "not every BatchNorm was folded"
    assert {hm.graph[n.get_attr("fsic_fold_info")["conv"]].class_name for n in bns} == {"Conv2D"}
    r = csim.run(cfg, conversion=conv)
    assert r["logits_bit_exact_fraction"] == 1.0 and r["argmax_agreement"] == 1.0 and r["passed"]
    _independent_check(cfg, hm, "logits")


def test_auto_reuse_factors_reach_the_project_and_csim_stays_bit_exact(trained, tmp_path):
    """``hls.reuse_factor: auto`` (issue #13): the per-layer RFs chosen for a 1,500-cycle target are the ones in the
    converted hls4ml model (hls4ml keeps them: it would snap an invalid one) and in ``hls/reuse.json``, they differ
    from layer to layer, and the C simulation is still bit-exact against Keras (a reuse factor changes the schedule,
    never the arithmetic)."""
    from pipeline.hls.project import convert, layer_table
    from pipeline.hw.budget import resolve_reuse_factors
    from pipeline.stages import csim

    d = json.loads(json.dumps(SMALL))
    d["build_dir"] = str(tmp_path / "b")
    d["hls"].update(reuse_factor="auto", model_file=_model_file(trained), output_head="logits")
    d["target"] = {"frame_interval_cycles": 1500}
    cfg = validate(d)
    want = resolve_reuse_factors(cfg)["reuse_factors"]
    assert len(set(want.values())) >= 5 and max(want.values()) >= 16
    conv = convert(cfg)
    rows = {r["name"]: r["reuse_factor"] for r in layer_table(conv.hls_model)}
    assert {k: rows[k] for k in want} == want
    rec = json.loads((tmp_path / "b" / "hls" / "reuse.json").read_text())
    assert rec["mode"] == "auto" and rec["target_cycles"] == 1500 and rec["reuse_factors"] == want
    r = csim.run(cfg, conversion=conv)
    assert r["logits_bit_exact_fraction"] == 1.0 and r["max_abs_diff_lsb"] == 0 and r["passed"]
    _independent_check(cfg, conv.hls_model, "logits")


def test_hls_config_explicit_everywhere(trained, tmp_path):
    from keras_model.model_io import load_model
    from pipeline.hls.project import convert, hls_config_for, layer_table, prepare_model

    cfg = _cfg(tmp_path / "b", model_file=_model_file(trained), reuse_factors={"dec1_conv1": 8})
    m = prepare_model(load_model(_model_file(trained)), "argmax")
    h = hls_config_for(cfg, m)
    for name, lc in h["LayerName"].items():
        for k, v in lc["Precision"].items():
            assert "auto" not in v and v.startswith("ap_"), (name, k, v)
    assert h["LayerName"]["dec1_conv1"]["ReuseFactor"] == 8
    hm = convert(cfg, write=False).hls_model
    rows = {r["name"]: r for r in layer_table(hm)}
    assert rows["dec1_conv1"]["reuse_factor"] in (8, 9)  # hls4ml snaps to the nearest valid RF
    # enc1_conv1 is fused with enc1_bn1 / enc1_relu1 (the default): its 3x3x3 -> 2 MACs per pixel plus the
    # BatchNorm's one multiply per output channel and pixel
    assert rows["enc1_conv1"]["fused"] == {"conv": "enc1_conv1", "bn": "enc1_bn1", "relu": "enc1_relu1",
                                           "producer": "Conv2D"}
    assert rows["enc1_conv1"]["multiplies"] == 16 * 16 * 2 * 27 + 16 * 16 * 2
    assert all("auto" not in str(v) for r in rows.values() for v in r["precision"].values())


def test_missing_model_file(tmp_path):
    from pipeline.hls.project import convert

    cfg = _cfg(tmp_path / "b", model_file=str(tmp_path / "nope.h5"))
    with pytest.raises(UserError, match="nope.h5: no such model file"):
        convert(cfg)
    cfg = _cfg(tmp_path / "c")
    with pytest.raises(UserError, match="w5a8_model.h5: no such model file.*unet-fsic train"):
        convert(cfg)


def test_override_unknown_layer(trained, tmp_path):
    from pipeline.hls.project import convert

    cfg = _cfg(tmp_path / "b", model_file=_model_file(trained),
               precision_overrides={"enc1_convv1": {"result": "ap_fixed<16,6>"}})
    with pytest.raises(UserError, match=r"precision_overrides\.enc1_convv1: no layer.*did you mean 'enc1_conv1'"):
        convert(cfg)
    assert not list((tmp_path / "b").glob(".hls.tmp-*")) and not (tmp_path / "b" / "hls").exists()
    cfg = _cfg(tmp_path / "b", model_file=_model_file(trained), reuse_factors={"nope": 2})
    with pytest.raises(UserError, match=r"reuse_factors\.nope: no layer"):
        convert(cfg)


def test_unsupported_layer(tmp_path):
    from tensorflow import keras

    from pipeline.hls.project import convert

    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="float_conv")(inp)
    m = keras.Model(inp, keras.layers.Softmax(name="sm")(x))
    cfg = _cfg(tmp_path / "b")
    with pytest.raises(UserError, match=r"layer 'float_conv' \(Conv2D\) is not supported"):
        convert(cfg, model=m, output_head="logits")


def test_too_narrow_precision_warns(trained, tmp_path):
    from keras_model.model_io import load_model
    from pipeline.hls.precision import PrecisionWarning
    from pipeline.hls.project import hls_config_for

    cfg = _cfg(tmp_path / "b", precision_overrides={"enc1_conv1": {"accum": "ap_fixed<8,2>"}})
    m = load_model(_model_file(trained))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        hls_config_for(cfg, m)
    msgs = [str(x.message) for x in w if issubclass(x.category, PrecisionWarning)]
    assert any("layer 'enc1_conv1'" in s and "overflow" in s for s in msgs), msgs


def test_cli_convert_and_failing_csim(trained, tmp_path, capsys):
    """CLI: convert prints the table; a too-narrow override makes csim fail (exit 1) and names the diverging layer;
    a missing model is one line, exit 2."""
    from pipeline.cli import main

    d = json.loads(json.dumps(SMALL))
    d["build_dir"] = str(tmp_path / "b")
    d["hls"].update(model_file=_model_file(trained), precision_overrides={"enc2_relu1": {"result": "ap_ufixed<4,2>"}})
    d["csim"]["frames"] = 2
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump(d))
    assert main(["convert", str(f)]) == 0
    out = capsys.readouterr().out
    assert "enc1_conv1" in out and "FsicFusedConvBlock" in out and "mults/frame" in out  # fused by default
    assert main(["csim", str(f)]) == 1
    rep = json.loads((tmp_path / "b" / "csim" / "report.json").read_text())
    # the fused block enc2_conv1 -> enc2_bn1 -> enc2_relu1 outputs what the narrowed enc2_relu1 outputs
    assert not rep["passed"] and rep["first_divergence"]["layer"] == "enc2_conv1"
    assert rep["first_divergence"]["fused"]["relu"] == "enc2_relu1"
    d["hls"]["model_file"] = str(tmp_path / "missing.h5")
    f.write_text(yaml.safe_dump(d))
    assert main(["convert", str(f)]) == 2
    assert "missing.h5: no such model file" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["Vitis", "Vivado"])
def test_full_size_unet_bit_exact(tmp_path_factory, backend):
    """Full default U-Net (64x64, 8..128 channels, 486,613 params), short training, 64 frames, argmax head."""
    from keras_model import train
    from pipeline.stages import csim

    b = Path(os.environ.get("UNET_FSIC_FULL_BUILD", "")) if os.environ.get("UNET_FSIC_FULL_BUILD") else None
    if b is None or not (b / "train" / "w5a8_model.h5").is_file():
        b = tmp_path_factory.mktemp("full")
        cfg = validate({"build_dir": str(b), "data": {"synthetic": {"train": 64, "val": 64}},
                        "train": {"float": {"epochs": 1}, "qat": {"epochs": 1}, "verbose": 0}})
        train.run(cfg)
    cfg = validate({"build_dir": str(tmp_path_factory.mktemp("fullcsim")), "data": {"synthetic": {"val": 64}},
                    "hls": {"backend": backend, "output_head": "argmax",
                            "model_file": str(b / "train" / "w5a8_model.h5")}, "csim": {"frames": 64}})
    r = csim.run(cfg)
    assert r["logits_bit_exact_fraction"] == 1.0 and r["argmax_agreement"] == 1.0 and r["frames"] == 64
