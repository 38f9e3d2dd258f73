"""The one cocotb runner: builds Verilog sources with cocotb 1.9's ``cocotb.runner`` on Icarus Verilog or Verilator
and runs a cocotb test module from ``fsic_wrapper/sim/`` against it. Used by ``unet-fsic cosim``, the host driver's
sim backend (as a child process: ``python -m pipeline.hw.rtlsim serve ARGS_JSON``) and the wrapper tests.

The cocotb test modules and the simulated-IP models run *inside* the simulator; they live in ``fsic_wrapper/sim/``
(``models.load_model`` resolves every ``UF_MODEL`` spec). ``cocotb.runner`` hands this process's ``sys.path`` to the
simulator as ``PYTHONPATH``, so :func:`run` puts that folder and the repository on it first.

cocotb's runner ends a failed compile or a dead simulator with ``SystemExit``; :func:`build` and :func:`test` turn that
into :class:`SimulationError` saying which step failed (``phase`` ``"build"`` or ``"run"``) and where the log is.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import warnings
from pathlib import Path

from ..build import REPO
from ..errors import UserError

SIM_DIR = REPO / "fsic_wrapper" / "sim"
SIMULATORS = {"icarus": "iverilog", "verilator": "verilator"}
# Verilator: the generated wrapper is lint-clean with these waivers (width/unused are intentional in the packers)
VERILATOR_BUILD_ARGS = ["-Wno-fatal", "-Wno-WIDTH", "-Wno-UNUSED"]


class SimulationError(RuntimeError):
    """A simulator could not compile the sources (``phase == "build"``) or died / wrote no results while running the
    test (``phase == "run"``). ``str(err)`` is the runner's reason; ``log`` the file holding the tool output."""

    def __init__(self, sim: str, phase: str, reason: str, log: Path | None = None):
        super().__init__(reason)
        self.sim, self.phase, self.log = sim, phase, log


def first_error(log: Path | None, limit: int = 200) -> str | None:
    """The first compiler / simulator error line in ``log`` (Verilator ``%Error: ...``, Icarus ``file.v:N: syntax
    error``, g++ ``error:``), cut to ``limit`` characters -- for a one-line message; None if there is none."""
    try:
        lines = Path(log).read_text(errors="replace").splitlines() if log else []
    except OSError:
        return None
    for line in lines:
        t = line.strip()
        if "error" in t.lower() and not t.startswith(("INFO", "%Error: Exiting")):
            return t if len(t) <= limit else t[:limit - 3] + "..."
    return None


def _runner_api():
    """cocotb 1.9's runner (its import warns that the API is experimental: not our user's concern)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        from cocotb import runner
    return runner


def require_simulator(sim: str, what: str = "simulator") -> str:
    """The simulator's executable, or one clear error naming the missing tool."""
    exe = SIMULATORS.get(sim)
    if exe is None:
        raise UserError(f"{what}: unknown simulator {sim!r} (choose from {', '.join(SIMULATORS)})")
    if shutil.which(exe) is None:
        raise UserError(f"{what}: {sim} is not installed ({exe} not on PATH; scripts/setup.sh installs it)")
    return exe


def filelist_sources(filelist: Path) -> list[Path]:
    """The ``.v`` files of a file list (paths relative to the list's folder), in order."""
    base = filelist.parent
    return [Path(t) if Path(t).is_absolute() else base / t for t in filelist.read_text().split() if t.endswith(".v")]


def _python_path(extra=()) -> None:
    for d in [*map(str, extra), str(SIM_DIR), str(REPO)]:
        if d not in sys.path:
            sys.path.insert(0, d)


@contextlib.contextmanager
def output_to(path: Path | None):
    """Send this process's stdout and stderr (fds 1, 2: the runner and the simulator it starts) to ``path``."""
    if path is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def build(sim: str, sources, build_dir: Path, toplevel: str = "USER_PRJ0", includes=(), parameters=None,
          always: bool = True, log: Path | None = None, defines=None):
    """Compile ``sources`` for ``sim``; returns the runner (for :func:`test`). :class:`SimulationError` (phase
    ``build``) when the simulator's compiler fails."""
    require_simulator(sim)
    _python_path()
    runner = _runner_api().get_runner(sim)
    try:
        with output_to(log):
            runner.build(verilog_sources=[Path(s) for s in sources], includes=[Path(i) for i in includes],
                         hdl_toplevel=toplevel, build_dir=Path(build_dir), parameters=parameters or {},
                         defines=dict(defines or {}),
                         build_args=VERILATOR_BUILD_ARGS if sim == "verilator" else [], always=always)
    except SystemExit as e:  # the runner exits when a compile step fails ("Process 'make' terminated ...")
        raise SimulationError(sim, "build", str(e), log) from None
    return runner


