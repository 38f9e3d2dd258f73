"""cocotb behavioural model of the hls4ml io_stream IP, driving the generated simulation shell.

The shell (``<build>/fsic/sim/<hls_top>.v``, written by ``pipeline.hw.rtl.write_wrapper``) has exactly the ports
of the Vivado/Vitis HLS export: ``ap_clk, ap_rst_n, ap_start, ap_done, ap_idle, ap_ready,
<in>_TDATA/_TVALID/_TREADY, <out>_TDATA/_TVALID/_TREADY``.  Its outputs are regs that this model drives.

Behaviour (ap_ctrl_hs + DATAFLOW, as the HLS flow generates for hls4ml's io_stream top):
  * while ``ap_rst_n`` is low everything is idle and in-flight frames are dropped;
  * an input process waits for ``ap_start``, answers with a one-cycle ``ap_ready`` (the start is consumed),
    reads H*W input beats (one pixel per beat: C elements of ``in_elem_bits``, byte at ``in_shift``),
    and queues the frame;
  * an output process takes queued frames in order, waits ``latency`` cycles, calls ``model(frame)`` and
    streams H*W output beats (argmax: one class index per beat; logits: ``classes`` elements of
    ``out_elem_bits``, value at ``out_shift``) honouring TREADY, then pulses ``ap_done``;
  * ``ap_idle`` is high when no start was consumed that has not finished with ``ap_done``.

Plugging a real model: ``model`` is any callable ``model(frame: np.ndarray[H, W, C] uint8) -> np.ndarray``
returning the integers the IP would put on its output stream: shape (H, W) class indices (argmax build) or
(H, W, classes) logits as integers whose low ``logit_bits`` bits are the stream bits (two's complement ok).
For an hls4ml build that means wrapping ``hls_model.predict`` with the input scaling used by the build and
the conversion of its fixed-point outputs to their bit patterns (or argmax).
"""
from __future__ import annotations

import random
from typing import Callable

import cocotb
import numpy as np
from cocotb.queue import Queue
from cocotb.triggers import ClockCycles, RisingEdge


class HlsIpModel:
    def __init__(self, ip, clk, p: dict, model: Callable[[np.ndarray], np.ndarray], latency: int = 8,
                 in_stall_prob: float = 0.0, out_gap_prob: float = 0.0, seed: int = 1):
        self.ip, self.clk, self.p, self.model = ip, clk, p, model
        self.latency = int(latency)
        self.in_stall_prob, self.out_gap_prob = in_stall_prob, out_gap_prob
        self.rng = random.Random(seed)
        self.in_tdata = getattr(ip, f"{p['hls_in_port']}_TDATA")
        self.in_tvalid = getattr(ip, f"{p['hls_in_port']}_TVALID")
        self.in_tready = getattr(ip, f"{p['hls_in_port']}_TREADY")
        self.out_tdata = getattr(ip, f"{p['hls_out_port']}_TDATA")
        self.out_tvalid = getattr(ip, f"{p['hls_out_port']}_TVALID")
        self.out_tready = getattr(ip, f"{p['hls_out_port']}_TREADY")
        self.frames_in: list[np.ndarray] = []   # every frame the IP consumed (for checks)
        self.frames_out = 0
        self.starts = 0
        self._tasks = []
        self._inflight = 0

    # ------------------------------------------------------------------ helpers
    def _idle_outputs(self):
        self.ip.ap_done.value = 0
        self.ip.ap_ready.value = 0
        self.ip.ap_idle.value = 1
        self.in_tready.value = 0
        self.out_tvalid.value = 0
        self.out_tdata.value = 0

    def _unpack_pixel(self, tdata: int) -> list[int]:
        eb, sh = self.p["in_elem_bits"], self.p["in_shift"]
        return [(tdata >> (c * eb + sh)) & 0xFF for c in range(self.p["C"])]

    def _pack_outputs(self, result: np.ndarray) -> list[int]:
        p = self.p
        H, W = p["H"], p["W"]
        eb, sh = p["out_elem_bits"], p["out_shift"]
        if p["argmax"]:
            r = np.asarray(result).reshape(H * W).astype(np.int64)
            fmask = (1 << eb) - 1
            return [int((v << sh) & fmask) for v in r]
        r = np.asarray(result).reshape(H * W, p["classes"]).astype(np.int64)
        m = (1 << p["logit_bits"]) - 1
        beats = []
        for row in r:
            v = 0
            for k, x in enumerate(row):
                v |= (int(x) & m) << (k * eb + sh)
            beats.append(v)
        return beats

    # ------------------------------------------------------------------ processes
    def start(self):
        self._idle_outputs()
        cocotb.start_soon(self._supervisor())

    async def _supervisor(self):
        while True:
            # hold idle while in reset
            while True:
                await RisingEdge(self.clk)
                if self.ip.ap_rst_n.value.is_resolvable and int(self.ip.ap_rst_n.value) == 1:
                    break
            q = Queue()
            self._inflight = 0
            self._tasks = [cocotb.start_soon(self._in_proc(q)), cocotb.start_soon(self._out_proc(q))]
            while True:
                await RisingEdge(self.clk)
                if int(self.ip.ap_rst_n.value) == 0:
                    break
            for t in self._tasks:
                t.kill()
            self._idle_outputs()

    async def _in_proc(self, q: Queue):
        p = self.p
        npx = p["H"] * p["W"]
        while True:
            await RisingEdge(self.clk)
            if int(self.ip.ap_start.value) != 1:
                continue
            # consume the start: ap_ready for one cycle
            self.starts += 1
            self._inflight += 1
            self.ip.ap_idle.value = 0
            self.ip.ap_ready.value = 1
            await RisingEdge(self.clk)
            self.ip.ap_ready.value = 0
            pixels = []
            ready = self.rng.random() >= self.in_stall_prob
            self.in_tready.value = int(ready)
            while len(pixels) < npx:
                await RisingEdge(self.clk)
                if ready and int(self.in_tvalid.value) == 1:
                    pixels.append(self._unpack_pixel(int(self.in_tdata.value)))
                if len(pixels) < npx:
                    ready = self.rng.random() >= self.in_stall_prob
                    self.in_tready.value = int(ready)
            self.in_tready.value = 0
            frame = np.array(pixels, dtype=np.uint8).reshape(p["H"], p["W"], p["C"])
            self.frames_in.append(frame)
            q.put_nowait(frame)

    async def _out_proc(self, q: Queue):
        while True:
            frame = await q.get()
            if self.latency > 0:
                await ClockCycles(self.clk, self.latency)
            beats = self._pack_outputs(self.model(frame))
            i = 0
            while i < len(beats):
                if self.out_gap_prob and self.rng.random() < self.out_gap_prob:
                    self.out_tvalid.value = 0
                    await RisingEdge(self.clk)
                    continue
                self.out_tvalid.value = 1
                self.out_tdata.value = beats[i]
                await RisingEdge(self.clk)
                if int(self.out_tready.value) == 1:
                    i += 1
            self.out_tvalid.value = 0
            self.ip.ap_done.value = 1
            await RisingEdge(self.clk)
            self.ip.ap_done.value = 0
            self.frames_out += 1
            self._inflight -= 1
            if self._inflight == 0:
                self.ip.ap_idle.value = 1
