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
  swapping terms; with up to five columns, also from terms over every column, each
  to a power from -2 to 2 (:func:`wide_library`);
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

import copy
import functools
import itertools
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..exact._tolerances import (
    BEAT_LINEAR,
    CLEARLY_WORSE,
    EXACT_EXTRAPOLATION,
    EXACT_LEAST_SQUARES,
    EXACT_SEARCH,
    MIN_EXACT_ROWS,
    NEGLIGIBLE,
    SIMPLER_WITHIN,
)
from ._functions import (
    OUTER_INVERSES,
    OUTER_SLOPES,
    Composed,
    composed,
    function_ratios,
    function_sums,
    log_products,
    multiplied_search,
)
from ._rational import (
    Judged,
    NoisyRationalSearch,
    RationalSearch,
    changes_sign,
    denominator_weights,
    monomial_values,
    rows_key,
    scaled_least_squares,
    widened,
)

#: Largest number of terms of a sum, and of a ratio (numerator and denominator).
MAX_TERMS, MAX_RATIO_TERMS = 4, 5
#: The library: exponents of magnitude up to 3, at most 3 columns and a total
#: degree of 4 per term (of 3 with more than 12 columns).
_MAX_POWER, _MAX_COLUMNS, _MAX_DEGREE = 3, 3, 4
#: Rows used for the search; more add time, not information, to an exact formula.
_MAX_ROWS = 2000
#: Pairs of columns scored exhaustively among the columns most correlated with the
#: target, and how many of the best pairs seed the forward selection.
_PAIR_POOL, _BEAM = 1500, 12
#: Triples scored where nothing fits exactly: for each of the columns most
#: correlated with the target, every pair among the ``_TRIPLE_POOL`` columns most
#: correlated with what it leaves. Terms that fit only together (``1/K`` and
#: ``exp(-r*t)/K`` beside ``exp(-r*t)/P0``) escape forward selection.
_TRIPLE_SINGLES, _TRIPLE_POOL = 12, 500
#: Columns of the ratios of polynomials tried before the library's ratios and the
#: functions; the larger ones come last.
_SMALL_RATIONAL = 150
#: The same, for the search of a formula inside a function (``_exact_search``),
#: which runs once for each function.
_INNER_RATIONAL = 60
#: Functions of a sum of functions times monomials tried early (each a search of
#: its own with a share of the time left, see :func:`multiplied_search`), whether
#: the columns' logarithms join the sums, and the most columns of the tables it is
#: tried on (None: any): ``K/(1 + (K/P0 - 1)*exp(-r*t))``;
#: ``sqrt(a**2 + b**2 - 2*a*b*cos(C))`` (in the reciprocal's share, the square
#: root was cut short); ``a*exp(-b*exp(-c*t))``, ``P*(1 + r/n)**(n*t)``.
_EARLY_OUTER = (
    (("reciprocal",), False, None),
    (("sqrt",), False, None),
    (("exp",), True, None),
)
#: The same, after the sums with functions: ``log(x + sqrt(x**2 + 1))``, on one
#: column (on tables of two columns or more, where nothing fits, it took 1 to 4 s
#: and cut two formulas of four columns at ``max_time=60``; among the early ones,
#: it delayed the sums with functions found after it by 4 to 6 s).
_LATER_OUTER = ((("log",), False, 1),)
#: The functions tried there for each way of scoring them (``keep`` of
#: :func:`._functions._multiplied`).
_EARLY_KEEP = 3
#: Share of the search's time kept for its last steps (see :func:`_steps`), which
#: find the formulas of noisy data where the early steps have not seen the noise
#: (with 0.1, the thresholded least squares behind a product found
#: ``q*E/(m*(w0**2 - w**2))`` at ``max_time=20`` alone on the machine, not with
#: two fits at a time).
_NOISY_SHARE = 0.2
#: Share of the time left that the search behind a product in front of a formula
#: with functions may take before the search of the whole table.
_NARROW_SHARE = 0.25
#: Share of the time left for sums with functions of products of two shifted
#: columns, on tables of up to three columns (``x*y + sin((x - 1)*(y - 1))``):
#: found in 0.1 to 0.4 s; where nothing fits, the step takes 0.7 to 1.4 s, and
#: a slower table (wider ranges, more shifts) is cut at this share.
_SHIFTED_SHARE = 0.1
#: Tables of up to this many columns also try sums of terms over every column
#: (:func:`wide_library`), of total degree up to ``_WIDE_DEGREE``.
_WIDE_FEATURES, _WIDE_DEGREE = 5, 6
#: Residuals of the best formula whose correlation between neighbouring rows is
#: below this are taken for noise, on tables of up to this many columns
#: (:class:`NoiseCheck`).
_NOISE_CORRELATION, _NOISE_MAX_COLUMNS = 0.2, 6
#: Share of the search's main time that sequentially thresholded least squares
#: may take where the data look noisy (:class:`NoiseCheck`); the larger ratios
#: have their turn among the last steps. Run on every table, it costs exact data
#: 0.2 to 1.5 s on the formula benchmark's functions and finds nothing there.
_THRESHOLDED_SHARE = 0.25
#: Share of the time of the last steps that thresholded least squares behind a
#: product or an outer function (:func:`_noisy_products`) may take where the
#: data have not looked noisy before them (a wrong formula's residual on noisy
#: rows is smooth: ``q*E/(m*(w0**2 - w**2))``).
_LAST_PRODUCTS_SHARE = 0.5
#: Share of the main time left that the backward eliminations of the ratios of
#: polynomials may take (:class:`_NoisySteps`), and the most columns of those (one
#: at a time, each elimination costs some 10 ms a column).
_ELIMINATED_SHARE, _ELIMINATED_COLUMNS = 0.15, 64
#: The same, for polynomials, whose path is one least squares a column
#: (``x0 + dx*(10*s**3 - 15*s**4 + 6*s**5)`` is a polynomial of degree 6 in three
#: columns, 84 of them).
_ELIMINATED_POLYNOMIAL = 200
#: The most columns of the backward eliminations of ratios and of polynomials
#: behind a product or an outer function (:func:`_noisy_products`), after their
#: thresholded least squares: a ratio's path takes some 30 ms on two columns, and
#: the pairs of up to 32 columns took a second there for each product tried.
_INNER_ELIMINATED, _INNER_POLYNOMIAL = 20, 32
#: The eliminations do not run where a polynomial of the exact search fits the
#: rows to this relative squared residual, or where the differences of its
#: residuals between nearest neighbours are as small: noise of 0.01% of the
#: target's root mean square leaves 1e-8, and 1%, which they are for, 1e-4. On
#: exact rows they cost up to 8 s (a function of two columns), 5 s on ``-log10(H)``.
_NOISE_FLOOR = 1e-8
#: The number of candidate terms the extended information criterion assumes each
#: term was chosen from (:func:`_criterion`), and the relative residual below
#: which fits count as equal (float64 rounding).
_CANDIDATE_TERMS, _RSS_FLOOR = 1000, 1e-24
#: Refits of a formula's constants on the training rows before its criterion,
#: and the difference of criteria below which two formulas count as alike (a
#: difference of BIC below 2 is "not worth more than a bare mention", Kass and
#: Raftery 1995): the simpler comes first.
_CRITERION_REFITS, _CRITERION_TIE = 3, 2.0
#: Columns up to which the selection works from their Gram matrix (8 bytes each of
#: its ``n²`` entries) instead of projecting every row.
_MAX_GRAM = 5000
#: Columns among which a pair is chosen to replace two terms of a sum
#: (:func:`_pair_swapped`): those most correlated with what the other terms leave.
_PAIR_SWAP_POOL = 150


@dataclass(eq=False)
class ClosedForm(Judged):
    """A sum of products of powers, or a ratio of two: ``N / D``.

    Parameters
    ----------
    numerator : ndarray of shape (n_terms, n_features)
        Integer exponents of each term of ``N``.
    numerator_coef : ndarray of shape (n_terms,)
        Constant factor of each term of ``N``.
    denominator, denominator_coef : ndarray or None
        The same for ``D``; None for a sum.
    """

    numerator: np.ndarray
    numerator_coef: np.ndarray
    denominator: np.ndarray | None = None
    denominator_coef: np.ndarray | None = None
    kind: str = field(default="sum")

    def terms(self) -> np.ndarray:
        """Every term's exponents, numerator first."""
        if self.denominator is None:
            return self.numerator
        return np.concatenate([self.numerator, self.denominator])

    @property
    def has_roots(self) -> bool:
        return bool(np.any(self.terms() % 1))

    def complexity(self) -> tuple[int, int, int]:
        """(number of terms, total degree, total negative degree): fewer is simpler
        (``(a*p + 2*b*q)/(a + b)`` before ``(q + a*p/b)/(1 + a/b)``)."""
        terms = self.terms()
        return len(terms), int(np.abs(terms).sum()), int(-np.minimum(terms, 0).sum())

    def size(self) -> int:
        """Nodes of the formula, roughly: one per term and one per unit of degree."""
        terms = self.terms()
        return int(len(terms) + np.abs(terms).sum())

    def refit_(self, X: np.ndarray, y: np.ndarray, sample_weight=None) -> None:
        """Refit the coefficients by least squares on ``X``, ``y`` (terms kept),
        weighted by ``sample_weight`` where given.

        For a ratio ``N / D`` with ``D``'s first coefficient 1, from ``y t0 = N - y (D - t0)``,
        each row weighted by ``1/D²`` with the coefficients it had
        (:func:`denominator_weights`). Left as it is where a term is not finite on
        some row.
        """
        N = _terms(X, self.numerator)
        if self.denominator is None:
            A, target = N, y
        else:
            D = _terms(X, self.denominator)
            A, target = np.concatenate([N, -y[:, None] * D[:, 1:]], axis=1), y * D[:, 0]
            sample_weight = denominator_weights(D @ self.denominator_coef, sample_weight)
        if not np.all(np.isfinite(A)) or not np.all(np.isfinite(target)):
            return
        coef = scaled_least_squares(A, target, sample_weight)
        n = len(self.numerator)
        self.numerator_coef = coef[:n]
        if self.denominator is not None:
            self.denominator_coef = np.concatenate([[1.0], coef[n:]])

    def to_sympy(self, symbols):
        """The formula as a sympy expression in ``symbols`` (one per column)."""
        import sympy

        def polynomial(exponents, coef):
            return sympy.Add(
                *(
                    sympy.Float(c)
                    * sympy.Mul(
                        *(x ** sympy.nsimplify(e) for x, e in zip(symbols, row, strict=True) if e)
                    )
                    for row, c in zip(exponents, coef, strict=True)
                )
            )

        numerator = polynomial(self.numerator, self.numerator_coef)
        if self.denominator is None:
            return numerator
        return numerator / polynomial(self.denominator, self.denominator_coef)

    def in_columns(self, columns: np.ndarray, n_features: int) -> ClosedForm:
        den = self.denominator
        return ClosedForm(
            widened(self.numerator, columns, n_features),
            self.numerator_coef,
            None if den is None else widened(den, columns, n_features),
            self.denominator_coef,
            self.kind,
        )

    def times_monomial(self, exponents: np.ndarray) -> ClosedForm:
        numerator = self.numerator + np.asarray(exponents)[None, :]
        return ClosedForm(
            numerator, self.numerator_coef, self.denominator, self.denominator_coef, self.kind
        )

    def has_pole_between(self, X: np.ndarray) -> bool:
        if self.denominator is None:
            return False
        with np.errstate(all="ignore"):
            return changes_sign(_terms(X, self.denominator) @ self.denominator_coef)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The formula's value on the rows of ``X``."""
        with np.errstate(all="ignore"):
            n = _terms(X, self.numerator) @ self.numerator_coef
            if self.denominator is None:
                return n
            return n / (_terms(X, self.denominator) @ self.denominator_coef)


