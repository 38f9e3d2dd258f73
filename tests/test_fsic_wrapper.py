"""RTL simulation of the FSIC wrapper (USER_PRJ0) on Icarus and Verilator via cocotb.runner.

Each configuration is generated with pipeline.hw.rtl.write_wrapper into a pytest tmp dir, built once per
simulator, and all cocotb tests of fsic_wrapper/sim/test_user_prj0.py run against it (the IP is the
generated shell driven by fsic_wrapper/sim/ip_model.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from _support import require_tools

from pipeline.hw import rtl

CONFIGS = {
    # tiny argmax build: partial last words in and out, 16-bit input elements (byte at bit 2),
    # FSIC split write path (wready a cycle after awready)
    "argmax_3x5": dict(H=3, W=5, C=3, classes=21, output_mode="argmax", weight_bits=5, act_bits=8,
                       model_hash="0xC0FFEE01", hls_top_name="myproject", hls_in_port="input_1",
                       hls_out_port="layer27_out", in_elem_bits=16, in_shift=2, axil_wready_lag=1),
    # tiny logits build: 21 logits bytes per pixel
    "logits_3x5": dict(H=3, W=5, C=3, classes=21, output_mode="logits", weight_bits=5, act_bits=8,
                       model_hash=0x12345678, hls_top_name="unet_ip", hls_in_port="x_in",
                       hls_out_port="y_out"),
    # the real frame size (beats per frame)
    "argmax_64x64": dict(H=64, W=64, C=3, classes=21, output_mode="argmax", weight_bits=5, act_bits=8,
                         model_hash=0xA5A5A5A5, hls_top_name="myproject"),
}

ALL_TESTS = ["test_regs_identity_unmapped", "test_e2e_frames", "test_soak", "test_back_to_back_stalled",
             "test_padding_ignored", "test_reset_mid_frame",
             "test_frame_errors", "test_manual_start_irq", "test_beats_per_frame"]
PLAN = {
    "argmax_3x5": ALL_TESTS,
    "logits_3x5": ALL_TESTS,
    "argmax_64x64": ["test_beats_per_frame"],
}

SIMS = ["icarus", "verilator"]


def run_cocotb(sim: str, cfg: dict, work: Path, testcases: list[str], extra_env: dict | None = None):
    from pipeline.hw import rtlsim

    rtl.write_wrapper(work, cfg)
    fsic = work / "fsic"
    p = json.loads((fsic / "python" / "unet_fsic_build.json").read_text())
    env = {"UF_RESULTS_JSON": str(work / "results.json"), **(extra_env or {})}
    total, failed = rtlsim.run_fsic(sim, fsic, "test_user_prj0", testcases, work, env)
    return p, total, failed


@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("cfg_name", list(CONFIGS))
def test_user_prj0_rtl(sim, cfg_name, tmp_path):
    require_tools("iverilog" if sim == "icarus" else "verilator")
    _, total, failed = run_cocotb(sim, CONFIGS[cfg_name], tmp_path, PLAN[cfg_name])
    assert total == len(PLAN[cfg_name]) and failed == 0, f"{failed} of {total} cocotb tests failed"
    if cfg_name == "argmax_64x64":
        res = json.loads((tmp_path / "results.json").read_text())
        assert res["beats_in"] <= 3072 and res["beats_out"] <= 683


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMS)
def test_user_prj0_long_soak(sim, tmp_path):
    """2000-frame soak and 8 back-to-back 64x64 frames (slow)."""
    require_tools("iverilog" if sim == "icarus" else "verilator")
    _, total, failed = run_cocotb(sim, CONFIGS["argmax_3x5"], tmp_path / "a", ["test_soak"],
                                  {"UF_SOAK_FRAMES": "2000"})
    assert failed == 0 and total == 1
    _, total, failed = run_cocotb(sim, CONFIGS["argmax_64x64"], tmp_path / "b", ["test_e2e_frames"],
                                  {"UF_E2E_FRAMES": "8"})
    assert failed == 0 and total == 1
