"""12-point sweep benchmark (hls4ml_configs/sweep_default.yaml) on a 2-worker Dask LocalCluster; prints wall time.

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python bench/bench_sweep.py [--spec hls4ml_configs/sweep_default.yaml]
        [--build-dir DIR] [--csim]

Re-running resumes (finished points are skipped). Writes <build_dir>/bench_sweep.json with the wall time.
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
    ap.add_argument("--csim", action="store_true", help="enable the csim fidelity check per point")
    a = ap.parse_args()
    from pipeline.stages import sweep

    spec = sweep.load_spec(a.spec)
    if a.build_dir:
        spec["build_dir"] = a.build_dir
    if a.csim:
        spec["csim"]["enabled"] = True
    t0 = time.time()
    s = sweep.run(spec, progress=True)
    s["bench_wall_s"] = time.time() - t0
    s["cpu_count"] = os.cpu_count()
    Path(spec["build_dir"], "bench_sweep.json").write_text(json.dumps(s, indent=2))
    print(json.dumps({k: v for k, v in s.items() if k != "failed"}, indent=2))
    for f in s["failed"]:
        print("FAILED", f)


if __name__ == "__main__":
    main()
