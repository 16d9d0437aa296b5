"""Reading the learned formula back from a fitted network.

The network is read layer by layer, each layer by its unit's own
:meth:`~sknalu.units.ArithmeticUnit.formula` (a sum for the NAU, NAC+ and Linear
units, a product for the NMU and NMRU, powers for the NAC• and the Real NPU, a
gated choice for the NALU and iNALU) through a :class:`FormulaReader`. Every weight
within the tolerance of one of its unit's discrete values (``weight_targets``:
{-1, 0, 1}, {0, 1}, or the multiples of ½) is read as that value; an input whose weight
is 0 drops out. A weight farther away stays as a floating-point coefficient, and
the formula is then not exact.

Every input is a sympy Symbol named by :func:`symbol_names`: its column name where
sympy reads that name back as the symbol, else a safe name made from it, so that
``sympy.sympify(str(expression))`` is the expression again.

sympy is an optional dependency (``pip install "sknalu[formula]"``), imported only
when a formula is built.
"""

from __future__ import annotations

import functools
import keyword
import numbers
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..exact._numbers import simple_form
from ..exact._tolerances import FORMULA_TOLERANCE
from ..units._targets import nearest_target

if TYPE_CHECKING:  # pragma: no cover
    import sympy

_GateRange = tuple[np.ndarray, np.ndarray]
#: A constant of an exact formula within this relative distance of a simple number
#: (a few dozen units in the last place of float64) reads as that number. A simple
#: number of size S (``simple_form``) so near counts as a finding while S² times
#: this stays at most 0.01; ``simple_form`` limits the size to 10⁶ for it.
_ROUNDING = 1e-14


def _import_sympy():
    try:
        import sympy
    except ImportError as exc:
        raise ImportError(
            "Reading the formula needs sympy, which is not installed: "
            'pip install "sknalu[formula]" (or pip install sympy).'
        ) from exc
    return sympy


@functools.lru_cache(maxsize=4096)
def _reads_as_itself(name: str) -> bool:
    """Whether ``sympy.sympify(name)`` is the Symbol named ``name``.

    False for what is not a Python identifier (``"unit price"``, ``"2"``), for a
    keyword (``"lambda"``), for a name that Python would normalise (``"ﬁ"``) and for
    every name sympy gives a meaning to (``"pi"``, ``"E"``, ``"I"``, ``"S"``,
    ``"beta"``, ``"max"``, ...).
    """
    if (
        not name.isidentifier()
        or keyword.iskeyword(name)
        or unicodedata.normalize("NFKC", name) != name
    ):
        return False
    sympy = _import_sympy()
    try:
        parsed = sympy.sympify(name)
    except Exception:  # SympifyError, or whatever evaluating a sympy name raises
        return False
    return isinstance(parsed, sympy.Symbol) and parsed.name == name


def _stem(name: str) -> str:
    """``name`` as a Python identifier: each run of other characters becomes one
    ``_`` (none at either end), and ``_`` goes before a leading digit."""
    name = unicodedata.normalize("NFKC", name)
    kept = "".join(c if ("_" + c).isidentifier() else " " for c in name)
    stem = "_".join(kept.split())
    return stem if stem.isidentifier() else "_" + stem


