"""yosys synth_xilinx of USER_PRJ0 with the hls4ml IP as a black box (wrapper only)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_wrapper_synth.py"


def test_wrapper_synth_xilinx(tmp_path):
    from _support import require_tools

    require_tools("yosys")
    spec = importlib.util.spec_from_file_location("bench_wrapper_synth", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.synth({"output_mode": "argmax"}, "xilinx", tmp_path)
    print(f"yosys synth_xilinx, wrapper only, 64x64 argmax: LUT {r['lut']}, FF {r['ff']}, BRAM36 {r['bram36']}")
    assert r["blackbox_ip_instances"] == 1          # the IP stays a black box
    assert 100 < r["lut"] < 2000 and 100 < r["ff"] < 1000   # sane, and a regression bound
    # the input frame buffer (3,072 x 33 bits) is block RAM, not LUTs/FFs: 3 RAMB36 (1024 x 36 each)
    assert r["in_buf_words"] == 3072 and r["bram36"] == 3 and r["lutram_cells"] == 0, r["cells"]
    assert "DSP48E1" not in r["cells"]
