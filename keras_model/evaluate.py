"""Evaluation of the trained float twin and W5A8 model on the validation split (Keras inference, void ignored).

Writes under ``<build_dir>/evaluate/``: ``metrics.json`` (pixel accuracy, per-class IoU, mIoU, confusion matrices for
both variants), ``metrics.md`` (side-by-side table), ``confusion.png``, ``iou_per_class.png`` and ``overlays.png``
(input / ground truth / float / W5A8 for a few frames).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import data, metrics
from .model_io import save_json
from .train import VARIANTS, load_trained
from .voc import voc_palette


def eval_dir(config) -> Path:
    from pipeline.build import BuildDir

    return BuildDir.of(config).evaluate


def predict_classes(model, images_u8: np.ndarray, batch_size: int = 32) -> np.ndarray:
    logits = model.predict(data.to_model_input(images_u8), batch_size=batch_size, verbose=0)
    return np.argmax(logits, axis=-1).astype(np.uint8)  # ties -> lowest index


def colorize(mask: np.ndarray) -> np.ndarray:
    pal = np.array(voc_palette(), np.uint8).reshape(256, 3)
    pal[255] = (224, 224, 192)  # VOC's void colour
    return pal[mask]


def run(config, variants=VARIANTS) -> dict:
    out = eval_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    x, y = data.load(config, "val")
    ncls = config["model"]["num_classes"]
    names = data.class_names(config)
    bs = config["evaluate"]["batch_size"]
    res = {"provenance": "Keras inference (TensorFlow, CPU) on the validation split; void (255) ignored",
           "frames": int(len(x)), "class_names": names, "variants": {}}
    preds = {}
    for v in variants:
        model = load_trained(config, v)
        p = predict_classes(model, x, bs)
        cm = metrics.confusion_matrix(y, p, ncls)
        res["variants"][v] = {**metrics.scores(cm), "confusion_matrix": cm.tolist()}
        preds[v] = p
    # majority-class baseline for context
    valid = y != metrics.VOID
    counts = np.bincount(y[valid].ravel(), minlength=ncls)
    res["majority_class_pixel_accuracy"] = float(counts.max() / max(counts.sum(), 1))
    save_json(out / "metrics.json", res)
    (out / "metrics.md").write_text(to_markdown(res))
    _plot_confusion(res, out / "confusion.png")
    _plot_iou(res, out / "iou_per_class.png")
    if config["evaluate"]["overlay_frames"]:
        _plot_overlays(x, y, preds, config["evaluate"]["overlay_frames"], out / "overlays.png")
    return res


def to_markdown(res: dict) -> str:
    vs = list(res["variants"])
    lines = [f"Accuracy on {res['frames']} validation frames ({res['provenance']}).", "",
             "| metric | " + " | ".join(vs) + " |", "|---|" + "---|" * len(vs)]
    lines.append("| pixel accuracy | " + " | ".join(f"{100 * res['variants'][v]['pixel_accuracy']:.2f} %"
                                                    for v in vs) + " |")
    lines.append("| mIoU | " + " | ".join(f"{100 * res['variants'][v]['miou']:.2f} %" for v in vs) + " |")
    lines.append(f"\nMajority-class baseline pixel accuracy: {100 * res['majority_class_pixel_accuracy']:.2f} %.\n")
    lines += ["| class | " + " | ".join(f"IoU {v}" for v in vs) + " |", "|---|" + "---|" * len(vs)]
    for i, n in enumerate(res["class_names"]):
        cells = []
        for v in vs:
            iou = res["variants"][v]["iou"][i]
            cells.append("n/a" if iou is None else f"{100 * iou:.1f} %")
        lines.append(f"| {i} {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_confusion(res, path):
    plt = _plt()
    vs = list(res["variants"])
    fig, axes = plt.subplots(1, len(vs), figsize=(6 * len(vs), 5.4))
    axes = np.atleast_1d(axes)
    for ax, v in zip(axes, vs):
        cm = np.array(res["variants"][v]["confusion_matrix"], np.float64)
        norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        im = ax.imshow(norm, cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"{v}: row-normalised confusion")
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_iou(res, path):
    plt = _plt()
    vs = list(res["variants"])
    n = len(res["class_names"])
    fig, ax = plt.subplots(figsize=(max(8, n * 0.55), 4))
    width = 0.8 / len(vs)
    for k, v in enumerate(vs):
        iou = [np.nan if a is None else a for a in res["variants"][v]["iou"]]
        ax.bar(np.arange(n) + k * width, iou, width,
               label=f"{v} (mIoU {100 * res['variants'][v]['miou']:.1f} %)")
    ax.set_xticks(np.arange(n) + width * (len(vs) - 1) / 2)
    ax.set_xticklabels(res["class_names"], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("IoU")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("Per-class IoU on the validation split (Keras)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_overlays(x, y, preds, n, path):
    plt = _plt()
    n = min(n, len(x))
    cols = ["input", "ground truth"] + [f"{v} prediction" for v in preds]
    fig, axes = plt.subplots(n, len(cols), figsize=(2.2 * len(cols), 2.2 * n))
    axes = np.array(axes).reshape(n, len(cols))
    for i in range(n):
        panels = [x[i], colorize(y[i])] + [
            (0.45 * x[i] + 0.55 * colorize(p[i])).astype(np.uint8) for p in preds.values()]
        for j, img in enumerate(panels):
            axes[i, j].imshow(img, interpolation="nearest")
            axes[i, j].axis("off")
            if i == 0:
                axes[i, j].set_title(cols[j], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
