"""Register-map generator and wrapper generator (no simulation)."""
from __future__ import annotations

import re
import subprocess

import pytest

from pipeline.hw import regmap, rtl


def test_checked_in_generated_files_are_fresh():
    assert regmap.stale_files() == [], "run `python -m pipeline.hw.regmap` to regenerate"


def test_regmap_renderings_agree():
    rm = regmap.load_regmap()
    ns: dict = {}
    exec(regmap.render_python(rm), ns)
    assert ns["OFFSETS"] == regmap.OFFSETS
    assert ns["CTRL"] == 0 and ns["CTRL_AP_START_MASK"] == 1 and ns["CTRL_AP_DONE_MASK"] == 2
    assert ns["CTRL_AP_IDLE_MASK"] == 4
    vh, h = regmap.render_verilog(rm), regmap.render_c_header(rm)
    for name, off in regmap.OFFSETS.items():
        assert f"UF_REG_{name} = 12'h{off:03X};" in vh
        assert f"#define UNET_FSIC_{name} 0x{off:03X}u" in h


def test_regmap_rejects_overlaps(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("name: x\nversion: 1\nmagic: 1\nregisters:\n"
                   "  - {name: A, offset: 0x0, desc: a, fields: "
                   "[{name: F, lsb: 0, width: 1, access: RW, reset: 0, desc: f}]}\n"
                   "  - {name: B, offset: 0x0, desc: b, fields: "
                   "[{name: F, lsb: 0, width: 1, access: RW, reset: 0, desc: f}]}\n")
    with pytest.raises(ValueError):
        regmap.load_regmap(bad)


def test_c_header_compiles(tmp_path):
    from _support import require_tools

    require_tools("gcc")
    c = tmp_path / "t.c"
    c.write_text('#include "unet_fsic_regs.h"\n#include "unet_fsic_build.h"\n'
                 "int main(void){return (int)(UNET_FSIC_CTRL + UNET_FSIC_ID_MODEL_HASH + UNET_FSIC_BUILD_WORDS_IN);}\n")
    rtl.write_wrapper(tmp_path, {})
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Werror", "-fsyntax-only", "-I", str(tmp_path / "fsic" / "include"),
                    str(c)], check=True)


def test_resolve_params_geometry():
    p = rtl.resolve_params({})
    assert (p["words_in"], p["words_out"], p["fields_per_word"]) == (3072, 683, 6)
    assert p["last_out_fields"] == 4 and p["last_out_bytes"] == 3
    assert p["in_tdata_width"] == 24 and p["out_tdata_width"] == 8
    q = rtl.resolve_params({"output_mode": "logits"})
    assert q["words_out"] == 64 * 64 * 21 // 4 and q["out_tdata_width"] == 168 and q["out_elem_bits"] == 8
    with pytest.raises(ValueError):
        rtl.resolve_params({"class_bits": 4})          # 21 classes do not fit
    with pytest.raises(ValueError):
        rtl.resolve_params({"output_mode": "softmax"})
    # issue #15 options: the input buffer holds at least one frame, the watchdog fits its 16-bit register
    assert (p["in_buf_words"], p["in_stall_limit"], p["high_pri_req"]) == (3072, 4096, 0)
    assert rtl.resolve_params({"in_buf_words": 4096, "high_pri_req": True})["high_pri_req"] == 1
    for bad in ({"in_buf_words": 3071}, {"in_stall_limit": 65536}, {"in_stall_limit": -1}, {"high_pri_req": 2}):
        with pytest.raises(ValueError):
            rtl.resolve_params(bad)
    # line framing (issue #15 item 3): a line is one image row of the word stream
    assert (p["in_framing"], p["out_framing"], p["in_line"], p["out_line"]) == ("frame", "frame", 0, 0)
    assert (p["in_line_words"], p["in_lines"], p["out_line_words"], p["out_lines"]) == (48, 64, 11, 63)
    q = rtl.resolve_params({"H": 4, "W": 5, "C": 3, "output_mode": "logits", "in_framing": "LINE"})
    assert (q["in_line"], q["in_line_words"], q["in_lines"], q["out_line_words"], q["out_lines"]) == (1, 4, 4, 27, 4)
    with pytest.raises(ValueError):
        rtl.resolve_params({"in_framing": "lines"})
    assert ".IN_LINE(1), .IN_SOF(SB), .OUT_LINE(0)" in rtl.render_user_prj0({"in_framing": "line"})
    top = rtl.render_user_prj0({"high_pri_req": True, "in_stall_limit": 100})
    assert ".HIGH_PRI(1)" in top and ".STALL_LIMIT(100)" in top and ".IN_BUF_WORDS(3072)" in top


