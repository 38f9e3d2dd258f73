"""Embedded synthetic segmentation data set: deterministic, 21 classes, offline.

Each image is a cluttered background (class 0) with several overlapping objects (classes 1..20). A class is the pair
(hue family, texture): 5 hue families x 4 textures (solid, horizontal stripes, vertical stripes, checker). Shapes
(ellipse, rectangle, triangle, ring, blob), sizes, positions, exact hue, saturation, brightness, stripe phase and period
vary per object, objects occlude each other, and the background carries low-saturation noise, gradients and
*saturated distractor specks* (still background) so colour alone is not enough. Like VOC, a one-pixel band around every
object is void (255), ignored by loss and metrics.

Image ``i`` of a split is a pure function of ``(seed, split, i)``: the set never changes and never needs a download.
"""
from __future__ import annotations

import numpy as np

NUM_CLASSES = 21
VOID = 255
HUES = np.array([0.0, 0.17, 0.33, 0.58, 0.80])  # red, yellow, green, blue, magenta (fractions of the colour circle)
TEXTURES = ("solid", "hstripes", "vstripes", "checker")
_SPLIT_ID = {"train": 1, "val": 2, "test": 3}


def class_of(hue_idx: int, texture_idx: int) -> int:
    return 1 + hue_idx * len(TEXTURES) + texture_idx


def _hsv_to_rgb(h, s, v):
    """Vectorised HSV->RGB, all in [0,1]."""
    h = np.mod(h, 1.0) * 6.0
    i = np.floor(h).astype(int) % 6
    f = h - np.floor(h)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=-1)


def _smooth_noise(rng, h, w, cells):
    g = rng.random((cells + 1, cells + 1))
    ys = np.linspace(0, cells, h)
    xs = np.linspace(0, cells, w)
    y0 = np.floor(ys).astype(int).clip(0, cells - 1)
    x0 = np.floor(xs).astype(int).clip(0, cells - 1)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    a = g[y0][:, x0]
    b = g[y0][:, x0 + 1]
    c = g[y0 + 1][:, x0]
    d = g[y0 + 1][:, x0 + 1]
    return a * (1 - fy) * (1 - fx) + b * (1 - fy) * fx + c * fy * (1 - fx) + d * fy * fx


def _shape_mask(rng, h, w, yy, xx):
    size = rng.uniform(0.18, 0.45) * min(h, w)
    cy, cx = rng.uniform(0.1, 0.9) * h, rng.uniform(0.1, 0.9) * w
    ry, rx = size * rng.uniform(0.6, 1.0), size * rng.uniform(0.6, 1.0)
    ang = rng.uniform(0, np.pi)
    dy, dx = yy - cy, xx - cx
    u = (dx * np.cos(ang) + dy * np.sin(ang)) / rx
    v = (-dx * np.sin(ang) + dy * np.cos(ang)) / ry
    kind = rng.integers(0, 5)
    if kind == 0:  # ellipse
        return u * u + v * v <= 1.0
    if kind == 1:  # rectangle
        return (np.abs(u) <= 1.0) & (np.abs(v) <= 0.8)
    if kind == 2:  # triangle
        return (v <= 0.8) & (v >= 2.0 * np.abs(u) - 1.0)
    if kind == 3:  # ring
        r2 = u * u + v * v
        return (r2 <= 1.0) & (r2 >= 0.35)
    # blob: ellipse with a wobbling radius
    theta = np.arctan2(v, u)
    k, amp = rng.integers(3, 6), rng.uniform(0.15, 0.3)
    return np.sqrt(u * u + v * v) <= 1.0 + amp * np.sin(k * theta + rng.uniform(0, 6.28))


def _texture(rng, t_idx, yy, xx):
    period = int(rng.integers(4, 7))
    phase = int(rng.integers(0, period))
    half = period // 2
    if TEXTURES[t_idx] == "solid":
        return np.ones_like(yy, dtype=float)
    if TEXTURES[t_idx] == "hstripes":
        return (((yy.astype(int) + phase) % period) < half).astype(float)
    if TEXTURES[t_idx] == "vstripes":
        return (((xx.astype(int) + phase) % period) < half).astype(float)
    return (((yy.astype(int) // half) + (xx.astype(int) // half) + phase) % 2).astype(float)


def make_sample(seed: int, split: str, index: int, size=(64, 64)) -> tuple[np.ndarray, np.ndarray]:
    """One (image uint8 HxWx3, mask uint8 HxW with classes 0..20 and 255 void)."""
    h, w = size
    rng = np.random.default_rng([int(seed), _SPLIT_ID[split], int(index)])
    yy, xx = np.mgrid[0:h, 0:w].astype(float)

    # background: low-saturation colour field + gradient + noise
    bh = rng.random()
    hue = bh + 0.15 * _smooth_noise(rng, h, w, 3)
    sat = 0.05 + 0.2 * _smooth_noise(rng, h, w, 4)
    val = 0.25 + 0.55 * _smooth_noise(rng, h, w, 5)
    g = rng.uniform(-0.2, 0.2)
    val = np.clip(val + g * (yy / h - 0.5), 0, 1)
    img = _hsv_to_rgb(hue, sat, val)
    mask = np.zeros((h, w), np.uint8)
    void = np.zeros((h, w), bool)

    n_obj = int(rng.integers(6, 10))
    for _ in range(n_obj):
        hue_i = int(rng.integers(0, len(HUES)))
        tex_i = int(rng.integers(0, len(TEXTURES)))
        m = _shape_mask(rng, h, w, yy, xx)
        if m.sum() < 12:
            continue
        tex = _texture(rng, tex_i, yy, xx)
        oh = HUES[hue_i] + rng.uniform(-0.04, 0.04)
        os_ = rng.uniform(0.55, 1.0)
        ov = rng.uniform(0.6, 1.0)
        dark = rng.uniform(0.25, 0.5)  # texture contrast: "off" stripes are darker versions of the same hue
        v_map = ov * (tex + (1 - tex) * dark)
        col = _hsv_to_rgb(np.full((h, w), oh), np.full((h, w), os_), v_map)
        img = np.where(m[..., None], col, img)
        mask[m] = class_of(hue_i, tex_i)
        # boundary band of this object (1 px): void, like VOC
        edge = m & ~(np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1))
        void[m] = False
        void |= edge

    # distractors: small saturated specks that belong to the background
    for _ in range(int(rng.integers(3, 8))):
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        r = rng.uniform(1.0, 2.5)
        sp = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        img[sp] = _hsv_to_rgb(np.array(rng.random()), np.array(rng.uniform(0.6, 1)), np.array(rng.uniform(0.6, 1)))
        mask[sp] = 0
        void[sp] = False

    img = img + rng.normal(0, 0.03, img.shape)
    img = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    mask[void] = VOID
    return img, mask


def make_split(seed: int, split: str, n: int, size=(64, 64)) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples: images (n,H,W,3) uint8, masks (n,H,W) uint8."""
    x = np.empty((n, size[0], size[1], 3), np.uint8)
    y = np.empty((n, size[0], size[1]), np.uint8)
    for i in range(n):
        x[i], y[i] = make_sample(seed, split, i, size)
    return x, y