def symbol_names(feature_names: Sequence[str]) -> list[str]:
    """The name of each feature's symbol in a formula: a name sympy reads back.

    A feature name that is a Python identifier and that ``sympy.sympify`` reads as
    the symbol of that name is its own symbol's name, so ``price`` stays ``price``.
    Any other name is made safe: every run of characters that cannot be in an
    identifier becomes one ``_`` (``"unit price"`` gives ``unit_price``,
    ``"qty-2"`` gives ``qty_2``), a leading digit gets a ``_`` before it (``"2"``
    gives ``_2``), and a name that is a Python keyword or that sympy gives a
    meaning to gets a ``_`` after it (``"pi"`` gives ``pi_``, ``"lambda"`` gives
    ``lambda_``). A safe name already taken, by a feature that keeps its own name
    or by an earlier feature, gets the first free suffix ``_1``, ``_2``, ...
    (``"x y"`` gives ``x_y_1`` next to a feature ``x_y``). The names are unique,
    and the same features always get the same names.

    Parameters
    ----------
    feature_names : sequence of str
        One name per input.

    Returns
    -------
    list of str
        One symbol name per input.

    Raises
    ------
    ImportError
        Without sympy, which tells which names it reads as something else.

    Examples
    --------
    >>> symbol_names(["price", "unit price", "qty-2", "2", "pi", "x y", "x_y"])
    ['price', 'unit_price', 'qty_2', '_2', 'pi_', 'x_y_1', 'x_y']
    """
    _import_sympy()  # whatever names are cached, the symbols need sympy
    names = [str(name) for name in feature_names]
    own = {name for name in names if _reads_as_itself(name)}
    taken: set[str] = set()
    symbols = []
    for name in names:
        if name in own and name not in taken:
            symbol = name
        else:
            stem = _stem(name)
            symbol = stem if _reads_as_itself(stem) else stem + "_"
            k = 0
            while symbol in own or symbol in taken or not _reads_as_itself(symbol):
                k += 1
                symbol = f"{stem}_{k}"
        taken.add(symbol)
        symbols.append(symbol)
    return symbols


def _check_tolerance(tolerance) -> float:
    ok = isinstance(tolerance, numbers.Real) and not isinstance(tolerance, bool)
    if not ok or not 0 <= tolerance < 0.5:
        raise ValueError(f"tolerance must be a number in [0, 0.5), got {tolerance!r}.")
    return float(tolerance)


def _array_of_copy(t: torch.Tensor, n_copies: int | None) -> np.ndarray:
    """A weight of a one-copy layer as float64 numpy, without the copy dimension."""
    a = t.detach().cpu().to(torch.float64).numpy()
    if n_copies is None:
        return a
    if n_copies != 1:
        raise ValueError(
            f"the network holds {n_copies} copies; reduce it to one with "
            "keep_copy_ before reading its formula."
        )
    return a[0]


def _nearest(a: np.ndarray, targets) -> np.ndarray:
    return nearest_target(torch.from_numpy(a), targets).numpy()


@torch.no_grad()
def gate_ranges(module: torch.nn.Module, X: torch.Tensor) -> list[_GateRange | None]:
    """The range over the inputs ``X`` of every gate that depends on them, layer by layer.

    A NALU's gate ``σ(G x)`` depends on its input, so whether it is saturated (and
    the layer adds or multiplies) can only be judged on data
    (:meth:`~sknalu.units.ArithmeticUnit.gate_range`). Other layers get None.

    Parameters
    ----------
    module : ArithmeticNetwork
        A network reduced to one copy.
    X : Tensor of shape (n_samples, in_features)
        Inputs, usually the training data.

    Returns
    -------
    list
        Per layer, ``(min, max)`` of the gate per output, or None.
    """
    training = module.training
    module.eval()
    try:
        ranges: list[_GateRange | None] = []
        x = X
        for layer in module.layers:
            ranges.append(layer.gate_range(x))
            x = layer(x)
    finally:
        module.train(training)
    return ranges


def max_distance(
    module: torch.nn.Module, gates: Sequence[_GateRange | None] | None = None
) -> float:
    """Largest distance of any weight of ``module`` to its unit's discrete values.

    Every weight and gate of the units' ``discrete_weights`` counts, and so does a
    gate that depends on the input, by its range over the data (infinite when no
    range is given). The formula read with a tolerance is exact when this distance
    is within the tolerance.

    Parameters
    ----------
    module : ArithmeticNetwork
        A network reduced to one copy.
    gates : list, optional
        The output of :func:`gate_ranges`.

    Returns
    -------
    float
        The distance; ``inf`` when a weight is not finite.
    """
    gates = list(gates) if gates is not None else [None] * len(module.layers)
    distance = 0.0
    for layer, gate in zip(module.layers, gates, strict=True):
        for weight in layer.discrete_weights():
            w = _array_of_copy(weight.value, layer.n_copies)
            d = np.abs(w - _nearest(w, weight.targets))
            distance = max(distance, float(np.nan_to_num(d, nan=np.inf).max(initial=0.0)))
        distance = max(distance, layer.gate_distance(gate))
    return distance