_terms = monomial_values


def library(n_features: int) -> np.ndarray:
    """The candidate terms: integer exponent vectors, the constant first, simplest first."""
    max_degree = _MAX_DEGREE if n_features <= 12 else _MAX_DEGREE - 1
    rows = [np.zeros(n_features, dtype=int)]
    powers = [p for p in range(-_MAX_POWER, _MAX_POWER + 1) if p != 0]
    for k in range(1, min(_MAX_COLUMNS, n_features) + 1):
        for columns in itertools.combinations(range(n_features), k):
            for exps in itertools.product(powers, repeat=k):
                if sum(abs(e) for e in exps) <= max_degree:
                    row = np.zeros(n_features, dtype=int)
                    row[list(columns)] = exps
                    rows.append(row)
    rows = np.array(rows)
    order = np.argsort(np.abs(rows).sum(1), kind="stable")
    return rows[order]


def _judge(formula: ClosedForm, Xv: np.ndarray, yv: np.ndarray, weight=None) -> None:
    """Set the formula's relative held-out error and its rows' squared errors
    (each times its row's weight, where ``weight`` holds weights of mean 1)."""
    predicted = formula.predict(Xv)
    formula.valid_error = _relative_error(predicted, yv, weight)
    formula.valid_target = yv
    with np.errstate(all="ignore"):
        squares = (predicted - yv) ** 2 * (1.0 if weight is None else weight)
        formula.valid_rows = np.nan_to_num(squares, nan=np.inf)


def _relative_error(predicted: np.ndarray, y: np.ndarray, weight=None) -> float:
    """Mean squared error relative to the mean squared target (both weighted)."""
    with np.errstate(all="ignore"):
        mse = float(np.average((predicted - y) ** 2, weights=weight))
    scale = float(np.average(y**2, weights=weight)) or 1.0
    return mse / scale if math.isfinite(mse) else math.inf


def _gram(T: np.ndarray) -> np.ndarray | None:
    """``TᵀT``, or None when it would hold more than ``_MAX_GRAM`` columns."""
    return T.T @ T if T.shape[1] <= _MAX_GRAM else None


def _selector(deadline: float):
    """:func:`_select` with its ``deadline``, as the ``select(columns, target,
    max_terms)`` the other searches take."""
    return functools.partial(_select, deadline=deadline)


def _time_share(deadline: float, share: float) -> float:
    """The time ``share`` of what is left before ``deadline`` from now ends."""
    return time.perf_counter() + share * (deadline - time.perf_counter())


def _select(
    T: np.ndarray,
    target: np.ndarray,
    max_terms: int,
    G: np.ndarray | None = None,
    deadline: float = math.inf,
):
    """Subsets of the columns of ``T`` (unit norm) that fit ``target``; yields index lists.

    Every best single column and the best pairs (all pairs are scored at once from
    the columns' Gram matrix ``G``, computed here if not given) seed a beam; each
    seed then grows by orthogonal least squares, adding the column that lowers the
    residual most, up to ``max_terms``. A seed stops growing once it fits exactly.
    Where none fits exactly, the best triples (:func:`_best_triples`) seed it too
    (for subsets of at most ``MAX_RATIO_TERMS``: the sums and ratios of few terms
    of an exact formula). Last, where none fits exactly, the best subset of
    ``max_terms`` has pairs of its terms swapped too (:func:`_pair_swapped`): once,
    as it scores the columns anew for each pair of its terms.
    """
    if time.perf_counter() > deadline:
        return
    tt = float(target @ target) or 1.0
    g = T.T @ target
    n = T.shape[1]
    if G is None:
        G = _gram(T)
    pool = np.argsort(-np.abs(g))[:_PAIR_POOL] if n > _PAIR_POOL else np.arange(n)
    C = G[np.ix_(pool, pool)] if G is not None else T[:, pool].T @ T[:, pool]
    squares = np.einsum("ij,ij->j", T, T) if G is None else None
    best = functools.partial(_best_addition, T, target, G=G, g=g, squares=squares)
    explained = _pair_scores(C, g[pool], alike=1e-9)
    flat = np.argsort(-explained, axis=None)[:_BEAM]
    seeds = [[int(np.argmax(g**2))]]
    seeds += [sorted(map(int, pool[list(np.unravel_index(k, C.shape))])) for k in flat]
    seen: set[frozenset] = set()
    fullest: tuple[float, list[int]] = (math.inf, [])  # the best subset of max_terms
    exact, regular = False, len(seeds)
    for number, seed in enumerate(seeds):
        if time.perf_counter() > deadline:
            return
        chosen = list(seed)[:max_terms]
        while True:
            key = frozenset(chosen)
            if key not in seen:
                seen.add(key)
                yield list(chosen)
            rss = _rss(T, target, chosen)
            if rss <= EXACT_LEAST_SQUARES * tt:
                exact = True
                break
            if len(chosen) >= max_terms:
                break
            j = best(chosen)
            if j is None:
                break
            chosen = _swapped(T, target, [*chosen, j], tt, best)
        if len(chosen) == max_terms and not exact and rss < fullest[0]:
            fullest = (rss, chosen)  # rss: that of chosen, from the loop
        if number == regular - 1 and not exact and 3 <= max_terms <= MAX_RATIO_TERMS:
            seeds += _best_triples(T, G, g, target, seeds)
    if exact or time.perf_counter() > deadline:
        return
    if 3 <= max_terms <= MAX_RATIO_TERMS:
        pruned = _pruned_path(T, target, tt, best, g, 3 * max_terms)
        if pruned is not None and len(pruned) <= max_terms and frozenset(pruned) not in seen:
            seen.add(frozenset(pruned))
            yield pruned
    if fullest[1] and max_terms >= 3:
        # The best subset of the most terms, with pairs of its terms swapped too.
        swapped = _swapped(T, target, fullest[1], tt, best, pairs=(G, g))
        if frozenset(swapped) not in seen:
            yield swapped


def _pruned_path(T, target, tt: float, best, g, longest: int) -> list[int] | None:
    """Where the greedy path of orthogonal least squares fits exactly within
    ``longest`` columns, the fewest of them that still do (each dropped in turn
    while the rest fit exactly); None where it does not.

    The terms of an exact sum that are alike one by one are missed by forward
    selection from every seed, but a longer path takes them in among others (the
    reciprocal of ``R/(R**2 + (w*L - 1/(w*C))**2)``, four terms, fits exactly
    after ten), and dropping the others leaves them."""
    chosen = [int(np.argmax(g**2))]
    while _rss(T, target, chosen) > EXACT_LEAST_SQUARES * tt:
        j = best(chosen) if len(chosen) < longest else None
        if j is None:
            return None
        chosen.append(j)
    dropped = True
    while dropped and len(chosen) > 1:
        rest = [[c for c in chosen if c != k] for k in chosen]
        rss = [_rss(T, target, r) for r in rest]
        dropped = min(rss) <= EXACT_LEAST_SQUARES * tt
        if dropped:
            chosen = rest[int(np.argmin(rss))]
    return sorted(chosen)


