"""Estimator benchmark: (1) the calibration -- every published hls4ml build of pipeline/hw/calibration_points.yaml
modelled by the estimator, leave-one-out, against its reported csynth / Vivado numbers (pipeline/hw/calibration.py;
the same table docs/estimate.md shows); (2) the default W5A8 U-Net at the default RF and with per-layer RFs proposed
for a cycle budget, in both equivalents (``totals`` = Vivado synthesis, ``totals_hls`` = csynth). Prints JSON; every
figure is an estimate except the calibration points' reported values.

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python bench/bench_estimate.py [--target-cycles 450000]
"""
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def calibration() -> dict:
    from pipeline.hw import calibration as C

    t0 = time.time()
    table = C.error_table(C.load_points())
    return {"points": {e["id"]: {"estimate": e["estimate"], "reported": e["reported"], "error": e["error"]}
                       for e in table["points"]},
            "overall": table["overall"], "expected_error": table["expected_error"], "wall_s": time.time() - t0}


def unet(res: dict, t0: float) -> dict:
    keep = ("totals", "totals_hls", "fits", "interval_ms", "latency_ms", "slowest_layer")
    return {**{k: res[k] for k in keep}, "wall_s": time.time() - t0,
            "fifo": {k: res["fifo"][k] for k in ("estimated", "hls4ml_default", "skip_fifos",
                                                 "latency_cycles_default_depths")}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target-cycles", type=int, default=450000)
    a = ap.parse_args()
    from pipeline.config import deep_update, load_config
    from pipeline.hw import estimator as E

    out = {"calibration": calibration()}
    # the seed's full width at RF 16 (the issue #7 baseline); the default build's own estimate: unet-fsic estimate
    cfg = load_config("hls4ml_configs/default.yaml", {"model": {"width_multiplier": 1.0}, "hls": {"reuse_factor": 16}})
    t0 = time.time()
    out["default_rf"] = {"rf": cfg["hls"]["reuse_factor"], **unet(E.estimate(cfg), t0)}
    rfs = E.propose_reuse_factors(cfg, a.target_cycles)
    t0 = time.time()
    r2 = E.estimate(deep_update(cfg, {"hls": {"reuse_factors": rfs}}))
    out["proposed_rf"] = {"target_cycles": a.target_cycles, "reuse_factors": rfs, **unet(r2, t0),
                          "skip_depths": {f["name"]: f["depth_estimated"] for f in r2["fifo"]["fifos"]
                                          if f["name"] in r2["fifo"]["skip_fifos"]}}
    out["provenance"] = E.PROVENANCE
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
