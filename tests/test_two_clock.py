"""The two-clock USER_PRJ0 (target.ip_clock = user_clock2, issue #15 item 5): cocotb on Icarus and Verilator with
unrelated clocks (fsic_wrapper/sim/test_two_clock.py), and the structural CDC rule on the yosys netlist."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from _support import require_tools

from pipeline.hw import rtl

CFG = dict(H=3, W=5, C=3, classes=21, output_mode="argmax", weight_bits=5, act_bits=8, model_hash="0xC0FFEE01",
           hls_top_name="myproject", hls_in_port="input_1", hls_out_port="layer27_out", in_elem_bits=16, in_shift=2,
           axil_wready_lag=1, ip_clock="user_clock2")
LOGITS = dict(H=3, W=5, C=3, classes=21, output_mode="logits", weight_bits=5, act_bits=8, model_hash=0x12345678,
              hls_top_name="unet_ip", hls_in_port="x_in", hls_out_port="y_out", ip_clock="user_clock2",
              cdc_fifo_aw=2)

# (bus period ps, IP period ps, IP clock phase ps)
RATIOS = {
    "bus5_ip100": (200_000, 10_000, 3_333),     # FSIC's 5 MHz bus, a 100 MHz IP: IP 20x faster
    "bus100_ip5": (10_000, 200_000, 77_777),    # the reverse
    "ratio_7_3": (7_000, 3_000, 1_234),         # non-integer ratio
    "same_1_1": (10_000, 10_000, 6_178),        # 1:1, arbitrary phase
}
SIMS = ["icarus", "verilator"]
TESTS = ["test_frames_stalled", "test_reset_ip_domain_mid_frame", "test_reset_bus_domain_mid_frame"]


def run_two_clock(sim, cfg, work: Path, ratio, testcases, extra=None):
    from pipeline.hw import rtlsim
    rtl.write_wrapper(work, cfg)
    bus, ip, ph = RATIOS[ratio]
    env = {"UF_BUS_PS": bus, "UF_IP_PS": ip, "UF_IP_PHASE_PS": ph, **(extra or {})}
    return rtlsim.run_fsic(sim, work / "fsic", "test_two_clock", testcases, work, env)


@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("ratio", list(RATIOS))
def test_two_clock_rtl(sim, ratio, tmp_path):
    """20 frames with random stalls on both streams + reset of either domain mid-frame, per clock ratio."""
    require_tools("iverilog" if sim == "icarus" else "verilator")
    total, failed = run_two_clock(sim, CFG, tmp_path, ratio, TESTS)
    assert total == len(TESTS) and failed == 0, f"{failed} of {total} cocotb tests failed"


@pytest.mark.parametrize("sim", SIMS)
def test_two_clock_soak(sim, tmp_path):
    """>= 200 frames, random stalls on both streams and in the IP, 7:3 clocks, logits build with 4-word FIFOs."""
    require_tools("iverilog" if sim == "icarus" else "verilator")
    total, failed = run_two_clock(sim, LOGITS, tmp_path, "ratio_7_3", ["test_frames_stalled"],
                                  {"UF_FRAMES": 200, "UF_SEED": 9})
    assert total == 1 and failed == 0


def _two_clock_build(tmp_path: Path, cfg=CFG) -> Path:
    rtl.write_wrapper(tmp_path, cfg)
    return tmp_path / "fsic"


def test_cdc_structure(tmp_path):
    """Every signal crossing axis_clk <-> user_clock2 goes through uf_cdc_sync (stage 1 fed directly by
    flip-flops) or is the read data of uf_async_fifo's memory (pipeline/hw/cdc_check.py on the yosys netlist);
    the check finds a missing synchroniser and logic in front of one (negative controls)."""
    require_tools("yosys")
    from pipeline.hw import cdc_check
    for name, cfg in (("argmax", CFG), ("logits", LOGITS)):
        assert cdc_check.check(_two_clock_build(tmp_path / name, cfg)) == [], name
    # the one-clock build has nothing to cross
    assert cdc_check.check(_two_clock_build(tmp_path / "one", dict(CFG, ip_clock="axis_clk"))) == []
    # negative controls
    fsic = _two_clock_build(tmp_path / "bad1")
    f = fsic / "rtl" / "uf_async_fifo.v"
    s = f.read_text()
    old = "uf_cdc_sync #(.W(AW+1)) u_sync_wgray (.clk(r_clk), .rst(!r_rst_n), .d(w_gray), .q(r_wgray));"
    assert old in s
    f.write_text(s.replace(old, "assign r_wgray = w_gray;"))
    bad = cdc_check.check(fsic)
    assert any("without a synchroniser" in v and "u_fifo_in.r_" in v for v in bad), bad
    fsic = _two_clock_build(tmp_path / "bad2")
    f = fsic / "rtl" / "uf_ip_cdc.v"
    s = f.read_text()
    assert ".d(b_idle_q), .q(a_ap_idle)" in s
    f.write_text(s.replace(".d(b_idle_q), .q(a_ap_idle)", ".d(b_idle_q & b_start), .q(a_ap_idle)"))
    bad = cdc_check.check(fsic)
    assert any("u_sync_idle.cdc_s1" in v and "through logic" in v for v in bad), bad


@pytest.mark.parametrize("sideband", [False, True])
def test_two_clock_lint(tmp_path, sideband):
    """verilator --lint-only -Wall (no waiver) and iverilog -Wall clean on the two-clock wrapper."""
    require_tools("verilator", "iverilog")
    for name, cfg in (("argmax", CFG), ("logits", LOGITS)):
        fsic = _two_clock_build(tmp_path / name, cfg)
        p = json.loads((fsic / "python" / "unet_fsic_build.json").read_text())
        files = [ln for ln in (fsic / "filelist.f").read_text().split() if ln]
        assert "rtl/uf_ip_cdc.v" in files and "rtl/uf_async_fifo.v" in files and "rtl/uf_cdc_sync.v" in files
        d = ["+define+USER_PROJECT_SIDEBAND_SUPPORT"] if sideband else []
        r = subprocess.run(["verilator", "--lint-only", "-Wall", *d, "--top-module", "USER_PRJ0", *files,
                            f"sim/{p['hls_top_name']}.v"], cwd=fsic, capture_output=True, text=True)
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
        r = subprocess.run(["iverilog", "-g2005", "-Wall", *(["-DUSER_PROJECT_SIDEBAND_SUPPORT"] if sideband else []),
                            "-o", str(tmp_path / "a.out"), "-f", "filelist_sim.f"], cwd=fsic, capture_output=True,
                           text=True)
        assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr


@pytest.mark.parametrize("head", ["argmax", "logits"])
def test_two_clock_wrapper_share_is_what_yosys_synthesizes(tmp_path, head):
    """share.FSIC_WRAPPER_USER_CLOCK2 (what the budget subtracts when target.ip_clock is user_clock2) is the yosys
    synth_xilinx result of the two-clock wrapper (LUT RAM counted as 4 LUTs per RAM32M); the budget uses it."""
    import importlib.util

    from pipeline.config import validate
    from pipeline.hw.share import FSIC_WRAPPER, FSIC_WRAPPER_USER_CLOCK2, budget

    require_tools("yosys")
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("bench_wrapper_synth", root / "bench" / "bench_wrapper_synth.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.synth({"output_mode": head, "ip_clock": "user_clock2"}, "xilinx", tmp_path)
    assert r["ip_clock"] == "user_clock2"
    got = {"LUT": r["lut"] + 4 * r["cells"].get("RAM32M", 0), "FF": r["ff"], "BRAM36": r["bram36"],
           "DSP": r["cells"].get("DSP48E1", 0)}
    assert got == FSIC_WRAPPER_USER_CLOCK2[head]
    for clk, table in (("axis_clk", FSIC_WRAPPER), ("user_clock2", FSIC_WRAPPER_USER_CLOCK2)):
        b = budget(validate({"hls": {"output_head": head}, "target": {"ip_clock": clk}}))
        assert b["wrapper"] == table[head]
