"""Formulas found in closed form: sums and ratios of products of powers of the columns.

``units="auto"`` asks which formula of a broad class fits a table: a constant
times a product of integer powers of the columns (``q1*q2/(4*pi*eps*r**2)``), a
sum of such terms with constant factors (``m*v**2/2 + 9.81*m*h``, ``a*b + 7``), or
a ratio of two such sums (``(m1*x1 + m2*x2)/(m1 + m2)``). Each is linear in its
unknowns once the terms are chosen, so this module finds them by least squares:

- a single product of powers, from the logarithms of the columns and the target
  (any integer exponents, any number of columns);
- a sum of up to four terms, chosen by forward selection with orthogonal least
  squares from a library of products of powers (exponents -3 to 3, at most three
  columns and a total degree of four per term), each choice then improved by
  swapping terms;
- a ratio of two polynomials of degree at most two, any number of terms, from the
  null vector of ``[P, -y Q]`` (``y D - N = 0`` on every row, ``N`` and ``D`` over
  every monomial), by singular value decomposition; with noise, terms dropped one
  at a time while the smallest singular value allows;
- a ratio ``N / D`` of library terms the same way as a sum, from ``y D - N = 0``:
  with one term of ``D`` set to 1 (the constant, or one column or its
  reciprocal), ``y t0`` is a linear combination of the terms of ``N`` and of
  ``-y`` times those of ``D``.

Along each path the held-out rows judge: an exact formula (relative held-out
error at float rounding) stops the search, and otherwise the simplest formula
within 5% of the lowest held-out error is kept, so that noise does not buy terms.
The formula found is then written into a network of the estimator's own units
(:func:`layout`), which computes it and reads it back; the snap moves its
constants onto simple numbers where the held-out rows allow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._closed_form import ClosedForm


# -- writing a formula into a network of units -----------------------------------------
@dataclass
class Layout:
    """The network that computes a :class:`ClosedForm`: its units, width and weights."""

    units: tuple[str, ...]
    hidden_size: int
    weights: list[tuple[str, np.ndarray]]  # per layer: ("exponents" | "linear" | "coef", matrix)
    kind: str = "sum"


def layout(
    formula: ClosedForm, product_unit, n_features: int, names: dict[str, str]
) -> Layout | None:
    """The layers of ``names`` that compute ``formula``, or None if they cannot.

    ``names`` maps the roles ``"product"``, ``"selector"`` and ``"sum"`` to unit
    names of the estimator's family; ``product_unit`` is the product unit's class,
    asked which exponents it allows. Terms whose exponents the product unit takes
    directly multiply the columns; otherwise a selector layer first repeats each
    column as often as its largest power (``h·h`` for a square).
    """
    terms = formula.terms()
    direct = all(product_unit._allows(float(e)) for e in np.unique(terms))
    layers: list[tuple[str, str, np.ndarray]] = []
    if direct:
        product_rows = terms.astype(float)
    else:
        if not all(map(product_unit._allows, (1.0, -1.0))) or np.any(terms != np.round(terms)):
            return None
        repeats = np.abs(terms).max(0).astype(int)
        selector = []
        product_rows = np.zeros((len(terms), int(repeats.sum())))
        start = 0
        for i, r in enumerate(repeats):
            for j in range(r):
                row = np.zeros(n_features)
                row[i] = 1.0
                selector.append(row)
                for t, e in enumerate(terms[:, i]):
                    if abs(e) > j:
                        product_rows[t, start + j] = np.sign(e)
            start += r
        if not selector:
            return None
        layers.append((names["selector"], "linear", np.array(selector)))
    layers.append((names["product"], "exponents", product_rows))
    n_num = len(formula.numerator)
    if formula.denominator is None:
        coef = formula.numerator_coef[None, :]
    else:
        coef = np.zeros((2, len(terms)))
        coef[0, :n_num] = formula.numerator_coef
        coef[1, n_num:] = formula.denominator_coef
    layers.append((names["sum"], "coef", coef))
    if formula.denominator is not None:
        layers.append((names["product"], "exponents", np.array([[1.0, -1.0]])))
    widths = [matrix.shape[0] for _, _, matrix in layers[:-1]]
    width = max(widths)
    return Layout(
        tuple(name for name, _, _ in layers),
        width,
        [(role, matrix) for _, role, matrix in layers],
        formula.kind,
    )


@torch.no_grad()
def load_layout_(module, plan: Layout) -> None:
    """Write ``plan``'s weights into a one-copy ``module`` (unused rows and columns 0)."""
    for layer, (role, matrix) in zip(module.layers, plan.weights, strict=True):
        full = torch.zeros(layer.out_features, layer.in_features, dtype=torch.float64)
        full[: matrix.shape[0], : matrix.shape[1]] = torch.as_tensor(matrix)
        if role == "exponents":
            layer._load_exponents_(full)
        else:
            layer.load_weight_(full)
    if getattr(module, "constants", False):
        module.scale.fill_(1.0)
        module.offset.fill_(0.0)
