"""``cosim`` stage and ``unet-fsic cosim``: the RTL co-simulation of a build's wrapper + IP, compared with Keras.

* **vendor**: when the backend's HLS tool is on PATH (``vitis-run`` for Vitis, ``vivado_hls`` for Vivado), hls4ml's
  own C/RTL co-simulation of the HLS IP (``hls_model.build(csim=False, synth=True, cosim=True)``), with the
  validation frames and Keras predictions as its test-bench data; the vendor report is parsed into the result.
* **open** (otherwise -- always on these machines): cocotb 1.9 with cocotbext-axi drives ``cosim.frames``
  validation frames through the *real* USER_PRJ0 RTL on Icarus Verilog and/or Verilator (the runner:
  :mod:`pipeline.hw.rtlsim`), with random sm_tready back-pressure and ss_tvalid gaps and an AXI4-Stream rule checker;
  the HLS IP is replaced by a cocotb model that runs **the build's compiled hls4ml C model**
  (``fsic_wrapper/sim/uf_hls_ip.py``) after ``cosim.ip_latency`` cycles. The decoded output words are compared with
  the Keras model (argmax, lowest index on ties / logit codes).

Both write ``<build>/cosim/report.{json,md}`` saying which of the two ran; the open one also keeps each simulator's
log (``<sim>.log``) and decoded outputs (``outputs_<sim>.npz``: ``outputs``, ``words``).

Outcomes (the previous report and outputs are removed first, once the arguments are checked, so a failed or
interrupted run never leaves an old PASS behind):

* the arguments are wrong (``--frames`` out of range, no simulator, no conversion / wrapper) -- one line, exit 2,
  nothing touched;
* the simulation could not be built or run (the compiled C model does not load, a simulator's compile fails, the
  simulator dies, the bench times out or stops before every frame came out) -- one line naming the simulator and its
  log, exit 2, no report;
* every frame was simulated and compared -- the report; PASS, or exit 1 with "outputs differ from Keras" (or what
  else the design got wrong: malformed frames, protocol violations, counters).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from ..build import BuildDir
from ..errors import UserError
from ..hw import rtlsim
from ..hw.streams import csim_input, hardware_input
from . import Stage
from .wrap import read_interface

VENDOR_TOOLS = {"Vitis": "vitis-run", "Vivado": "vivado_hls"}


def keras_reference(config, images_u8, head: str) -> np.ndarray:
    """What the IP must output for these frames, from Keras: (n,H,W) argmax (lowest index on ties) or (n,H,W,K)
    logit codes (value * 2^frac of the logits layer's hls4ml output type)."""
    from ..hls.cmodel import keras_layer_outputs, logits_layer_name
    from ..hls.project import load_keras_model, prepare_model

    km = prepare_model(load_keras_model(config), head)
    name = logits_layer_name(km)
    ref = keras_layer_outputs(km, csim_input(images_u8), [name])[name].astype(np.float64)
    if head == "argmax":
        return np.argmax(ref, axis=-1)
    frac = read_interface(config)["out_frac_bits"]
    return np.rint(ref * 2.0 ** frac).astype(np.int64)


def cycle_budget(p: dict, frames: int, latency: int) -> int:
    """Clock cycles the bench waits for ``frames`` output frames: per frame the IP latency plus 20x the stream beats
    (input words, IP beats, output words) -- ~25x what a frame takes under the bench's back-pressure -- and a margin
    for reset and register accesses. A legal ``cosim.ip_latency`` never times out by construction; a design that
    hangs is caught after this many cycles."""
    return int(frames) * (int(latency) + 20 * (p["words_in"] + p["H"] * p["W"] + p["words_out"])) + 20000


def ip_clock_ps(config, bus_ps: int = 10_000) -> int:
    """user_clock2's period in the bench (ps, even) for a two-clock build: the bench's 10 ns axis_clk scaled by
    target.bus_clock_mhz / target.user_clock2_mhz (e.g. 5 MHz bus, 100 MHz IP: 500 ps)."""
    t = config["target"]
    return max(2, 2 * round(bus_ps * t["bus_clock_mhz"] / t["user_clock2_mhz"] / 2))


def _simulators(config, simulators, tool: str) -> list[str]:
    """The open simulators to run (non-empty, known, installed) -- checked before anything is touched."""
    sims = list(config["cosim"]["simulators"] if simulators is None else simulators)
    if not sims:
        raise UserError("cosim.simulators: empty -- nothing to simulate (choose icarus and/or verilator; "
                        f"{tool} is not on PATH for the vendor co-simulation)")
    for sim in sims:
        rtlsim.require_simulator(sim, "cosim.simulators")
    return sims


def _withdraw(d: Path) -> None:
    """Remove the previous report, outputs and logs: from here on a failure leaves no result at all."""
    for pattern in ("report.json", "report.md", "report.md.tmp", "outputs_*.npz", "*.log"):
        for old in d.glob(pattern):
            old.unlink()


def _simulate(sim: str, bd: BuildDir, env: dict, work: Path, n: int) -> dict:
    """One simulator: build + run the bench; the bench's status. UserError when it could not build or simulate."""
    log = bd.cosim / f"{sim}.log"
    out = work / f"out_{sim}.npz"
    t0 = time.time()
    try:
        total, failed = rtlsim.run_fsic(sim, bd.fsic, "test_cosim_frames", ["test_cosim_frames"], work,
                                        dict(env, UF_OUT_NPZ=out), log=log)
    except rtlsim.SimulationError as e:
        if e.phase == "build":
            first = rtlsim.first_error(log)
            raise UserError(f"cosim: could not build the {sim} simulation of {bd.filelist_sim} ("
                            f"{first + '; ' if first else ''}{e}); see {log}") from None
        raise UserError(f"cosim: could not simulate on {sim}: the simulator terminated abnormally ({e}); see {log}") \
            from None
    status = out.with_suffix(".json")
    st = json.loads(status.read_text()) if status.is_file() else {"status": "error", "error": "no result written"}
    if st["status"] == "timeout":
        raise UserError(f"cosim: could not simulate on {sim}: timed out -- {st['frames_out']} of {n} output frames "
                        f"within {st['cycle_budget']} clock cycles (cosim.ip_latency {env['UF_LATENCY']}); see {log}")
    if st["status"] != "complete":
        raise UserError(f"cosim: could not simulate on {sim}: the bench stopped before all {n} frames came out "
                        f"({st.get('error')}); see {log}")
    r = {"simulator": sim, "tests": total, "failed": failed, "wall_s": round(time.time() - t0, 1), "log": str(log),
         **{k: v for k, v in st.items() if k not in ("status", "frames")}}
    if out.is_file():
        r["npz"] = out
    return r


def _compare(r: dict, ref: np.ndarray, n: int) -> dict:
    """Verdict of one completed simulation against the Keras reference."""
    got = np.load(r["npz"])["outputs"] if "npz" in r else None
    if got is not None and got.shape == ref.shape:
        exact = float(np.mean(got == ref))
        frames_exact = int(np.sum(np.all((got == ref).reshape(n, -1), axis=1)))
    else:
        exact, frames_exact = 0.0, 0
        if got is not None:
            r["errors"] = r.get("errors", []) + [f"outputs of shape {got.shape}, Keras {ref.shape}"]
    if r["failed"] and not r.get("errors"):
        r["errors"] = [f"{r['failed']} of {r['tests']} cocotb tests failed (see {r['log']})"]
    r.update({"bit_exact_fraction": exact, "frames_bit_exact": frames_exact,
              "passed": bool(r["failed"] == 0 and not r.get("errors") and exact == 1.0)})
    return r


def _run_open(config, images, sims, head: str, tool: str, progress: bool) -> dict:
    """Each simulator in turn: the build's wrapper RTL with the compiled C model as the IP (absolute paths: the
    simulator runs in its own working directory); then the comparison with Keras and the report."""
    from ..hls.cmodel import compiled_model, ensure_compiled

    bd = BuildDir.of(config).resolved()
    n, latency = len(images), int(config["cosim"]["ip_latency"])
    ensure_compiled(config, bd.cosim / "compile.log")
    lib, itf = compiled_model(bd)  # loadable, before a simulator starts
    p = json.loads(bd.build_json.read_text())  # the simulated build
    budget = cycle_budget(p, n, latency)
    if p.get("ip_clock") == "user_clock2":   # ip_latency is in user_clock2 cycles: in bus cycles when it is slower
        budget = cycle_budget(p, n, latency * max(1, -(-ip_clock_ps(config) // 10_000)))
    work = BuildDir(bd.cosim).tempdir("run")
    try:
        np.savez(work / "frames.npz", frames=hardware_input(images))
        env = {"UF_MODEL": "uf_hls_ip:factory", "UF_HLS_LIB": lib, "UF_HLS_INTERFACE": itf, "UF_LATENCY": latency,
               "UF_FRAMES_NPZ": work / "frames.npz", "UF_CYCLE_BUDGET": budget}
        if p.get("ip_clock") == "user_clock2":
            # two-clock build: user_clock2 at the configured ratio to the bus clock (the bench's axis_clk is 10 ns)
            env["UF_IP_CLK_PS"] = ip_clock_ps(config)
        res = []
        for sim in _progress(sims, progress):
            res.append(_simulate(sim, bd, env, work, n))
        ref = keras_reference(config, images, head)
        per = [_compare(r, ref, n) for r in res]
        for r in per:
            npz = r.pop("npz", None)
            if npz is not None:
                shutil.copyfile(npz, bd.cosim / f"outputs_{r['simulator']}.npz")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    names = {"icarus": "Icarus Verilog", "verilator": "Verilator"}
    return {
        "kind": "open",
        "provenance": "RTL simulation (cocotb 1.9 + cocotbext-axi; " + ", ".join(names[s] for s in sims) + "): "
                      "real USER_PRJ0 RTL, HLS IP replaced by the build's compiled hls4ml C model (g++); vendor "
                      f"co-simulation not run ({tool} not on PATH)",
        "frames": n, "output_head": head, "ip_latency_cycles": latency, "cycle_budget": budget,
        "words_in_per_frame": p["words_in"], "words_out_per_frame": p["words_out"],
        "compared_with": "Keras model (argmax, lowest index on ties)" if head == "argmax" else
                         "Keras model logits as fixed-point codes",
        "simulators": per, "passed": bool(per) and all(r["passed"] for r in per)}


def _progress(sims, progress: bool):
    if not progress:
        yield from sims
        return
    from tqdm import tqdm

    with tqdm(total=len(sims), desc="cosim", unit="simulator", file=sys.stderr) as bar:
        for sim in sims:
            yield sim
            bar.update(1)


def _run_vendor(config, frames_u8, tool: str) -> dict:
    """hls4ml's vendor C/RTL cosimulation of the HLS IP (real tool only; never simulated here)."""
    from hls4ml.report import parse_vivado_report

    from ..hls.project import convert

    conv = convert(config)
    hm = conv.hls_model
    ref = keras_reference(config, frames_u8, conv.output_head)
    tb = BuildDir.of(config).cosim / "tb"
    tb.mkdir(parents=True, exist_ok=True)
    np.save(tb / "input.npy", csim_input(frames_u8).reshape(len(frames_u8), -1))
    np.save(tb / "output.npy", ref.reshape(len(frames_u8), -1).astype(np.float64))
    hm.config.config["InputData"] = str(tb / "input.npy")
    hm.config.config["OutputPredictions"] = str(tb / "output.npy")
    hm.write()
    t0 = time.time()
    try:
        hm.build(reset=True, csim=False, synth=True, cosim=True, validation=True)
    except Exception as e:  # noqa: BLE001 - whatever the vendor flow raises: one line pointing to its project
        raise UserError(f"cosim: the {tool} C/RTL co-simulation could not run ({e}); see the tool's logs in "
                        f"{hm.config.get_output_dir()}") from None
    rep = parse_vivado_report(hm.config.get_output_dir()) or {}
    co = rep.get("CosimReport", {})
    return {"tool": tool, "wall_s": round(time.time() - t0, 1), "cosim_report": co, "synth_report":
            rep.get("CSynthesisReport", {}), "passed": str(co.get("RTLSimStatus", co.get("Status", ""))).lower()
            in ("pass", "passed")}


def run(config, frames=None, simulators=None, progress=None) -> dict:
    """Run the co-simulation (vendor when available, else open); write ``<build>/cosim/report.{json,md}``. The
    arguments, the conversion and the wrapper are checked before anything is touched; then the previous result is
    removed. :class:`UserError` when the simulation could not be built or run (see the module doc)."""
    from keras_model.model_io import save_json

    from .csim import validation_frames

    images = validation_frames(config, frames, "cosim")
    n = len(images)
    tool = VENDOR_TOOLS.get(config["hls"]["backend"])
    vendor = bool(tool and shutil.which(tool))
    sims = [] if vendor else _simulators(config, simulators, tool)
    head = read_interface(config)["output_mode"]
    bd = BuildDir.of(config)
    if not bd.build_json.is_file():
        raise UserError(f"{bd.fsic}: missing -- run `unet-fsic wrap CONFIG` first")
    if progress is None:
        progress = sys.stderr.isatty()
    d = bd.cosim
    d.mkdir(parents=True, exist_ok=True)
    _withdraw(d)
    t0 = time.time()
    if vendor:
        v = _run_vendor(config, images, tool)
        report = {"kind": "vendor", "provenance": f"vendor C/RTL co-simulation ({tool}, hls4ml build)",
                  "frames": n, "output_head": head, "vendor": v, "passed": v["passed"]}
    else:
        report = _run_open(config, images, sims, head, tool, progress)
    report["wall_s"] = round(time.time() - t0, 1)
    save_json(d / "report.json", report)
    tmp = d / "report.md.tmp"
    tmp.write_text(to_markdown(report))
    os.replace(tmp, d / "report.md")
    return report


def failure(r: dict, d: Path) -> str:
    """The one line for a report that did not pass: what differs, per simulator."""
    if r["kind"] == "vendor":
        return f"vendor co-simulation ({r['vendor']['tool']}) did not pass (see {d}/report.md)"
    bad = [s for s in r["simulators"] if not s["passed"]]
    differ = [f"{s['simulator']}: {100 * s['bit_exact_fraction']:.2f} % bit-exact, {s['frames_bit_exact']}/"
              f"{r['frames']} frames" for s in bad if not s.get("errors")]
    other = [f"{s['simulator']}: {s['errors'][0]}" + (f" (+{len(s['errors']) - 1} more)" if len(s["errors"]) > 1
                                                       else "") for s in bad if s.get("errors")]
    what = "co-simulation outputs differ from Keras" if differ else "co-simulation failed"
    return f"{what} -- {'; '.join(differ + other)} (see {d}/report.md)"


def to_markdown(r: dict) -> str:
    lines = [f"# RTL co-simulation ({r['kind']})", "", f"- provenance: {r['provenance']}",
             f"- frames: {r['frames']} validation frames, output head {r['output_head']}"]
    if r["kind"] == "open":
        lines += [f"- IP latency model: {r['ip_latency_cycles']} cycles; stream words per frame: "
                  f"{r['words_in_per_frame']} in, {r['words_out_per_frame']} out",
                  f"- compared with: {r['compared_with']}", "",
                  "| simulator | cocotb | bit-exact vs Keras | frames exact | words in / out | sim cycles | "
                  "protocol violations | wall s |", "|---|---|---|---|---|---|---|---|"]
        for s in r["simulators"]:
            c = s.get("counters", {})
            lines.append(f"| {s['simulator']} | {s['tests'] - s['failed']}/{s['tests']} passed | "
                         f"{100 * s['bit_exact_fraction']:.2f} % | {s['frames_bit_exact']}/{r['frames']} | "
                         f"{c.get('words_in', '?')} / {c.get('words_out', '?')} | {s.get('sim_cycles', '?')} | "
                         f"{s.get('protocol_violations', '?')} | {s['wall_s']} |")
        lines += [f"- {s['simulator']}: {e}" for s in r["simulators"] for e in s.get("errors", [])]
    else:
        v = r["vendor"]
        lines += [f"- tool: {v['tool']} ({v['wall_s']} s)", f"- vendor cosim report: `{json.dumps(v['cosim_report'])}`"]
    lines += ["", f"**{'PASS' if r['passed'] else 'FAIL'}**"]
    return "\n".join(lines) + "\n"


def run_stage(config) -> dict:
    r = run(config)
    if not r["passed"]:
        raise UserError(f"cosim: {failure(r, BuildDir.of(config).cosim)}")
    return {k: v for k, v in r.items() if k != "vendor"} | ({"vendor": {k: v for k, v in r["vendor"].items()
                                                                         if k != "synth_report"}}
                                                             if r["kind"] == "vendor" else {})


def headline(s: dict) -> str:
    if s["kind"] == "vendor":
        return f"vendor cosim {'PASS' if s['passed'] else 'FAIL'} ({s['frames']} frames)"
    return ", ".join(f"{r['simulator']}: {r['frames_bit_exact']}/{s['frames']} frames bit-exact vs Keras"
                     for r in s["simulators"]) + " [RTL sim]"


STAGE = Stage("cosim", ("cosim",), ("wrap", "csim"), ("cosim/report.json", "cosim/outputs_*.npz"), run_stage,
              headline)


def cmd_cosim(args, cfg) -> int:
    r = run(cfg, frames=args.frames, simulators=args.simulator)
    print(to_markdown(r))
    print(f"[cosim] report in {BuildDir.of(cfg).cosim}/report.json")
    if not r["passed"]:
        print(f"unet-fsic: error: {failure(r, BuildDir.of(cfg).cosim)}", file=sys.stderr)
        return 1
    return 0


def register_cli(add):
    sp = add("cosim", cmd_cosim, "RTL co-simulation: vendor C/RTL cosim when vitis-run / vivado_hls is on PATH, "
             "otherwise cocotb on Icarus/Verilator with the compiled hls4ml C model as the IP; compares with Keras "
             "(report in BUILD/cosim); exit 1 when the outputs differ, 2 when it could not simulate")
    sp.add_argument("--frames", type=int, help="validation frames (default cosim.frames)")
    sp.add_argument("--simulator", action="append", choices=("icarus", "verilator"),
                    help="open simulator to run (repeatable; default cosim.simulators)")
