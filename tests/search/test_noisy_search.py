"""The closed-form search on noisy tables: the right terms, never an exact formula."""

import functools
import math
import time

import numpy as np
import pytest

from sknalu.search._closed_form import ClosedForm, _judge, _make, _noisy_products, rank
from sknalu.search._rational import NoisyRationalSearch, best_subsets


def _noisy(formula, ranges, rows=1000, noise=0.01, seed=0):
    """Training and held-out rows (800 and 200) of ``formula`` with Gaussian noise
    of ``noise`` times the target's root mean square."""
    rng = np.random.RandomState(seed)
    X = np.column_stack([rng.uniform(low, high, rows) for low, high in ranges])
    y = formula(X)
    y = y + rng.normal(scale=noise * np.sqrt(np.mean(y**2)), size=rows)
    return X[:800], y[:800], X[800:], y[800:]


def _supports(formula):
    """The monomials of the numerator and of the denominator, as sets."""
    den = set() if formula.denominator is None else set(map(tuple, formula.denominator))
    return set(map(tuple, formula.numerator)), den


@pytest.mark.parametrize(
    ("ranges", "formula", "numerator", "denominator"),
    [
        (
            [(-1.0, 1.0)],
            lambda X: 1.5 * X[:, 0] ** 5 - 2 * X[:, 0] ** 3 + X[:, 0] ** 2 - 0.7 * X[:, 0],
            {(5,), (3,), (2,), (1,)},
            set(),
        ),
        (
            [(1.0, 3.0), (1.0, 3.0), (4.0, 6.0), (0.0, 2.0)],
            lambda X: 5 * X[:, 0] * X[:, 1] / (X[:, 2] - X[:, 3]) ** 2,
            {(1, 1, 0, 0)},
            {(0, 0, 2, 0), (0, 0, 1, 1), (0, 0, 0, 2)},
        ),
    ],
    ids=["polynomial", "shifted-denominator"],
)
def test_thresholded_least_squares_keeps_the_right_terms_under_noise(
    ranges, formula, numerator, denominator
):
    """Sequentially thresholded least squares, degree by degree, finds a sparse
    polynomial and a ratio whose denominator has no constant or single column
    (which the term-by-term selection needs to set to 1) on rows with 1% noise;
    none of its candidates is called exact."""
    X, y, Xv, yv = _noisy(formula, ranges)
    make = functools.partial(_make, X=X, y=y, Xv=Xv, yv=yv)
    found = list(NoisyRationalSearch(X, y, make, select=None).thresholded(largest=150))
    assert not any(f.exact for f in found)
    right = [f for f in found if _supports(f) == (numerator, denominator)]
    assert right, "no candidate with the right terms"
    assert right[0].valid_error < 2e-4  # the noise: 1e-4 of the mean squared target


def test_the_training_rows_keep_a_small_term_that_the_held_out_rows_cannot_tell():
    """With 1% noise, dropping the small term ``0.02*a**2`` of ``3*a*b + 0.02*a**2``
    costs too little on 200 held-out rows to be significant; on the 800 training
    rows the information criterion keeps it."""
    X, y, Xv, yv = _noisy(
        lambda X: 3 * X[:, 0] * X[:, 1] + 0.02 * X[:, 0] ** 2, [(1, 5), (1, 5)], seed=1
    )
    candidates = []
    for exponents in ([[1, 1]], [[1, 1], [2, 0]]):
        terms = np.array(exponents)
        A = np.column_stack([np.prod(X**t, axis=1) for t in terms])
        formula = ClosedForm(terms, np.linalg.lstsq(A, y, rcond=None)[0])
        _judge(formula, Xv, yv)
        candidates.append(formula)
    small, right = candidates
    assert rank(candidates)[0] is small  # the held-out rows alone: the simplest
    assert rank(candidates, X=X, y=y)[0] is right


