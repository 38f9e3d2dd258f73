"""uf_gearbox (the wrapper's frame-aware field re-packer) on its own, and the RTL hygiene of fsic_wrapper/rtl/.

* test_gearbox_rtl: the parameterised cocotb bench fsic_wrapper/sim/test_gearbox.py (Python reference model of the
  re-packing, random valid gaps and out_ready back-pressure, output stream rules) for several field widths and
  in/out ratios, with FRAME_N a multiple of neither, on Icarus and Verilator (parameters through cocotb.runner's
  ``parameters=``);
* test_bad_parameter_stops_*: a violated parameter constraint stops the simulation at time 0 with an ``Error:``
  message ($error + $finish, the verilog-axis pattern) on Icarus (-g2005 and -g2012) and Verilator;
* test_rtl_lint_clean: ``verilator --lint-only -Wall`` without any waiver on the generated wrapper (both heads) and
  on the gearbox at each bench configuration; ``iverilog -Wall`` prints nothing;
* test_helper_file_list: fsic_wrapper/rtl/wrapper.f (what the wrapper generator copies) and its missing-file error.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _support import require_tools

REPO = Path(__file__).resolve().parent.parent
RTL_DIR = REPO / "fsic_wrapper" / "rtl"
SIM_DIR = REPO / "fsic_wrapper" / "sim"
GEARBOX = RTL_DIR / "uf_gearbox.v"
SIMS = ["icarus", "verilator"]
TOOL = {"icarus": "iverilog", "verilator": "verilator"}


def _rtl_module():
    """The wrapper generator (pipeline.wrap; pipeline.hw.rtl once it has moved there)."""
    try:
        from pipeline.hw import rtl as mod
    except ImportError:
        from pipeline import wrap as mod
    return mod


# FRAME_N is a multiple of neither IN_N nor OUT_N (where either is > 1)
CONFIGS = {
    "fw8_4to3": dict(FW=8, IN_N=4, OUT_N=3, FRAME_N=13),              # the input unpacker's shape (bytes -> RGB)
    "fw5_3to4_minbuf": dict(FW=5, IN_N=3, OUT_N=4, FRAME_N=10, BUF_N=6),   # smallest legal buffer IN_N+OUT_N-1
    "fw5_4to6": dict(FW=5, IN_N=4, OUT_N=6, FRAME_N=15),
    "fw8_1to4": dict(FW=8, IN_N=1, OUT_N=4, FRAME_N=7),
    "fw5_6to1_cw4": dict(FW=5, IN_N=6, OUT_N=1, FRAME_N=7, CW=4),     # CW exactly $clog2(BUF_N+1) for BUF_N=14
    "fw5_1to6": dict(FW=5, IN_N=1, OUT_N=6, FRAME_N=15),              # the argmax packer of a 3x5 build
}
FRAMES = 16
# a Verilator build takes ~30 s (its C++ runtime is compiled per build): by default these configurations run on
# Verilator too (both field widths, IN_N > OUT_N and IN_N < OUT_N, the smallest buffer and count width); the rest
# run on Verilator with -m slow.  Icarus runs all of them.
VERILATOR_DEFAULT = ("fw8_4to3", "fw5_3to4_minbuf", "fw5_6to1_cw4")


def _bench_cases():
    for name in CONFIGS:
        for sim in SIMS:
            slow = sim == "verilator" and name not in VERILATOR_DEFAULT
            yield pytest.param(sim, name, id=f"{name}-{sim}", marks=[pytest.mark.slow] if slow else [])


def _run_bench(sim: str, name: str, work: Path):
    from cocotb.runner import get_results, get_runner

    params = CONFIGS[name]
    # cocotb.runner passes sys.path as the simulator's PYTHONPATH: the bench's folder goes first, so that
    # `test_gearbox` there is the cocotb module and not this file (same name)
    if str(SIM_DIR) in sys.path:
        sys.path.remove(str(SIM_DIR))
    sys.path.insert(0, str(SIM_DIR))
    runner = get_runner(sim)
    build_dir = work / f"sim_{sim}"
    build_args = ["-Wall"] if sim == "verilator" else ["-Wall", "-g2005"]
    runner.build(verilog_sources=[GEARBOX], hdl_toplevel="uf_gearbox", parameters=params, build_dir=build_dir,
                 build_args=build_args, always=True)
    env = {"UF_GEARBOX_PARAMS": json.dumps(dict(params, seed=sum(map(ord, name)), frames=FRAMES))}
    xml = runner.test(hdl_toplevel="uf_gearbox", test_module="test_gearbox", build_dir=build_dir, test_dir=work,
                      extra_env=env)
    return get_results(Path(xml))


@pytest.mark.parametrize("sim, name", list(_bench_cases()))
def test_gearbox_rtl(sim, name, tmp_path):
    require_tools(TOOL[sim])
    total, failed = _run_bench(sim, name, tmp_path)
    assert total == 4 and failed == 0, f"{failed} of {total} cocotb tests failed ({name} on {sim})"


def test_reference_model_self_check():
    """The bench's reference model on a hand-worked case: FW=4, 3 fields per output beat, 7-field frames."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("uf_gearbox_bench", SIM_DIR / "test_gearbox.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    beats = bench.reference_beats(list(range(1, 15)), frame_n=7, out_n=3)
    assert beats == [((1, 2, 3), 3, 0), ((4, 5, 6), 3, 0), ((7, 0, 0), 1, 1),
                     ((8, 9, 10), 3, 0), ((11, 12, 13), 3, 0), ((14, 0, 0), 1, 1)]
    assert bench.unpack(bench.pack([1, 2, 3], fw=4), 3, fw=4) == (1, 2, 3)


