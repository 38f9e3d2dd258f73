"""hls4ml extension plugin of unet-fsic.

One public entry point, :func:`register_extensions`, registers every extension layer of this package with hls4ml
(Keras v2 parser handlers, IR layers, Vivado/Vitis templates, C++ kernels and optimizer passes). It is idempotent:
calling it twice (or from several modules) is safe.

Modules:

* ``registry`` -- :func:`register_extensions`' implementation: what is registered where, the one idempotence guard,
  and the only code touching hls4ml internals (pass placement in the ``convert`` flow);
* ``conv2d_transpose`` -- Keras ``Conv2DTranspose`` / QKeras ``QConv2DTranspose`` as the IR layer
  ``FsicConv2DTranspose`` (stride-phase decomposition, io_parallel and io_stream, Latency and Resource);
* ``fxp_batchnorm`` -- ``FxpBatchNorm`` as hls4ml's ``BatchNormalization`` with exact weights and types, and the
  optional fold pass;
* ``argmax`` -- the ``ArgmaxHead`` Keras layer and its IR layer ``FsicArgmax``;
* ``mult_binding`` -- ``hls.multiplier_binding``: conv / convT multiplies bound to DSP48 or LUT fabric (our product
  classes in ``nnet_fsic_mult.h``, the late ``BindMultipliers`` template pass);
* ``fixed`` -- fixed-point type arithmetic shared with :mod:`pipeline.hls.precision` (exact accumulator, type
  conversion);
* ``errors`` -- :class:`UnsupportedLayerError`;
* ``nnet_utils/`` -- the C++ kernels.

This package's ``__init__`` and ``fixed`` / ``errors`` import neither hls4ml nor TensorFlow
(:mod:`pipeline.hls.precision` imports ``fixed``); the layer modules and ``registry`` import hls4ml at the top,
like hls4ml's own modules.
"""
from __future__ import annotations

from .errors import UnsupportedLayerError

__all__ = ["register_extensions", "UnsupportedLayerError"]


def register_extensions() -> None:
    """Register all extension layers with hls4ml (every backend of :data:`registry.BACKENDS`). Safe to call more than
    once."""
    from .registry import register_all  # imports hls4ml: only when registering

    register_all()
