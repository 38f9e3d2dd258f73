"""cocotb co-simulation of one build: frames from a file through the real USER_PRJ0 RTL, the IP being the build's
compiled hls4ml C model (uf_hls_ip). Used by ``unet-fsic cosim`` (pipeline/stages/cosim.py), which compares the decoded
outputs with Keras outside the simulator.

Environment (besides test_user_prj0's UF_BUILD_JSON / UF_LATENCY):
  UF_FRAMES_NPZ   input: ``frames`` uint8 (n, H, W, C) -- the raw codes the input stream carries
  UF_OUT_NPZ      output: ``outputs`` (n, H, W) class indices or (n, H, W, classes) signed logit codes, ``words``
                  (n, words_out) raw sm_tdata words; plus a JSON file next to it (same stem) with counters/cycles
  UF_SM_BACKPRESSURE / UF_SS_GAPS   probabilities of sm_tready low / ss_tvalid gaps (default 0.25 / 0.1)
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


@cocotb.test()
async def test_cosim_frames(dut):
    frames = np.load(os.environ["UF_FRAMES_NPZ"])["frames"]
    n = len(frames)
    bp = float(os.environ.get("UF_SM_BACKPRESSURE", "0.25"))
    gaps = float(os.environ.get("UF_SS_GAPS", "0.1"))
    env = Env(dut, seed=101, ss_gap=gaps, sm_bp=bp, latency=LATENCY)
    await env.start()
    t0 = get_sim_time("ns")
    for f in frames:
        await env.src.send(AxiStreamFrame(pack_input(f), tkeep=None))
    words_per_frame = P["words_out"]
    await env.wait_out_frames(n, timeout_cycles=400 * P["H"] * P["W"] * n + 100000)
    t1 = get_sim_time("ns")
    got, partial = env.out_frames()
    assert not partial, f"{len(partial)} words after the last tlast"
    outs, words = [], []
    for i, beats in enumerate(got[:n]):
        assert len(beats) == words_per_frame, f"frame {i}: {len(beats)} words, expected {words_per_frame}"
        assert [b[2] for b in beats] == [0] * (words_per_frame - 1) + [1], f"frame {i}: tlast misplaced"
        w = [b[0] for b in beats]
        words.append(w)
        outs.append(decode_words(w, P))
    for i, f in enumerate(frames):  # the IP received exactly what was sent (input packing / unpacking)
        assert np.array_equal(env.ip.frames_in[i], f), f"frame {i}: the IP saw different input bytes"
    counters = {"frames_done": await env.fsic.read(R.FRAMES_DONE), "frames_in": await env.fsic.read(R.FRAMES_IN),
                "words_in": await env.fsic.read(R.WORDS_IN), "words_out": await env.fsic.read(R.WORDS_OUT),
                "err": await env.fsic.read(R.ERR)}
    env.check_rules()
    out = os.environ["UF_OUT_NPZ"]
    np.savez(out, outputs=np.array(outs), words=np.array(words, dtype=np.uint64))
    stats = {"frames": n, "counters": counters, "words_in_per_frame": P["words_in"],
             "words_out_per_frame": words_per_frame, "sim_cycles": int((t1 - t0) // CLK_NS),
             "ip_latency_cycles": LATENCY, "sm_backpressure": bp, "ss_gaps": gaps,
             "protocol_violations": len(env.sm_rule.violations) + len(env.ipin_rule.violations)}
    with open(os.path.splitext(out)[0] + ".json", "w") as fh:
        json.dump(stats, fh, indent=2)
    assert counters["frames_done"] == n and counters["err"] == 0, counters
