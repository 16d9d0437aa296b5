"""Formulas with functions: ``exp``, ``log``, ``sin``, ``cos``, ``sqrt``, ``tanh``, ``arcsin``.

Most formulas of science hold a function of a product of powers of the columns,
with a constant inside (``sin(2*pi*x)``, ``exp(-x**2/2)``, ``exp(-mu*B/(k*T))``),
times a product of powers, plus a few more terms. The search finds them the way
it finds sums of powers, by least squares over generated columns, in three ways:

- **Terms with a function** (``1.5*exp(x0) + 5*cos(x1)``, ``213.8*(1 - exp(-0.547*x))``):
  columns ``f(a*m(x) + b)`` for each function ``f``, each simple monomial ``m``
  (a column, its square or reciprocal, a product or ratio of two columns) and
  each inner constant ``a`` of a grid of simple numbers (±1, ±2, ±1/2, ±π, ...),
  alone and times each column, join the library of products of powers; the terms
  are chosen by forward selection with orthogonal least squares as for sums.
- **Products** (``q*v*B*sin(theta)``, ``6*sin(x0)*cos(x1)``, ``n0*exp(-mu*B/(k*T))``):
  in logarithms a product is a sum, ``log|y| = log|c| + Σ e_j log|x_j| +
  Σ k_i log|f_i(...)| + Σ a_i m_i(x)``; the columns ``log|x_j|``, ``log|f(a m)|``
  and the library's monomials (the argument of an ``exp``) are chosen the same
  way, the powers ``e`` and ``k`` rounded to integers (or halves).
- **A function of a ratio** (``m0/sqrt(1 - v**2/c**2)``, ``log(x + 1) + log(x**2 + 1)``):
  the target's square, exponential or sine is searched for as a ratio of
  polynomials (:mod:`._rational`), and ``y`` read back as its square root,
  logarithm or arcsine.

Every inner constant of the chosen terms is then refined by nonlinear least
squares (the coefficients outside solved by linear least squares for each
value), so that constants off the grid (``-0.547``) are found to float rounding.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations, combinations_with_replacement, product

import numpy as np

from ..exact._tolerances import EXACT_LEAST_SQUARES
from ..units._functions import FUNCTIONS
from ._rational import (
    Judged,
    changes_sign,
    combined_weights,
    denominator_weights,
    eliminated,
    monomial_values,
    range_weights,
    rows_key,
    scaled_least_squares,
    widened,
)
from ._rational import monomials as monomials_up_to

#: Values of the products of functions and low monomials scored at once
#: (:func:`_joint_scores`): 16 MB; and the functions scored so, at most (those
#: that scored best alone).
_JOINT_BLOCK, _JOINT_POOL = 2_000_000, 2000
#: Tables of up to this many columns try the sums behind an outer function with
#: functions of products of four or more columns; on wider ones they are too many.
_MAX_WIDE_FEATURES = 6
#: Tables of up to this many columns try the sums behind an outer function with
#: functions of sums of two monomials too (``sqrt(a**2 + b**2 - 2*a*b*cos(C1 - C2))``).
_MAX_PAIRED_OUTER = 4
#: Tables of up to this many columns try ratios over functions of products of
#: four columns (``h*omega/(2*pi*kb*T)``); on wider ones they are too many.
_MAX_RATIO_WIDE = 4

#: The function unit's functions, as numpy computes them (numpy's names are theirs).
NUMPY_FUNCTIONS: dict[str, Callable] = {name: getattr(np, name) for name in FUNCTIONS}
#: Functions the products of :func:`log_products` also try (``shifted``), each a
#: sum of exponentials and a constant, written out with ``exp`` before it leaves
#: them (:func:`_written_out`): ``{name: ((k, w) for each term w*exp(k*u),
#: constant)}``. ``exp(u) - 1`` and ``exp(u) + 1`` (Bose-Einstein and Fermi-Dirac
#: occupations, Planck's law, a diode's current ``I0*(exp(q*V/(k*T)) - 1)``) and
#: ``cosh`` (``n0/(exp(u) + exp(-u))``). In logarithms each is a column, as ``sin``
#: is; a search of their own, as among the other functions' columns they slow
#: every search of products by half.
SHIFTED_EXP: dict[str, tuple[tuple[tuple[float, float], ...], float]] = {
    "expm1": (((1.0, 1.0),), -1.0),
    "exp1p": (((1.0, 1.0),), 1.0),
    "cosh": (((1.0, 0.5), (-1.0, 0.5)), 0.0),
}
#: The fewest columns of a monomial inside a function of :data:`SHIFTED_EXP`: of
#: one column, the sums with functions find ``exp(x) - 1`` and the rest already.
_SHIFTED_EXP_COLUMNS = 2
#: The search's functions: the units', :data:`SHIFTED_EXP`'s and the identity
#: (``"id"``, the function unit's own): a sum of two monomials as a factor of a
#: product, ``(x - u*t)/sqrt(c**2 - u**2)`` (:func:`linear_factors`).
SEARCH_FUNCTIONS: dict[str, Callable] = {
    **NUMPY_FUNCTIONS,
    "id": lambda u: u,
    "expm1": np.expm1,
    "exp1p": lambda u: np.exp(u) + 1.0,
    "cosh": np.cosh,
}

#: Inner constants tried, before refinement.
_SCALES = (1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, math.pi, -math.pi, 2 * math.pi, 0.1, -0.1)
#: Inner shifts tried with log and sqrt (``log(x + 1)``).
_SHIFTS = (0.0, 1.0)
#: Most terms of a sum with functions.
_MAX_TERMS = 4
#: Tables of up to this many columns try functions of products of three columns.
_MAX_TRIPLE_FEATURES = 5
#: Tables of up to this many columns try sums of two monomials of degree 3 as
#: factors of products (:func:`linear_factors`): on five, 5,400 columns, a second.
_MAX_CUBIC_LINEAR = 4
#: Columns of the function library, at most.
_MAX_COLUMNS = 6000
#: The largest power of a function in a product of :func:`log_products`.
_MAX_FACTOR_POWER = 2
#: Most evaluations of a refinement of inner constants: those that converge take
#: fewer than 60; the rest drift on a wrong start for hundreds.
_MAX_NFEV = 150
#: Most monomials of several columns (each to the power ±1) that the products of
#: :func:`log_products` try inside a function: ``exp(-m*g*x/(k*T))``.
_MAX_WIDE = 1000


@dataclass(eq=False)
class Factor:
    """``f(Σ a_i m_i(x) + b)``: a function of a sum of monomials of the columns.

    Parameters
    ----------
    name : str
        The function, a key of :data:`NUMPY_FUNCTIONS`.
    inner : ndarray of shape (n_inner, n_features)
        Exponents of each monomial inside.
    inner_coef : ndarray of shape (n_inner,)
        Their constant factors ``a_i``.
    shift : float
        The constant ``b`` inside.
    power : float
        The function itself, or its reciprocal (``1/sin(theta/2)``); a multiple
        of 1/2 for the identity (``1/sqrt(c**2 - v**2)``).
    frozen : bool
        Whether its constants stay as they are when the others are refined
        (``log(x)`` beside a constant term: ``log(2*x)`` is ``log(2) + log(x)``).
    """

    name: str
    inner: np.ndarray
    inner_coef: np.ndarray
    shift: float = 0.0
    power: float = 1
    frozen: bool = False

    def argument(self, X: np.ndarray) -> np.ndarray:
        return monomial_values(X, self.inner) @ self.inner_coef + self.shift

    def values(self, X: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return SEARCH_FUNCTIONS[self.name](self.argument(X)) ** self.power

    def parameters(self) -> np.ndarray:
        return np.concatenate([self.inner_coef, [self.shift]])

    def free(self) -> np.ndarray:
        """Which of :meth:`parameters` a refinement moves: those not 0, unless
        frozen; of the identity, not the first, whose scale is the term's
        coefficient's (``c*(a*x + b*y)`` is ``(c*a)*(x + (b/a)*y)``)."""
        free = (self.parameters() != 0.0) & (not self.frozen)
        if self.name == "id":
            free[0] = False
        return free

    def with_parameters(self, p: np.ndarray) -> Factor:
        inner_coef = np.asarray(p[:-1], float)
        return Factor(self.name, self.inner, inner_coef, float(p[-1]), self.power, self.frozen)

    def to_sympy(self, symbols):
        import sympy

        inside = sympy.Float(self.shift) if self.shift else sympy.Integer(0)
        for row, a in zip(self.inner, self.inner_coef, strict=True):
            inside += sympy.Float(a) * _monomial_sympy(row, symbols)
        own = {"arcsin": sympy.asin, "id": lambda u: u}
        function = own.get(self.name) or getattr(sympy, self.name)
        return function(inside) ** sympy.nsimplify(self.power)


def _monomial_sympy(row, symbols):
    import sympy

    return sympy.Mul(*(x ** sympy.nsimplify(e) for x, e in zip(symbols, row, strict=True) if e))


@dataclass(eq=False)
class Term:
    """``m(x) · Π f_k(...)``: a monomial times functions (none for a plain monomial)."""

    exponents: np.ndarray
    factors: tuple[Factor, ...] = ()

    def values(self, X: np.ndarray) -> np.ndarray:
        out = monomial_values(X, self.exponents[None, :])[:, 0]
        with np.errstate(all="ignore"):
            for factor in self.factors:
                out = out * factor.values(X)
        return out

    def size(self) -> int:
        inner = sum(len(f.inner) + int(np.abs(f.inner).sum()) + 1 for f in self.factors)
        return 1 + int(np.abs(self.exponents).sum()) + inner

    def to_sympy(self, symbols):
        out = _monomial_sympy(self.exponents, symbols)
        for factor in self.factors:
            out = out * factor.to_sympy(symbols)
        return out