def test_a_noisy_ratio_is_chosen_with_its_own_terms():
    """``vmax*c**2/(K**2 + c**2)`` with 1% noise: ratios of more terms fit the
    training rows of a linearised fit better than the right one does; refitted for
    the target itself, the right ratio has the lowest criterion."""
    sympy = pytest.importorskip("sympy")
    from sknalu.benchmarks._formula_suite import same_structure
    from sknalu.search._closed_form import find_formulas

    X, y, Xv, yv = _noisy(
        lambda X: X[:, 0] * X[:, 1] ** 2 / (X[:, 2] ** 2 + X[:, 1] ** 2),
        [(1.0, 5.0), (1.0, 5.0), (1.0, 5.0)],
    )
    found = find_formulas(X, y, Xv, yv, deadline=time.perf_counter() + 5.0)
    assert not found[0].exact
    vmax, c, K = symbols = sympy.symbols("vmax c K")
    assert same_structure(found[0].to_sympy(symbols), vmax * c**2 / (K**2 + c**2), symbols)


@pytest.mark.parametrize(
    ("ranges", "formula", "truth", "outers"),
    [
        (
            [(1.0, 4.0), (1.0, 4.0), (1.0, 4.0), (4.0, 6.0), (0.5, 2.5)],
            lambda X: X[:, 0] * X[:, 1] / (X[:, 2] * (X[:, 3] ** 2 - X[:, 4] ** 2)),
            lambda q, E, m, w0, w: q * E / (m * (w0**2 - w**2)),
            (),
        ),
        (
            [(1.0, 5.0), (1.0, 5.0), (1.0, 5.0), (1.0, 5.0)],
            lambda X: np.sqrt((X[:, 1] - X[:, 0]) ** 2 + (X[:, 3] - X[:, 2]) ** 2),
            lambda x1, x2, y1, y2: sympy_sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2),
            ("sqrt",),
        ),
    ],
    ids=["product-in-front-of-a-ratio", "root-of-a-polynomial"],
)
def test_a_product_or_root_around_a_noisy_ratio_keeps_its_terms(ranges, formula, truth, outers):
    """With 1% noise, the product in front (``q*E/m``) leaves a ratio of two
    columns, and the square of a root a polynomial, which thresholded least
    squares (rows weighted for the target's own errors) finds where the whole
    table's ratio of degree 3 is lost in the noise; ranked on the training rows,
    the right formula comes first, and none is exact."""
    sympy = pytest.importorskip("sympy")
    from sknalu.benchmarks._formula_suite import same_structure
    from sknalu.search._closed_form import _noisy_products

    X, y, Xv, yv = _noisy(formula, ranges, seed=2)
    found = list(_noisy_products(X, y, Xv, yv, outers, deadline=math.inf))
    assert found and not any(f.exact for f in found)
    best = rank(found, X=X, y=y)[0]
    symbols = sympy.symbols(f"x0:{X.shape[1]}", positive=True)
    assert same_structure(best.to_sympy(symbols), truth(*symbols), symbols)


def sympy_sqrt(expression):
    import sympy

    return sympy.sqrt(expression)


def test_two_terms_that_fit_only_together_are_swapped_in():
    """``-5.41 + 1.63*(c - a)/d + 1.63*b/d**2`` with 1% noise: ``c/d`` and ``a/d``
    fit the target only together, and neither is the best single term to add, so
    forward selection with single swaps kept ``a**2/(c*d)`` and ``c**2/(a*d)``
    (ten times the noise's error); swapping a pair of terms at once finds them."""
    from sknalu.search._closed_form import _sums, _usable, library

    X, y, Xv, yv = _noisy(
        lambda X: -5.41 + 1.633 * (X[:, 2] - X[:, 0]) / X[:, 3] + 1.633 * X[:, 1] / X[:, 3] ** 2,
        [(1.0, 5.0)] * 4,
    )
    terms, T = _usable(X, Xv, library(4))
    best = min(_sums(X, y, Xv, yv, terms, T), key=lambda f: f.valid_error)
    right = {(0, 0, 0, 0), (1, 0, 0, -1), (0, 0, 1, -1), (0, 1, 0, -2)}
    assert _supports(best) == (right, set())
    assert best.valid_error < 2e-4 and not best.exact


