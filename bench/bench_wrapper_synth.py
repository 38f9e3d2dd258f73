"""yosys synthesis of the FSIC wrapper (USER_PRJ0) with the hls4ml IP as a black box.

    python bench/bench_wrapper_synth.py [--mode argmax|logits|both] [--framing frame|line|both]
                                        [--ip-clock axis_clk|user_clock2|both]
                                        [--target xilinx|generic] [--json OUT]

``--ip-clock user_clock2``: target.ip_clock = user_clock2, the two-clock wrapper (uf_ip_cdc: async FIFOs of
2**cdc_fifo_aw words on both streams, synchronisers) -- its LUT/FF/BRAM; the default is the one-clock wrapper.

``--framing line``: fsic.in_framing = out_framing = line (FSIC's tlast-per-line convention), read with
USER_PROJECT_SIDEBAND_SUPPORT defined (the sof / eol sideband ports exist).

Prints LUT/FF (and other cell) counts of the wrapper only.  Used by tests/test_fsic_synth.py and for the
numbers in BENCHMARKS.md ("yosys, wrapper only")."""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.hw import rtl  # noqa: E402


def synth(params: dict, target: str = "xilinx", workdir: Path | None = None) -> dict:
    if shutil.which("yosys") is None:
        raise RuntimeError("yosys not found")
    tmp = Path(workdir or tempfile.mkdtemp(prefix="uf_synth_"))
    files = rtl.write_wrapper(tmp, params)
    p = rtl.resolve_params(params)
    rtl_dir = tmp / "fsic" / "rtl"
    srcs = [f for f in files if f.suffix == ".v" and f.parent == rtl_dir]
    shell = tmp / "fsic" / "sim" / f"{p['hls_top_name']}.v"
    # line framing needs FSIC's sideband ports (ss_tupsb sof, sm_tupsb {eol, sof})
    rd = "read_verilog -DUSER_PROJECT_SIDEBAND_SUPPORT" if (p["in_line"] or p["out_line"]) else "read_verilog"
    cmd = (f"read_verilog -lib {shell}; "
           + "".join(f"{rd} {s}; " for s in srcs)      # self-contained: no include directory
           + ("synth_xilinx -top USER_PRJ0 -flatten; " if target == "xilinx" else "synth -top USER_PRJ0 -flatten; ")
           + "stat")
    t0 = time.time()
    r = subprocess.run(["yosys", "-q", "-p", cmd, "-l", str(tmp / "yosys.log")], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-4000:])
    log = (tmp / "yosys.log").read_text()
    stat = log[log.rindex("Printing statistics"):] if "Printing statistics" in log else log
    cells = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\S+)\s+(\d+)\s*$", stat, re.M)}
    lut = sum(v for k, v in cells.items() if re.fullmatch(r"\$?_?LUT\d_?|LUT\d", k))
    ff = sum(v for k, v in cells.items() if re.fullmatch(r"FD[A-Z]*|\$_S?DFF\w*|\$_DFF\w*", k))
    blackbox = cells.get(p["hls_top_name"], 0)
    # block RAM in 36 Kb units (a RAMB18E1 is half a RAMB36E1); LUTs used as RAM (distributed RAM cells)
    bram36 = cells.get("RAMB36E1", 0) + 0.5 * cells.get("RAMB18E1", 0)
    lutram = sum(v for k, v in cells.items() if re.fullmatch(r"RAM\d+[MXS]\w*", k))
    return {"target": target, "output_mode": p["output_mode"], "H": p["H"], "W": p["W"],
            "in_framing": p["in_framing"], "out_framing": p["out_framing"], "ip_clock": p["ip_clock"],
            "lut": lut, "ff": ff,
            "bram36": bram36, "lutram_cells": lutram, "in_buf_words": p["in_buf_words"],
            "blackbox_ip_instances": blackbox, "cells": cells, "seconds": round(time.time() - t0, 1),
            "yosys": subprocess.run(["yosys", "-V"], capture_output=True, text=True).stdout.strip()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mode", default="both", choices=["argmax", "logits", "both"])
    ap.add_argument("--framing", default="frame", choices=["frame", "line", "both"])
    ap.add_argument("--ip-clock", default="axis_clk", choices=["axis_clk", "user_clock2", "both"])
    ap.add_argument("--target", default="xilinx", choices=["xilinx", "generic"])
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    modes = ["argmax", "logits"] if a.mode == "both" else [a.mode]
    framings = ["frame", "line"] if a.framing == "both" else [a.framing]
    clocks = ["axis_clk", "user_clock2"] if a.ip_clock == "both" else [a.ip_clock]
    res = [synth({"output_mode": m, "in_framing": f, "out_framing": f, "ip_clock": c}, a.target)
           for c in clocks for f in framings for m in modes]
    for r in res:
        other = {k: v for k, v in r["cells"].items() if not re.fullmatch(r"LUT\d|FD[A-Z]*", k)}
        print(f"{r['output_mode']:7s} 64x64 {r['in_framing']} IP on {r['ip_clock']}: LUT {r['lut']}, FF {r['ff']}, "
              f"BRAM36 {r['bram36']} "
              f"(input buffer {r['in_buf_words']} words), "
              f"IP black boxes {r['blackbox_ip_instances']}, "
              f"other cells {other}  ({r['seconds']} s, {r['yosys']})")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
