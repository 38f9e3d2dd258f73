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
log (``<sim>.log``) and decoded outputs (``outputs_<sim>.npz``: ``outputs``, ``words``). Exit status 1 on any
mismatch.
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


def _run_open(config, frames_u8, sims, latency, work: Path, progress: bool) -> list[dict]:
    """Each simulator in turn: the build's wrapper RTL with the compiled C model as the IP (absolute paths: the
    simulator runs in its own working directory)."""
    from ..hls.cmodel import ensure_compiled

    bd = BuildDir.of(config).resolved()
    work = work.resolve()
    if not bd.build_json.is_file():
        raise UserError(f"{bd.fsic}: missing -- run `unet-fsic wrap CONFIG` first")
    lib = ensure_compiled(config).resolve()
    np.savez(work / "frames.npz", frames=hardware_input(frames_u8))
    results = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(sims), desc="cosim", unit="simulator", file=sys.stderr)
    for sim in sims:
        rtlsim.require_simulator(sim, "cosim.simulators")
        t0 = time.time()
        log = bd.cosim / f"{sim}.log"
        log.unlink(missing_ok=True)
        out = work / f"out_{sim}.npz"
        env = {"UF_MODEL": "uf_hls_ip:factory", "UF_HLS_LIB": lib, "UF_HLS_INTERFACE": bd.interface_json,
               "UF_LATENCY": latency, "UF_FRAMES_NPZ": work / "frames.npz", "UF_OUT_NPZ": out}
        try:
            total, failed = rtlsim.run_fsic(sim, bd.fsic, "test_cosim_frames", ["test_cosim_frames"], work, env,
                                            log=log)
        except (SystemExit, RuntimeError, OSError) as e:  # the runner exits when the simulation dies
            raise UserError(f"cosim: the {sim} simulation terminated abnormally ({e}); see {log}") from None
        r = {"simulator": sim, "tests": total, "failed": failed, "wall_s": round(time.time() - t0, 1),
             "log": str(log)}
        if out.is_file():
            r["outputs"] = np.load(out)["outputs"]
            shutil.copyfile(out, bd.cosim / f"outputs_{sim}.npz")
            r.update(json.loads(out.with_suffix(".json").read_text()))
        results.append(r)
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    return results


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
    hm.build(reset=True, csim=False, synth=True, cosim=True, validation=True)
    rep = parse_vivado_report(hm.config.get_output_dir()) or {}
    co = rep.get("CosimReport", {})
    return {"tool": tool, "wall_s": round(time.time() - t0, 1), "cosim_report": co, "synth_report":
            rep.get("CSynthesisReport", {}), "passed": str(co.get("RTLSimStatus", co.get("Status", ""))).lower()
            in ("pass", "passed")}


