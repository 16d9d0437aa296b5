"""Simple numbers: the constants of a formula as a reader would write them."""

from __future__ import annotations

import math
from fractions import Fraction

import torch

#: Largest numerator or denominator of a constant read as a simple number.
_SIMPLE_LIMIT = 10**6
#: The powers of π a simple number may carry, simplest first.
_PI_POWERS = (0, 1, -1, 2, -2, 3, -3)


def _convergents(x: float):
    """The continued-fraction convergents of ``x``, simplest first."""
    a = math.floor(x)
    h0, h1, k0, k1 = 1, a, 0, 1
    yield Fraction(h1, k1)
    r = x - a
    for _ in range(64):
        if r == 0:
            return
        x = 1 / r
        a = math.floor(x)
        r = x - a
        h0, h1 = h1, a * h1 + h0
        k0, k1 = k1, a * k1 + k0
        yield Fraction(h1, k1)


def simple_form(value: float, relative: float = 1e-9) -> tuple[Fraction, int] | None:
    """``(c, k)`` with ``c`` rational and ``c * π**k`` the simplest number near ``value``.

    Near: within ``relative * |value|``. Simplest: the smallest size ``|numerator|
    + denominator`` of ``c``, the lower power of π on a tie; each candidate ``c``
    is the first continued-fraction convergent that is near enough. The size is
    at most ``sqrt(0.01 / relative)`` (and 10⁶): a fraction that large lies near
    almost any number. None when no such number is near, or ``value`` is 0 or not
    finite.

    Examples
    --------
    >>> simple_form(0.4999999999)
    (Fraction(1, 2), 0)
    >>> import math
    >>> simple_form(1 / (4 * math.pi))
    (Fraction(1, 4), -1)
    >>> simple_form(0.123456789) is None
    True
    """
    if value == 0 or not math.isfinite(value):
        return None
    tolerance = relative * abs(value)
    # Some fraction of size S lies within ε of almost any number once S² ε is
    # near 1: only sizes with S² ε ≤ 1/100 are a finding, not a coincidence.
    limit = min(_SIMPLE_LIMIT, math.sqrt(0.01 / relative))
    best = None
    for k in _PI_POWERS:
        scale = math.pi**k
        for c in _convergents(value / scale):
            if abs(c.numerator) + c.denominator > limit:
                break
            if abs(float(c) * scale - value) <= tolerance:
                size = abs(c.numerator) + c.denominator
                if best is None or size < best[0]:
                    best = (size, c, k)
                break
    return None if best is None else (best[1], best[2])


def simple_number(value: float, relative: float = 1e-9) -> float:
    """The simplest rational, or rational multiple of a power of π, near ``value``.

    Near: within ``relative * |value|`` (see :func:`simple_form`); ``value``
    itself when there is none.

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
    form = simple_form(value, relative)
    return value if form is None else form_value(*form)


def form_value(c: Fraction, k: int) -> float:
    """The float of ``c * π**k``, as :func:`simple_number` writes it."""
    return c.numerator * math.pi**k / c.denominator if k else float(c)


def simple_numbers(values: torch.Tensor, relative: float = 1e-9) -> torch.Tensor:
    """:func:`simple_number` of every entry of ``values``, as a tensor like it."""
    simple = [simple_number(v, relative) for v in values.detach().cpu().reshape(-1).tolist()]
    return torch.tensor(simple, dtype=values.dtype).to(values.device).reshape(values.shape)
