"""cocotb bench for rtl/uf_gearbox.v (the frame-aware field re-packer), run by tests/test_gearbox.py.

The gearbox parameters come from the runner (``parameters=``) and, for this module, from ``UF_GEARBOX_PARAMS``
(JSON: FW, IN_N, OUT_N, FRAME_N, optional BUF_N/CW, plus ``seed`` and ``frames``).  Each cocotb test resets the
DUT, streams whole frames of random fields in (random valid gaps; random garbage in the fields above in_cnt and on
the bus while in_valid is low), applies random out_ready back-pressure, and checks every output beat against
:func:`reference_beats`; a protocol monitor checks the output stream rules on every cycle.
"""
from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, Timer

P = json.loads(os.environ.get("UF_GEARBOX_PARAMS", "{}"))
FW, IN_N, OUT_N, FRAME_N = (int(P.get(k, d)) for k, d in (("FW", 8), ("IN_N", 4), ("OUT_N", 3), ("FRAME_N", 12)))
FRAMES = int(P.get("frames", 8))
SEED = int(P.get("seed", 1))


# ----------------------------------------------------------------------------------------------- reference model
def reference_beats(fields: list[int], frame_n: int = FRAME_N, out_n: int = OUT_N) -> list[tuple]:
    """The output beats for a stream of whole frames of fields: per frame of ``frame_n`` fields (in order), beats of
    ``out_n`` fields, the last beat holding the remaining ``frame_n - out_n*(beats-1)`` fields with out_last, unused
    fields zero.  Returns ``[(fields_tuple_len_out_n, out_cnt, out_last), ...]``."""
    assert len(fields) % frame_n == 0, "whole frames only"
    beats = []
    for f0 in range(0, len(fields), frame_n):
        frame = fields[f0:f0 + frame_n]
        for i in range(0, frame_n, out_n):
            chunk = list(frame[i:i + out_n])
            beats.append((tuple(chunk + [0] * (out_n - len(chunk))), len(chunk), int(i + out_n >= frame_n)))
    return beats


def pack(fields, fw: int = FW) -> int:
    return sum((f & ((1 << fw) - 1)) << (k * fw) for k, f in enumerate(fields))


def unpack(word: int, n: int, fw: int = FW) -> tuple:
    return tuple((word >> (k * fw)) & ((1 << fw) - 1) for k in range(n))


def input_beats(fields: list[int], rng: random.Random, aligned: bool) -> list[tuple[int, int]]:
    """Cut the field stream into input beats ``(in_data, in_cnt)``.  aligned: IN_N fields per beat, the frame's
    last beat the remainder (how the wrapper's framer feeds the unpacker); else random sizes 1..IN_N that run across
    frame boundaries.  Fields above in_cnt carry random garbage (the gearbox must ignore them)."""
    beats, i = [], 0
    while i < len(fields):
        if aligned:
            n = min(IN_N, FRAME_N - i % FRAME_N)
        else:
            n = min(rng.randint(1, IN_N), len(fields) - i)
        garbage = [rng.getrandbits(FW) for _ in range(IN_N - n)]
        beats.append((pack(fields[i:i + n] + garbage), n))
        i += n
    return beats


# ----------------------------------------------------------------------------------------------- bench
async def reset(dut, cycles: int = 3):
    dut.rst_n.value = 0
    dut.in_valid.value = 0
    dut.in_data.value = 0
    dut.in_cnt.value = 0
    dut.out_ready.value = 0
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst_n.value = 1
    await RisingEdge(dut.clk)


async def start(dut):
    cocotb.start_soon(Clock(dut.clk, 10, units="ns").start())
    await reset(dut)
    await ReadOnly()
    assert int(dut.empty.value) == 1 and int(dut.out_valid.value) == 0 and int(dut.in_ready.value) == 1, \
        "after reset: empty, no output, ready for input"


