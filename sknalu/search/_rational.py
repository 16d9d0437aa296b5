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

import itertools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np
from scipy.linalg import solve_triangular

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

    #: Whether the formula holds a function (exp, sin, ...): a wider class of
    #: formulas, which must fit clearly better than every formula without one to
    #: be kept (see ``rank``).
    has_functions = False

    #: Whether a power in the formula is not an integer (``sqrt(x)``): among
    #: formulas the rows rate alike, one with integer powers only, the narrower
    #: class, comes first (``rank``).
    has_roots = False

    def n_parameters(self) -> int:
        """How many constants the formula fits to the rows, as the information
        criterion counts them (``rank``): one per term by default."""
        return self.complexity()[0]

    def has_pole_between(self, X: np.ndarray) -> bool:
        """Whether a denominator of fitted constants changes sign between rows of
        ``X``: a pole inside the table's range. None without a fitted denominator."""
        return False

    def times_monomial(self, exponents: np.ndarray) -> Judged | None:
        """The formula times ``Π x_j ** exponents[j]``, not yet judged; None where
        the formula cannot hold a factor in front."""
        return None

    def in_columns(self, columns: np.ndarray, n_features: int) -> Judged | None:
        """The formula, found on the columns ``columns`` of a table of
        ``n_features``, as a formula of the whole table (not yet judged)."""
        return None


def changes_sign(values: np.ndarray) -> bool:
    """Whether ``values`` (a denominator on the rows) are positive on some rows and
    negative on others: a pole between them."""
    return bool(np.any(values > 0) and np.any(values < 0))


def widened(exponents: np.ndarray, columns: np.ndarray, n_features: int) -> np.ndarray:
    """Rows of exponents over ``columns``, as rows over all ``n_features`` columns."""
    exponents = np.asarray(exponents)
    out = np.zeros((len(exponents), n_features), dtype=exponents.dtype)
    out[:, columns] = exponents
    return out


#: Relative squared residual of a least-squares fit under which it is refined once
#: (:func:`scaled_least_squares`): an exact formula's, not an approximation's.
_REFINE_BELOW = 1e-16


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
    A = A / norms
    try:
        coef, *_ = np.linalg.lstsq(A, target, rcond=None)
        # A fit that is nearly exact: one step of iterative refinement (the least
        # squares of its residual), which takes an exact formula of alike columns
        # to rounding (``m1*m2/((x2 - x1)**2 + ...)`` on eight columns: a relative
        # error of 3e-24 to 1e-27).
        residual = target - A @ coef
        if float(residual @ residual) <= _REFINE_BELOW * float(target @ target):
            coef = coef + np.linalg.lstsq(A, residual, rcond=None)[0]
    except np.linalg.LinAlgError:
        return np.full(A.shape[1], np.nan)
    return coef / norms


