"""Model definitions (QKeras W5A8 + float twin), datasets, training and metrics for unet-fsic.

Public entry: :func:`build_model` (the seed U-Net for a loaded config dict).
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from . import qkeras_compat  # noqa: E402

qkeras_compat.apply()

from .model import build_model  # noqa: E402

__all__ = ["build_model"]