def _best_triples(T, G, g, target, pairs: list) -> list[list[int]]:
    """The ``_BEAM`` triples of columns of ``T`` (unit norm) that fit the target
    ``target`` best, among those holding one of the ``_TRIPLE_SINGLES`` columns
    most correlated with it or of the first three ``pairs``.

    For each such column ``i``, every pair of the others is scored at once on
    what ``i`` leaves of the target (the columns and the target projected off
    ``i``, from the Gram matrix ``G``, or from ``T`` where ``G`` is None), among
    the ``_TRIPLE_POOL`` most correlated with that rest; the best three pairs
    for each ``i`` are then ranked by their least-squares residual.
    """
    tt = float(target @ target)
    singles = [int(i) for i in np.argsort(-np.abs(g))[:_TRIPLE_SINGLES]]
    singles += [i for pair in pairs[:3] for i in pair if i not in singles]
    out = []
    for i in singles:
        column = G[:, i] if G is not None else T.T @ T[:, i]
        with np.errstate(all="ignore"):
            rest = 1.0 - column**2  # squared norms of the columns projected off i
            gp = (g - column * g[i]) / np.sqrt(rest)
        gp[~(rest > 1e-9)] = 0.0
        pool = np.argsort(-np.abs(gp))[:_TRIPLE_POOL]
        pool = pool[pool != i]
        C = G[np.ix_(pool, pool)] if G is not None else T[:, pool].T @ T[:, pool]
        with np.errstate(all="ignore"):
            scale = np.sqrt(rest[pool])
            C = (C - np.outer(column[pool], column[pool])) / np.outer(scale, scale)
        # More than all of the rest explained: columns too alike to tell apart.
        explained = _pair_scores(C, gp[pool], alike=1e-6, most=(1 + 1e-6) * (tt - g[i] ** 2))
        flat = explained.ravel()
        for k in np.argpartition(-flat, 3)[:3] if flat.size > 3 else range(flat.size):
            if np.isfinite(explained.flat[k]):
                j, m = np.unravel_index(k, explained.shape)
                triple = sorted([i, int(pool[j]), int(pool[m])])
                out.append((_rss(T, target, triple), triple))
    out.sort(key=lambda item: item[0])
    return [triple for _, triple in out[:_BEAM]]


def _pair_scores(C, q, alike: float, most: float = math.inf) -> np.ndarray:
    """How much of a target each pair of unit-norm columns explains, at once: ``C``
    their correlations, ``q`` each one's with the target. Each pair once (upper
    triangle); -inf for pairs whose correlation is within ``alike`` of 1, whose
    score is not finite or above ``most``."""
    with np.errstate(all="ignore"):
        explained = (q[:, None] ** 2 + q[None, :] ** 2 - 2 * q[:, None] * q[None, :] * C) / (
            1 - C**2
        )
    wrong = ~np.isfinite(explained) | (explained > most) | (np.abs(C) > 1 - alike)
    explained[wrong] = -np.inf
    explained[np.tril_indices(len(q))] = -np.inf
    return explained


def _swapped(T, target, chosen: list[int], tt: float, best, pairs=None) -> list[int]:
    """``chosen`` with terms swapped for better ones while that lowers the residual.

    A term picked early may stand in for two picked later; each term in turn is
    taken out and the best column for its place put in (at most two passes);
    ``pairs``, ``(G, g)`` of :func:`_pair_swapped` (``G`` may be None): where no
    single swap helps, two terms at once.
    """
    rss = _rss(T, target, chosen)
    for _ in range(2 * len(chosen)):
        if rss <= EXACT_LEAST_SQUARES * tt:
            break
        for i in range(len(chosen)):
            rest = chosen[:i] + chosen[i + 1 :]
            k = best(rest)
            if k is not None and k != chosen[i]:
                trial = [*rest, k]
                trial_rss = _rss(T, target, trial)
                if trial_rss < rss * (1 - 1e-9):
                    chosen, rss = trial, trial_rss
                    break
        else:
            pair = None if pairs is None else _pair_swapped(T, target, chosen, rss, *pairs)
            if pair is None:
                break
            chosen, rss = pair
    return chosen


def _pair_swapped(T, target, chosen: list[int], rss: float, G=None, g=None):
    """``chosen`` with two of its terms replaced by the pair of columns that best
    fits what the others leave, and its residual, where that lowers the
    residual; else None.

    Two terms that fit only together (``a/c - b/c``, where ``a**2/(b*c)`` and
    ``b**2/(a*c)`` each fit more alone) are not the best single addition, so
    swapping terms one at a time keeps the wrong pair. Every pair among the
    ``_PAIR_SWAP_POOL`` columns most correlated with the rest of the target is
    scored at once (:func:`_pair_scores`), the columns and the target projected
    off the terms kept (:func:`_projected_pool`).
    """
    for i, j in itertools.combinations(range(len(chosen)), 2):
        rest = [c for k, c in enumerate(chosen) if k not in (i, j)]
        pool, C, q = _projected_pool(T, target, rest, G, g)
        explained = _pair_scores(C, q, alike=1e-9)
        if not np.isfinite(explained).any():
            continue
        a, b = np.unravel_index(int(np.argmax(explained)), explained.shape)
        trial = [*rest, int(pool[a]), int(pool[b])]
        trial_rss = _rss(T, target, trial)
        if trial_rss < rss * (1 - 1e-9):
            return trial, trial_rss
    return None


def _projected_pool(T, target, rest: list[int], G=None, g=None):
    """The ``_PAIR_SWAP_POOL`` columns of ``T`` (unit norm) most correlated with
    what the columns ``rest`` leave of ``target``, their correlations with each
    other and with it, all projected off ``rest``: from the Gram matrix ``G`` and
    ``g = Tᵀ target`` where given (a few operations per column), else from the rows."""
    if G is None:
        Q, _ = np.linalg.qr(T[:, rest]) if rest else (np.zeros((len(target), 0)), None)
        residual = target - Q @ (Q.T @ target)
        pool = np.argsort(-np.abs(T.T @ residual))[:_PAIR_SWAP_POOL]
        P = T[:, pool] - Q @ (Q.T @ T[:, pool])
        norms = np.linalg.norm(P, axis=0)
        usable = norms > 1e-6
        pool, P = pool[usable], P[:, usable] / norms[usable]
        return pool, P.T @ P, P.T @ residual
    if rest:
        left, squares, G_S, inverse = _gram_projection(G, g, rest)
    else:
        left, squares = g, np.diagonal(G).copy()
    with np.errstate(all="ignore"):
        correlation = np.where(squares > 1e-12, np.abs(left) / np.sqrt(squares), 0.0)
    correlation[rest] = 0.0
    pool = np.argsort(-correlation)[:_PAIR_SWAP_POOL]
    pool = pool[squares[pool] > 1e-12]
    C = G[np.ix_(pool, pool)]
    if rest:
        C = C - G_S[:, pool].T @ (inverse @ G_S[:, pool])
    scale = np.sqrt(squares[pool])
    return pool, C / np.outer(scale, scale), left[pool] / scale


def _gram_projection(G, g, indices):
    """From the Gram matrix ``G = TᵀT`` and ``g = Tᵀ target``, each column's
    product with the target projected off the columns ``indices`` (``g_j - G_jS β``),
    the squared norms of the columns so projected (``G_jj - G_jS G_SS⁻¹ G_Sj``),
    and ``G_S``, ``G_SS⁻¹`` that give them."""
    G_S = G[indices]
    inverse = np.linalg.pinv(G[np.ix_(indices, indices)])
    projected = g - G_S.T @ (inverse @ g[indices])
    squares = np.diagonal(G) - np.einsum("ij,ij->j", G_S, inverse @ G_S)
    return projected, squares, G_S, inverse


def _rss(T, target, indices) -> float:
    A = T[:, indices]
    coef = scaled_least_squares(A, target)
    r = target - A @ coef
    return float(r @ r)


def _best_addition(T, target, indices, G=None, g=None, squares=None) -> int | None:
    """The column that, added to ``indices``, lowers the least-squares residual most.

    Each column's gain is ``(P_jᵀ R)² / |P_j|²``, with ``P_j`` the column and ``R``
    the target projected off the chosen columns. From the Gram matrix ``G = TᵀT``
    and ``g = Tᵀ target`` these are ``g_j - G_jS β`` and ``G_jj - G_jS G_SS⁻¹ G_Sj``
    (``β`` the chosen columns' coefficients): a few operations per column instead
    of a projection of every row. Without ``G``, from an orthonormal basis ``Q`` of
    the chosen columns: ``g_j - (Qᵀ T_j)ᵀ Qᵀ target`` and ``|T_j|² - |Qᵀ T_j|²``
    (``squares``, the columns' squared norms), one product ``Qᵀ T`` per call.
    """
    if g is None:
        g = T.T @ target
    if G is None:
        if squares is None:
            squares = np.einsum("ij,ij->j", T, T)
        Q, _ = np.linalg.qr(T[:, indices])
        inside = Q.T @ T
        projected = g - inside.T @ (Q.T @ target)
        pn = squares - np.einsum("ij,ij->j", inside, inside)
    else:
        projected, pn, _, _ = _gram_projection(G, g, indices)
    with np.errstate(all="ignore"):
        gain = np.where(pn > 1e-10, projected**2 / pn, -np.inf)
    gain[indices] = -np.inf
    j = int(np.argmax(gain))
    return j if math.isfinite(gain[j]) else None


def _usable(X, Xv, terms) -> tuple[np.ndarray, np.ndarray]:
    """The terms finite on every training and held-out row, and their training values."""
    T = _terms(X, terms)
    ok = np.isfinite(T).all(0) & np.isfinite(_terms(Xv, terms)).all(0)
    return terms[ok], T[:, ok]


def _sums(X, y, Xv, yv, terms, T, columns=None, deadline=math.inf) -> list[ClosedForm]:
    """Sums of the ``terms`` (values ``T`` on the rows of ``X``) that fit ``y``;
    ``columns``: ``(index, T / norms, norms, G)`` of :func:`_normalised`, where
    known already."""
    index, Tn, norms, G = _normalised(T) if columns is None else columns
    out = []
    for chosen in _select(Tn, y, MAX_TERMS, G, deadline):
        exps = terms[index[chosen]]
        coef = scaled_least_squares(_terms(X, exps), y)
        used = np.abs(coef) * norms[chosen] > NEGLIGIBLE * np.linalg.norm(y)
        if not used.all() and used.any():
            exps = exps[used]
            coef = scaled_least_squares(_terms(X, exps), y)
        formula = ClosedForm(exps, coef)
        _judge(formula, Xv, yv)
        out.append(formula)
    return out