# ------------------------------------------------------------------------------------------ parameter checks
TB = """\
`resetall
`timescale 1ns / 1ps
`default_nettype none
// a running testbench around one uf_gearbox: prints MARK if the simulation gets past time 0
module tb_gearbox_param #(
    parameter FW = 8, parameter IN_N = 4, parameter OUT_N = 3, parameter FRAME_N = 13,
    parameter BUF_N = 2 * (IN_N + OUT_N), parameter CW = 8
) ();
    reg clk = 1'b0;
    reg rst_n = 1'b0;
    always #5 clk = ~clk;
    uf_gearbox #(.FW(FW), .IN_N(IN_N), .OUT_N(OUT_N), .FRAME_N(FRAME_N), .BUF_N(BUF_N), .CW(CW)) dut (
        .clk(clk), .rst_n(rst_n), .in_data(), .in_cnt(), .in_valid(1'b0), .in_ready(),
        .out_data(), .out_cnt(), .out_last(), .out_valid(), .out_ready(1'b1), .empty());
    initial begin
        #100 rst_n = 1'b1;
        #100 $display("MARK: simulation ran past time 0");
        $finish;
    end
endmodule
`resetall
"""
MARK = "MARK: simulation ran past time 0"

BAD = {   # parameter override -> the message of the check it violates
    "in_n_0": ({"IN_N": 0}, "IN_N, OUT_N, FRAME_N >= 1"),
    "buf_n_deadlock": ({"BUF_N": 5}, "could deadlock"),               # IN_N + OUT_N - 1 = 6
    "cw_too_narrow": ({"CW": 3}, "cannot hold BUF_N=14"),            # BUF_N 14 needs 4 bits
}