def signed_monomials(n_features: int, smallest: int, cap: int = _MAX_WIDE) -> np.ndarray:
    """Products of ``smallest`` or more columns, each to the power 1 or -1 (``m*g*x/(k*T)``),
    fewest columns first, at most ``cap`` of them."""
    rows = []
    for k in range(smallest, n_features + 1):
        for columns in combinations(range(n_features), k):
            for signs in product((1, -1), repeat=k):
                if len(rows) == cap:
                    return np.array(rows, dtype=int).reshape(-1, n_features)
                row = np.zeros(n_features, dtype=int)
                row[list(columns)] = signs
                rows.append(row)
    return np.array(rows, dtype=int).reshape(-1, n_features)


def inner_monomials(n_features: int, wide: bool = False) -> np.ndarray:
    """The monomials a function is tried on: each column, its square and reciprocal
    (on one column, its cube too: ``cos(7.23*x**3)``), each product and ratio of
    two columns, and of three (up to ``_MAX_TRIPLE_FEATURES`` columns); ``wide``:
    products of more columns too (:func:`signed_monomials`)."""
    rows = []
    for i in range(n_features):
        for p in (1, 2, -1, 3) if n_features == 1 else (1, 2, -1):
            row = np.zeros(n_features, dtype=int)
            row[i] = p
            rows.append(row)
    for i in range(n_features):
        for j in range(i + 1, n_features):
            for pj in (1, -1):
                for pi in (1, -1):
                    row = np.zeros(n_features, dtype=int)
                    row[i], row[j] = pi, pj
                    rows.append(row)
    if n_features <= _MAX_TRIPLE_FEATURES:
        for columns in combinations(range(n_features), 3):
            for signs in product((1, -1), repeat=3):
                row = np.zeros(n_features, dtype=int)
                row[list(columns)] = signs
                rows.append(row)
    if wide:
        smallest = 4 if n_features <= _MAX_TRIPLE_FEATURES else 3
        rows += list(signed_monomials(n_features, smallest))
    return np.array(rows, dtype=int).reshape(-1, n_features)


def function_factors(
    X: np.ndarray,
    Xv: np.ndarray,
    functions: Sequence[str],
    *,
    log_space: bool = False,
    wide: bool = False,
) -> list[tuple[Factor, np.ndarray]]:
    """Each ``f(a m(x) + b)`` of the grid that is finite (and not constant) on every
    training and held-out row, with its training values (their ``log|.|`` when
    ``log_space``); ``m`` of :func:`inner_monomials`."""
    out = []
    inner = inner_monomials(X.shape[1], wide)
    M, Mv = monomial_values(X, inner), monomial_values(Xv, inner)
    for name in functions:
        f = SEARCH_FUNCTIONS[name]
        shifts = _SHIFTS if name in ("log", "sqrt") else (0.0,)
        for k in range(len(inner)):
            if name in SHIFTED_EXP and np.count_nonzero(inner[k]) < _SHIFTED_EXP_COLUMNS:
                continue
            # Every scale on a monomial of degree 2 or one column's power (the cube).
            row = inner[k]
            simple = np.abs(row).sum() <= 2 or np.count_nonzero(row) == 1
            simple = simple and name not in SHIFTED_EXP
            scales = _SCALES if simple else (1.0, -1.0)
            for a in (1.0,) if name in ("log", "sqrt") else scales:
                if name == "cosh" and a < 0:
                    continue  # cosh(-u) is cosh(u)
                for b in shifts:
                    if name == "log" and b == 0 and not _primitive(inner[k]):
                        continue  # log(x**2) is 2*log(x), log(1/x) is -log(x)
                    with np.errstate(all="ignore"):
                        v, vv = f(a * M[:, k] + b), f(a * Mv[:, k] + b)
                    if _nearly_quadratic(v, a * M[:, k], b):
                        continue
                    v = _usable(v, vv, log_space)
                    if v is not None:
                        out.append((Factor(name, inner[k : k + 1], np.array([a]), b), v))
    return out


#: A function column whose part beyond a quadratic in its argument is at most this
#: share of its variation is left out (:func:`_nearly_quadratic`).
_QUADRATIC_SHARE = 1e-4


def _nearly_quadratic(v: np.ndarray, u: np.ndarray, shift: float) -> bool:
    """Whether ``v = f(u + shift)`` is, on these rows, a quadratic in ``u`` but for
    ``_QUADRATIC_SHARE`` of its variation: its argument barely moves from 0 or from
    the shift (``cos(0.1/nu)`` for ``nu`` in [10, 100] is ``1 - 0.005/nu**2`` to
    1e-5 of its variation). Such a column is a sum of monomials in disguise, which
    the algebraic terms already are, and fits of it beside them mimic formulas
    (a ratio over ``cos(0.1/nu) - 1``) instead of finding them. Only arguments
    within 0.1 of 0 (or of the shift, relatively) are tested: the others are not."""
    reach = np.abs(u).max() / (abs(shift) or 1.0)
    if not reach < 0.1 or not np.all(np.isfinite(v)):
        return False
    z = u / (np.abs(u).max() or 1.0)
    A = np.column_stack([np.ones_like(z), z, z * z])
    coef, *_ = np.linalg.lstsq(A, v, rcond=None)
    variation = v - v.mean()
    left = v - A @ coef
    return bool(left @ left <= _QUADRATIC_SHARE**2 * (variation @ variation))


def _usable(v: np.ndarray, vv: np.ndarray, log_space: bool = False) -> np.ndarray | None:
    """A function column's training values ``v`` (their ``log|.|`` when
    ``log_space``), where it and its held-out values ``vv`` are finite and it is
    not constant; else None."""
    if log_space:
        with np.errstate(all="ignore"):
            v, vv = np.log(np.abs(v)), np.log(np.abs(vv))
    if not (np.all(np.isfinite(v)) and np.all(np.isfinite(vv))):
        return None
    if np.ptp(v) <= 1e-12 * (np.abs(v).max() or 1.0):
        return None
    return v


#: Functions tried of a sum of two monomials, and the ratios of their constants.
_PAIRED_FUNCTIONS = ("sin", "cos", "exp", "log", "tanh")
_PAIRED_RATIOS = (1.0, -1.0, 2.0, -2.0, 0.5, -0.5)


def paired_factors(
    X: np.ndarray,
    Xv: np.ndarray,
    functions: Sequence[str],
    log_space: bool = False,
    linear: bool = False,
) -> list:
    """``f(a*(m1 + c*m2))`` for ``m1``, ``m2`` two of the columns and their squares
    (and, up to three columns, their products), ``c`` of ``_PAIRED_RATIOS``, ``a``
    1 (and -1 for ``exp``), refined later: ``cos(theta1 - theta2)``,
    ``sin(x + x**2)``; finite and not constant on every row, with their values
    (their ``log|.|`` when ``log_space``). ``linear``: the identity alone
    (``functions`` unused), of sums of two of a constant, the columns, their
    squares and the products of two (:func:`linear_factors`)."""
    n = X.shape[1]
    base = np.array(_linear_base(n) if linear else _paired_base(n), dtype=int).reshape(-1, n)
    M, Mv = monomial_values(X, base), monomial_values(Xv, base)
    names = ("id",) if linear else [f for f in _PAIRED_FUNCTIONS if f in functions]
    out = []
    for name in names:
        f = SEARCH_FUNCTIONS[name]
        for i, j in combinations(range(len(base)), 2):
            if linear and np.any((base[i] != 0) & (base[j] != 0)):
                continue  # c*(x**2 + x*y) is c*x*(x + y): the power of x is the columns'
            for c in _PAIRED_RATIOS:
                for a in (1.0, -1.0) if name == "exp" else (1.0,):
                    if linear and np.all(M[:, i] + c * M[:, j] < 0):
                        a = -1.0  # c**2 - u**2, not u**2 - c**2, under a square root
                    with np.errstate(all="ignore"):
                        v = f(a * (M[:, i] + c * M[:, j]))
                        vv = f(a * (Mv[:, i] + c * Mv[:, j]))
                    v = _usable(v, vv, log_space)
                    if v is not None:
                        out.append((Factor(name, base[[i, j]], np.array([a, a * c])), v))
    return out


#: Tables of up to this many columns try functions of a product of two shifted
#: columns (:func:`shifted_product_factors`), and the most shifts of one column.
_MAX_SHIFTED_PRODUCT, _MAX_SHIFTS = 3, 9
#: The constants in front of a product of shifted columns, by function: of sin,
#: cos and tanh, the positive ones of ``_PAIRED_RATIOS`` alone (``cos(-u)`` is
#: ``cos(u)``, ``sin(-u)`` is ``-sin(u)``); of exp, all of them; of the identity,
#: 1 (a term's coefficient scales it).
_SHIFTED_SCALES = {"exp": _PAIRED_RATIOS, "id": (1.0,)}
_POSITIVE_RATIOS = tuple(r for r in _PAIRED_RATIOS if r > 0)


