"""Saving / loading models (QKeras layers + our custom layers) and small JSON helpers."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from tensorflow import keras

from .layers import CUSTOM_OBJECTS
from .metrics import MaskedMeanIoU, MaskedPixelAccuracy, masked_sparse_ce


def custom_objects() -> dict:
    from qkeras.utils import _add_supported_quantized_objects

    co: dict = {}
    _add_supported_quantized_objects(co)
    co.update(CUSTOM_OBJECTS)
    co.update({"masked_sparse_ce": masked_sparse_ce, "MaskedPixelAccuracy": MaskedPixelAccuracy,
               "MaskedMeanIoU": MaskedMeanIoU})
    return co


def load_model(path) -> keras.Model:
    """Load a .h5 model saved by this package (or a user's QKeras/Keras model) for inference."""
    from pipeline.errors import UserError

    p = Path(path)
    if not p.is_file():
        raise UserError(f"{path}: no such model file")
    try:
        return keras.models.load_model(str(p), custom_objects=custom_objects(), compile=False)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path}: cannot load Keras model ({str(e).splitlines()[0][:200]})") from None


def save_json(path, obj) -> None:
    """Write JSON atomically (temp file + rename): a reader never sees half a file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=p.name + ".", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False, default=_json_default)
        f.write("\n")
    os.replace(tmp, p)


def _json_default(o):
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")
