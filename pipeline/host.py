"""Host (FPGA/PYNQ-side) driver of a unet-fsic build: registers through the FPGA's FSIC bridge at 0x6000_0000
(same offsets as the Caravel view at 0x3000_0000), frames in and results out through the stream DMA.

    from pipeline import host
    with host.open("builds/b1", backend="sim") as dev:      # or backend="pynq" on the board
        print(dev.identity())
        classes = dev.infer(image_uint8)                      # (H, W) class indices
        maps = dev.infer_batch(images_uint8)                  # (N, H, W)

Backends
--------
``pynq``  the real board: ``pynq`` is imported lazily; overlay ``<build>/**/*.bit`` (or ``bitfile=``), register
          window ``pynq.MMIO(0x6000_0000, 0x1000)``, AXI DMA (``dma=`` name or the first IP named like a DMA).
``sim``   the cocotb RTL simulation of the build's wrapper (``<build>/fsic``, written by pipeline.wrap): one simulator
          process per device, serving register accesses and frame transfers over a loopback socket
          (firmware/host/uf_sim_server.py).  The HLS IP is simulated by ``fsic_wrapper/sim/ip_model.py`` calling a
          Python model selected by ``model=`` ('module:factory', 'path/file.py:factory'); by default the build's
          compiled hls4ml C model (``fsic_wrapper/sim/uf_hls_ip.py``, when ``<build>/hls`` was converted and
          compiled by ``unet-fsic csim`` / ``run``), else 'summod'.

Input mapping: ``infer`` takes ordinary uint8 images and streams the codes the IP's ``ap_ufixed<8,0>`` input expects
(``pipeline.csim.hardware_input``: byte + (byte >= 128), clipped to 255 -- the model's 8-bit quantizer of byte/255).

Exceptions (all subclasses of :class:`UnetFsicError`)
-----------------------------------------------------
``NoHardwareError``        no board / pynq not importable / no bitstream / no simulator or wrapper RTL
``IdentityMismatchError``  the ID_* registers differ from the build (``.diff = {field: (device, expected)}``)
``DeviceTimeoutError``     (also a ``TimeoutError``) a frame or register access did not complete in time
``DeviceErrorFlags``       the wrapper's ERR register is non-zero (``.flags``, ``.names``; ``.results`` = frames
                           finished before it); flags stay set until :meth:`UnetFsic.clear_errors`
"""
from __future__ import annotations

import builtins
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
HOST_SIM_DIR = REPO / "firmware" / "host"
FPGA_BASE = 0x60000000
WINDOW = 0x1000


# ------------------------------------------------------------------------------------------------ exceptions
class UnetFsicError(Exception):
    """Base of all host-driver errors."""


class NoHardwareError(UnetFsicError):
    """The requested backend cannot run here (no PYNQ board / bitstream / simulator / wrapper RTL)."""


class IdentityMismatchError(UnetFsicError):
    def __init__(self, diff: dict):
        self.diff = diff
        super().__init__("device identity differs from the build: " + ", ".join(
            f"{k}: device {_fmt(g)} != build {_fmt(e)}" for k, (g, e) in diff.items()))


class DeviceTimeoutError(UnetFsicError, TimeoutError):
    """A frame or a register access did not complete within its time budget."""


class DeviceErrorFlags(UnetFsicError):
    def __init__(self, flags: int, names: list[str], results=None):
        self.flags, self.names, self.results = flags, names, results
        super().__init__(f"wrapper error flags set: ERR=0x{flags:X} ({', '.join(names)})")


def _fmt(v):
    return f"0x{v:X}" if isinstance(v, int) and v > 0xFFFF else repr(v)


