"""cocotb co-simulation of one build: frames from a file through the real USER_PRJ0 RTL, the IP being the build's
compiled hls4ml C model (uf_hls_ip). Used by ``unet-fsic cosim`` (pipeline/stages/cosim.py), which compares the decoded
outputs with Keras outside the simulator.

Environment (besides test_user_prj0's UF_BUILD_JSON / UF_LATENCY):
  UF_FRAMES_NPZ    input: ``frames`` uint8 (n, H, W, C) -- the raw codes the input stream carries
  UF_OUT_NPZ       output: ``outputs`` (n, H, W) class indices or (n, H, W, classes) signed logit codes, ``words``
                   (n, words_out) raw sm_tdata words -- written only when every frame came out well-formed
  UF_CYCLE_BUDGET  clock cycles the bench waits for the n output frames (the stage sizes it from the stream lengths
                   and UF_LATENCY)
  UF_SM_BACKPRESSURE / UF_SS_GAPS   probabilities of sm_tready low / ss_tvalid gaps (default 0.25 / 0.1)

Whatever happens, a status file next to UF_OUT_NPZ (same stem, ``.json``) says how far the bench got, so the stage can
tell "could not simulate" from "simulated and wrong":
  ``{"status": "complete", "errors": [...], ...counters}``  all n frames came out (``errors``: what the design got
                                                           wrong -- malformed frames, input mismatch, protocol
                                                           violations, counters, ERR flags)
  ``{"status": "timeout", "frames_out": k, "cycle_budget": c}``  fewer than n frames within the budget
  ``{"status": "error", "error": "..."}``                 the bench itself stopped (e.g. the IP model failed to load)
"""
from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiStreamFrame
from fsic_tb import pack_input
from test_user_prj0 import LATENCY, Env, P, R

CLK_NS = 10


def decode_words(words: list[int], p: dict) -> np.ndarray:
    """Output stream words of one frame -> (H, W) class indices or (H, W, classes) signed logit codes."""
    fw, per = p["field_bits"], p["fields_per_word"]
    mask = (1 << fw) - 1
    fields = [(w >> (k * fw)) & mask for w in words for k in range(per)][:p["out_fields"]]
    a = np.array(fields, dtype=np.int64)
    if p["argmax"]:
        return a.reshape(p["H"], p["W"])
    a = np.where(a >= (1 << (fw - 1)), a - (1 << fw), a)
    return a.reshape(p["H"], p["W"], p["classes"])


def _status(**kw):
    with open(os.path.splitext(os.environ["UF_OUT_NPZ"])[0] + ".json", "w") as fh:
        json.dump(kw, fh, indent=2, default=str)


def _decode(got, n: int) -> tuple[list, list, list[str]]:
    """(decoded outputs, raw words, errors) of the first n received frames; outputs empty if one is malformed."""
    outs, words, errors = [], [], []
    wpf = P["words_out"]
    for i, beats in enumerate(got[:n]):
        if len(beats) != wpf:
            errors.append(f"output frame {i}: {len(beats)} words, expected {wpf}")
        elif [b[2] for b in beats] != [0] * (wpf - 1) + [1]:
            errors.append(f"output frame {i}: tlast misplaced")
        else:
            w = [b[0] for b in beats]
            words.append(w)
            outs.append(decode_words(w, P))
    return (outs, words, errors) if not errors else ([], [], errors)


async def _run(dut, frames, budget: int):
    n = len(frames)
    bp = float(os.environ.get("UF_SM_BACKPRESSURE", "0.25"))
    gaps = float(os.environ.get("UF_SS_GAPS", "0.1"))
    env = Env(dut, seed=101, ss_gap=gaps, sm_bp=bp, latency=LATENCY)
    await env.start()
    t0 = get_sim_time("ns")
    for f in frames:
        await env.src.send(AxiStreamFrame(pack_input(f), tkeep=None))
    try:
        await env.wait_out_frames(n, timeout_cycles=budget)
    except TimeoutError as e:
        _status(status="timeout", frames=n, frames_out=len(env.out_frames()[0]), cycle_budget=budget, error=str(e))
        raise
    t1 = get_sim_time("ns")
    got, partial = env.out_frames()
    outs, words, errors = _decode(got, n)
    if partial:
        errors.append(f"{len(partial)} words after the last tlast")
    errors += [f"frame {i}: the IP saw different input bytes" for i, f in enumerate(frames)
               if i >= len(env.ip.frames_in) or not np.array_equal(env.ip.frames_in[i], f)]
    counters = {"frames_done": await env.fsic.read(R.FRAMES_DONE), "frames_in": await env.fsic.read(R.FRAMES_IN),
                "words_in": await env.fsic.read(R.WORDS_IN), "words_out": await env.fsic.read(R.WORDS_OUT),
                "err": await env.fsic.read(R.ERR)}
    if counters["frames_done"] != n or counters["err"] != 0:
        errors.append(f"counters after {n} frames: {counters}")
    violations = env.sm_rule.violations + env.ipin_rule.violations
    if violations:
        errors.append(f"{len(violations)} AXI-Stream rule violations, first: {violations[0]}")
    if outs:
        np.savez(os.environ["UF_OUT_NPZ"], outputs=np.array(outs), words=np.array(words, dtype=np.uint64))
    _status(status="complete", frames=n, errors=errors, counters=counters, words_in_per_frame=P["words_in"],
            words_out_per_frame=P["words_out"], sim_cycles=int((t1 - t0) // CLK_NS), ip_latency_cycles=LATENCY,
            cycle_budget=budget, sm_backpressure=bp, ss_gaps=gaps, protocol_violations=len(violations))
    assert not errors, errors


@cocotb.test()
async def test_cosim_frames(dut):
    frames = np.load(os.environ["UF_FRAMES_NPZ"])["frames"]
    budget = int(os.environ["UF_CYCLE_BUDGET"])
    status = os.path.splitext(os.environ["UF_OUT_NPZ"])[0] + ".json"
    try:
        await _run(dut, frames, budget)
    except Exception as e:
        if not os.path.exists(status):  # the bench stopped before it could say more: "could not simulate"
            _status(status="error", frames=len(frames), error=f"{type(e).__name__}: {e}")
        raise
