"""Polynomials and ratios of polynomials of growing degree.

Every sum of products of integer powers of the columns, and every ratio of two,
is a ratio of two polynomials ``N / D``: ``x**6 + x**5 + ... + x``,
``10/(5 + (x0 - 3)**2 + (x1 - 3)**2)`` (a shifted term expands into monomials),
``E**2*w**4/(w**2 - w0**2)**2``. This module searches that space by degree,
cheapest first, instead of a fixed library of terms:

- the candidate pairs of degrees ``(d_N, d_D)`` (``d_D = 0`` for a polynomial) are
  tried in order of the number of monomials they hold, up to a number of columns
  the rows can determine (:func:`degree_schedule`);
- an exact ratio ``y = N / D`` makes ``N - y D`` vanish on every row: its
  coefficients are the null vector of ``[P, -y Q]`` (``P`` and ``Q`` the monomials
  of each degree, one column each), found by singular value decomposition; one
  zero singular value means one ratio of these degrees, whatever its number of
  terms. A polynomial is the least-squares fit on ``P`` alone;
- with noise no singular value is zero. The ratio is then linear in its
  coefficients once one term of ``D`` is set to 1 (``y t0 = N - y (D - t0)``), and
  its terms are chosen by forward selection with orthogonal least squares (each
  choice improved by swapping terms) from ``[P, -y Q]``, for every size from one
  term up, the held-out rows choosing the size (:mod:`._closed_form`'s rank).

Orthogonal least squares with swaps is a greedy approximation of best-subset
selection that recovers the support of a sparse exact solution when the columns
are not too correlated; the null vector needs no choice of terms at all, which is
why it runs first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np

from ..exact._tolerances import EXACT_LEAST_SQUARES, NEGLIGIBLE, NULL, NULL_ENTRY


@dataclass(eq=False, kw_only=True)
class Judged:
    """What the held-out rows say of a candidate formula (set by the search).

    Attributes
    ----------
    valid_error : float
        Held-out mean squared error relative to the mean squared target.
    valid_rows, valid_target : ndarray or None
        Each held-out row's squared error, and the held-out targets.
    exact : bool
        Exact on the held-out rows and when extrapolating (``confirm_exact``).
    extrapolation_error : float
        The relative error of that extrapolation.
    """

    valid_error: float = math.inf
    valid_rows: np.ndarray | None = None
    valid_target: np.ndarray | None = None
    exact: bool = False
    extrapolation_error: float = math.inf

    def has_pole_between(self, X: np.ndarray) -> bool:
        """Whether a denominator of fitted constants changes sign between rows of
        ``X``: a pole inside the table's range. None without a fitted denominator."""
        return False


def scaled_least_squares(
    A: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None
) -> np.ndarray:
    """Least squares with the columns scaled to unit norm first, so that a column
    of small values is not cut off as rounding (numpy's ``rcond``); weighted least
    squares where ``weight`` holds a weight per row (each row scaled by its root)."""
    if weight is not None:
        root = np.sqrt(weight)
        A, target = A * root[:, None], target * root
    norms = np.linalg.norm(A, axis=0)
    norms = np.where(norms > 0, norms, 1.0)
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(target))):
        return np.full(A.shape[1], np.nan)  # a candidate that then fits nothing
    try:
        coef, *_ = np.linalg.lstsq(A / norms, target, rcond=None)
    except np.linalg.LinAlgError:
        return np.full(A.shape[1], np.nan)
    return coef / norms