def shifted_product_factors(X: np.ndarray, Xv: np.ndarray, functions: Sequence[str]) -> list:
    """``f(a*(x_i - s)*(x_j - t))`` for two columns, ``s`` and ``t`` integers from
    the smallest to the largest value of their column (not both 0: that product is
    :func:`function_factors`'), ``a`` of ``_SHIFTED_SCALES``, refined later:
    ``sin((x - 1)*(y - 1))``; on tables of up to ``_MAX_SHIFTED_PRODUCT`` columns,
    for columns whose range holds at most ``_MAX_SHIFTS`` integers. Written as
    ``f(a*x_i*x_j - a*t*x_i - a*s*x_j + a*s*t)``, whose four constants a
    refinement moves freely."""
    n = X.shape[1]
    names = [f for f in _PAIRED_FUNCTIONS if f in functions and f != "log"]
    if n > _MAX_SHIFTED_PRODUCT or not names:
        return []
    names.append("id")  # (x - 3)*(y - 3) + 2*sin((x - 4)*(y - 4))
    low, high = np.floor(X.min(0)), np.ceil(X.max(0))
    out = []
    for i, j in combinations(range(n), 2):
        if high[i] - low[i] >= _MAX_SHIFTS or high[j] - low[j] >= _MAX_SHIFTS:
            continue
        inner = np.zeros((3, n), dtype=int)
        inner[0, [i, j]] = 1
        inner[1, i] = inner[2, j] = 1
        for s, t in product(np.arange(low[i], high[i] + 1), np.arange(low[j], high[j] + 1)):
            if s == 0 and t == 0:
                continue
            u, uv = (X[:, i] - s) * (X[:, j] - t), (Xv[:, i] - s) * (Xv[:, j] - t)
            for name in names:
                for a in _SHIFTED_SCALES.get(name, _POSITIVE_RATIOS):
                    with np.errstate(all="ignore"):
                        v = _usable(SEARCH_FUNCTIONS[name](a * u), SEARCH_FUNCTIONS[name](a * uv))
                    if v is not None:
                        coef = np.array([a, -a * t, -a * s])
                        kept = coef != 0
                        factor = Factor(name, inner[kept], coef[kept], float(a * s * t))
                        out.append((factor, v))
    return out


def _paired_base(n: int) -> list:
    """The monomials two of which a function of :func:`paired_factors` sums: the
    columns, their squares and (up to three columns) the products of two."""
    rows = []
    for i in range(n):
        for p in (1, 2):
            row = np.zeros(n, dtype=int)
            row[i] = p
            rows.append(row)
    if n <= 3:
        for i, j in combinations(range(n), 2):
            row = np.zeros(n, dtype=int)
            row[[i, j]] = 1
            rows.append(row)
    return rows


def _linear_base(n: int) -> list:
    """The monomials two of which a factor of :func:`linear_factors` sums: a
    constant, the columns, their squares, the products of two columns and (up to
    ``_MAX_CUBIC_LINEAR`` columns) the monomials of degree 3 with no power over 2
    (``c**2*t - u*x``)."""
    rows = [np.zeros(n, dtype=int)]
    for degree in (1, 2, 3):
        if degree == 3 and n > _MAX_CUBIC_LINEAR:
            break
        for columns in combinations_with_replacement(range(n), degree):
            row = np.bincount(columns, minlength=n)
            if row.max() <= 2:
                rows.append(row)
    return rows


def linear_factors(X: np.ndarray, Xv: np.ndarray) -> list:
    """``log|m1 + c*m2|`` (:func:`paired_factors` with ``linear``): the sums of
    two monomials that a product's powers apply to, ``(x - u*t)/sqrt(c**2 - u**2)``,
    ``(1 + v/c)/sqrt(1 - v**2/c**2)``; in logarithms, each is a column, as
    ``log|sin(theta)|`` is, and its power is chosen with the columns'."""
    return paired_factors(X, Xv, (), log_space=True, linear=True)


def _primitive(exponents: np.ndarray) -> bool:
    """Whether the exponents have no common factor and the first one is positive."""
    nonzero = exponents[exponents != 0]
    return nonzero[0] > 0 and math.gcd(*nonzero.tolist()) == 1


def refine(terms: list[Term], X, y, denominator=None):
    """The terms with their inner constants refined by nonlinear least squares.

    Variable projection: for given inner constants the outer coefficients are the
    least-squares solution, so only the inner constants are iterated over
    (scipy's trust-region least squares). Returns ``(terms, coef)``.
    """

    factors = [(i, k) for i, t in enumerate(terms) for k in range(len(t.factors))]
    sizes = [len(terms[i].factors[k].parameters()) for i, k in factors]
    start = (
        np.concatenate([terms[i].factors[k].parameters() for i, k in factors])
        if factors
        else np.zeros(0)
    )

    def rebuilt(p):
        out, offset = [], 0
        new = {}
        for (i, k), n in zip(factors, sizes, strict=True):
            new[i, k] = terms[i].factors[k].with_parameters(p[offset : offset + n])
            offset += n
        for i, t in enumerate(terms):
            fs = tuple(new[i, k] for k in range(len(t.factors)))
            out.append(Term(t.exponents, fs))
        return out

    # The monomials do not move: their values are computed once.
    outside = [monomial_values(X, t.exponents[None, :])[:, 0] for t in terms]
    inside = {(i, k): monomial_values(X, terms[i].factors[k].inner) for i, k in factors}

    def columns(p):
        A, offset = np.array(outside).T, 0
        with np.errstate(all="ignore"):
            for (i, k), n in zip(factors, sizes, strict=True):
                f = terms[i].factors[k]
                argument = inside[i, k] @ p[offset : offset + n - 1] + p[offset + n - 1]
                A[:, i] = A[:, i] * SEARCH_FUNCTIONS[f.name](argument) ** f.power
                offset += n
        return A

    # On a target of a wide range, errors relative to its size (:func:`range_weights`).
    weight = range_weights(y)
    root = 1.0 if weight is None else np.sqrt(weight)

    def solve(p):
        A = columns(p)
        if not np.all(np.isfinite(A)):
            return None, np.full(len(y), 1e150)
        coef = scaled_least_squares(A, y, weight)
        return coef, (A @ coef - y) * root

    y_scale = float(np.sqrt(np.mean((y * root) ** 2)))
    if len(start):
        # Fixed shifts stay fixed: only the parameters that are not zero move.
        free = np.concatenate([terms[i].factors[k].free() for i, k in factors])

        def residual(q):
            p = start.copy()
            p[free] = q
            return solve(p)[1]

        p = start.copy()
        p[free] = _nonlinear_fit(residual, start[free], y_scale)
    else:
        p = start
    coef, _ = solve(p)
    return rebuilt(p), coef


def _nonlinear_fit(residual, start: np.ndarray, scale: float) -> np.ndarray:
    """The parameters from ``start`` that minimise ``|residual|²`` (scipy's
    trust-region least squares), or ``start`` where it fails. The residuals are
    divided by ``scale`` (the target's size): scipy's tolerances are absolute, and
    on a target of 1e-16 (Planck's law in SI units) its gradient test stops it
    where it starts."""
    from scipy.optimize import least_squares

    scale = scale or 1.0
    try:
        return least_squares(
            lambda q: residual(q) / scale,
            start,
            xtol=1e-15,
            ftol=1e-15,
            gtol=1e-15,
            max_nfev=_MAX_NFEV,
        ).x
    except (ValueError, np.linalg.LinAlgError):
        return start


def is_exact(predicted: np.ndarray, y: np.ndarray) -> bool:
    with np.errstate(all="ignore"):
        mse = float(np.mean((predicted - y) ** 2))
    return math.isfinite(mse) and mse <= EXACT_LEAST_SQUARES * float(np.mean(y**2))


def time_left(deadline: float) -> bool:
    return time.perf_counter() < deadline


def chosen_terms(select, columns: np.ndarray, target: np.ndarray, max_terms: int) -> Iterator:
    """Index lists from ``select`` over unit-norm ``columns`` (zero columns kept out)."""
    norms = np.linalg.norm(columns, axis=0)
    ok = norms > 0
    scaled = np.where(ok, columns / np.where(ok, norms, 1.0), 0.0)
    scale = float(np.linalg.norm(target)) or 1.0
    yield from select(scaled, target / scale, max_terms)