def run(config, frames=None, simulators=None, progress=None) -> dict:
    """Run the co-simulation (vendor when available, else open); write ``<build>/cosim/report.{json,md}``."""
    from keras_model import data
    from keras_model.model_io import save_json

    n = int(frames or config["cosim"]["frames"])
    sims = list(simulators or config["cosim"]["simulators"])
    itf = read_interface(config)
    head = itf["output_mode"]
    images, _ = data.load(config, "val")
    if len(images) < n:
        raise UserError(f"cosim.frames: {n} frames requested but the validation split has {len(images)}")
    images = images[:n]
    if progress is None:
        progress = sys.stderr.isatty()
    d = BuildDir.of(config).cosim
    backend = config["hls"]["backend"]
    tool = VENDOR_TOOLS.get(backend)
    t0 = time.time()
    if tool and shutil.which(tool):
        v = _run_vendor(config, images, tool)
        report = {"kind": "vendor", "provenance": f"vendor C/RTL co-simulation ({tool}, hls4ml build)",
                  "frames": n, "output_head": head, "vendor": v, "passed": v["passed"]}
    else:
        ref = keras_reference(config, images, head)
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("outputs_*.npz"):
            old.unlink()
        work = BuildDir(d).tempdir("run")
        try:
            res = _run_open(config, images, sims, int(config["cosim"]["ip_latency"]), work, progress)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        p = json.loads(BuildDir.of(config).build_json.read_text())  # the simulated build
        per = []
        for r in res:
            got = r.pop("outputs", None)
            if got is not None and got.shape == ref.shape:
                exact = float(np.mean(got == ref))
                frames_exact = int(np.sum(np.all((got == ref).reshape(n, -1), axis=1)))
            else:
                exact, frames_exact = 0.0, 0
            r.update({"bit_exact_fraction": exact, "frames_bit_exact": frames_exact,
                      "passed": bool(r["failed"] == 0 and exact == 1.0)})
            per.append(r)
        report = {
            "kind": "open",
            "provenance": "RTL simulation (cocotb 1.9 + cocotbext-axi; " + ", ".join(
                {"icarus": "Icarus Verilog", "verilator": "Verilator"}[s] for s in sims) + "): real USER_PRJ0 "
                "RTL, HLS IP replaced by the build's compiled hls4ml C model (g++); vendor co-simulation not run ("
                f"{tool} not on PATH)",
            "frames": n, "output_head": head, "ip_latency_cycles": int(config["cosim"]["ip_latency"]),
            "words_in_per_frame": p["words_in"], "words_out_per_frame": p["words_out"],
            "compared_with": "Keras model (argmax, lowest index on ties)" if head == "argmax" else
                             "Keras model logits as fixed-point codes",
            "simulators": per, "passed": bool(per) and all(r["passed"] for r in per)}
    report["wall_s"] = round(time.time() - t0, 1)
    save_json(d / "report.json", report)
    tmp = d / "report.md.tmp"
    tmp.write_text(to_markdown(report))
    os.replace(tmp, d / "report.md")
    return report


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
    else:
        v = r["vendor"]
        lines += [f"- tool: {v['tool']} ({v['wall_s']} s)", f"- vendor cosim report: `{json.dumps(v['cosim_report'])}`"]
    lines += ["", f"**{'PASS' if r['passed'] else 'FAIL'}**"]
    return "\n".join(lines) + "\n"


def run_stage(config) -> dict:
    r = run(config)
    if not r["passed"]:
        raise UserError(f"cosim: outputs differ from Keras (see {BuildDir.of(config).cosim}/report.md)")
    return {k: v for k, v in r.items() if k != "vendor"} | ({"vendor": {k: v for k, v in r["vendor"].items()
                                                                         if k != "synth_report"}}
                                                             if r["kind"] == "vendor" else {})


def headline(s: dict) -> str:
    if s["kind"] == "vendor":
        return f"vendor cosim {'PASS' if s['passed'] else 'FAIL'} ({s['frames']} frames)"
    return ", ".join(f"{r['simulator']}: {r['frames_bit_exact']}/{s['frames']} frames bit-exact vs Keras"
                     for r in s["simulators"]) + " [RTL sim]"


STAGE = Stage("cosim", ("cosim",), ("wrap", "csim"), ("cosim/report.json",), run_stage, headline)


def cmd_cosim(args, cfg) -> int:
    r = run(cfg, frames=args.frames, simulators=args.simulator)
    print(to_markdown(r))
    print(f"[cosim] report in {BuildDir.of(cfg).cosim}/report.json")
    if not r["passed"]:
        print("unet-fsic: error: co-simulation outputs differ from Keras (see the report)", file=sys.stderr)
        return 1
    return 0


def register_cli(add):
    sp = add("cosim", cmd_cosim, "RTL co-simulation: vendor C/RTL cosim when vitis-run / vivado_hls is on PATH, "
             "otherwise cocotb on Icarus/Verilator with the compiled hls4ml C model as the IP; compares with Keras "
             "(report in BUILD/cosim); exit 1 on mismatch")
    sp.add_argument("--frames", type=int, help="validation frames (default cosim.frames)")
    sp.add_argument("--simulator", action="append", choices=("icarus", "verilator"),
                    help="open simulator to run (repeatable; default cosim.simulators)")