@pytest.mark.parametrize("mode,high_pri,framing", [("argmax", False, ("frame", "frame")),
                                                   ("logits", True, ("frame", "frame")),
                                                   ("argmax", True, ("line", "line")),
                                                   ("logits", False, ("line", "frame"))])
def test_generated_wrapper_is_verilog_2005(tmp_path, mode, high_pri, framing):
    """The generated wrapper compiles from its file list with no include directory (-I / +incdir+) on Icarus
    (-Wall silent) and is Verilator --lint-only -Wall clean without waivers, with and without the sideband, in
    both input / output framings."""
    files = rtl.write_wrapper(tmp_path, {"output_mode": mode, "hls_top_name": "unet_top", "high_pri_req": high_pri,
                                          "hls_in_port": "input_1", "hls_out_port": "layer40_out",
                                          "in_framing": framing[0], "out_framing": framing[1]})
    names = {f.name for f in files}
    assert {"USER_PRJ0.v", "unet_top.v", "unet_fsic_regs.h", "unet_fsic_build.h",
            "unet_fsic_regs.py", "unet_fsic_build.json", "filelist.f", "filelist_sim.f"} <= names
    assert not any(f.suffix == ".vh" for f in files), "the wrapper RTL must not need a header"
    top = (tmp_path / "fsic" / "rtl" / "USER_PRJ0.v").read_text()
    for port in ("ap_rst_n", ".input_1_TDATA", ".layer40_out_TREADY", "low__pri_irq", "High_pri_req",
                 "la_data_o", "uck2_rst_n", "ss_tupsb", "sm_tupsb"):
        assert port in top
    fsic = tmp_path / "fsic"
    srcs = {f.name for f in files if f.suffix == ".v"}
    from _support import require_tools

    require_tools("iverilog", "verilator")  # the lint below must never pass silently for want of a simulator
    # no include directory anywhere (FSIC's file lists have none): not in the lists, not on the command lines
    assert fsic.joinpath("filelist.f").read_text().split() == [
        ln for ln in fsic.joinpath("filelist_sim.f").read_text().split() if ln != "sim/unet_top.v"]
    assert "incdir" not in fsic.joinpath("filelist.f").read_text()
    for f in files:
        if f.suffix == ".v":
            assert not re.search(r"^\s*`include", f.read_text(), re.M), f.name
    flist = [str(fsic / t) for t in fsic.joinpath("filelist_sim.f").read_text().split()]
    assert {p.rsplit("/", 1)[-1] for p in flist} == srcs, "the file list names every generated Verilog file"
    r = subprocess.run(["iverilog", "-g2005", "-Wall", "-s", "USER_PRJ0", "-o", str(tmp_path / "a.vvp")] + flist,
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr
    subprocess.run(["iverilog", "-g2005", "-DUSER_PROJECT_SIDEBAND_SUPPORT",
                    "-s", "USER_PRJ0", "-o", str(tmp_path / "b.vvp")] + flist, check=True, cwd=tmp_path)
    for extra in ([], ["-DUSER_PROJECT_SIDEBAND_SUPPORT"]):
        r = subprocess.run(["verilator", "--lint-only", "-Wall", *extra, "--top-module", "USER_PRJ0"] + flist,
                           capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
