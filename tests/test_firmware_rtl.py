"""Issue #17: the real compiled RV32I firmware drives the real USER_PRJ0 RTL.

The Caravel example (firmware/example/main.c + unet_app.c + the driver firmware/src/unet_fsic.c) is compiled with
Debian's riscv64-unknown-elf-gcc through firmware/Makefile against a generated build, loaded into an RV32I
instruction-set simulator (Unicorn, fsic_wrapper/sim/rv32_iss.py) with the Caravel memory map of firmware/link.ld, and
every access it makes to the FSIC user-project window becomes an FSIC-pattern AXI-Lite access to the build's wrapper
RTL in a cocotb simulation (fsic_wrapper/sim/test_firmware_iss.py; IP = the wrapper's deterministic stand-in model,
the FPGA side streams one frame once the firmware started the IP and takes the result).

The recorded run is checked here against expectations written in this file from the documented protocol
(firmware/README.md, fsic_wrapper/README.md), not taken from the firmware or the RTL:
  * status words (reg_mprj_datal / FSIC mailbox): 0xAB60_0000 running, 0xAB61_0000 pass, 0xAB6F_ssrr fail at step
    ss with driver code -rr (identity = step 1, E_IDENTITY = -3);
  * register accesses: project 0 selected (0 written to 0x3000_5000) before any user-project access; every identity
    register read; one AP_START; ISR polled (each poll one read) until DONE; counters read;
  * the identity values and counters the firmware read = the build's sizes / what this test's FPGA side sent and
    received; the output frame = the stand-in model (class = (r+g+b) mod classes) packed 6 five-bit fields a word;
  * firmware compiled against a build whose model hash differs (RTL of the original): identity refused with exactly
    the model-hash bit, and the IP never started (no CTRL write, no ap_start, no stream traffic).

Missing tool (riscv64-unknown-elf-gcc, make, a simulator, unicorn): skip locally, FAIL when CI is set.
"""
from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.hw import regmap, rtl

REPO = Path(__file__).resolve().parent.parent
FW = REPO / "firmware"
SIM_EXE = {"icarus": "iverilog", "verilator": "verilator"}

# ---- the documented protocol (firmware/README.md), written out independently of the C sources
CARAVEL_MPRJ_DATAL = 0x2600_000C
PRJ_SEL = 0x3000_5000
USER = 0x3000_0000
MAILBOX = 0x3000_2000
ST_RUNNING, ST_PASS, ST_FAIL = 0xAB60_0000, 0xAB61_0000, 0xAB6F_0000
STEP_IDENTITY, E_IDENTITY = 1, -3
IDDIFF_MODEL_HASH = 1 << 5          # unet_fsic.h: bit 5 of the identity mismatch mask
ST_IDENTITY_REFUSED = ST_FAIL | (STEP_IDENTITY << 8) | (-E_IDENTITY)   # 0xAB6F_0103

PARAMS = dict(H=8, W=8, C=3, classes=21, output_mode="argmax", weight_bits=5, act_bits=8, model_hash=0x5EED_0001,
              hls_top_name="myproject")


# ------------------------------------------------------------------------------------------------ helpers
def need_tools(*sims: str):
    """Cross compiler + make + simulators + unicorn: skip when missing, FAIL when CI is set."""
    from _support import require_tools

    require_tools("riscv64-unknown-elf-gcc", "riscv64-unknown-elf-objcopy", "riscv64-unknown-elf-size", "make",
                  *(SIM_EXE[s] for s in sims), modules=("unicorn",))


def build_firmware(build_dir: Path) -> Path:
    """The Caravel example compiled against <build_dir>/fsic/include (make -C firmware BUILD=...)."""
    out = build_dir / "firmware"
    r = subprocess.run(["make", "-C", str(FW), f"BUILD={build_dir}", f"OUT={out}"], capture_output=True, text=True)
    assert r.returncode == 0, f"firmware build failed:\n{r.stdout}\n{r.stderr}"
    assert "-march=rv32i -mabi=ilp32" in r.stdout
    return out / "unet_fsic_example.elf"


def run_firmware_on_rtl(sim: str, fsic: Path, runs: list[tuple[str, Path]], work: Path, seed: int = 5) -> dict:
    """Build <fsic>'s USER_PRJ0 (+ IP shell) for `sim` and run each firmware ELF on it (a reset before each);
    returns the bench's record {"params", "runs": [...]} (see fsic_wrapper/sim/test_firmware_iss.py)."""
    from pipeline.hw import rtlsim

    work.mkdir(parents=True, exist_ok=True)
    results = work / f"fw_runs_{sim}.json"
    env = {"UF_FW_RESULTS": results, "UF_FW_RUNS": json.dumps([{"name": n, "elf": str(e)} for n, e in runs]),
           "UF_FW_SEED": seed}
    total, failed = rtlsim.run_fsic(sim, fsic, "test_firmware_iss", ["firmware_runs"], work, env)
    assert total == 1 and failed == 0, f"the firmware bench failed on {sim} (see {work})"
    out = json.loads(results.read_text())
    assert [r["name"] for r in out["runs"]] == [n for n, _ in runs]
    return out