# ------------------------------------------------------------------------------------------------ build files
def _load_regs(fsic: Path):
    """The build's generated register constants (python/unet_fsic_regs.py, same source as the C header)."""
    path = fsic / "python" / "unet_fsic_regs.py"
    if not path.exists():
        raise UnetFsicError(f"{path} missing: generate the build's wrapper with pipeline.wrap.write_wrapper")
    spec = importlib.util.spec_from_file_location(f"unet_fsic_regs_{abs(hash(str(path)))}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _field(R, value: int, reg: str, field: str) -> int:
    return (value & getattr(R, f"{reg}_{field}_MASK")) >> getattr(R, f"{reg}_{field}_LSB")


IDENTITY_KEYS = ("magic", "version", "H", "W", "C", "classes", "weight_bits", "act_bits", "logit_bits", "class_bits",
                 "model_hash", "words_in", "words_out", "in_tdata_width", "out_tdata_width", "argmax",
                 "fields_per_word", "field_bits")


# ------------------------------------------------------------------------------------------------ backends
class PynqBackend:
    """Real board.  Register window via pynq.MMIO at the FSIC FPGA-side base; frames via an AXI DMA."""

    def __init__(self, build_dir: Path, bitfile=None, dma=None, base: int = FPGA_BASE, **_):
        try:
            import pynq  # noqa: F401
        except Exception as e:  # ImportError, or pynq failing off-board
            raise NoHardwareError(f"pynq backend: cannot import pynq ({e}); not on a PYNQ board?") from e
        self.pynq = pynq
        bit = Path(bitfile) if bitfile else next(iter(sorted(Path(build_dir).rglob("*.bit"))), None)
        if bit is None or not bit.exists():
            raise NoHardwareError(f"pynq backend: no bitstream (.bit) under {build_dir} and no bitfile= given")
        try:
            self.overlay = pynq.Overlay(str(bit))
            self.mmio = pynq.MMIO(base, WINDOW)
        except Exception as e:
            raise NoHardwareError(f"pynq backend: cannot load {bit}: {e}") from e
        names = [dma] if dma else [n for n in self.overlay.ip_dict if "dma" in n.lower()]
        if not names:
            raise NoHardwareError("pynq backend: no AXI DMA in the overlay (pass dma=<name>)")
        self.dma = getattr(self.overlay, names[0])

    def read(self, off: int, timeout: float) -> int:
        return int(self.mmio.read(off))

    def write(self, off: int, v: int, timeout: float):
        self.mmio.write(off, int(v) & 0xFFFFFFFF)

    def transfer(self, data: bytes, out_len: int, timeout: float) -> bytes:
        alloc = self.pynq.allocate
        ibuf = alloc(shape=(len(data),), dtype=np.uint8)
        obuf = alloc(shape=(out_len,), dtype=np.uint8)
        try:
            ibuf[:] = np.frombuffer(data, dtype=np.uint8)
            self.dma.recvchannel.transfer(obuf)     # arm the receive first: the output must never stall
            self.dma.sendchannel.transfer(ibuf)
            deadline = time.monotonic() + timeout
            while not (self.dma.sendchannel.idle and self.dma.recvchannel.idle):
                if time.monotonic() > deadline:
                    raise DeviceTimeoutError(f"DMA transfer did not complete in {timeout:.3g} s")
                time.sleep(0.0005)
            return bytes(obuf)
        finally:
            ibuf.freebuffer()
            obuf.freebuffer()

    def flush(self):
        pass

    def close(self):
        pass


class SimBackend:
    """cocotb RTL simulation of ``<build>/fsic`` in a child process, over a loopback socket."""

    def __init__(self, build_dir: Path, model: str | None = None, simulator: str = "icarus", latency: int = 8,
                 startup_timeout: float = 180.0, cycle_budget: int | None = None, env: dict | None = None,
                 pythonpath: list | None = None, log: str | Path | None = None, **_):
        build_dir = Path(build_dir).resolve()  # the simulator runs in its own working directory
        self.fsic = build_dir / "fsic"
        if not (self.fsic / "rtl" / "USER_PRJ0.v").exists():
            raise NoHardwareError(f"sim backend: no wrapper RTL in {self.fsic} (run pipeline.wrap.write_wrapper)")
        tool = {"icarus": "iverilog", "verilator": "verilator"}.get(simulator)
        if tool is None or not shutil.which(tool):
            raise NoHardwareError(f"sim backend: simulator {simulator!r} not installed")
        try:
            import cocotb  # noqa: F401
            import cocotbext.axi  # noqa: F401
        except ImportError as e:
            raise NoHardwareError(f"sim backend needs cocotb and cocotbext-axi: {e}") from e
        p = json.loads((self.fsic / "python" / "unet_fsic_build.json").read_text())
        # device-time budget per frame (clock cycles): generous multiple of the stream beats + IP latency
        self.cycle_budget = int(cycle_budget or (20 * (p["words_in"] + p["H"] * p["W"] + p["words_out"])
                                                 + 4 * latency + 20000))
        self.proc = None
        self.sock = None
        self._srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(1)
        port = self._srv.getsockname()[1]
        self.work = Path(build_dir) / "host_sim"
        self.work.mkdir(exist_ok=True)
        self.run_dir = Path(tempfile.mkdtemp(prefix="run_", dir=self.work))
        self.log_path = Path(log) if log else self.run_dir / "sim.log"
        child_env = {"UF_HOST_PORT": str(port), "UF_MODEL": model or "", "UF_LATENCY": str(int(latency))}
        if model is None:  # the build's own compiled hls4ml C model as the IP, when the build has one
            from .cosim import compiled_lib

            itf = build_dir / "hls" / "interface.json"
            lib = compiled_lib(build_dir)
            if itf.is_file() and lib is not None:
                child_env.update({"UF_MODEL": "uf_hls_ip:factory", "UF_HLS_LIB": str(lib),
                                  "UF_HLS_INTERFACE": str(itf)})
        self.model = child_env["UF_MODEL"] or "summod"
        child_env.update({k: str(v) for k, v in (env or {}).items()})
        args = {"fsic": str(self.fsic), "sim": simulator, "work": str(self.run_dir), "env": child_env,
                "pythonpath": [str(x) for x in (pythonpath or [])]}
        # each opened device compiles into its own run dir (Icarus: ~1 s); removed on a clean close, kept (log)
        # after a failure
        self._logf = builtins.open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, str(HOST_SIM_DIR / "uf_sim_launch.py"), json.dumps(args)],
                                     cwd=str(self.run_dir), stdout=self._logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            self._accept(startup_timeout)
            hello = self._recv(startup_timeout)     # sent once the model is loaded and reset is done
            if not hello.get("ok"):
                raise UnetFsicError(f"sim backend failed to start: {hello.get('error')}")
            self.cycle_ns = hello["cycle_ns"]
        except BaseException:
            self.close(kill=True)
            raise

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

    def _recv(self, timeout: float) -> dict:
        self.sock.settimeout(timeout)
        try:
            line = self._rf.readline()
        except (socket.timeout, TimeoutError):
            # the simulation is stuck (e.g. a model that never returns): it cannot be trusted any more
            self.close(kill=True)
            raise DeviceTimeoutError(f"simulator did not answer within {timeout:.3g} s (simulation killed)") \
                from None
        if not line:
            rc = self.proc.poll() if self.proc else None
            raise UnetFsicError(f"simulator closed the connection (exit {rc}):\n" + self._log_tail())
        return json.loads(line)

    def _rpc(self, timeout: float, **req) -> dict:
        if self.sock is None:
            raise UnetFsicError("sim backend is closed")
        self.sock.sendall((json.dumps(req) + "\n").encode())
        rep = self._recv(timeout)
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


