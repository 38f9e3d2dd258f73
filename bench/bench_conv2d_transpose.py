"""Bench: Conv2DTranspose extension vs UpSampling2D + Conv2D in hls4ml csim (g++), issue #3.

For each shape, builds (a) ``Conv2DTranspose(Cout, 2, strides=2)`` (the ``pipeline.extensions`` kernel) and (b) the same
shapes as ``UpSampling2D(2)`` + ``Conv2D(Cout, 2, padding='same')``; converts both (Vitis, io_stream, Latency,
ap_fixed<16,6>), compiles with g++ (``hls_model.compile()``) and times ``hls_model.predict`` per frame (wall clock, best
of ``--repeats`` runs over ``--frames`` frames, single process). The generated multiply count per output pixel is read
from the generated ``firmware/parameters.h`` (``n_in * n_out`` of the layer's dense ``*_mult`` config).

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python bench/bench_conv2d_transpose.py [--frames N] [--repeats R]

Build outputs go to a temporary directory under /tmp, removed afterwards.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import hls4ml  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_model  # noqa: E402,F401
from pipeline.extensions import register_extensions  # noqa: E402
from pipeline.extensions.conv2d_transpose import multiplies_per_output_pixel  # noqa: E402

SHAPES = [  # (name, H, W, Cin, Cout)
    ("128->64 k2s2 4x4->8x8", 4, 4, 128, 64),
    ("16->8 k2s2 32x32->64x64", 32, 32, 16, 8),
]


def build(kind, H, W, cin, cout):
    rng = np.random.default_rng(0)
    inp = tf.keras.Input((H, W, cin), name="x_in")
    if kind == "convt":
        layer = tf.keras.layers.Conv2DTranspose(cout, 2, strides=2, name="up")
        out = layer(inp)
    else:
        layer = tf.keras.layers.Conv2D(cout, 2, padding="same", name="up")
        out = layer(tf.keras.layers.UpSampling2D(2, name="us")(inp))
    model = tf.keras.Model(inp, out)
    layer.set_weights([(rng.normal(0, 0.1, w.shape)).astype("float32") for w in layer.get_weights()])
    return model, layer


def mults_from_params(prj: str) -> int:
    text = open(os.path.join(prj, "firmware", "parameters.h")).read()
    m = re.search(r"_mult : nnet::dense_config \{\s*static const unsigned n_in = (\d+);"
                  r"\s*static const unsigned n_out = (\d+);",
                  text)
    return int(m.group(1)) * int(m.group(2))


def run(kind, H, W, cin, cout, frames, repeats, workdir):
    model, layer = build(kind, H, W, cin, cout)
    prj = os.path.join(workdir, f"{kind}_{H}_{cin}")
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="model", backend="Vitis",
                                               default_precision="ap_fixed<16,6>")
    hm = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, io_type="io_stream", backend="Vitis",
                                                    output_dir=prj)
    t0 = time.perf_counter()
    hm.compile()
    t_compile = time.perf_counter() - t0
    X = (np.random.default_rng(1).integers(-64, 64, (frames, H, W, cin)) / 32).astype("float32")
    hm.predict(X[:1])  # warm-up
    best = min(_timed(hm, X) for _ in range(repeats)) / frames
    y_ref = model.predict(X, verbose=0)
    err = float(np.max(np.abs(hm.predict(X).reshape(y_ref.shape) - y_ref)))
    return {
        "kind": kind,
        "csim_ms_per_frame": best * 1e3,
        "compile_s": t_compile,
        "mults_per_out_px": mults_from_params(prj),
        "helper": multiplies_per_output_pixel(layer)["generated"] if kind == "convt" else None,
        "max_abs_err_vs_keras": err,
    }


def _timed(hm, X):
    t0 = time.perf_counter()
    hm.predict(X)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    register_extensions()
    workdir = tempfile.mkdtemp(prefix="bench_convt_", dir="/tmp")
    try:
        print("| shape | impl | csim ms/frame | mults/output px (generated) | compile s | max|err| vs Keras |")
        print("|---|---|---|---|---|---|")
        for name, H, W, cin, cout in SHAPES:
            for kind in ("convt", "upsample_conv"):
                r = run(kind, H, W, cin, cout, args.frames, args.repeats, workdir)
                if r["helper"] is not None:
                    assert r["helper"] == r["mults_per_out_px"], r
                impl = "Conv2DTranspose (extension)" if kind == "convt" else "UpSampling2D + Conv2D(k2, same)"
                print(f"| {name} | {impl} | {r['csim_ms_per_frame']:.3f} | {r['mults_per_out_px']} | "
                      f"{r['compile_s']:.1f} | {r['max_abs_err_vs_keras']:.2e} |", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