def monomial_values(X: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """``[n_rows, n_terms]``: each row of ``exponents`` as a product of powers of ``X``."""
    out = np.ones((len(X), len(exponents)))
    with np.errstate(all="ignore"):
        for i in range(X.shape[1]):
            e = exponents[:, i]
            if np.any(e != 0):
                out *= X[:, i : i + 1] ** e
    return out


#: Highest degree of a numerator or denominator.
MAX_DEGREE = 12
#: Most columns of ``[P, -y Q]``: an SVD of this width costs a fraction of a second,
#: and each needs several rows to be determined.
MAX_COLUMNS = 400
#: How much worse than an exact ratio the ratios one degree lower must fit (see
#: ``RationalSearch._cliff``), and the float64 rounding floor of a fit's residual.
_CLIFF, _ROUNDING = 1e9, 1e-30
#: Rows per column of ``[P, -y Q]`` used to find its null vector.
_ROWS_PER_COLUMN = 4
#: Most terms of a formula chosen term by term (noisy data).
MAX_SELECTED_TERMS = 16


def monomials(n_features: int, degree: int) -> np.ndarray:
    """Exponents of every monomial of total degree at most ``degree``, constant first.

    Examples
    --------
    >>> monomials(2, 2).tolist()
    [[0, 0], [1, 0], [0, 1], [2, 0], [1, 1], [0, 2]]
    """
    rows = [np.zeros(n_features, dtype=int)]
    for d in range(1, degree + 1):
        for columns in combinations_with_replacement(range(n_features), d):
            row = np.zeros(n_features, dtype=int)
            np.add.at(row, list(columns), 1)
            rows.append(row)
    return np.array(rows)


def n_monomials(n_features: int, degree: int) -> int:
    """How many monomials of total degree at most ``degree`` there are."""
    return math.comb(n_features + degree, degree)


def degree_schedule(
    n_features: int, n_rows: int, smallest: int = 0, largest: int = MAX_COLUMNS
) -> list[tuple[int, int]]:
    """The pairs ``(d_N, d_D)`` to try, fewest columns first.

    A pair is kept when its columns number more than ``smallest`` and at most
    ``largest``, ``MAX_COLUMNS`` and a third of the rows, so that the rows
    determine every coefficient with room to spare.

    Examples
    --------
    >>> degree_schedule(1, 1000)[:6]
    [(1, 0), (2, 0), (0, 1), (3, 0), (1, 1), (0, 2)]
    """
    limit = min(largest, MAX_COLUMNS, n_rows // 3)
    pairs = []
    for dn in range(MAX_DEGREE + 1):
        for dd in range(MAX_DEGREE + 1):
            size = n_monomials(n_features, dn) + (n_monomials(n_features, dd) if dd else 0)
            if (dn or dd) and smallest < size <= limit:
                pairs.append((size, dd, dn))
    return [(dn, dd) for _, dd, dn in sorted(pairs)]


class RationalSearch:
    """Ratios of polynomials for ``y`` from the columns of ``X``, degree by degree.

    Parameters
    ----------
    X, y : ndarray
        Training rows (columns already checked finite).
    make : callable
        ``make(numerator, numerator_coef, denominator, denominator_coef)`` builds
        and judges a candidate (``denominator`` None for a polynomial).
    select : callable
        ``select(columns, target, max_terms)``: index lists of chosen columns
        (forward selection with swaps, see :mod:`._closed_form`).
    deadline : float
        ``time.perf_counter()`` value after which no new degree is started.
    """

    def __init__(self, X, y, make, select, deadline: float = math.inf) -> None:
        self.X, self.y = X, y
        self.make, self.select, self.deadline = make, select, deadline
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # The relative residual (a polynomial's) or squared smallest singular value
        # ratio (a ratio's) of each pair of degrees tried.
        self._residual: dict[tuple[int, int], float] = {}

    def _basis(self, degree: int) -> tuple[np.ndarray, np.ndarray]:
        if degree not in self._cache:
            exps = monomials(self.X.shape[1], degree)
            self._cache[degree] = exps, monomial_values(self.X, exps)
        return self._cache[degree]

    def exact(self, smallest: int = 0, largest: int = MAX_COLUMNS) -> Iterator:
        """Candidates from the null vector (or least squares), degree by degree.

        Only the pairs of degrees with more than ``smallest`` and at most ``largest``
        columns. Yields each candidate; stops after an exact one, or at the deadline.
        """
        for dn, dd in degree_schedule(self.X.shape[1], len(self.X), smallest, largest):
            if time.perf_counter() > self.deadline:
                return
            found = self._polynomial(dn) if dd == 0 else self._null_vector(dn, dd)
            if found is not None:
                if found.exact and not self._cliff(dn, dd):
                    found.exact = False
                yield found
                if found.exact:
                    return

    def _cliff(self, dn: int, dd: int) -> bool:
        """Whether the fit at ``(dn, dd)`` is far better than one degree lower.

        An exact ratio falls off a cliff: one degree lower it fits no better than
        any wrong formula (nine or more orders of magnitude worse), one degree
        higher no worse. A ratio that approximates a smooth function gains a few
        orders of magnitude per degree, steadily, on a narrow range to rounding:
        then the degrees below fit almost as well, and it is no formula.
        """
        here = self._residual.get((dn, dd), math.inf)
        below = [
            self._residual.get(p, math.inf)
            for p in ((dn - 1, dd), (dn, dd - 1))
            if min(p) >= 0 and any(p)
        ]
        return all(r >= _CLIFF * max(here, _ROUNDING) for r in below)

    def _polynomial(self, degree: int):
        exps, P = self._basis(degree)
        norms = np.linalg.norm(P, axis=0)
        if not np.all(np.isfinite(P)) or np.any(norms == 0):
            return None
        coef = scaled_least_squares(P / norms, self.y)
        r = self.y - (P / norms) @ coef
        self._residual[degree, 0] = float(r @ r) / (float(self.y @ self.y) or 1.0)
        if float(r @ r) > EXACT_LEAST_SQUARES * float(self.y @ self.y):
            return None  # no exact polynomial of this degree; the noisy path chooses terms
        scaled = np.abs(coef)
        keep = scaled > NULL_ENTRY * scaled.max()
        coef = scaled_least_squares(P[:, keep], self.y)
        return self.make(exps[keep], coef, None, None)

    def _null_vector(self, dn: int, dd: int):
        num, P = self._basis(dn)
        den, Q = self._basis(dd)
        A = np.concatenate([P, -self.y[:, None] * Q], axis=1)
        norms = np.linalg.norm(A, axis=0)
        if not np.all(np.isfinite(A)) or np.any(norms == 0):
            return None
        # An exact ratio vanishes on any rows: a few times as many rows as columns
        # determine the null vector, at a fraction of the cost of all of them.
        rows = slice(None, None, max(1, len(A) // (_ROWS_PER_COLUMN * A.shape[1])))
        try:
            _, sigma, Vt = np.linalg.svd((A / norms)[rows], full_matrices=False)
        except np.linalg.LinAlgError:
            return None
        self._residual[dn, dd] = float(sigma[-1] / sigma[0]) ** 2
        if not sigma[-1] <= NULL * sigma[0] or sigma[-2] <= NULL * sigma[0]:
            return None  # no exact ratio of these degrees, or more than one
        v = Vt[-1] / norms
        weight = np.abs(Vt[-1])
        support = np.where(weight > NULL_ENTRY * weight.max())[0]
        return self._refit(num, den, P, Q, support, v)

    def _refit(self, num, den, P, Q, support, v):
        """The ratio on ``support`` refitted by least squares, ``D``'s largest term fixed."""
        n = len(num)
        keep_num, keep_den = support[support < n], support[support >= n] - n
        if not len(keep_num) or not len(keep_den):
            return None
        lead = keep_den[np.argmax(np.abs(v[n + keep_den]))]
        rest = [d for d in keep_den if d != lead]
        B = np.concatenate([P[:, keep_num], -self.y[:, None] * Q[:, rest]], axis=1)
        coef = scaled_least_squares(B, self.y * Q[:, lead])
        k = len(keep_num)
        return self.make(
            num[keep_num], coef[:k], den[[lead, *rest]], np.concatenate([[1.0], coef[k:]])
        )

    def selected(self) -> Iterator:
        """Candidates with terms chosen one at a time, degree by degree (noisy data)."""
        for dn, dd in degree_schedule(self.X.shape[1], len(self.X)):
            if time.perf_counter() > self.deadline:
                return
            if dd == 0:
                yield from self._selected_polynomials(dn)
            else:
                yield from self._selected_ratios(dn, dd)

    def _selected_polynomials(self, degree: int) -> Iterator:
        exps, P = self._basis(degree)
        norms = np.linalg.norm(P, axis=0)
        if not np.all(np.isfinite(P)) or np.any(norms == 0):
            return
        max_terms = min(MAX_SELECTED_TERMS, len(exps))
        for chosen in self.select(P / norms, self.y, max_terms):
            coef = scaled_least_squares(P[:, chosen], self.y)
            yield self.make(exps[chosen], coef, None, None)

    def _selected_ratios(self, dn: int, dd: int) -> Iterator:
        num, P = self._basis(dn)
        den, Q = self._basis(dd)
        A = np.concatenate([P, -self.y[:, None] * Q], axis=1)
        norms = np.linalg.norm(A, axis=0)
        if not np.all(np.isfinite(A)) or np.any(norms == 0):
            return
        n = len(num)
        # The term of D set to 1: the constant, or a single column.
        for lead in np.where(den.sum(1) <= 1)[0]:
            if time.perf_counter() > self.deadline:
                return
            target = self.y * Q[:, lead]
            columns = A / norms
            columns[:, n + lead] = 0.0
            scale = float(np.linalg.norm(target)) or 1.0
            max_terms = min(MAX_SELECTED_TERMS, A.shape[1] - 1)
            for chosen in self.select(columns, target / scale, max_terms):
                keep_num = [c for c in chosen if c < n]
                rest = [c - n for c in chosen if c >= n]
                if not keep_num:
                    continue
                B = np.concatenate([P[:, keep_num], -self.y[:, None] * Q[:, rest]], axis=1)
                coef = scaled_least_squares(B, target)
                used = np.abs(coef) * np.linalg.norm(B, axis=0) > NEGLIGIBLE * scale
                if not used[: len(keep_num)].any():
                    continue
                k = len(keep_num)
                yield self.make(
                    num[keep_num], coef[:k], den[[lead, *rest]], np.concatenate([[1.0], coef[k:]])
                )