@contextlib.contextmanager
def _not_under_pytest():
    """cocotb's runner raises on failed tests only when ``PYTEST_CURRENT_TEST`` is set (also inherited by a CLI run from
    a test): hide it, so :func:`test` always returns (total, failed) and raises only when the simulator died."""
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved


def test(runner, test_module: str, testcases, build_dir: Path, test_dir: Path, env: dict | None = None,
         toplevel: str = "USER_PRJ0", parameters=None, pythonpath=(), log: Path | None = None) -> tuple[int, int]:
    """Run ``test_module`` (a cocotb module in fsic_wrapper/sim or on ``pythonpath``); returns (total, failed).
    :class:`SimulationError` (phase ``run``) when the simulator dies or writes no results file."""
    api = _runner_api()
    _python_path(pythonpath)
    try:
        with output_to(log), _not_under_pytest():
            xml = runner.test(hdl_toplevel=toplevel, test_module=test_module, testcase=list(testcases) or None,
                              build_dir=Path(build_dir), test_dir=Path(test_dir), parameters=parameters or {},
                              extra_env={k: str(v) for k, v in (env or {}).items()})
        return api.get_results(Path(xml))
    except SystemExit as e:  # simulator exit status != 0, or no results file ("terminated abnormally")
        raise SimulationError(type(runner).__name__.lower(), "run", str(e), log) from None


def run(sim: str, sources, test_module: str, testcases, work: Path, env: dict | None = None, toplevel="USER_PRJ0",
        includes=(), parameters=None, always: bool = True, pythonpath=(), log: Path | None = None,
        defines=None) -> tuple[int, int]:
    """Build + test in ``work/sim_<sim>``; returns (total, failed). ``defines``: Verilog macros (e.g.
    ``{"USER_PROJECT_SIDEBAND_SUPPORT": 1}`` for FSIC's ss_tupsb / sm_tupsb ports)."""
    bdir = Path(work) / f"sim_{sim}"
    runner = build(sim, sources, bdir, toplevel, includes, parameters, always, log, defines)
    return test(runner, test_module, testcases, bdir, work, env, toplevel, parameters, pythonpath, log)


def run_fsic(sim: str, fsic: Path, test_module: str, testcases, work: Path, env: dict | None = None,
             always: bool = True, pythonpath=(), log: Path | None = None, defines=None) -> tuple[int, int]:
    """A cocotb test module against a build's generated wrapper (``<build>/fsic``: its ``filelist_sim.f``, the IP
    shell included); ``UF_BUILD_JSON`` is set for the bench."""
    fsic = Path(fsic).resolve()
    env = {"UF_BUILD_JSON": str(fsic / "python" / "unet_fsic_build.json"), **(env or {})}
    return run(sim, filelist_sources(fsic / "filelist_sim.f"), test_module, testcases, Path(work).resolve(), env,
               always=always, pythonpath=pythonpath, log=log, defines=defines)


def _serve(args: dict) -> int:
    """The host driver's sim backend child: the build's wrapper + the ``uf_sim_server`` bench (one device). A build
    in line framing is simulated with FSIC's sideband ports (USER_PROJECT_SIDEBAND_SUPPORT), as FSIC's line
    convention needs."""
    fsic = Path(args["fsic"])
    build = json.loads((fsic / "python" / "unet_fsic_build.json").read_text())
    defines = {"USER_PROJECT_SIDEBAND_SUPPORT": 1} if build.get("in_line") or build.get("out_line") else None
    total, failed = run_fsic(args["sim"], fsic, "uf_sim_server", ["serve"], Path(args["work"]),
                             env=args.get("env"), always=False, pythonpath=args.get("pythonpath", ()),
                             defines=defines)
    return 0 if total == 1 and failed == 0 else 1


if __name__ == "__main__":  # python -m pipeline.hw.rtlsim serve '{"fsic": ..., "sim": ..., "work": ..., "env": {}}'
    if len(sys.argv) != 3 or sys.argv[1] != "serve":
        sys.exit("usage: python -m pipeline.hw.rtlsim serve ARGS_JSON")
    sys.exit(_serve(json.loads(sys.argv[2])))