class FormulaReader:
    """What a unit needs to read itself back as a formula.

    A unit's :meth:`~sknalu.units.ArithmeticUnit.formula` turns its weights into
    sympy numbers with :meth:`numbers` (a discrete value where the weight is within
    ``tolerance`` of one, a Float otherwise) and composes its inputs' expressions
    with :meth:`sums`, :meth:`products`, :meth:`powers` and :meth:`gated`.

    Parameters
    ----------
    sympy : module
        The sympy module.
    tolerance : float
        Largest distance from a discrete value still read as that value.
    digits : int or None
        Significant digits of Float coefficients; all when None.
    n_copies : int or None, default=None
        The layers' copy dimension: None or 1.
    simple : bool, default=True
        Whether a constant that is a simple number to rounding reads as that number
        (:meth:`constant`): only in a formula that is exact. An approximate formula
        writes every constant as a decimal, so that it claims no π or fraction the
        data do not show.
    """

    def __init__(
        self,
        sympy,
        tolerance: float,
        digits: int | None,
        n_copies: int | None = None,
        simple: bool = True,
    ) -> None:
        self.sympy = sympy
        self.tolerance = tolerance
        self.digits = digits
        self.n_copies = n_copies
        self.simple = simple

    def array(self, t: torch.Tensor) -> np.ndarray:
        """A weight of a one-copy layer as float64 numpy, without the copy dimension."""
        return _array_of_copy(t, self.n_copies)

    def float(self, v: float):
        """``v`` as a sympy Float with the reader's digits."""
        if self.digits is None:
            return self.sympy.Float(float(v))
        return self.sympy.Float(float(v), self.digits)

    def floats(self, t: torch.Tensor) -> np.ndarray:
        """A weight as sympy Floats, for weights that have no discrete values."""
        return np.vectorize(self.float, otypes=[object])(self.array(t))

    def numbers(self, t: torch.Tensor, targets) -> np.ndarray:
        """A weight as sympy numbers: the discrete value within tolerance, else a Float."""
        w = self.array(t)
        target = _nearest(w, targets)
        exact = np.abs(w - target) <= self.tolerance
        values = [
            self.sympy.Rational(float(t)) if e else self.float(v)
            for v, t, e in zip(w.ravel(), target.ravel(), exact.ravel(), strict=True)
        ]
        return np.array(values, dtype=object).reshape(w.shape)

    def constant(self, v: float):
        """A constant factor or term: the simple number it is to rounding, else a Float.

        A rational or a rational multiple of a power of π (:func:`simple_form`)
        within a relative ``_ROUNDING`` of ``v``: the snap writes such a number to
        the last bit, and least squares on exact data comes within a few units in
        the last place of it (``3.858024691358027e-05`` reads ``1/25920``). Only
        when the reader is ``simple``; otherwise, and for any other number, a Float.

        Examples
        --------
        >>> import sympy
        >>> reader = FormulaReader(sympy, 0.01, None)
        >>> reader.constant(3.858024691358027e-05), reader.constant(0.00981)
        (1/25920, 981/100000)
        >>> reader.constant(2 * 3.141592653589793), reader.constant(0.123456789)
        (2*pi, 0.123456789000000)
        >>> FormulaReader(sympy, 0.01, 4, simple=False).constant(2 * 3.141592653589793)
        6.283
        """
        v = float(v)
        form = simple_form(v, _ROUNDING) if self.simple else None
        if form is None:
            return self.float(v)
        c, k = form
        return self.sympy.Rational(c.numerator, c.denominator) * self.sympy.pi**k

    def abs(self, x):
        """``|x|``, unevaluated: sympy's sign analysis of a long sum costs seconds and
        simplifies nothing here."""
        return self.sympy.Abs(x, evaluate=False)

    # A weight of exactly 0 leaves its input out, even one whose expression is
    # infinite (the reciprocal of a hidden unit that computes 0): 0 · ∞ would be NaN.
    def sums(self, c: np.ndarray, xs: list) -> list:
        """``Σ_i c_oi x_i`` for every row ``o`` of ``c``."""
        add = self.sympy.Add
        return [add(*(ci * x for ci, x in zip(row, xs, strict=True) if ci != 0)) for row in c]

    def products(self, c: np.ndarray, xs: list) -> list:
        """``Π_i (c_oi x_i + 1 - c_oi)`` for every row ``o`` (Madsen & Johansen, eq. 2).

        ``x`` for a weight of 1, 1 (left out) for a weight of 0.
        """
        mul = self.sympy.Mul
        return [
            mul(*(ci * x + 1 - ci for ci, x in zip(row, xs, strict=True) if ci != 0)) for row in c
        ]

    def powers(self, c: np.ndarray, xs: list) -> list:
        """``Π_i x_i ** c_oi`` for every row ``o`` of ``c``."""
        mul = self.sympy.Mul
        return [mul(*(x**ci for ci, x in zip(row, xs, strict=True) if ci != 0)) for row in c]

    def gated(self, added: list, multiplied: list, lo, hi, unsaturated: list) -> list:
        """Per output, the sum where the gate stays near 1, the product where it stays
        near 0 (``lo``, ``hi``: its range), else ``g a + (1 - g) m`` with the open gate."""
        out = []
        for o, (a, m) in enumerate(zip(added, multiplied, strict=True)):
            if lo[o] >= 1 - self.tolerance:
                out.append(a)
            elif hi[o] <= self.tolerance:
                out.append(m)
            else:
                out.append(unsaturated[o] * a + (1 - unsaturated[o]) * m)
        return out


