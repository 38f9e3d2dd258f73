"""Full U-Net (default config, 64x64, 486,613 params) through convert + g++ csim vs Keras, per backend.

Usage: python bench/bench_unet_csim.py --model /tmp/b1/train/w5a8_model.h5 [--frames 64] [--backend Vitis Vivado]
Prints one JSON line per backend: convert+compile wall time, peak RSS (this process + children, i.e. g++), csim
frames/s, logits bit-exact fraction, argmax agreement. Numbers are csim (g++) on this machine, not hardware.
"""
import argparse
import json
import os
import resource
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--backend", nargs="+", default=["Vitis", "Vivado"])
    ap.add_argument("--config", default="hls4ml_configs/default.yaml")
    a = ap.parse_args()
    import keras_model  # noqa: F401
    from pipeline.config import load_config
    from pipeline.hls.project import convert
    from pipeline.stages import csim

    for be in a.backend:
        bd = tempfile.mkdtemp(prefix=f"bench_unet_{be}_")
        cfg = load_config(a.config, {"build_dir": bd, "hls": {"backend": be, "model_file": a.model},
                                     "csim": {"frames": a.frames}})
        t0 = time.time()
        conv = convert(cfg)
        t_conv = time.time() - t0
        r = csim.run(cfg, conversion=conv, progress=False)
        peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(json.dumps({"backend": be, "frames": r["frames"], "convert_s": round(t_conv, 1),
                          "compile_s": r["timing_s"]["compile"],
                          "convert_plus_compile_s": round(t_conv + r["timing_s"]["compile"], 1),
                          "peak_rss_python_MB": round(peak_self), "peak_rss_children_MB": round(peak_child),
                          "csim_s": r["timing_s"]["csim"], "csim_frames_per_s": r["csim_frames_per_s"],
                          "workers": r["workers"], "logits_bit_exact": r["logits_bit_exact_fraction"],
                          "max_diff_lsb": r["max_abs_diff_lsb"], "argmax_agreement": r["argmax_agreement"],
                          "passed": r["passed"]}), flush=True)


if __name__ == "__main__":
    main()
