"""FPGA part capacities (LUT, FF, BRAM in 36 Kb tiles, DSP), from the vendors' product tables."""
from __future__ import annotations

from ..errors import UserError

PARTS = {  # prefix -> capacity (BRAM in 36 Kb tiles)
    "xc7z010": {"LUT": 17600, "FF": 35200, "BRAM36": 60, "DSP": 80},
    "xc7z020": {"LUT": 53200, "FF": 106400, "BRAM36": 140, "DSP": 220},
    "xc7z045": {"LUT": 218600, "FF": 437200, "BRAM36": 545, "DSP": 900},
    "xczu9eg": {"LUT": 274080, "FF": 548160, "BRAM36": 912, "DSP": 2520},
}
BRAM18_SHAPES = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))


def part_capacity(part: str) -> dict:
    p = part.lower().replace("-", "")
    for k, v in PARTS.items():
        if p.startswith(k):
            return dict(v)
    raise UserError(f"hls.part: no capacity table for {part!r} (known: {', '.join(PARTS)})")