def test_constants_inside_functions_count_against_a_formula():
    """The information criterion counts every constant a formula fits, those
    inside its functions too: ``(a*x0*x1 + x2)**(3/2)`` fits two, however few its
    terms. Counted as one term, a power of a sum with two inner constants fitted
    the training rows of a noisy monomial a little better than the monomial and
    came first."""
    from sknalu.search._closed_form import _criterion
    from sknalu.search._functions import Composed, Factor, FunctionSum, Term

    inner = np.array([[1, 1, 0], [0, 0, 1]])
    power = Factor("id", inner, np.array([1.0, 8.3]), power=1.5)
    assert FunctionSum([Term(np.array([0, 0, -1]), (power,))], np.ones(1)).n_parameters() == 2
    shifted_exp = Factor("exp", inner[:1], np.array([-0.5]), shift=1.0)
    assert FunctionSum([Term(np.zeros(3, int), (shifted_exp,))], np.ones(1)).n_parameters() == 3
    frozen = Factor("log", inner[:1], np.array([1.0]), frozen=True)
    assert FunctionSum([Term(np.zeros(3, int), (frozen,))], np.ones(1)).n_parameters() == 1
    monomial = ClosedForm(np.array([[1, 1, -1]]), np.array([1.0]))
    assert monomial.n_parameters() == 1
    assert Composed(monomial, "reciprocal").n_parameters() == 2

    # x0*x1/x2 + s written with a constant s inside: it fits the noisy monomial
    # about as well, and its criterion is the worse by that constant.
    X, y, *_ = _noisy(lambda X: X[:, 0] * X[:, 1] / X[:, 2], [(1.0, 5.0)] * 3)
    plus = Factor("id", np.array([[1, 1, -1]]), np.array([1.0]), shift=1e-3)
    shifted = FunctionSum([Term(np.zeros(3, int), (plus,))], np.ones(1))
    for formula in (monomial, shifted):
        formula.refit_(X, y)
    assert abs(_criterion(shifted, X, y) - _criterion(monomial, X, y)) > 10
    assert _criterion(shifted, X, y) > _criterion(monomial, X, y)


