"""cocotb tests of USER_PRJ0 inside the behavioural FSIC model (fsic_side.FsicSide): the shared FPGA->SoC link with the
switch's 16-entry receive FIFO and tunnelled AXI-Lite behind stream data, the upstream grant held until tlast,
High_pri_req as the project's grant request. References: the IP model's answer packed by fsic_tb's reference packer,
Python zlib.crc32, and the protocol rules of the shared design note.

Environment: UF_BUILD_JSON (resolved wrapper params), UF_MODEL (optional), UF_LATENCY (IP latency, default 8).
"""
from __future__ import annotations

import importlib.util
import json
import os
import random
import zlib

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from fsic_side import FsicSide
from fsic_tb import assert_reset, input_words, output_words, pack_input, start_clock_and_reset
from ip_model import HlsIpModel
from models import load_model

with open(os.environ["UF_BUILD_JSON"]) as _fh:
    P = json.load(_fh)
_spec = importlib.util.spec_from_file_location(
    "unet_fsic_regs", os.path.join(os.path.dirname(os.environ["UF_BUILD_JSON"]), "unet_fsic_regs.py"))
R = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(R)
LATENCY = int(os.environ.get("UF_LATENCY", "8"))


def crc(words) -> int:
    return zlib.crc32(b"".join(int(w).to_bytes(4, "little") for w in words))


