"""The ``sim`` backend: the cocotb RTL simulation of a build's wrapper (``<build>/fsic``) in a child process
(``python -m pipeline.hw.rtlsim serve``, running the ``fsic_wrapper/sim/uf_sim_server.py`` bench), serving register
accesses and frame transfers over a loopback socket. The HLS IP is simulated by ``fsic_wrapper/sim/ip_model.py``
calling the model named by ``model=`` (``fsic_wrapper/sim/models.load_model``). Without ``model=`` it is the build's
compiled hls4ml C model (``uf_hls_ip``) -- required: a build without one (or whose ``.so`` does not load) is a
:class:`NoHardwareError` saying to run ``unet-fsic csim CONFIG``. Stand-ins (``'summod'``, ``'bytefn'``,
``'sim_models:...'``) only when named.

A wall-clock timeout kills the simulation (it cannot be trusted any more); every later call says so."""
from __future__ import annotations

import builtins
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..build import REPO, BuildDir
from ..errors import UserError
from ..hls.cmodel import compiled_model
from ..hw import rtlsim
from .errors import DeviceTimeoutError, NoHardwareError, UnetFsicError


class SimBackend:
    """cocotb RTL simulation of ``<build>/fsic`` in a child process, over a loopback socket."""

    def __init__(self, build_dir: Path, model: str | None = None, simulator: str = "icarus", latency: int = 8,
                 startup_timeout: float = 180.0, cycle_budget: int | None = None, env: dict | None = None,
                 pythonpath: list | None = None, log: str | Path | None = None, **_):
        build_dir = Path(build_dir).resolve()  # the simulator runs in its own working directory
        bd = BuildDir(build_dir)
        self.fsic = bd.fsic
        if not (bd.fsic_rtl / "USER_PRJ0.v").exists():
            raise NoHardwareError(f"sim backend: no wrapper RTL in {self.fsic} (run pipeline.hw.rtl.write_wrapper)")
        try:
            rtlsim.require_simulator(simulator, "sim backend")
        except UserError as e:
            raise NoHardwareError(str(e)) from None
        try:
            import cocotb  # noqa: F401
            import cocotbext.axi  # noqa: F401
        except ImportError as e:
            raise NoHardwareError(f"sim backend needs cocotb and cocotbext-axi: {e}") from e
        model_env = self._model_env(bd, model)
        p = json.loads(bd.build_json.read_text())
        # device-time budget per frame (clock cycles): generous multiple of the stream beats + IP latency
        self.cycle_budget = int(cycle_budget or (20 * (p["words_in"] + p["H"] * p["W"] + p["words_out"])
                                                 + 4 * latency + 20000))
        self.proc = None
        self.sock = None
        self._stopped = None  # why the simulation was stopped (a timeout), for every later call
        self._srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(1)
        port = self._srv.getsockname()[1]
        self.work = Path(build_dir) / "host_sim"
        self.work.mkdir(exist_ok=True)
        self.run_dir = Path(tempfile.mkdtemp(prefix="run_", dir=self.work))
        self.log_path = Path(log) if log else self.run_dir / "sim.log"
        child_env = {"UF_HOST_PORT": str(port), "UF_LATENCY": str(int(latency)), **model_env}
        self.model = child_env["UF_MODEL"]
        child_env.update({k: str(v) for k, v in (env or {}).items()})
        args = {"fsic": str(self.fsic), "sim": simulator, "work": str(self.run_dir), "env": child_env,
                "pythonpath": [str(x) for x in (pythonpath or [])]}
        # each opened device compiles into its own run dir (Icarus: ~1 s); removed on a clean close, kept (log)
        # after a failure
        self._logf = builtins.open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.hw.rtlsim", "serve", json.dumps(args)],
                                     cwd=str(self.run_dir), stdout=self._logf, stderr=subprocess.STDOUT,
                                     start_new_session=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                         [str(REPO)] + [x for x in [os.environ.get("PYTHONPATH")] if x])})
        try:
            self._accept(startup_timeout)
            hello = self._recv(startup_timeout)     # sent once the model is loaded and reset is done
            if not hello.get("ok"):
                raise UnetFsicError(f"sim backend failed to start: {hello.get('error')}")
            self.cycle_ns = hello["cycle_ns"]
        except BaseException:
            self.close(kill=True)
            raise

    @staticmethod
    def _model_env(bd: BuildDir, model: str | None) -> dict:
        """The simulated IP: ``model`` when named, else the build's compiled C model (checked loadable here)."""
        if model:
            return {"UF_MODEL": str(model)}
        try:
            lib, itf = compiled_model(bd)
        except UserError as e:
            raise NoHardwareError(f"sim backend: no IP model -- {e} (or name a stand-in, e.g. model='summod')") \
                from None
        return {"UF_MODEL": "uf_hls_ip:factory", "UF_HLS_LIB": str(lib), "UF_HLS_INTERFACE": str(itf)}

    # -- plumbing
    def _log_tail(self, n=30) -> str:
        try:
            self._logf.flush()
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def _accept(self, timeout: float):
        deadline = time.monotonic() + timeout
        self._srv.settimeout(0.5)
        while True:
            try:
                self.sock, _ = self._srv.accept()
                self._rf = self.sock.makefile("rb")
                return
            except socket.timeout:
                if self.proc.poll() is not None:
                    raise UnetFsicError(f"simulator exited ({self.proc.returncode}) before connecting:\n"
                                        + self._log_tail())
                if time.monotonic() > deadline:
                    raise DeviceTimeoutError(f"simulator did not connect within {timeout:.3g} s")

    def _recv(self, timeout: float, what: str = "at start-up") -> dict:
        self.sock.settimeout(timeout)
        try:
            line = self._rf.readline()
        except (socket.timeout, TimeoutError):
            # the simulation is stuck (e.g. a model that never returns): it cannot be trusted any more
            msg = f"simulator did not answer {what} within {timeout:.3g} s (simulation killed)"
            self._stopped = (f"the simulation was stopped after a timeout at {time.strftime('%H:%M:%S')} ({msg}); "
                             f"open the device again")
            self.close(kill=True)
            raise DeviceTimeoutError(msg) from None
        if not line:
            rc = self.proc.poll() if self.proc else None
            raise UnetFsicError(f"simulator closed the connection (exit {rc}):\n" + self._log_tail())
        return json.loads(line)

    def _rpc(self, timeout: float, **req) -> dict:
        if self.sock is None:
            raise UnetFsicError(self._stopped or "sim backend is closed (close() was called); open the device again")
        self.sock.sendall((json.dumps(req) + "\n").encode())
        rep = self._recv(timeout, f"a {req['op']} request")
        if not rep.get("ok") and not rep.get("timeout"):
            raise UnetFsicError(f"sim {req['op']}: {rep.get('error')}")
        return rep

    # -- backend interface
    def read(self, off: int, timeout: float) -> int:
        return int(self._rpc(timeout, op="read", off=int(off))["v"])

    def write(self, off: int, v: int, timeout: float):
        self._rpc(timeout, op="write", off=int(off), v=int(v) & 0xFFFFFFFF)

    def transfer(self, data: bytes, out_len: int, timeout: float) -> bytes:
        rep = self._rpc(timeout, op="transfer", data=data.hex(), cycles=self.cycle_budget)
        if rep.get("timeout"):
            raise DeviceTimeoutError(f"no output frame within {self.cycle_budget} clock cycles "
                                     f"({self.cycle_budget * self.cycle_ns / 1e3:.0f} us simulated)")
        return bytes.fromhex(rep["data"])

    def flush(self):
        self._rpc(30.0, op="flush")

    def close(self, kill: bool = False):
        if self.sock is not None and not kill:
            try:
                self._rpc(10.0, op="close")
            except UnetFsicError:
                kill = True
        for s in (getattr(self, "sock", None), self._srv):
            try:
                if s is not None:
                    s.close()
            except OSError:
                pass
        self.sock = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=0 if kill else 30)
            except subprocess.TimeoutExpired:
                pass
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, 9)   # our own child's process group (start_new_session)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
            clean = not kill and self.proc.returncode == 0
            self.proc = None
            if getattr(self, "_logf", None):
                self._logf.close()
            if clean:
                shutil.rmtree(self.run_dir, ignore_errors=True)
        elif getattr(self, "_logf", None):
            self._logf.close()
