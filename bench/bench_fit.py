"""What fits FSIC's USER_PRJ0, by the calibrated estimator (issue #13): the default build's topology at width
multipliers 1 / 0.75 / 0.5 / 0.375 / 0.25 (no level below 8 filters), W5A8 and W5A6, with ``hls.reuse_factor: auto``
= the fastest frame interval whose design fits USER_PRJ0's budget at the nominal estimate (docs/budget.md). A width
whose slowest design does not fit is reported as such. All figures: **estimate** (Vivado-synthesis equivalent), frame
times at the IP clock (FSIC's 5 MHz axis_clk). Prints a Markdown table; ~2-4 min.

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python bench/bench_fit.py [--config hls4ml_configs/default.yaml]
"""
from __future__ import annotations

import argparse
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="hls4ml_configs/default.yaml")
    a = ap.parse_args()
    import numpy as np

    import keras_model  # noqa: F401
    from keras_model.model import build_model, level_filters
    from pipeline.config import load_config
    from pipeline.errors import UserError
    from pipeline.hw.budget import assess

    print("| width | filters | params | W/A | LUT (% budget) | FF | BRAM36 | DSP | ms/frame @ IP clock | "
          "fits nominal / upper | search s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for wm in (1.0, 0.75, 0.5, 0.375, 0.25):
        for ab in (8, 6):
            cfg = load_config(a.config, {"build_dir": "bench/out/fit", "model": {"width_multiplier": wm},
                                         "quant": {"act_bits": ab}, "hls": {"reuse_factor": "auto"}})
            m = build_model(cfg, quantized=True)
            params = int(sum(int(np.prod(w.shape)) for w in m.trainable_weights))
            head = f"| {wm:g} | {'/'.join(map(str, level_filters(cfg)))} | {params:,} | W5A{ab} |"
            t0 = time.time()
            try:
                r = assess(cfg)
            except UserError as e:
                print(f"{head} does not fit even at the largest reuse factors ({str(e).split('(')[1].split(')')[0]}) "
                      f"| | | | | no / no | {time.time() - t0:.0f} |")
                continue
            t, f, tm = r["totals"], r["fit"], r["timing"]
            yes = {True: "yes", False: "no"}
            print(f"{head} {t['LUT']:,} ({100 * f['use_of_budget']['LUT']:.0f} %) | {t['FF']:,} | {t['BRAM36']} | "
                  f"{t['DSP']} | {tm['interval_ms']:.1f} @ {tm['ip_clock_mhz']:g} MHz | {yes[f['fits_nominal']]} / "
                  f"{yes[f['fits_upper']]} | {time.time() - t0:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