def user_accesses(rec, op=None, off=None):
    """(op, offset, value) of the accesses to the user-project window, in program order."""
    return [(o, a - USER, v) for o, a, v in rec["accesses"]
            if USER <= a < USER + 0x1000 and (op is None or o == op) and (off is None or a - USER == off)]


def gpio_status(rec):
    return [v for o, a, v in rec["accesses"] if o == "W" and a == CARAVEL_MPRJ_DATAL]


def expected_identity(p: dict) -> dict:
    """What the ID_* / OUT_MODE registers must hold for build p (fsic_wrapper/README.md register table)."""
    class_bits = max(1, (p["classes"] - 1).bit_length())
    fields = 32 // class_bits
    return {"ID_MAGIC": 0x554E4653, "ID_VERSION": 2, "ID_IMG": (p["H"] << 16) | p["W"],
            "ID_CH": (p["C"] << 16) | p["classes"],
            "ID_BITS": p["weight_bits"] | (p["act_bits"] << 8) | (8 << 16) | (class_bits << 24),
            "ID_MODEL_HASH": p["model_hash"], "ID_WORDS_IN": math.ceil(p["H"] * p["W"] * p["C"] / 4),
            "ID_WORDS_OUT": math.ceil(p["H"] * p["W"] / fields),
            "OUT_MODE": 1 | (fields << 8) | (class_bits << 16)}


def summod_output_bytes(frame: bytes, p: dict) -> bytes:
    """The stand-in IP's answer (class = (r+g+b) mod classes per pixel) in the argmax stream format: 6 five-bit fields
    per word (pixel i in field i%6 of word i/6), little-endian words, the last word cut to the bytes holding fields."""
    cls = [sum(frame[i:i + p["C"]]) % p["classes"] for i in range(0, len(frame), p["C"])]
    fb = max(1, (p["classes"] - 1).bit_length())
    n = 32 // fb
    out = b""
    for i in range(0, len(cls), n):
        chunk = cls[i:i + n]
        w = sum(c << (k * fb) for k, c in enumerate(chunk))
        out += w.to_bytes(4, "little")[:math.ceil(len(chunk) * fb / 8)]
    return out


def check_pass_run(rec: dict, p: dict):
    """The example finished its frame on the RTL and said so, by the documented protocol."""
    assert rec["stop"] == "parked", (rec["stop"], rec["violations"])
    assert not rec["violations"], rec["violations"]
    assert gpio_status(rec) == [ST_RUNNING, ST_PASS], [hex(v) for v in gpio_status(rec)]
    mb = rec["mailbox"]
    assert mb[0] == ST_PASS and mb[1] == 0, [hex(v) for v in mb]

    # project 0 selected before the first user-project access
    acc = rec["accesses"]
    i_sel = next(i for i, (o, a, v) in enumerate(acc) if o == "W" and a == PRJ_SEL)
    assert acc[i_sel][2] == 0
    first_user = next(i for i, (o, a, v) in enumerate(acc) if USER <= a < USER + 0x1000)
    assert i_sel < first_user

    # every identity register read, with the build's values
    off = regmap.OFFSETS
    ua = user_accesses(rec)
    reads = {o: v for op, o, v in ua if op == "R"}
    exp_id = expected_identity(p)
    for name, val in exp_id.items():
        assert off[name] in reads, f"{name} never read"
        assert reads[off[name]] == val, f"{name}: read {reads[off[name]]:#x}, build says {val:#x}"

    # exactly one start (CTRL write with AP_START), after the identity reads
    ctrl_w = [(i, v) for i, (op, o, v) in enumerate(ua) if op == "W" and o == off["CTRL"]]
    starts = [i for i, v in ctrl_w if v & 1]
    assert len(starts) == 1, ctrl_w
    last_id_read = max(i for i, (op, o, v) in enumerate(ua) if op == "R" and o in {off[n] for n in exp_id})
    assert last_id_read < starts[0]
    assert rec["ip_starts"] == 1

    # the FPGA side sent one frame and got one back; it is the stand-in model's answer
    assert len(rec["frames_sent"]) == 1 and len(rec["frames_received"]) == 1
    frame = bytes.fromhex(rec["frames_sent"][0])
    assert len(frame) == p["H"] * p["W"] * p["C"]
    assert bytes.fromhex(rec["frames_received"][0]) == summod_output_bytes(frame, p)
    words_sent = math.ceil(len(frame) / 4)
    beats_out = len(rec["sm_beats"])
    assert [b[2] for b in rec["sm_beats"]] == [0] * (beats_out - 1) + [1]

    # ISR polled after the start, one read per poll; the poll count the firmware reports = the ISR reads it made
    isr_reads = [i for i, (op, o, v) in enumerate(ua) if op == "R" and o == off["ISR"] and i > starts[0]]
    assert isr_reads and mb[6] == len(isr_reads)
    assert ua[isr_reads[-1]][2] & 1, "the wait ended without ISR.DONE"

    # counters the firmware read (last read of each) = what this test's FPGA side streamed
    def last_read(name):
        return [v for op, o, v in ua if op == "R" and o == off[name]][-1]
    got = {n: last_read(n) for n in ("FRAMES_DONE", "WORDS_IN", "WORDS_OUT", "FRAMES_IN", "ERR")}
    assert got == {"FRAMES_DONE": 1, "WORDS_IN": words_sent, "WORDS_OUT": beats_out, "FRAMES_IN": 1, "ERR": 0}, got
    assert mb[2:6] == [1, words_sent, beats_out, 0]


