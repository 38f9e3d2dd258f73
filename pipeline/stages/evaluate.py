"""``evaluate`` stage and ``unet-fsic evaluate``: pixel accuracy, per-class IoU, mIoU and confusion matrix of the
float and W5A8 models on the validation split (void ignored; the metrics are :mod:`keras_model.evaluate`)."""
from __future__ import annotations

from . import Stage, pct


def run_stage(config) -> dict:
    from keras_model import evaluate

    r = evaluate.run(config)
    return {"frames": r["frames"], "provenance": r["provenance"],
            "majority_class_pixel_accuracy": r["majority_class_pixel_accuracy"],
            "variants": {v: {k: m[k] for k in ("pixel_accuracy", "miou", "iou")} for v, m in r["variants"].items()}}


def headline(s: dict) -> str:
    return ", ".join(f"{v}: acc {pct(r['pixel_accuracy'])}, mIoU {pct(r['miou'])}" for v, r in s["variants"].items())


STAGE = Stage("evaluate", ("evaluate",), ("train",), ("evaluate/metrics.json",), run_stage, headline)


def cmd_evaluate(args, cfg) -> int:
    from keras_model import evaluate

    variants = tuple(args.only) if args.only else ("float", "w5a8")
    res = evaluate.run(cfg, variants)
    print(evaluate.to_markdown(res).split("\n\n| class")[0])
    print(f"[evaluate] outputs in {evaluate.eval_dir(cfg)}")
    return 0


def register_cli(add):
    sp = add("evaluate", cmd_evaluate, "pixel accuracy, per-class IoU, mIoU, confusion matrix of float vs W5A8 on "
             "the validation split; plots in BUILD/evaluate")
    sp.add_argument("--only", action="append", choices=("float", "w5a8"), help="evaluate only this variant")