def _reciprocal_sums(X, y, Xv, yv, terms, T, deadline=math.inf, cache=None) -> list:
    """``y = 1/S`` with ``S`` a sum of library terms, then (``cache``, a dict) of
    library and wide-library terms (:func:`_wide_sums`), where ``1/y`` is exactly
    one (``R/(R**2 + (w*L - 1/(w*C))**2)``, behind its factor ``V**2`` in
    ``V**2*R/(R**2 + (w*L - 1/(w*C))**2)``); only an exact one is returned: tenths
    of a second that find it or nothing."""
    if np.any(y == 0) or np.any(yv == 0):
        return []
    t, tv = 1 / y, 1 / yv
    found = _sums(X, t, Xv, tv, terms, T, deadline=deadline)
    for inner in found:
        confirm_exact(inner, X, t)
    if not _any_exact(found) and cache is not None:
        found = _wide_sums(X, t, Xv, tv, cache, deadline)
    for inner in found:
        if inner.exact and inner.denominator is None:
            # 1/S as a ratio: a function of it is then a function of a ratio.
            one = np.zeros((1, X.shape[1]), dtype=int)
            formula = _make(one, np.ones(1), inner.numerator, inner.numerator_coef, X, y, Xv, yv)
            return [formula]
    return []


def _normalised(T):
    """The indices of the non-zero columns of ``T``, those columns of unit norm,
    their norms and their Gram matrix (None where too large, :func:`_gram`)."""
    norms = np.linalg.norm(T, axis=0)
    index = np.flatnonzero(norms > 0)
    Tn = T[:, index] / norms[index]
    return index, Tn, norms[index], _gram(Tn)


def _ratios(X, y, Xv, yv, terms, T, deadline: float = math.inf) -> list[ClosedForm]:
    n_terms = len(terms)
    out = []
    starts = [i for i, t in enumerate(terms) if np.abs(t).sum() <= 1]
    both = np.concatenate([T, -y[:, None] * T], axis=1)
    norms = np.linalg.norm(both, axis=0)
    normalised = np.where(norms > 0, both / np.where(norms > 0, norms, 1.0), 0.0)
    G_all = _gram(normalised)
    for start in starts:
        t0 = T[:, start]
        target = y * t0
        excluded = n_terms + start  # -y t0 is the target itself
        columns = normalised.copy()
        columns[:, excluded] = 0.0
        G = None
        if G_all is not None:
            G = G_all.copy()
            G[excluded, :] = G[:, excluded] = 0.0
        scale = float(np.linalg.norm(target)) or 1.0
        if time.perf_counter() > deadline:
            break
        for chosen in _select(columns, target / scale, MAX_RATIO_TERMS, G, deadline):
            num = [c for c in chosen if c < n_terms]
            den = [c - n_terms for c in chosen if c >= n_terms]
            if not num or not den:
                continue
            A = np.concatenate([T[:, num], -y[:, None] * T[:, den]], axis=1)
            coef = scaled_least_squares(A, target)
            used = np.abs(coef) * np.linalg.norm(A, axis=0) > NEGLIGIBLE * scale
            if not used.all():
                # Terms whose coefficient is 0 to rounding are left out.
                num, den = (
                    [c for c, u in zip(num, used[: len(num)], strict=True) if u],
                    [c for c, u in zip(den, used[len(num) :], strict=True) if u],
                )
                if not num:
                    continue
                A = np.concatenate([T[:, num], -y[:, None] * T[:, den]], axis=1)
                coef = scaled_least_squares(A, target)
            out.append(_ratio(terms[num], terms[[start, *den]], coef, Xv, yv))
    return out


def _ratio(numerator, denominator, coef, Xv, yv) -> ClosedForm:
    """``N / D`` judged on the held-out rows: ``coef`` holds ``N``'s coefficients,
    then those of ``D`` after its first term, whose coefficient is 1."""
    n = len(numerator)
    formula = ClosedForm(
        numerator, coef[:n], denominator, np.concatenate([[1.0], coef[n:]]), kind="ratio"
    )
    _judge(formula, Xv, yv)
    return formula


def _log_powers(X, y, robust: bool = False) -> np.ndarray | None:
    """The least-squares fit of ``log|y|`` on the columns' logarithms and a constant,
    on the rows where no value is 0: the powers of the columns, then the constant;
    None where too few such rows are left.

    ``robust``: the least-absolute-deviations fit instead (iteratively reweighted
    least squares). Where ``y = M(x) S(x)`` and ``S`` comes near 0 on some rows
    (``beta*(1 + alpha*cos(theta))``), ``log|S|`` dives on those rows and pulls
    the least-squares powers of ``M`` off their integers; the median is not moved.
    """
    keep = (X != 0).all(1) & (y != 0)
    if keep.sum() <= X.shape[1] + 1:
        return None
    A = np.concatenate([np.log(np.abs(X[keep])), np.ones((int(keep.sum()), 1))], axis=1)
    target = np.log(np.abs(y[keep]))
    solution, *_ = np.linalg.lstsq(A, target, rcond=None)
    for _ in range(30 if robust else 0):
        weight = 1.0 / np.sqrt(np.maximum(np.abs(target - A @ solution), 1e-6))
        solution, *_ = np.linalg.lstsq(A * weight[:, None], target * weight, rcond=None)
    return solution


def _product(X, y, Xv, yv, half: bool) -> list[ClosedForm]:
    """``c Π x^e`` from least squares in logarithms (integer, or half-integer, ``e``)."""
    solution = _log_powers(X, y)
    if solution is None:
        return []
    step = 0.5 if half else 1.0
    exps = np.round(solution[:-1] / step) * step
    if not np.all(np.isfinite(exps)) or np.abs(exps).max(initial=0) > 8:
        return []
    t = _terms(X, exps[None, :])[:, 0]
    if not np.all(np.isfinite(t)) or not np.any(t):
        return []
    c = float(t @ y / (t @ t))
    formula = ClosedForm(exps[None, :], np.array([c]), kind="product")
    _judge(formula, Xv, yv)
    return [formula]


def _linear(X, y, Xv, yv) -> list[ClosedForm]:
    """The linear model: every column and a constant (ordinary least squares)."""
    exps = np.concatenate([np.zeros((1, X.shape[1]), dtype=int), np.eye(X.shape[1], dtype=int)])
    coef = scaled_least_squares(_terms(X, exps), y)
    formula = ClosedForm(exps, coef, kind="linear")
    _judge(formula, Xv, yv)
    return [formula]


def _quietly(search):
    """``search`` without numpy's floating-point warnings: columns that overflow,
    logarithms of negative numbers and refinements that stray are met on purpose,
    and the search judges their results itself."""

    @functools.wraps(search)
    def quiet(*args, **kwargs):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return search(*args, **kwargs)

    return quiet


@_quietly
def find_formulas(
    X: np.ndarray,
    y: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    half_powers: bool = False,
    ratios: bool = True,
    deadline: float = math.inf,
    selection: str = "best",
    functions: Sequence[str] = (),
    sample_weight: np.ndarray | None = None,
    valid_weight: np.ndarray | None = None,
) -> list[ClosedForm]:
    """Candidate formulas for ``y`` from the columns of ``X``, best first.

    The search widens step by step, cheapest first, and stops at the first exact
    formula or at ``deadline``: a single product of powers and the linear model;
    sums of library terms; polynomials and ratios of polynomials of growing degree
    from null vectors (:mod:`._rational`); ratios of library terms; then, where
    nothing was exact, polynomials and ratios with their terms chosen one at a time
    (noisy data).

    Parameters
    ----------
    X, y : ndarray
        Training rows (one target).
    X_valid, y_valid : ndarray
        Held-out rows, which judge every candidate.
    half_powers : bool, default=False
        Whether a single product may hold half-integer powers (square roots).
    ratios : bool, default=True
        Whether to look for ratios of sums too.
    deadline : float, default=inf
        ``time.perf_counter()`` value after which no new step starts.
    selection : {"best", "accuracy"}, default="best"
        The order without an exact formula (see :func:`rank`).
    functions : sequence of str, default=()
        The functions formulas may hold (:mod:`._functions`); none by default.
    sample_weight, valid_weight : ndarray or None, default=None
        Positive weights of the training and held-out rows (see :func:`_kept`).

    Returns
    -------
    list of ClosedForm
        The simplest exact formula first when there is one; otherwise, of those
        not clearly worse than the lowest held-out error, the one of the lowest
        information criterion on the training rows first (see :func:`rank`), then
        the rest by error.
    """
    X, y = np.asarray(X, float), np.asarray(y, float).ravel()
    X_valid, y_valid = np.asarray(X_valid, float), np.asarray(y_valid, float).ravel()
    if len(X) > _MAX_ROWS:
        rows = np.sort(np.random.RandomState(0).choice(len(X), _MAX_ROWS, replace=False))
        X, y = X[rows], y[rows]
        sample_weight = None if sample_weight is None else sample_weight[rows]
    found = _product(X, y, X_valid, y_valid, half_powers) + _linear(X, y, X_valid, y_valid)
    terms, T = _usable(X, X_valid, library(X.shape[1]))
    found += _sums(X, y, X_valid, y_valid, terms, T)
    weights = (X, y, X_valid, y_valid, sample_weight, valid_weight)
    if not ratios:
        return rank(_kept(found, *weights), selection, X, y, sample_weight)

    for formula in found:
        confirm_exact(formula, X, y)
    steps, noisy = _steps(X, y, X_valid, y_valid, terms, T, tuple(functions), half_powers, deadline)
    _run(steps, noisy, found, X, y, deadline)
    if functions and _maybe_an_approximation(found, X):
        found += _function_sums_too(X, y, X_valid, y_valid, terms, tuple(functions), deadline)
    return rank(_kept(found, *weights), selection, X, y, sample_weight)


#: An exact formula of at least this many terms, on a table of up to this many
#: columns, may be a rational approximation of a function (see
#: :func:`_maybe_an_approximation`).
_APPROXIMATION_TERMS, _APPROXIMATION_COLUMNS = 6, 2
#: Share of the time left that sums with functions then take, at most: on two
#: columns they find ``sinh(x)`` in a quarter of a second.
_SECOND_LOOK_SHARE = 0.1


