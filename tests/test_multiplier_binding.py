"""``hls.multiplier_binding`` (issue #14 item 2, docs/hls.md#multiplier-binding): conv / convT multiplies bound to DSP48
or LUT fabric.

* the generated project names our product class (``nnet_fsic_mult.h``) in every conv-layer mult config -- Conv2D,
  PointwiseConv2D, FsicConv2DTranspose, both parts of a FsicFusedConvBlock -- with the pragma each tool honours
  (Vitis ``BIND_OP ... impl=dsp|fabric``, Vivado ``RESOURCE ... core=DSP48|Mul_LUT``), for both backends;
* C simulation bit-exact vs Keras with DSP- and LUT-bound layers, Strategy Resource and Latency (two g++ compiles:
  each binds half the layers to DSP, the other half to LUTs, swapped between the two);
* ``auto`` against an independent greedy reference, the DSP budget respected, budget 0 -> all LUT; the estimate and
  ``assess`` report the per-layer bindings;
* a bad value is a one-line config error naming the key.

Runtime (2 shared cores): ~1.5 min (4 conversions without compile, 2 conversions + g++ compiles, tiny estimates).
"""
from __future__ import annotations

import json
import math
import os
import re
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

register_extensions()

#: the bound layers of the small model (kind of hls4ml process they become)
BOUND = {"b0_conv": "FsicFusedConvBlock", "b1_conv": "FsicFusedConvBlock", "c2": "Conv2D", "c3": "FsicConv2DTranspose",
         "head": "PointwiseConv2D"}


def _model(seed=7):
    """input_quant -> [3x3 conv -> BN -> ReLU] (fused) -> [k2s2 convT -> BN -> ReLU] (fused) -> 3x3 conv -> ReLU ->
    k2s2 convT -> ReLU -> 1x1 head -> quantized_bits: every bound process kind once or twice."""
    from _support import randomize_weights

    q5 = quantized_bits(5, 0, alpha=1)
    inp = keras.Input((4, 4, 3), name="x_in")
    x = QActivation(quantized_bits(8, 0, keep_negative=False, alpha=1), name="input_quant")(inp)
    x = QConv2D(4, 3, padding="same", use_bias=False, kernel_quantizer=q5, name="b0_conv")(x)
    x = FxpBatchNorm(scale_bits=8, out_bits=12, out_frac=8, name="b0_bn")(x)
    x = QActivation(quantized_relu(8, 2), name="b0_relu")(x)
    x = QConv2DTranspose(3, 2, strides=2, padding="valid", use_bias=False, kernel_quantizer=q5, name="b1_conv")(x)
    x = FxpBatchNorm(scale_bits=8, out_bits=12, out_frac=8, name="b1_bn")(x)
    x = QActivation(quantized_relu(8, 2), name="b1_relu")(x)
    x = QConv2D(5, 3, padding="same", kernel_quantizer=q5, bias_quantizer=quantized_bits(8, 3, alpha=1), name="c2")(x)
    x = QActivation(quantized_relu(8, 2), name="c2_relu")(x)
    x = QConv2DTranspose(3, 2, strides=2, padding="valid", kernel_quantizer=q5,
                         bias_quantizer=quantized_bits(8, 3, alpha=1), name="c3")(x)
    x = QActivation(quantized_relu(8, 2), name="c3_relu")(x)
    x = QConv2D(2, 1, kernel_quantizer=q5, bias_quantizer=quantized_bits(8, 3, alpha=1), name="head")(x)
    model = keras.Model(inp, QActivation(quantized_bits(8, 4, alpha=1), name="head_quant")(x))
    randomize_weights(model, seed)
    return model


def _cfg(build_dir, backend="Vitis", strategy="Resource", binding="lut", bindings=None):
    return validate({"build_dir": str(build_dir), "model": {"input_shape": [16, 16, 3]},
                     "hls": {"backend": backend, "io_type": "io_stream", "reuse_factor": 1, "strategy": strategy,
                             "fuse_conv_blocks": True, "output_head": "logits", "multiplier_binding": binding,
                             "multiplier_bindings": bindings or {}}})


