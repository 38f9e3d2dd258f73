"""FIFO depths of the generated project and their verification (issue #14 part 3) on the full default U-Net
(hls4ml_configs/default.yaml, 64x64x3 -> 21 classes, width x0.25, reuse_factor auto; ``--seed-width``: the seed's
full width at RF 16), random weights (depths and bit-exactness do not depend on training):

1. the estimate (``pipeline.hw.estimator.estimate``): FIFO BRAM36 at the sized depths vs hls4ml's default depths;
2. the conversion: every ``#pragma HLS STREAM`` depth of ``firmware/<project>.cpp`` equals the estimate's
   ``depth_estimated`` of its FIFO, and only the skip FIFOs are deeper than 2;
3. the threaded bounded-FIFO C simulation (``pipeline.hls.threaded_csim``) of that project on ``--frames``
   validation frames, bit for bit against Keras, with its wall time per frame;
4. the level-1 skip FIFO one frame-row (64 entries) too shallow: must deadlock, naming it;
5. with ``--bisect``: each skip FIFO's smallest deadlock-free depth for the real kernels (bisection with the threaded
   simulation, 1 frame) next to the sizing model's minimum, its sized occupancy and the project's depth.

Prints JSON (and writes it to ``--json``).

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python bench/bench_fifo.py [--frames 4] [--bisect] [--seed-width] [--json F]
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # _support.randomize_weights


def _bisect(exe, x, stream, hi, T) -> int:
    """Smallest depth of ``stream`` at which one frame completes (deadlock is monotone in the depth)."""
    lo = 1
    while lo < hi:
        mid = (lo + hi) // 2
        if T.run(exe, x, {stream: mid}, watchdog_s=60).completed:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _setup(work: Path, seed: int, seed_width: bool):
    from _support import randomize_weights

    import keras_model  # noqa: F401
    from keras_model.model import build_model
    from pipeline.config import deep_update, load_config

    cfg = load_config(str(REPO / "hls4ml_configs" / "default.yaml"))
    if seed_width:  # the seed's full width (8/16/32/64/128) at RF 16, the build issue #14 measured
        cfg = deep_update(cfg, {"model": {"width_multiplier": 1.0}, "hls": {"reuse_factor": 16}})
    cfg["build_dir"] = str(work / "build")
    model = build_model(cfg, quantized=True)
    randomize_weights(model, seed)
    return cfg, model


def run_default(work, frames: int = 4, shallow_check: bool = True, bisect: bool = False, seed: int = 5,
                seed_width: bool = False) -> dict:
    from keras_model import data
    from pipeline.hls import threaded_csim as T
    from pipeline.hls.fifo_depths import load_report, plan
    from pipeline.hls.project import convert
    from pipeline.hw.budget import resolved_config
    from pipeline.hw.estimator import estimate
    from pipeline.hw.fifo_sim import size_fifos
    from pipeline.hw.streams import csim_input

    work = Path(work)
    cfg, model = _setup(work, seed, seed_width)
    t0 = time.time()
    cfg_r, _ = resolved_config(cfg, model)  # hls.reuse_factor: auto -> per-layer RFs, as estimate and convert do
    est = estimate(cfg_r, model)
    g, _ = plan(cfg_r, model)  # before convert re-calls the layers
    minimal = size_fifos(g, minimize=True)["depths"] if bisect else {}
    out = {"config": {"width_multiplier": cfg["model"]["width_multiplier"], "reuse_factor": cfg["hls"]["reuse_factor"],
                      "interval_cycles": est["interval_cycles"]}, "estimate_s": round(time.time() - t0, 1),
           "bram36": {"sized": est["fifo"]["estimated"]["BRAM36"], "hls4ml_default": est["fifo"]["hls4ml_default"][
               "BRAM36"], "design_total_sized": est["totals"]["BRAM36"], "part": est["capacity"]["BRAM36"]}}
    t0 = time.time()
    conv = convert(cfg, model=model)
    out["convert_s"] = round(time.time() - t0, 1)
    hls = Path(cfg["build_dir"]) / "hls"
    project = conv.hls_model.config.get_project_name()
    written = T.read_top(hls, project).depths
    rec = load_report(hls)
    by_fifo = {q["name"]: q for q in est["fifo"]["fifos"]}
    rows = [r for r in rec["streams"] if r["fifo"]]
    out["streams"] = len(rows)
    out["depths_equal_estimate"] = all(written[r["stream"]] == r["depth"] == by_fifo[r["fifo"]]["depth_estimated"]
                                       for r in rows) and len(written) == len(rows)
    skips = [r for r in rows if r["skip"]]
    out["only_skips_deep"] = {s for s, d in written.items() if d > 2} == {r["stream"] for r in skips}
    out["depth_histogram"] = {str(d): sum(1 for v in written.values() if v == d) for d in sorted(set(written.values()))}
    out["skip_fifos"] = [{k: r[k] for k in ("stream", "fifo", "depth", "sized", "hls4ml_default")} for r in skips]
    images, _ = data.load(cfg, "val")
    out["bounded"] = T.verify(conv, images[:frames], work / "threaded")
    out["bounded"].pop("depths")
    exe = work / "threaded" / f"{project}_threaded"
    x1 = csim_input(images[:1]).reshape(1, -1)
    if shallow_check:
        s1 = next(r for r in skips if r["fifo"] == "enc1_relu2_clone_out1")
        res = T.run(exe, x1, {s1["stream"]: s1["depth"] - 64}, watchdog_s=60)
        out["shallow"] = {"stream": s1["stream"], "fifo": s1["fifo"], "depth": s1["depth"] - 64,
                          "status": res.status, "culprits": T.culprits(res, rec)}
    for r in skips if bisect else []:
        r_out = next(q for q in out["skip_fifos"] if q["stream"] == r["stream"])
        r_out.update(model_minimum=minimal[r["fifo"]], kernel_minimum=_bisect(exe, x1, r["stream"], r["depth"], T))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--bisect", action="store_true", help="bisect each skip FIFO's minimal depth (slow)")
    ap.add_argument("--seed-width", action="store_true", help="the seed's full width (x1.0) at RF 16 instead of "
                    "default.yaml's x0.25 with reuse_factor auto")
    ap.add_argument("--json", help="also write the result here")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-fifo-") as td:
        t0 = time.time()
        r = run_default(Path(td), a.frames, True, a.bisect, seed_width=a.seed_width)
        r["wall_s"] = round(time.time() - t0, 1)
    print(json.dumps(r, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(r, indent=1) + "\n")


if __name__ == "__main__":
    main()