def check_identity_refused(rec: dict, rtl_hash: int):
    """The firmware compiled for another model hash refused the RTL and never started the IP."""
    assert rec["stop"] == "parked", (rec["stop"], rec["violations"])
    assert not rec["violations"], rec["violations"]
    assert gpio_status(rec) == [ST_RUNNING, ST_IDENTITY_REFUSED], [hex(v) for v in gpio_status(rec)]
    mb = rec["mailbox"]
    assert mb[0] == ST_IDENTITY_REFUSED and mb[1] == IDDIFF_MODEL_HASH, [hex(v) for v in mb]
    assert [(o, v) for o, a, v in rec["accesses"] if a == PRJ_SEL] == [("W", 0)]
    off = regmap.OFFSETS
    assert [v for _, _, v in user_accesses(rec, "R", off["ID_MODEL_HASH"])] == [rtl_hash]
    assert not user_accesses(rec, "W"), "the firmware wrote a register of a build it refused"
    assert rec["ip_starts"] == 0 and not rec["frames_sent"] and not rec["sm_beats"]


# ------------------------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_firmware_drives_rtl(sim, tmp_path):
    """Example firmware (built for the RTL's identity) runs a frame on the RTL and reports pass; the same firmware
    built for a model hash that differs refuses the RTL at the identity check and never starts it."""
    need_tools(sim)
    t0 = time.monotonic()
    good, other = tmp_path / "good", tmp_path / "other"
    rtl.write_wrapper(good, PARAMS)
    rtl.write_wrapper(other, dict(PARAMS, model_hash=0x5EED_0002))
    fw_good, fw_other = build_firmware(good), build_firmware(other)
    res = run_firmware_on_rtl(sim, good / "fsic", [("good", fw_good), ("other_hash", fw_other)], tmp_path)
    p = dict(PARAMS)
    rec_good, rec_other = res["runs"]
    check_pass_run(rec_good, p)
    check_identity_refused(rec_other, PARAMS["model_hash"])
    print(f"\n{sim}: {time.monotonic() - t0:.1f} s; pass run {len(rec_good['accesses'])} accesses, "
          f"{rec_good['mailbox'][6]} ISR polls, {rec_good['sim_ns']} ns simulated, ISS+sim {rec_good['wall_s']} s")


def test_bench_catches_a_firmware_that_skips_the_project_select(tmp_path):
    """The bench can fail: an access to the user-project window before project 0 is selected is a violation (the
    ISS stops), and check_pass_run rejects the record.  A tiny hand-written RV32I program, assembled here."""
    need_tools("icarus")
    build = tmp_path / "b"
    rtl.write_wrapper(build, PARAMS)
    src = tmp_path / "bad.S"
    # lw from ID_MAGIC without selecting the project first, then park
    src.write_text(".section .text.start,\"ax\"\n.globl _start\n_start:\n li t0, 0x30000040\n lw t1, 0(t0)\n"
                   "1: j 1b\n")
    elf = tmp_path / "bad.elf"
    r = subprocess.run(["riscv64-unknown-elf-gcc", "-march=rv32i", "-mabi=ilp32", "-nostdlib", "-nostartfiles",
                        "-T", str(FW / "link.ld"), "-o", str(elf), str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rec = run_firmware_on_rtl("icarus", build / "fsic", [("bad", elf)], tmp_path)["runs"][0]
    assert rec["stop"] == "violation"
    assert rec["violations"] == ["read of user-project offset 0x40 before project 0 was selected"]
    with pytest.raises(AssertionError):
        check_pass_run(rec, PARAMS)
