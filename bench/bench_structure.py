"""Before / after issue #14, by the calibrated estimator: the default build's topology at several widths, with and
without the fused conv blocks (``hls.fuse_conv_blocks``) and with each multiplier binding (``hls.multiplier_binding``
lut / dsp / auto), every point at ``hls.reuse_factor: auto`` (the fastest frame interval whose design fits USER_PRJ0's
budget at the nominal estimate, docs/budget.md) and the sized FIFO depths. A point whose slowest design does not fit
is reported as such.

Per point: LUT / FF / BRAM36 / DSP (Vivado-synthesis equivalent), frame time at the IP clock (FSIC's 5 MHz), fits at
the nominal estimate / at the upper error bound, dataflow processes and FIFOs of the estimated project (the converter
generates the same ones: tests/test_estimate.py::test_processes_match_the_converted_project). All figures are
**estimates** (pipeline/hw/estimator.py, calibrated: docs/estimate.md); no vendor tool ran. ~3-6 min.

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python bench/bench_structure.py [--widths 1 0.5 0.25] [--cycles N] [--json F]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def point(config_path: str, wm: float, fuse: bool, binding: str, cycles: int | None = None) -> dict:
    from pipeline.config import load_config
    from pipeline.errors import UserError
    from pipeline.hw.budget import assess

    cfg = load_config(config_path, {"build_dir": "bench/out/structure", "model": {"width_multiplier": wm},
                                    "hls": {"reuse_factor": "auto", "fuse_conv_blocks": fuse,
                                            "multiplier_binding": binding},
                                    **({"target": {"frame_interval_cycles": cycles}} if cycles else {})})
    row = {"width": wm, "fuse": fuse, "binding": binding, "target_cycles": cycles}
    t0 = time.time()
    try:
        r = assess(cfg)
    except UserError as e:
        return {**row, "fits": False, "error": str(e), "search_s": round(time.time() - t0, 1)}
    t = r["totals"]
    return {**row, **{k: t[k] for k in ("LUT", "FF", "BRAM36", "DSP", "mults")}, "mults_dsp": t.get("mults_dsp"),
            "interval_ms": round(r["interval_ms"], 2), "ip_clock_mhz": r["ip_clock_mhz"],
            "fits": r["fit"]["fits_nominal"], "fits_upper": r["fit"]["fits_upper"],
            "processes": len(r["layers"]), "fifos": len(r["fifo"]["fifos"]),
            "fifo_bram36": r["fifo"]["estimated"]["BRAM36"], "search_s": round(time.time() - t0, 1)}


def markdown(rows: list[dict]) -> str:
    yes = {True: "yes", False: "no"}
    out = ["| width | fused | binding | LUT | FF | BRAM36 | DSP | ms/frame @ IP clock | fits nominal / upper | "
           "processes | FIFOs |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        head = f"| {r['width']:g} | {yes[r['fuse']]} | {r['binding']} |"
        if "error" in r:
            out.append(f"{head} does not fit even at the largest reuse factors | | | | | no / no | | |")
            continue
        out.append(f"{head} {r['LUT']:,} | {r['FF']:,} | {r['BRAM36']} | {r['DSP']} | {r['interval_ms']:.1f} @ "
                   f"{r['ip_clock_mhz']:g} MHz | {yes[r['fits']]} / {yes[r['fits_upper']]} | {r['processes']} | "
                   f"{r['fifos']} |")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="hls4ml_configs/default.yaml")
    ap.add_argument("--widths", type=float, nargs="+", default=[1.0, 0.5, 0.25])
    ap.add_argument("--bindings", nargs="+", default=["lut", "dsp", "auto"])
    ap.add_argument("--cycles", type=int, help="reuse factors for this frame interval (target.frame_interval_cycles) "
                    "instead of the fastest design that fits: compares builds that do not fit")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    a = ap.parse_args()
    import keras_model  # noqa: F401  (QKeras compat first)

    rows = []
    for wm in a.widths:
        for fuse in (False, True):
            for b in a.bindings:
                rows.append(point(a.config, wm, fuse, b, a.cycles))
                print(json.dumps(rows[-1]), flush=True)
    print(markdown(rows))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
