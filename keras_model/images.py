"""Images in and out of the model outside the data sets: the resize to the model's input size, the class palettes, the
class-index PNG and the overlay (used by ``unet-fsic infer``, :mod:`pipeline.stages.infer`).

* :func:`resize_to_model` -- an RGB image to the model's input size exactly as the data loader does it for VOC images
  (:mod:`keras_model.voc`: ``Image.resize((W, H), Image.BILINEAR)`` after ``convert("RGB")``; Pillow's bilinear
  filter widens its support when it shrinks, so a large photo is averaged, not sampled). The synthetic set is
  generated at the model size and needs no resize.
* :func:`class_palette` -- the colour of every class index: VOC's colour map (:func:`keras_model.voc.voc_palette`) for
  ``data.source: voc``, :func:`synthetic_palette` otherwise. Index 255 (void) is VOC's void colour in both.
* :func:`class_png` -- a class map as a palette ("P") PNG image: pixel value = class index.
* :func:`overlay` -- an RGB image blended with the colours of a class map (class map scaled to the image with nearest
  neighbour), the blend of ``keras_model.evaluate``'s overlays (45 % image, 55 % class colour, rounded down).
"""
from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image

from . import synthetic
from .voc import voc_palette

RESAMPLE = Image.BILINEAR  # keras_model/voc.py: images bilinear, masks nearest neighbour
RESAMPLE_NAME = "bilinear"
OVERLAY_IMAGE_PERCENT = 45  # as keras_model/evaluate.py's overlays (integer arithmetic here: photos can be large)

# the synthetic set's texture of a class -> (saturation, value) of its colour in the palette; hue = the class's hue
_TEXTURE_SV = {"solid": (1.0, 1.0), "hstripes": (1.0, 0.62), "vstripes": (0.5, 1.0), "checker": (0.6, 0.42)}


def resize_to_model(image: Image.Image, size_hw) -> np.ndarray:
    """(H, W, 3) uint8: ``image`` converted to RGB and resized to ``size_hw`` = (H, W) as :mod:`keras_model.voc` does
    (Pillow bilinear; an image already of that size is unchanged)."""
    h, w = (int(v) for v in size_hw)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return np.asarray(rgb.resize((w, h), RESAMPLE), dtype=np.uint8)


def synthetic_palette() -> list[int]:
    """256 colours flattened ``[r, g, b, ...]`` for the synthetic set's classes: 0 background black; class
    ``1 + hue * 4 + texture`` in its hue family's hue (red, yellow, green, blue, magenta: :data:`synthetic.HUES`),
    the texture setting saturation and brightness (solid: full, hstripes: darker, vstripes: paler, checker: dark and
    pale); every other index (void 255 included) as in VOC's colour map."""
    pal = list(voc_palette())
    pal[0:3] = [0, 0, 0]
    for hue_i, hue in enumerate(synthetic.HUES):
        for tex_i, tex in enumerate(synthetic.TEXTURES):
            s, v = _TEXTURE_SV[tex]
            c = synthetic.class_of(hue_i, tex_i)
            pal[3 * c:3 * c + 3] = [int(round(255 * x)) for x in colorsys.hsv_to_rgb(float(hue), s, v)]
    return pal


def class_palette(config) -> tuple[str, list[int]]:
    """(name, 256 colours flattened ``[r, g, b, ...]``) of the build's classes: ``"voc"`` for ``data.source: voc``,
    ``"synthetic"`` otherwise."""
    if config["data"]["source"] == "voc":
        return "voc", list(voc_palette())
    return "synthetic", synthetic_palette()


def class_png(classes: np.ndarray, palette: list[int]) -> Image.Image:
    """A (H, W) class map (values 0..255) as a mode "P" image with ``palette``: pixel value = class index."""
    im = Image.fromarray(np.asarray(classes, dtype=np.uint8), mode="P")
    im.putpalette(palette)
    return im


def overlay(rgb: np.ndarray, classes: np.ndarray, palette: list[int]) -> np.ndarray:
    """(H, W, 3) uint8: ``rgb`` (any size) blended with the class colours of ``classes`` scaled to ``rgb``'s size with
    nearest neighbour: ``(45 * image + 55 * colour) // 100``."""
    rgb = np.asarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    cls = Image.fromarray(np.asarray(classes, dtype=np.uint8), mode="L")
    if cls.size != (w, h):
        cls = cls.resize((w, h), Image.NEAREST)
    colours = np.array(palette, np.uint16).reshape(-1, 3)[np.asarray(cls)]
    return ((OVERLAY_IMAGE_PERCENT * rgb.astype(np.uint16) + (100 - OVERLAY_IMAGE_PERCENT) * colours) // 100).astype(
        np.uint8)
