"""Exactness of a trained build's generated project (issue #14), on its own trained weights: the g++ C simulation of
the converted project against Keras, logits bit for bit, on ``--frames`` validation frames **and** the
out-of-distribution frames (uniform noise, all-black, all-white, the six saturated primaries / secondaries, 0/255
checkerboards of 1x1 and 4x4 tiles); then the threaded bounded-FIFO C simulation (every stream at its STREAM depth,
one thread per process, pipeline/hls/threaded_csim.py) on ``--bounded`` frames. Also the project's structure: fused
blocks, BatchNormalization / ReLU layers left, processes, STREAM depths > 2.

Run it on the main job's build (after ``unet-fsic run hls4ml_configs/default.yaml``):

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python bench/bench_exact_default.py [--config hls4ml_configs/default.yaml]
        [--build-dir build/default] [--frames 64] [--bounded 4] [--json F]

It converts into ``<build-dir>/bench_exact`` (a scratch build dir beside the build's own outputs, never over them).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(REPO / "hls4ml_configs" / "default.yaml"))
    ap.add_argument("--build-dir", default=None, help="the trained build (default: the config's build_dir)")
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--bounded", type=int, default=4)
    ap.add_argument("--json")
    a = ap.parse_args()
    import re

    import numpy as np
    from test_fused_conv_block import ood_frames

    import keras_model  # noqa: F401
    from keras_model import data
    from pipeline.config import load_config
    from pipeline.hls.cmodel import keras_layer_outputs, logits_layer_name, predict_csim
    from pipeline.hls.project import convert
    from pipeline.hls.threaded_csim import summary, verify
    from pipeline.hw.streams import csim_input

    base = load_config(a.config, {"build_dir": a.build_dir} if a.build_dir else None)
    model_file = Path(base["build_dir"]) / "train" / "w5a8_model.h5"
    if not model_file.is_file():
        print(f"bench_exact_default: {model_file}: no trained model (run the main job first)", file=sys.stderr)
        return 2
    cfg = load_config(a.config, {"build_dir": str(Path(base["build_dir"]) / "bench_exact"),
                                 "hls": {"model_file": str(model_file)}})
    t0 = time.time()
    conv = convert(cfg)
    hm = conv.hls_model
    t_convert = time.time() - t0
    layers = list(hm.get_layers())
    classes = [n.class_name for n in layers]
    cpp = (Path(hm.config.get_output_dir()) / "firmware" / f"{hm.config.get_project_name()}.cpp").read_text()
    depths = [int(d) for d in re.findall(r"#pragma HLS STREAM variable=\w+ depth=(\d+)", cpp)]
    logits = logits_layer_name(conv.keras_model)
    for node in layers:  # the logits are read with hls4ml's trace hook on that one layer (as the csim stage does)
        node.set_attr("trace", node.name == logits)
    hm.config.trace_output = True
    t0 = time.time()
    hm.compile()
    t_compile = time.time() - t0
    val, _ = data.load(cfg, "val")
    h, w = cfg["model"]["input_shape"][:2]
    sets = {"validation": val[:a.frames], "out_of_distribution": ood_frames(h, w)}
    res = {"config": a.config, "model_file": str(model_file), "backend": cfg["hls"]["backend"],
           "fuse_conv_blocks": cfg["hls"]["fuse_conv_blocks"], "fused_blocks": classes.count("FsicFusedConvBlock"),
           "batchnorm_layers": classes.count("BatchNormalization"),
           "relu_layers": sum(1 for n in layers if n.class_name == "Activation"
                              and str(n.get_attr("activation")).lower() == "relu"),
           "processes": sum(1 for c in classes if c != "Input"),
           "stream_depths_gt2": sorted(d for d in depths if d > 2),
           "streams": len(depths), "convert_s": round(t_convert, 1), "compile_s": round(t_compile, 1)}
    for name, imgs in sets.items():
        t0 = time.time()
        _, tr = predict_csim(hm, imgs, workers=2, trace_layers=[logits])
        t_sim = time.time() - t0
        ref = keras_layer_outputs(conv.keras_model, csim_input(imgs), [logits])[logits].astype(np.float64)
        got = tr[logits].reshape(ref.shape)
        exact = np.all((got == ref).reshape(len(imgs), -1), axis=1)
        res[name] = {"frames": len(imgs), "frames_bit_exact": int(exact.sum()),
                     "logits_bit_exact_fraction": float(np.mean(got == ref)), "csim_s_per_frame": round(
                         t_sim / len(imgs), 3)}
        print(name, json.dumps(res[name]), flush=True)
    if a.bounded:
        rep = verify(conv, val[:a.bounded], (Path(cfg["build_dir"]) / "bounded").resolve())
        res["bounded"] = {k: rep[k] for k in ("frames", "completed", "frames_bit_exact", "s_per_frame") if k in rep}
        print(summary(rep), flush=True)
    print(json.dumps(res, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    ok = all(res[n]["frames_bit_exact"] == res[n]["frames"] for n in sets) and (
        not a.bounded or (res["bounded"]["completed"] and res["bounded"]["frames_bit_exact"] == a.bounded))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
