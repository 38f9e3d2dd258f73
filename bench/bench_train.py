"""Benchmark: float vs W5A8 accuracy on the synthetic validation split after the default training budget, and the
training wall time on this machine. Keras numbers (TensorFlow CPU inference); wall time measured here.

    .venv/bin/python bench/bench_train.py [--config hls4ml_configs/default.yaml] [--build-dir bench/out/train]

Prints a Markdown table row set for BENCHMARKS.md and writes bench/out/train/bench_train.json.
"""
import argparse
import json
import os
import time
from pathlib import Path

import keras_model  # noqa: F401
from keras_model import evaluate, train
from pipeline.config import load_config


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="hls4ml_configs/default.yaml")
    ap.add_argument("--build-dir", default="bench/out/train")
    a = ap.parse_args()
    cfg = load_config(a.config, {"build_dir": a.build_dir})
    t0 = time.time()
    s = train.run(cfg)
    wall = time.time() - t0
    ev = evaluate.run(cfg)
    f, q = ev["variants"]["float"], ev["variants"]["w5a8"]
    out = {
        "config": a.config, "cpus": os.cpu_count(), "train_wall_s": wall,
        "float_wall_s": s["variants"]["float"]["wall_s"], "w5a8_wall_s": s["variants"]["w5a8"]["wall_s"],
        "float": {"pixel_accuracy": f["pixel_accuracy"], "miou": f["miou"]},
        "w5a8": {"pixel_accuracy": q["pixel_accuracy"], "miou": q["miou"]},
        "majority_class_pixel_accuracy": ev["majority_class_pixel_accuracy"], "val_frames": ev["frames"],
    }
    Path(a.build_dir).mkdir(parents=True, exist_ok=True)
    (Path(a.build_dir) / "bench_train.json").write_text(json.dumps(out, indent=2))
    print(f"| float | {100 * f['pixel_accuracy']:.2f} % | {100 * f['miou']:.2f} % | "
          f"{out['float_wall_s']:.0f} s |")
    print(f"| W5A8 (QAT from float) | {100 * q['pixel_accuracy']:.2f} % | {100 * q['miou']:.2f} % | "
          f"{out['w5a8_wall_s']:.0f} s |")
    print(f"| majority class | {100 * out['majority_class_pixel_accuracy']:.2f} % | | |")
    print(f"total training wall time {wall:.0f} s on {out['cpus']} cores; "
          f"mIoU gap {100 * (f['miou'] - q['miou']):.2f} points")


if __name__ == "__main__":
    main()