def _mult_products(params: str) -> dict:
    """{config struct name: product class} of every ``using product = nnet::product::X<x_T, y_T>`` in parameters.h."""
    out = {}
    for m in re.finditer(r"struct (config\d+(?:_mult|_fsic)) : [^{]*\{(.*?)\n\};", params, re.S):
        p = re.search(r"using product = nnet::product::(\w+)<x_T, y_T>;", m.group(2))
        if p:
            out[m.group(1)] = p.group(1)
    return out


# --- (a) the generated project --------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["Vitis", "Vivado"])
@pytest.mark.parametrize("binding", ["dsp", "lut"])
def test_project_carries_the_binding_pragmas(tmp_path, backend, binding):
    from pipeline.hls.project import convert

    cfg = _cfg(tmp_path / "b", backend, "Resource", binding)
    conv = convert(cfg, model=_model(), output_head="logits")
    hls = Path(cfg["build_dir"]) / "hls"
    classes = {n.name: n.class_name for n in conv.hls_model.get_layers()}
    assert {k: classes[k] for k in BOUND} == BOUND
    params = (hls / "firmware" / "parameters.h").read_text()
    products = _mult_products(params)
    # 5 mult configs (one per bound layer) + 2 fused epilogues, every one our class; no plain 'mult' left anywhere
    assert sorted(k.rsplit("_", 1)[1] for k in products) == ["fsic"] * 2 + ["mult"] * 5
    assert set(products.values()) == {f"fsic_mult_{binding}"}, products
    assert '#include "nnet_utils/nnet_fsic_mult.h"' in params
    header = (hls / "firmware" / "nnet_utils" / "nnet_fsic_mult.h").read_text()
    body = header[header.index(f"class fsic_mult_{binding}"):]
    body = body[:body.index("};")]
    vitis, vivado = body.split("#else")
    vitis = vitis[vitis.index("#ifdef __VITIS_HLS__"):]
    vivado = vivado[:vivado.index("#endif")]
    impl, core = ("dsp", "DSP48") if binding == "dsp" else ("fabric", "Mul_LUT")
    assert "decltype(a * w) p = a * w;" in body and "return p;" in body
    assert f"#pragma HLS BIND_OP variable=p op=mul impl={impl}" in vitis and "RESOURCE" not in vitis
    assert f"#pragma HLS RESOURCE variable=p core={core}" in vivado and "BIND_OP" not in vivado
    rec = json.loads((hls / "binding.json").read_text())
    assert rec == {"mode": binding, "bindings": {k: binding for k in BOUND}}


# --- (b) bit-exact C simulation ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy,dsp_layers", [("Resource", ("b0_conv", "c2", "head")),
                                                 ("Latency", ("b1_conv", "c3"))])
def test_csim_bit_exact_with_dsp_and_lut_layers(tmp_path, strategy, dsp_layers):
    from pipeline.hls.cmodel import predict_csim
    from pipeline.hls.project import convert

    bindings = {k: ("dsp" if k in dsp_layers else "lut") for k in BOUND}
    cfg = _cfg(tmp_path / "b", "Vitis" if strategy == "Resource" else "Vivado", strategy, "lut", bindings)
    model = _model(seed=11)
    hm = convert(cfg, model=model, output_head="logits").hls_model
    assert {n.name: n.get_attr("fsic_mult_binding") for n in hm.get_layers() if n.name in BOUND} == bindings
    hm.compile()
    rng = np.random.default_rng(3)
    imgs = rng.integers(0, 256, (8, 4, 4, 3), dtype=np.uint8)
    imgs[0], imgs[1] = 0, 255
    y = predict_csim(hm, imgs, workers=1)
    ref = model.predict(imgs.astype(np.float32) / 255.0, verbose=0).astype(np.float64)
    np.testing.assert_array_equal(y.reshape(ref.shape), ref)
    assert np.unique(ref).size > 4  # not a degenerate output


