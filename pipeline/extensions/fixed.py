"""Fixed-point type arithmetic shared by the extension passes and :mod:`pipeline.hls.precision` (one copy of each rule).

* :class:`Fx` -- an ``ap_fixed<W,I>`` / ``ap_ufixed<W,I>`` type (optional rounding / saturation mode).
* :func:`exact_accum` -- the exact accumulator of a sum of products plus an optional bias (the one formula used by
  the precision derivation, the ConvT precision pass and the BatchNorm fold pass).
* :func:`signed_int_bits`, :func:`index_bits` -- integer bits needed for given values / for a class index.
* :func:`from_hls` / :func:`to_hls` -- conversion from / to hls4ml precision objects.

Pure Python + numpy: ``pipeline.hls.precision`` imports this module without needing hls4ml, so hls4ml is imported only
inside the two conversion functions (whose callers, the optimizer passes, have imported it already).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Fx", "exact_accum", "from_hls", "index_bits", "signed_int_bits", "to_hls"]


@dataclass(frozen=True)
class Fx:
    """``ap_fixed<width, integer>`` (signed) or ``ap_ufixed<width, integer>``; integer types have integer == width."""

    width: int
    integer: int
    signed: bool
    rounding: str = ""
    saturation: str = ""

    @property
    def frac(self) -> int:
        return self.width - self.integer

    def __str__(self) -> str:
        base = "ap_fixed" if self.signed else "ap_ufixed"
        extra = ""
        if self.rounding or self.saturation:
            extra = f",{self.rounding or 'AP_TRN'},{self.saturation or 'AP_WRAP'}"
        return f"{base}<{self.width},{self.integer}{extra}>"

    def plain(self) -> Fx:
        """The same grid without rounding / saturation modes."""
        return Fx(self.width, self.integer, self.signed)


def exact_accum(x: Fx, w: Fx, n_terms: int, bias: Fx | None) -> Fx:
    """Smallest type holding every sum of ``n_terms`` products ``x*w`` (plus ``bias`` when given) exactly.

    Products need ``W_x + W_w`` bits, the sum ``ceil(log2 n_terms)`` more; a bias adds one integer bit (after both
    operands are made to agree in signedness) and keeps the finer of the two fractions.
    """
    grow = math.ceil(math.log2(n_terms)) if n_terms > 1 else 0
    signed = x.signed or w.signed
    integer = x.integer + w.integer + grow
    frac = x.frac + w.frac
    if bias is not None:
        integer = max(integer + (bias.signed and not signed), bias.integer + (signed and not bias.signed)) + 1
        frac = max(frac, bias.frac)
        signed = signed or bias.signed
    return Fx(integer + frac, integer, signed)


def signed_int_bits(values, frac: int) -> int:
    """Smallest I (>= 1) such that every value fits ap_fixed<I+frac, I> (values already on the 2**-frac grid)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return 1
    lsb = 2.0**-frac
    hi, lo = float(v.max()), float(v.min())
    i = 1
    while not (-(2.0 ** (i - 1)) <= lo and hi <= 2.0 ** (i - 1) - lsb):
        i += 1
    return i


def index_bits(n: int) -> int:
    """Bits of the unsigned index ``0 .. n-1`` (at least 1): ``ceil(log2 n)``."""
    return max(1, math.ceil(math.log2(n)))


def from_hls(precision) -> Fx | None:
    """An hls4ml ``FixedPrecisionType`` / ``IntegerPrecisionType`` as :class:`Fx` (grid only); None for any other
    precision (unspecified, exponent, xnor, float)."""
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType

    if isinstance(precision, FixedPrecisionType):
        return Fx(precision.width, precision.integer, precision.signed)
    if isinstance(precision, IntegerPrecisionType):
        return Fx(precision.width, precision.width, precision.signed)
    return None


def to_hls(t: Fx):
    """:class:`Fx` as an hls4ml ``FixedPrecisionType`` with hls4ml's default (truncate, wrap) modes; ``t``'s
    rounding / saturation are not carried over (callers use it for exact accumulator / weight types)."""
    from hls4ml.model.types import FixedPrecisionType

    return FixedPrecisionType(t.width, t.integer, t.signed)