def _maybe_an_approximation(found: list, X: np.ndarray) -> bool:
    """Whether every exact formula found may be a ratio of polynomials that
    approximates a function to float rounding on the rows: of ``_APPROXIMATION_TERMS``
    terms or more, on up to ``_APPROXIMATION_COLUMNS`` columns. On ``x`` in [-1, 1],
    a ratio of degrees 7 and 4 is ``sinh(x)`` to 1e-14, refitted on the lower rows
    too; the extrapolation test of :func:`confirm_exact` cannot tell them apart
    there, only simplicity can."""
    exact = [f for f in found if f.exact]
    return (
        bool(exact)
        and X.shape[1] <= _APPROXIMATION_COLUMNS
        and all(f.complexity()[0] >= _APPROXIMATION_TERMS for f in exact)
    )


def _function_sums_too(X, y, Xv, yv, terms, functions, deadline) -> list:
    """Sums with functions (:func:`function_sums`), with ``_SECOND_LOOK_SHARE`` of
    the time left, after an exact formula that may be an approximation: an exact
    one of fewer terms is ranked before it (``exp(x)/2 - exp(-x)/2``)."""
    until = _time_share(deadline, _SECOND_LOOK_SHARE)
    judge = functools.partial(_judge_and_confirm, X=X, y=y)
    return function_sums(X, y, Xv, yv, functions, _selector(until), judge, until, terms[1:])


def _run(steps: list, noisy, found: list, X, y, deadline: float) -> None:
    """Run ``steps`` in turn, adding their formulas to ``found``, until one is
    exact or ``deadline``; ``noisy.small`` and ``noisy.products`` next as soon as
    the data look noisy (:class:`NoiseCheck`). The other steps still run: the
    check also passes some approximations of exact data (a ratio of polynomials
    close to ``D/Vd*exp(-k*t)`` leaves residuals that four columns' neighbours
    share little of)."""
    noise = noisy.check
    while steps:
        step = steps.pop(0)
        if _any_exact(found) or time.perf_counter() > deadline:
            return
        try:
            new = list(step())
        except np.linalg.LinAlgError:
            # Columns too ill-conditioned for LAPACK on this table: the step finds
            # nothing, the others go on.
            continue
        for formula in new:
            unconfirmed = math.isinf(formula.extrapolation_error)
            if formula.valid_error <= EXACT_LEAST_SQUARES and unconfirmed:
                confirm_exact(formula, X, y)
        found += new
        if not noisy.started and noise.reached(found, y, noisy.polynomial_residual()):
            # The noisy data's own steps, now.
            steps = [noisy.small, noisy.products, *steps]


class NoiseCheck:
    """Whether the best formula so far leaves nothing but noise on the training rows.

    Its residuals are then independent of the columns: a row's residual and that
    of its nearest neighbour (columns scaled to their range) are uncorrelated
    (below ``_NOISE_CORRELATION``), where a wrong formula on exact data leaves a
    smooth residual that neighbours share (0.5 to 1 on the formula benchmark's
    tables, which 1% noise leaves at -0.06 to 0.06 once a formula fits to it).
    Trusted up to ``_NOISE_MAX_COLUMNS`` columns: in more, neighbours are far
    apart and share little of a smooth residual (0.08 on eight columns).
    """

    def __init__(self, X: np.ndarray) -> None:
        self.X = X
        self._neighbours: np.ndarray | None = None

    def neighbours(self) -> np.ndarray:
        if self._neighbours is None:
            span = np.ptp(self.X, axis=0)
            Z = (self.X - self.X.min(axis=0)) / np.where(span > 0, span, 1.0)
            squares = np.einsum("ij,ij->i", Z, Z)
            distances = squares[:, None] + squares[None, :] - 2 * Z @ Z.T
            np.fill_diagonal(distances, np.inf)
            self._neighbours = np.argmin(distances, axis=1)
        return self._neighbours

    def reached(self, found: list, y: np.ndarray, residual=None) -> bool:
        """Whether the formula of ``found`` of the lowest held-out error, not exact,
        or a fit whose ``residual`` on the rows is given (the best polynomial's),
        leaves residuals that neighbouring rows do not share."""
        if self.X.shape[1] > _NOISE_MAX_COLUMNS or len(y) < MIN_EXACT_ROWS:
            return False
        finite = [f for f in found if math.isfinite(f.valid_error)]
        if finite:
            best = min(finite, key=lambda f: f.valid_error)
            if best.exact or best.valid_error <= EXACT_LEAST_SQUARES:
                return False
            if self._white(y - best.predict(self.X)):
                return True
        if residual is None or float(residual @ residual) <= EXACT_LEAST_SQUARES * float(y @ y):
            return False
        return self._white(residual)

    def neighbour_noise(self, residual: np.ndarray, y: np.ndarray) -> float:
        """The noise's variance relative to ``y``'s mean square, from half the
        squared differences of ``residual`` between each row and its nearest
        neighbour (the delta test): the noise's alone where neighbours are close
        enough to share the rest."""
        differences = residual - residual[self.neighbours()]
        return float(differences @ differences) / 2 / (float(y @ y) or 1.0)

    def _white(self, residual: np.ndarray) -> bool:
        if not np.all(np.isfinite(residual)) or not np.std(residual) > 0:
            return False
        shared = np.corrcoef(residual, residual[self.neighbours()])[0, 1]
        return bool(shared < _NOISE_CORRELATION)


def _kept(found, X, y, Xv, yv, weight, valid_weight) -> list:
    """The formulas worth ranking, weighted where there are weights.

    With weights, each formula's coefficients are refitted by weighted least
    squares and its held-out error is weighted; an exact formula keeps its
    coefficients (it fits every row: a refit could only add rounding). Left out:
    formulas of infinite held-out error, and approximations with a pole between
    the rows (a denominator that changes sign inside the table's range fits the
    rows in its linearised form, ``y D = N``, and is wild between them).
    """
    if weight is not None or valid_weight is not None:
        for formula in found:
            if not formula.exact and weight is not None and math.isfinite(formula.valid_error):
                formula.refit_(X, y, weight)
            _judge(formula, Xv, yv, valid_weight)
    rows = np.concatenate([X, Xv])
    return [
        f
        for f in found
        if math.isfinite(f.valid_error) and (f.exact or not f.has_pole_between(rows))
    ]


def _steps(X, y, Xv, yv, terms, T, functions, half_powers, deadline) -> tuple:
    """The steps of the search after the first candidates, cheapest first, and the
    noisy data's steps (:class:`_NoisySteps`): small ratios of polynomials
    (milliseconds), a product of powers in front of one (:func:`_common_factor`),
    sums of terms over every column, the backward eliminations of polynomials and
    ratios where the rows hold noise (:meth:`_NoisySteps.eliminated`); with
    functions, functions of algebraic formulas, products with functions, the
    reciprocal and square root of sums of functions times monomials, a product in
    front of a formula with functions on the columns left (a quarter of the time
    left at most) and sums with functions (a second or so); ratios of polynomials of
    many terms, functions of formulas and products in front of formulas with
    functions on every column (each a search of its own); the thresholded least
    squares behind a product or an outer function, ratios of library terms
    (seconds), the thresholded least squares of the larger ratios, then formulas
    with their terms chosen one at a time (noisy data). The last four have
    ``_NOISY_SHARE`` of the time to themselves: on noisy data they find the formula,
    and a search cut before them by the steps in front would find it or not
    depending on the machine's speed; the steps in front not started by then are
    left out (:func:`_before`)."""
    make = functools.partial(_make, X=X, y=y, Xv=Xv, yv=yv)
    judge = functools.partial(_judge_and_confirm, X=X, y=y)
    main = _time_share(deadline, 1 - _NOISY_SHARE)
    search = RationalSearch(X, y, make, _selector(main), main)
    noisy = _NoisySteps(
        NoisyRationalSearch(X, y, make, _selector(deadline), deadline),
        search,
        functools.partial(_noisy_products, X, y, Xv, yv, ("sqrt",) if "sqrt" in functions else ()),
    )
    first: dict = {}
    algebraic = _exact_search(main, largest=_SMALL_RATIONAL, first=first)
    quick = _exact_search(main, quick=True, first=first)
    steps = [
        lambda: _reciprocal_sums(X, y, Xv, yv, terms, T, main),
        lambda: search.exact(largest=_SMALL_RATIONAL),
        lambda: _common_factor(X, y, Xv, yv, algebraic, judge, quick_search=quick),
        lambda: _wide_sums(X, y, Xv, yv, deadline=main),
        noisy.eliminated,
    ]
    early, late = [], []
    if functions:
        early, late = _function_steps(X, y, Xv, yv, terms, functions, half_powers, main, algebraic)
    steps += [*early, lambda: search.exact(smallest=_SMALL_RATIONAL), *late]
    steps = [_before(main, step) for step in steps]
    ratios = functools.partial(_ratios, X, y, Xv, yv, terms, T, deadline)
    steps += [noisy.last_products, ratios, noisy.rest, noisy.search.selected]
    return steps, noisy


def _before(deadline: float, step):
    """``step``, or none of it once ``deadline`` has passed: each step checks its
    deadline only between parts of its work, so a step started after it would
    take some of the time kept for the last steps (:data:`_NOISY_SHARE`)."""

    def run():
        return step() if time.perf_counter() <= deadline else ()

    return run


