"""``wrap`` + ``cosim`` end to end: a reduced W5A8 U-Net (16x16, 4..16 channels, every layer type, seeded random
weights so many
classes occur) is converted and compiled by hls4ml (g++), wrapped as FSIC USER_PRJ0, and validation frames go through
the real wrapper RTL on Icarus Verilog and Verilator with the compiled C model as the IP (random sm_tready
back-pressure, ss_tvalid gaps, stream-rule monitor). The decoded stream words are compared here with the Keras model
run independently (keras_model.data.to_model_input -> model -> argmax / logits * 2^frac of the IP output
type), bit for bit.

Also: pipeline.host's sim backend on the same builds (its default IP is the build's compiled C model), and a
wrong IP is detected. Runtime (2 cores, measured): ~5 min (four hls4ml compiles ~40 s each, Verilator builds ~20 s).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

import keras_model  # noqa: E402,F401
from pipeline.config import validate  # noqa: E402
from pipeline.errors import UserError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SIMS = ["icarus", "verilator"]
MODEL = {"input_shape": [16, 16, 3], "base_filters": 4, "depth": 2}
FRAMES = 3


def _require_sims():
    from _support import require_tools

    require_tools("iverilog", "verilator")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from _support import randomize_weights

    from keras_model.model import build_model

    d = tmp_path_factory.mktemp("model")
    m = build_model(validate({"model": MODEL}), quantized=True)
    randomize_weights(m, seed=13)
    p = d / "w5a8_model.h5"
    m.save(p)
    return p


def _raw(build_dir, model_file, **hls):
    return {"build_dir": str(build_dir), "model": MODEL, "data": {"synthetic": {"train": 8, "val": 8}},
            "hls": dict({"reuse_factor": 4, "model_file": str(model_file)}, **hls),
            "csim": {"frames": FRAMES, "workers": 2},
            "cosim": {"frames": FRAMES, "simulators": SIMS, "ip_latency": 37}}


def _cfg(build_dir, model_file, **hls):
    return validate(_raw(build_dir, model_file, **hls))


def _keras_reference(model_file, cfg, head):
    """Independent golden: the saved Keras model on the validation frames (its own input scaling)."""
    from keras_model import data
    from keras_model.data import to_model_input
    from keras_model.model_io import load_model

    images, _ = data.load(cfg, "val")
    logits = load_model(str(model_file)).predict(to_model_input(images[:FRAMES]), verbose=0).astype(np.float64)
    if head == "argmax":
        return np.argmax(logits, axis=-1)
    itf = json.loads((Path(cfg["build_dir"]) / "hls" / "interface.json").read_text())
    assert itf["out_elem_bits"] == 8
    codes = logits * 2.0 ** itf["out_frac_bits"]  # the IP's output type: 8-bit fixed point
    assert np.all(codes == np.rint(codes)), "Keras logits are not on the IP output type's grid"
    assert np.abs(codes).max() < 128
    return codes.astype(np.int64)


_BUILDS: dict = {}


def _built(head, model_file, tmp_path_factory):
    """A converted + compiled (csim) + wrapped build of the reduced model, once per head: (cfg, build_dir, head)."""
    if head not in _BUILDS:
        from pipeline.stages import csim, wrap

        backend = {"argmax": "Vitis", "logits": "Vivado"}[head]
        bd = tmp_path_factory.mktemp(head) / "b"
        cfg = _cfg(bd, model_file, backend=backend, output_head=head)
        assert csim.run(cfg)["passed"]  # converts + compiles the C model the cosim IP runs
        s = wrap.write_wrap(cfg)
        assert "fsic/rtl/USER_PRJ0.v" in s["files"] and not list(bd.glob(".fsic.tmp-*"))
        _BUILDS[head] = (cfg, bd, head)
    return _BUILDS[head]


@pytest.fixture(scope="module", params=["argmax", "logits"], ids=["Vitis-argmax", "Vivado-logits"])
def built(request, model_file, tmp_path_factory):
    return _built(request.param, model_file, tmp_path_factory)


def test_cosim_equals_keras_on_both_simulators(built, model_file):
    _require_sims()
    from pipeline.stages import cosim

    cfg, bd, head = built
    r = cosim.run(cfg)
    assert r["kind"] == "open" and "not on PATH" in r["provenance"]
    assert [x["simulator"] for x in r["simulators"]] == SIMS
    ref = _keras_reference(model_file, cfg, head)
    if head == "argmax":
        assert len(np.unique(ref)) >= 4, "degenerate golden: too few classes"
    p = json.loads((bd / "fsic" / "python" / "unet_fsic_build.json").read_text())
    for x in r["simulators"]:
        got = np.load(bd / "cosim" / f"outputs_{x['simulator']}.npz")["outputs"]
        np.testing.assert_array_equal(got, ref, err_msg=x["simulator"])
        assert x["passed"] and x["bit_exact_fraction"] == 1.0 and x["protocol_violations"] == 0
        assert x["counters"] == {"frames_done": FRAMES, "frames_in": FRAMES, "words_in": FRAMES * p["words_in"],
                                 "words_out": FRAMES * p["words_out"], "err": 0}
    assert r["passed"]
    md = (bd / "cosim" / "report.md").read_text()
    assert "RTL simulation" in md and "**PASS**" in md
    assert not list((bd / "cosim").glob(".run-*"))


def _adversarial_frames(h, w):
    """All-0, all-255, and a frame holding every byte value (0..255 in raster order, per channel shifted) -- the
    input-mapping edge 127/128/129 and saturation included."""
    ramp = (np.arange(h * w * 3).reshape(h, w, 3) * 7 % 256).astype(np.uint8)
    ramp.reshape(-1)[:256] = np.arange(256, dtype=np.uint8)
    return np.stack([np.zeros((h, w, 3), np.uint8), np.full((h, w, 3), 255, np.uint8), ramp])


def _keras_on(model_file, cfg, images, head):
    """Independent golden for arbitrary uint8 frames: the saved Keras model through its own input path (p/255)."""
    from keras_model.data import to_model_input
    from keras_model.model_io import load_model

    logits = load_model(str(model_file)).predict(to_model_input(images), verbose=0).astype(np.float64)
    if head == "argmax":
        return np.argmax(logits, axis=-1)
    itf = json.loads((Path(cfg["build_dir"]) / "hls" / "interface.json").read_text())
    return (logits * 2.0 ** itf["out_frac_bits"]).astype(np.int64)


def test_host_driver_sim_backend_on_the_build(built, model_file):
    """pipeline.host's sim backend on a real build: its default IP is the build's compiled hls4ml C model; ordinary
    images in (the driver maps them to the input codes), Keras's answer out -- on validation frames and adversarial
    ones (all-0, all-255, every byte value); identity = the generated build."""
    _require_sims()
    from keras_model import data
    from pipeline import host

    cfg, bd, head = built
    images, _ = data.load(cfg, "val")
    frames = np.concatenate([images[:2], _adversarial_frames(16, 16)])
    ref = _keras_on(model_file, cfg, frames, head)
    with host.open(bd, backend="sim", latency=20, timeout=120.0) as dev:
        assert dev.backend.model == "uf_hls_ip:factory"
        ident = dev.identity()
        got = dev.infer_batch(frames, logits=head == "logits")
    p = json.loads((bd / "fsic" / "python" / "unet_fsic_build.json").read_text())
    assert ident["model_hash"] == p["model_hash"] and (ident["H"], ident["W"], ident["C"]) == (16, 16, 3)
    np.testing.assert_array_equal(got.astype(np.int64), ref)


def test_cosim_detects_a_wrong_ip(model_file, tmp_path, tmp_path_factory):
    """The check can fail: the same wrapper with the C model of a *different* network as the IP is reported as a
    mismatch (and `unet-fsic cosim` exits 1)."""
    _require_sims()
    from _support import randomize_weights

    from keras_model.model import build_model
    from pipeline.stages import csim

    _, good_bd, _ = _built("argmax", model_file, tmp_path_factory)
    other = tmp_path / "other.h5"
    m = build_model(validate({"model": MODEL}), quantized=True)
    randomize_weights(m, seed=14)
    m.save(other)
    csim.run(_cfg(tmp_path / "x", other))
    shutil.copytree(good_bd, tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "hls")  # swap the IP: the other network's compiled project
    shutil.copytree(tmp_path / "x" / "hls", tmp_path / "b" / "hls")
    raw = _raw(tmp_path / "b", model_file)
    raw["cosim"]["simulators"] = ["icarus"]
    cfgp = tmp_path / "good.yaml"
    cfgp.write_text(yaml.safe_dump(raw))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "cosim", str(cfgp)], capture_output=True, text=True,
                         env=env, timeout=600)
    assert res.returncode == 1, res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()  # one line: what differs, on which simulator, where the report is
    assert len(lines) == 1 and lines[0].startswith("unet-fsic: error: co-simulation outputs differ from Keras -- "
                                                   "icarus: "), res.stderr
    assert lines[0].endswith(f"(see {tmp_path / 'b' / 'cosim'}/report.md)"), lines[0]
    rep = json.loads((tmp_path / "b" / "cosim" / "report.json").read_text())
    assert not rep["passed"] and rep["simulators"][0]["bit_exact_fraction"] < 1.0
    assert f"{100 * rep['simulators'][0]['bit_exact_fraction']:.2f} % bit-exact" in lines[0]


def test_wrap_and_cosim_need_a_conversion(tmp_path, model_file):
    from pipeline.stages import wrap

    cfg = _cfg(tmp_path / "b", model_file)
    (tmp_path / "b").mkdir()
    with pytest.raises(UserError, match=r"interface.json: missing -- run `unet-fsic convert CONFIG` first"):
        wrap.write_wrap(cfg)
    assert not (tmp_path / "b" / "fsic").exists()
    cfgp = tmp_path / "c.yaml"
    cfgp.write_text(yaml.safe_dump({"build_dir": str(tmp_path / "b"), "model": MODEL}))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for cmd in ("wrap", "cosim"):
        res = subprocess.run([sys.executable, "-m", "pipeline.cli", cmd, str(cfgp)], capture_output=True, text=True,
                             env=env, timeout=300)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and "interface.json: missing" in lines[0], (cmd, res.stderr)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == []


def test_cosim_two_clock_build_equals_keras(model_file, tmp_path, tmp_path_factory):
    """target.ip_clock: user_clock2 (issue #15 item 5): the same converted build wrapped with the two-clock wrapper
    (IP on user_clock2 behind async FIFOs), co-simulated with user_clock2 20x faster than axis_clk (100 vs 5 MHz):
    bit-exact with Keras on both simulators, counters and protocol clean."""
    _require_sims()
    from pipeline.stages import cosim, wrap

    _, good_bd, _ = _built("argmax", model_file, tmp_path_factory)
    shutil.copytree(good_bd, tmp_path / "b")
    raw = _raw(tmp_path / "b", model_file, backend="Vitis", output_head="argmax")
    raw["target"] = {"ip_clock": "user_clock2", "user_clock2_mhz": 100.0}
    cfg = validate(raw)
    s = wrap.write_wrap(cfg)
    assert s["params"]["ip_clock"] == "user_clock2" and "fsic/rtl/uf_ip_cdc.v" in s["files"]
    assert "uf_ip_cdc" in (tmp_path / "b" / "fsic" / "rtl" / "USER_PRJ0.v").read_text()
    assert cosim.ip_clock_ps(cfg) == 500
    r = cosim.run(cfg)
    ref = _keras_reference(model_file, cfg, "argmax")
    p = json.loads((tmp_path / "b" / "fsic" / "python" / "unet_fsic_build.json").read_text())
    assert p["two_clock"] == 1
    assert [x["simulator"] for x in r["simulators"]] == SIMS
    for x in r["simulators"]:
        got = np.load(tmp_path / "b" / "cosim" / f"outputs_{x['simulator']}.npz")["outputs"]
        np.testing.assert_array_equal(got, ref, err_msg=x["simulator"])
        assert x["passed"] and x["bit_exact_fraction"] == 1.0 and x["protocol_violations"] == 0
        assert x["counters"]["frames_done"] == FRAMES and x["counters"]["err"] == 0
    assert r["passed"]