@pytest.mark.parametrize(
    ("ranges", "formula", "numerator", "denominator"),
    [
        (
            [(1.0, 5.0), (1.0, 5.0), (0.0, 1.0), (4.0, 6.0), (0.0, 1.0), (0.0, 1.0)],
            lambda X: X[:, 0] * X[:, 1] / ((X[:, 3] - X[:, 2]) ** 2 + (X[:, 5] - X[:, 4]) ** 2),
            {(1, 1, 0, 0, 0, 0)},
            {(0, 0, 2, 0, 0, 0), (0, 0, 1, 1, 0, 0), (0, 0, 0, 2, 0, 0)}
            | {(0, 0, 0, 0, 2, 0), (0, 0, 0, 0, 1, 1), (0, 0, 0, 0, 0, 2)},
        ),
        (
            [(1.0, 5.0), (0.5, 1.0), (10.0, 20.0), (5.0, 8.0)],
            lambda X: X[:, 0] * X[:, 1] ** 2 / ((X[:, 2] - X[:, 3]) ** 2 + X[:, 1] ** 2),
            {(1, 2, 0, 0)},
            {(0, 2, 0, 0), (0, 0, 2, 0), (0, 0, 1, 1), (0, 0, 0, 2)},
        ),
    ],
    ids=["gravitation-between-points", "lorentzian"],
)
def test_backward_elimination_keeps_the_small_terms_of_a_noisy_denominator(
    ranges, formula, numerator, denominator
):
    """``m1*m2/((x2 - x1)**2 + (y2 - y1)**2)`` with the points far apart in ``x``
    and near in ``y``, and ``A*g**2/((f - f0)**2 + g**2)`` with ``g`` small: with 1%
    noise the small terms of the denominator have coefficients as small as the
    noise's in the full fit, so that thresholding loses them, and the linearised
    fit ``y D = N`` keeps spurious terms that match the noise. Eliminated one at
    a time by the least squares of ``y`` itself, the right ratio has the lowest
    criterion of the candidates, and none is exact."""
    X, y, Xv, yv = _noisy(formula, ranges)
    make = functools.partial(_make, X=X, y=y, Xv=Xv, yv=yv)
    search = NoisyRationalSearch(X, y, make, select=None)
    found = list(search.eliminated(largest=64))
    assert found and not any(f.exact for f in found)
    assert _supports(rank(found, X=X, y=y)[0]) == (numerator, denominator)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_product_in_front_of_a_difference_of_alike_powers_keeps_its_two_terms(seed):
    """``5.67e-8*e*A*(T**4 - Ta**4)`` (net radiated power) with ``T`` in [400, 600]
    and ``Ta`` in [250, 300]: behind the product ``e*A`` the powers of each
    temperature are alike, and the backward path through them (weighted by the
    product's square) leaves the two terms on the way down; the best pair of
    every pair of the degree's monomials is the pair of fourth powers."""
    ranges = [(0.1, 1.0), (1.0, 5.0), (400.0, 600.0), (250.0, 300.0)]
    X, y, Xv, yv = _noisy(
        lambda X: 5.67e-8 * X[:, 0] * X[:, 1] * (X[:, 2] ** 4 - X[:, 3] ** 4), ranges, seed=seed
    )
    found = list(_noisy_products(X, y, Xv, yv, (), time.perf_counter() + 60))
    assert found and not any(f.exact for f in found)
    best = rank(found, X=X, y=y)[0]
    assert _supports(best) == ({(1, 1, 4, 0), (1, 1, 0, 4)}, set())


def test_best_subsets_find_the_sparse_truth_among_alike_columns():
    """On exact rows the best set of each size is the formula's where it has that
    many terms, and its residual is rounding: columns of powers of a range far
    from 0, which a path dropping one at a time can misorder."""
    rng = np.random.RandomState(0)
    x = rng.uniform(400.0, 600.0, 300)
    T = np.column_stack([x**k for k in range(6)])
    T = T / np.linalg.norm(T, axis=0)
    target = 2.0 * T[:, 1] - 3.0 * T[:, 4]
    subsets = dict((len(s), (s, rss)) for s, rss in best_subsets(T, target))
    support, rss = subsets[2]
    assert support == [1, 4]
    assert rss < 1e-12 * (target @ target)
    assert all(rss_k <= rss for k, (_, rss_k) in subsets.items() if k > 2)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_polynomial_of_many_columns_keeps_its_terms_beyond_the_exhaustive_sets(seed):
    """``x0 + dx*(10*s**3 - 15*s**4 + 6*s**5)`` (a minimum-jerk trajectory) with
    ``s`` in [0.1, 0.5] is a polynomial of degree 6 in three columns: 84
    monomials, too many for every set of four; the best three with the best
    fourth added, then swapped, is its support, which the backward path misses
    (the powers of ``s`` are alike)."""
    X, y, Xv, yv = _noisy(
        lambda X: X[:, 0] + X[:, 1] * (10 * X[:, 2] ** 3 - 15 * X[:, 2] ** 4 + 6 * X[:, 2] ** 5),
        [(1.0, 5.0), (1.0, 10.0), (0.1, 0.5)],
        seed=seed,
    )
    make = functools.partial(_make, X=X, y=y, Xv=Xv, yv=yv)
    found = list(NoisyRationalSearch(X, y, make, select=None).eliminated(0, polynomials=200))
    assert found and not any(f.exact for f in found)
    best = rank(found, X=X, y=y)[0]
    assert _supports(best) == ({(1, 0, 0), (0, 1, 3), (0, 1, 4), (0, 1, 5)}, set())


