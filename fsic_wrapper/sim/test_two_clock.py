"""cocotb tests of the two-clock USER_PRJ0 (target.ip_clock = user_clock2): the IP (HlsIpModel) runs on
user_clock2 behind uf_ip_cdc, the bus side on axis_clk, the two clocks unrelated.

Environment (set by tests/test_two_clock.py):
  UF_BUILD_JSON  resolved wrapper params of a build with ip_clock = user_clock2
  UF_BUS_PS / UF_IP_PS   periods of axis_clk (= axi_clk) and user_clock2 in ps
  UF_IP_PHASE_PS         delay before user_clock2 starts (phase), ps
  UF_FRAMES      frames in test_frames_stalled (default 20)
  UF_MODEL       model spec for models.load_model (default 'summod')
"""
from __future__ import annotations

import importlib.util
import json
import os
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, Timer
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource
from fsic_tb import FsicAxilMaster, StreamRuleChecker, output_words, pack_input
from ip_model import HlsIpModel
from models import load_model

with open(os.environ["UF_BUILD_JSON"]) as _fh:
    P = json.load(_fh)
_spec = importlib.util.spec_from_file_location(
    "unet_fsic_regs", os.path.join(os.path.dirname(os.environ["UF_BUILD_JSON"]), "unet_fsic_regs.py"))
R = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(R)
BUS_PS = int(os.environ.get("UF_BUS_PS", "10000"))
IP_PS = int(os.environ.get("UF_IP_PS", "10000"))
PHASE_PS = int(os.environ.get("UF_IP_PHASE_PS", "0"))
FRAMES = int(os.environ.get("UF_FRAMES", "20"))
SLOW_PS = max(BUS_PS, IP_PS)


def _pause_gen(rng: random.Random, prob: float):
    while True:
        yield rng.random() < prob


async def slow_cycles(dut, n):
    """n cycles of the slower of the two clocks"""
    await Timer(n * SLOW_PS, units="ps")
    await RisingEdge(dut.axis_clk)