BACKENDS = {"pynq": PynqBackend, "sim": SimBackend}


# ------------------------------------------------------------------------------------------------ device
class UnetFsic:
    """An opened unet-fsic device (see :func:`open`)."""

    def __init__(self, build_dir, backend: str = "pynq", expect: dict | None = None, timeout: float = 10.0,
                 auto_restart: bool = True, check_identity: bool = True, **backend_kwargs):
        self.build_dir = Path(build_dir)
        fsic = self.build_dir / "fsic"
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {sorted(BACKENDS)}, not {backend!r}")
        self.R = _load_regs(fsic)
        self.build = json.loads((fsic / "python" / "unet_fsic_build.json").read_text())
        self.timeout = float(timeout)
        exp = {"magic": self.R.MAGIC, "version": self.R.REGMAP_VERSION}
        exp.update({k: self.build[k] for k in IDENTITY_KEYS if k in self.build})
        exp.update(expect or {})
        self.expected = exp
        self.backend = BACKENDS[backend](self.build_dir, **backend_kwargs)
        try:
            if check_identity:
                got = self.identity()
                diff = {k: (got[k], v) for k, v in exp.items() if k in got and got[k] != v}
                if diff:
                    raise IdentityMismatchError(diff)
            R = self.R
            # clean state: stale error/interrupt flags cleared, counters zeroed, frames processed back to back
            self._wr(R.ERR, R.ERR_SHORT_MASK | R.ERR_LONG_MASK | R.ERR_KEEP_MASK | R.ERR_OVERFLOW_MASK)
            self._wr(R.ISR, R.ISR_DONE_MASK | R.ISR_ERR_MASK)
            for off in (R.FRAMES_DONE, R.WORDS_IN, R.WORDS_OUT, R.FRAMES_IN):
                self._wr(off, 0)
            self._wr(R.CTRL, R.CTRL_AUTO_RESTART_MASK if auto_restart else 0)
        except BaseException:
            self.close()
            raise

    # -- registers
    def _rd(self, off: int) -> int:
        return self.backend.read(off, self.timeout)

    def _wr(self, off: int, v: int):
        self.backend.write(off, v, self.timeout)

    def read_reg(self, name: str) -> int:
        return self._rd(getattr(self.R, name))

    def write_reg(self, name: str, value: int):
        self._wr(getattr(self.R, name), value)

    def identity(self) -> dict:
        """Decoded ID_* / OUT_MODE registers (keys as in the build's unet_fsic_build.json)."""
        R, f = self.R, lambda v, reg, fld: _field(self.R, v, reg, fld)
        img, ch, bits, hls, om = (self._rd(o) for o in (R.ID_IMG, R.ID_CH, R.ID_BITS, R.ID_HLS, R.OUT_MODE))
        return {
            "magic": self._rd(R.ID_MAGIC), "version": self._rd(R.ID_VERSION),
            "H": f(img, "ID_IMG", "H"), "W": f(img, "ID_IMG", "W"),
            "C": f(ch, "ID_CH", "C"), "classes": f(ch, "ID_CH", "CLASSES"),
            "weight_bits": f(bits, "ID_BITS", "WEIGHT_BITS"), "act_bits": f(bits, "ID_BITS", "ACT_BITS"),
            "logit_bits": f(bits, "ID_BITS", "LOGIT_BITS"), "class_bits": f(bits, "ID_BITS", "CLASS_BITS"),
            "model_hash": self._rd(R.ID_MODEL_HASH), "words_in": self._rd(R.ID_WORDS_IN),
            "words_out": self._rd(R.ID_WORDS_OUT),
            "in_tdata_width": f(hls, "ID_HLS", "IN_TDATA_W"), "out_tdata_width": f(hls, "ID_HLS", "OUT_TDATA_W"),
            "argmax": f(om, "OUT_MODE", "ARGMAX"), "fields_per_word": f(om, "OUT_MODE", "FIELDS_PER_WORD"),
            "field_bits": f(om, "OUT_MODE", "FIELD_BITS"),
        }

    def counters(self) -> dict:
        R = self.R
        return {"frames_done": self._rd(R.FRAMES_DONE), "words_in": self._rd(R.WORDS_IN),
                "words_out": self._rd(R.WORDS_OUT), "frames_in": self._rd(R.FRAMES_IN)}

    def error_flags(self) -> tuple[int, list[str]]:
        R = self.R
        v = self._rd(R.ERR)
        return v, [n for n in ("SHORT", "LONG", "KEEP", "OVERFLOW") if v & getattr(R, f"ERR_{n}_MASK")]

    def clear_errors(self):
        R = self.R
        self._wr(R.ERR, R.ERR_SHORT_MASK | R.ERR_LONG_MASK | R.ERR_KEEP_MASK | R.ERR_OVERFLOW_MASK)
        self._wr(R.ISR, R.ISR_ERR_MASK)

    def reset(self):
        """Recover after a timeout / error: pulse CTRL.SOFT_RESET (datapath + IP), drop queued stream data,
        clear flags.  Registers (AUTO_RESTART, IER) and counters are kept by the hardware."""
        R = self.R
        keep = self._rd(R.CTRL) & R.CTRL_AUTO_RESTART_MASK
        self._wr(R.CTRL, keep | R.CTRL_SOFT_RESET_MASK)
        deadline = time.monotonic() + self.timeout
        while self._rd(R.CTRL) & R.CTRL_SOFT_RESET_MASK:
            if time.monotonic() > deadline:
                raise DeviceTimeoutError("soft reset did not complete")
        self.backend.flush()
        self.clear_errors()

    # -- frames
    def _out_len(self) -> int:
        b = self.build
        return 4 * (b["words_out"] - 1) + b["last_out_bytes"]

    def _unpack(self, raw: bytes, logits: bool):
        b = self.build
        H, W = b["H"], b["W"]
        if len(raw) != self._out_len():
            raise UnetFsicError(f"output frame has {len(raw)} bytes, expected {self._out_len()}")
        if b["argmax"]:
            words = np.frombuffer(raw + b"\0" * (-len(raw) % 4), dtype="<u4").astype(np.uint64)
            fb, n = b["field_bits"], b["fields_per_word"]
            shifts = (np.arange(n, dtype=np.uint64) * np.uint64(fb))
            fields = (words[:, None] >> shifts[None, :]) & np.uint64((1 << fb) - 1)
            cls = fields.reshape(-1)[:H * W].astype(np.uint8).reshape(H, W)
            if logits:
                raise UnetFsicError("this build streams class indices (argmax head); logits are not available")
            return cls
        lg = np.frombuffer(raw, dtype=np.int8)[:H * W * b["classes"]].reshape(H, W, b["classes"])
        return lg.copy() if logits else np.argmax(lg, axis=-1).astype(np.uint8)

    def infer(self, image: np.ndarray, timeout: float | None = None, logits: bool = False,
              codes: bool = False) -> np.ndarray:
        """One frame (H, W, C) uint8 -> (H, W) uint8 class map (or (H, W, classes) int8 logit codes of a logits
        build with ``logits=True``)."""
        return self.infer_batch(np.asarray(image)[None], timeout=timeout, logits=logits, codes=codes)[0]

    def infer_batch(self, images: np.ndarray, timeout: float | None = None, logits: bool = False,
                    codes: bool = False) -> np.ndarray:
        """(N, H, W, C) uint8 images -> (N, H, W) class maps.  Each image byte is mapped to the code the IP's
        ``ap_ufixed<8,0>`` input expects (:func:`pipeline.csim.hardware_input`: the model's 8-bit input quantizer
        of byte/255) before it is streamed; ``codes=True`` sends the bytes as they are (already codes).
        ``timeout``: seconds per frame (default: device timeout).  Raises DeviceErrorFlags when ERR is non-zero
        after a frame (results so far in ``.results``)."""
        b, R = self.build, self.R
        images = np.asarray(images)
        shape = (b["H"], b["W"], b["C"])
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != shape:
            raise ValueError(f"images must be uint8 of shape (N, {shape[0]}, {shape[1]}, {shape[2]}), "
                             f"got {images.dtype} {images.shape}")
        if not codes:
            from .csim import hardware_input

            images = hardware_input(images)
        tmo = self.timeout if timeout is None else float(timeout)
        v, names = self.error_flags()
        if v:
            raise DeviceErrorFlags(v, names, results=[])
        done0 = self._rd(R.FRAMES_DONE)
        out = []
        for img in images:
            raw = self.backend.transfer(np.ascontiguousarray(img).tobytes(), self._out_len(), tmo)
            res = self._unpack(raw, logits)
            v, names = self.error_flags()
            if v:
                raise DeviceErrorFlags(v, names, results=out + [res])
            out.append(res)
        done = (self._rd(R.FRAMES_DONE) - done0) & 0xFFFFFFFF
        if done != len(images):
            raise UnetFsicError(f"FRAMES_DONE advanced by {done}, expected {len(images)}")
        return np.stack(out)

    # -- lifetime
    def close(self):
        be = getattr(self, "backend", None)
        if be is not None:
            be.close()
            self.backend = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open(build_dir, backend: str = "pynq", **kwargs) -> UnetFsic:  # noqa: A001 - the driver's public name
    """Open the device of a build.  ``backend``: 'pynq' (board) or 'sim' (cocotb RTL simulation).
    kwargs: ``expect`` (identity overrides), ``timeout`` (s, per register access / frame), ``auto_restart``,
    ``check_identity``; pynq: ``bitfile``, ``dma``; sim: ``model``, ``simulator`` ('icarus'|'verilator'),
    ``latency``, ``startup_timeout``, ``cycle_budget``, ``env``, ``pythonpath``."""
    return UnetFsic(build_dir, backend=backend, **kwargs)
