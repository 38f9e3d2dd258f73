"""``unet-fsic wrap`` and ``unet-fsic cosim``: the FSIC USER_PRJ0 wrapper of a build, and its RTL co-simulation.

``wrap`` reads what ``convert`` wrote (``<build>/hls/interface.json``: the HLS top's name, AXI-Stream ports and
element types) and the config (image size, classes, bit-widths, output head), and writes ``<build>/fsic/``
(generated Verilog + helpers, C and Python register headers, build identity, file lists; see pipeline.wrap) --
atomically, through a temporary directory inside the build dir.

``cosim`` proves the wrapper + IP against Keras:

* **vendor**: when the backend's HLS tool is on PATH (``vitis-run`` for Vitis, ``vivado_hls`` for Vivado), hls4ml's
  own C/RTL co-simulation of the HLS IP (``hls_model.build(csim=False, synth=True, cosim=True)``), with the
  validation frames and Keras predictions as its test-bench data; the vendor report is parsed into the result.
* **open** (otherwise -- always on these machines): cocotb 1.9 with cocotbext-axi drives ``cosim.frames``
  validation frames through the *real* USER_PRJ0 RTL on Icarus Verilog and/or Verilator, with random sm_tready
  back-pressure and ss_tvalid gaps and an AXI4-Stream rule checker; the HLS IP is replaced by a cocotb model that
  runs **the build's compiled hls4ml C model** (``fsic_wrapper/sim/uf_hls_ip.py``) after ``cosim.ip_latency``
  cycles. The decoded output words are compared with the Keras model (argmax, lowest index on ties / logit codes).

Both write ``<build>/cosim/report.{json,md}`` saying which of the two ran; the open one also keeps each simulator's
log (``<sim>.log``) and decoded outputs (``outputs_<sim>.npz``: ``outputs``, ``words``). Exit status 1 on any
mismatch.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import zlib
from pathlib import Path

import contextlib

import numpy as np

from . import wrap
from .errors import UserError

REPO = Path(__file__).resolve().parent.parent
SIM_DIR = REPO / "fsic_wrapper" / "sim"
VENDOR_TOOLS = {"Vitis": "vitis-run", "Vivado": "vivado_hls"}


# ----------------------------------------------------------------------------------------------------------- wrap
def hls_dir(config) -> Path:
    return Path(config["build_dir"]) / "hls"


def fsic_dir(config) -> Path:
    return Path(config["build_dir"]) / "fsic"


def read_interface(config) -> dict:
    p = hls_dir(config) / "interface.json"
    if not p.is_file():
        raise UserError(f"{p}: missing -- run `unet-fsic convert CONFIG` first")
    return json.loads(p.read_text())


def model_hash(config) -> int:
    """CRC-32 of the IP's weights as generated (``hls/firmware/weights/*``, sorted by name): what the bitstream
    carries, so firmware can refuse a mismatched build."""
    wdir = hls_dir(config) / "firmware" / "weights"
    files = sorted(p for p in wdir.glob("*") if p.is_file()) if wdir.is_dir() else []
    if not files:
        raise UserError(f"{wdir}: no weight files -- run `unet-fsic convert CONFIG` first")
    h = 0
    for f in files:
        h = zlib.crc32(f.name.encode(), h)
        h = zlib.crc32(f.read_bytes(), h)
    return h & 0xFFFFFFFF


def wrap_params(config) -> dict:
    """Wrapper parameters (pipeline.wrap.resolve_params keys) of this build, from the conversion's interface."""
    itf = read_interface(config)
    if itf.get("io_type") != "io_stream":
        raise UserError(f"hls.io_type: the FSIC wrapper needs an io_stream IP, this build is {itf.get('io_type')}")
    h, w, c = itf["in_shape"]
    if itf["in_elem_bits"] < 8 or itf["in_frac_bits"] != 8 or itf["in_signed"]:
        raise UserError(f"hls: the IP input type {itf['in_type']} is not the 8-bit unsigned code the stream carries "
                        f"(expected ap_ufixed<8,0>)")
    head = itf["output_mode"]
    q = config["quant"]
    params = dict(H=h, W=w, C=c, classes=int(config["model"]["num_classes"]), output_mode=head,
                  weight_bits=int(q["weight_bits"]), act_bits=int(q["act_bits"]), model_hash=model_hash(config),
                  hls_top_name=itf["hls_top_name"], hls_in_port=itf["hls_in_port"], hls_out_port=itf["hls_out_port"],
                  in_elem_bits=itf["in_elem_bits"], in_shift=0, in_tdata_width=itf["in_tdata_width"],
                  out_tdata_width=itf["out_tdata_width"], out_elem_bits=itf["out_elem_bits"], out_shift=0)
    if head == "logits":
        params["logit_bits"] = itf["out_elem_bits"]
    else:
        params["class_bits"] = max(1, int(params["classes"] - 1).bit_length())
    try:
        return wrap.resolve_params(params)
    except ValueError as e:
        raise UserError(f"wrap: {e}") from None


