"""``unet-fsic``: one command per pipeline step, each driven by a YAML build config.

Errors in the user's input (config, files, unsupported layers, missing tools) are printed as one line
``unet-fsic: error: ...`` with exit status 2; nothing half-written is left in the build directory.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings


def _quiet_imports():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover
        pass


def _load(args):
    from .config import load_config

    overrides = {}
    if getattr(args, "build_dir", None):
        overrides["build_dir"] = args.build_dir
    return load_config(args.config, overrides or None)


def cmd_train(args):
    cfg = _load(args)
    _quiet_imports()
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


def cmd_evaluate(args):
    cfg = _load(args)
    _quiet_imports()
    from keras_model import evaluate

    variants = tuple(args.only) if args.only else ("float", "w5a8")
    res = evaluate.run(cfg, variants)
    print(evaluate.to_markdown(res).split("\n\n| class")[0])
    print(f"[evaluate] outputs in {evaluate.eval_dir(cfg)}")
    return 0


# Stage modules that add their own sub-commands: each defines ``register_cli(add)`` where
# ``add(name, fn, help) -> argparse.ArgumentParser`` creates a sub-command taking CONFIG.yaml and --build-dir, and
# ``fn(args, cfg) -> int`` receives the validated config. Keep this list in pipeline order.
STAGE_MODULES: list[str] = ["pipeline.convert", "pipeline.csim", "pipeline.cosim", "pipeline.estimate", "pipeline.reports",
                             "pipeline.sweep", "pipeline.run"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="unet-fsic",
        description="QKeras W5A8 U-Net -> hls4ml IP -> FSIC user project. Each command takes a YAML build config "
                    "(see hls4ml_configs/default.yaml and docs/config.md).",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name, fn, help):
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("config", metavar="CONFIG.yaml", help="build configuration")
        sp.add_argument("--build-dir", help="override the config's build_dir")
        sp.set_defaults(fn=fn)
        return sp

    sp = add("train", cmd_train, "train the float twin and the W5A8 model (QAT); checkpoints and curves in "
             "BUILD/train")
    sp.add_argument("--only", action="append", choices=("float", "w5a8"), help="train only this variant "
                    "(repeatable)")
    sp = add("evaluate", cmd_evaluate, "pixel accuracy, per-class IoU, mIoU, confusion matrix of float vs W5A8 on "
             "the validation split; plots in BUILD/evaluate")
    sp.add_argument("--only", action="append", choices=("float", "w5a8"), help="evaluate only this variant")

    import importlib

    def add_stage(name, fn, help):
        def run(args, fn=fn):
            cfg = _load(args)
            _quiet_imports()
            return fn(args, cfg)

        return add(name, run, help)

    for mod in STAGE_MODULES:
        importlib.import_module(mod).register_cli(add_stage)
    return p


def main(argv=None) -> int:
    from .errors import UserError

    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except UserError as e:
        print(f"unet-fsic: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("unet-fsic: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