async def stream(dut, beats_in, n_out: int, rng: random.Random, p_valid: float, p_ready: float,
                 check_comb: bool = True) -> list[tuple]:
    """Drive ``beats_in`` (valid held until accepted, random gaps with probability 1-p_valid) and collect ``n_out``
    output beats with random out_ready (probability p_ready).  Checks every cycle:
      * out_data/out_cnt/out_last stable and out_valid held while out_valid && !out_ready;
      * empty implies no output beat is valid;
      * check_comb: in_ready does not change when out_ready flips within the cycle (registered decision)."""
    got: list[tuple] = []
    pending = None
    idx = 0
    stalled = None           # the output beat seen with out_valid && !out_ready in the previous cycle
    budget = 40 * (len(beats_in) + n_out) + 200
    cycles = 0
    while len(got) < n_out:
        await RisingEdge(dut.clk)
        cycles += 1
        assert cycles < budget, f"no progress: {len(got)}/{n_out} output beats after {cycles} cycles (deadlock?)"
        if pending is None and idx < len(beats_in) and rng.random() < p_valid:
            pending = beats_in[idx]
            idx += 1
        if pending is not None:
            dut.in_data.value, dut.in_cnt.value = pending
            dut.in_valid.value = 1
        else:
            dut.in_valid.value = 0
            dut.in_data.value = rng.getrandbits(IN_N * FW)
            dut.in_cnt.value = rng.randint(0, IN_N)
        ready = int(rng.random() < p_ready)
        if check_comb:
            dut.out_ready.value = 1 - ready
            await Timer(1, "ns")
            in_ready_other = int(dut.in_ready.value)
        dut.out_ready.value = ready
        await ReadOnly()
        in_ready = int(dut.in_ready.value)
        if check_comb:
            assert in_ready == in_ready_other, "in_ready depends combinationally on out_ready"
        valid = int(dut.out_valid.value)
        beat = (int(dut.out_data.value), int(dut.out_cnt.value), int(dut.out_last.value))
        if stalled is not None:
            assert valid, "out_valid dropped while out_ready was low"
            assert beat == stalled, f"output beat changed while stalled: {stalled} -> {beat}"
        if int(dut.empty.value):
            assert not valid, "empty with out_valid high"
        if pending is not None and in_ready:
            pending = None
        if valid and ready:
            data, cnt, last = beat
            got.append((unpack(data, OUT_N), cnt, last))
            stalled = None
        else:
            stalled = beat if valid else None
    assert idx == len(beats_in) and pending is None, "all output arrived before all input was taken (extra output?)"
    return got


async def drain_and_check_idle(dut, cycles: int = 12):
    """Nothing more may come out, and the gearbox must end empty and ready."""
    await RisingEdge(dut.clk)          # the last output handshake
    dut.in_valid.value = 0
    dut.out_ready.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
        await ReadOnly()
        assert int(dut.out_valid.value) == 0, "an output beat beyond the frames sent (duplicated field?)"
    assert int(dut.empty.value) == 1 and int(dut.in_ready.value) == 1, "not empty/ready after the last frame"


def compare(got, exp):
    assert len(got) == len(exp), f"{len(got)} output beats, expected {len(exp)}"
    for n, (g, e) in enumerate(zip(got, exp)):
        assert g == e, (f"beat {n} (frame {sum(x[2] for x in exp[:n])}): got fields/cnt/last {g}, expected {e}"
                        f"  [FW={FW} IN_N={IN_N} OUT_N={OUT_N} FRAME_N={FRAME_N}]")


async def run_case(dut, seed: int, frames: int, aligned: bool, p_valid: float, p_ready: float):
    rng = random.Random(seed)
    fields = [rng.getrandbits(FW) for _ in range(frames * FRAME_N)]
    exp = reference_beats(fields)
    got = await stream(dut, input_beats(fields, rng, aligned), len(exp), rng, p_valid, p_ready)
    compare(got, exp)
    await drain_and_check_idle(dut)


@cocotb.test()
async def test_aligned_frames(dut):
    """Frame-aligned input beats (IN_N fields, the remainder last), random gaps and back-pressure."""
    await start(dut)
    await run_case(dut, SEED * 7 + 1, FRAMES, aligned=True, p_valid=0.7, p_ready=0.6)


@cocotb.test()
async def test_unaligned_beats_heavy_backpressure(dut):
    """Random-size input beats that run across frame boundaries, sparse out_ready."""
    await start(dut)
    await run_case(dut, SEED * 7 + 2, FRAMES, aligned=False, p_valid=0.5, p_ready=0.25)


@cocotb.test()
async def test_full_rate(dut):
    """in_valid and out_ready always high: back-to-back frames at full rate."""
    await start(dut)
    await run_case(dut, SEED * 7 + 3, FRAMES, aligned=True, p_valid=1.0, p_ready=1.0)
    await run_case(dut, SEED * 7 + 4, FRAMES, aligned=False, p_valid=1.0, p_ready=1.0)


@cocotb.test()
async def test_reset_mid_frame(dut):
    """A reset in the middle of a frame (fields buffered, output beat stalled) starts over at a frame boundary."""
    await start(dut)
    rng = random.Random(SEED * 7 + 5)
    partial = [rng.getrandbits(FW) for _ in range(FRAME_N + FRAME_N // 2)]
    await RisingEdge(dut.clk)
    for data, cnt in input_beats(partial, rng, aligned=False):
        dut.in_data.value, dut.in_cnt.value = data, cnt
        dut.in_valid.value = 1
        while True:
            dut.out_ready.value = int(rng.random() < 0.3)
            await ReadOnly()
            accepted = int(dut.in_ready.value)
            await RisingEdge(dut.clk)
            if accepted:
                break
    dut.out_ready.value = 0
    await ReadOnly()
    assert int(dut.empty.value) == 0, "fields should be buffered before the reset"
    await RisingEdge(dut.clk)
    await reset(dut)
    await ReadOnly()
    assert int(dut.empty.value) == 1 and int(dut.out_valid.value) == 0
    await RisingEdge(dut.clk)
    await run_case(dut, SEED * 7 + 6, max(2, FRAMES // 2), aligned=False, p_valid=0.8, p_ready=0.7)
