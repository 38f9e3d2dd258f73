"""Data sets for a build config: uint8 images + uint8 masks (255 = void), and the model's input scaling."""
from __future__ import annotations

import numpy as np

from . import synthetic, voc

VOID = 255


def to_model_input(images_u8: np.ndarray) -> np.ndarray:
    """uint8 RGB -> float32 in [0,1] (the seed: divide by 255, no mean/std)."""
    return images_u8.astype(np.float32) / 255.0


def class_names(config) -> list[str]:
    n = config["model"]["num_classes"]
    if config["data"]["source"] == "voc" and n == len(voc.CLASSES):
        return list(voc.CLASSES)
    if n == synthetic.NUM_CLASSES:
        names = ["background"]
        hue_names = ("red", "yellow", "green", "blue", "magenta")
        for h in hue_names:
            for t in synthetic.TEXTURES:
                names.append(f"{h}-{t}")
        return names
    return [f"class{i}" for i in range(n)]


def load(config, split: str):
    """(images uint8 (n,H,W,3), masks uint8 (n,H,W)) for 'train' or 'val'."""
    h, w, _ = config["model"]["input_shape"]
    d = config["data"]
    if d["source"] == "synthetic":
        s = d["synthetic"]
        return synthetic.make_split(s["seed"], split, s[split], (h, w))
    v = d["voc"]
    limit = v["max_train"] if split == "train" else v["max_val"]
    x, y, _ = voc.load_split(v["root"], split, (h, w), limit)
    return x, y
