"""Float and W5A8 (QAT) training of the U-Net for a build config.

Outputs, all under ``<build_dir>/train/``:

- ``float_model.h5`` / ``w5a8_model.h5``: best checkpoint by validation mIoU (full Keras models; load with
  :func:`load_trained`),
- ``int_bits.json``: the integer bits the W5A8 quantizers use (calibrated from the float twin, YAML overrides applied),
- ``history_float.csv`` / ``history_w5a8.csv`` and ``curves.png``: loss / pixel accuracy / mIoU per epoch,
- ``train_summary.json``: wall times, epochs, best scores, seeds.

Reproducible: the data set is a pure function of its seed, and ``tf.keras.utils.set_random_seed`` +
``enable_op_determinism`` make the run repeatable on the same machine and TF build.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow import keras

from pipeline.guard import test_hook

from . import calibrate, data, metrics
from .model import build_model
from .model_io import custom_objects, load_model, save_json

VARIANTS = ("float", "w5a8")


def train_dir(config) -> Path:
    from pipeline.build import BuildDir

    return BuildDir.of(config).train


def _seed_everything(seed: int):
    keras.utils.set_random_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # pragma: no cover - older TF
        pass


def _optimizer(tcfg):
    if tcfg["optimizer"] == "sgd":
        return keras.optimizers.SGD(tcfg["lr"], momentum=tcfg["momentum"])
    return keras.optimizers.Adam(tcfg["lr"])


def _add_weight_decay(model, wd: float):
    if wd <= 0:
        return
    for layer in model.layers:
        k = getattr(layer, "kernel", None)
        if k is not None:
            model.add_loss(lambda k=k: wd * tf.reduce_sum(tf.square(k)))


def compile_model(model, tcfg, num_classes):
    _add_weight_decay(model, tcfg["weight_decay"])
    model.compile(
        optimizer=_optimizer(tcfg),
        loss=metrics.masked_sparse_ce,
        metrics=[metrics.MaskedPixelAccuracy(), metrics.MaskedMeanIoU(num_classes)],
    )


def _verbose(config) -> int:
    v = config["train"]["verbose"]
    if v is not None:
        return v
    return 1 if sys.stdout.isatty() else 2


def fit(model, tcfg, config, xtr, ytr, xva, yva, name: str, out: Path):
    """Train ``model`` with ``tcfg`` (the ``train.float`` / ``train.qat`` section); keep the best checkpoint."""
    ckpt = out / f"{name}_model.h5"
    cbs = [
        keras.callbacks.ModelCheckpoint(str(ckpt), monitor="val_miou", mode="max", save_best_only=True, verbose=0),
        keras.callbacks.CSVLogger(str(out / f"history_{name}.csv")),
    ]
    if tcfg["lr_milestones"]:
        ms, g, lr0 = sorted(tcfg["lr_milestones"]), tcfg["lr_gamma"], tcfg["lr"]
        cbs.append(keras.callbacks.LearningRateScheduler(lambda ep: lr0 * g ** sum(ep >= m for m in ms)))
    ds = (tf.data.Dataset.from_tensor_slices((xtr, ytr))
          .shuffle(len(xtr), seed=config["seed"], reshuffle_each_iteration=True)
          .batch(tcfg["batch_size"]))
    print(f"[train] {name}: {tcfg['epochs']} epochs, {len(xtr)} train / {len(xva)} val images", flush=True)
    t0 = time.time()
    hist = model.fit(ds, validation_data=(xva, yva), epochs=tcfg["epochs"], verbose=_verbose(config),
                     validation_batch_size=config["evaluate"]["batch_size"], callbacks=cbs)
    wall = time.time() - t0
    h = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    if not ckpt.exists():  # zero epochs: keep the initial model so later stages have something to load
        model.save(str(ckpt))
    best = int(np.argmax(h["val_miou"])) if h.get("val_miou") else None
    return {
        "epochs": tcfg["epochs"],
        "wall_s": wall,
        "history": h,
        "best_epoch": None if best is None else best + 1,
        "best_val_miou": None if best is None else h["val_miou"][best],
        "best_val_pixel_acc": None if best is None else h["val_pixel_acc"][best],
    }


def transfer_weights(src: keras.Model, dst: keras.Model) -> int:
    """Copy weights layer by layer by name (float twin -> W5A8 model). Returns the number of layers copied."""
    n = 0
    by_name = {layer.name: layer for layer in src.layers}
    for layer in dst.layers:
        s = by_name.get(layer.name)
        if s is None or not layer.weights:
            continue
        layer.set_weights(s.get_weights())
        n += 1
    return n


def plot_curves(results: dict, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for name, res in results.items():
        h = res["history"]
        if not h:
            continue
        ep = np.arange(1, len(h["loss"]) + 1)
        for ax, key, title in zip(axes, ("loss", "pixel_acc", "miou"), ("loss", "pixel accuracy", "mIoU")):
            ax.plot(ep, h[key], "--", label=f"{name} train")
            ax.plot(ep, h["val_" + key], "-", marker="o", ms=3, label=f"{name} val")
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Training curves (Keras, void pixels ignored)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(config, variants=VARIANTS) -> dict:
    """Train the requested variants ('float', 'w5a8') and write everything under ``<build_dir>/train``."""
    out = train_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    _seed_everything(config["seed"])
    t0 = time.time()
    xtr_u8, ytr = data.load(config, "train")
    xva_u8, yva = data.load(config, "val")
    xtr, xva = data.to_model_input(xtr_u8), data.to_model_input(xva_u8)
    ncls = config["model"]["num_classes"]
    results: dict = {}

    float_model = None
    if "float" in variants:
        float_model = build_model(config, quantized=False)
        compile_model(float_model, config["train"]["float"], ncls)
        results["float"] = fit(float_model, config["train"]["float"], config, xtr, ytr, xva, yva, "float", out)
        float_model = load_model(out / "float_model.h5")
        test_hook("train:after-float")

    if "w5a8" in variants:
        qcfg = config["train"]["qat"]
        int_bits = None
        if qcfg["init"] == "float":
            if float_model is None:
                fpath = out / "float_model.h5"
                if not fpath.exists():
                    from pipeline.errors import UserError

                    raise UserError(f"train.qat.init is 'float' but {fpath} does not exist: train the float model "
                                    "first (or set train.qat.init: scratch)")
                float_model = load_model(fpath)
            calib = xtr[: min(len(xtr), 64)]
            int_bits = calibrate.calibrate(float_model, calib, config["quant"]["calibration_percentile"])
        _seed_everything(config["seed"] + 1)
        qmodel = build_model(config, quantized=True, int_bits=int_bits)
        if qcfg["init"] == "float":
            transfer_weights(float_model, qmodel)
        save_json(out / "int_bits.json", qmodel.unet_int_bits)
        compile_model(qmodel, qcfg, ncls)
        results["w5a8"] = fit(qmodel, qcfg, config, xtr, ytr, xva, yva, "w5a8", out)

    plot_curves(results, out / "curves.png")
    summary = {
        "seed": config["seed"],
        "data": config["data"]["source"],
        "train_images": int(len(xtr)),
        "val_images": int(len(xva)),
        "total_wall_s": time.time() - t0,
        "cpu_count": os.cpu_count(),
        "variants": {k: {kk: vv for kk, vv in v.items() if kk != "history"} for k, v in results.items()},
    }
    prev = out / "train_summary.json"
    if prev.exists():  # keep the other variant's record when only one was retrained
        old = json.loads(prev.read_text()).get("variants", {})
        summary["variants"] = {**old, **summary["variants"]}
    save_json(prev, summary)
    return summary


def load_trained(config, variant: str) -> keras.Model:
    """The best checkpoint of ``variant`` ('float' or 'w5a8') from this build's train directory."""
    path = train_dir(config) / f"{variant}_model.h5"
    if not path.exists():
        from pipeline.errors import UserError

        raise UserError(f"{path}: no trained {variant} model (run `unet-fsic train` first)")
    return load_model(path)


__all__ = ["run", "load_trained", "transfer_weights", "custom_objects"]
