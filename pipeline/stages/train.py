"""``train`` stage and ``unet-fsic train``: the float twin, per-layer integer-bit calibration, then W5A8
quantization-aware training from the float weights (the training itself is :mod:`keras_model.train`)."""
from __future__ import annotations

from . import Stage, pct


def run_stage(config) -> dict:
    from keras_model import train

    s = train.run(config)
    return {k: s[k] for k in ("train_images", "val_images", "total_wall_s")} | {
        "variants": {v: {kk: r[kk] for kk in ("epochs", "best_epoch", "best_val_miou", "best_val_pixel_acc", "wall_s")}
                     for v, r in s["variants"].items()},
        "provenance": "Keras training (TensorFlow CPU)"}


def headline(s: dict) -> str:
    return ", ".join(f"{v}: val mIoU {pct(r['best_val_miou'])}" for v, r in s["variants"].items())


STAGE = Stage("train", ("seed", "model", "quant", "data", "train"), (),
              ("train/float_model.h5", "train/w5a8_model.h5", "train/int_bits.json"), run_stage, headline)


def cmd_train(args, cfg) -> int:
    from keras_model import train

    variants = tuple(args.only) if args.only else train.VARIANTS
    summary = train.run(cfg, variants)
    for v, r in summary["variants"].items():
        if v in variants:
            print(f"[train] {v}: best val mIoU {100 * (r['best_val_miou'] or 0):.2f} % "
                  f"(pixel acc {100 * (r['best_val_pixel_acc'] or 0):.2f} %) at epoch {r['best_epoch']}, "
                  f"{r['wall_s']:.0f} s  [Keras]")
    print(f"[train] outputs in {train.train_dir(cfg)}")
    return 0


def register_cli(add):
    sp = add("train", cmd_train, "train the float twin and the W5A8 model (QAT); checkpoints and curves in "
             "BUILD/train")
    sp.add_argument("--only", action="append", choices=("float", "w5a8"), help="train only this variant "
                    "(repeatable)")
