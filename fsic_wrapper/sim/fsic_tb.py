"""Testbench pieces for USER_PRJ0: FSIC-style and generic AXI-Lite masters, an AXI4-Stream rule checker,
and the reference packing of frames/results (independent of the RTL)."""
from __future__ import annotations

import os
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Lock, RisingEdge


# ---------------------------------------------------------------------------------------- reference formats
def pack_input(frame: np.ndarray) -> bytes:
    """Input frame (H, W, C) uint8 -> stream bytes: pixels in raster order, channels in order (R, G, B),
    byte k of the frame goes to word k // 4, bits [8*(k%4)+7 : 8*(k%4)]."""
    return np.ascontiguousarray(frame, dtype=np.uint8).tobytes()


def input_words(frame: np.ndarray) -> list[tuple[int, int]]:
    """(word, tkeep) list of one input frame; the last word is zero-padded, tkeep = its valid bytes."""
    b = pack_input(frame)
    out = []
    for i in range(0, len(b), 4):
        chunk = b[i:i + 4]
        out.append((int.from_bytes(chunk.ljust(4, b"\0"), "little"), (1 << len(chunk)) - 1))
    return out


def output_words(result: np.ndarray, p: dict) -> list[tuple[int, int]]:
    """Reference (word, tkeep) list of one output frame.
    argmax: 6 (= 32 // class_bits) class indices per word, pixel i of the frame in field i % 6, bits
    [class_bits*(i%6) + class_bits-1 : class_bits*(i%6)], upper bits zero; logits: bytes (pixel-major, class
    minor, low logit_bits of each value) packed 4 per word, byte 0 in bits [7:0]. Last word: unused fields zero,
    tkeep = bytes that hold valid fields."""
    fw = p["field_bits"]
    n = p["fields_per_word"]
    if p["argmax"]:
        fields = [int(v) & ((1 << fw) - 1) for v in np.asarray(result).reshape(-1)]
    else:
        fields = [int(v) & ((1 << fw) - 1) for v in np.asarray(result).reshape(-1)]
    words = []
    for i in range(0, len(fields), n):
        chunk = fields[i:i + n]
        w = 0
        for k, f in enumerate(chunk):
            w |= f << (k * fw)
        nbytes = (len(chunk) * fw + 7) // 8
        words.append((w, (1 << nbytes) - 1))
    return words


# ---------------------------------------------------------------------------------------- clock/reset
async def start_clock_and_reset(dut, period_ns: int = 10, cycles: int = 5):
    cocotb.start_soon(Clock(dut.axis_clk, period_ns, units="ns").start())
    cocotb.start_soon(Clock(dut.axi_clk, period_ns, units="ns").start())
    # UF_IP_CLK_PS (two-clock builds, ip_clock = user_clock2): user_clock2's period in ps; else 3x axis_clk (unused)
    ip_ps = os.environ.get("UF_IP_CLK_PS")
    if ip_ps:
        cocotb.start_soon(Clock(dut.user_clock2, int(ip_ps), units="ps").start())
    else:
        cocotb.start_soon(Clock(dut.user_clock2, period_ns * 3, units="ns").start())
    for s in ("awvalid", "wvalid", "arvalid", "rready", "ss_tvalid", "ss_tlast", "sm_tready"):
        getattr(dut, s).value = 0
    for s in ("awaddr", "araddr", "wdata", "wstrb", "ss_tdata", "ss_tuser", "ss_tkeep"):
        getattr(dut, s).value = 0
    dut.ss_tstrb.value = 0xF
    await assert_reset(dut, cycles)


async def assert_reset(dut, cycles: int = 5):
    dut.axi_reset_n.value = 0
    dut.axis_rst_n.value = 0
    dut.uck2_rst_n.value = 0
    await ClockCycles(dut.axis_clk, cycles)
    if os.environ.get("UF_IP_CLK_PS"):   # two-clock build: uck2_rst_n held >= 2 user_clock2 cycles
        await ClockCycles(dut.user_clock2, 3)
    await RisingEdge(dut.axis_clk)
    dut.axi_reset_n.value = 1
    dut.axis_rst_n.value = 1
    dut.uck2_rst_n.value = 1
    await RisingEdge(dut.axis_clk)


# ---------------------------------------------------------------------------------------- AXI-Lite masters
class _Bus:
    _locks: dict = {}

    def __init__(self, dut):
        self.dut = dut
        self.clk = dut.axis_clk
        key = id(dut)
        if key not in _Bus._locks:
            _Bus._locks[key] = Lock()
        self.lock = _Bus._locks[key]


