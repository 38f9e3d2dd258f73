"""The default U-Net (hls4ml_configs/default.yaml; ``--width`` overrides model.width_multiplier, e.g. 1 for the seed's
486,613-parameter full width; random weights) converted with and without ``hls.fuse_conv_blocks``
(issue #14): g++ csim bit-exactness against Keras and the size of the dataflow graph.

Usage: python bench/bench_fused.py [--frames 64] [--backend Vitis] [--modes fused plain] [--seed 3] [--width W]

Per mode one JSON line: hls4ml layers, dataflow processes (layers with a function call in the top), FIFOs (streams
between processes) and their total bits (width x STREAM depth as written), fused blocks, convert / compile seconds,
csim seconds per frame (one worker, this machine, g++ -- not hardware), frames compared (``--frames`` validation
frames + the out-of-distribution frames of tests/test_fused_conv_block.py), logits bit-exact fraction and exact frames.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import numpy as np  # noqa: E402


def graph_size(hm) -> dict:
    """Processes, FIFOs and FIFO bits of a converted (io_stream) hls4ml model."""
    ports = {v.name for v in list(hm.get_input_variables()) + list(hm.get_output_variables())}
    procs = [n for n in hm.get_layers() if n.class_name != "Input"]
    fifos = bits = 0
    for node in procs:
        for var in node.get_variables():
            if var.name in ports:
                continue
            depth = var.pragma[1] if isinstance(var.pragma, tuple) else int(np.prod(var.shape[:-1]))
            fifos += 1
            bits += int(var.shape[-1]) * int(var.type.precision.width) * int(depth)
    return {"layers": len(list(hm.get_layers())), "processes": len(procs), "fifos": fifos, "fifo_bits": bits,
            "fused_blocks": sum(n.class_name == "FsicFusedConvBlock" for n in procs),
            "batchnorm_layers": sum(n.class_name == "BatchNormalization" for n in procs)}


def run_mode(mode: str, a) -> dict:
    from _support import randomize_weights
    from test_fused_conv_block import ood_frames

    from keras_model import data
    from keras_model.model import build_model
    from pipeline.config import load_config
    from pipeline.hls.cmodel import predict_csim
    from pipeline.hls.project import convert

    bd = tempfile.mkdtemp(prefix=f"bench_fused_{mode}_")
    cfg = load_config(os.path.join(ROOT, "hls4ml_configs", "default.yaml"),
                      {"build_dir": bd, "hls": {"backend": a.backend, "output_head": "logits",
                                                "fuse_conv_blocks": mode == "fused"},
                       **({"model": {"width_multiplier": a.width}} if a.width else {})})
    model = build_model(cfg)
    randomize_weights(model, a.seed)
    val, _ = data.load(cfg, "val")
    imgs = np.concatenate([val[:a.frames], ood_frames(64, 64)])
    ref = model.predict(data.to_model_input(imgs), verbose=0, batch_size=8).astype(np.float64)
    t0 = time.time()
    hm = convert(cfg, model=model, output_head="logits").hls_model
    t1 = time.time()
    hm.compile()
    t2 = time.time()
    y = predict_csim(hm, imgs, workers=1).reshape(ref.shape)
    t3 = time.time()
    exact = (y == ref).reshape(len(imgs), -1)
    return {"mode": mode, "backend": a.backend, **graph_size(hm), "convert_s": round(t1 - t0, 1),
            "compile_s": round(t2 - t1, 1), "csim_s_per_frame": round((t3 - t2) / len(imgs), 3),
            "frames": len(imgs), "ood_frames": len(imgs) - min(a.frames, len(val)),
            "logits_bit_exact": float(exact.mean()), "frames_bit_exact": int(exact.all(axis=1).sum()),
            "classes_seen": int(len(np.unique(np.argmax(ref, -1))))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--backend", default="Vitis", choices=["Vitis", "Vivado"])
    ap.add_argument("--modes", nargs="+", default=["fused", "plain"], choices=["fused", "plain"])
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--width", type=float, help="model.width_multiplier (default: the config's)")
    a = ap.parse_args()
    import keras_model  # noqa: F401

    for mode in a.modes:
        print(json.dumps(run_mode(mode, a)), flush=True)


if __name__ == "__main__":
    main()