class Bench:
    def __init__(self, dut, seed=1, latency=LATENCY, ip_stall=0.0, fpga_bp=0.0):
        self.dut, self.seed, self.latency, self.ip_stall, self.fpga_bp = dut, seed, latency, ip_stall, fpga_bp
        self.rng = random.Random(seed)
        self.model = load_model(os.environ.get("UF_MODEL"), P)

    async def start(self, auto_restart=False, stall_limit=None):
        dut = self.dut
        await start_clock_and_reset(dut)
        ip_clk = dut.user_clock2 if P.get("two_clock") else dut.axis_clk   # two-clock build: IP on user_clock2
        self.ip = HlsIpModel(dut.u_ip, ip_clk, P, self.model, latency=self.latency,
                             in_stall_prob=self.ip_stall, seed=self.seed + 1)
        self.fsic = FsicSide(dut, fpga_bp=self.fpga_bp, seed=self.seed + 2)
        self.ip.start()
        await assert_reset(dut)
        if stall_limit is not None:
            await self.fsic.soc_write(R.STALL_LIMIT, stall_limit)
        if auto_restart:
            await self.fsic.soc_write(R.CTRL, R.CTRL_AUTO_RESTART_MASK)

    def rand_frame(self):
        return np.frombuffer(self.rng.randbytes(P["H"] * P["W"] * P["C"]), dtype=np.uint8).reshape(
            P["H"], P["W"], P["C"])

    def expected(self, frame):
        ws = output_words(self.model(frame), P)
        return [(w, k, int(i == len(ws) - 1)) for i, (w, k) in enumerate(ws)]

    async def wait_out_frames(self, n, timeout_cycles=400000):
        for _ in range(timeout_cycles // 16):
            if len(self.fsic.out_frames()[0]) >= n:
                return
            await ClockCycles(self.dut.axis_clk, 16)
        lv = await self.fsic.soc_read(R.IN_LEVEL)
        err = await self.fsic.soc_read(R.ERR)
        ctrl = await self.fsic.soc_read(R.CTRL)
        raise TimeoutError(f"only {len(self.fsic.out_frames()[0])} of {n} output frames; {self.fsic.state()}; "
                           f"IN_LEVEL {lv} ERR {err:#x} CTRL {ctrl:#x} IP starts {self.ip.starts} "
                           f"in {len(self.ip.frames_in)}")


def frames_to_block_link():
    """Frames sent before AP_START so that what the buffer cannot hold is more than the switch's FIFO (16 words):
    without the buffer and the watchdog the link would stall."""
    extra = P["in_buf_words"] - P["words_in"]
    n = 2
    while (n - 1) * P["words_in"] - extra <= 16 + 4:
        n += 1
    return n


# =========================================================================================== tests
@cocotb.test()
async def test_hp_never_interrupt(dut):
    """IER with every bit set and frames completing: High_pri_req is never driven by ISR/IER. Without the build option
    it never rises; with it, it rises before each output frame's first word and falls at that frame's tlast handshake,
    is never high with no frame pending, and a SoC->FPGA mailbox message after each frame is not blocked.
    low__pri_irq follows ISR & IER."""
    b = Bench(dut, seed=3)
    await b.start(auto_restart=True)
    f = b.fsic
    await f.soc_write(R.IER, 0xFFFFFFFF)
    frames = [b.rand_frame() for _ in range(3)]
    for fr in frames:
        f.send_frame(pack_input(fr))
        await b.wait_out_frames(len(f.out_frames()[0]) + 1)
        await ClockCycles(dut.axis_clk, 5)
        # ISR.DONE is set and enabled: the interrupt is on low__pri_irq, High_pri_req is low
        assert int(dut.low__pri_irq.value) == 1
        assert int(dut.High_pri_req.value) == 0
        m = f.mailbox(4)
        await m.event.wait()
        assert m.done - m.issued <= 4 + 3, f"mailbox blocked for {m.done - m.issued} cycles after a frame"
        await f.soc_write(R.ISR, R.ISR_DONE_MASK)
        await ClockCycles(dut.axis_clk, 2)
        assert int(dut.low__pri_irq.value) == 0
    got, partial = f.out_frames()
    assert not partial and len(got) == 3
    for g, fr in zip(got, frames):
        assert g == b.expected(fr)
    assert f.idle_hold_cycles == 0, f"High_pri_req held the grant {f.idle_hold_cycles} cycles with nothing to send"
    rises = [c for c, v in f.hp_log if v == 1]
    falls = [c for c, v in f.hp_log if v == 0]
    if not P["high_pri_req"]:
        assert f.hp_log == [], f"High_pri_req moved without the build option: {f.hp_log[:6]}"
    else:
        assert len(rises) == len(falls) == 3, f.hp_log
        for r, fl, first, last in zip(rises, falls, f.sm_first_cycles, f.sm_last_cycles):
            assert r < first, f"High_pri_req rose at {r}, not before the first word at {first}"
            assert fl == last, f"High_pri_req fell at {fl}, the frame's tlast handshake was at {last}"
    assert await f.soc_read(R.ERR) == 0
    dut._log.info("hp log %s; first words %s; tlast %s", f.hp_log, f.sm_first_cycles, f.sm_last_cycles)


@cocotb.test()
async def test_hp_mailbox_during_frames(dut):
    """Mailbox messages and FPGA-side reads (answers go upstream) issued while output frames stream: without the
    High_pri_req option each is delivered by the end of the frame in progress (the grant is released at tlast); with
    it, the project's frames go first but no message waits past the end of the output stream. Frames stay exact."""
    b = Bench(dut, seed=5, fpga_bp=0.3)
    await b.start(auto_restart=True)
    f = b.fsic
    frames = [b.rand_frame() for _ in range(4)]
    for fr in frames:
        f.send_frame(pack_input(fr))
    msgs, reads = [], []
    for _ in range(12):
        await ClockCycles(dut.axis_clk, b.rng.randint(3, 3 * P["words_out"] + 10))
        msgs.append(f.mailbox(2))
        reads.append(cocotb.start_soon(f.fpga_read(R.ID_MAGIC)))
    await b.wait_out_frames(4)
    for t in reads:
        a = await t
        assert a.value == R.MAGIC
    end = f.sm_last_cycles[-1]
    for m in msgs:
        await m.event.wait()
        if P["high_pri_req"]:
            # High_pri_req wins: a message waits while frames are ready back to back, never past the stream's end
            assert m.done <= max(m.issued, end) + 3 * len(msgs) + 20, (m.issued, m.done, end)
        else:
            # the grant changes at frame boundaries: at most the output frame in progress (the IP model emits a pixel
            # per cycle, so a frame lasts ~H*W cycles; 30 % back-pressure on top) and the messages queued before it
            frame = max(P["H"] * P["W"], 2 * P["words_out"])
            assert m.done - m.issued <= 2 * frame + 3 * len(msgs) + 40, (m.issued, m.done)
    got, partial = f.out_frames()
    assert not partial and [g for g in got] == [b.expected(fr) for fr in frames]
    assert f.idle_hold_cycles == 0


@cocotb.test()
async def test_link_write_before_start(dut):
    """A frame sent before AP_START is taken into the input buffer: the FPGA-side write of CTRL.AP_START queued behind
    it on the shared link gets through after the frame's words (not blocked), and the frame comes out exact.
    Then more frames than the buffer holds before AP_START: the stall watchdog drops what cannot be buffered
    (ERR.DROP, DROP_FRAMES) after STALL_LIMIT cycles, the write gets through, ss_tvalid && !ss_tready never lasts
    longer than STALL_LIMIT cycles (and reaches it), the buffered frame is exact; IN_CRC / OUT_CRC = zlib.crc32 of
    the words on ss_* and sm_*."""
    limit = 40
    b = Bench(dut, seed=7)
    await b.start(auto_restart=False, stall_limit=limit)
    f = b.fsic
    # 1) one frame, then AP_START from the FPGA side
    f0 = b.rand_frame()
    f.send_frame(pack_input(f0))
    a = await f.fpga_write(R.CTRL, R.CTRL_AP_START_MASK)
    assert a.done - a.issued <= P["words_in"] + 40, f"FPGA write waited {a.done - a.issued} cycles"
    await b.wait_out_frames(1)
    got, _ = f.out_frames()
    assert got[0] == b.expected(f0)
    assert f.ss_stall_max <= limit
    assert await f.soc_read(R.ERR) == 0 and await f.soc_read(R.DROP_FRAMES) == 0
    assert await f.soc_read(R.IN_CRC) == crc(w for w, _ in input_words(f0))
    assert await f.soc_read(R.IN_CRC) == crc(w for w, _, _ in f.ss_words)
    assert await f.soc_read(R.OUT_CRC) == crc(w for w, _, _ in got[0])
    # 2) n frames before AP_START: one fits the buffer, the words behind it are more than the switch's FIFO holds
    n = frames_to_block_link()
    frs = [b.rand_frame() for _ in range(n)]
    for fr in frs:
        f.send_frame(pack_input(fr))
    a = await f.fpga_write(R.CTRL, R.CTRL_AP_START_MASK)
    bound = n * P["words_in"] + (n - 1) * (limit + 2) + 40
    assert 1 <= await f.soc_read(R.DROP_FRAMES) <= n - 1
    assert a.done - a.issued <= bound, f"FPGA write waited {a.done - a.issued} > {bound} cycles"
    assert f.ss_stall_max == limit, f"longest ss stall {f.ss_stall_max}, STALL_LIMIT {limit}"
    # the frames not dropped are processed in order, one start each; which ones the watchdog drops depends on the
    # timing (the first one always fits the buffer)
    await b.wait_out_frames(2)
    while not f.idle():
        await ClockCycles(dut.axis_clk, 16)
    drops = await f.soc_read(R.DROP_FRAMES)
    for k in range(1, n - drops):
        await f.fpga_write(R.CTRL, R.CTRL_AP_START_MASK)
        await b.wait_out_frames(2 + k)
    await ClockCycles(dut.axis_clk, 50)
    got, partial = f.out_frames()
    assert not partial and len(got) == 1 + n - drops, (len(got), n, drops)
    exps = [b.expected(fr) for fr in frs]
    match = [exps.index(g) if g in exps else None for g in got[1:]]
    assert match[0] == 0 and None not in match and match == sorted(set(match)), f"output frames match {match}"
    kept = [frs[j] for j in match]
    assert await f.soc_read(R.DROP_FRAMES) == drops
    err = await f.soc_read(R.ERR)
    assert err == R.ERR_DROP_MASK, f"ERR={err:#x}"
    assert await f.soc_read(R.IN_CRC) == crc(w for w, _ in input_words(kept[-1]))
    assert await f.soc_read(R.OUT_CRC) == crc(w for w, _, _ in got[-1])
    assert await f.soc_read(R.FRAMES_IN) == 1 + len(kept)
    # the next frame after the drops is exact
    await f.soc_write(R.ERR, err)
    f3 = b.rand_frame()
    f.send_frame(pack_input(f3))
    await f.fpga_write(R.CTRL, R.CTRL_AP_START_MASK)
    await b.wait_out_frames(len(got) + 1)
    assert f.out_frames()[0][-1] == b.expected(f3)
    assert await f.soc_read(R.ERR) == 0
    dut._log.info("stall max %d, FIFO max %d", f.ss_stall_max, f.max_fifo)


@cocotb.test()
async def test_link_while_busy(dut):
    """The IP busy (auto-restart, slow input and output) while the FPGA streams frames and queues register reads and
    writes behind them: every access completes;
    with a host that reads its results nothing is dropped and every frame is exact with matching CRCs; each read sees
    WORDS_IN between (stream words queued before it) - 16 and that number (link order, the switch FIFO). Then the FPGA
    stops reading results (upstream held): the IP blocks, the buffer fills, the watchdog drops, and an FPGA-side
    register write still gets through; SOFT_RESET then recovers and the next frame is exact."""
    limit = 64 * max(1, P["H"] * P["W"] // 16)
    b = Bench(dut, seed=9, latency=LATENCY, ip_stall=0.5, fpga_bp=0.2)
    await b.start(auto_restart=True, stall_limit=limit)
    f = b.fsic
    n = 4
    frames = [b.rand_frame() for _ in range(n)]
    reads = []
    for i, fr in enumerate(frames):
        f.send_frame(pack_input(fr))
        ahead = (i + 1) * P["words_in"]            # stream words queued on the link before this read
        reads.append((ahead, cocotb.start_soon(f.fpga_read(R.WORDS_IN, f.fpga_read_nowait(R.WORDS_IN)))))
        f.fpga_write_nowait(R.IER, i & 1)
    await b.wait_out_frames(n)
    for ahead, t in reads:
        a = await t
        # in link order: every word ahead of the read had left the link, at most the switch FIFO's 16 not yet taken
        assert ahead - f.fifo_depth <= a.value <= ahead, (ahead, a.value)
    got, partial = f.out_frames()
    assert not partial and got == [b.expected(fr) for fr in frames]
    assert await f.soc_read(R.DROP_FRAMES) == 0 and await f.soc_read(R.ERR) == 0
    assert await f.soc_read(R.OUT_CRC) == crc(w for w, _, _ in got[-1])
    assert await f.soc_read(R.IN_CRC) == crc(w for w, _ in input_words(frames[-1]))
    assert f.ss_stall_max <= limit
    # the FPGA stops taking results and the IP stops taking input (a dataflow IP blocked by its output): nothing may
    # hold the link for longer than STALL_LIMIT
    f.fpga_bp = 1.0
    b.ip.in_stall_prob = 1.0
    for fr in [b.rand_frame() for _ in range(2 + (2 * P["in_buf_words"] + 40) // P["words_in"])]:
        f.send_frame(pack_input(fr))
    a = await f.fpga_write(R.IER, 0)
    assert f.ss_stall_max == limit
    assert await f.soc_read(R.DROP_FRAMES) >= 1
    while not f.idle():        # everything sent was taken in or dropped: the link is free again
        await ClockCycles(dut.axis_clk, 16)
    await f.fpga_write(R.CTRL, R.CTRL_AUTO_RESTART_MASK | R.CTRL_SOFT_RESET_MASK)
    f.fpga_bp = 0.0
    b.ip.in_stall_prob = 0.0
    await ClockCycles(dut.axis_clk, 20)
    base = len(f.out_frames()[0])
    _, partial = f.out_frames()
    f.sm_words = [w for fr in f.out_frames()[0] for w in fr]    # forget a frame cut by the soft reset
    fr = b.rand_frame()
    f.send_frame(pack_input(fr))
    await b.wait_out_frames(base + 1)
    assert f.out_frames()[0][base] == b.expected(fr)
    dut._log.info("busy: stall max %d (limit %d), partial output words dropped by soft reset %d",
                  f.ss_stall_max, limit, len(partial))


# =========================================================================================== line framing (issue #15.3)
def words_of(frame) -> list[int]:
    return [w for w, _ in input_words(frame)]


def frame_of_words(words) -> np.ndarray:
    """The input frame the IP sees for these input words (zero words up to the frame's length: a padded frame)."""
    words = list(words)[:P["words_in"]] + [0] * max(0, P["words_in"] - len(words))
    b = b"".join(int(w).to_bytes(4, "little") for w in words)[:P["H"] * P["W"] * P["C"]]
    return np.frombuffer(b, dtype=np.uint8).reshape(P["H"], P["W"], P["C"])


def expected_line(b, frame):
    """Output words of one frame as (data, keep, tlast, sm_tupsb) in the build's output framing."""
    ws = output_words(b.model(frame), P)
    n, olw = len(ws), P["out_line_words"]
    out = []
    for i, (w, k) in enumerate(ws):
        last = i == n - 1
        if P["out_line"]:
            eol = int(last or i % olw == olw - 1)
            out.append((w, k, eol, int(i == 0) | (eol << 1)))
        else:
            out.append((w, k, int(last), 0))
    return out


def got_frames(f):
    """Output frames with the sideband: split at sof (line framing) or at tlast (frame framing)."""
    if P["out_line"]:
        frames, lead = f.out_frames_sof()
        assert not lead, f"{len(lead)} output words before the first sof"
        return frames
    frames, cur = [], []
    sbs = f.sm_sb if f.sideband else [0] * len(f.sm_words)
    for wd, sb in zip(f.sm_words, sbs):
        cur.append((*wd, sb))
        if wd[2]:
            frames.append(cur)
            cur = []
    return frames


async def wait_line_frames(b, n, timeout_cycles=400000):
    for _ in range(timeout_cycles // 16):
        fr = got_frames(b.fsic)
        if len(fr) > n or (len(fr) == n and len(fr[-1]) == P["words_out"]):
            return
        await ClockCycles(b.dut.axis_clk, 16)
    raise TimeoutError(f"only {len(got_frames(b.fsic))} of {n} output frames; {b.fsic.state()}; "
                       f"ERR {await b.fsic.soc_read(R.ERR):#x}")


def all_lines():
    lw = P["in_line_words"]
    return [list(range(i, min(i + lw, P["words_in"]))) for i in range(0, P["words_in"], lw)]


@cocotb.test()
async def test_line_framing(dut):
    """FSIC's line convention (tlast at the end of every line, tkeep = tstrb = 0000, ss_tupsb = {eol, sof}): output
    frames bit-exact, no error, OUT_MODE.IN_LINES / OUT_LINES and ID_LINES as built, IN_CRC / OUT_CRC = zlib.crc32.
    With the output in line framing: sm_tlast at every line's end, sm_tupsb sof on each frame's first word only and
    eol = sm_tlast; in frame framing sm_tupsb = 0."""
    b = Bench(dut, seed=21, fpga_bp=0.2)
    await b.start(auto_restart=True)
    f = b.fsic
    dut.ss_tstrb.value = 0
    mode = await f.soc_read(R.OUT_MODE)
    assert (mode >> R.OUT_MODE_IN_LINES_LSB) & 1 == P["in_line"]
    assert (mode >> R.OUT_MODE_OUT_LINES_LSB) & 1 == P["out_line"]
    assert await f.soc_read(R.ID_LINES) == P["in_line_words"] | (P["out_line_words"] << 16)
    frames = [b.rand_frame() for _ in range(3)]
    for i, fr in enumerate(frames):
        if P["in_line"]:
            f.send_lines(pack_input(fr), P["in_line_words"], tkeep0=(i != 1))   # frame 1: the valid-byte tkeep
        else:                      # a frame-framing build (with the sideband ports): one tlast per frame
            f.send_frame(pack_input(fr))
    await wait_line_frames(b, 3)
    got = got_frames(f)
    assert len(got) == 3
    for g, fr in zip(got, frames):
        assert g == expected_line(b, fr)
    assert await f.soc_read(R.ERR) == 0
    assert await f.soc_read(R.FRAMES_IN) == 3 and await f.soc_read(R.FRAMES_DONE) == 3
    assert await f.soc_read(R.IN_CRC) == crc(words_of(frames[-1]))
    assert await f.soc_read(R.OUT_CRC) == crc(w for w, _, _, _ in got[-1])
    assert f.ss_stall_max == 0


@cocotb.test()
async def test_line_errors(dut):
    """Broken line-framed frames, each followed by an exact frame: a missing line (ERR.LINE_MISS; the broken frame
    is zero-padded to its length), an extra line (ERR.LINE_EXTRA; the extra words dropped, the frame itself exact),
    a sof inside a line (ERR.SOF_MID, with ERR.SHORT for the cut line's early tlast; padded), a frame without sof
    (LINE_EXTRA: dropped up to the next sof). The next frame is always exact and raises no error; IN_CRC is the
    last exact frame's."""
    b = Bench(dut, seed=23)
    await b.start(auto_restart=True)
    f = b.fsic
    lines = all_lines()
    nl = len(lines)
    n_out = 0

    async def check(sent_lines, fr, err_exp, out_words=None):
        """send a broken frame (sent_lines of fr's words), then an exact frame; check ERR and both outputs"""
        nonlocal n_out
        good = b.rand_frame()
        f.send_lines(pack_input(fr), P["in_line_words"], lines=sent_lines)
        f.send_lines(pack_input(good), P["in_line_words"])
        exp = []
        if out_words is not None:
            exp.append(expected_line(b, frame_of_words(out_words)))
        exp.append(expected_line(b, good))
        await wait_line_frames(b, n_out + len(exp))
        await ClockCycles(dut.axis_clk, 20)
        got = got_frames(f)
        assert got[n_out:] == exp, f"{err_exp:#x}: output frames differ"
        n_out = len(got)
        err = await f.soc_read(R.ERR)
        assert err == err_exp, f"ERR={err:#x}, expected {err_exp:#x}"
        await f.soc_write(R.ERR, err)
        assert await f.soc_read(R.IN_CRC) == crc(words_of(good))

    # a missing line (line 1 of the frame)
    fr = b.rand_frame()
    sent = [ln for k, ln in enumerate(lines) if k != 1]
    w = words_of(fr)
    await check(sent, fr, R.ERR_LINE_MISS_MASK, [w[i] for ln in sent for i in ln])
    # an extra line after the last one (random words, no sof)
    fr = b.rand_frame()
    extra = list(range(P["words_in"], P["words_in"] + P["in_line_words"]))
    await check(lines + [extra], fr, R.ERR_LINE_EXTRA_MASK, words_of(fr))
    # a sof inside a line: the frame cut after the first words of its last line
    fr = b.rand_frame()
    cut = max(1, len(lines[-1]) // 2)
    if len(lines[-1]) > 1:
        sent = lines[:-1] + [lines[-1][:cut]]
        exp_err = R.ERR_SOF_MID_MASK | R.ERR_SHORT_MASK
    else:   # one-word last line: cut the line before
        sent = lines[:-2] + [lines[-2][:max(1, len(lines[-2]) // 2)]]
        exp_err = R.ERR_SOF_MID_MASK | R.ERR_SHORT_MASK
    w = words_of(fr)
    await check(sent, fr, exp_err, [w[i] for ln in sent for i in ln])
    # a whole frame without sof: dropped up to the next sof
    fr = b.rand_frame()
    f.send_lines(pack_input(fr), P["in_line_words"], sof=False)
    await check(lines[:0], fr, R.ERR_LINE_EXTRA_MASK, None)
    assert await f.soc_read(R.FRAMES_IN) == n_out
    assert nl >= 2
