"""hls4ml extension plugin of unet-fsic.

One public entry point, :func:`register_extensions`, registers every extension layer of this package with hls4ml
(Keras v2 parser handlers, IR layers, Vivado/Vitis templates, C++ kernels and optimizer passes). It is idempotent:
calling it twice (or from several modules) is safe.

Layers:

* ``conv2d_transpose`` -- Keras ``Conv2DTranspose`` and QKeras ``QConv2DTranspose`` as the IR layer
  ``FsicConv2DTranspose`` (stride-phase decomposition, io_parallel and io_stream, Latency and Resource).

To add a layer: write a module with a ``register()`` function (guarded by its own idempotence) and append it to
``_LAYER_MODULES``.
"""
from __future__ import annotations

import threading

from .errors import UnsupportedLayerError

__all__ = ["register_extensions", "UnsupportedLayerError", "BACKENDS"]

#: hls4ml backends the templates/kernels are registered with (Vitis reuses Vivado's optimizer flows).
BACKENDS = ("Vivado", "Vitis")

_LAYER_MODULES = ("conv2d_transpose", "fxp_batchnorm", "argmax")
_lock = threading.Lock()
_registered = False


def register_extensions() -> None:
    """Register all extension layers with hls4ml (Vivado and Vitis backends). Safe to call more than once."""
    global _registered
    with _lock:
        if _registered:
            return
        import importlib

        for name in _LAYER_MODULES:
            importlib.import_module(f"{__name__}.{name}").register()
        _registered = True
