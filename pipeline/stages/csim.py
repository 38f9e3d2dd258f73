"""``csim`` stage and ``unet-fsic csim``: Keras golden vs the hls4ml C simulation (g++), frame by frame, bit for bit.

:func:`run` writes the fidelity report (``<build_dir>/csim/report.json`` + ``report.md``): frames, fraction of
bit-exact logits, max |diff| in LSBs of the logits type, argmax agreement (hardware head vs numpy argmax of the Keras
logits, lowest index on ties), and on any mismatch the first diverging layer (hls4ml trace vs Keras per-layer
outputs, in graph order). The C model runner is :mod:`pipeline.hls.cmodel`; the input mapping
:mod:`pipeline.hw.streams`.
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from ..build import BuildDir
from ..errors import UserError
from ..hw.streams import csim_input
from . import Stage, pct

MAX_WORKERS = 256  # as the config's csim.workers


def validation_frames(config, frames, stage: str):
    """The first ``frames`` validation images (default: the config's ``<stage>.frames``). One :class:`UserError`
    unless 1 <= frames <= the validation split's size -- called before a stage converts, compiles or deletes
    anything."""
    from keras_model import data

    what = f"{stage}.frames" if frames is None else f"{stage} --frames"
    n = int(config[stage]["frames"] if frames is None else frames)
    images, _ = data.load(config, "val")
    if not 1 <= n <= len(images):
        raise UserError(f"{what}: {n} is out of range: the validation split has {len(images)} frames (allowed: "
                        f"1..{len(images)})")
    return images[:n]


def _workers(config, workers) -> int | None:
    if workers is None:
        return config["csim"].get("workers")
    if not 1 <= int(workers) <= MAX_WORKERS:
        raise UserError(f"csim --workers: {workers} is out of range (allowed: 1..{MAX_WORKERS})")
    return int(workers)


def _withdraw(d) -> None:
    """Remove the previous result first: a failed or interrupted run must not leave an old PASS behind."""
    for name in ("report.json", "report.md", "compile.log", "bounded.json"):
        (d / name).unlink(missing_ok=True)


def run(config, frames=None, conversion=None, workers=None, progress=None) -> dict:
    """Convert (unless ``conversion``, a :class:`pipeline.hls.project.Conversion`, is given), compile, run ``frames``
    validation frames through Keras and the C simulation, write ``<build_dir>/csim/report.{json,md}`` and return the
    report dict (``passed`` per threshold). ``frames`` / ``workers`` are checked before anything is written; g++'s
    output goes to ``csim/compile.log``."""
    from keras_model.model_io import save_json

    from ..hls.cmodel import compile_model, first_divergence, logits_layer_name
    from ..hls.project import convert

    images = validation_frames(config, frames, "csim")
    n = len(images)
    workers = _workers(config, workers)
    d = BuildDir.of(config).csim
    _withdraw(d)
    t0 = time.time()
    conv = conversion or convert(config)
    hls_model, km, head = conv.hls_model, conv.keras_model, conv.output_head
    t_conv = time.time() - t0
    logits_name = logits_layer_name(km)
    t1 = time.time()
    if head == "argmax":  # the logits are read with hls4ml's trace hook on that one layer
        for node in hls_model.get_layers():
            node.set_attr("trace", node.name == logits_name)
        hls_model.config.trace_output = True
    compile_model(hls_model, d / "compile.log")
    t_compile = time.time() - t1
    if progress is None:
        progress = sys.stderr.isatty()
    t2 = time.time()
    c_logits, c_argmax, ref = _simulate(conv, logits_name, images, workers, progress)
    t_sim = time.time() - t2

    thr = float(config["csim"]["threshold"])
    report = {"frames": n, "output_head": head, "backend": config["hls"]["backend"],
              "io_type": config["hls"]["io_type"], "logits_layer": logits_name,
              **_fidelity(hls_model.graph[logits_name], c_logits, c_argmax, ref, thr), "first_divergence": None,
              "timing_s": {"convert": round(t_conv, 2), "compile": round(t_compile, 2), "csim": round(t_sim, 2)},
              "csim_frames_per_s": round(n / t_sim, 3) if t_sim > 0 else None,
              "workers": int(max(1, min(int(workers or os.cpu_count() or 1), n))),
              "tool": "hls4ml C simulation (g++), compared with Keras/QKeras"}
    if not report["all_exact"]:
        frame_bad = np.any((c_logits != ref).reshape(n, -1), axis=1) | np.any(
            (c_argmax != np.argmax(ref, axis=-1)).reshape(n, -1), axis=1)
        bad = int(np.argmax(frame_bad))
        div = first_divergence(hls_model, km, images[bad:bad + 1], d / "compile.log")
        report["first_divergence"] = dict(div or {"layer": None}, frame=bad)
    d.mkdir(parents=True, exist_ok=True)
    save_json(d / "report.json", report)
    md = to_markdown(report)
    tmp = d / "report.md.tmp"
    tmp.write_text(md)
    os.replace(tmp, d / "report.md")
    return report


def _simulate(conv, logits_name, images, workers, progress):
    """(C model logits, C model argmax, Keras logits) on ``images``; the model is compiled."""
    from ..hls.cmodel import keras_layer_outputs, predict_csim

    hls_model, head = conv.hls_model, conv.output_head
    ref = keras_layer_outputs(conv.keras_model, csim_input(images), [logits_name])[logits_name].astype(np.float64)
    if head == "argmax":
        out, tr = predict_csim(hls_model, images, workers=workers, trace_layers=[logits_name], progress=progress)
        return tr[logits_name].reshape(ref.shape), out.reshape(ref.shape[:-1]), ref
    out = predict_csim(hls_model, images, workers=workers, progress=progress)
    c_logits = out.reshape(ref.shape)
    return c_logits, np.argmax(c_logits, axis=-1), ref


def _fidelity(lnode, c_logits, c_argmax, ref, thr: float) -> dict:
    """Bit-exactness of the C model's logits and argmax against the Keras logits ``ref`` (numpy argmax: lowest index
    on ties)."""
    n = ref.shape[0]
    ref_argmax = np.argmax(ref, axis=-1)
    lp = lnode.get_output_variable().type.precision
    lsb = 2.0 ** -(lp.width - lp.integer)
    diff = np.abs(c_logits - ref)
    exact = float(np.mean(diff == 0))
    agree = float(np.mean(c_argmax == ref_argmax))
    return {"logits_type": str(lp), "logits_bit_exact_fraction": exact,
            "frames_bit_exact": int(np.all((diff == 0).reshape(n, -1), axis=1).sum()),
            "max_abs_diff_lsb": float(diff.max() / lsb), "argmax_agreement": agree,
            "argmax_pixels": int(c_argmax.size), "argmax_mismatched_pixels": int(np.sum(c_argmax != ref_argmax)),
            "threshold": thr, "passed": bool(exact >= thr and agree >= thr), "all_exact": exact == 1.0 and agree == 1.0}


def to_markdown(r: dict) -> str:
    lines = [
        "# C simulation vs Keras (hls4ml csim, g++)", "",
        f"- frames: {r['frames']} ({r['backend']}, {r['io_type']}, output head: {r['output_head']})",
        f"- logits ({r['logits_layer']}, {r['logits_type']}): {100 * r['logits_bit_exact_fraction']:.4f} % bit-exact "
        f"({r['frames_bit_exact']}/{r['frames']} frames fully exact), max |diff| {r['max_abs_diff_lsb']:g} LSB",
        f"- argmax agreement: {100 * r['argmax_agreement']:.4f} % of {r['argmax_pixels']} pixels "
        f"({r['argmax_mismatched_pixels']} differ; tie rule: lowest class index)",
        f"- threshold {100 * r['threshold']:g} %: {'PASS' if r['passed'] else 'FAIL'}",
        f"- time: convert {r['timing_s']['convert']} s, compile {r['timing_s']['compile']} s, csim "
        f"{r['timing_s']['csim']} s ({r['csim_frames_per_s']} frames/s, {r['workers']} processes)",
    ]
    if r.get("first_divergence"):
        dv = r["first_divergence"]
        lines.append(f"- first diverging layer (frame {dv.get('frame')}, hls4ml trace vs Keras): "
                     f"`{dv.get('layer')}` {json.dumps({k: v for k, v in dv.items() if k not in ('layer', 'frame')})}")
    return "\n".join(lines) + "\n"


def bounded(config, frames: int, conversion=None) -> dict:
    """The verification-only threaded C simulation with every FIFO bounded at its STREAM depth
    (:mod:`pipeline.hls.threaded_csim`) of the converted project on the first ``frames`` validation frames, bit for
    bit against Keras; report in ``csim/bounded.json`` (docs/hls.md#fifo-depths)."""
    from keras_model.model_io import save_json

    from ..hls.project import convert
    from ..hls.threaded_csim import verify

    images = validation_frames(config, _check_bounded(config, frames), "csim")
    d = BuildDir.of(config).csim
    (d / "bounded.json").unlink(missing_ok=True)
    rep = verify(conversion or convert(config), images, d / "bounded", log=d / "bounded" / "compile.log")
    save_json(d / "bounded.json", rep)
    return rep


def _check_bounded(config, frames) -> int:
    from keras_model import data

    if config["hls"]["io_type"] != "io_stream":
        raise UserError("csim --bounded: needs hls.io_type io_stream (an io_parallel design has no FIFOs)")
    total = len(data.load(config, "val")[0])
    if not 1 <= int(frames) <= total:
        raise UserError(f"csim --bounded: {frames} is out of range: the validation split has {total} frames "
                        f"(allowed: 1..{total})")
    return int(frames)


def _cmd_bounded(cfg, frames, conv) -> int:
    from ..hls.threaded_csim import summary

    b = bounded(cfg, frames, conv)
    print(f"[csim] {summary(b)}; report in {BuildDir.of(cfg).csim}/bounded.json")
    if not b["passed"]:
        print("unet-fsic: error: the bounded-FIFO C simulation " + ("deadlocked" if not b["completed"] else
              "differs from Keras") + f" (see {BuildDir.of(cfg).csim}/bounded.json)", file=sys.stderr)
        return 1
    return 0


def cmd_csim(args, cfg) -> int:
    conv = None
    if args.bounded is not None:  # frame counts checked before anything is converted or compiled
        validation_frames(cfg, args.frames, "csim")
        _check_bounded(cfg, args.bounded)
        from ..hls.project import convert

        conv = convert(cfg)
    r = run(cfg, frames=args.frames, conversion=conv, workers=args.workers)
    print(to_markdown(r))
    print(f"[csim] report in {BuildDir.of(cfg).csim}/report.json")
    if not r["passed"]:
        print(f"unet-fsic: error: fidelity below threshold ({100 * r['logits_bit_exact_fraction']:.4f} % bit-exact "
              f"logits, {100 * r['argmax_agreement']:.4f} % argmax agreement < {100 * r['threshold']:g} %; see "
              f"{BuildDir.of(cfg).csim}/report.md)", file=sys.stderr)
        return 1
    return _cmd_bounded(cfg, args.bounded, conv) if args.bounded is not None else 0


def register_cli(add):
    sp = add("csim", cmd_csim, "compile the hls4ml project with g++ and compare the C simulation with Keras on "
             "validation frames (report in BUILD/csim); exit 1 below csim.threshold")
    sp.add_argument("--frames", type=int, help="validation frames (default csim.frames)")
    sp.add_argument("--workers", type=int, help="C simulation processes (default csim.workers / CPU count)")
    sp.add_argument("--bounded", type=int, metavar="N", help="then also run N frames through the verification-only "
                    "threaded C simulation, every FIFO bounded at its STREAM depth (deadlock = exit 1; "
                    "BUILD/csim/bounded.json)")


def run_stage(config) -> dict:
    r = run(config)
    if not r["passed"]:
        raise UserError(f"csim fidelity below csim.threshold: {100 * r['logits_bit_exact_fraction']:.4f} % "
                        f"bit-exact logits, {100 * r['argmax_agreement']:.4f} % argmax agreement "
                        f"(see {BuildDir.of(config).csim}/report.md)")
    return {k: r[k] for k in ("frames", "backend", "io_type", "output_head", "logits_bit_exact_fraction",
                              "max_abs_diff_lsb", "argmax_agreement", "passed", "csim_frames_per_s")} | {
        "provenance": "csim (g++) vs Keras"}


def headline(s: dict) -> str:
    return (f"{s['frames']} frames: logits {pct(s['logits_bit_exact_fraction'])} bit-exact, argmax "
            f"{pct(s['argmax_agreement'])} [csim (g++)]")


# the report, the project it compiled and the compiled C model that cosim and the host sim backend load
STAGE = Stage("csim", ("csim",), ("convert",), ("csim/report.json", "hls/firmware", "hls/firmware/*.so"),
              run_stage, headline)