def write_wrap(config) -> dict:
    """Write ``<build>/fsic`` atomically; returns a summary."""
    p = wrap_params(config)
    build = Path(config["build_dir"])
    tmp = Path(tempfile.mkdtemp(dir=build, prefix=".fsic.tmp-"))
    try:
        files = wrap.write_wrapper(tmp, p)
        final = fsic_dir(config)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp / "fsic", final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rel = sorted(str(Path("fsic") / f.relative_to(tmp / "fsic")) for f in files)
    return {"files": rel, "params": {k: p[k] for k in ("H", "W", "C", "classes", "output_mode", "weight_bits",
                                                        "act_bits", "hls_top_name", "words_in", "words_out")},
            "model_hash": f"0x{p['model_hash']:08X}", "dir": str(fsic_dir(config))}


def wrap_headline(s: dict) -> str:
    p = s["params"]
    return (f"USER_PRJ0 for {p['hls_top_name']} ({p['output_mode']}), {p['words_in']} words in / {p['words_out']} "
            f"out per frame, model hash {s['model_hash']}")


# ---------------------------------------------------------------------------------------------------------- cosim
def cosim_dir(config) -> Path:
    return Path(config["build_dir"]) / "cosim"


def compiled_lib(build_dir) -> Path | None:
    """The newest shared library ``hls_model.compile()`` wrote into ``<build_dir>/hls/firmware`` (None if none)."""
    libs = sorted((Path(build_dir) / "hls" / "firmware").glob("*.so"), key=lambda p: p.stat().st_mtime)
    return libs[-1] if libs else None


def _ensure_compiled(config) -> Path:
    lib = compiled_lib(config["build_dir"])
    if lib is None:  # csim not run yet: convert + compile (g++) here
        from .convert import convert

        convert(config).compile()
        lib = compiled_lib(config["build_dir"])
    if lib is None:
        raise UserError(f"{hls_dir(config)}/firmware: hls4ml compile produced no shared library")
    return lib


def keras_reference(config, images_u8, head: str) -> np.ndarray:
    """What the IP must output for these frames, from Keras: (n,H,W) argmax (lowest index on ties) or (n,H,W,K)
    logit codes (value * 2^frac of the logits layer's hls4ml output type)."""
    from .convert import load_keras_model, prepare_model
    from .csim import csim_input, keras_layer_outputs, logits_layer_name

    km = prepare_model(load_keras_model(config), head)
    name = logits_layer_name(km)
    ref = keras_layer_outputs(km, csim_input(images_u8), [name])[name].astype(np.float64)
    if head == "argmax":
        return np.argmax(ref, axis=-1)
    frac = read_interface(config)["out_frac_bits"]
    return np.rint(ref * 2.0 ** frac).astype(np.int64)