class _NoisySteps:
    """Sequentially thresholded least squares (``RationalSearch.thresholded``) in
    three steps: ``small``, the pairs of degrees of up to ``_SMALL_RATIONAL``
    columns, run as soon as the data look noisy (:class:`NoiseCheck`) with
    ``_THRESHOLDED_SHARE`` of the main time left at most; ``products``, a product
    of powers or an outer function around one (``products(deadline)``, see
    :func:`_noisy_products`), next, with as much, or else first of the last steps
    (``last_products``, with ``_LAST_PRODUCTS_SHARE`` of their time); and
    ``rest``, the other pairs (all of them where ``small`` has not run), among the
    last steps. Run on every table, ``products`` cost exact tables 1 to 2.4 s each
    (the formula benchmark's functions, ``max_time=60``)."""

    def __init__(self, search: NoisyRationalSearch, exact: RationalSearch, products) -> None:
        self.search, self.exact, self.started = search, exact, False
        self._products, self.products_done = products, False
        #: The nearest neighbours of the training rows, for :func:`_run`'s noise
        #: check and the eliminations' delta test alike.
        self.check = NoiseCheck(search.X)

    def polynomial_residual(self) -> np.ndarray | None:
        """The residuals of the best polynomial of the exact search so far."""
        return self.exact.residual

    def small(self) -> Iterator:
        self.started = True
        share = _time_share(self.exact.deadline, _THRESHOLDED_SHARE)
        yield from self.search.thresholded(largest=_SMALL_RATIONAL, deadline=share)

    def eliminated(self) -> Iterator:
        """The backward eliminations (``NoisyRationalSearch.eliminated``), right
        after the sums over every column, where the rows hold noise: the best
        polynomial of the exact search fits them no closer than ``_NOISE_FLOOR``,
        and its residual differs from its nearest neighbour's by as much (the delta
        test: on exact rows of one to three columns neighbours are close and share
        the residual of an approximation, which noise they do not)."""
        if not self.holds_noise():
            return
        share = _time_share(self.exact.deadline, _ELIMINATED_SHARE)
        yield from self.search.eliminated(
            largest=_ELIMINATED_COLUMNS, deadline=share, polynomials=_ELIMINATED_POLYNOMIAL
        )

    def holds_noise(self) -> bool:
        """Whether the rows hold noise by the eliminations' tests (see
        :meth:`eliminated`), on the polynomials of the exact search (those it has
        not reached yet fitted now)."""
        self.exact.fit_polynomials(_SMALL_RATIONAL)
        residual = self.exact.residual
        if residual is None or self.exact.smallest_residual() < _NOISE_FLOOR:
            return False
        return self.check.neighbour_noise(residual, self.exact.y) >= _NOISE_FLOOR

    def products(self) -> Iterator:
        yield from self._products_until(_time_share(self.exact.deadline, _THRESHOLDED_SHARE))

    def last_products(self) -> Iterator:
        yield from self._products_until(_time_share(self.search.deadline, _LAST_PRODUCTS_SHARE))

    def _products_until(self, deadline: float) -> Iterator:
        if not self.products_done:
            self.products_done = True
            yield from self._products(deadline, eliminate=self.holds_noise())

    def rest(self) -> Iterator:
        smallest, self.started = (_SMALL_RATIONAL if self.started else 0), True
        yield from self.search.thresholded(smallest=smallest)


def _narrow_factor(X, y, Xv, yv, functions, half_powers, deadline, judge) -> Iterator:
    """A product in front of a formula with functions, on the columns left
    (:func:`_common_factor` with ``narrow``), with a quarter of the time left at
    most: on a spurious factor it finds nothing. Functions of algebraic formulas
    first for every factor tried."""
    share = _time_share(deadline, _NARROW_SHARE)
    for terms_with_functions in (False, True):
        search = _exact_search(
            share, functions, half_powers, outer=True, terms_with_functions=terms_with_functions
        )
        found = list(_common_factor(X, y, Xv, yv, search, judge, narrow=True))
        yield from found
        if _any_exact(found):
            return


def _outer_of_sums(X, y, Xv, yv, terms, functions, deadline, judge, tried=_EARLY_OUTER) -> Iterator:
    """The outer functions of ``tried`` (``_EARLY_OUTER`` or ``_LATER_OUTER``) of
    sums of the best few functions times monomials, one function at a time, each
    kind with a share of the time left: a second or two. The function columns are
    the same for every target: made once in a call."""

    def judge_on(Xi, t):
        return functools.partial(_judge_and_confirm, X=Xi, y=t)

    factors: dict = {}
    for outers, logs, widest in tried:
        if logs and not {"exp", "log"} <= set(functions):
            continue
        if widest is not None and X.shape[1] > widest:
            continue
        share = _time_share(deadline, _NARROW_SHARE)
        few = multiplied_search(
            functions, terms[1:], _selector(share), judge_on, share, _EARLY_KEEP, 0, logs, factors
        )
        found = list(composed(X, y, Xv, yv, functions, few, judge, share, outers))
        yield from found
        if _any_exact(found):
            return


def _with_share(deadline: float, share: float, step):
    """``step(until, select)``, run with ``share`` of the time left when it starts
    (``until``, and a selection with that deadline)."""

    def run():
        until = _time_share(deadline, share)
        return step(until, _selector(until))

    return run


def _function_steps(X, y, Xv, yv, terms, functions, half_powers, deadline, algebraic):
    """The steps of :func:`_steps` with functions: those before the ratios of
    polynomials of many terms, and those after."""
    judge = functools.partial(_judge_and_confirm, X=X, y=y)
    select = _selector(deadline)

    product_terms = _product_terms(terms)
    # Products first for every outer function (asin(n*sin(theta))), sums later;
    # the algebraic formulas inside them were tried by the step before.
    products = _exact_search(deadline, functions, half_powers, sums=False, algebraic_first=False)
    outer = _exact_search(deadline, functions, half_powers, outer=True)
    inner = _exact_search(deadline, functions, half_powers)

    # Each with a share of the time left when it starts: products and sums with
    # functions of sums of two monomials (x*cos(theta1 - theta2), sin(x) +
    # sin(x + x**2)), a sum over a function ((dT1 - dT2)/log(dT1/dT2)).
    paired_products = _with_share(
        deadline,
        _NARROW_SHARE / 2,
        lambda until, sel: log_products(
            X, y, Xv, yv, functions, product_terms, judge, until, half_powers, sel, True
        ),
    )
    paired_sums = _with_share(
        deadline,
        _NARROW_SHARE,
        lambda until, sel: function_sums(
            X, y, Xv, yv, functions, sel, judge, until, terms[1:], paired=True
        ),
    )
    ratios = _with_share(
        deadline,
        _NARROW_SHARE,
        lambda until, sel: function_ratios(X, y, Xv, yv, functions, terms[1:], sel, judge, until),
    )
    shifted_sums = _with_share(
        deadline,
        _SHIFTED_SHARE,
        lambda until, sel: function_sums(X, y, Xv, yv, functions, sel, judge, until, shifted=True),
    )

    products_of = functools.partial(
        log_products, X, y, Xv, yv, functions, product_terms, judge, deadline, half_powers, select
    )
    # The monomials functions are multiplied by in sums: with half powers, the
    # roots of the columns and of their products too (I1 + I2 + 2*sqrt(I1*I2)*cos(d)).
    sum_monomials = terms[1:]
    if half_powers:
        sum_monomials = np.concatenate([sum_monomials, _root_monomials(X.shape[1])])
    early = [
        lambda: composed(X, y, Xv, yv, functions, algebraic, judge, deadline),
        products_of,
        paired_products,
        lambda: products_of(shifted=True),
        lambda: products_of(linear=True),
        lambda: function_sums(X, y, Xv, yv, functions, select, judge, deadline, offsets_only=True),
        lambda: _narrow_factor(X, y, Xv, yv, functions, half_powers, deadline, judge),
        ratios,
        shifted_sums,
        lambda: _outer_of_sums(X, y, Xv, yv, terms, functions, deadline, judge),
        lambda: composed(X, y, Xv, yv, functions, products, judge, deadline),
        lambda: function_sums(X, y, Xv, yv, functions, select, judge, deadline, sum_monomials),
        paired_sums,
        lambda: _outer_of_sums(X, y, Xv, yv, terms, functions, deadline, judge, _LATER_OUTER),
    ]
    late = [
        lambda: composed(X, y, Xv, yv, functions, inner, judge, deadline),
        lambda: _common_factor(X, y, Xv, yv, outer, judge),
    ]
    return early, late


#: Share of the training rows, those farthest along the columns, on which an
#: exact-looking formula refitted on the others must still be exact.
_OUTER_SHARE = 0.3


def confirm_exact(formula, X: np.ndarray, y: np.ndarray) -> None:
    """Set ``formula.exact``: exact on the held-out rows, and when extrapolating.

    The held-out error must be at most ``EXACT_SEARCH`` (float64 rounding of a
    least-squares fit). A ratio of polynomials of high degree, or a sum of many
    terms, can approximate
    a smooth function (a sine, an exponential) to 1e-12 on the range of the rows,
    which passes the held-out check; it does not extrapolate. So, for each column
    in turn, the formula's coefficients are refitted on the training rows where
    that column is lowest, and it must still fit the rows where it is highest
    (``_OUTER_SHARE`` of them) to float rounding: an exact
    formula does, an approximation drifts off by orders of magnitude as soon as it
    leaves the rows it was fitted on (a polynomial approximation's error grows
    like a Chebyshev polynomial of its degree outside its range).
    ``formula.extrapolation_error`` holds that relative error.
    """
    formula.exact = False
    formula.extrapolation_error = math.inf
    if not formula.valid_error <= EXACT_SEARCH or len(X) < 10:
        return
    worst = 0.0
    for column in X.T:
        outer = column >= np.quantile(column, 1 - _OUTER_SHARE)
        if outer.all() or not outer.any():
            continue
        trial = copy.deepcopy(formula)
        trial.refit_(X[~outer], y[~outer])
        worst = max(worst, _relative_error(trial.predict(X[outer]), y[outer]))
        if not worst <= EXACT_EXTRAPOLATION:
            break
    formula.extrapolation_error = worst
    formula.exact = bool(worst <= EXACT_EXTRAPOLATION)


def _make(numerator, numerator_coef, denominator, denominator_coef, X, y, Xv, yv) -> ClosedForm:
    """A sum (``denominator`` None) or ratio of monomials, judged on ``Xv``, ``yv``
    and confirmed on ``X``, ``y`` (:func:`confirm_exact`)."""
    formula = _formula(numerator, numerator_coef, denominator, denominator_coef)
    _judge_and_confirm(formula, Xv, yv, X, y)
    return formula


