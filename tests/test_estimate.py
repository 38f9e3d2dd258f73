"""Estimator numbers against hand-computed values and hls4ml's own ReuseFactor rules. ~15 s (builds the U-Net)."""
import math

import pytest

from pipeline.hw import estimator as E


def test_single_conv_layer_hand_computed():
    # 3x3 'same' conv, 16x16x4 -> 8 filters, RF 4, W5 x A8 (LUT multipliers), Strategy Resource
    r = E.compute_layer({"name": "c", "kind": "conv", "in_hw": (16, 16), "out_hw": (16, 16), "cin": 4, "cout": 8,
                         "k": 3, "pad": 2, "rf": 4, "w_bits": 5, "a_bits": 8, "acc_bits": 21})
    n_in, n_out = 3 * 3 * 4, 8
    assert r["rf"] == 4 and r["mults"] == n_in * n_out // 4 == 72
    assert r["mapping"] == "LUT"  # 5-bit operand < 10 bits
    assert r["cycles"] == 18 * 18 * 4 == 1296  # padded input pixels x RF
    assert r["macs"] == 16 * 16 * 288
    assert r["weight_bits"] == 288 * 5
    # LUT = control 150 + mults 72*5*8 + accumulators 72*21 + weight ROM (4 deep, 360 wide: 180 LUT6 as 2x32)
    #       + line buffer 2 rows x 4 ch x 8 bit x ceil(18/32)
    assert r["LUT"] == 150 + 72 * 40 + 72 * 21 + 180 + 2 * 4 * 8 * 1 == 4786
    assert r["FF"] == 200 + 72 * 13 + 72 * 21 + 9 * 4 * 8 == 2936
    assert r["BRAM18"] == 0 and r["DSP"] == 0


def test_wide_multiplies_go_to_dsp_and_deep_roms_to_bram():
    r = E.compute_layer({"name": "d", "kind": "conv", "in_hw": (8, 8), "out_hw": (8, 8), "cin": 64, "cout": 64,
                         "k": 1, "pad": 0, "rf": 512, "w_bits": 16, "a_bits": 16})
    assert r["mults"] == 64 * 64 // 512 == 8 and r["mapping"] == "DSP48E1" and r["DSP"] == 8
    # ROM 512 deep x 128 bits: 512x36 aspect -> ceil(128/36) = 4 BRAM18
    assert r["weight_rom"] == {"depth": 512, "width": 128, "LUT": 0, "BRAM18": 4}
    assert E.bram18_for(4096, 64) == 16 and E.bram18_for(100, 8) == 1 and E.bram18_for(2048, 9) == 1


@pytest.mark.parametrize("n_in,n_out", [(27, 8), (72, 8), (36, 8), (128, 64), (16, 5)])
def test_valid_reuse_factors_match_hls4ml(n_in, n_out):
    from hls4ml.backends import get_backend

    be = get_backend("Vivado")
    ref = be.get_valid_reuse_factors(n_in, n_out)
    assert E.valid_reuse_factors(n_in, n_out) == ref
    for rf in (1, 5, 16, 17, 100):
        assert E.snap_reuse_factor(n_in, n_out, rf) == be.get_closest_reuse_factor(ref, rf)


def test_default_unet_estimate():
    from pipeline.config import load_config

    # the seed's full width at one RF (the default build is narrower and chooses its RFs: tests/test_budget.py)
    cfg = load_config("hls4ml_configs/default.yaml", {"model": {"width_multiplier": 1.0}, "hls": {"reuse_factor": 16}})
    r = E.estimate(cfg)
    assert r["totals"]["macs"] == 48_496_640  # seed_unet.md
    assert "estimate" in r["provenance"] and r["expected_error"]
    # the measured error (tests/test_calibration.py) with its number of calibration points; both equivalents
    assert r["expected_error"]["points"] >= 6 and r["expected_error"]["method"]
    assert set(r["expected_error"]) >= {"LUT", "FF", "BRAM36", "DSP", "cycles"}
    assert r["totals"]["equivalent"] == "vivado_synth" and r["totals_hls"]["equivalent"] == "hls_csynth"
    assert r["totals"]["LUT"] < r["totals_hls"]["LUT"]  # Vivado keeps fewer LUTs than csynth counts
    assert r["utilization"]["LUT"] == r["totals"]["LUT"] / r["capacity"]["LUT"]
    assert r["capacity"] == {"LUT": 53200, "FF": 106400, "BRAM36": 140, "DSP": 220}
    assert sorted(r["fifo"]["skip_fifos"]) == [f"enc{i}_relu2_clone_out1" for i in range(1, 5)]
    assert r["fifo"]["estimated"]["BRAM36"] < r["fifo"]["hls4ml_default"]["BRAM36"]
    assert math.isclose(r["interval_ms"], r["interval_cycles"] * 1e-5)


#: hls4ml IR class -> the estimator row kind of the same process
_KIND_OF = {"ZeroPadding2D": "pad", "Conv2D": "conv", "PointwiseConv2D": "conv", "FsicConv2DTranspose": "convt",
            "BatchNormalization": "bn", "Activation": "map", "Clone": "clone", "Pooling2D": "pool",
            "Concatenate": "concat", "FsicArgmax": "map"}


@pytest.mark.parametrize("fold,fuse", [(False, False), (True, False), (False, True), (True, True)])
def test_processes_match_the_converted_project(fold, fuse):
    """The estimator models the processes the converter really generates, one row per hls4ml process in the same
    order and of the same kind (with hls.fold_batchnorm the BN scale stays a layer -- only its shift is folded; with
    hls.fuse_conv_blocks every conv -> BN -> ReLU block is ONE process, its conv row carrying the epilogue)."""
    import keras_model  # noqa: F401
    from keras_model.model import build_model
    from pipeline.config import validate
    from pipeline.hls.project import convert

    cfg = validate({"build_dir": "/nonexistent", "model": {"input_shape": [16, 16, 3], "base_filters": 2, "depth": 2},
                    "hls": {"fold_batchnorm": fold, "fuse_conv_blocks": fuse}})
    model = build_model(cfg, quantized=True)
    specs, _ = E.layer_specs(cfg, model)  # before convert: the converter re-calls the model's layers
    hm = convert(cfg, model=model, write=False).hls_model
    layers = [n for n in hm.get_layers() if n.class_name != "Input"]
    hls = [n.class_name for n in layers]
    kinds = [r["kind"] for r in specs]
    fused = {n.name: n.get_attr("fsic_fused") for n in layers if n.class_name == "FsicFusedConvBlock"}
    expected = [("convt" if f["producer"] == "FsicConv2DTranspose" else "conv") if c == "FsicFusedConvBlock"
                else _KIND_OF[c] for c, f in ((n.class_name, fused.get(n.name)) for n in layers)]
    assert kinds == expected  # same processes, same order
    n_blocks = 2 * 2 * 2 + 2  # 2 per block, 5 blocks
    assert hls.count("BatchNormalization") == kinds.count("bn") == (0 if fuse else n_blocks)
    assert len(fused) == sum("fused" in r for r in specs) == (n_blocks if fuse else 0)
    assert {r["name"]: r["fused"] for r in specs if "fused" in r} == {k: {x: v[x] for x in ("conv", "bn", "relu")}
                                                                      for k, v in fused.items()}
    assert hls.count("FsicConv2DTranspose") == kinds.count("convt") == 2
    assert len(specs) == len(layers) == (34 if fuse else 54)
