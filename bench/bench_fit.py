"""What fits the part, by the estimator: the default U-Net at width multipliers 1.0 / 0.75 / 0.5, BatchNorm as its own
layer or folded into the convolution, reuse factors proposed per layer for a cycle target (``unet-fsic estimate
--propose-rf``). Every figure is an **estimate** (pipeline.hw.estimator), not synthesis. Untrained weights suffice (the
estimate depends on shapes and bit-widths only).

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python bench/bench_fit.py [--config hls4ml_configs/default.yaml]
        [--target-cycles 450000]

Prints a Markdown table for BENCHMARKS.md.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="hls4ml_configs/default.yaml")
    ap.add_argument("--target-cycles", type=int, default=450000)
    a = ap.parse_args()
    import numpy as np

    import keras_model  # noqa: F401
    from keras_model.model import build_model
    from pipeline.config import load_config
    from pipeline.hw import estimator as est

    print("| width multiplier | trainable params | BatchNorm | LUT | FF | BRAM36 | DSP | ms/frame | fits |")
    print("|---|---|---|---|---|---|---|---|---|")
    for wm in (1.0, 0.75, 0.5):
        for fold in (False, True):
            cfg = load_config(a.config, {"build_dir": "bench/out/fit"})
            cfg["model"]["width_multiplier"] = wm
            cfg["hls"]["fold_batchnorm"] = fold
            rfs = est.propose_reuse_factors(cfg, a.target_cycles)
            cfg["hls"]["reuse_factors"] = {k: v for k, v in rfs.items() if v}
            m = build_model(cfg, quantized=True)
            params = int(sum(int(np.prod(w.shape)) for w in m.trainable_weights))
            r = est.estimate(cfg)
            t, u = r["totals"], r["utilization"]
            print(f"| {wm:g} | {params:,} | {'folded' if fold else 'layer'} | {t['LUT']:,} ({100 * u['LUT']:.0f} %) | "
                  f"{t['FF']:,} ({100 * u['FF']:.0f} %) | {t['BRAM36']:g} ({100 * u['BRAM36']:.0f} %) | {t['DSP']} | "
                  f"{r['interval_ms']:.2f} | {'yes' if r['fits'] else 'no'} |")
    e = r["expected_error"]
    print(f"\nAll figures: {r['provenance']}; part {r['part']} at {1000 / r['clock_ns']:.0f} MHz; reuse factors "
          f"proposed for <= {a.target_cycles:,} cycles per layer; expected error LUT ±{e['LUT']:.0%}, FF "
          f"±{e['FF']:.0%}, BRAM ±{e['BRAM36']:.0%}, cycles ±{e['cycles']:.0%}.")


if __name__ == "__main__":
    main()
