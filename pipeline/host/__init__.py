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
``sim``   the cocotb RTL simulation of the build's wrapper (``<build>/fsic``, written by ``unet-fsic wrap``): one
          simulator
          process per device, serving register accesses and frame transfers over a loopback socket
          (fsic_wrapper/sim/uf_sim_server.py, started by pipeline.hw.rtlsim).  The HLS IP is simulated by
          ``fsic_wrapper/sim/ip_model.py`` calling a
          Python model selected by ``model=`` ('module:factory', 'path/file.py:factory', or the wrapper tests'
          stand-ins 'summod' / 'bytefn'); by default the build's compiled hls4ml C model
          (``fsic_wrapper/sim/uf_hls_ip.py``; ``<build>/hls`` converted and compiled by ``unet-fsic csim`` /
          ``run``). A build without a loadable compiled C model is a ``NoHardwareError`` -- never a silent
          stand-in. A wall-clock timeout kills the simulation: later calls raise ``UnetFsicError`` naming it (open
          the device again).

``infer_batch`` of an empty batch (``[]``, or zero images) raises ``ValueError``: there is no frame to send.

Input mapping: ``infer`` takes ordinary uint8 images and streams the codes the IP's ``ap_ufixed<8,0>`` input expects
(``pipeline.hw.streams.hardware_input``: byte + (byte >= 128), clipped to 255 -- the model's 8-bit quantizer of
byte/255).

Exceptions (all subclasses of :class:`UnetFsicError`)
-----------------------------------------------------
``NoHardwareError``        no board / pynq not importable / no bitstream / no simulator, wrapper RTL or (sim,
                           default model) compiled C model
``IdentityMismatchError``  the ID_* registers differ from the build (``.diff = {field: (device, expected)}``)
``DeviceTimeoutError``     (also a ``TimeoutError``) a frame or register access did not complete in time
``DeviceErrorFlags``       the wrapper's ERR register is non-zero (``.flags``, ``.names``; ``.results`` = frames
                           finished before it); flags stay set until :meth:`UnetFsic.clear_errors`
``FrameCrcError``          after a frame, IN_CRC / OUT_CRC (register map v2) differ from ``zlib.crc32`` of the words
                           the host sent / received (end-to-end integrity: words lost, duplicated or changed)