def _formula(numerator, numerator_coef, denominator, denominator_coef) -> ClosedForm:
    """A sum (``denominator`` None) or ratio of monomials."""
    kind = "sum" if denominator is None else "ratio"
    return ClosedForm(numerator, numerator_coef, denominator, denominator_coef, kind=kind)


def _judge_and_confirm(formula, Xv, yv, X, y) -> None:
    _judge(formula, Xv, yv)
    confirm_exact(formula, X, y)


def _exact_search(
    deadline: float,
    functions: Sequence[str] = (),
    half_powers: bool = False,
    largest: int = _INNER_RATIONAL,
    outer: bool = False,
    sums: bool = True,
    terms_with_functions: bool = True,
    algebraic_first: bool = True,
    quick: bool = False,
    first: dict | None = None,
):
    """The search for an exact formula of a transformed target (a sum or ratio of
    monomials, with up to ``largest`` columns, unless not ``algebraic_first``, or
    a product with functions, or where ``sums``, a sum with functions; ``outer``:
    or a function of one of these, :func:`composed`; not ``terms_with_functions``:
    functions of algebraic formulas alone; ``quick``: a product, sums of library
    terms and, where those are not exact, reciprocals of sums alone), as a
    generator of candidates. ``first``: the product and sums of library terms
    of each target, shared by the searches given the same dict (a quick search
    and a full one on the same target make them once)."""
    cache: dict = {}
    first = {} if first is None else first
    reciprocal_cache: dict = {}
    if outer and functions:  # the searches behind the outer functions, made once
        algebraic = _exact_search(deadline, (), half_powers, largest)
        inner = _exact_search(deadline, functions, half_powers, largest)

    def search(X, y, Xv, yv):
        if time.perf_counter() > deadline:
            return
        terms, T = _usable(X, Xv, library(X.shape[1]))
        if algebraic_first:
            key = (X.tobytes(), y.tobytes(), Xv.tobytes(), yv.tobytes())
            if key not in first:
                found = _product(X, y, Xv, yv, False)
                found += _sums(X, y, Xv, yv, terms, T, deadline=deadline)
                for formula in found:
                    confirm_exact(formula, X, y)
                first[key] = found
            found = list(first[key])
            if quick and not _any_exact(found):
                found += _reciprocal_sums(X, y, Xv, yv, terms, T, deadline, reciprocal_cache)
            yield from found
            if quick or _any_exact(found) or time.perf_counter() > deadline:
                return
            make = functools.partial(_make, X=X, y=y, Xv=Xv, yv=yv)
            rational = list(RationalSearch(X, y, make, None, deadline).exact(largest=largest))
            yield from rational
            if _any_exact(rational):
                return
            yield from _wide_sums(X, y, Xv, yv, cache, deadline)
        if functions:
            judge = functools.partial(_judge_and_confirm, X=X, y=y)
            select = _selector(deadline)
            if outer:  # functions of algebraic formulas first: they take milliseconds
                yield from composed(X, y, Xv, yv, functions, algebraic, judge, deadline)
            if not terms_with_functions:
                return
            product_terms = _product_terms(terms)
            yield from log_products(
                X, y, Xv, yv, functions, product_terms, judge, deadline, half_powers, select
            )
            if sums:
                yield from function_sums(
                    X, y, Xv, yv, functions, select, judge, deadline, terms[1:]
                )
            if outer:
                yield from composed(X, y, Xv, yv, functions, inner, judge, deadline)

    return search


def _common_factor(
    X, y, Xv, yv, inner_search, judge, narrow: bool = False, quick_search=None
) -> Iterator:
    """``y = M(x) S(x)``: a product of powers ``M`` in front of a sum ``S``
    (``q*(E + B*v*sin(theta))``, ``mu/(k*T)*(H + a*M/(eps*c**2))``,
    ``w*x*(L**3 - 2*L*x**2 + x**3)/(24*E*I)``), ``S`` searched for exactly on
    ``y / M``.

    ``M``'s powers are those of the fit of ``log|y|`` on the logarithms of the
    columns that are within 0.15 of an integer: a column that enters only through
    ``M`` has its power there exactly, one inside ``S`` has some fraction. The
    least-absolute-deviations fit is tried first, then the least-squares fit
    where it gives another ``M`` (see :func:`_log_powers`). ``S`` is first
    searched for without the columns of ``M`` whose power is within 0.03 of an
    integer (fewer columns, far fewer monomials of each degree), then so again
    with ``M`` left without the columns whose power is further off, then on all
    of them; ``narrow``: only without them (a cheap step before the search on the
    whole table). With ``quick_search``, every one of these is first searched for
    with it, then with ``inner_search``.
    """
    if not np.all(Xv != 0):
        return
    searches = [inner_search] if quick_search is None else [quick_search, inner_search]
    for plan in _factor_plans(X, y, narrow):
        for search in searches:  # every product with the quick search first
            for factor, columns in plan:
                for candidate in _factor_out(X, y, Xv, yv, factor, columns, search, judge):
                    yield candidate
                    if candidate.exact:
                        return


def _factor_plans(X, y, narrow: bool = False) -> Iterator[list]:
    """The products of powers ``M`` to try in front of ``y = M(x) S(x)`` (see
    :func:`_common_factor`), from the robust fit of ``log|y|``, then the least
    squares one: for each, a list of ``(exponents of M, columns of S)``, each
    pair once (both fits often give the same product on every column)."""
    given = set()
    for robust in (True, False):
        solution = _log_powers(X, y, robust)
        if solution is None:
            return
        solution = solution[:-1]
        exponents = np.round(solution)
        exponents[np.abs(solution - exponents) > 0.15] = 0
        if not np.all(np.isfinite(exponents)) or not np.any(exponents):
            continue
        exponents = exponents.astype(int)
        inside = np.flatnonzero((exponents == 0) | (np.abs(solution - exponents) > 0.03))
        if narrow and not 0 < len(inside) < X.shape[1]:
            continue
        # On the columns inside; then without the columns whose power is off its
        # integer in front, as they may be inside alone (V**2 in front of
        # R/(R**2 + ...), whose R**-0.94 rounds to -1); then on every column.
        strict = exponents.copy()
        strict[inside] = 0
        plan = []
        if 0 < len(inside) < X.shape[1]:
            plan.append((exponents, inside))
            if np.any(strict) and not np.array_equal(strict, exponents):
                plan.append((strict, inside))
        if not narrow:
            plan.append((exponents, np.arange(X.shape[1])))
        plan = [(e, c) for e, c in plan if (e.tobytes(), c.tobytes()) not in given]
        given.update((e.tobytes(), c.tobytes()) for e, c in plan)
        if plan:
            yield plan


def _factor_out(X, y, Xv, yv, exponents, columns, inner_search, judge) -> Iterator:
    """:func:`_common_factor` for one product of powers ``exponents``, ``S`` searched
    for on the columns ``columns``: the first exact one, times the product."""
    M, Mv = (monomial_values(rows, exponents[None, :])[:, 0] for rows in (X, Xv))
    n = X.shape[1]
    for inner in inner_search(X[:, columns], y / M, Xv[:, columns], yv / Mv):
        if not inner.exact:
            continue
        whole = inner.in_columns(columns, n) if len(columns) < n else inner
        candidate = None if whole is None else whole.times_monomial(exponents)
        if candidate is not None:
            judge(candidate, Xv, yv)
            yield candidate
        return


def _noisy_products(
    X, y, Xv, yv, outers: tuple, deadline: float, eliminate: bool = True
) -> Iterator:
    """Noisy rows of ``y = M(x) outer(R(x))``: ``M`` a product of powers of the
    columns (:func:`_factor_plans`; none where an outer function is tried alone),
    ``R`` a polynomial or ratio of polynomials of the columns left, by
    sequentially thresholded least squares of the outer function's inverse of
    ``y / M`` (:meth:`NoisyRationalSearch.thresholded`); each candidate refitted
    to ``y`` itself and judged on the held-out rows: the products, and each outer
    function of ``outers`` (the square root: ``R`` fitted to ``(y / M)**2``),
    those on the fewest columns first. With ``eliminate`` (where the rows hold
    noise, :meth:`_NoisySteps.holds_noise`), the backward eliminations of ``R``
    follow its thresholded least squares.

    In front of a ratio of few columns, the product leaves a ratio of low degree
    that the noise does not hide (``q*E/(m*(w0**2 - w**2))`` is ``q*E/m`` times a
    ratio of degree 2 in two columns, which the whole table's ratio of degree 3
    in five columns loses in 1% noise); a square root of a polynomial
    (``sqrt((x2 - x1)**2 + (y2 - y1)**2)``) is a polynomial's square root."""
    n = X.shape[1]
    whole = [(np.zeros(n, dtype=int), np.arange(n))]
    plans = [pair for plan in _factor_plans(X, y) for pair in plan]
    tries = [(None, e, c) for e, c in plans]
    tries += [(outer, e, c) for outer in outers for e, c in plans + whole]
    tries.sort(key=lambda t: len(t[2]))  # the fewest columns (the quickest) first
    for outer, exponents, columns in tries:
        if time.perf_counter() > deadline:
            return
        M, Mv = (monomial_values(rows, exponents[None, :])[:, 0] for rows in (X, Xv))
        with np.errstate(all="ignore"):
            r, rv = y / M, yv / Mv
        # Each row weighted by the square of y's change per unit of the
        # transformed target: its least squares is then that of y (to first order).
        slope = M
        sign = 1.0 if np.all(r > 0) and np.all(rv > 0) else -1.0
        if outer is not None:
            inverse, defined = OUTER_INVERSES[outer]
            if not (defined(sign * r) and defined(sign * rv)):
                continue
            with np.errstate(all="ignore"):
                slope = M * OUTER_SLOPES[outer](sign * r)
                r = inverse(sign * r)
        weight = np.square(slope)
        if not (np.all(np.isfinite(r)) and np.all(np.isfinite(weight)) and np.all(weight > 0)):
            continue
        weight = weight / weight.mean()
        search = NoisyRationalSearch(
            X[:, columns], r, _formula, _selector(deadline), deadline, weight
        )
        inners = search.thresholded(largest=_INNER_RATIONAL)  # by the search's deadline
        if eliminate:
            # Not on exact rows: a polynomial or ratio of high degree fits a
            # function behind the product to rounding (x0*sin(x1) on [0.5, 1.5]).
            eliminated = search.eliminated(largest=_INNER_ELIMINATED, polynomials=_INNER_POLYNOMIAL)
            inners = itertools.chain(inners, eliminated)
        for inner in inners:
            candidate = inner.in_columns(columns, n) if len(columns) < n else inner
            if candidate is not None and outer is not None:
                candidate = Composed(candidate, outer, sign)
            if candidate is not None and np.any(exponents):
                candidate = candidate.times_monomial(exponents)
            if candidate is None:
                continue
            candidate.refit_(X, y)
            _judge(candidate, Xv, yv)
            yield candidate