class Env:
    def __init__(self, dut, seed=1, ss_gap=0.0, sm_bp=0.0, ip_stall=0.0, ip_gap=0.0, latency=6):
        self.dut, self.seed = dut, seed
        self.ss_gap, self.sm_bp, self.ip_stall, self.ip_gap, self.latency = ss_gap, sm_bp, ip_stall, ip_gap, latency
        self.rng = random.Random(seed)
        self.model = load_model(os.environ.get("UF_MODEL"), P)
        self.out_beats: list[tuple[int, int, int]] = []

    async def start(self):
        d = self.dut
        assert P["ip_clock"] == "user_clock2" and P["two_clock"] == 1
        for s in ("awvalid", "wvalid", "arvalid", "rready", "ss_tvalid", "ss_tlast", "sm_tready", "awaddr",
                  "araddr", "wdata", "wstrb", "ss_tdata", "ss_tuser", "ss_tkeep"):
            getattr(d, s).value = 0
        d.ss_tstrb.value = 0xF
        d.axi_reset_n.value = 0
        d.axis_rst_n.value = 0
        d.uck2_rst_n.value = 0
        cocotb.start_soon(Clock(d.axis_clk, BUS_PS, units="ps").start())
        cocotb.start_soon(Clock(d.axi_clk, BUS_PS, units="ps").start())
        await Timer(PHASE_PS + 1, units="ps")
        cocotb.start_soon(Clock(d.user_clock2, IP_PS, units="ps").start())
        await RisingEdge(d.axis_clk)
        # created once the clocks run (see README, Verilator quirk)
        self.fsic = FsicAxilMaster(d, timeout=2000)
        self.ip = HlsIpModel(d.u_ip, d.user_clock2, P, self.model, latency=self.latency,
                             in_stall_prob=self.ip_stall, out_gap_prob=self.ip_gap, seed=self.seed + 200)
        self.src = AxiStreamSource(AxiStreamBus.from_prefix(d, "ss"), d.axis_clk, d.axis_rst_n,
                                   reset_active_level=False)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(d, "sm"), d.axis_clk, d.axis_rst_n,
                                  reset_active_level=False)
        self.src.log.setLevel("WARNING")
        self.sink.log.setLevel("WARNING")
        if self.ss_gap:
            self.src.set_pause_generator(_pause_gen(random.Random(self.seed + 300), self.ss_gap))
        if self.sm_bp:
            self.sink.set_pause_generator(_pause_gen(random.Random(self.seed + 400), self.sm_bp))
        self.sm_rule = StreamRuleChecker(d.axis_clk, "sm", d.sm_tvalid, d.sm_tready,
                                         [d.sm_tdata, d.sm_tlast, d.sm_tkeep], d.axis_rst_n)
        ipi = P["hls_in_port"]
        self.ipin_rule = StreamRuleChecker(d.user_clock2, "ip_in", getattr(d.u_ip, f"{ipi}_TVALID"),
                                           getattr(d.u_ip, f"{ipi}_TREADY"), [getattr(d.u_ip, f"{ipi}_TDATA")],
                                           d.u_ip.ap_rst_n)
        cocotb.start_soon(self._sm_capture())
        self.ip.start()
        await self.reset_all()
        await self.fsic.write(R.CTRL, R.CTRL_AUTO_RESTART_MASK)

    async def reset_all(self, slow=4):
        d = self.dut
        d.axi_reset_n.value = 0
        d.axis_rst_n.value = 0
        d.uck2_rst_n.value = 0
        await slow_cycles(d, slow)
        d.axi_reset_n.value = 1
        d.axis_rst_n.value = 1
        await Timer(PHASE_PS // 3 + 1, units="ps")
        d.uck2_rst_n.value = 1
        await slow_cycles(d, 8)

    async def _sm_capture(self):
        d = self.dut
        while True:
            await RisingEdge(d.axis_clk)
            if int(d.axis_rst_n.value) and int(d.sm_tvalid.value) and int(d.sm_tready.value):
                self.out_beats.append((int(d.sm_tdata.value), int(d.sm_tkeep.value), int(d.sm_tlast.value)))

    def rand_frame(self):
        return np.frombuffer(self.rng.randbytes(P["H"] * P["W"] * P["C"]), dtype=np.uint8).reshape(
            P["H"], P["W"], P["C"])

    def expected(self, frame):
        n = P["words_out"]
        return [(w, k, int(i == n - 1)) for i, (w, k) in enumerate(output_words(self.model(frame), P))]

    def out_frames(self):
        frames, cur = [], []
        for b in self.out_beats:
            cur.append(b)
            if b[2]:
                frames.append(cur)
                cur = []
        return frames, cur

    async def wait_out_frames(self, n, timeout_slow=None):
        timeout_slow = timeout_slow or 400 * n * (P["words_in"] + P["H"] * P["W"] + 50)
        for _ in range(timeout_slow // 8):
            if len(self.out_frames()[0]) >= n:
                return
            await slow_cycles(self.dut, 8)
        raise TimeoutError(f"only {len(self.out_frames()[0])} of {n} output frames")

    async def one_clean_frame(self):
        self.out_beats.clear()
        f = self.rand_frame()
        await self.src.send(AxiStreamFrame(pack_input(f), tkeep=None))
        await self.wait_out_frames(1)
        await slow_cycles(self.dut, 20)
        got, partial = self.out_frames()
        assert len(got) == 1 and not partial, (len(got), partial)
        assert got[0] == self.expected(f), "frame after recovery differs"

    def check_rules(self):
        assert not self.sm_rule.violations, self.sm_rule.violations[:5]
        assert not self.ipin_rule.violations, self.ipin_rule.violations[:5]


@cocotb.test()
async def test_frames_stalled(dut):
    """UF_FRAMES frames queued back to back with random ss_tvalid gaps, sm_tready back-pressure, IP input stalls
    and output gaps: every output word bit-exact vs the model, in order, nothing lost or duplicated; counters
    equal the words seen on the bus."""
    env = Env(dut, seed=int(os.environ.get("UF_SEED", "5")), ss_gap=0.3, sm_bp=0.3, ip_stall=0.3, ip_gap=0.3)
    await env.start()
    frames = [env.rand_frame() for _ in range(FRAMES)]

    async def feed():
        for f in frames:
            await env.src.send(AxiStreamFrame(pack_input(f), tkeep=None))
    cocotb.start_soon(feed())
    await env.wait_out_frames(FRAMES)
    await slow_cycles(dut, 30)
    got, partial = env.out_frames()
    assert not partial and len(got) == FRAMES, (len(got), partial)
    assert len(env.ip.frames_in) == FRAMES
    for i, f in enumerate(frames):
        assert np.array_equal(env.ip.frames_in[i], f), f"IP input frame {i} differs"
        assert got[i] == env.expected(f), f"output frame {i} differs"
    assert await env.fsic.read(R.WORDS_IN) == FRAMES * P["words_in"]
    assert await env.fsic.read(R.WORDS_OUT) == FRAMES * P["words_out"]
    assert await env.fsic.read(R.FRAMES_DONE) == FRAMES
    assert await env.fsic.read(R.ERR) == 0
    env.check_rules()


async def _until(clk, cond, limit=200000):
    for _ in range(limit):
        await RisingEdge(clk)
        if cond():
            return
    raise TimeoutError("condition never met")


@cocotb.test()
async def test_reset_ip_domain_mid_frame(dut):
    """uck2_rst_n pulsed (>= 2 user_clock2 cycles) while the IP reads a frame and while it writes one: the frame
    in flight is dropped, and the next frame is exact; the bus-side registers keep their values."""
    env = Env(dut, seed=11, ip_stall=0.7, ip_gap=0.5, latency=10)
    await env.start()
    u = dut.u_ip
    ipo, ipi = P["hls_out_port"], P["hls_in_port"]
    for when in ("input", "output"):
        # the whole frame is in the wrapper before the reset (words arriving after a reset start a new frame)
        f = env.rand_frame()
        done0 = env.ip.frames_out
        await env.src.send(AxiStreamFrame(pack_input(f), tkeep=None))
        await env.src.wait()
        if when == "input":
            await _until(dut.user_clock2, lambda: int(getattr(u, f"{ipi}_TVALID").value)
                         and int(getattr(u, f"{ipi}_TREADY").value))
        else:
            await _until(dut.user_clock2, lambda: int(getattr(u, f"{ipo}_TVALID").value))
        await ClockCycles(dut.user_clock2, env.rng.randint(0, 2))
        dut.uck2_rst_n.value = 0
        await ClockCycles(dut.user_clock2, 2)
        dut.uck2_rst_n.value = 1
        await slow_cycles(dut, 12)
        assert env.ip.frames_out == done0, "the reset did not hit the frame in flight"
        assert not env.out_frames()[0] or when == "output", "a complete frame came out of an aborted input"
        assert await env.fsic.read(R.CTRL) & R.CTRL_AUTO_RESTART_MASK, "registers lost AUTO_RESTART"
        await env.one_clean_frame()
    assert await env.fsic.read(R.ERR) == 0
    env.check_rules()


@cocotb.test()
async def test_reset_bus_domain_mid_frame(dut):
    """CTRL.SOFT_RESET while the IP writes a frame, and the bus reset (axi_reset_n/axis_rst_n, user_clock2 domain
    not reset) while the IP reads one: the IP is reset through the handshake and the next frame is exact."""
    env = Env(dut, seed=13, ip_gap=0.5, latency=10)
    await env.start()
    u = dut.u_ip
    ipo, ipi = P["hls_out_port"], P["hls_in_port"]
    f = env.rand_frame()
    done0 = env.ip.frames_out
    await env.src.send(AxiStreamFrame(pack_input(f), tkeep=None))
    await _until(dut.user_clock2, lambda: int(getattr(u, f"{ipo}_TVALID").value))
    await env.fsic.write(R.CTRL, R.CTRL_AUTO_RESTART_MASK | R.CTRL_SOFT_RESET_MASK)
    await _until(dut.user_clock2, lambda: int(u.ap_rst_n.value) == 0, 1000)   # the reset reached the IP
    await slow_cycles(dut, 12)
    assert env.ip.frames_out == done0, "the soft reset did not hit the frame in flight"
    await env.one_clean_frame()
    # bus reset while the IP reads its input
    f = env.rand_frame()
    done0 = env.ip.frames_out
    env.ip.in_stall_prob = 0.7
    await env.src.send(AxiStreamFrame(pack_input(f), tkeep=None))
    await env.src.wait()
    await _until(dut.user_clock2, lambda: int(getattr(u, f"{ipi}_TVALID").value)
                 and int(getattr(u, f"{ipi}_TREADY").value))
    await RisingEdge(dut.axis_clk)
    dut.axi_reset_n.value = 0
    dut.axis_rst_n.value = 0
    await ClockCycles(dut.axis_clk, 3)
    dut.axi_reset_n.value = 1
    dut.axis_rst_n.value = 1
    await _until(dut.user_clock2, lambda: int(u.ap_rst_n.value) == 0, 1000)
    await slow_cycles(dut, 12)
    assert env.ip.frames_out == done0, "the bus reset did not hit the frame in flight"
    await env.fsic.write(R.CTRL, R.CTRL_AUTO_RESTART_MASK)
    await env.one_clean_frame()
    assert await env.fsic.read(R.FRAMES_DONE) == 1   # counters were cleared by the bus reset
    assert await env.fsic.read(R.ERR) == 0
    env.check_rules()
