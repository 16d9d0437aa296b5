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

import functools
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from ..exact._tolerances import (
    BEAT_LINEAR,
    EXACT_LEAST_SQUARES,
    NEGLIGIBLE,
    NULL,
    NULL_ENTRY,
    SIMPLER_WITHIN,
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
#: Ratios of polynomials: at most this many columns, and terms kept; a singular
#: value below ``NULL`` times the largest is zero, and so is a null vector's entry
#: below ``NULL_ENTRY`` times its largest.
_MAX_POLYNOMIAL_FEATURES, _MAX_POLYNOMIAL_TERMS = 8, 10
#: Columns up to which the selection works from their Gram matrix (8 bytes each of
#: its ``n²`` entries) instead of projecting every row.
_MAX_GRAM = 5000


@dataclass(eq=False)
class ClosedForm:
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
    valid_error: float = math.inf
    kind: str = field(default="sum")
    valid_rows: np.ndarray | None = None

    def terms(self) -> np.ndarray:
        """Every term's exponents, numerator first."""
        if self.denominator is None:
            return self.numerator
        return np.concatenate([self.numerator, self.denominator])

    def complexity(self) -> tuple[int, int]:
        """(number of terms, total degree): fewer is simpler."""
        terms = self.terms()
        return len(terms), int(np.abs(terms).sum())

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The formula's value on the rows of ``X``."""
        with np.errstate(all="ignore"):
            n = _terms(X, self.numerator) @ self.numerator_coef
            if self.denominator is None:
                return n
            return n / (_terms(X, self.denominator) @ self.denominator_coef)


def _terms(X: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """``[n_rows, n_terms]``: each term's product of powers on each row."""
    out = np.ones((len(X), len(exponents)))
    with np.errstate(all="ignore"):
        for i in range(X.shape[1]):
            e = exponents[:, i]
            if np.any(e != 0):
                out *= X[:, i : i + 1] ** e
    return out


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


def _judge(formula: ClosedForm, Xv: np.ndarray, yv: np.ndarray) -> None:
    """Set the formula's relative held-out error and its rows' squared errors."""
    predicted = formula.predict(Xv)
    formula.valid_error = _relative_error(predicted, yv)
    with np.errstate(all="ignore"):
        formula.valid_rows = np.nan_to_num((predicted - yv) ** 2, nan=np.inf)


def _relative_error(predicted: np.ndarray, y: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        mse = float(np.mean((predicted - y) ** 2))
    scale = float(np.mean(y**2)) or 1.0
    return mse / scale if math.isfinite(mse) else math.inf


def _gram(T: np.ndarray) -> np.ndarray | None:
    """``TᵀT``, or None when it would hold more than ``_MAX_GRAM`` columns."""
    return T.T @ T if T.shape[1] <= _MAX_GRAM else None


def _select(T: np.ndarray, target: np.ndarray, max_terms: int, G: np.ndarray | None = None):
    """Subsets of the columns of ``T`` (unit norm) that fit ``target``; yields index lists.

    Every best single column and the best pairs (all pairs are scored at once from
    the columns' Gram matrix ``G``, computed here if not given) seed a beam; each
    seed then grows by orthogonal least squares, adding the column that lowers the
    residual most, up to ``max_terms``. A seed stops growing once it fits exactly.
    """
    tt = float(target @ target) or 1.0
    g = T.T @ target
    n = T.shape[1]
    if G is None:
        G = _gram(T)
    pool = np.argsort(-np.abs(g))[:_PAIR_POOL] if n > _PAIR_POOL else np.arange(n)
    C = G[np.ix_(pool, pool)] if G is not None else T[:, pool].T @ T[:, pool]
    best = functools.partial(_best_addition, T, target, G=G, g=g)
    gp = g[pool]
    with np.errstate(all="ignore"):
        explained = (gp[:, None] ** 2 + gp[None, :] ** 2 - 2 * gp[:, None] * gp[None, :] * C) / (
            1 - C**2
        )
    explained[~np.isfinite(explained) | (np.abs(C) > 1 - 1e-9)] = -np.inf
    explained[np.tril_indices(len(pool))] = -np.inf
    flat = np.argsort(-explained, axis=None)[:_BEAM]
    seeds = [[int(np.argmax(g**2))]]
    seeds += [sorted(map(int, pool[list(np.unravel_index(k, C.shape))])) for k in flat]
    seen: set[frozenset] = set()
    for seed in seeds:
        chosen = list(seed)[:max_terms]
        while True:
            key = frozenset(chosen)
            if key not in seen:
                seen.add(key)
                yield list(chosen)
            if len(chosen) >= max_terms or _rss(T, target, chosen) <= EXACT_LEAST_SQUARES * tt:
                break
            j = best(chosen)
            if j is None:
                break
            chosen = _swapped(T, target, [*chosen, j], tt, best)


def _swapped(T, target, chosen: list[int], tt: float, best) -> list[int]:
    """``chosen`` with terms swapped for better ones while that lowers the residual.

    A term picked early may stand in for two picked later; each term in turn is
    taken out and the best column for its place put in (at most two passes).
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
            break
    return chosen


def _rss(T, target, indices) -> float:
    A = T[:, indices]
    coef, *_ = np.linalg.lstsq(A, target, rcond=None)
    r = target - A @ coef
    return float(r @ r)


def _best_addition(T, target, indices, G=None, g=None) -> int | None:
    """The column that, added to ``indices``, lowers the least-squares residual most.

    Each column's gain is ``(P_jᵀ R)² / |P_j|²``, with ``P_j`` the column and ``R``
    the target projected off the chosen columns. From the Gram matrix ``G = TᵀT``
    and ``g = Tᵀ target`` these are ``g_j - G_jS β`` and ``G_jj - G_jS G_SS⁻¹ G_Sj``
    (``β`` the chosen columns' coefficients): a few operations per column instead
    of a projection of every row.
    """
    if G is None:
        Q, _ = np.linalg.qr(T[:, indices])
        P = T - Q @ (Q.T @ T)
        R = target - Q @ (Q.T @ target)
        projected, pn = P.T @ R, np.einsum("ij,ij->j", P, P)
    else:
        G_S = G[indices]
        inverse = np.linalg.pinv(G[np.ix_(indices, indices)])
        projected = g - G_S.T @ (inverse @ g[indices])
        pn = np.diagonal(G) - np.einsum("ij,ij->j", G_S, inverse @ G_S)
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


def _sums(X, y, Xv, yv, terms, T) -> list[ClosedForm]:
    index = np.arange(len(terms))
    norms = np.linalg.norm(T, axis=0)
    keep = norms > 0
    index, T, norms = index[keep], T[:, keep], norms[keep]
    out = []
    for chosen in _select(T / norms, y, MAX_TERMS):
        exps = terms[index[chosen]]
        coef, *_ = np.linalg.lstsq(_terms(X, exps), y, rcond=None)
        used = np.abs(coef) * norms[chosen] > NEGLIGIBLE * np.linalg.norm(y)
        if not used.all() and used.any():
            exps = exps[used]
            coef, *_ = np.linalg.lstsq(_terms(X, exps), y, rcond=None)
        formula = ClosedForm(exps, coef)
        _judge(formula, Xv, yv)
        out.append(formula)
    return out


def _ratios(X, y, Xv, yv, terms, T) -> list[ClosedForm]:
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
        for chosen in _select(columns, target / scale, MAX_RATIO_TERMS, G):
            num = [c for c in chosen if c < n_terms]
            den = [c - n_terms for c in chosen if c >= n_terms]
            if not num or not den:
                continue
            A = np.concatenate([T[:, num], -y[:, None] * T[:, den]], axis=1)
            coef, *_ = np.linalg.lstsq(A, target, rcond=None)
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
                coef, *_ = np.linalg.lstsq(A, target, rcond=None)
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


def _monomials(n_features: int, degree: int) -> np.ndarray:
    """Exponents of every monomial of total degree at most ``degree`` (the constant first)."""
    rows = [np.zeros(n_features, dtype=int)]
    for d in range(1, degree + 1):
        for columns in itertools.combinations_with_replacement(range(n_features), d):
            row = np.zeros(n_features, dtype=int)
            np.add.at(row, list(columns), 1)
            rows.append(row)
    return np.array(rows)


def _polynomial_ratios(X, y, Xv, yv) -> list[ClosedForm]:
    """Ratios of two polynomials of degree at most 2, from the null vector of ``[P, -y Q]``.

    ``y = N / D`` means ``N - y D = 0`` on every row: with ``N`` and ``D`` written
    over all monomials of bounded degree, the coefficients are the null vector of
    one matrix, found by its singular value decomposition whatever the number of
    terms, where the term-by-term search of :func:`_ratios` stops at
    ``MAX_RATIO_TERMS``. Degrees are tried lowest first (a ratio of lower degree
    times any monomial is one of higher degree, and the null vector is then not
    unique); an exact candidate is kept when the null vector is sparse: its
    negligible entries dropped, at most ``_MAX_POLYNOMIAL_TERMS`` terms remain.

    With noise no singular value is zero: then, for every pair of degrees, terms
    are dropped one at a time, each time the one whose loss raises the smallest
    singular value least, and the supports of ``_MAX_POLYNOMIAL_TERMS`` terms or
    fewer are the candidates, for the held-out rows to judge.
    """
    n_features = X.shape[1]
    if n_features > _MAX_POLYNOMIAL_FEATURES:
        return []
    out = []
    for num_degree, den_degree in ((1, 1), (2, 1), (1, 2), (2, 2)):
        num, den = _monomials(n_features, num_degree), _monomials(n_features, den_degree)
        A = np.concatenate([_terms(X, num), -y[:, None] * _terms(X, den)], axis=1)
        norms = np.linalg.norm(A, axis=0)
        if not np.all(np.isfinite(A)) or np.any(norms == 0) or len(A) < A.shape[1] + 2:
            continue
        A = A / norms
        _, sigma, Vt = np.linalg.svd(A, full_matrices=False)
        if sigma[-1] <= NULL * sigma[0]:
            if sigma[-2] <= NULL * sigma[0]:
                continue  # an exact ratio of these degrees, but not a unique one
            weight = np.abs(Vt[-1])
            support = np.where(weight > NULL_ENTRY * weight.max())[0]
            if len(support) > _MAX_POLYNOMIAL_TERMS:
                continue  # exact, but not sparse
            formula = _polynomial_ratio(X, y, Xv, yv, num, den, support, Vt[-1] / norms)
            if formula is not None:
                return [formula]
            continue
        for support, vector in _eliminations(A.T @ A, _MAX_POLYNOMIAL_TERMS):
            values = np.zeros(A.shape[1])
            values[support] = vector
            formula = _polynomial_ratio(X, y, Xv, yv, num, den, support, values / norms)
            if formula is not None:
                out.append(formula)
    return out


def _eliminations(G: np.ndarray, max_terms: int):
    """Supports of the smallest eigenvector of ``G[S, S]``, one term dropped at a time.

    From all columns down to two, each time the column whose removal gives the
    smallest least eigenvalue; yields ``(support, eigenvector)`` for the supports of
    ``max_terms`` columns or fewer.
    """
    support = list(range(len(G)))
    while len(support) > 2:
        trials = []
        for i in range(len(support)):
            rest = support[:i] + support[i + 1 :]
            trials.append(np.linalg.eigvalsh(G[np.ix_(rest, rest)])[0])
        support.pop(int(np.argmin(trials)))
        if len(support) <= max_terms:
            _, vectors = np.linalg.eigh(G[np.ix_(support, support)])
            yield np.array(support), vectors[:, 0]


def _polynomial_ratio(X, y, Xv, yv, num, den, support, v) -> ClosedForm | None:
    """The ratio on ``support`` (indices into the numerator's monomials, then the
    denominator's), refitted by least squares with the denominator's largest
    coefficient in ``v`` fixed: ``N - y (D - t0) = y t0``."""
    n_num = len(num)
    keep_num, keep_den = support[support < n_num], support[support >= n_num] - n_num
    if not len(keep_num) or not len(keep_den):
        return None
    lead = keep_den[np.argmax(np.abs(v[n_num + keep_den]))]
    rest = [d for d in keep_den if d != lead]
    t0 = _terms(X, den[[lead]])[:, 0]
    B = np.concatenate([_terms(X, num[keep_num]), -y[:, None] * _terms(X, den[rest])], axis=1)
    coef, *_ = np.linalg.lstsq(B, y * t0, rcond=None)
    return _ratio(num[keep_num], den[[lead, *rest]], coef, Xv, yv)


def _product(X, y, Xv, yv, half: bool) -> list[ClosedForm]:
    """``c Π x^e`` from least squares in logarithms (integer, or half-integer, ``e``)."""
    keep = (X != 0).all(1) & (y != 0)
    if keep.sum() <= X.shape[1] + 1:
        return []
    A = np.concatenate([np.log(np.abs(X[keep])), np.ones((int(keep.sum()), 1))], axis=1)
    solution, *_ = np.linalg.lstsq(A, np.log(np.abs(y[keep])), rcond=None)
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
    coef, *_ = np.linalg.lstsq(_terms(X, exps), y, rcond=None)
    formula = ClosedForm(exps, coef, kind="linear")
    _judge(formula, Xv, yv)
    return [formula]


def find_formulas(
    X: np.ndarray,
    y: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    half_powers: bool = False,
    ratios: bool = True,
) -> list[ClosedForm]:
    """Candidate formulas for ``y`` from the columns of ``X``, best first.

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

    Returns
    -------
    list of ClosedForm
        The simplest exact formula first when there is one; otherwise the simplest
        within 5% of the lowest held-out error first, then the rest by error.
    """
    X, y = np.asarray(X, float), np.asarray(y, float).ravel()
    X_valid, y_valid = np.asarray(X_valid, float), np.asarray(y_valid, float).ravel()
    if len(X) > _MAX_ROWS:
        rows = np.random.RandomState(0).choice(len(X), _MAX_ROWS, replace=False)
        X, y = X[np.sort(rows)], y[np.sort(rows)]
    terms = library(X.shape[1])
    found = _product(X, y, X_valid, y_valid, half_powers) + _linear(X, y, X_valid, y_valid)
    terms, T = _usable(X, X_valid, terms)
    found += _sums(X, y, X_valid, y_valid, terms, T)
    # The null vector of the polynomial ratios costs milliseconds; the term-by-term
    # search, over thousands of terms, seconds: it runs only if the first is not exact.
    if ratios and not any(f.valid_error <= EXACT_LEAST_SQUARES for f in found):
        found += _polynomial_ratios(X, y, X_valid, y_valid)
    if ratios and not any(f.valid_error <= EXACT_LEAST_SQUARES for f in found):
        found += _ratios(X, y, X_valid, y_valid, terms, T)
    found = [f for f in found if math.isfinite(f.valid_error)]
    return rank(found)


def _not_clearly_worse(formula: ClosedForm, leader: ClosedForm) -> bool:
    """Within 5% of the leader's held-out error, or not significantly above it.

    Significantly: the mean of the rows' paired differences of squared errors
    exceeds two standard errors. With few held-out rows, a formula with more terms
    often leads by chance, having fitted the noise of the training rows.
    """
    if formula.valid_error <= leader.valid_error * (1 + SIMPLER_WITHIN):
        return True
    d = formula.valid_rows - leader.valid_rows
    if len(d) < 20 or not np.all(np.isfinite(d)):
        return False
    return bool(d.mean() <= 2 * d.std() / math.sqrt(len(d)))


def rank(found: list[ClosedForm]) -> list[ClosedForm]:
    """Exact formulas (simplest first); else the simplest of those not clearly worse
    than the best on the held-out rows.

    Without an exact formula, one other than the linear model must also halve the
    linear model's held-out error: a search over thousands of terms fits some noise
    of the rows that judge it, and a formula that does not clearly beat the linear
    model is not one the data hold.
    """
    if not found:
        return []
    best = min(f.valid_error for f in found)
    if best <= EXACT_LEAST_SQUARES:
        eligible = [f for f in found if f.valid_error <= EXACT_LEAST_SQUARES]
    else:
        linear = min((f.valid_error for f in found if f.kind == "linear"), default=math.inf)
        leader = min(found, key=lambda f: f.valid_error)
        eligible = [
            f
            for f in found
            if _not_clearly_worse(f, leader)
            and (f.kind == "linear" or f.valid_error <= BEAT_LINEAR * linear)
        ]
        if not eligible:
            eligible = [f for f in found if f.kind == "linear"]
    near = sorted(eligible, key=ClosedForm.complexity)
    kept = {id(f) for f in near}
    rest = sorted((f for f in found if id(f) not in kept), key=lambda f: f.valid_error)
    return near + rest