def test_the_lowest_of_many_held_out_errors_leads_a_formula_by_chance():
    """A lead of 2.7 standard errors of the paired differences is significant
    against one formula, but not for the lowest of 700 held-out errors: the
    largest of 700 chance deviations is about that large."""
    from types import SimpleNamespace

    from sknalu.search._closed_form import _not_clearly_worse

    rows = np.ones(100)
    d = 0.08 + 0.3 * np.resize([1.0, -1.0], 100)  # mean 0.08, standard error 0.03
    leader = SimpleNamespace(valid_error=1.0, valid_rows=rows)
    formula = SimpleNamespace(valid_error=1.08, valid_rows=rows + d)
    assert not _not_clearly_worse(formula, leader)
    assert _not_clearly_worse(formula, leader, compared=700)
    far = SimpleNamespace(valid_error=1.2, valid_rows=rows + 0.2 + 0.3 * np.resize([1, -1], 100))
    assert not _not_clearly_worse(far, leader, compared=700)


def test_formulas_the_noisy_rows_rate_alike_put_integer_powers_before_roots():
    """On a narrow range, ``c*x`` and ``c*sqrt(x)`` fit noisy rows alike with one
    constant each; the narrower class of integer powers comes first, though the
    root's degree is lower."""
    X, y, Xv, yv = _noisy(lambda X: 3 * X[:, 0], [(1.0, 1.001)])
    root = _make(np.array([[0.5]]), np.array([1.0]), None, None, X, y, Xv, yv)
    line = _make(np.array([[1.0]]), np.array([1.0]), None, None, X, y, Xv, yv)
    for formula in (root, line):
        formula.refit_(X, y)
        _judge(formula, Xv, yv)
    assert root.has_roots and not line.has_roots
    assert root.complexity() < line.complexity()
    assert rank([root, line], X=X, y=y)[0] is line
    assert rank([line, root], X=X, y=y)[0] is line


def test_a_step_past_its_share_of_the_time_leaves_it_to_the_last_steps():
    """The steps in front of the noisy data's last ones (``_NOISY_SHARE`` of the
    time) do nothing once their own deadline has passed."""
    from sknalu.search._closed_form import _before

    calls = []
    step = _before(time.perf_counter() + 60, lambda: calls.append(1) or [1])
    late = _before(time.perf_counter() - 1, lambda: calls.append(2) or [2])
    assert list(step()) == [1] and list(late()) == [] and calls == [1]


def test_the_quick_and_the_full_search_of_a_common_factor_share_their_sums(monkeypatch):
    """``y = M(x) S(x)`` on noisy rows: each product ``M`` and columns of ``S``
    are searched once by each search, and the sums of library terms of each
    target ``y / M`` (and of its reciprocal, and over the wide library) are made
    once for both searches."""
    from sknalu.search import _closed_form

    X, y, Xv, yv = _noisy(
        lambda X: X[:, 0] * X[:, 1] / (X[:, 2] - X[:, 3]) ** 2,
        [(1.0, 5.0), (1.0, 5.0), (6.0, 7.0), (1.0, 5.0)],
    )
    targets = []
    sums = _closed_form._sums

    def counted(X, y, Xv, yv, terms, *args, **kwargs):
        targets.append((y.tobytes(), len(terms)))
        return sums(X, y, Xv, yv, terms, *args, **kwargs)

    monkeypatch.setattr(_closed_form, "_sums", counted)
    deadline = time.perf_counter() + 60
    first = {}
    full = _closed_form._exact_search(deadline, largest=_closed_form._SMALL_RATIONAL, first=first)
    quick = _closed_form._exact_search(deadline, quick=True, first=first)
    judge = functools.partial(_closed_form._judge_and_confirm, X=X, y=y)
    found = list(_closed_form._common_factor(X, y, Xv, yv, full, judge, quick_search=quick))
    assert not any(f.exact for f in found)
    assert targets and len(targets) == len(set(targets))
