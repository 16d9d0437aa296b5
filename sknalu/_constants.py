"""Simple numbers: the constants of a formula as a reader would write them."""

from __future__ import annotations

import math

__all__ = ["simple_number", "simple_size"]


#: Largest numerator or denominator of a constant read as a simple number.
_SIMPLE_LIMIT = 10**6


def simple_number(value: float, relative: float = 1e-9) -> float:
    """The simplest rational, or rational multiple of a power of π, near ``value``.

    sympy's ``nsimplify`` looks for one within ``relative * |value|``; ``value``
    itself is returned when it finds none whose numerator and denominator are at
    most 10⁶ (one no simpler than the decimal), or without sympy.

    Examples
    --------
    >>> simple_number(0.4999999999)
    0.5
    >>> import math
    >>> simple_number(math.pi / 4 + 1e-13) == math.pi / 4
    True
    >>> simple_number(9.8100000001), simple_number(0.123456789)
    (9.81, 0.123456789)
    """
    if value == 0 or not math.isfinite(value):
        return value
    try:
        import sympy
    except ImportError:
        return value
    tolerance = relative * abs(value)
    best = None
    for found in (
        sympy.nsimplify(value, rational=True, tolerance=tolerance),
        sympy.nsimplify(value, [sympy.pi], tolerance=tolerance),
    ):
        size = simple_size(sympy, found)
        if size is not None and (best is None or size < best[0]):
            best = (size, found)
    return value if best is None else float(best[1])


def simple_size(sympy, expression) -> int | None:
    """Numerator plus denominator of a rational times a power of π; None for others."""
    coefficient, rest = expression.as_coeff_Mul()
    base, exponent = rest.as_base_exp()
    pi_power = rest == 1 or (base == sympy.pi and exponent.is_Integer)
    if not (pi_power and coefficient.is_Rational):
        return None
    if abs(coefficient.p) > _SIMPLE_LIMIT or coefficient.q > _SIMPLE_LIMIT:
        return None
    return abs(int(coefficient.p)) + int(coefficient.q)
