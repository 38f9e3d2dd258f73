"""How csim, cosim and the host sim backend fail (issue #12), through the real CLI (``python -m pipeline.cli``):

* every failure is ONE stderr line ``unet-fsic: error: ...`` naming what failed and its log; exit 2 when the run could
  not happen (bad arguments, a simulator that cannot build, a C model that does not load, a bench that timed out or
  stopped), exit 1 only when every frame was simulated and the outputs differ (tests/test_cosim.py);
* bad ``--frames`` / ``--workers`` / an empty simulator list touch nothing (sha256 of every file before and after);
* a failed cosim / csim leaves no report -- in particular not the previous run's PASS.

One tiny build (16x16 reduced U-Net, seeded random weights: converted, compiled with g++, wrapped) is made once for the
module (~70 s on 2 cores); each test breaks its own copy. Runtime ~4 min (each CLI call imports TensorFlow, ~10 s).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402
import yaml  # noqa: E402

import keras_model  # noqa: E402,F401
from pipeline.config import validate  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODEL = {"input_shape": [16, 16, 3], "base_filters": 4, "depth": 2}
VAL = 8  # validation split size of the tiny build


def _raw(build_dir, model_file) -> dict:
    return {"build_dir": str(build_dir), "model": MODEL, "data": {"synthetic": {"train": 8, "val": VAL}},
            "hls": {"reuse_factor": 4, "model_file": str(model_file)}, "csim": {"frames": 2, "workers": 2},
            "cosim": {"frames": 1, "simulators": ["icarus"], "ip_latency": 37}}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(build dir, raw config) of a converted + compiled (csim passed) + wrapped tiny build; tests copy it."""
    from _support import randomize_weights

    from keras_model.model import build_model
    from pipeline.stages import csim, wrap

    d = tmp_path_factory.mktemp("tiny")
    m = build_model(validate({"model": MODEL}), quantized=True)
    randomize_weights(m, seed=13)
    m.save(d / "w5a8_model.h5")
    raw = _raw(d / "b", d / "w5a8_model.h5")
    cfg = validate(raw)
    assert csim.run(cfg, progress=False)["passed"]
    wrap.write_wrap(cfg)
    return d / "b", raw


def _copy(tiny, tmp_path, **cosim) -> tuple[Path, Path]:
    """A copy of the tiny build and its config file (``cosim`` keys overridden): (build dir, config path)."""
    src, raw = tiny
    bd = tmp_path / "b"
    shutil.copytree(src, bd)
    raw = copy.deepcopy(raw)
    raw["build_dir"] = str(bd)
    raw["cosim"].update(cosim)
    cfgp = tmp_path / "c.yaml"
    cfgp.write_text(yaml.safe_dump(raw))
    return bd, cfgp


def _cli(*args, path_prefix: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if path_prefix:
        env["PATH"] = f"{path_prefix}{os.pathsep}{env['PATH']}"
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=900, cwd=REPO)


def _one_line(res, status: int = 2) -> str:
    """The single stderr line of a failed command (nothing else on stderr)."""
    lines = res.stderr.strip().splitlines()
    assert res.returncode == status and len(lines) == 1 and lines[0].startswith("unet-fsic: error: "), (
        res.returncode, res.stderr[-3000:])
    return lines[0]


def _tree(d: Path) -> dict:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*"))
            if p.is_file()}


def _old_pass(bd: Path, part: str) -> None:
    """What a previous passing run left (so the test sees that a failed run withdraws it)."""
    (bd / part).mkdir(exist_ok=True)
    (bd / part / "report.json").write_text('{"passed": true}\n')
    (bd / part / "report.md").write_text("**PASS**\n")


def _no_result(bd: Path, part: str) -> None:
    left = sorted(p.name for p in (bd / part).glob("report.*")) + sorted(p.name for p in (bd / part).glob("outputs_*"))
    assert not left, f"a failed {part} left {left}"


# --- cosim: could not build / could not load / could not simulate ---
def test_verilator_build_failure_is_one_line_with_the_log(tiny, tmp_path):
    from _support import require_tools

    require_tools("verilator")
    bd, cfgp = _copy(tiny, tmp_path, simulators=["verilator"])
    with open(bd / "fsic" / "rtl" / "USER_PRJ0.v", "a") as fh:
        fh.write("\nmodule broken(; endmodule\n")
    _old_pass(bd, "cosim")
    line = _one_line(_cli("cosim", cfgp))
    log = bd / "cosim" / "verilator.log"
    assert "could not build the verilator simulation" in line and "syntax error" in line, line
    assert line.endswith(f"see {log}") and "%Error" in log.read_text()
    _no_result(bd, "cosim")


