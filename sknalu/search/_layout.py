"""Writing a formula found in closed form into a network of the estimator's units.

:func:`layout` plans the layers that compute a :class:`ClosedForm` (a product unit,
a selector where a power needs one, a sum unit for the constants); the plan's
:meth:`Layout.load_` writes its weights into the network, which is then evaluated,
snapped and read back like any fitted network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._closed_form import ClosedForm
from ._functions import Composed, FunctionSum


# -- writing a formula into a network of units -----------------------------------------
@dataclass
class Layout:
    """The network that computes a :class:`ClosedForm`: its units, width and weights."""

    units: tuple[str, ...]
    hidden_size: int
    #: Per layer: ("exponents" | "linear" | "coef", matrix), or ("functions",
    #: (weight, bias, the function of each output)).
    weights: list[tuple[str, object]]
    kind: str = "sum"

    def load_(self, module) -> None:
        """Write these weights into a one-copy ``module`` (see :func:`load_layout_`)."""
        load_layout_(module, self)


def layout(formula, product_unit, n_features: int, names: dict[str, str]) -> Layout | None:
    """The layers of ``names`` that compute ``formula``, or None if they cannot.

    ``names`` maps the roles ``"product"``, ``"selector"``, ``"sum"`` and
    ``"function"`` to unit names of the estimator's family; ``product_unit`` is
    the product unit's class, asked which exponents it allows. Terms whose
    exponents the product unit takes directly multiply the columns; otherwise a
    selector layer first repeats each column as often as its largest power
    (``h·h`` for a square). A term with functions adds a function unit and a
    second product unit (the term's monomial times its functions); a function of
    a formula adds a function unit at the end.
    """
    if isinstance(formula, Composed):
        return _composed(formula, product_unit, n_features, names)
    if isinstance(formula, FunctionSum):
        layers = _function_terms(formula, product_unit, n_features, names)
    else:
        layers = _closed_form(formula, product_unit, n_features, names)
    return None if layers is None else _plan(layers, formula.kind)


def _plan(layers: list, kind: str) -> Layout:
    width = (
        max(
            matrix[0].shape[0] if isinstance(matrix, tuple) else matrix.shape[0]
            for _, _, matrix in layers[:-1]
        )
        if len(layers) > 1
        else 1
    )
    return Layout(
        tuple(name for name, _, _ in layers),
        width,
        [(role, matrix) for _, role, matrix in layers],
        kind,
    )


def _monomials(terms, product_unit, n_features: int, names) -> list | None:
    """The layers whose last outputs each term's product of powers of the columns."""
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
    return layers


def _closed_form(formula: ClosedForm, product_unit, n_features: int, names) -> list | None:
    terms = formula.terms()
    layers = _monomials(terms, product_unit, n_features, names)
    if layers is None:
        return None
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
    return layers


def _function_terms(formula: FunctionSum, product_unit, n_features: int, names) -> list | None:
    """Monomials, then a function unit (each term's monomial as it is, each of its
    functions of its sum of monomials), then a product per term, then the sum."""
    if "function" not in names or not product_unit._allows(1.0):
        return None
    monomials: list[np.ndarray] = []

    def index(row) -> int:
        for i, known in enumerate(monomials):
            if np.array_equal(known, row):
                return i
        monomials.append(np.asarray(row))
        return len(monomials) - 1

    channels = []  # (weights over the monomials as {index: a}, bias, function)
    products = []  # per term: {channel: its power in the term's product}
    for term in formula.terms_:
        own = {len(channels): 1.0}
        channels.append(({index(term.exponents): 1.0}, 0.0, "id"))
        for factor in term.factors:
            powers = _powers(float(factor.power), product_unit)
            if powers is None:
                return None
            inside = {
                index(row): float(a) for row, a in zip(factor.inner, factor.inner_coef, strict=True)
            }
            for power in powers:  # a function's square: the same channel twice
                own[len(channels)] = power
                channels.append((inside, float(factor.shift), factor.name))
        products.append(own)
    layers = _monomials(np.array(monomials), product_unit, n_features, names)
    if layers is None:
        return None
    weight = np.zeros((len(channels), len(monomials)))
    bias = np.zeros(len(channels))
    for c, (inside, b, _) in enumerate(channels):
        for i, a in inside.items():
            weight[c, i] = a
        bias[c] = b
    layers.append((names["function"], "functions", (weight, bias, [f for _, _, f in channels])))
    exponents = np.zeros((len(products), len(channels)))
    for t, own in enumerate(products):
        for c, power in own.items():
            exponents[t, c] = power
    layers.append((names["product"], "exponents", exponents))
    coef = np.asarray(formula.coef, float)[None, :]
    split = getattr(formula, "n_numerator", None)
    if split is not None:  # a ratio: the numerator's row over the denominator's
        if not product_unit._allows(-1.0):
            return None
        top = np.arange(coef.shape[1]) < split
        coef = np.concatenate([coef * top, coef * ~top])
    layers.append((names["sum"], "coef", coef))
    if split is not None:
        layers.append((names["product"], "exponents", np.array([[1.0, -1.0]])))
    return layers


def _powers(power: float, product_unit) -> list[float] | None:
    """The exponents of the product unit whose product is ``power``: ``power``
    itself where the unit allows it, else an integer power as that many factors
    of ±1 (``(x2 - x1)**-2`` for the NMRU, which allows -1 but not -2); None
    where neither holds."""
    if product_unit._allows(power):
        return [power]
    unit = 1.0 if power > 0 else -1.0
    if power != round(power) or not product_unit._allows(unit):
        return None
    return [unit] * int(abs(power))


def _composed(formula: Composed, product_unit, n_features: int, names) -> Layout | None:
    """The inner formula's layers, then its outer function (and sign) at the end."""
    if formula.inner.__class__ is Composed:
        return None
    inner = (
        _function_terms(formula.inner, product_unit, n_features, names)
        if isinstance(formula.inner, FunctionSum)
        else _closed_form(formula.inner, product_unit, n_features, names)
    )
    if inner is None:
        return None
    if formula.outer == "reciprocal":
        if not product_unit._allows(-1.0):
            return None
        inner.append((names["product"], "exponents", np.array([[-1.0]])))
    else:
        if "function" not in names:
            return None
        inner.append(
            (names["function"], "functions", (np.ones((1, 1)), np.zeros(1), [formula.outer]))
        )
    inner.append((names["sum"], "coef", np.array([[formula.sign]])))
    return _plan(inner, formula.kind)


@torch.no_grad()
def load_layout_(module, plan: Layout) -> None:
    """Write ``plan``'s weights into a one-copy ``module`` (unused rows and columns 0)."""
    for layer, (role, matrix) in zip(module.layers, plan.weights, strict=True):
        full = torch.zeros(layer.out_features, layer.in_features, dtype=torch.float64)
        if role != "functions":
            full[: matrix.shape[0], : matrix.shape[1]] = torch.as_tensor(matrix)
        if role == "functions":
            weight, bias, choices = matrix
            full_bias = torch.zeros(layer.out_features, dtype=torch.float64)
            full[: weight.shape[0], : weight.shape[1]] = torch.as_tensor(weight)
            full_bias[: len(bias)] = torch.as_tensor(bias)
            padded = list(choices) + ["id"] * (layer.out_features - len(choices))
            layer.load_functions_(full, full_bias, padded)
        elif role == "exponents":
            layer.load_exponents_(full)
        else:
            layer.load_weight_(full)
    if getattr(module, "constants", False):
        module.scale.fill_(1.0)
        module.offset.fill_(0.0)