"""
from __future__ import annotations

import importlib.util
import json
import time
import zlib
from pathlib import Path

import numpy as np

from ..build import BuildDir
from .board import FPGA_BASE, WINDOW, PynqBackend
from .errors import (
    DeviceErrorFlags,
    DeviceTimeoutError,
    FrameCrcError,
    IdentityMismatchError,
    NoHardwareError,
    UnetFsicError,
)
from .sim import SimBackend

__all__ = ["open", "UnetFsic", "UnetFsicError", "NoHardwareError", "IdentityMismatchError", "DeviceTimeoutError",
           "DeviceErrorFlags", "FrameCrcError", "FPGA_BASE", "WINDOW", "frame_crc"]


def frame_crc(data: bytes) -> int:
    """The CRC the wrapper's IN_CRC / OUT_CRC registers hold for a frame of stream bytes: ``zlib.crc32`` of its
    32-bit words, 4 bytes each little-endian (byte 0 of the frame in bits [7:0] of word 0), the last word's unused
    bytes as zeros."""
    return zlib.crc32(bytes(data) + b"\0" * (-len(data) % 4))


# ------------------------------------------------------------------------------------------------ build files
def _load_regs(fsic: Path):
    """The build's generated register constants (python/unet_fsic_regs.py, same source as the C header)."""
    path = fsic / "python" / "unet_fsic_regs.py"
    if not path.exists():
        raise UnetFsicError(f"{path} missing: generate the build's wrapper with pipeline.hw.rtl.write_wrapper")
    spec = importlib.util.spec_from_file_location(f"unet_fsic_regs_{abs(hash(str(path)))}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _field(R, value: int, reg: str, field: str) -> int:
    return (value & getattr(R, f"{reg}_{field}_MASK")) >> getattr(R, f"{reg}_{field}_LSB")


IDENTITY_KEYS = ("magic", "version", "H", "W", "C", "classes", "weight_bits", "act_bits", "logit_bits", "class_bits",
                 "model_hash", "words_in", "words_out", "in_tdata_width", "out_tdata_width", "argmax",
                 "fields_per_word", "field_bits", "in_line", "out_line")


BACKENDS = {"pynq": PynqBackend, "sim": SimBackend}


# ------------------------------------------------------------------------------------------------ device
class UnetFsic:
    """An opened unet-fsic device (see :func:`open`)."""

    def __init__(self, build_dir, backend: str = "pynq", expect: dict | None = None, timeout: float = 10.0,
                 auto_restart: bool = True, check_identity: bool = True, **backend_kwargs):
        self.build_dir = Path(build_dir)
        fsic = BuildDir(self.build_dir).fsic
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {sorted(BACKENDS)}, not {backend!r}")
        self.R = _load_regs(fsic)
        self.build = json.loads(BuildDir(self.build_dir).build_json.read_text())
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
            self._wr(R.ERR, 0xFFFFFFFF)
            self._wr(R.ISR, R.ISR_DONE_MASK | R.ISR_ERR_MASK)
            for off in (R.FRAMES_DONE, R.WORDS_IN, R.WORDS_OUT, R.FRAMES_IN):
                self._wr(off, 0)
            self._wr(R.CTRL, R.CTRL_AUTO_RESTART_MASK if auto_restart else 0)
        except BaseException:
            self.close()
            raise

    # -- registers
    def _be(self):
        if self.backend is None:
            raise UnetFsicError("the device is closed; open it again")
        return self.backend

    def _rd(self, off: int) -> int:
        return self._be().read(off, self.timeout)

    def _wr(self, off: int, v: int):
        self._be().write(off, v, self.timeout)

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
            # build options in OUT_MODE (absent from register maps before them)
            **({"in_line": f(om, "OUT_MODE", "IN_LINES"), "out_line": f(om, "OUT_MODE", "OUT_LINES")}
               if hasattr(R, "OUT_MODE_IN_LINES_MASK") else {}),
        }

    def counters(self) -> dict:
        R = self.R
        return {"frames_done": self._rd(R.FRAMES_DONE), "words_in": self._rd(R.WORDS_IN),
                "words_out": self._rd(R.WORDS_OUT), "frames_in": self._rd(R.FRAMES_IN)}

    def error_flags(self) -> tuple[int, list[str]]:
        R = self.R
        v = self._rd(R.ERR)
        names = ("SHORT", "LONG", "KEEP", "OVERFLOW", "DROP", "LINE_MISS", "LINE_EXTRA", "SOF_MID")
        return v, [n for n in names if v & getattr(R, f"ERR_{n}_MASK", 0)]

    def clear_errors(self):
        R = self.R
        self._wr(R.ERR, 0xFFFFFFFF)
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
        self._be().flush()
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

    def _check_crcs(self, sent: bytes, received: bytes, results):
        """End-to-end integrity of the last frame: IN_CRC / OUT_CRC against the host's own CRCs."""
        R = self.R
        if not hasattr(R, "IN_CRC"):      # register map v1 (a build wrapped before the CRC registers existed)
            return
        for which, off, data in (("input", R.IN_CRC, sent), ("output", R.OUT_CRC, received)):
            dev, host = self._rd(off), frame_crc(data)
            if dev != host:
                raise FrameCrcError(which, dev, host, results=list(results))

    def infer(self, image: np.ndarray, timeout: float | None = None, logits: bool = False,
              codes: bool = False) -> np.ndarray:
        """One frame (H, W, C) uint8 -> (H, W) uint8 class map (or (H, W, classes) int8 logit codes of a logits
        build with ``logits=True``)."""
        return self.infer_batch(np.asarray(image)[None], timeout=timeout, logits=logits, codes=codes)[0]

    def infer_batch(self, images: np.ndarray, timeout: float | None = None, logits: bool = False,
                    codes: bool = False) -> np.ndarray:
        """(N, H, W, C) uint8 images -> (N, H, W) class maps.  Each image byte is mapped to the code the IP's
        ``ap_ufixed<8,0>`` input expects (:func:`pipeline.hw.streams.hardware_input`: the model's 8-bit input quantizer
        of byte/255) before it is streamed; ``codes=True`` sends the bytes as they are (already codes).
        ``timeout``: seconds per frame (default: device timeout).  Raises DeviceErrorFlags when ERR is non-zero
        after a frame (results so far in ``.results``); ValueError for an empty batch (nothing to send)."""
        b, R = self.build, self.R
        images = np.asarray(images)
        if images.ndim >= 1 and images.shape[0] == 0:
            raise ValueError("infer_batch: empty batch (no images): pass at least one image, (N, H, W, C) uint8")
        shape = (b["H"], b["W"], b["C"])
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != shape:
            raise ValueError(f"images must be uint8 of shape (N, {shape[0]}, {shape[1]}, {shape[2]}), "
                             f"got {images.dtype} {images.shape}")
        if not codes:
            from ..hw.streams import hardware_input

            images = hardware_input(images)
        tmo = self.timeout if timeout is None else float(timeout)
        v, names = self.error_flags()
        if v:
            raise DeviceErrorFlags(v, names, results=[])
        done0 = self._rd(R.FRAMES_DONE)
        out = []
        for img in images:
            data = np.ascontiguousarray(img).tobytes()
            raw = self._be().transfer(data, self._out_len(), tmo)
            res = self._unpack(raw, logits)
            v, names = self.error_flags()
            if v:
                raise DeviceErrorFlags(v, names, results=out + [res])
            self._check_crcs(data, raw, out)
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