# --- (c) auto ---------------------------------------------------------------------------------------------------------
def _tiny(**hls):
    return validate({"build_dir": "/nonexistent", "model": {"input_shape": [16, 16, 3], "base_filters": 4, "depth": 2},
                     "hls": {"reuse_factor": 4, **hls}})


def _reference(rows, budget, fit):
    """Independent greedy: per conv / convT row, LUTs saved by a DSP binding = multipliers x (w*a LUT product +
    accumulator - calibrated LUT per DSP multiplier, Vivado-synthesis equivalent), DSPs = multipliers (one DSP48E1
    each, W5 x A8); most LUTs per DSP first, taken while they fit."""
    cands = []
    for r in rows:
        if r["kind"] not in ("conv", "convt"):
            continue
        mb = r["mult_block"]
        per = mb["w_bits"] * mb["a_bits"] + mb["acc_bits"] - fit["LUT_PER_DSP_MULT"]
        n = r["mults"]
        saved = (math.ceil(n * mb["w_bits"] * mb["a_bits"]) + n * mb["acc_bits"] - round(n * fit["LUT_PER_DSP_MULT"]))
        assert abs(saved - n * per) <= 1
        dsp = n
        if "epilogue" in r:  # a fused block: its BatchNorm multipliers (scale x conv result) go with the conv's
            e = r["epilogue"]
            saved += (math.ceil(e["mults"] * e["scale_bits"] * e["in_bits"])
                      - round(e["mults"] * fit["LUT_PER_DSP_MULT"]))
            dsp += e["mults"]
        saved *= fit["VIVADO_RATIO_LUT"]
        cands.append((saved / dsp, saved, r["name"], dsp))
    left, out = budget, {c[2]: "lut" for c in cands}
    for _, _, name, dsp in sorted(cands, key=lambda c: (-c[0], -c[1], c[2])):
        if dsp <= left + 1e-9:
            out[name], left = "dsp", left - dsp
    return out



@pytest.mark.parametrize("fuse", [False, True])
def test_auto_matches_an_independent_greedy_and_respects_the_budget(fuse):
    from pipeline.hw import estimator as E

    cfg = _tiny(multiplier_binding="lut", fuse_conv_blocks=fuse)
    rows, _ = E.layer_specs(cfg)
    convs = [r for r in rows if r["kind"] in ("conv", "convt")]
    assert len(convs) >= 8 and all(r["mapping"] == "LUT" for r in convs) and not any(r["DSP"] for r in rows)
    assert sum("epilogue" in r for r in convs) == (10 if fuse else 0)
    total = sum(r["mults"] + r.get("mults_epilogue", 0) for r in convs)
    for budget in (0, 5, 17, 40, 100, total / 2, total + 1):
        got = E.assign_bindings(rows, budget)
        assert got == _reference(rows, budget, E.FIT), budget
        bound, _ = E.apply_bindings({"hls": {"multiplier_binding": "lut", "multiplier_bindings": got}}, rows)
        assert sum(r["DSP"] for r in bound) <= budget + 1e-9
    assert set(E.assign_bindings(rows, 0).values()) == {"lut"}
    assert set(E.assign_bindings(rows, total + 1).values()) == {"dsp"}


