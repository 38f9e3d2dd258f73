"""Sweep benchmark: the default 36-point sweep (hls4ml_configs/sweep_default.yaml: width x W/A x frame_ms within
FSIC's USER_PRJ0 budget; docs/sweep.md) on a 2-worker Dask LocalCluster; prints the wall time.

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python bench/bench_sweep.py [--spec hls4ml_configs/sweep_default.yaml]
        [--build-dir DIR] [--csim | --no-csim]

Re-running resumes (finished points are skipped). Writes <build_dir>/bench_sweep.json with the wall time, the point
counts (computed / skipped / failed / infeasible) and the per-phase CPU seconds summed over the points.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", default="hls4ml_configs/sweep_default.yaml")
    ap.add_argument("--build-dir")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--csim", action="store_true", help="enable the csim check per point (default: the spec's)")
    g.add_argument("--no-csim", action="store_true", help="disable it (saves ~1 min of CPU per feasible point)")
    a = ap.parse_args()
    from pipeline.stages import sweep

    spec = sweep.load_spec(a.spec)
    if a.build_dir:
        spec["build_dir"] = a.build_dir
    if a.csim or a.no_csim:
        spec["csim"]["enabled"] = bool(a.csim)
    t0 = time.time()
    s = sweep.run(spec, progress=True)
    s["bench_wall_s"] = time.time() - t0
    recs = sweep.read_results(Path(spec["build_dir"]) / "results.jsonl")
    s["point_cpu_s"] = {k: round(sum(r["timings"].get(k, 0.0) for r in recs)) for k in ("estimate_s", "csim_s",
                                                                                        "total_s")}
    s["qat_train_s"] = round(sum({r["qat"]["key"]: r["qat"]["train_s"] for r in recs if "qat" in r}.values()))
    s["cpu_count"] = os.cpu_count()
    Path(spec["build_dir"], "bench_sweep.json").write_text(json.dumps(s, indent=2))
    print(json.dumps({k: v for k, v in s.items() if k != "failed"}, indent=2))
    for f in s["failed"]:
        print("FAILED", f)


if __name__ == "__main__":
    main()