def wide_library(n_features: int) -> np.ndarray:
    """Terms over every column at once, each to a power from -2 to 2, with a total
    degree of at most ``_WIDE_DEGREE`` (``a*M/(eps*c**2)``, ``w**2*L**2/R``), for
    tables of up to ``_WIDE_FEATURES`` columns; simplest first, none of
    :func:`library`'s."""
    if n_features > _WIDE_FEATURES:
        return np.zeros((0, n_features), dtype=int)
    rows = np.array(list(itertools.product(range(-2, 3), repeat=n_features)), dtype=int)
    degree = np.abs(rows).sum(1)
    rows = rows[(degree > 0) & (degree <= _WIDE_DEGREE)]
    known = {tuple(r) for r in library(n_features)}
    rows = np.array([r for r in rows if tuple(r) not in known], dtype=int)
    rows = rows.reshape(-1, n_features)
    return rows[np.argsort(np.abs(rows).sum(1), kind="stable")]


def _wide_sums(X, y, Xv, yv, cache=None, deadline=math.inf) -> list[ClosedForm]:
    """Sums of terms of the library and of :func:`wide_library`, confirmed;
    ``cache`` keeps their columns for the next target on the same rows."""
    if time.perf_counter() > deadline:
        return []
    wide = _wide_columns(X, Xv, {} if cache is None else cache)
    if wide is None:
        return []
    found = _sums(X, y, Xv, yv, *wide, deadline=deadline)
    for formula in found:
        confirm_exact(formula, X, y)
    return found


def _wide_columns(X, Xv, cache: dict):
    """``(terms, T, columns)`` for :func:`_sums` over the library and the wide
    library, None where the table has too many columns. ``cache`` keeps the last
    rows' (the searches of several transformed targets of one table, ``1/y``,
    ``y**2``, ..., share them)."""
    wide = wide_library(X.shape[1])
    if not len(wide):
        return None
    key = rows_key(X, Xv)
    if key not in cache:
        terms, T = _usable(X, Xv, np.concatenate([library(X.shape[1]), wide]))
        cache.clear()
        cache[key] = (terms, T, _normalised(T))
    return cache[key]


def _root_monomials(n_features: int) -> np.ndarray:
    """The square roots of each column and of each product of two columns."""
    rows = []
    for i, j in itertools.combinations_with_replacement(range(n_features), 2):
        row = np.zeros(n_features)
        row[i] += 0.5
        row[j] += 0.5
        rows.append(row)
    return np.array(rows).reshape(-1, n_features)


def _product_terms(terms: np.ndarray) -> np.ndarray:
    """The monomials an exp may hold: the library's, with powers up to 2."""
    return terms[(np.abs(terms) <= 2).all(1) & (np.abs(terms).sum(1) >= 1)]


def _any_exact(found: list[ClosedForm]) -> bool:
    return any(f.exact for f in found)


def _not_clearly_worse(formula: ClosedForm, leader: ClosedForm, compared: int = 1) -> bool:
    """Within 5% of the leader's held-out error, or not significantly above it.

    Significantly: the mean of the rows' paired differences of squared errors
    exceeds ``max(2, sqrt(2 ln compared))`` standard errors. The leader is the
    lowest of ``compared`` held-out errors, so its lead over any one formula holds
    the largest of that many chance deviations, which for standard normal ones
    stays below ``sqrt(2 ln compared)``: with few held-out rows, a formula with
    more terms often leads by chance, having fitted the noise of the rows that
    chose its terms. Above ``CLEARLY_WORSE`` times the leader's error, it is
    clearly worse.
    """
    if formula.valid_error <= leader.valid_error * (1 + SIMPLER_WITHIN):
        return True
    if formula.valid_error > leader.valid_error * CLEARLY_WORSE:
        return False
    d = formula.valid_rows - leader.valid_rows
    if len(d) < 20 or not np.all(np.isfinite(d)):
        return False
    z = max(2.0, math.sqrt(2 * math.log(max(compared, 1))))
    return bool(d.mean() <= z * d.std() / math.sqrt(len(d)))


def rank(
    found: list[ClosedForm], selection: str = "best", X=None, y=None, weight=None
) -> list[ClosedForm]:
    """Exact formulas (simplest first); else, by ``selection``, ``"best"``: of
    those not clearly worse than the best on the held-out rows, the one of the
    lowest information criterion on the training rows ``X``, ``y`` (the simplest
    first without them, see :func:`_criterion`), or ``"accuracy"``: the lowest
    held-out error first.

    Without an exact formula, one other than the linear model must also halve the
    linear model's held-out error to lead under ``"best"``: a search over thousands
    of terms fits some noise of the rows that judge it, and a formula that does not
    clearly beat the linear model is not one the data hold. For the same reason a
    formula with functions leads only where every formula without one is clearly
    worse: with an inner constant to tune, a function term fits noise (or a sum of
    powers) about as well as the right terms do.
    """
    if not found:
        return []
    if _any_exact(found):
        eligible = [f for f in found if _any_exact([f])]
    elif selection == "accuracy":
        eligible = [min(found, key=lambda f: f.valid_error)]
    else:
        linear = min((f.valid_error for f in found if f.kind == "linear"), default=math.inf)
        leader = min(found, key=lambda f: f.valid_error)
        eligible = [
            f
            for f in found
            if _not_clearly_worse(f, leader, len(found))
            and (f.kind == "linear" or f.valid_error <= BEAT_LINEAR * linear)
        ]
        if not eligible:
            eligible = [f for f in found if f.kind == "linear"]
        algebraic = [f for f in eligible if not f.has_functions]
        if algebraic:
            eligible = algebraic
    near = _by_criterion(eligible, X, y, weight)
    kept = {id(f) for f in near}
    rest = sorted((f for f in found if id(f) not in kept), key=lambda f: f.valid_error)
    return near + rest


def _by_criterion(formulas: list, X, y, weight=None) -> list:
    """``formulas`` by their criterion (:func:`_criterion`), those within
    ``_CRITERION_TIE`` of the lowest first, simplest first among them: the same
    formula written over another term (``(a*p + b*q)/(a + b)`` and
    ``(p/b + q/a)/(1/b + 1/a)``) differs from it only by its fit's rounding. Of
    the narrower class first: integer powers before roots (the relativistic sum
    of velocities ``c**2*(u + v)/(c**2 + u*v)`` before ``c*(u + v)/sqrt(c**2 + u*v)``,
    as many constants and as close on noisy rows)."""
    score = {id(f): _criterion(f, X, y, weight) for f in formulas}
    lowest = min(score.values(), default=math.inf)
    tied = [f for f in formulas if score[id(f)] <= lowest + _CRITERION_TIE]
    rest = [f for f in formulas if score[id(f)] > lowest + _CRITERION_TIE]
    simplest = sorted(tied, key=lambda f: (f.has_roots, f.complexity()))
    return simplest + sorted(rest, key=lambda f: score[id(f)])


def _criterion(formula, X, y, weight=None) -> float:
    """The extended Bayesian information criterion of ``formula`` on the training
    rows (Chen and Chen 2008): ``n log(RSS/n) + k (log n + 2 log p)``, ``k`` the
    constants it fits (``n_parameters``: its terms, and the constants inside its
    functions), ``p`` :data:`_CANDIDATE_TERMS`; 0 without rows.

    Among formulas that fit the held-out rows alike, the held-out rows alone
    cannot tell a formula that drops a small term from the right one (200 rows of
    1% noise); the training rows, four times as many, can, and each term must
    lower their error by about 2.6% (on 800 rows) to pay for itself: more than the
    best of a thousand spurious terms lowers it by chance, which plain BIC
    (``log n`` per term) would let in.
    """
    if X is None or y is None:
        return 0.0
    error = _relative_error(formula.predict(X), y, weight)
    if not formula.exact:
        # Least squares of the target itself: a ratio's constants come from the
        # linearised ``y D = N``, whose fit of ``y`` is worse on noisy rows, the
        # more so the fewer its terms; each refit is a step of Sanathanan and
        # Koerner's iteration (weights ``1/D²``). The best of them counts.
        formula = copy.deepcopy(formula)
        for _ in range(_CRITERION_REFITS):
            formula.refit_(X, y, weight)
            error = min(error, _relative_error(formula.predict(X), y, weight))
    if not math.isfinite(error):
        return math.inf
    n, k = len(y), formula.n_parameters()
    # The residual relative to the target (n log RSS up to a constant that all
    # formulas share), floored at rounding, so that exact fits of different sizes
    # compare by their terms.
    per_term = math.log(n) + 2 * math.log(_CANDIDATE_TERMS)
    return n * math.log(max(error, _RSS_FLOOR)) + k * per_term


def pareto_front(found: list[ClosedForm]) -> list[ClosedForm]:
    """The formulas no simpler formula matches: for each size, the lowest held-out
    error, kept only where it is lower than that of every smaller formula."""
    front, lowest = [], math.inf
    for formula in sorted(found, key=lambda f: (f.size(), f.valid_error)):
        if formula.valid_error < lowest:
            front.append(formula)
            lowest = formula.valid_error
    return front
