"""Model definitions (QKeras W5A8 + float twin), datasets, training and metrics for unet-fsic."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from . import qkeras_compat  # noqa: E402

qkeras_compat.apply()
