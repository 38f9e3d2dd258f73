"""Host driver (pipeline/host/), sim backend: the build's real wrapper RTL in a cocotb simulation (Icarus by
default) plays the device; the driver talks to it as the FPGA side would (FSIC-pattern register accesses at the
same offsets, frames through the streams).

* a tiny seeded W5A8 QKeras U-Net is the IP model in the simulator (fsic_wrapper/sim/sim_models.py:keras_argmax, fed
  the weights this test saved); the test computes the Keras argmax itself and compares with what infer_batch
  returns for 4 frames;
* identity mismatch -> IdentityMismatchError; IP that never answers -> DeviceTimeoutError (simulated-cycle budget)
  and a model that blocks the simulator -> DeviceTimeoutError (wall clock, simulation killed; later calls say so);
  ERR flags -> DeviceErrorFlags; no board / no RTL / no simulator -> NoHardwareError;
* these wrapper-only builds have no compiled C model, so the IP is a named stand-in (``model="summod"``: class =
  sum of the input codes mod 21); without ``model=`` the sim backend refuses (NoHardwareError naming
  ``unet-fsic csim``) instead of silently swapping one in.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from pipeline import host
from pipeline.hw import rtl

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None and not os.environ.get("CI"),
                                reason="iverilog not installed")

TINY = {"model": {"input_shape": [8, 8, 3], "base_filters": 4, "depth": 1}}


def _tiny_keras(tmp: Path, seed: int = 3):
    """Build the tiny W5A8 model with seeded random weights (BN statistics included), save them for the
    simulator, return (model, spec_path, model_hash)."""
    from _support import randomize_weights

    import keras_model  # noqa: F401
    from keras_model.model import build_model
    from pipeline.config import validate

    model = build_model(validate(TINY), quantized=True)
    randomize_weights(model, seed)
    np.savez(tmp / "tiny_weights.npz", *model.get_weights())
    spec = tmp / "tiny_model.json"
    spec.write_text(json.dumps({"config": TINY, "weights": str(tmp / "tiny_weights.npz")}))
    h = 0
    for w in model.get_weights():
        h = zlib.crc32(np.ascontiguousarray(w).tobytes(), h)
    return model, spec, h


def _build(tmp: Path, **kw) -> Path:
    params = dict(H=8, W=8, C=3, classes=21, output_mode="argmax", weight_bits=5, act_bits=8, model_hash=0x0BADF00D,
                  hls_top_name="myproject")
    params.update(kw)
    rtl.write_wrapper(tmp, params)
    return tmp


def test_sim_infer_batch_equals_keras_argmax(tmp_path):
    from keras_model.data import to_model_input

    model, spec, mhash = _tiny_keras(tmp_path)
    build = _build(tmp_path / "build", model_hash=mhash)
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 256, size=(4, 8, 8, 3), dtype=np.uint8)
    # independent reference: the Keras model on the same frames, argmax over the 21 logits
    ref = np.argmax(model(to_model_input(frames), training=False).numpy(), axis=-1)
    assert len(np.unique(ref)) >= 3, "degenerate reference (too few classes) -- pick another seed"

    t0 = time.monotonic()
    with host.open(build, backend="sim", model="sim_models:keras_argmax", env={"UF_KERAS_MODEL": str(spec)},
                   timeout=120.0) as dev:
        ident = dev.identity()
        assert ident["model_hash"] == mhash and (ident["H"], ident["W"], ident["C"]) == (8, 8, 3)
        assert ident["classes"] == 21 and ident["argmax"] == 1
        got = dev.infer_batch(frames)
        one = dev.infer(frames[2])
        cnt = dev.counters()
        flags, _ = dev.error_flags()
    print(f"\nsim backend, 5 frames 8x8 through the wrapper RTL with the Keras IP: {time.monotonic() - t0:.1f} s")
    assert got.shape == (4, 8, 8) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(one, ref[2])
    p = rtl.resolve_params(dict(H=8, W=8, C=3, classes=21))
    assert cnt == {"frames_done": 5, "frames_in": 5, "words_in": 5 * p["words_in"], "words_out": 5 * p["words_out"]}
    assert flags == 0


def test_identity_mismatch(tmp_path):
    build = _build(tmp_path, model_hash=0x12345678)
    with pytest.raises(host.IdentityMismatchError) as ei:
        host.open(build, backend="sim", model="summod", expect={"model_hash": 0x12345679})
    assert set(ei.value.diff) == {"model_hash"}
    assert ei.value.diff["model_hash"] == (0x12345678, 0x12345679)
    # a host build description for another image size (e.g. the wrong build dir for this bitstream)
    bj = build / "fsic" / "python" / "unet_fsic_build.json"
    p = json.loads(bj.read_text())
    p["H"], p["words_in"] = 16, p["words_in"] * 2
    bj.write_text(json.dumps(p))
    with pytest.raises(host.IdentityMismatchError) as ei:
        host.open(build, backend="sim", model="summod")
    assert set(ei.value.diff) == {"H", "words_in"}


def test_timeout_ip_never_answers(tmp_path):
    """The IP model holds its answer for 10^9 cycles: the transfer exceeds the simulated-cycle budget."""
    build = _build(tmp_path)
    with host.open(build, backend="sim", model="summod", latency=10**9, cycle_budget=5000) as dev:
        t0 = time.monotonic()
        with pytest.raises(host.DeviceTimeoutError) as ei:
            dev.infer(np.zeros((8, 8, 3), np.uint8))
        assert isinstance(ei.value, TimeoutError)
        assert time.monotonic() - t0 < 60
        # the device still answers register reads; reset() recovers the datapath
        assert dev.read_reg("ID_MAGIC") == 0x554E4653
        dev.reset()
        assert dev.error_flags()[0] == 0


def test_timeout_wall_clock_kills_stuck_sim(tmp_path):
    """A model that blocks the simulator: the host gives up after `timeout` seconds and kills the simulation."""
    build = _build(tmp_path)
    dev = host.open(build, backend="sim", model="sim_models:hang", timeout=3.0)
    proc = dev.backend.proc
    t0 = time.monotonic()
    with pytest.raises(host.DeviceTimeoutError):
        dev.infer(np.zeros((8, 8, 3), np.uint8))
    assert 2.5 < time.monotonic() - t0 < 30
    assert proc.poll() is not None, "stuck simulator not killed"
    for later in (dev.identity, lambda: dev.infer(np.zeros((8, 8, 3), np.uint8))):  # each says why, not "closed"
        with pytest.raises(host.UnetFsicError, match=r"the simulation was stopped after a timeout at \d\d:\d\d:\d\d "
                                                     r"\(simulator did not answer a transfer request within 3 s"
                                                     r".*open the device again"):
            later()
    dev.close()
    with pytest.raises(host.UnetFsicError, match="the device is closed"):
        dev.identity()


def test_error_flags(tmp_path):
    """The IP returns class index == classes: the wrapper sets ERR.OVERFLOW; the driver raises DeviceErrorFlags."""
    build = _build(tmp_path)
    with host.open(build, backend="sim", model="sim_models:overflow") as dev:
        with pytest.raises(host.DeviceErrorFlags) as ei:
            dev.infer_batch(np.zeros((2, 8, 8, 3), np.uint8))
        assert ei.value.names == ["OVERFLOW"] and len(ei.value.results) == 1
        with pytest.raises(host.DeviceErrorFlags):          # flags stay set until cleared
            dev.infer(np.zeros((8, 8, 3), np.uint8))
        dev.clear_errors()
        assert dev.error_flags() == (0, [])


def test_no_hardware_and_bad_input(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pynq(name, *a, **k):
        if name == "pynq" or name.startswith("pynq."):
            raise ImportError("No module named 'pynq'")
        return real_import(name, *a, **k)
    build = _build(tmp_path)
    monkeypatch.setattr(builtins, "__import__", no_pynq)
    with pytest.raises(host.NoHardwareError, match="pynq"):
        host.open(build)                                   # default backend: the board
    monkeypatch.undo()
    with pytest.raises(host.NoHardwareError, match="unknown simulator 'no-such-simulator'"):
        host.open(build, backend="sim", model="summod", simulator="no-such-simulator")
    (build / "fsic" / "rtl" / "USER_PRJ0.v").unlink()
    with pytest.raises(host.NoHardwareError, match="no wrapper RTL"):
        host.open(build, backend="sim", model="summod")
    assert issubclass(host.DeviceTimeoutError, TimeoutError)
    for e in (host.NoHardwareError, host.IdentityMismatchError, host.DeviceTimeoutError, host.DeviceErrorFlags):
        assert issubclass(e, host.UnetFsicError)


def test_no_silent_stand_in(tmp_path):
    """A build without a compiled C model: the default IP (the build's C model) is refused with what is missing and
    how to make it; the stand-in runs only when named -- and computes the stand-in's answer, not Keras's."""
    build = _build(tmp_path)
    with pytest.raises(host.NoHardwareError, match=r"hls/interface\.json: missing .*run `unet-fsic csim CONFIG`"):
        host.open(build, backend="sim")
    (build / "hls").mkdir()  # converted, never compiled
    (build / "hls" / "interface.json").write_text("{}")
    with pytest.raises(host.NoHardwareError, match=r"hls/firmware: no compiled C model .*run `unet-fsic csim CONFIG`"):
        host.open(build, backend="sim")
    assert not (build / "host_sim").exists(), "a refused open must not start anything"
    frames = np.random.default_rng(5).integers(0, 256, size=(2, 8, 8, 3), dtype=np.uint8)
    with host.open(build, backend="sim", model="summod") as dev:
        assert dev.backend.model == "summod"
        got = dev.infer_batch(frames)
    codes = np.minimum(255, frames.astype(int) + (frames >= 128))  # what the driver streams
    np.testing.assert_array_equal(got, codes.sum(-1) % 21)


def test_bad_frame_shape(tmp_path):
    build = _build(tmp_path)
    with host.open(build, backend="sim", model="summod") as dev:
        with pytest.raises(ValueError, match="must be uint8"):
            dev.infer(np.zeros((8, 8, 3), np.float32))
        with pytest.raises(ValueError, match="must be uint8"):
            dev.infer_batch(np.zeros((2, 8, 9, 3), np.uint8))
        for empty in ([], np.zeros((0, 8, 8, 3), np.uint8)):
            with pytest.raises(ValueError, match="empty batch"):
                dev.infer_batch(empty)
        assert dev.counters()["frames_in"] == 0


@pytest.mark.slow
def test_sim_verilator_summod(tmp_path):
    from _support import require_tools

    require_tools("verilator")
    build = _build(tmp_path, H=4, W=5)
    frames = np.random.default_rng(1).integers(0, 256, size=(3, 4, 5, 3), dtype=np.uint8)
    with host.open(build, backend="sim", model="summod", simulator="verilator", startup_timeout=600) as dev:
        got = dev.infer_batch(frames)
    # the driver streams the input codes (pipeline.hw.streams.hardware_input): byte + (byte >= 128), clipped to 255
    codes = np.minimum(255, frames.astype(int) + (frames >= 128))
    np.testing.assert_array_equal(got, codes.sum(-1) % 21)


def test_frame_crc_checked(tmp_path):
    """The driver checks IN_CRC / OUT_CRC after every frame against zlib.crc32 of the words it sent / received: a
    clean frame passes and the registers equal the host's CRCs; a word changed on the way (here: the received bytes
    corrupted between the wrapper and the host, as FSIC's switch can under back-pressure) raises FrameCrcError."""
    build = _build(tmp_path, H=4, W=5)
    frames = np.random.default_rng(2).integers(0, 256, size=(2, 4, 5, 3), dtype=np.uint8)
    with host.open(build, backend="sim", model="summod") as dev:
        dev.infer(frames[0], codes=True)
        sent = frames[0].tobytes()
        assert dev.read_reg("IN_CRC") == host.frame_crc(sent) == zlib.crc32(sent + b"\0" * (-len(sent) % 4))
        be = dev._be()
        real = be.transfer

        def corrupt(data, out_len, timeout):
            raw = bytearray(real(data, out_len, timeout))
            raw[0] ^= 0x01
            return bytes(raw)
        be.transfer = corrupt
        with pytest.raises(host.FrameCrcError) as ei:
            dev.infer(frames[1], codes=True)
        assert ei.value.which == "output" and ei.value.device != ei.value.host


def test_sim_line_framing(tmp_path):
    """A build in FSIC's line framing (fsic.in_framing / out_framing = line): the sim backend streams each frame in
    lines (tlast per line, tkeep 0000, ss_tupsb {eol, sof}) and takes the output lines up to the frame's end; results,
    CRCs and error flags as in frame framing; identity includes the framing."""
    build = _build(tmp_path, H=4, W=5, in_framing="line", out_framing="line")
    frames = np.random.default_rng(3).integers(0, 256, size=(3, 4, 5, 3), dtype=np.uint8)
    with host.open(build, backend="sim", model="summod") as dev:
        ident = dev.identity()
        assert (ident["in_line"], ident["out_line"]) == (1, 1)
        got = dev.infer_batch(frames, codes=True)
        assert dev.error_flags() == (0, [])
    np.testing.assert_array_equal(got, frames.astype(int).sum(-1) % 21)