def _icarus(tmp_path: Path, gen: str, overrides: dict, top: str = "tb_gearbox_param",
            srcs: list[Path] | None = None, incdir: Path | None = None) -> subprocess.CompletedProcess:
    tb = tmp_path / "tb_gearbox_param.v"
    tb.write_text(TB)
    vvp = tmp_path / f"{gen}.vvp"
    cmd = ["iverilog", f"-g{gen}", "-s", top, "-o", str(vvp)] + [f"-P{top}.{k}={v}" for k, v in overrides.items()]
    if incdir:
        cmd += ["-I", str(incdir)]
    subprocess.run(cmd + [str(s) for s in (srcs or [tb, GEARBOX])], check=True, capture_output=True, text=True)
    return subprocess.run(["vvp", "-n", str(vvp)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("gen", ["2005", "2012"])
def test_bad_parameter_stops_icarus(tmp_path, gen):
    require_tools("iverilog", "vvp")
    ok = _icarus(tmp_path, gen, {})
    assert MARK in ok.stdout and "Error" not in ok.stdout, ok.stdout      # the control runs to the end
    for name, (over, msg) in BAD.items():
        r = _icarus(tmp_path, gen, over)
        out = r.stdout + r.stderr
        # $error + $finish: vvp 11 exits 0 on $finish, so the proof is the message and the missing MARK
        assert "ERROR" in out and msg in out and "instance tb_gearbox_param.dut" in out, f"{name}: {out}"
        assert MARK not in out, f"{name}: the simulation went on after the failed check"


def test_bad_core_parameters_stop_icarus(tmp_path):
    """The wrapper core's own checks and a helper's check (through the core's parameters) on Icarus."""
    require_tools("iverilog", "vvp")
    srcs = [p for p in _rtl_module().helper_files()]
    cases = {
        "in_tdata_narrow": ({"HLS_IN_TDATA_W": 16}, "HLS_IN_TDATA_W=16 < IMG_C * IN_ELEM_BITS = 24"),
        "class_bits": ({"CLASS_BITS": 4}, "CLASS_BITS=4 cannot hold 21 class indices"),
        "in_shift": ({"IN_SHIFT": 1}, "does not fit IN_ELEM_BITS=8"),
        "channels_vs_count_width": ({"IMG_C": 200, "HLS_IN_TDATA_W": 1600}, "u_unpack"),   # 8-bit gearbox counts
        "img_w_field": ({"IMG_W": 70000}, "ID_IMG fields"),
    }
    for name, (over, msg) in cases.items():
        r = _icarus(tmp_path, "2005", over, top="unet_fsic_core", srcs=srcs)
        out = r.stdout + r.stderr
        assert "ERROR" in out and msg in out, f"{name}: {out}"
    ok = _icarus(tmp_path, "2005", {}, top="unet_fsic_core", srcs=srcs)
    assert "ERROR" not in ok.stdout + ok.stderr


def test_bad_parameter_stops_verilator(tmp_path):
    """Verilator runs the same check in the built model: $error aborts the simulation with a non-zero exit."""
    require_tools("verilator")
    tb = tmp_path / "tb_gearbox_param.v"
    tb.write_text(TB)
    over, msg = BAD["cw_too_narrow"]
    obj = tmp_path / "obj"
    cmd = ["verilator", "--binary", "-Wno-fatal", "--top-module", "tb_gearbox_param", "--Mdir", str(obj),
           "-CFLAGS", "-O0", "-o", "Vtb"] + [f"-G{k}={v}" for k, v in over.items()] + [str(tb), str(GEARBOX)]
    b = subprocess.run(cmd, capture_output=True, text=True)
    assert b.returncode == 0, b.stdout[-3000:] + b.stderr[-3000:]
    r = subprocess.run([str(obj / "Vtb")], capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and msg in out and MARK not in out, f"rc={r.returncode}: {out}"


# ------------------------------------------------------------------------------------------ lint
def _verilator_lint(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["verilator", "--lint-only", "-Wall"] + args, capture_output=True, text=True)


@pytest.mark.parametrize("mode", ["argmax", "logits"])
def test_rtl_lint_clean(tmp_path, mode):
    """No waivers: -Wall warnings (WIDTH, UNUSED, DECLFILENAME, ...) all fixed in the RTL itself."""
    require_tools("verilator", "iverilog")
    rtl = _rtl_module()
    files = rtl.write_wrapper(tmp_path, {"output_mode": mode, "hls_top_name": "unet_top",
                                         "hls_out_port": "layer40_out", "in_elem_bits": 16, "in_shift": 3})
    inc = tmp_path / "fsic" / "rtl"
    srcs = [str(f) for f in files if f.suffix == ".v"]
    for defs in ([], ["-DUSER_PROJECT_SIDEBAND_SUPPORT"]):
        r = _verilator_lint(defs + [f"-I{inc}", "--top-module", "USER_PRJ0"] + srcs)
        assert r.returncode == 0 and "%Warning" not in r.stderr, r.stderr
        for gen in ("2005", "2012"):
            r = subprocess.run(["iverilog", f"-g{gen}", "-Wall", "-I", str(inc), "-s", "USER_PRJ0", "-o",
                                str(tmp_path / "a.vvp")] + defs + srcs, capture_output=True, text=True)
            assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr
    if mode == "argmax":
        for name, params in CONFIGS.items():
            r = _verilator_lint([f"-G{k}={v}" for k, v in params.items()] + [str(GEARBOX)])
            assert r.returncode == 0 and "%Warning" not in r.stderr, f"{name}: {r.stderr}"


def test_every_rtl_file_resets_directives(tmp_path):
    """verilog-axis style: `resetall, `timescale 1ns / 1ps, `default_nettype none at the top, `resetall at the end
    (the hand-written helpers and the generated USER_PRJ0.v / IP shell)."""
    generated = [f for f in _rtl_module().write_wrapper(tmp_path, {}) if f.suffix == ".v" and f.parent.name == "sim"]
    generated.append(tmp_path / "fsic" / "rtl" / "USER_PRJ0.v")
    for f in sorted(RTL_DIR.glob("*.v")) + generated:
        lines = [ln.strip() for ln in f.read_text().splitlines() if ln.strip()]
        assert lines[:3] == ["`resetall", "`timescale 1ns / 1ps", "`default_nettype none"], f.name
        assert lines[-1] == "`resetall", f.name


# ------------------------------------------------------------------------------------------ file list
def test_helper_file_list(tmp_path):
    rtl = _rtl_module()
    files = rtl.helper_files()
    names = [f.name for f in files]
    # wrapper.f + cdc.f (the two-clock wrapper's files, added only for ip_clock = user_clock2) name every helper
    cdc = [f.name for f in rtl.helper_files(rtl.CDC_F)]
    assert cdc == ["uf_cdc_sync.v", "uf_async_fifo.v", "uf_ip_cdc.v"] and not set(cdc) & set(names)
    assert names[-1] == "unet_fsic_core.v" and set(names) | set(cdc) == {f.name for f in RTL_DIR.glob("*.v")}, names
    assert all(f.parent == RTL_DIR for f in files)
    bad = tmp_path / "bad.f"
    bad.write_text("// comment\n\nuf_counter.v\nno_such_file.v  // gone\n")
    (tmp_path / "uf_counter.v").write_text("")
    with pytest.raises(FileNotFoundError, match=r"bad\.f:4: names 'no_such_file\.v'"):
        rtl.helper_files(bad)
    built = rtl.write_wrapper(tmp_path / "b", {})
    flist = (tmp_path / "b" / "fsic" / "filelist.f").read_text().split()
    assert flist == [f"rtl/{n}" for n in names] + ["rtl/USER_PRJ0.v"]
    assert {f.name for f in built} >= set(names)