def test_auto_in_estimate_and_assess():
    from pipeline.hw import estimator as E
    from pipeline.hw.budget import assess, resolved_config

    lut = E.estimate(_tiny(multiplier_binding="lut"), fifo=False)
    assert lut["totals"]["DSP"] == 0 and set(lut["multiplier_binding"]["bindings"].values()) == {"lut"}
    # a DSP budget of 30 (reserved 190 of the 220)
    cfg = _tiny(multiplier_binding="auto")
    cfg["target"]["reserved"]["DSP"] = 190
    auto = E.estimate(cfg, fifo=False)
    b = auto["multiplier_binding"]
    assert b["mode"] == "auto" and b["dsp_budget"] == 30
    assert 0 < auto["totals"]["DSP"] <= 30 and auto["totals"]["LUT"] < lut["totals"]["LUT"]
    assert b["bindings"] == E.assign_bindings(E.layer_specs(cfg)[0], 30)
    dsp_rows = {r["name"] for r in auto["layers"] if r.get("binding") == "dsp"}
    assert dsp_rows == {k for k, v in b["bindings"].items() if v == "dsp"} and dsp_rows
    assert all(r["mapping"] == "DSP48E1" for r in auto["layers"] if r["name"] in dsp_rows)
    # resolved: explicit per-layer bindings, deterministic; assess reports the same
    r1, _ = resolved_config(cfg)
    r2, _ = resolved_config(json.loads(json.dumps(cfg)))
    assert r1["hls"]["multiplier_bindings"] == r2["hls"]["multiplier_bindings"] == b["bindings"]
    assert r1["hls"]["multiplier_binding"] == "lut"
    res = assess(cfg)
    assert res["multiplier_binding"]["mode"] == "auto" and res["multiplier_binding"]["bindings"] == b["bindings"]
    assert res["totals"]["DSP"] <= res["budget"]["available"]["DSP"]
    # the user's own per-layer binding wins
    first = next(iter(b["bindings"]))
    cfg["hls"]["multiplier_bindings"] = {first: "lut"}
    assert E.estimate(cfg, fifo=False)["multiplier_binding"]["bindings"][first] == "lut"


def test_binding_cost_rule():
    """W5 x A8, ROM weights: LUT-bound 5*8 LUT + 21-bit accumulator; DSP-bound 1 DSP48E1 + the calibrated LUT / FF per
    DSP multiplier, the accumulator in the DSP; the rest of the row unchanged."""
    from pipeline.hw import estimator as E

    spec = {"name": "c", "kind": "conv", "in_hw": (16, 16), "out_hw": (16, 16), "cin": 4, "cout": 8, "k": 3, "pad": 2,
            "rf": 4, "w_bits": 5, "a_bits": 8, "acc_bits": 21}
    rule = E.compute_layer(spec)
    lut, dsp = E.rebind_row(rule, "lut"), E.rebind_row(rule, "dsp")
    assert {k: lut[k] for k in ("LUT", "FF", "DSP")} == {k: rule[k] for k in ("LUT", "FF", "DSP")}
    assert dsp["DSP"] == 72 and dsp["mapping"] == "DSP48E1"
    assert dsp["LUT"] == rule["LUT"] - 72 * (40 + 21) + round(72 * E.FIT["LUT_PER_DSP_MULT"])
    assert dsp["FF"] == rule["FF"] - 72 * (13 + 21) + round(72 * E.FIT["FF_PER_DSP_MULT"])
    assert E.compute_layer({**spec, "binding": "dsp"})["LUT"] == dsp["LUT"]
    assert E.rebind_row(dsp, "lut")["LUT"] == rule["LUT"]
    assert E.dsp48_per_mult(5, 8) == 1 and E.dsp48_per_mult(25, 18) == 1 and E.dsp48_per_mult(32, 16) == 2


# --- (d) config errors ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("hls,key", [({"multiplier_binding": "gpu"}, "hls.multiplier_binding"),
                                     ({"multiplier_bindings": {"c1": "gpu"}}, "hls.multiplier_bindings.c1")])
def test_bad_binding_is_a_one_line_error_naming_the_key(hls, key):
    from pipeline.config import ConfigError

    with pytest.raises(ConfigError) as e:
        validate({"hls": hls})
    msg = str(e.value)
    assert len(msg.splitlines()) == 1 and f"{key}:" in msg and "gpu" in msg and "'lut'" in msg and "'dsp'" in msg
