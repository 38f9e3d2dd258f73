"""``convert`` stage and ``unet-fsic convert``: the trained W5A8 model -> the hls4ml project in ``<build_dir>/hls``
(the conversion itself is :mod:`pipeline.hls.project`)."""
from __future__ import annotations

import json
import time
import warnings

from ..build import BuildDir
from . import Stage


def run_stage(config) -> dict:
    from ..hls.project import convert, layer_table

    conv = convert(config)
    rows = layer_table(conv.hls_model)
    h = config["hls"]
    return {"dir": str(BuildDir.of(config).hls), "layers": len(rows), "backend": h["backend"],
            "io_type": h["io_type"], "strategy": h["strategy"], "output_head": conv.output_head,
            "multiplies_per_frame": int(sum(r.get("multiplies", 0) or 0 for r in rows))}


def headline(s: dict) -> str:
    return (f"{s['layers']} hls4ml layers, {s['backend']} {s['io_type']} {s['strategy']}, head {s['output_head']}, "
            f"{s['multiplies_per_frame']:,} multiplies/frame")


# what later stages read; not the project .cpp files: csim regenerates them with its trace hooks (csim hashes them)
OUTPUTS = ("hls/interface.json", "hls/layers.json", "hls/hls_config.json", "hls/reuse.json",
           "hls/firmware/weights", "hls/firmware/parameters.h", "hls/firmware/defines.h")
# hls.reuse_factor / multiplier_binding auto and the FIFO depths are chosen by the calibrated estimator and the
# budget: a re-calibration or a model change there may change them; the hls4ml
# extension (passes, templates, C++ kernels) and the converter are what the project is made of: a change re-converts
STAGE = Stage("convert", ("hls", "target"), ("train",), OUTPUTS, run_stage, headline,
              inputs=("pipeline/hw/calibration_error.json", "pipeline/hw/estimator.py", "pipeline/hw/budget.py",
                      "pipeline/hw/fifo_sim.py", "pipeline/extensions", "pipeline/hls"))


def cmd_convert(args, cfg) -> int:
    from ..hls.precision import PrecisionWarning
    from ..hls.project import convert, format_table, layer_table

    t0 = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PrecisionWarning)
        conv = convert(cfg, output_head=args.output_head)
    for w in caught:
        if issubclass(w.category, PrecisionWarning):
            print(f"unet-fsic: warning: {w.message}")
    print(format_table(layer_table(conv.hls_model)))
    reuse = json.loads((BuildDir.of(cfg).hls / "reuse.json").read_text())
    if reuse["mode"] == "auto":
        print(f"[convert] reuse factors: auto -- {reuse['how']}; target {reuse['target_cycles']:,} cycles/frame "
              f"(the RF column above; docs/budget.md#auto)")
    if args.compile:
        conv.hls_model.compile()
    h = cfg["hls"]
    print(f"[convert] hls4ml project in {BuildDir.of(cfg).hls} ({h['backend']}, {h['io_type']}, {h['strategy']}, "
          f"head={conv.output_head}) in {time.time() - t0:.1f} s")
    return 0


def register_cli(add):
    sp = add("convert", cmd_convert, "convert the trained W5A8 model to an hls4ml project in BUILD/hls (prints the "
             "per-layer precision / reuse / multiply table)")
    sp.add_argument("--output-head", choices=("logits", "argmax"), help="override hls.output_head")
    sp.add_argument("--compile", action="store_true", help="also compile the C simulation library (g++)")