def network_formula(
    module: torch.nn.Module,
    feature_names: Sequence[str],
    tolerance: float = FORMULA_TOLERANCE,
    gates: Sequence[_GateRange | None] | None = None,
    digits: int | None = None,
    simple: bool = True,
) -> list[sympy.Expr]:
    """The expression of every output of a network, in the features' symbols.

    Parameters
    ----------
    module : ArithmeticNetwork
        A network reduced to one copy.
    feature_names : sequence of str
        One name per input; each input's symbol is named after it by
        :func:`symbol_names`.
    tolerance : float, default=FORMULA_TOLERANCE
        A weight at most this far from a discrete value is read as that value.
    gates : list, optional
        The output of :func:`gate_ranges`; a NALU layer without it is read as
        unsaturated.
    digits : int, optional
        Significant digits of the Float coefficients; all of them when None.
    simple : bool, default=True
        Whether constants that are simple numbers to rounding (a rational, times a
        power of π) read as them; False for a formula that is not exact, whose
        constants are then all decimals.

    Returns
    -------
    list of sympy.Expr
        One expression per output. Where the formula is not exact (see
        :func:`max_distance`), the weights that are not discrete appear as Floats,
        and the expression describes what the network computes for positive inputs
        (it ignores the ε that NAC• and the Real NPU add inside their logarithms).

    Examples
    --------
    >>> import torch
    >>> from sknalu import ArithmeticNetwork
    >>> net = ArithmeticNetwork(3, 1, units=("nau", "nmu"))
    >>> with torch.no_grad():
    ...     _ = net.layers[0].W.copy_(torch.tensor([[1.0, 0.998, 0.0], [0.0, 0.0, 1.0]]))
    ...     _ = net.layers[1].W.copy_(torch.tensor([[1.0, 1.0]]))
    >>> network_formula(net, ["a", "b", "c"])
    [c*(a + b)]
    """
    sympy = _import_sympy()
    tolerance = _check_tolerance(tolerance)
    layers = list(module.layers)
    if len(feature_names) != layers[0].in_features:
        raise ValueError(
            f"feature_names has {len(feature_names)} names but the network has "
            f"{layers[0].in_features} inputs."
        )
    gates = list(gates) if gates is not None else [None] * len(layers)
    xs = [sympy.Symbol(name) for name in symbol_names(feature_names)]
    for layer, gate in zip(layers, gates, strict=True):
        reader = FormulaReader(sympy, tolerance, digits, layer.n_copies, simple)
        xs = layer.formula(xs, reader, gate)
    if getattr(module, "constants", False):
        reader = FormulaReader(sympy, tolerance, digits, layers[-1].n_copies, simple)
        scales, offsets = reader.array(module.scale), reader.array(module.offset)
        xs = [
            (x if scale == 1 else reader.constant(scale) * x)
            + (0 if offset == 0 else reader.constant(offset))
            for x, scale, offset in zip(xs, scales.reshape(-1), offsets.reshape(-1), strict=True)
        ]
    return xs