def denominator_weights(D: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray | None:
    """Row weights ``1/D²`` (times ``weight``) of mean 1 for the least squares of
    ``y D = N``, whose residual is ``D`` times that of ``y``: weighted, it is the
    least squares of ``y`` itself (one step of Sanathanan and Koerner's
    iteration). Where ``D`` spans orders of magnitude (``x**4*y**4 + x**4 + y**4 + 1``
    on [0.2, 5]), the unweighted fit gets its small terms from the rows where ``D``
    is largest, to their rounding. ``weight`` alone where ``D`` has a zero."""
    with np.errstate(all="ignore"):
        return combined_weights(1.0 / np.square(D), weight)


#: A target whose largest value is this many times its median (in absolute
#: value) is fitted on errors relative to its size (:func:`range_weights`).
_WIDE_RANGE = 1e6


def range_weights(y: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray | None:
    """Row weights ``1/(y² + m²)`` (``m`` the median ``|y|``, times ``weight``) where
    ``y`` spans more than ``_WIDE_RANGE`` times its median, else ``weight``.

    Least squares on absolute errors fits such a target on its largest values
    alone: ``213.8*(1 - exp(-0.547*x))`` on [-50, 50] reaches -1.6e14, and
    unweighted its constant 213.8 comes out to the rounding of those rows, 1e-5
    relative. Weighted, each row counts by its relative error (the rows near 0,
    by their error relative to the median). On exact data any positive weights
    give the same formula; these give it to rounding on every row."""
    size = np.abs(y)
    median = float(np.median(size))
    if not (median > 0 and size.max() > _WIDE_RANGE * median):
        return weight
    return combined_weights(1.0 / (size**2 + median**2), weight)


def combined_weights(w: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray | None:
    """Row weights ``w`` times ``weight`` (where given), scaled to a mean of 1;
    ``weight`` alone where they are not finite and non-negative with a positive sum."""
    if weight is not None:
        w = w * weight
    if not (np.all(np.isfinite(w)) and np.all(w >= 0) and w.sum() > 0):
        return weight
    return w / w.mean()


#: Most columns of a backward elimination (:func:`eliminated`), and at most this
#: share of the rows; and its most rounds.
_ELIMINATION_COLUMNS, _ELIMINATION_ROWS, _ELIMINATION_ROUNDS = 300, 0.5, 40


def wald_costs(R: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """How much dropping each column raises a least-squares residual, ``β_j² /
    (AᵀA)⁻¹_jj`` (its Wald statistic times the noise's variance), from the
    ``R`` of ``A``'s QR and the fit's coefficients ``coef``."""
    inverse = solve_triangular(R, np.eye(len(R)))
    return coef**2 / np.einsum("ij,ij->i", inverse, inverse)


def eliminated(T, target, tt: float, max_terms: int) -> list[int] | None:
    """Where every column of ``T`` together fits ``target`` exactly, the fewest
    that still do, by backward elimination; None where they do not, or where
    more than ``max_terms`` are left.

    On exact data the least squares of every column is the sparse formula itself
    where the formula's terms are among them and the columns are independent: the
    other coefficients are 0 to rounding. Forward selection can miss such a
    subset whose terms are alike one by one (the three monomials inside the
    ``exp`` of a shifted Gaussian, in logarithms); elimination does not. Each
    round drops at once the columns whose removal costs least (``β_j² /
    (AᵀA)⁻¹_jj`` each, from one QR) while their sum stays within rounding,
    checked; then one at a time.
    """
    n_rows, n_cols = T.shape
    if n_cols > min(_ELIMINATION_COLUMNS, _ELIMINATION_ROWS * n_rows) or n_cols <= max_terms:
        return None
    limit = EXACT_LEAST_SQUARES * tt
    keep = np.arange(n_cols)
    for _ in range(_ELIMINATION_ROUNDS):
        Q, R = np.linalg.qr(T[:, keep])
        diagonal = np.abs(np.diag(R))
        if not diagonal.min() > 1e-10 * diagonal.max():
            return None  # columns too alike to tell which to drop
        coef = solve_triangular(R, Q.T @ target)
        r = target - T[:, keep] @ coef
        if not r @ r <= limit:
            return None
        if len(keep) <= max_terms:
            return sorted(int(j) for j in keep)
        cost = wald_costs(R, coef)
        order = np.argsort(cost)
        many = max(1, int(np.searchsorted(np.cumsum(cost[order]), 0.5 * limit)))
        for count in dict.fromkeys((many, 1)):
            trial = np.delete(keep, order[:count])
            coef = scaled_least_squares(T[:, trial], target)
            r = target - T[:, trial] @ coef
            if r @ r <= limit:
                keep = trial
                break
        else:
            return None
    return None


#: How many supports of each backward path (:func:`backward_path`) are kept: those
#: of the lowest information criterion, on the path's own columns.
_PATH_SUPPORTS = 3


def backward_path(T, target, max_terms: int, weight=None) -> list[list[int]]:
    """Supports of at most ``max_terms`` columns of ``T`` for a noisy ``target``,
    by backward elimination from the least squares of every column: each round
    drops the column whose removal raises the residual least (its Wald statistic
    ``β_j² / (AᵀA)⁻¹_jj``, from one QR; an eighth of them at once while more than
    four times ``max_terms`` are left), down to one column.

    Forward selection from the target's largest column (or set to 1, a ratio's
    largest term) misses a formula whose small terms only fit together
    (``(y2 - y1)**2`` beside ``(x2 - x1)**2`` in a denominator, on noisy rows),
    and so does thresholding the full fit, where those terms' coefficients are
    as small as the noise's; elimination keeps them once the noise columns are
    gone. Beside the path's supports stand those of :func:`best_subsets`, for
    columns too alike for the path to order. Returns the ``_PATH_SUPPORTS``
    supports of the lowest extended BIC (``n log RSS + k (log n + 2 log p)``,
    ``p`` the columns of ``T``) among them, each sorted.
    """
    if weight is not None:
        root = np.sqrt(weight)
        T, target = T * root[:, None], target * root
    n_rows, n_cols = T.shape
    if not (np.all(np.isfinite(T)) and np.all(np.isfinite(target))) or n_cols >= n_rows:
        return []
    norms = np.linalg.norm(T, axis=0)
    T = T / np.where(norms > 0, norms, 1.0)
    per_term = math.log(n_rows) + 2 * math.log(max(n_cols, 2))
    scored = [
        (n_rows * math.log(rss) + len(support) * per_term, support)
        for support, rss in best_subsets(T, target)
        if rss > 0
    ]
    keep = np.arange(n_cols)
    while len(keep):
        Q, R = np.linalg.qr(T[:, keep])
        diagonal = np.abs(np.diag(R))
        if not diagonal.min() > 1e-12 * diagonal.max():
            # Columns alike to rounding: the latest of each such pair goes first.
            keep = np.delete(keep, int(np.argmin(diagonal)))
            continue
        coef = solve_triangular(R, Q.T @ target)
        r = target - T[:, keep] @ coef
        rss = float(r @ r)
        if len(keep) <= max_terms and rss > 0:
            scored.append((n_rows * math.log(rss) + len(keep) * per_term, sorted(map(int, keep))))
        cost = wald_costs(R, coef)
        count = max(1, len(keep) // 8) if len(keep) > 4 * max_terms else 1
        keep = np.delete(keep, np.argsort(cost)[:count])
    best = {}
    for score, support in sorted(scored):
        best.setdefault(tuple(support), score)
    return [list(support) for support in list(best)[:_PATH_SUPPORTS]]


#: Best-subset selection (:func:`best_subsets`) covers the supports of up to this
#: many columns, while the sets of a size times its square (their Gram matrices'
#: entries) stay within ``_SUBSET_ENTRIES``: every set of up to 3 of 64 columns,
#: of up to 6 of 20.
_SUBSET_TERMS, _SUBSET_ENTRIES = 8, 2_000_000
#: Beyond those, the most rounds of single swaps that improve a grown set: each
#: round solves every swap at once, and a set of at most ``_SUBSET_TERMS`` columns
#: rarely improves for more rounds than it has columns.
_SWAP_ROUNDS = 8


def best_subsets(T, target) -> list[tuple[list[int], float]]:
    """The support of the least residual among the sets of ``k`` columns of
    ``T``, and that residual, for each ``k`` up to ``_SUBSET_TERMS``: every set
    while the sets are few enough (``_SUBSET_ENTRIES``), all of a size solved at
    once from the Gram matrix (``RSS(S) = yᵀy - g_Sᵀ G_SS⁻¹ g_S``); beyond, the
    best set of the size below with the best column added, then improved by
    swapping one column for another while that lowers the residual.

    A backward path through columns as alike as the powers of a temperature
    between 400 and 600 can leave the two terms of ``T**4 - Ta**4`` on the way
    down; the best pair of all is that pair, and costs a hundred 2-by-2 solves.
    Sets whose columns are alike to rounding are skipped.
    """
    n_cols = T.shape[1]
    gram = (T.T @ T, T.T @ target, float(target @ target))
    out, best = [], None
    for k in range(1, min(_SUBSET_TERMS, n_cols) + 1):
        if math.comb(n_cols, k) * k * k <= _SUBSET_ENTRIES:
            best = _least_rss(gram, np.array(list(itertools.combinations(range(n_cols), k))))
        elif best is not None:
            grown = [[*best[0], j] for j in range(n_cols) if j not in best[0]]
            best = _least_rss(gram, np.array(grown, dtype=int))
            for _ in range(_SWAP_ROUNDS):
                if best is None:
                    break
                support = best[0]
                swaps = [
                    [*support[:i], j, *support[i + 1 :]]
                    for i in range(k)
                    for j in range(n_cols)
                    if j not in support
                ]
                swapped = _least_rss(gram, np.array(swaps, dtype=int))
                if swapped is None or not swapped[1] < best[1]:
                    break
                best = swapped
        if best is not None:
            out.append((sorted(best[0]), best[1]))
    return out


def _least_rss(gram: tuple, sets: np.ndarray) -> tuple[list[int], float] | None:
    """Of the column sets ``sets`` (one per row), the one of the least residual
    by the Gram matrix ``gram`` (``TᵀT``, ``Tᵀy``, ``yᵀy``), and that residual;
    None where every set's columns are alike to rounding."""
    G, g, tt = gram
    Gs = G[sets[:, :, None], sets[:, None, :]]
    usable = np.abs(np.linalg.det(Gs)) > 1e-12
    if not np.any(usable):
        return None
    gs = g[sets[usable]]
    solved = np.linalg.solve(Gs[usable], gs[:, :, None])[:, :, 0]
    rss = tt - np.einsum("ij,ij->i", gs, solved)
    i = int(np.argmin(rss))
    return list(map(int, sets[usable][i])), float(rss[i])


#: Gauss-Newton steps of :func:`ratio_path` on the full ratio, and after each
#: column it drops.
_FIRST_STEPS, _STEPS = 4, 1
#: The residual after a drop, relative to the one before, up to which the
#: coefficients so far are a close enough start (no linearised fit).
_CLOSE = 2.0
#: The damping of those steps tried in turn, relative to the largest squared
#: singular value of the Jacobian (scaled columns).
_DAMPING = (0.0, 1e-6, 1e-4, 1e-2)


def ratio_path(P, Q, y, a, b, max_terms: int, weight=None) -> list[tuple]:
    """Backward elimination for a noisy ratio ``N/D`` (``N = P a``, ``D = Q b``),
    by nonlinear least squares of ``y`` itself.

    The linearised fit, ``y D = N``, is biased on noisy rows: the noise of ``y``
    is in its columns ``y Q`` as in its target, so that every term of ``D``
    lowers its residual by matching the target's noise, and a backward
    elimination on it keeps spurious terms of ``D`` (and ``N``'s to go with
    them) before small right ones (``(y2 - y1)**2`` beside ``(x2 - x1)**2``).
    Here each round takes Gauss-Newton steps from the coefficients so far: the
    Jacobian of ``N/D``, ``[P/D, -(N/D²) Q]``, holds no noise. It is singular
    along the coefficients themselves (``N/D`` is ``(t N)/(t D)`` for any ``t``),
    so the steps and the coefficients' variances come from its pseudo-inverse;
    no term of ``D`` is singled out to be 1 (on noisy rows the full fit can rank
    first a term the formula has not: ``n`` for the lensmaker's
    ``R1*R2/((n - 1)*(R2 - R1))``). The column whose removal raises the residual
    least to first order (its Wald statistic) is dropped (an eighth of them at
    once while more than four times ``max_terms`` are left), down to one term of each.

    Returns ``(score, keep_num, keep_den, a, b)`` for the ``_PATH_SUPPORTS``
    supports of at most ``max_terms`` columns (the scale not counted) of the
    lowest extended BIC (``score``; ``p`` the columns of ``P`` and ``Q``).
    """
    fit = _RatioFit(P, Q, y, weight)
    coef = np.concatenate([a, b])
    keep = np.flatnonzero(coef != 0)
    per_term = math.log(len(y)) + 2 * math.log(max(P.shape[1] + Q.shape[1], 2))
    scored, steps, rss = [], _FIRST_STEPS, 0.0
    with np.errstate(all="ignore"):
        while len(keep) > 2 and len(keep) <= len(y) // 2:
            # From the coefficients so far, or the linearised fit on the columns
            # left where it is better: after a drop, the former can be far off.
            start = coef[keep]
            from_start = fit.residual(start, keep)
            if not from_start <= _CLOSE * rss:
                linear = fit.linear(keep, fit.fitted(start, keep)[1])
                if linear is not None and fit.residual(linear, keep) < from_start:
                    start = linear
            c, cost = fit.steps(start, keep, steps)
            rss, steps = fit.residual(c, keep), _STEPS
            if cost is None or not math.isfinite(rss):
                break
            coef[keep] = c
            if len(keep) - 1 <= max_terms and rss > 0:
                score = len(y) * math.log(rss) + (len(keep) - 1) * per_term
                scored.append((score, keep.copy(), c))
            count = max(1, len(keep) // 8) if len(keep) > 4 * max_terms else 1
            order = [i for i in np.argsort(cost) if fit.can_drop(keep, i)]
            if not order:
                break
            coef[keep[order[:count]]] = 0.0
            keep = np.delete(keep, order[:count])
    out = []
    for score, kept, c in sorted(scored, key=lambda t: t[0])[:_PATH_SUPPORTS]:
        den = fit.is_den[kept]
        out.append((score, kept[~den], kept[den] - P.shape[1], c[~den], c[den]))
    return out


class _RatioFit:
    """``N/D`` on the columns ``[P, Q]`` for :func:`ratio_path`: its values,
    residual and Gauss-Newton steps."""

    def __init__(self, P, Q, y, weight) -> None:
        self.y, self.columns = y, np.concatenate([P, Q], axis=1)
        self.root = np.ones(len(y)) if weight is None else np.sqrt(weight)
        self.is_den = np.arange(self.columns.shape[1]) >= P.shape[1]

    def can_drop(self, kept, i: int) -> bool:
        """Whether ``kept`` without its ``i``-th column still has terms in ``N``
        and ``D``."""
        return int(np.sum(self.is_den[kept] == self.is_den[kept[i]])) > 1

    def fitted(self, c, kept) -> tuple[np.ndarray, np.ndarray]:
        C, den = self.columns[:, kept], self.is_den[kept]
        D = C[:, den] @ c[den]
        return C[:, ~den] @ c[~den] / D, D

    def residual(self, c, kept) -> float:
        r = (self.y - self.fitted(c, kept)[0]) * self.root
        return float(r @ r) if np.all(np.isfinite(r)) else math.inf

    def linear(self, kept, D) -> np.ndarray | None:
        """The ratio on ``kept`` from its linearised fit ``y D = N``, rows weighted
        by ``1/D²`` (``D`` the current denominator's values): ``D``'s coefficients
        from the smallest singular vector of ``y Q`` less its projection on ``P``,
        ``D``'s values held to a norm of 1 (the noise adds about as much to every
        ``D``'s residual then), ``N``'s by least squares. None where it fails."""
        den = self.is_den[kept]
        P, Q = self.columns[:, kept[~den]], self.columns[:, kept[den]]
        root = (self.root / np.abs(D))[:, None]
        try:
            basis, _ = np.linalg.qr(root * P)
            yQ = root * self.y[:, None] * Q
            left = yQ - basis @ (basis.T @ yQ)
            R = np.linalg.qr(root * Q, mode="r")
            whiten = solve_triangular(R, np.eye(len(R)))
            b = whiten @ np.linalg.svd(left @ whiten, full_matrices=False)[2][-1]
        except (np.linalg.LinAlgError, ValueError):
            return None
        a = scaled_least_squares(root * P, (root[:, 0] * self.y) * (Q @ b))
        c = np.empty(len(kept))
        c[~den], c[den] = a, b
        return c if np.all(np.isfinite(c)) else None

    def steps(self, c, kept, steps: int):
        """``steps`` Gauss-Newton steps from ``c`` (damped as Levenberg and
        Marquardt's, more until the residual falls; then ``D`` rescaled to a root
        mean square of 1), and
        the Wald statistic of each column (None where the Jacobian is not
        finite), from the pseudo-inverse without the direction of ``c`` itself."""
        cost = None
        for _ in range(steps):
            value, D = self.fitted(c, kept)
            J = self.columns[:, kept] / D[:, None] * self.root[:, None]
            J[:, self.is_den[kept]] *= -value[:, None]
            norms = np.linalg.norm(J, axis=0)
            if not (np.all(np.isfinite(J)) and np.all(norms > 0)):
                return c, None
            U, sigma, Vt = np.linalg.svd(J / norms, full_matrices=False)
            usable = sigma[:-1] > 1e-12 * sigma[0]  # the last: the scale's
            U, sigma, Vt = U[:, :-1][:, usable], sigma[:-1][usable], Vt[:-1][usable]
            projected = U.T @ ((self.y - value) * self.root)
            now = self.residual(c, kept)
            for damping in _DAMPING:  # Levenberg-Marquardt's, relative to sigma[0]²
                step = Vt.T @ (projected * sigma / (sigma**2 + damping * sigma[0] ** 2)) / norms
                if self.residual(c + step, kept) < now:
                    c = c + step
                    break
            c = c / (np.sqrt(np.mean(np.square(self.fitted(c, kept)[1]))) or 1.0)
            variance = np.einsum("ij,i->j", np.square(Vt), 1.0 / sigma**2) / norms**2
            cost = np.square(c) / np.where(variance > 0, variance, np.inf)
        return c, cost


def rows_key(X: np.ndarray, Xv: np.ndarray) -> tuple:
    """A key for a table's training and held-out rows: the columns computed on them
    are kept under it for the next target of the same table."""
    return X.shape, Xv.shape, hash(X.tobytes()), hash(Xv.tobytes())


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
#: How far below the next the smallest singular value must be for its vector to
#: be the one ratio of its degrees.
_GAP = 1e4
#: The shares of the largest below which a term is dropped, tried in turn until a
#: formula still fits exactly (the last: a term is 0).
_SUPPORT_THRESHOLDS = (1e-2, 1e-3, 1e-4, 1e-5, NULL_ENTRY)
#: Rows per column of ``[P, -y Q]`` used to find its null vector.
_ROWS_PER_COLUMN = 4
#: Most terms of a formula chosen term by term (noisy data).
MAX_SELECTED_TERMS = 16
#: The shares of the largest term below which sequentially thresholded least
#: squares drops a term, one candidate each (noisy data), and its most rounds.
_NOISY_THRESHOLDS, _THRESHOLD_ROUNDS = (0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3), 10


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


def shift_matrix(exponents: np.ndarray, centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``T`` with ``Σ_b c_b Π((x - centre)/scale)**e_b = Σ_a (T c)_a Π x**e_a``.

    ``exponents`` holds every monomial of degree at most some ``d`` (a set closed
    under lowering any exponent), so that the monomials of the centred and scaled
    columns and those of the columns span the same polynomials: ``T`` is the
    change of basis, each centred monomial expanded by the binomial theorem.
    """
    index = {tuple(e): i for i, e in enumerate(exponents.tolist())}
    T = np.zeros((len(exponents), len(exponents)))
    for b, e in enumerate(exponents.tolist()):
        # Per column, the coefficients of x**i in ((x - c)/s)**k, i = 0..k.
        parts = [
            [math.comb(k, i) * (-c) ** (k - i) / s**k for i in range(k + 1)]
            for k, c, s in zip(e, centre, scale, strict=True)
        ]
        for powers in itertools.product(*(range(len(p)) for p in parts)):
            value = 1.0
            for p, i in zip(parts, powers, strict=True):
                value *= p[i]
            T[index[powers], b] += value
    return T


def n_monomials(n_features: int, degree: int) -> int:
    """How many monomials of total degree at most ``degree`` there are."""
    return math.comb(n_features + degree, degree)


def pair_columns(n_features: int, dn: int, dd: int) -> int:
    """The columns of the pair of degrees ``(dn, dd)``: ``N``'s monomials, and
    ``D``'s for a ratio (``dd > 0``)."""
    return n_monomials(n_features, dn) + (n_monomials(n_features, dd) if dd else 0)


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
            size = pair_columns(n_features, dn, dd)
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
    weight : ndarray or None, default=None
        Row weights of :class:`NoisyRationalSearch`'s least squares and of the
        refits of ratios (where ``y`` is a transformed target whose errors differ
        from row to row).
    """

    def __init__(self, X, y, make, select, deadline: float = math.inf, weight=None) -> None:
        self.X, self.y, self.weight = X, y, weight
        self.make, self.select, self.deadline = make, select, deadline
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # The columns centred on their range and scaled to [-1, 1]: their monomials
        # are far better conditioned than those of columns far from 0 (``L`` in
        # [5, 8]: ``1, L, ..., L**4`` are nearly collinear). The null vectors and
        # polynomial fits are found in them, then written back in the columns.
        low, high = X.min(axis=0), X.max(axis=0)
        self._centre = (low + high) / 2
        self._scale = np.where(high > low, (high - low) / 2, 1.0)
        self._Z = (X - self._centre) / self._scale
        self._centred_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # The relative residual (a polynomial's) or squared smallest singular value
        # ratio (a ratio's) of each pair of degrees tried.
        self._residual: dict[tuple[int, int], float] = {}
        #: The residuals on the rows of the polynomial that fits them best so far
        #: (None before any): noise alone where a polynomial fits to the noise.
        self.residual: np.ndarray | None = None

    def smallest_residual(self) -> float:
        """The smallest relative squared residual of the polynomials tried so far
        (a ratio's singular values also fall with the columns' likeness);
        infinite before any."""
        return min((r for (_, dd), r in self._residual.items() if dd == 0), default=math.inf)

    def fit_polynomials(self, largest: int) -> None:
        """Fit the polynomials of at most ``largest`` columns not fitted yet, for
        their residuals (``residual``, :meth:`smallest_residual`) alone."""
        for dn, dd in degree_schedule(self.X.shape[1], len(self.X), 0, largest):
            if not dd and (dn, 0) not in self._residual:
                self._polynomial(dn)

    def _basis(self, degree: int) -> tuple[np.ndarray, np.ndarray]:
        if degree not in self._cache:
            exps = monomials(self.X.shape[1], degree)
            self._cache[degree] = exps, monomial_values(self.X, exps)
        return self._cache[degree]

    def _centred(self, degree: int) -> tuple[np.ndarray, np.ndarray]:
        """The monomials of the centred columns, and the change of basis back."""
        if degree not in self._centred_cache:
            exps, _ = self._basis(degree)
            T = shift_matrix(exps, self._centre, self._scale)
            self._centred_cache[degree] = monomial_values(self._Z, exps), T
        return self._centred_cache[degree]

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
        Z, T = self._centred(degree)
        norms = np.linalg.norm(P, axis=0)
        if not np.all(np.isfinite(P)) or np.any(norms == 0):
            return None
        coef = scaled_least_squares(Z, self.y)
        r = self.y - Z @ coef
        self._residual[degree, 0] = float(r @ r) / (float(self.y @ self.y) or 1.0)
        if self.residual is None or float(r @ r) < float(self.residual @ self.residual):
            self.residual = r
        if float(r @ r) > EXACT_LEAST_SQUARES * float(self.y @ self.y):
            return None  # no exact polynomial of this degree; the noisy path chooses terms

        def fit(keep):
            coef = scaled_least_squares(P[:, keep], self.y)
            r = self.y - P[:, keep] @ coef
            return (exps[keep], coef, None, None), float(r @ r) / (float(self.y @ self.y) or 1.0)

        # Each monomial's share of the target, in the columns themselves.
        return self._fewest_terms(np.abs(T @ coef) * norms, fit)

    def _null_vector(self, dn: int, dd: int):
        num, P = self._basis(dn)
        den, Q = self._basis(dd)
        (Zp, Tn), (Zq, Td) = self._centred(dn), self._centred(dd)
        A = np.concatenate([P, -self.y[:, None] * Q], axis=1)
        Az = np.concatenate([Zp, -self.y[:, None] * Zq], axis=1)
        norms, norms_z = np.linalg.norm(A, axis=0), np.linalg.norm(Az, axis=0)
        if not np.all(np.isfinite(A)) or np.any(norms == 0) or np.any(norms_z == 0):
            return None
        # An exact ratio vanishes on any rows: a few times as many rows as columns
        # determine the null vector, at a fraction of the cost of all of them.
        rows = slice(None, None, max(1, len(A) // (_ROWS_PER_COLUMN * A.shape[1])))
        scaled = (Az / norms_z)[rows]
        try:  # the singular values alone first: most pairs of degrees stop there
            sigma = np.linalg.svd(scaled, compute_uv=False)
        except np.linalg.LinAlgError:
            return None
        self._residual[dn, dd] = float(sigma[-1] / sigma[0]) ** 2
        if not sigma[-1] <= NULL * sigma[0] or sigma[-2] < _GAP * sigma[-1]:
            # No exact ratio of these degrees, or more than one (two singular values
            # at rounding: ``N q / (D q)`` for every ``q`` of the degrees left).
            # One singular value far below the next is one ratio, even where the
            # next is small too (a ratio of lower degrees that nearly fits).
            return None
        try:
            _, sigma, Vt = np.linalg.svd(scaled, full_matrices=False)
        except np.linalg.LinAlgError:
            return None
        vz = Vt[-1] / norms_z
        n = len(num)
        v = np.concatenate([Tn @ vz[:n], Td @ vz[n:]])  # in the columns themselves
        return self._fewest_terms(
            np.abs(v) * norms, lambda keep: self._refit(num, den, P, Q, np.flatnonzero(keep), v)
        )

    def _fewest_terms(self, shares: np.ndarray, fit):
        """The candidate on the fewest terms that still fits exactly.

        ``fit(keep)`` refits on the terms ``keep`` (a mask) and returns ``make``'s
        arguments and the fit's relative residual, or None. The terms kept are
        those whose share is above each of ``_SUPPORT_THRESHOLDS`` of the largest
        in turn: written back in the columns, the rounding of a solution found in
        the centred columns spreads over every monomial. Where none fits exactly,
        the last one tried.
        """
        found = None
        for threshold in _SUPPORT_THRESHOLDS:
            found = fit(shares > threshold * shares.max())
            if found is not None and found[1] <= EXACT_LEAST_SQUARES:
                break
        return None if found is None else self.make(*found[0])

    def _refit(self, num, den, P, Q, support, v):
        """The ratio on ``support`` refitted by least squares, ``D``'s largest term
        fixed: ``make``'s arguments and the relative residual of the fit."""
        n = len(num)
        keep_num, keep_den = support[support < n], support[support >= n] - n
        if not len(keep_num) or not len(keep_den):
            return None
        lead, *rest = _lead_first(keep_den, v[n:])
        B = np.concatenate([P[:, keep_num], -self.y[:, None] * Q[:, rest]], axis=1)
        target = self.y * Q[:, lead]
        denominator = Q[:, keep_den] @ (v[n + keep_den] / v[n + lead])
        coef = scaled_least_squares(B, target, denominator_weights(denominator, self.weight))
        r = B @ coef - target
        residual = float(r @ r) / (float(target @ target) or 1.0)
        k = len(keep_num)
        args = (num[keep_num], coef[:k], den[[lead, *rest]], np.concatenate([[1.0], coef[k:]]))
        return args, residual if math.isfinite(residual) else math.inf


class NoisyRationalSearch(RationalSearch):
    """:class:`RationalSearch`'s candidates for noisy data, where no ratio is exact:
    sequentially thresholded least squares (:meth:`thresholded`) and terms chosen
    one at a time (:meth:`selected`), degree by degree."""

    def thresholded(
        self, smallest: int = 0, largest: int = MAX_COLUMNS, deadline: float = math.inf
    ) -> Iterator:
        """Candidates by sequentially thresholded least squares, degree by degree
        (noisy data): for each pair of degrees with at most ``largest`` columns, the
        full fit (a polynomial's least squares, a ratio's smallest singular vector
        of ``y Q`` with the polynomials of ``P`` projected out) is cut to the terms
        above a share of the largest and refitted, until the terms stay the same;
        one candidate per share of :data:`_NOISY_THRESHOLDS` (Brunton, Proctor and
        Kutz's SINDy). Cheap: one fit per pair, a few on the terms kept. Only the
        pairs of more than ``smallest`` columns, none started after ``deadline``
        (nor after the search's own)."""
        for dn, dd in degree_schedule(self.X.shape[1], len(self.X), smallest, largest):
            if time.perf_counter() > min(deadline, self.deadline):
                return
            full = self._full_polynomial(dn) if dd == 0 else self._full_ratio(dn, dd)
            if full is None:
                continue
            shares, fit, _ = full
            starts: set[frozenset] = set()
            kept: set[frozenset] = set()
            for threshold in _NOISY_THRESHOLDS:
                # The same terms to start from settle on the same terms.
                start = frozenset(np.flatnonzero(shares > threshold * shares.max()).tolist())
                if start in starts | kept:
                    continue
                starts.add(start)
                found = _thresholded(shares, fit, threshold)
                if found is None or found[0] in kept or len(found[0]) > MAX_SELECTED_TERMS:
                    continue
                kept.add(found[0])
                yield self.make(*found[1])

    def _full_polynomial(self, degree: int):
        """Each monomial's share in the full least squares fit, and the refit on a
        support (its arguments of ``make`` and the terms' new shares)."""
        exps, P = self._basis(degree)
        Z, T = self._centred(degree)
        norms = np.linalg.norm(P, axis=0)
        if not np.all(np.isfinite(P)) or np.any(norms == 0):
            return None
        coef = T @ scaled_least_squares(Z, self.y, self.weight)

        def fit(keep):
            c = scaled_least_squares(P[:, keep], self.y, self.weight)
            return (exps[keep], c, None, None), np.abs(c) * norms[keep]

        return np.abs(coef) * norms, fit, coef

    def _full_ratio(self, dn: int, dd: int):
        """The same for a ratio: ``D``'s coefficients from the smallest singular
        vector of ``y Q`` less its projection on ``P`` (no collinearity of the
        polynomials of ``P`` can then pass for the ratio), ``N``'s by least squares."""
        num, P = self._basis(dn)
        den, Q = self._basis(dd)
        (Zp, Tn), (Zq, Td) = self._centred(dn), self._centred(dd)
        yZ = self.y[:, None] * Zq
        A = np.concatenate([P, -self.y[:, None] * Q], axis=1)
        norms, norms_z = np.linalg.norm(A, axis=0), np.linalg.norm(yZ, axis=0)
        if not (np.all(np.isfinite(A)) and np.all(norms > 0) and np.all(norms_z > 0)):
            return None
        root = 1.0 if self.weight is None else np.sqrt(self.weight)[:, None]
        try:
            basis, _ = np.linalg.qr(root * Zp)
            left = root * yZ - basis @ (basis.T @ (root * yZ))
            # D's values held to a norm of 1, not its coefficients: the noise of
            # y then adds about the same to every D's residual (sigma² ||D||²),
            # and the smallest singular vector is D's without the noise's bias.
            Rq = np.linalg.qr(root * Zq / norms_z, mode="r")
            diagonal = np.abs(np.diag(Rq))
            if diagonal.min() > 1e-10 * diagonal.max():
                whiten = solve_triangular(Rq, np.eye(len(Rq)))
            else:
                whiten = np.eye(len(Rq))  # D's monomials alike: their coefficients'
            _, _, Vt = np.linalg.svd(left / norms_z @ whiten, full_matrices=False)
        except np.linalg.LinAlgError:
            return None
        b = Td @ (whiten @ Vt[-1] / norms_z)
        a = Tn @ scaled_least_squares(Zp, self.y * (Q @ b), self.weight)
        n, v = len(num), np.concatenate([a, b])

        def fit(keep):
            support = np.flatnonzero(keep)
            found = self._refit(num, den, P, Q, support, v)
            if found is None:
                return None
            args = found[0]
            den_order = n + _lead_first(support[support >= n] - n, v[n:])
            order = np.concatenate([support[support < n], den_order])
            shares = np.zeros(len(v))
            shares[order] = np.abs(np.concatenate([args[1], args[3]])) * norms[order]
            return args, shares[support]

        return np.abs(v) * norms, fit, v

    def eliminated(
        self, largest: int = MAX_COLUMNS, deadline: float = math.inf, polynomials: int = 0
    ) -> Iterator:
        """Candidates by backward elimination, degree by degree (noisy data): for
        each pair of degrees of at most ``largest`` columns, and each polynomial of
        at most ``polynomials`` (a path of least squares, far cheaper than a
        ratio's), the supports of the lowest information criterion along the path
        from the full fit down (:meth:`_eliminated`); none started after
        ``deadline``. None is exact. The polynomials of more than ``largest``
        columns come first: their paths take a fraction of a second, a ratio's
        path a second."""
        n_features = self.X.shape[1]
        pairs = degree_schedule(n_features, len(self.X), 0, max(largest, polynomials))
        within = [pair_columns(n_features, *pair) <= largest for pair in pairs]
        wide = [pair for pair, w in zip(pairs, within, strict=True) if not w and not pair[1]]
        for dn, dd in wide + [pair for pair, w in zip(pairs, within, strict=True) if w]:
            if time.perf_counter() > min(deadline, self.deadline):
                return
            full = self._full_polynomial(dn) if dd == 0 else self._full_ratio(dn, dd)
            if full is not None:
                for _, args in self._eliminated(dn, dd, full[2]):
                    if args[2] is not None and self._pole_near_rows(args[2], args[3]):
                        continue
                    found = self.make(*args)
                    # An approximation: a polynomial of degree 12 fits exp on
                    # [1, 2] to rounding, and even extrapolates to it within the
                    # rows. Exact formulas are the exact search's (its cliff).
                    found.exact = False
                    yield found

    def _pole_near_rows(self, denominator: np.ndarray, coef: np.ndarray) -> bool:
        """Whether ``D`` changes sign on the rows, or on them with one column moved
        to its smallest or largest value less or plus a twentieth of its range:
        the nonlinear least squares of a ratio can cancel a zero of ``N`` with
        one of ``D`` just outside the rows (``x*p(x)/(x*q(x) + 2e-4)``), a pole
        the next rows would meet."""
        low, high = self.X.min(axis=0), self.X.max(axis=0)
        margin = (high - low) / 20
        values = [monomial_values(self.X, denominator) @ coef]
        for j in range(self.X.shape[1]):
            for edge in (low[j] - margin[j], high[j] + margin[j]):
                moved = self.X.copy()
                moved[:, j] = edge
                values.append(monomial_values(moved, denominator) @ coef)
        with np.errstate(all="ignore"):
            return changes_sign(np.concatenate(values))

    def _eliminated(self, dn: int, dd: int, full: np.ndarray) -> Iterator:
        """The supports of a backward elimination for the pair ``(dn, dd)`` and
        ``make``'s arguments for each: :func:`backward_path` for a polynomial,
        :func:`ratio_path` for a ratio, from the full fit ``full`` (its
        coefficients, ``N``'s then ``D``'s) with ``D``'s largest term set to 1."""
        num, P = self._basis(dn)
        if dd == 0:
            for support in backward_path(P, self.y, MAX_SELECTED_TERMS, self.weight):
                coef = scaled_least_squares(P[:, support], self.y, self.weight)
                yield frozenset(support), (num[support], coef, None, None)
            return
        den, Q = self._basis(dd)
        n = len(num)
        paths = ratio_path(P, Q, self.y, full[:n], full[n:], MAX_SELECTED_TERMS, self.weight)
        for _, keep_num, keep_den, coef_num, coef_den in paths:
            # D's largest term first, set to 1 (``make``'s form).
            order = np.argsort(-np.abs(coef_den) * np.linalg.norm(Q[:, keep_den], axis=0))
            keep_den, coef_den = keep_den[order], coef_den[order]
            args = (num[keep_num], coef_num / coef_den[0], den[keep_den], coef_den / coef_den[0])
            yield frozenset([*keep_num, *(n + keep_den)]), args

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
        # The term of D set to 1: the constant, a single column, or the largest
        # term of the full fit's D (``(x2 - x1)**2 + (y2 - y1)**2`` has neither).
        for lead in self._leads(dn, dd, den):
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

    def _leads(self, dn: int, dd: int, den: np.ndarray) -> list[int]:
        """The terms of ``D`` that :meth:`_selected_ratios` sets to 1 in turn: the
        constant and the single columns, then the term with the largest share in
        the full fit (:meth:`_full_ratio`) where it is none of them."""
        leads = [int(i) for i in np.flatnonzero(den.sum(1) <= 1)]
        full = self._full_ratio(dn, dd)
        if full is not None:
            largest = int(np.argmax(full[0][len(full[0]) - len(den) :]))
            leads += [largest] if largest not in leads else []
        return leads


def _lead_first(keep_den: np.ndarray, v_den: np.ndarray) -> np.ndarray:
    """The denominator's terms ``keep_den`` (indices into ``v_den``, its
    coefficients) in the order of ``RationalSearch._refit``: the largest first
    (the one set to 1), the rest as they come."""
    lead = keep_den[np.argmax(np.abs(v_den[keep_den]))]
    return np.array([lead, *(d for d in keep_den if d != lead)], dtype=int)


def _thresholded(shares: np.ndarray, fit, threshold: float):
    """Sequentially thresholded least squares from the full fit's ``shares``:
    the support (a frozenset of column indices) it settles on and ``make``'s
    arguments, or None where a refit fails or keeps no term."""
    keep = shares > threshold * shares.max()
    for _ in range(_THRESHOLD_ROUNDS):
        found = fit(keep)
        if found is None:
            return None
        args, new_shares = found
        if not np.all(np.isfinite(new_shares)) or not len(new_shares):
            return None
        indices = np.flatnonzero(keep)
        drop = new_shares <= threshold * new_shares.max()
        if not drop.any():
            return frozenset(indices.tolist()), args
        keep = keep.copy()
        keep[indices[drop]] = False
    return None
