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


# -- writing a formula into a network of units -----------------------------------------
@dataclass
class Layout:
    """The network that computes a :class:`ClosedForm`: its units, width and weights."""

    units: tuple[str, ...]
    hidden_size: int
    weights: list[tuple[str, np.ndarray]]  # per layer: ("exponents" | "linear" | "coef", matrix)
    kind: str = "sum"

    def load_(self, module) -> None:
        """Write these weights into a one-copy ``module`` (see :func:`load_layout_`)."""
        load_layout_(module, self)


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
            layer.load_exponents_(full)
        else:
            layer.load_weight_(full)
    if getattr(module, "constants", False):
        module.scale.fill_(1.0)
        module.offset.fill_(0.0)