@contextlib.contextmanager
def _stdout_to(path: Path):
    """Send this process's stdout and stderr (fds 1, 2: cocotb's runner and the simulator it starts) to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _run_open(config, frames_u8, sims, latency, work: Path, progress: bool) -> list[dict]:
    from cocotb.runner import get_results, get_runner

    from .csim import hardware_input

    # absolute paths only: the simulator runs in its own working directory
    fsic = fsic_dir(config).resolve()
    work = work.resolve()
    if not (fsic / "python" / "unet_fsic_build.json").is_file():
        raise UserError(f"{fsic}: missing -- run `unet-fsic wrap CONFIG` first")
    lib = _ensure_compiled(config).resolve()
    srcs = [Path(line) if Path(line).is_absolute() else fsic / line
            for line in (fsic / "filelist_sim.f").read_text().split() if line.endswith(".v")]
    np.savez(work / "frames.npz", frames=hardware_input(frames_u8))
    if str(SIM_DIR) not in sys.path:  # cocotb.runner hands sys.path to the simulator as PYTHONPATH
        sys.path.insert(0, str(SIM_DIR))
    results = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(sims), desc="cosim", unit="simulator", file=sys.stderr)
    for sim in sims:
        exe = "iverilog" if sim == "icarus" else "verilator"
        if shutil.which(exe) is None:
            raise UserError(f"cosim.simulators: {sim} is not installed ({exe} not on PATH; scripts/setup.sh "
                            f"installs it)")
        t0 = time.time()
        runner = get_runner(sim)
        bdir = work / f"sim_{sim}"
        build_args = ["-Wno-fatal", "-Wno-WIDTH", "-Wno-UNUSED"] if sim == "verilator" else []
        log = cosim_dir(config).resolve() / f"{sim}.log"
        log.unlink(missing_ok=True)
        with _stdout_to(log):
            runner.build(verilog_sources=srcs, includes=[fsic / "rtl"], hdl_toplevel="USER_PRJ0", build_dir=bdir,
                         build_args=build_args, always=True)
        t_build = time.time() - t0
        out = work / f"out_{sim}.npz"
        env = {"UF_BUILD_JSON": str(fsic / "python" / "unet_fsic_build.json"), "UF_MODEL": "uf_hls_ip:factory",
               "UF_HLS_LIB": str(lib), "UF_HLS_INTERFACE": str(hls_dir(config).resolve() / "interface.json"),
               "UF_LATENCY": str(latency), "UF_FRAMES_NPZ": str(work / "frames.npz"), "UF_OUT_NPZ": str(out)}
        try:
            with _stdout_to(log):
                xml = runner.test(hdl_toplevel="USER_PRJ0", test_module="test_cosim_frames",
                                  testcase=["test_cosim_frames"], build_dir=bdir, test_dir=work, extra_env=env)
            total, failed = get_results(Path(xml))
        except (SystemExit, RuntimeError, OSError) as e:  # the runner exits when the simulation dies
            raise UserError(f"cosim: the {sim} simulation terminated abnormally ({e}); see {log}") from None
        r = {"simulator": sim, "tests": total, "failed": failed, "build_s": round(t_build, 1),
             "wall_s": round(time.time() - t0, 1), "log": str(log)}
        if out.is_file():
            r["outputs"] = np.load(out)["outputs"]
            shutil.copyfile(out, cosim_dir(config) / f"outputs_{sim}.npz")
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

    from .convert import convert
    from .csim import csim_input

    hm = convert(config)
    ref = keras_reference(config, frames_u8, hm._fsic_output_head)
    tb = cosim_dir(config) / "tb"
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
    d = cosim_dir(config)
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
        work = Path(tempfile.mkdtemp(dir=d, prefix=".run-"))
        try:
            res = _run_open(config, images, sims, int(config["cosim"]["ip_latency"]), work, progress)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        p = json.loads((fsic_dir(config) / "python" / "unet_fsic_build.json").read_text())  # the simulated build
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
        raise UserError(f"cosim: outputs differ from Keras (see {cosim_dir(config)}/report.md)")
    return {k: v for k, v in r.items() if k != "vendor"} | ({"vendor": {k: v for k, v in r["vendor"].items()
                                                                         if k != "synth_report"}}
                                                             if r["kind"] == "vendor" else {})


def stage_headline(s: dict) -> str:
    if s["kind"] == "vendor":
        return f"vendor cosim {'PASS' if s['passed'] else 'FAIL'} ({s['frames']} frames)"
    return ", ".join(f"{r['simulator']}: {r['frames_bit_exact']}/{s['frames']} frames bit-exact vs Keras"
                     for r in s["simulators"]) + " [RTL sim]"


# ------------------------------------------------------------------------------------------------------------ CLI
def cmd_wrap(args, cfg) -> int:
    s = write_wrap(cfg)
    print(f"[wrap] {wrap_headline(s)}")
    print(f"[wrap] {len(s['files'])} files in {s['dir']} (filelist.f for synthesis, filelist_sim.f for simulation)")
    return 0


def cmd_cosim(args, cfg) -> int:
    r = run(cfg, frames=args.frames, simulators=args.simulator)
    print(to_markdown(r))
    print(f"[cosim] report in {cosim_dir(cfg)}/report.json")
    if not r["passed"]:
        print("unet-fsic: error: co-simulation outputs differ from Keras (see the report)", file=sys.stderr)
        return 1
    return 0


def register_cli(add):
    add("wrap", cmd_wrap, "generate the FSIC USER_PRJ0 wrapper of the converted build in BUILD/fsic (Verilog, "
        "register headers for C and Python, build identity, file lists)")
    sp = add("cosim", cmd_cosim, "RTL co-simulation: vendor C/RTL cosim when vitis-run / vivado_hls is on PATH, "
             "otherwise cocotb on Icarus/Verilator with the compiled hls4ml C model as the IP; compares with Keras "
             "(report in BUILD/cosim); exit 1 on mismatch")
    sp.add_argument("--frames", type=int, help="validation frames (default cosim.frames)")
    sp.add_argument("--simulator", action="append", choices=("icarus", "verilator"),
                    help="open simulator to run (repeatable; default cosim.simulators)")
