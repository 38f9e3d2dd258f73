"""The ``pynq`` backend: the real board (register window via ``pynq.MMIO`` at the FSIC FPGA-side base, frames via
an AXI DMA). ``pynq`` is imported lazily: off the board the backend raises :class:`NoHardwareError`."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .errors import DeviceTimeoutError, NoHardwareError

FPGA_BASE = 0x60000000
WINDOW = 0x1000


class PynqBackend:
    """Real board.  Register window via pynq.MMIO at the FSIC FPGA-side base; frames via an AXI DMA."""

    def __init__(self, build_dir: Path, bitfile=None, dma=None, base: int = FPGA_BASE, **_):
        try:
            import pynq  # noqa: F401
        except Exception as e:  # ImportError, or pynq failing off-board
            raise NoHardwareError(f"pynq backend: cannot import pynq ({e}); not on a PYNQ board?") from e
        self.pynq = pynq
        import json

        from ..build import BuildDir

        try:
            b = json.loads(BuildDir(Path(build_dir)).build_json.read_text())
        except (OSError, ValueError):
            b = {}
        self.line_framing = bool(b.get("in_line") or b.get("out_line"))
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
        if self.line_framing:
            raise NoHardwareError("pynq backend: this build uses FSIC's line framing (fsic.in_framing / out_framing "
                                  "= line: tlast per line and the ss_tupsb sof sideband), which a plain AXI DMA "
                                  "cannot send; use FSIC's own stream path or a frame-framing build")
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