# -- candidates -------------------------------------------------------------------------
@dataclass(eq=False)
class FunctionSum(Judged):
    """``Σ c_i t_i(x)``, terms with functions (:class:`Term`)."""

    terms_: list[Term]
    coef: np.ndarray
    kind: str = "function"

    def predict(self, X: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.column_stack([t.values(X) for t in self.terms_]) @ self.coef

    def size(self) -> int:
        return sum(t.size() for t in self.terms_)

    def in_columns(self, columns: np.ndarray, n_features: int) -> FunctionSum:
        def factor(f):
            inner = widened(f.inner, columns, n_features)
            return Factor(f.name, inner, f.inner_coef, f.shift, f.power, f.frozen)

        terms = [
            Term(widened(t.exponents[None], columns, n_features)[0], tuple(map(factor, t.factors)))
            for t in self.terms_
        ]
        return FunctionSum(terms, self.coef)

    @property
    def has_functions(self) -> bool:
        return any(f.name != "id" for t in self.terms_ for f in t.factors)

    @property
    def has_roots(self) -> bool:
        return any(
            np.any(t.exponents % 1) or any(f.power % 1 or np.any(f.inner % 1) for f in t.factors)
            for t in self.terms_
        )

    def times_monomial(self, exponents: np.ndarray) -> FunctionSum:
        terms = [Term(t.exponents + np.asarray(exponents), t.factors) for t in self.terms_]
        return FunctionSum(terms, self.coef)

    def complexity(self) -> tuple[int, int]:
        return len(self.terms_), self.size()

    def n_parameters(self) -> int:
        """Each term's coefficient and each constant a refinement moves inside its
        functions: ``(a*x + y)**(3/2)`` has two, however few its terms."""
        inner = sum(int(f.free().sum()) for t in self.terms_ for f in t.factors)
        return self.complexity()[0] + inner

    def refit_(self, X: np.ndarray, y: np.ndarray, sample_weight=None) -> None:
        A = np.column_stack([t.values(X) for t in self.terms_])
        if np.all(np.isfinite(A)):
            self.coef = scaled_least_squares(A, y, range_weights(y, sample_weight))

    def to_sympy(self, symbols):
        import sympy

        return sympy.Add(
            *(
                sympy.Float(c) * t.to_sympy(symbols)
                for t, c in zip(self.terms_, self.coef, strict=True)
            )
        )


@dataclass(eq=False)
class FunctionRatio(FunctionSum):
    """``Σ_{i<k} c_i t_i(x) / Σ_{i≥k} c_i t_i(x)``: a ratio of sums of terms with
    functions, ``k = n_numerator`` (``(dT1 - dT2)/log(dT1/dT2)``)."""

    n_numerator: int = 1
    kind: str = "function ratio"

    def _parts(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(all="ignore"):
            A = np.column_stack([t.values(X) for t in self.terms_]) * self.coef
        k = self.n_numerator
        return A[:, :k].sum(1), A[:, k:].sum(1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        numerator, denominator = self._parts(X)
        with np.errstate(all="ignore"):
            return numerator / denominator

    def size(self) -> int:
        return super().size() + 1

    def in_columns(self, columns: np.ndarray, n_features: int) -> FunctionRatio:
        wide = super().in_columns(columns, n_features)
        return FunctionRatio(wide.terms_, wide.coef, n_numerator=self.n_numerator)

    def times_monomial(self, exponents: np.ndarray) -> FunctionRatio:
        k = self.n_numerator
        terms = [Term(t.exponents + np.asarray(exponents), t.factors) for t in self.terms_[:k]]
        return FunctionRatio(terms + self.terms_[k:], self.coef, n_numerator=k)

    def complexity(self) -> tuple[int, int]:
        return len(self.terms_) + 1, self.size()

    def has_pole_between(self, X: np.ndarray) -> bool:
        return changes_sign(self._parts(X)[1])

    def refit_(self, X: np.ndarray, y: np.ndarray, sample_weight=None) -> None:
        """Refit every coefficient but the denominator's first, from
        ``c t_k = N - y (D - c t_k)`` (the denominator times ``y`` is the numerator)."""
        with np.errstate(all="ignore"):
            A = np.column_stack([t.values(X) for t in self.terms_])
        if not np.all(np.isfinite(A)):
            return
        lead = self.coef[self.n_numerator]
        coef = _ratio_coefficients(A, y, self.n_numerator, lead, sample_weight)
        if coef is not None:
            self.coef = coef

    def to_sympy(self, symbols):
        import sympy

        pairs = zip(self.terms_, self.coef, strict=True)
        parts = [sympy.Float(c) * t.to_sympy(symbols) for t, c in pairs]
        k = self.n_numerator
        return sympy.Add(*parts[:k]) / sympy.Add(*parts[k:])


def _ratio_coefficients(A, y, k: int, lead: float, weight=None, reweight=True) -> np.ndarray | None:
    """The coefficients of the ratio of ``A[:, :k]`` over ``A[:, k:]`` that fit
    ``y`` (equation error ``y D = N``), the denominator's first one ``lead``; then
    (``reweight``) refitted with each row weighted by ``1/D²``
    (:func:`denominator_weights`), the least squares of ``y`` itself:
    ``nu**3/(exp(a*nu/T) - 1)``'s denominator spans ten orders of magnitude, and
    unweighted its ``-1`` is right only to the rounding of the largest values."""
    lhs = lead * y * A[:, k]
    B = np.column_stack([A[:, :k], -y[:, None] * A[:, k + 1 :]])
    if not np.all(np.isfinite(B)) or not np.all(np.isfinite(lhs)):
        return None
    solved = scaled_least_squares(B, lhs, weight)
    coef = np.concatenate([solved[:k], [lead], solved[k:]])
    row_weight = denominator_weights(A[:, k:] @ coef[k:], weight) if reweight else weight
    if row_weight is not weight:
        solved = scaled_least_squares(B, lhs, row_weight)
        coef = np.concatenate([solved[:k], [lead], solved[k:]])
    return coef


#: ``y = sign * outer(R)`` searched for as ``R = inverse(sign * y)``: the outer
#: function, the inverse applied to the target, and where that inverse is defined.
OUTER_INVERSES = {
    "reciprocal": (np.reciprocal, lambda t: np.all(t != 0)),
    "sqrt": (np.square, lambda t: np.all(t >= 0)),
    "exp": (np.log, lambda t: np.all(t > 0)),
    "log": (np.exp, lambda t: np.all(t < 50)),
    "arcsin": (np.sin, lambda t: np.all(np.abs(t) <= math.pi / 2)),
    "tanh": (np.arctanh, lambda t: np.all(np.abs(t) < 1)),
}


@dataclass(eq=False)
class Composed(Judged):
    """``sign * outer(R(x))``: a function of a sum or ratio ``R`` (a ClosedForm)."""

    inner: object
    outer: str
    sign: float = 1.0
    kind: str = "composed"

    def predict(self, X: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return self.sign * _OUTER_FUNCTIONS[self.outer](self.inner.predict(X))

    def size(self) -> int:
        return self.inner.size() + 1

    @property
    def has_functions(self) -> bool:
        # A reciprocal or square root of an algebraic formula is algebraic: no
        # constant inside a function to tune to the noise (see ``rank``).
        return self.outer not in ("reciprocal", "sqrt") or self.inner.has_functions

    @property
    def has_roots(self) -> bool:
        return self.outer == "sqrt" or self.inner.has_roots

    def in_columns(self, columns: np.ndarray, n_features: int) -> Composed | None:
        inner = self.inner.in_columns(columns, n_features)
        return None if inner is None else Composed(inner, self.outer, self.sign)

    def times_monomial(self, exponents: np.ndarray):
        """``m(x)`` times this formula, written as one the units compute, or None.

        ``m / R`` is ``1 / (R / m)`` and ``m sqrt(R)`` is ``sqrt(m² R)`` (where
        ``m > 0``: the held-out rows judge); ``m f(S)`` with ``S`` a sum of
        monomials is a term with a function; other products are not written.
        """
        exponents = np.asarray(exponents)
        if self.outer == "reciprocal":
            inner = self.inner.times_monomial(-exponents)
        elif self.outer == "sqrt":
            inner = self.inner.times_monomial(2 * exponents)
        else:
            inner = None
        if inner is not None:
            return Composed(inner, self.outer, self.sign)
        if getattr(self.inner, "denominator", True) is not None:
            return None
        factor = Factor(self.outer, self.inner.numerator, self.inner.numerator_coef)
        return FunctionSum([Term(exponents, (factor,))], np.array([self.sign]))

    def has_pole_between(self, X: np.ndarray) -> bool:
        if self.inner.has_pole_between(X):
            return True
        return self.outer == "reciprocal" and changes_sign(self.inner.predict(X))

    def complexity(self) -> tuple[int, ...]:
        n, *rest = self.inner.complexity()
        return (n + 1, *rest)

    def n_parameters(self) -> int:
        return self.inner.n_parameters() + 1

    def refit_(self, X: np.ndarray, y: np.ndarray, sample_weight=None) -> None:
        """Refit the inner formula on the target through the outer function's inverse,
        each row weighted by the outer function's squared slope there (times
        ``sample_weight`` where given).

        An error ``d`` of the inner formula is an error ``outer'(R) d`` of ``y``: with
        these weights the inner least squares is that of ``y`` (to first order).
        Unweighted, ``1/(exp(u) - 1)`` gets its ``-1`` from the rows where
        ``exp(u)`` is ``1e10`` and misses ``y`` where it is 0.04.
        """
        inverse, defined = OUTER_INVERSES[self.outer]
        t = self.sign * y
        if not defined(t):
            return
        with np.errstate(all="ignore"):
            weight = combined_weights(OUTER_SLOPES[self.outer](t) ** 2, sample_weight)
            self.inner.refit_(X, inverse(t), weight)

    def to_sympy(self, symbols):
        import sympy

        inner = self.inner.to_sympy(symbols)
        if self.outer == "reciprocal":
            return self.sign / inner
        function = {"arcsin": sympy.asin}.get(self.outer) or getattr(sympy, self.outer)
        return self.sign * function(inner)


_OUTER_FUNCTIONS = {**NUMPY_FUNCTIONS, "reciprocal": np.reciprocal}
#: The slope of each outer function, in terms of its value ``t``: ``|d outer / d R|``.
OUTER_SLOPES = {
    "reciprocal": np.square,
    "sqrt": lambda t: 0.5 / t,
    "exp": np.abs,
    "log": lambda t: np.exp(-t),
    "arcsin": lambda t: 1 / np.cos(t),
    "tanh": lambda t: 1 - t**2,
}


# -- the searches -----------------------------------------------------------------------
def composed(X, y, Xv, yv, functions, inner_search, judge, deadline, outers=None) -> Iterator:
    """``y = ±outer(R)``: ``R`` searched for on the target's inverse (see the module).

    ``inner_search(X, t, Xv, tv)`` yields candidates for ``t`` judged on ``tv``;
    the exact ones are composed with ``outer`` (each of ``outers``, by default
    the reciprocal and every one of ``functions`` that has an inverse), refitted
    as a formula for ``y`` (:meth:`Composed.refit_`) and judged on ``y``. So are
    those that fit ``t`` to least-squares rounding alone, kept where the result
    is exact for ``y``: on a target that spans ten orders of magnitude
    (``exp(u) - 1`` of ``1/(exp(u) - 1)``), the unweighted fit of ``t`` is not
    exact on its small values, and those are what ``y`` is made of.
    """
    signs = [s for s in (1.0, -1.0) if np.all(s * y > 0) and np.all(s * yv > 0)] or [1.0]
    for outer in OUTER_INVERSES if outers is None else outers:
        if (outer != "reciprocal" and outer not in functions) or not time_left(deadline):
            continue
        inverse, defined = OUTER_INVERSES[outer]
        for sign in signs:
            t, tv = sign * y, sign * yv
            if not (defined(t) and defined(tv)):
                continue
            with np.errstate(all="ignore"):
                g, gv = inverse(t), inverse(tv)
            if not (np.all(np.isfinite(g)) and np.all(np.isfinite(gv))):
                continue
            for inner in inner_search(X, g, Xv, gv):
                if not (inner.exact or inner.valid_error <= EXACT_LEAST_SQUARES):
                    continue
                candidate = Composed(inner, outer, sign)
                candidate.refit_(X, y)  # the least squares of y, not of the inverse
                judge(candidate, Xv, yv)
                if inner.exact or candidate.exact:
                    yield candidate
                    return


def function_sums(
    X,
    y,
    Xv,
    yv,
    functions,
    select,
    judge,
    deadline,
    monomials=None,
    offsets_only=False,
    paired=False,
    shifted=False,
) -> list:
    """Sums of terms with functions, chosen by forward selection, constants refined;
    where none is exact, sums with the best few functions times ``monomials``
    (:func:`_multiplied`). ``offsets_only``: ``m*(c0 + c1*f(...))`` alone
    (:func:`_offset_pairs`, a cheap step of its own); ``paired``: functions of
    sums of two monomials (:func:`paired_factors`) instead of one; ``shifted``:
    functions of products of two shifted columns
    (:func:`shifted_product_factors`), beside the products of two columns
    (``x*y + sin((x - 1)*(y - 1))``)."""
    if shifted:
        factors = shifted_product_factors(X, Xv, functions)
    else:
        factors = (paired_factors if paired else function_factors)(X, Xv, functions)
    if not factors or not time_left(deadline):
        return []
    n = X.shape[1]
    terms, columns = [], []
    ones = np.zeros(n, dtype=int)
    for e in _linear_base(n):  # a constant and the columns (and their products)
        if e.sum() <= (2 if shifted else 1):
            terms.append(Term(e))
            columns.append(monomial_values(X, e[None, :])[:, 0])
    for factor, v in [] if offsets_only else factors:
        terms.append(Term(ones, (factor,)))
        columns.append(v)
    if not (offsets_only or shifted) and len(columns) * (n + 1) <= _MAX_COLUMNS:
        for factor, v in factors:
            for j in range(n):
                e = ones.copy()
                e[j] = 1
                terms.append(Term(e, (factor,)))
                columns.append(v * X[:, j])
    # A shifted product's own step is short: its functions are not multiplied by
    # the columns, the constant beside them is one of the plain terms, and the best
    # subset of each size alone is refined.
    pairs = [] if shifted else _offset_pairs(terms, columns, factors, X, y)
    A = np.column_stack(columns)
    out = _refined(pairs, terms, A, X, y, Xv, yv, judge, deadline, per_size=len(pairs))
    if offsets_only or any(c.exact for c in out) or not time_left(deadline):
        return out
    subsets = [list(c) for c in chosen_terms(select, A, y, _MAX_TERMS)]
    out += _refined(subsets, terms, A, X, y, Xv, yv, judge, deadline, 1 if shifted else 6)
    if monomials is None or any(c.exact for c in out) or not time_left(deadline):
        return out
    return out + _multiplied(X, y, Xv, yv, factors, monomials, select, judge, deadline)


def multiplied_search(
    functions, monomials, select, judge_on, deadline, keep=4, pairs=3, logs=False, cache=None
):
    """The search of :func:`_multiplied` alone, as ``inner_search`` of :func:`composed`
    (``1/(1/K + (1/P0 - 1/K)*exp(-r*t))``, ``nu**3/(exp(a*nu/T) - 1)``):
    ``judge_on(X, y)`` gives the judge of candidates for ``y``. ``logs``: the
    logarithms of the positive columns join every sum, for a target that is the
    logarithm of a product (``log(a) - b*exp(-c*t)``, ``log(P) + n*t*log(1 + r/n)``).
    ``cache`` keeps the function columns of the last rows: every transformed
    target of one table has the same. On tables of up to ``_MAX_WIDE_FEATURES``
    columns, the functions are also tried of products of four or more columns
    (``wide``, :func:`inner_monomials`): the reciprocal of
    ``exp(h*omega/(kb*T)) - 1``."""
    cache = {} if cache is None else cache

    def search(X, y, Xv, yv):
        key = rows_key(X, Xv)
        if key not in cache:
            cache.clear()
            wide = X.shape[1] <= _MAX_WIDE_FEATURES
            cache[key] = function_factors(X, Xv, functions, wide=wide)
            if X.shape[1] <= _MAX_PAIRED_OUTER:
                cache[key] += paired_factors(X, Xv, functions)
        factors = cache[key]
        if factors and time_left(deadline):
            judge = judge_on(X, y)
            base = _logarithms(X, Xv) if logs else []
            yield from _multiplied(
                X, y, Xv, yv, factors, monomials, select, judge, deadline, keep, pairs, base
            )

    return search


def _logarithms(X, Xv) -> list:
    """``(log(x_j), its values)`` for each column positive on every row, as a term
    whose constant inside is not refined."""
    out = []
    for j in range(X.shape[1]):
        if np.all(X[:, j] > 0) and np.all(Xv[:, j] > 0):
            row = np.zeros((1, X.shape[1]), dtype=int)
            row[0, j] = 1
            factor = Factor("log", row, np.array([1.0]), frozen=True)
            out.append((Term(np.zeros(X.shape[1], dtype=int), (factor,)), np.log(X[:, j])))
    return out


def _multiplied(
    X, y, Xv, yv, factors, monomials, select, judge, deadline, keep=4, pairs=3, base=()
) -> list:
    """Sums of monomials and of the best functions (and their squares) times
    monomials (``q*Ef + q*B*v*sin(theta)``, ``1/K + (1/P0 - 1/K)*exp(-r*t)``,
    ``x1*cos(w*t) + alpha*x1*cos(w*t)**2``), one function at a time, then two of
    the first ``pairs`` (``(exp(u) + exp(-u))/n0``); the terms of ``base``, pairs
    of a term and its values, join every sum.

    Every function column times every monomial is too many columns to select
    from; the functions kept are the ``keep`` whose best product with a monomial
    fits most of ``y`` (of what the ``base`` terms leave of it), the ``keep``
    whose best product fits most of what the best sum of two monomials leaves,
    and the one that explains most of ``y`` times the low monomials
    (:func:`_picked_functions`). The first two come from matrix products:
    ``(Σ_rows r m f)² / Σ_rows m² f²`` for every monomial ``m`` and function
    ``f`` (the denominator less the squared projections of ``m f`` on the base
    terms, where there are some).
    """
    n = X.shape[1]
    monomials, M = _finite_monomials(X, Xv, monomials)
    monomials = np.concatenate([np.zeros((1, n), dtype=int), monomials])
    M = np.concatenate([np.ones((len(X), 1)), M], axis=1)
    F = np.column_stack([v for _, v in factors])
    rest, Q = y, np.zeros((len(X), 0))
    if len(base):  # scored on what the base terms leave, the products projected off them
        B = np.column_stack([np.ones(len(X)), *(v for _, v in base)])
        Q, _ = np.linalg.qr(B / np.linalg.norm(B, axis=0))
        rest = y - Q @ (Q.T @ y)
    targets = [rest]
    best_two = next(iter(chosen_terms(select, M, rest, 2)), None)
    if best_two is not None:
        A = M[:, best_two]
        targets.append(rest - A @ scaled_least_squares(A, rest))
    picked = _picked_functions(X, M, F, Q, targets, keep, deadline)
    # One function at a time (its look-alikes stay out), then two of the first few.
    groups = [[i] for i in picked] + [list(p) for p in combinations(picked[:pairs], 2)]
    out = []
    for group in groups:
        terms = [Term(m) for m in monomials] + [t for t, _ in base]
        blocks = [M, *(v[:, None] for _, v in base)]
        for i in group:
            factor, v = factors[i]
            for power in (1, 2):  # x1*(cos(w*t) + alpha*cos(w*t)**2)
                terms += [Term(m, (factor,) * power) for m in monomials]
                with np.errstate(all="ignore"):
                    blocks.append(np.nan_to_num(M * v[:, None] ** power, posinf=0.0, neginf=0.0))
        A = np.concatenate(blocks, axis=1)
        subsets = [list(c) for c in chosen_terms(select, A, y, _MAX_TERMS)]
        out += _refined(subsets, terms, A, X, y, Xv, yv, judge, deadline, per_size=2)
        if any(c.exact for c in out) or not time_left(deadline):
            break
    return out


def _picked_functions(X, M, F, Q, targets, keep, deadline) -> list[int]:
    """The functions (columns of ``F``) to multiply by the monomials ``M`` in
    :func:`_multiplied`: for each of ``targets``, the ``keep`` whose best product
    with a monomial fits most of it (``Q``: the base terms, off which the products
    are projected); then the one that, times the low monomials, fits most of
    what those leave of the first target (:func:`_joint_scores`), among the
    ``_JOINT_POOL`` that scored best alone. A function whose column is another's
    to rounding, or its negative (``cos(-x)`` is ``cos(x)``), is kept once."""
    picked: dict = {}

    def add(order, most: int = keep) -> None:
        new = 0
        for i in order:
            if new == most:
                break
            key = np.round(np.abs(F[:, i]) / (np.abs(F[:, i]).max() or 1.0), 9).tobytes()
            if key not in picked:
                picked[key] = int(i)
                new += 1

    best = np.zeros(F.shape[1])
    with np.errstate(all="ignore"):
        full = (M**2).T @ F**2
        norms = full - sum((((M * q[:, None]).T @ F) ** 2 for q in Q.T), np.zeros_like(full))
        for r in targets:
            score = np.where(norms > 1e-9 * full, ((M * r[:, None]).T @ F) ** 2 / norms, 0.0)
            score = np.nan_to_num(score, nan=0.0, posinf=0.0).max(0)
            add(np.argsort(-score))
            best = np.maximum(best, score / (float(r @ r) or 1.0))
    pool = np.sort(np.argsort(-best)[:_JOINT_POOL])
    if time_left(deadline):
        add(pool[np.argsort(-_joint_scores(X, F[:, pool], targets[0], deadline))], 1)
    return list(picked.values())


def _joint_scores(X, F, rest, deadline: float = math.inf) -> np.ndarray:
    """Each column of ``F``'s share of ``rest`` that it explains times the low
    monomials (a constant and the columns; on up to three columns, their squares
    and products too) beyond what those monomials explain alone.

    Scored alone, a function's best product with one monomial may lose to
    functions that mimic the rest of the target: ``a**2 + b**2 - 2*a*b*cos(C)``
    is closer to ``cos(1.9*a/b)`` times a monomial than to ``a*b*cos(C)``, but
    with ``a**2``, ``b**2`` and ``a*b*cos(C)`` among the low terms, ``cos(C)``
    explains all of it. The functions are scored in blocks of at most
    ``_JOINT_BLOCK`` values of their products, until ``deadline`` (those left
    score 0).
    """
    low = monomials_up_to(X.shape[1], 2 if X.shape[1] <= 3 else 1)
    Z = monomial_values(X, low)
    Z = Z / np.linalg.norm(Z, axis=0)
    basis, _ = np.linalg.qr(Z)
    r = rest - basis @ (basis.T @ rest)
    rr = float(r @ r)
    scores = np.zeros(F.shape[1])
    if not rr > 0:
        return scores
    step = max(1, _JOINT_BLOCK // (len(X) * len(low)))
    ridge = 1e-10 * np.eye(len(low))
    with np.errstate(all="ignore"):
        for start in range(0, F.shape[1], step):
            if not time_left(deadline):
                break
            block = F[:, start : start + step]
            P = (block / np.linalg.norm(block, axis=0))[:, :, None] * Z[:, None, :]
            P -= np.einsum("rk,kfl->rfl", basis, np.einsum("rk,rfl->kfl", basis, P))
            G = np.matmul(P.transpose(1, 2, 0), P.transpose(1, 0, 2))
            b = np.einsum("rfl,r->fl", P, r)
            scale = np.trace(G, axis1=1, axis2=2)[:, None, None]
            try:
                solution = np.linalg.solve(G + scale * ridge, b[..., None])[..., 0]
            except np.linalg.LinAlgError:
                continue
            scores[start : start + step] = np.sum(b * solution, axis=1) / rr
    return np.nan_to_num(scores, nan=0.0, posinf=0.0)


class _RatioScores:
    """The scores of :func:`function_ratios`: called on function columns ``F`` of
    one monomial ``m``, what the span of ``basis`` leaves of each ``y f``,
    relative to what the denominator's line and ``y m``, ``y m**2`` leave of it
    (lower is better). A function nearly quadratic in its argument on the rows
    (``cos(0.12/(kb*omega))``) mimics a ratio of monomials, and would otherwise
    look as if it fit; one that those span to rounding is one of them in disguise
    (infinite score)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, basis: np.ndarray) -> None:
        with np.errstate(all="ignore"):
            scale = np.linalg.norm(basis, axis=0)
            self.Q = np.linalg.qr(basis / np.where(scale > 0, scale, 1.0))[0]
        self.X, self.y, self.y2 = X, y, y * y
        self.yQ = (y[:, None] * self.Q).T
        self.own: dict = {}  # (y times the basis of the line, y m, y m**2)ᵀ, per m

    def __call__(self, F: np.ndarray, m: np.ndarray) -> np.ndarray:
        X, y, Q = self.X, self.y, self.Q
        key = m.tobytes()
        with np.errstate(all="ignore"):
            if key not in self.own:
                own = np.column_stack([y, y[:, None] * X, y * m, y * m * m])
                basis = np.linalg.qr(own / np.linalg.norm(own, axis=0))[0]
                self.own[key] = (y[:, None] * basis).T
            # |t - Q Qᵀ t|² is |t|² - |Qᵀ t|² (Q orthonormal), and Qᵀ (y f) is
            # (y Q)ᵀ f: one matrix product per basis. Where that difference nears
            # rounding, the columns are projected off instead.
            squares = np.einsum("ij,ij->j", F, F * self.y2[:, None])
            left = squares - np.sum((self.yQ @ F) ** 2, axis=0)
            own = squares - np.sum((self.own[key] @ F) ** 2, axis=0)
            close = left < 1e-12 * squares
            if np.any(close):
                T = y[:, None] * F[:, close]
                rest = T - Q @ (Q.T @ T)
                left[close] = np.einsum("ij,ij->j", rest, rest)
            ratio = np.where(own > 1e-12 * squares, left / own, np.inf)
        return np.nan_to_num(ratio, nan=np.inf)


def function_ratios(X, y, Xv, yv, functions, monomials, select, judge, deadline, keep=4) -> list:
    """``y = N(x) / (f(x) + d0 + Σ d_j x_j)``, a sum of monomials over a function
    plus a line (``(dT1 - dT2)/log(dT1/dT2)``, ``nu**3/(exp(a*nu/T) - 1)``).

    Then ``y f = N - y (d0 + Σ d_j x_j)``: linear in the constants for each
    function column ``f``. Every column is scored at once by how much of ``y f``
    the span of the monomials, ``y`` and ``y x_j`` leaves (:class:`_RatioScores`),
    the constants inside exponentials also fitted to it (:func:`_rescaled`); for
    the ``keep`` best, forward selection chooses the terms of ``N`` and the
    denominator's line, and the function's inner constants are refined.
    """
    if not time_left(deadline) or np.any(y == 0):
        return []
    n = X.shape[1]
    factors = function_factors(X, Xv, functions, wide=n <= _MAX_RATIO_WIDE)
    if not factors:
        return []
    monomials, M = _finite_monomials(X, Xv, monomials)
    line = np.eye(n, dtype=int)
    terms = [Term(np.zeros(n, dtype=int)), *(Term(m) for m in monomials)]
    basis = np.column_stack([np.ones(len(X)), M, y, y[:, None] * X])
    scores = _RatioScores(X, y, basis)
    score = np.full(len(factors), np.inf)
    by_monomial: dict = {}
    for i, (factor, _) in enumerate(factors):
        by_monomial.setdefault(factor.inner.tobytes(), []).append(i)
    for indices in by_monomial.values():
        m = monomial_values(X, factors[indices[0]][0].inner)[:, 0]
        score[indices] = scores(np.column_stack([factors[i][1] for i in indices]), m)
    factors, score = _rescaled(factors, score, X, scores, deadline)
    # Each subset with the function as it is on the grid first (least squares
    # alone), then the closest few with its inner constants refined.
    n_terms, tried = len(terms), []
    for k in np.argsort(score)[:keep]:
        factor, v = factors[int(k)]
        for chosen in chosen_terms(select, basis, y * v, _MAX_TERMS + 1):
            if not time_left(deadline):
                break
            numerator = [terms[i] for i in chosen if i < n_terms]
            denominator = [Term(np.zeros(n, dtype=int), (factor,))] + [
                Term(np.zeros(n, dtype=int)) if i == n_terms else Term(line[i - n_terms - 1])
                for i in chosen
                if i >= n_terms
            ]
            candidate = _refined_ratio(numerator, denominator, X, y, refine=False)
            if numerator and candidate is not None:
                tried.append((_training_error(candidate, X, y), numerator, denominator))
    # Fewest terms first among those that fit to rounding.
    rounding = EXACT_LEAST_SQUARES * float(y @ y)
    tried.sort(key=lambda t: (t[0] > rounding, t[0] > rounding or len(t[1]) + len(t[2]), t[0]))
    out, most = [], math.inf  # after an exact one, only fewer terms
    for _, numerator, denominator in tried[: 2 * keep]:
        if not time_left(deadline):
            break
        if len(numerator) + len(denominator) >= most:
            continue
        candidate = _refined_ratio(numerator, denominator, X, y)
        if candidate is not None:
            judge(candidate, Xv, yv)
            out.append(candidate)
            if candidate.exact:
                most = len(numerator) + len(denominator)
    return out


#: Groups of a function of one monomial whose inner constant is fitted to the
#: score (:func:`_rescaled`), the best-scoring on the grid first; the factor by
#: which the constant may move from the group's best on the grid; the points of
#: the finer grid over that reach; and the local minima on it polished.
_RESCALED_GROUPS, _RESCALE_REACH, _RESCALE_POINTS, _POLISHED = 1000, 8.0, 41, 12
#: The functions whose constant inside is so fitted: the constants of
#: exponentials (and tanh) are rates and energies over temperatures, anything;
#: those of sines and cosines are mostly on the grid (2*pi, 1/2).
_RESCALED_FUNCTIONS = ("exp", "tanh")


def _rescaled(factors: list, score: np.ndarray, X, scores, deadline: float) -> tuple:
    """``factors`` and their ``score`` (lower is better), with functions whose
    inner constant minimises ``scores`` (a callable on columns and their
    monomial) added.

    A constant off the grid can leave the right function out of the few kept:
    in Planck's ``nu**3/(exp(0.048*nu/T) - 1)``, ``exp(0.1*nu/T)`` scores 2e-5,
    a cosine of ``1/nu`` that mimics the ratio 8e-13, the exact constant 1e-28.
    For each function of ``_RESCALED_FUNCTIONS`` of one monomial (of the
    ``_RESCALED_GROUPS`` that score best on the grid), the constants within
    ``_RESCALE_REACH`` times its best are scored on a finer geometric grid (one
    matrix each); the ``_POLISHED`` lowest of its local minima, over every
    function, are then polished by a bounded one-dimensional search between
    their neighbours (scipy's Brent): the well of an exact constant is narrow (a
    few per cent), and other, shallower minima lie beside it.
    """
    best: dict = {}
    for i, (factor, _) in enumerate(factors):
        if factor.frozen or len(factor.inner) != 1 or factor.name not in _RESCALED_FUNCTIONS:
            continue
        sign = np.sign(factor.inner_coef[0])
        if factor.name != "exp" and sign < 0:
            continue  # tanh is odd: tanh(-u) is -tanh(u), fitted alike
        key = (factor.name, factor.inner.tobytes(), factor.shift, sign)
        if key not in best or score[i] < score[best[key]]:
            best[key] = i
    groups = sorted(best.values(), key=lambda i: score[i])[:_RESCALED_GROUPS]
    steps = np.linspace(-1.0, 1.0, _RESCALE_POINTS) * math.log(_RESCALE_REACH)
    minima = []  # (score, factor, its monomial's values, log of the constants on its grid, index)
    for i in groups:
        if not time_left(deadline):
            break
        factor = factors[i][0]
        m = monomial_values(X, factor.inner)[:, 0]
        logs = math.log(abs(factor.inner_coef[0])) + steps
        a = np.copysign(np.exp(logs), factor.inner_coef[0])
        with np.errstate(all="ignore"):
            V = SEARCH_FUNCTIONS[factor.name](a[None, :] * m[:, None] + factor.shift)
        finite = np.all(np.isfinite(V), axis=0)
        on_grid = np.where(finite, scores(np.where(finite, V, 0.0), m), np.inf)
        for k in range(1, _RESCALE_POINTS - 1):
            if on_grid[k] < min(on_grid[k - 1], on_grid[k + 1], score[i]):
                minima.append((float(on_grid[k]), factor, m, logs, k))
    minima.sort(key=lambda item: item[0])
    added, added_scores = [], []
    for value, factor, m, logs, k in minima[:_POLISHED]:
        if not time_left(deadline):
            break
        new, polished = _polished(factor, m, logs[k - 1], logs[k + 1], scores, value)
        v = new.values(X)
        if np.all(np.isfinite(v)):
            added.append((new, v))
            added_scores.append(polished)
    return factors + added, np.concatenate([score, added_scores])


def _polished(factor: Factor, m: np.ndarray, low: float, high: float, scores, value: float):
    """``factor`` with the inner constant (its logarithm between ``low`` and
    ``high``) that minimises ``scores`` of its column, and that score (``value``,
    the grid's, where the search does no better)."""
    from scipy.optimize import minimize_scalar

    sign = math.copysign(1.0, factor.inner_coef[0])

    def objective(log_a: float) -> float:
        with np.errstate(all="ignore"):
            v = SEARCH_FUNCTIONS[factor.name](sign * math.exp(log_a) * m + factor.shift)
        if not np.all(np.isfinite(v)):
            return math.inf
        return math.log(max(float(scores(v[:, None], m)[0]), 1e-300))

    fit = minimize_scalar(objective, bounds=(low, high), method="bounded", options={"xatol": 1e-9})
    if fit.fun < math.log(max(value, 1e-300)):
        log_a, value = fit.x, math.exp(fit.fun)
    else:
        log_a = (low + high) / 2  # the grid's point
    return factor.with_parameters(np.array([sign * math.exp(log_a), factor.shift])), value


def _training_error(candidate, X, y) -> float:
    with np.errstate(all="ignore"):
        r = candidate.predict(X) - y
    return float(np.nan_to_num(r @ r, nan=np.inf))


def _refined_ratio(numerator: list, denominator: list, X, y, refine=True) -> FunctionRatio | None:
    """The ratio with the function's inner constants refined (``refine``) by
    nonlinear least squares, the other constants solved for each value
    (:func:`_ratio_coefficients`)."""

    k = len(numerator)
    factor = denominator[0].factors[0]
    start = factor.parameters()
    free = factor.free()

    def ratio(q, reweight=False) -> FunctionRatio | None:
        p = start.copy()
        p[free] = q
        first = Term(denominator[0].exponents, (factor.with_parameters(p),))
        terms = [*numerator, first, *denominator[1:]]
        with np.errstate(all="ignore"):
            A = np.column_stack([t.values(X) for t in terms])
        finite = np.all(np.isfinite(A))
        coef = _ratio_coefficients(A, y, k, 1.0, reweight=reweight) if finite else None
        return None if coef is None else FunctionRatio(terms, coef, n_numerator=k)

    def residual(q):
        candidate = ratio(q)
        r = None if candidate is None else candidate.predict(X) - y
        return r if r is not None and np.all(np.isfinite(r)) else np.full(len(y), 1e150)

    q = start[free]
    if refine and len(q):
        q = _nonlinear_fit(residual, q, float(np.sqrt(np.mean(y**2))))
    candidate = ratio(q, reweight=True)  # the coefficients for y itself, at the end
    if candidate is None or _stand_in(candidate.terms_[k].factors[0], X):
        return None
    return candidate


def _finite_monomials(X, Xv, monomials: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``monomials`` finite on every training and held-out row, and their
    training values."""
    with np.errstate(all="ignore"):
        M = monomial_values(X, monomials)
        ok = np.all(np.isfinite(M), axis=0) & np.all(
            np.isfinite(monomial_values(Xv, monomials)), axis=0
        )
    return monomials[ok], M[:, ok]


def _offset_pairs(terms: list, columns: list, factors: list, X, y, keep: int = 6) -> list:
    """``m*(c0 + c1*f(...))`` for ``m`` 1 or a column (``213.8*(1 - exp(-0.547*x))``,
    ``V0*(1 - exp(-t/(R*C)))``): every function column scored at once against
    ``y / m``, the best ``keep`` for each ``m`` added to ``terms`` and ``columns``
    (where not there already); returns the pairs of their indices."""
    n = X.shape[1]
    F = np.column_stack([v for _, v in factors])
    out = []
    for j in range(-1, n):  # the constant, then each column
        m = np.ones(len(X)) if j < 0 else X[:, j]
        if not np.all(m != 0):
            continue
        with np.errstate(all="ignore"):
            gains = _gains(np.ones((len(X), 1)), F, y / m)
        exponents = np.zeros(n, dtype=int)
        if j >= 0:
            exponents[j] = 1
        base = 0 if j < 0 else 1 + j
        for k in np.argsort(-gains)[:keep]:
            if not np.isfinite(gains[k]):
                continue
            terms.append(Term(exponents, (factors[int(k)][0],)))
            columns.append(m * factors[int(k)][1])
            out.append([base, len(terms) - 1])
    return out


def _refined(subsets, terms, A, X, y, Xv, yv, judge, deadline, per_size: int = 6) -> list:
    """For each number of terms, fewest first, the subsets with the lowest training
    residual, their inner constants refined, judged; until one is exact.

    Refining a subset with fewer terms first matters: before refinement a sum of
    four poorly chosen terms can beat the right two whose inner constant is off
    the grid (``213.8*(1 - exp(-0.547*x))`` starts from ``exp(-0.5*x)``).
    """
    by_size: dict[int, list] = {}
    for chosen in subsets:
        if not any(terms[i].factors for i in chosen):
            continue
        coef = scaled_least_squares(A[:, chosen], y)
        r = A[:, chosen] @ coef - y
        by_size.setdefault(len(chosen), []).append((float(r @ r), chosen))
    out = []
    for size in sorted(by_size):
        for _, chosen in sorted(by_size[size], key=lambda item: item[0])[:per_size]:
            if not time_left(deadline):
                return out
            candidate = _refined_candidate([terms[i] for i in chosen], X, y, Xv, yv, judge)
            if candidate is None:
                continue
            out.append(candidate)
            if candidate.exact:
                return out
    return out


def _refined_candidate(terms: list, X, y, Xv, yv, judge) -> FunctionSum | None:
    """The sum of ``terms`` with their inner constants refined, judged; None where
    refining leaves it not finite, or leaves a function standing in for its
    argument (:func:`_stand_in`)."""
    refined, coef = refine(terms, X, y)
    if coef is None or any(f.name != "id" and _stand_in(f, X) for t in refined for f in t.factors):
        return None
    candidate = FunctionSum(refined, coef)
    judge(candidate, Xv, yv)
    return candidate


def _stand_in(factor: Factor, X: np.ndarray) -> bool:
    """Whether ``factor`` is, on the rows of ``X``, a straight line in its argument
    to float rounding: ``tanh(3e-6*t/v)`` is ``3e-6*t/v``, an inner constant
    refined towards 0 to mimic a power of the columns."""
    argument = factor.argument(X)
    values = factor.values(X)
    A = np.column_stack([np.ones_like(argument), argument])
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(values))):
        return False
    coef = scaled_least_squares(A, values)
    residual = values - A @ coef
    return bool(residual @ residual <= 1e-20 * max(float(values @ values), 1e-300))


def log_products(
    X,
    y,
    Xv,
    yv,
    functions,
    monomials,
    judge,
    deadline,
    half=False,
    select=None,
    paired=False,
    shifted=False,
    linear=False,
) -> list:
    """``c Π x^e Π f_k(...) exp(Σ a_i m_i)`` from ``log|y|`` (see the module).

    In logarithms the powers of the columns are always there (``log|x_j|`` and a
    constant), and the rest is one or two columns more: ``log|f(a m + b)|`` or a
    monomial ``m`` (the argument of an ``exp``). Every single extra column is
    scored at once (its gain, projected off the powers), then the best few are
    paired with every other, as forward selection would; with ``select``, then
    the subsets it chooses from the columns projected off the powers (an ``exp``
    of a sum of several monomials: ``exp(-(x - mu)**2/(2*s**2))``); the powers
    are rounded to integers (or halves) and the inner constants refined.
    ``paired``: the functions are those of sums of two monomials
    (:func:`paired_factors`) instead, and no ``exp`` is tried; ``shifted``: those
    of :data:`SHIFTED_EXP` instead (where ``exp`` is one of ``functions``), and
    no ``exp`` of a monomial either; ``linear``: sums of two monomials instead
    (:func:`linear_factors`), to a power of ±1/2 too with ``half``.
    """
    keep = y != 0
    if keep.sum() < max(20, X.shape[1] + 2) or not time_left(deadline):
        return []
    Xk, target = X[keep], np.log(np.abs(y[keep]))
    n = X.shape[1]
    with np.errstate(all="ignore"):
        powers = [j for j in range(n) if np.all(X[:, j] != 0) and np.all(Xv[:, j] != 0)]
        base = np.column_stack([np.log(np.abs(Xk[:, powers])), np.ones(len(target))])
    kinds, columns = _log_columns(Xk, Xv, functions, monomials, paired, shifted, linear)
    if not columns:
        return []
    C = np.column_stack(columns)
    out = []
    step = 0.5 if half else 1.0
    inside = [i for i, (kind, _) in enumerate(kinds) if kind == "exp"]
    for chosen in _extras(base, C, target, select, inside):
        if not time_left(deadline):
            break
        B = np.column_stack([base, C[:, chosen]])
        coef = scaled_least_squares(B, target)
        chosen_kinds = [("power", j) for j in powers] + [kinds[i] for i in chosen]
        term = _log_term(
            chosen_kinds, coef[: len(powers)].tolist() + coef[base.shape[1] :].tolist(), n, step
        )
        if term is None:
            continue
        values = term.values(X)
        if not np.all(np.isfinite(values)) or not np.any(values):
            continue
        candidate = _refined_candidate([term], X, y, Xv, yv, judge)
        if candidate is not None:
            candidate = _written_out(candidate, X, y, Xv, yv, judge)
        if candidate is None:
            continue
        out.append(candidate)
        if candidate.exact:
            break
    return out


def _log_columns(Xk, Xv, functions, monomials, paired, shifted, linear=False) -> tuple:
    """The extra columns of :func:`log_products` beside the powers, with their
    kinds: ``("factor", f)`` for ``log|f(...)|``, ``("exp", m)`` for a monomial."""
    # sqrt and exp are powers and monomials in logarithms; small scales make
    # sin(a x) a power of x: none of them are extra columns.
    extra = [f for f in functions if f not in ("sqrt", "exp")]
    if linear:
        factors = linear_factors(Xk, Xv)
    elif shifted:
        factors = _log_factors(Xk, Xv, list(SHIFTED_EXP)) if "exp" in functions else []
    elif paired:
        factors = paired_factors(Xk, Xv, extra, log_space=True)
    else:
        factors = _log_factors(Xk, Xv, extra)
    kinds = [("factor", factor) for factor, _ in factors]
    columns = [v for _, v in factors]
    if "exp" in functions and not (paired or shifted or linear):
        monomials = np.concatenate([monomials, signed_monomials(Xk.shape[1], 4)])
        M = monomial_values(Xk, monomials)
        ok = np.all(np.isfinite(M), axis=0) & (np.ptp(M, axis=0) > 0)
        kinds += [("exp", monomials[k]) for k in np.where(ok)[0]]
        columns += [M[:, k] for k in np.where(ok)[0]]
    return kinds, columns


def _written_out(candidate: FunctionSum, X, y, Xv, yv, judge):
    """``candidate``, a product ``c m(x) Π f_k``, with its factor of
    :data:`SHIFTED_EXP` written with ``exp``: ``c m (exp(u) + s) Π f_k`` as a sum
    of terms, ``c m Π f_k / (exp(u) + s)`` as a ratio (refitted, judged). Without
    such a factor, ``candidate`` itself; None with two of them."""
    (term,), (c,) = candidate.terms_, candidate.coef
    shifted = [f for f in term.factors if f.name in SHIFTED_EXP]
    if not shifted:
        return candidate
    if len(shifted) > 1 or c == 0:
        return None
    (g,) = shifted
    rest = tuple(f for f in term.factors if f is not g)
    exps, constant = SHIFTED_EXP[g.name]
    written = [(Factor("exp", g.inner, k * g.inner_coef, k * g.shift), w) for k, w in exps]
    if g.power == 1:
        terms = [Term(term.exponents, (*rest, e)) for e, _ in written]
        coef = [c * w for _, w in written]
        if constant:
            terms.append(Term(term.exponents, rest))
            coef.append(c * constant)
        out = FunctionSum(terms, np.array(coef))
    else:
        # The denominator's first exponential with a coefficient of 1.
        lead = written[0][1]
        none = np.zeros_like(term.exponents)
        terms = [Term(term.exponents, rest), *(Term(none, (e,)) for e, _ in written)]
        coef = [c / lead, *(w / lead for _, w in written)]
        if constant:
            terms.append(Term(none))
            coef.append(constant / lead)
        out = FunctionRatio(terms, np.array(coef), n_numerator=1)
    out.refit_(X, y)
    judge(out, Xv, yv)
    return out


def _log_factors(X, Xv, functions):
    return [
        (factor, v)
        for factor, v in function_factors(X, Xv, functions, log_space=True, wide=True)
        if abs(factor.inner_coef[0]) >= 0.5
    ]


def _gains(B: np.ndarray, C: np.ndarray, target: np.ndarray) -> np.ndarray:
    """How much each column of ``C``, added to ``B``, lowers the least-squares residual."""
    Q, _ = np.linalg.qr(B)
    r = target - Q @ (Q.T @ target)
    P = C - Q @ (Q.T @ C)
    norms = np.einsum("ij,ij->j", P, P)
    with np.errstate(all="ignore"):
        return np.where(
            norms > 1e-12 * np.einsum("ij,ij->j", C, C), (P.T @ r) ** 2 / norms, -np.inf
        )


def _extras(
    base: np.ndarray, C: np.ndarray, target: np.ndarray, select=None, inside=()
) -> Iterator:
    """:func:`_best_extras`, then (``select``) the subsets ``select`` chooses from
    the columns of ``C`` and the target projected off ``base``, then those that
    backward elimination keeps of the columns ``inside`` (the monomials inside an
    ``exp``: of ``exp(-((theta - theta1)/sigma)**2/2)/sigma``, all of them fit
    ``log|y|`` exactly, and forward selection misses its three), each once."""
    seen = set()
    for chosen in _best_extras(base, C, target):
        seen.add(frozenset(chosen))
        yield chosen
    if select is None:
        return
    Q, _ = np.linalg.qr(base)
    residual = target - Q @ (Q.T @ target)
    projected = C - Q @ (Q.T @ C)
    small = np.linalg.norm(projected, axis=0) <= 1e-9 * np.linalg.norm(C, axis=0)
    projected[:, small] = 0.0
    for chosen in chosen_terms(select, projected, residual, _MAX_TERMS):
        if frozenset(chosen) not in seen:
            seen.add(frozenset(chosen))
            yield list(chosen)
    if len(inside):
        P = projected[:, inside]
        norms = np.linalg.norm(P, axis=0)
        ok = norms > 0
        P = np.where(ok, P / np.where(ok, norms, 1.0), 0.0)
        kept = eliminated(P[:, ok], residual, float(residual @ residual), _MAX_TERMS)
        if kept is not None:
            chosen = [int(i) for i in np.asarray(inside)[ok][kept]]
            if frozenset(chosen) not in seen:
                yield chosen


def _best_extras(base: np.ndarray, C: np.ndarray, target: np.ndarray, beam: int = 8) -> list:
    """Index lists of one, two or three columns of ``C`` to add to ``base``, by size.

    The ``beam`` best single columns; each with the best few second columns; each
    best pair with its best third (a beam search of forward selection).
    """
    gains = _gains(base, C, target)
    singles = [int(i) for i in np.argsort(-gains)[:beam] if np.isfinite(gains[i])]
    pairs, triples = [], []
    for i in singles:
        second = _gains(np.column_stack([base, C[:, i]]), C, target)
        second[i] = -np.inf
        for j in np.argsort(-second)[:3]:
            if np.isfinite(second[j]) and sorted((i, int(j))) not in pairs:
                pairs.append(sorted((i, int(j))))
    for pair in pairs[:beam]:
        third = _gains(np.column_stack([base, C[:, pair]]), C, target)
        third[pair] = -np.inf
        k = int(np.argmax(third))
        if np.isfinite(third[k]):
            triples.append([*pair, k])
    return [[i] for i in singles] + pairs + triples


def _log_term(kinds, coef, n_features: int, step: float) -> Term | None:
    """The term whose logarithm the chosen columns ``kinds`` and ``coef`` describe."""
    exponents = np.zeros(n_features)
    factors: list[Factor] = []
    inside, inside_coef = [], []
    for (kind, what), c in zip(kinds, coef, strict=True):
        if kind == "power":
            exponents[what] = np.round(c / step) * step
        elif kind == "factor":
            # A function to an integer power, as as many factors; the identity
            # to its own power, of halves too.
            unit = step if what.name == "id" else 1.0
            k = np.round(c / unit) * unit
            if k == 0 or abs(k) > _MAX_FACTOR_POWER or abs(c - k) > unit / 4:
                return None
            if what.name == "id":
                factors.append(Factor("id", what.inner, what.inner_coef, what.shift, float(k)))
                continue
            power = 1 if k > 0 else -1
            factor = Factor(what.name, what.inner, what.inner_coef, what.shift, power)
            factors += [factor] * int(abs(k))
        else:
            inside.append(what)
            inside_coef.append(c)
    if inside:
        factors.append(Factor("exp", np.array(inside), np.array(inside_coef)))
    if not factors:
        return None  # a product of powers: found in closed form already
    if np.all(exponents == np.round(exponents)):
        exponents = exponents.astype(int)
    return Term(exponents, tuple(factors))
