"""Estimator benchmark: (1) calibration anchor -- the hls4ml repository's Vivado test report (Dense 16->5,
ap_fixed<16,6>, io_stream, xc7z020; test/pytest/test_report/Vivado in fastmachinelearning/hls4ml), estimate vs the
reported csynth / Vivado-synth numbers; (2) the default W5A8 U-Net at the default RF and with per-layer RFs proposed
for a cycle budget. Prints JSON; every figure is an estimate except the anchor's reported values.

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python bench/bench_estimate.py [--target-cycles 450000]
"""
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Reported by Vivado HLS 2020.1 (csynth) and Vivado 2020.1 (report_utilization after synth_design) for the hls4ml
# test model (Dense(5) on 16 inputs + ReLU, ap_fixed<16,6>, io_stream, xc7z020, 5 ns):
ANCHOR_A = {"csynth": {"LUT": 2532, "FF": 7969, "DSP": 73, "BRAM18": 0},
            "vivado_synth": {"LUT": 1526, "FF": 2428, "DSP": 66, "BRAM36": 0}}


def anchor_estimate():
    from pipeline.hw import estimator as E

    dense = E.compute_layer({"name": "fc1", "kind": "dense", "cin": 16, "cout": 5, "rf": 1, "w_bits": 16,
                             "a_bits": 16, "acc_bits": 16}, strategy="Latency")
    relu = E.compute_layer({"name": "relu1", "kind": "map", "in_hw": (1, 1), "cin": 5, "a_bits": 16})
    fifo = E.fifo_cost(1, 16, 5, aggregate=False)  # layer2_out: 5 channel FIFOs of depth 1 (Vivado HLS split)
    tot = {k: dense[k] + relu[k] + fifo.get(k, 0) for k in ("LUT", "FF")}
    tot["DSP"] = dense["DSP"]
    err = {src: {k: (tot[k] - ref[k]) / ref[k] for k in ("LUT", "FF", "DSP")} for src, ref in ANCHOR_A.items()}
    return {"estimate": tot, "reported": ANCHOR_A, "relative_error": err}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target-cycles", type=int, default=450000)
    a = ap.parse_args()
    from pipeline.config import deep_update, load_config
    from pipeline.hw import estimator as E

    out = {"anchor_A": anchor_estimate()}
    cfg = load_config("hls4ml_configs/default.yaml")
    t0 = time.time()
    r = E.estimate(cfg)
    out["default_rf"] = {"rf": cfg["hls"]["reuse_factor"], "totals": r["totals"], "fits": r["fits"],
                         "interval_ms": r["interval_ms"], "latency_ms": r["latency_ms"], "wall_s": time.time() - t0,
                         "fifo": {k: r["fifo"][k] for k in ("estimated", "hls4ml_default", "skip_fifos")}}
    rfs = E.propose_reuse_factors(cfg, a.target_cycles)
    c2 = deep_update(cfg, {"hls": {"reuse_factors": rfs}})
    t0 = time.time()
    r2 = E.estimate(c2)
    out["proposed_rf"] = {"target_cycles": a.target_cycles, "reuse_factors": rfs, "totals": r2["totals"],
                          "utilization": r2["utilization"], "fits": r2["fits"], "interval_ms": r2["interval_ms"],
                          "latency_ms": r2["latency_ms"], "slowest": r2["slowest_layer"], "wall_s": time.time() - t0,
                          "fifo": {k: r2["fifo"][k] for k in ("estimated", "hls4ml_default", "skip_fifos",
                                                                "latency_cycles_default_depths")},
                          "skip_depths": {f["name"]: f["depth_estimated"] for f in r2["fifo"]["fifos"]
                                          if f["name"] in r2["fifo"]["skip_fifos"]}}
    out["provenance"] = E.PROVENANCE
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
