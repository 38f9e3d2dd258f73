"""The host driver's exceptions (all subclasses of :class:`UnetFsicError`)."""
from __future__ import annotations


def _fmt(v):
    return f"0x{v:X}" if isinstance(v, int) and v > 0xFFFF else repr(v)

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


class FrameCrcError(UnetFsicError):
    """The wrapper's frame CRC registers (IN_CRC / OUT_CRC: zlib.crc32 of the frame's 32-bit words, 4 little-endian
    bytes each) differ from the CRC of the words the host sent / received: words were lost, duplicated or changed on
    the way (FSIC's switch is known to do this under FPGA-side back-pressure). ``.which`` is 'input' or 'output',
    ``.device`` / ``.host`` the two CRCs, ``.results`` the frames finished before this one."""

    def __init__(self, which: str, device: int, host: int, results=None):
        self.which, self.device, self.host, self.results = which, device, host, results
        super().__init__(f"{which} frame CRC mismatch: device 0x{device:08X} != host 0x{host:08X} "
                         f"(words lost, duplicated or changed between host and wrapper)")
