"""The numbers a formula is written with: discrete weights and simple constants.

A weight of a solved network is one of a few discrete values (:data:`SIGNED` for an
entry of a linear map, :func:`nearest_value` and :func:`divided_by_largest` round
onto them), and a constant is best written as a simple number: a small fraction,
times a power of π (:func:`simple_form`, :func:`simple_number`).
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch

from ._tolerances import SIMPLE_RELATIVE

#: The discrete values of an adding weight, e.g. an entry of a unit's linear map:
#: subtract, leave out, add.
SIGNED: tuple[float, ...] = (-1.0, 0.0, 1.0)

#: Largest size (``|numerator| + denominator``) of a constant read as a simple number.
_SIMPLE_LIMIT = 10**6
#: A fraction of size S found within a relative distance ε counts as a finding, not
#: a coincidence, only while S² ε stays below this: one that large lies near almost
#: any number.
_COINCIDENCE = 0.01
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


def simple_form(value: float, relative: float = SIMPLE_RELATIVE) -> tuple[Fraction, int] | None:
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
    limit = min(_SIMPLE_LIMIT, math.sqrt(_COINCIDENCE / relative))
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


def simple_number(value: float, relative: float = SIMPLE_RELATIVE) -> float:
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


def simple_numbers(values: torch.Tensor, relative: float = SIMPLE_RELATIVE) -> torch.Tensor:
    """:func:`simple_number` of every entry of ``values``, as a tensor like it."""
    simple = [simple_number(v, relative) for v in values.detach().cpu().reshape(-1).tolist()]
    return torch.tensor(simple, dtype=values.dtype).to(values.device).reshape(values.shape)


def nearest_value(w: torch.Tensor, values: tuple[float, ...]) -> torch.Tensor:
    """The entry of ``values`` nearest to each element of ``w``; ties go to the first.

    Examples
    --------
    >>> nearest_value(torch.tensor([-0.7, 0.2, 0.5, 0.98]), SIGNED)
    tensor([-1.,  0.,  0.,  1.])
    """
    values = torch.tensor(values, dtype=w.dtype, device=w.device)
    index = (w.unsqueeze(-1) - values).abs().argmin(dim=-1)
    return values[index]


def divided_by_largest(v: torch.Tensor) -> torch.Tensor:
    """Each row of ``v`` divided by its entry of largest magnitude (sign kept); a row
    of zeros stays as it is.

    Examples
    --------
    >>> divided_by_largest(torch.tensor([[2.0, -4.0], [0.0, 0.0]]))
    tensor([[-0.5000,  1.0000],
            [ 0.0000,  0.0000]])
    """
    largest = v.gather(-1, v.abs().argmax(dim=-1, keepdim=True))
    return v / torch.where(largest == 0, 1.0, largest)