class FsicAxilMaster(_Bus):
    """Reproduces FSIC config control: awvalid+wvalid together; if only awready is seen, awvalid drops and the
    address is zeroed while waiting for wready.  Reads: arvalid+rready together; if only arready is seen,
    arvalid drops (address zeroed) and rdata is taken with rvalid.  No B channel, no rresp."""

    def __init__(self, dut, timeout: int = 200):
        super().__init__(dut)
        self.timeout = timeout
        self.split_writes = 0   # writes where awready came before wready
        self.split_reads = 0    # reads where arready came before rvalid

    async def write(self, addr: int, data: int, strb: int = 0xF):
        d = self.dut
        async with self.lock:
            d.awaddr.value, d.wdata.value, d.wstrb.value = addr, data & 0xFFFFFFFF, strb
            d.awvalid.value, d.wvalid.value = 1, 1
            aw_done = w_done = False
            for _ in range(self.timeout):
                await RisingEdge(self.clk)
                awr, wr = int(d.awready.value), int(d.wready.value)
                if not aw_done and awr:
                    aw_done = True
                    d.awvalid.value = 0
                    d.awaddr.value = 0
                    if not (w_done or wr):
                        self.split_writes += 1
                if not w_done and wr:
                    w_done = True
                    d.wvalid.value = 0
                    d.wdata.value = 0
                if aw_done and w_done:
                    return
            raise TimeoutError(f"FSIC write to {addr:#x} timed out")

    async def read(self, addr: int) -> int:
        d = self.dut
        async with self.lock:
            d.araddr.value = addr
            d.arvalid.value, d.rready.value = 1, 1
            ar_done = False
            for _ in range(self.timeout):
                await RisingEdge(self.clk)
                arr, rv = int(d.arready.value), int(d.rvalid.value)
                if ar_done and rv:
                    data = int(d.rdata.value)
                    d.rready.value = 0
                    return data
                if not ar_done and arr:
                    ar_done = True
                    d.arvalid.value = 0
                    d.araddr.value = 0
                    if rv:   # same-cycle completion (arready && rvalid)
                        data = int(d.rdata.value)
                        d.rready.value = 0
                        return data
                    self.split_reads += 1
            raise TimeoutError(f"FSIC read of {addr:#x} timed out")


class GenericAxilMaster(_Bus):
    """A standard AXI-Lite master: AW and W driven independently with random delays (W may lead AW),
    valid held until its ready; rready raised after a random delay once arvalid was accepted."""

    def __init__(self, dut, seed: int = 7, max_delay: int = 3, timeout: int = 200):
        super().__init__(dut)
        self.rng = random.Random(seed)
        self.max_delay = max_delay
        self.timeout = timeout

    async def _chan(self, valid, ready, setters, clears, delay):
        for _ in range(delay):
            await RisingEdge(self.clk)
        for sig, val in setters:
            sig.value = val
        valid.value = 1
        for _ in range(self.timeout):
            await RisingEdge(self.clk)
            if int(ready.value):
                valid.value = 0
                for sig in clears:
                    sig.value = 0
                return
        raise TimeoutError("generic AXI-Lite channel timed out")

    async def write(self, addr: int, data: int, strb: int = 0xF):
        d = self.dut
        async with self.lock:
            t1 = cocotb.start_soon(self._chan(d.awvalid, d.awready, [(d.awaddr, addr)], [],
                                              self.rng.randint(0, self.max_delay)))
            t2 = cocotb.start_soon(self._chan(d.wvalid, d.wready, [(d.wdata, data & 0xFFFFFFFF), (d.wstrb, strb)],
                                              [], self.rng.randint(0, self.max_delay)))
            await t1
            await t2

    async def read(self, addr: int) -> int:
        d = self.dut
        async with self.lock:
            await self._chan(d.arvalid, d.arready, [(d.araddr, addr)], [], self.rng.randint(0, self.max_delay))
            for _ in range(self.rng.randint(0, self.max_delay)):
                await RisingEdge(self.clk)
            d.rready.value = 1
            for _ in range(self.timeout):
                await RisingEdge(self.clk)
                if int(d.rvalid.value):
                    data = int(d.rdata.value)
                    d.rready.value = 0
                    return data
            raise TimeoutError("generic AXI-Lite read timed out")


# ---------------------------------------------------------------------------------------- stream rule checker
class StreamRuleChecker:
    """AXI4-Stream rule: once valid is high and ready low, valid must stay high and data/last/keep must not
    change until the handshake.  Also counts handshakes.  Checked on every rising edge."""

    def __init__(self, clk, name: str, valid, ready, payload: list, rst=None):
        self.clk, self.name, self.valid, self.ready, self.payload, self.rst = clk, name, valid, ready, payload, rst
        self.violations: list[str] = []
        self.beats = 0
        self.enabled = True
        cocotb.start_soon(self._run())

    async def _run(self):
        pending = None
        while True:
            await RisingEdge(self.clk)
            if self.rst is not None and int(self.rst.value) == 0:
                pending = None
                continue
            v, r = int(self.valid.value), int(self.ready.value)
            # the payload is read only while valid (an async FIFO's read data is undefined while it is empty)
            now = tuple(int(s.value) for s in self.payload) if v else None
            if pending is not None and self.enabled:
                if not v:
                    self.violations.append(f"{self.name}: valid dropped before ready")
                elif now != pending:
                    self.violations.append(f"{self.name}: payload changed while valid && !ready: {pending} -> {now}")
            if v and r:
                self.beats += 1
            pending = now if (v and not r) else None
