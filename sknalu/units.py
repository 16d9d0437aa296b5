"""The arithmetic units as plain torch modules (see :mod:`sknalu._units`)."""

from ._units import (
    INALU,
    NAC,
    NALU,
    NAU,
    NMRU,
    NMU,
    UNITS,
    ArithmeticUnit,
    Linear,
    NACMul,
    RealNPU,
    nac_init_range,
)

__all__ = [
    "INALU",
    "NAC",
    "NALU",
    "NAU",
    "NMRU",
    "NMU",
    "UNITS",
    "ArithmeticUnit",
    "Linear",
    "NACMul",
    "RealNPU",
    "nac_init_range",
]
