"""Benchmark: accuracy vs ``model.width_multiplier`` at the default training budget, over several seeds.

For every (width, seed) it trains exactly what ``unet-fsic run`` trains -- :func:`keras_model.train.run` (float twin,
calibration, W5A8 QAT from the float weights) with the config file plus ``model.width_multiplier`` / ``seed``
overrides -- then :func:`keras_model.evaluate.run` (Keras inference on the validation split, void ignored), and records
float and W5A8 mIoU / pixel accuracy and wall times. TensorFlow runs on one intra-op and one inter-op thread (the
machine is shared), so wall times are single-core figures.

    .venv/bin/python bench/bench_width.py [--widths 0.25 0.5 0.75 1.0] [--seeds 1234 1 2] [--out-dir bench/out/width]

Each point is appended to ``OUT/results.jsonl`` as it finishes; a re-run skips the points already there (delete a
line, or pass ``--fresh``, to recompute). ``OUT/bench_width.json`` and ``OUT/bench_width.md`` hold the table:
min / median / max over the seeds per width.
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _limit_threads(n: int):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["OMP_NUM_THREADS"] = str(n)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(n)
    tf.config.threading.set_inter_op_parallelism_threads(n)


def run_point(config_path: str, width: float, seed: int, build_dir: Path, extra: dict | None = None) -> dict:
    import keras_model  # noqa: F401
    from keras_model import evaluate, train
    from keras_model.model import level_filters
    from pipeline.config import load_config

    over = {"build_dir": str(build_dir), "seed": seed, "model": {"width_multiplier": width},
            "train": {"verbose": 0}, "evaluate": {"overlay_frames": 0}}
    if extra:
        from pipeline.config import deep_update

        over = deep_update(over, extra)
    cfg = load_config(config_path, over)
    t0 = time.time()
    s = train.run(cfg)
    train_wall = time.time() - t0
    ev = evaluate.run(cfg)
    v, sv = ev["variants"], s["variants"]
    return {
        "width": width, "seed": seed, "filters": level_filters(cfg),
        "float_miou": v["float"]["miou"], "w5a8_miou": v["w5a8"]["miou"],
        "float_pixel_acc": v["float"]["pixel_accuracy"], "w5a8_pixel_acc": v["w5a8"]["pixel_accuracy"],
        "float_best_epoch": sv["float"]["best_epoch"], "w5a8_best_epoch": sv["w5a8"]["best_epoch"],
        "float_wall_s": sv["float"]["wall_s"], "w5a8_wall_s": sv["w5a8"]["wall_s"], "train_wall_s": train_wall,
        "val_frames": ev["frames"],
    }


def summarize(rows: list[dict]) -> dict:
    out = {}
    for w in sorted({r["width"] for r in rows}):
        rs = [r for r in rows if r["width"] == w]
        agg = {"seeds": [r["seed"] for r in rs], "filters": rs[0]["filters"]}
        for k in ("float_miou", "w5a8_miou", "train_wall_s"):
            vals = [r[k] for r in rs]
            agg[k] = {"min": min(vals), "median": statistics.median(vals), "max": max(vals)}
        out[str(w)] = agg
    return out


def to_markdown(summary: dict, rows: list[dict], config: str, threads: int) -> str:
    def rng(d, scale=100.0, fmt="{:.2f}"):
        return " / ".join(fmt.format(scale * d[k]) for k in ("min", "median", "max"))

    lines = [f"Accuracy vs width ({config}; Keras mIoU on the validation split, void ignored; training on "
             f"{threads} TensorFlow thread(s)). Cells: min / median / max over the seeds.", "",
             "| width | level filters | seeds | float mIoU % | W5A8 mIoU % | train wall s (float + QAT) |",
             "|---|---|---|---|---|---|"]
    for w, a in summary.items():
        lines.append(f"| {w} | {a['filters']} | {', '.join(map(str, a['seeds']))} | {rng(a['float_miou'])} | "
                     f"{rng(a['w5a8_miou'])} | {rng(a['train_wall_s'], 1.0, '{:.0f}')} |")
    lines += ["", "| width | seed | float mIoU % | W5A8 mIoU % | float / W5A8 best epoch | train wall s |",
              "|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["width"], r["seed"])):
        lines.append(f"| {r['width']} | {r['seed']} | {100 * r['float_miou']:.2f} | {100 * r['w5a8_miou']:.2f} | "
                     f"{r['float_best_epoch']} / {r['w5a8_best_epoch']} | {r['train_wall_s']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(REPO / "hls4ml_configs" / "default.yaml"))
    ap.add_argument("--widths", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1234, 1, 2])
    ap.add_argument("--out-dir", default="bench/out/width")
    ap.add_argument("--threads", type=int, default=1, help="TensorFlow intra- and inter-op threads (default 1)")
    ap.add_argument("--fresh", action="store_true", help="recompute points already in results.jsonl")
    ap.add_argument("--report-only", action="store_true", help="train nothing: tabulate the points of the requested "
                    "widths and seeds already in results.jsonl")
    a = ap.parse_args(argv)
    _limit_threads(a.threads)
    sys.path.insert(0, str(REPO))
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res_path = out / "results.jsonl"
    if a.fresh and res_path.exists() and not a.report_only:
        res_path.unlink()
    done = [json.loads(line) for line in res_path.read_text().splitlines() if line.strip()] if res_path.exists() else []
    for w in a.widths:
        for seed in a.seeds:
            if any(r["width"] == w and r["seed"] == seed for r in done):
                print(f"[bench_width] width {w} seed {seed}: already in {res_path}, skipped", flush=True)
                continue
            if a.report_only:
                continue
            r = run_point(a.config, w, seed, out / f"w{w}_s{seed}")
            done.append(r)
            with res_path.open("a") as f:
                f.write(json.dumps(r) + "\n")
            print(f"[bench_width] width {w} seed {seed}: float {100 * r['float_miou']:.2f} %, W5A8 "
                  f"{100 * r['w5a8_miou']:.2f} % mIoU, {r['train_wall_s']:.0f} s", flush=True)
    rows = [r for r in done if r["width"] in a.widths and r["seed"] in a.seeds]
    summary = summarize(rows)
    (out / "bench_width.json").write_text(json.dumps({"config": a.config, "threads": a.threads, "cpus": os.cpu_count(),
                                                      "summary": summary, "points": rows}, indent=2))
    md = to_markdown(summary, rows, a.config, a.threads)
    (out / "bench_width.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
