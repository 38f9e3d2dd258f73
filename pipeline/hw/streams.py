"""What the IP's streams carry: the input mapping from ordinary images to the stream's codes.

The model's input quantizer is ``quantized_bits(8, 0, keep_negative=False)`` applied to ``x = p/255``: code ``=
clip(round_half_even(p*256/255), 0, 255)``, and since ``p/255`` is never exactly ``.5``, ``code = min(255, p + (p >=
128))``. The C model / hardware input type is ``ap_ufixed<8,0>`` and the byte sent is that raw code (value
``code/256``). Tested against QKeras's own quantizer on all 256 byte values (tests/test_input_mapping.py).
"""
from __future__ import annotations

import numpy as np

from ..errors import UserError


def hardware_input(images_u8) -> np.ndarray:
    """uint8 image(s) -> uint8 raw ``ap_ufixed<8,0>`` codes (what the IP's input stream carries per channel)."""
    p = np.asarray(images_u8)
    if p.dtype != np.uint8:
        raise UserError(f"hardware_input: expected uint8 images, got {p.dtype}")
    p = p.astype(np.int32)
    return np.minimum(255, p + (p >= 128)).astype(np.uint8)


def csim_input(images_u8) -> np.ndarray:
    """float32 values fed to the C simulation (exactly representable: code / 256)."""
    return (hardware_input(images_u8).astype(np.float32) / 256.0).astype(np.float32)