def test_corrupt_compiled_model_is_named_before_any_simulator(tiny, tmp_path):
    """Garbage over the compiled C model: cosim says which .so and why, before a simulator starts; the host sim
    backend refuses it the same way."""
    from _support import require_tools

    from pipeline import host

    require_tools("iverilog")
    bd, cfgp = _copy(tiny, tmp_path)
    (so,) = (bd / "hls" / "firmware").glob("*.so")
    so.write_bytes(os.urandom(4096))
    _old_pass(bd, "cosim")
    line = _one_line(_cli("cosim", cfgp))
    assert line == (f"unet-fsic: error: {so.resolve()} cannot be loaded: invalid ELF header -- re-run `unet-fsic "
                    f"csim CONFIG`"), line
    assert not list((bd / "cosim").glob("*.log")), "a simulator was started"
    _no_result(bd, "cosim")
    with pytest.raises(host.NoHardwareError, match=r"\.so cannot be loaded: invalid ELF header -- re-run `unet-fsic"):
        host.open(bd, backend="sim")


def test_bench_timeout_is_could_not_simulate_not_differ(tiny, tmp_path):
    """The IP is never started (ap_start tied low in the build's wrapper): no frame comes out; the bench gives up after
    its cycle budget and cosim says it could not simulate -- not that the outputs differ."""
    from _support import require_tools

    require_tools("iverilog")
    bd, cfgp = _copy(tiny, tmp_path)
    v = bd / "fsic" / "rtl" / "USER_PRJ0.v"
    src = v.read_text()
    assert src.count(".ap_start(ip_ap_start)") == 1
    v.write_text(src.replace(".ap_start(ip_ap_start)", ".ap_start(1'b0)"))
    _old_pass(bd, "cosim")
    line = _one_line(_cli("cosim", cfgp))
    log = bd / "cosim" / "icarus.log"
    assert "could not simulate on icarus: timed out -- 0 of 1 output frames within" in line, line
    assert "differ" not in line and line.endswith(f"see {log}") and "TimeoutError" in log.read_text()
    _no_result(bd, "cosim")


def test_bench_stopped_is_could_not_simulate(tiny, tmp_path):
    """The simulated IP fails to load inside the simulator (its interface says 8x8, the wrapper is 16x16): the bench
    stops before any frame; cosim reports that reason, not a mismatch."""
    from _support import require_tools

    require_tools("iverilog")
    bd, cfgp = _copy(tiny, tmp_path)
    itf = bd / "hls" / "interface.json"
    data = json.loads(itf.read_text())
    data["in_shape"] = [8, 8, 3]
    itf.write_text(json.dumps(data))
    line = _one_line(_cli("cosim", cfgp))
    assert "could not simulate on icarus: the bench stopped before all 1 frames came out (ValueError: hls4ml IP " \
           "input 8x8x3 does not match the wrapper build 16x16x3)" in line, line
    assert line.endswith(f"see {bd / 'cosim' / 'icarus.log'}")
    _no_result(bd, "cosim")


# --- arguments: checked before anything is touched ---
@pytest.mark.parametrize("args, what", [
    (("csim", "--frames", "100000"), "csim --frames: 100000 is out of range"),
    (("csim", "--frames", "-5"), "csim --frames: -5 is out of range"),
    (("csim", "--workers", "0"), "csim --workers: 0 is out of range"),
    (("cosim", "--frames", "-1"), "cosim --frames: -1 is out of range"),
], ids=["csim-frames-100000", "csim-frames-neg", "csim-workers-0", "cosim-frames-neg"])
def test_bad_arguments_touch_nothing(tiny, tmp_path, args, what):
    bd, cfgp = _copy(tiny, tmp_path)
    _old_pass(bd, args[0])
    before = _tree(bd)
    assert any(k.startswith("hls/firmware/") and k.endswith(".so") for k in before)
    line = _one_line(_cli(args[0], cfgp, *args[1:]))
    assert what in line, line
    if "--frames" in args:
        assert f"the validation split has {VAL} frames (allowed: 1..{VAL})" in line, line
    assert _tree(bd) == before


def test_empty_simulator_list_is_one_line(tiny, tmp_path):
    bd, cfgp = _copy(tiny, tmp_path, simulators=[])
    before = _tree(bd)
    line = _one_line(_cli("cosim", cfgp))
    assert "cosim.simulators" in line and "empty" in line, line
    assert _tree(bd) == before


# --- csim: g++ failure ---
def test_csim_compile_failure_is_one_line_with_the_log(tiny, tmp_path):
    """g++ fails (a compiler that only reports an error, first on PATH): one line pointing to csim/compile.log, which
    holds the compiler's message; no csim report survives."""
    bd, cfgp = _copy(tiny, tmp_path)
    fake = tmp_path / "bin"
    fake.mkdir()
    gxx = fake / "g++"
    gxx.write_text("#!/bin/sh\necho 'g++: fatal error: no compiler today' >&2\nexit 1\n")
    gxx.chmod(0o755)
    _old_pass(bd, "csim")
    line = _one_line(_cli("csim", cfgp, "--frames", "1", path_prefix=fake))
    log = bd / "csim" / "compile.log"
    assert "g++ could not compile the hls4ml project" in line and "g++: fatal error: no compiler today" in line, line
    assert line.endswith(f"see {log}") and "no compiler today" in log.read_text()
    _no_result(bd, "csim")
