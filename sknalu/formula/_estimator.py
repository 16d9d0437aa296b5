"""The estimators' formula: ``formula_``, ``to_sympy`` and the check that it is exact.

:class:`FormulaMixin` reads the fitted network back through
:mod:`sknalu.formula._reader` and says whether the formula is the target's: its
weights discrete, its held-out R² at least ``EXACT_R2`` and its values what
``predict`` computes on the training rows (``AGREEMENT``). Only an exact formula
writes its constants as simple numbers (fractions, multiples of π); every reading
is tidied of the marks of floating point (``1.0*x``, ``+ 4.4e-16``). Its other
forms, LaTeX and a numpy or torch function, come from
:class:`~sknalu.formula._export.FormulaExportMixin`. sympy is an optional
dependency (``pip install "sknalu[formula]"``), imported only when a formula is
built.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ..exact._tolerances import (
    AGREEMENT,
    EXACT_R2,
    EXACT_RELATIVE_MSE,
    FORMULA_TOLERANCE,
    MIN_EXACT_ROWS,
    NEGLIGIBLE,
)
from ..exceptions import FormulaWarning
from ._export import FormulaExportMixin
from ._reader import (
    _check_tolerance,
    _import_sympy,
    gate_ranges,
    max_distance,
    network_formula,
    symbol_names,
)

if TYPE_CHECKING:  # pragma: no cover
    import sympy

#: Training rows, and values, kept at most with a fitted estimator to check its
#: formula against ``predict`` when the formula is first read: a bounded sample, so
#: that a saved model does not grow with the data.
_CHECK_ROWS, _CHECK_VALUES = 256, 2048
#: Significant digits tried, fewest first, for the coefficients of ``formula_``.
_DIGITS = (4, 8, None)


def _relative_difference(f: np.ndarray, p: np.ndarray) -> float:
    """Largest difference between formula values ``f`` and predictions ``p``.

    Each row's difference is divided by the larger of ``|p|`` and the root mean
    square of the output's predictions, so that rows near 0 do not count more than
    the output's scale. Rows whose prediction is not finite are left out (predict
    warns about them).

    Examples
    --------
    >>> p = np.array([[1.0], [2.0], [0.0]])
    >>> round(_relative_difference(p + [[0.0], [0.02], [0.0]], p), 6)
    0.01
    """
    finite = np.isfinite(p)
    with np.errstate(all="ignore"):
        rms = np.sqrt(np.mean(np.square(np.where(finite, p, 0.0)), axis=0))
        d = np.abs(f - p) / np.maximum(np.abs(p), rms)
    d = np.where(f == p, 0.0, np.nan_to_num(d, nan=np.inf))
    return float(np.where(finite, d, 0.0).max(initial=0.0))


def _integral_floats(expr, sympy):
    """``expr`` with every Float that is written as a whole number made an Integer.

    A Float is written with its own digits (``1.0000000000000002`` as
    ``1.00000000000000``, ``2.00003`` with 4 digits as ``2.000``): one that shows a
    whole number is that number, and ``1.0*x`` reads ``x``.

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x")
    >>> _integral_floats(sympy.Float(1.0000000000000002) * x + sympy.Float(2.00003, 4), sympy)
    x + 2
    """
    swap = {}
    for f in expr.atoms(sympy.Float):
        shown = float(str(f))
        if shown.is_integer() and abs(shown) < 2**53:
            swap[f] = sympy.Integer(int(shown))
    return expr.xreplace(swap) if swap else expr


def _roots_tidied(expr, symbols: list, rows: np.ndarray, sympy):
    """``expr`` with each square root's squared factors taken out of it, where that
    computes the same on ``rows``.

    A square root unit computes ``sqrt(mu**2*(Bx**2 + By**2))``, which is
    ``mu*sqrt(Bx**2 + By**2)`` wherever ``mu`` is positive: the factors of the
    numerator and the denominator under the root that are a symbol to an even
    power, or a square rational, come out. The rewriting is kept where it agrees
    with ``expr`` on ``rows`` to rounding (a column negative on some row keeps its
    square inside), so the formula computes what ``predict`` computes on them.

    Examples
    --------
    >>> import sympy
    >>> mu, bx, by = sympy.symbols("mu bx by")
    >>> rows = np.array([[1.0, 2.0, 3.0], [2.0, 1.0, 0.5]])
    >>> _roots_tidied(sympy.sqrt(9 * mu**2 * bx**2 + 9 * mu**2 * by**2), [mu, bx, by], rows, sympy)
    3*mu*sqrt(bx**2 + by**2)
    """
    half = sympy.Rational(1, 2)

    def is_root(p) -> bool:
        return p.is_Pow and p.exp in (half, -half)

    if not any(is_root(p) for p in expr.atoms(sympy.Pow)):
        return expr

    def pulled(root):
        if root.exp == -half:
            return 1 / pulled(sympy.sqrt(root.base))
        num, den = sympy.fraction(sympy.together(sympy.factor_terms(root.base)))
        (out_n, in_n), (out_d, in_d) = _square_part(num, sympy), _square_part(den, sympy)
        if out_n == 1 and out_d == 1:
            return root
        if in_n.could_extract_minus_sign() and in_d.could_extract_minus_sign():
            in_n, in_d = -in_n, -in_d
        return out_n / out_d * sympy.sqrt(in_n) / sympy.sqrt(in_d)

    tidied = expr.replace(is_root, pulled)
    if tidied == expr:
        return expr
    before, after = (_values(e, symbols, rows, sympy) for e in (expr, tidied))
    if before is None or after is None:
        return expr
    with np.errstate(all="ignore"):
        scale = np.sqrt(np.mean(np.square(before)))
        agree = np.all(np.abs(after - before) <= 1e-9 * scale)
    return tidied if agree and np.isfinite(scale) else expr


def _square_part(expr, sympy) -> tuple:
    """``(s, rest)`` with ``expr = s**2 * rest``: ``s`` the product of the symbols
    to a power of 2 or more (to half of its even part) and of the root of a
    square rational factor, ``rest`` the remainder."""
    coef, factors = sympy.factor_terms(expr).as_coeff_mul()
    out, rest = sympy.Integer(1), []
    if coef.is_Rational and coef > 0:
        p, q = sympy.sqrt(coef.p), sympy.sqrt(coef.q)
        if p.is_Integer and q.is_Integer:
            out, coef = p / q, sympy.Integer(1)
    for factor in factors:
        base, exponent = factor.as_base_exp()
        if base.is_Symbol and exponent.is_Integer and abs(exponent) >= 2:
            half = int(math.copysign(abs(int(exponent)) // 2, int(exponent)))
            out *= base**half
            rest.append(base ** (exponent - 2 * half))
        else:
            rest.append(factor)
    return out, coef * sympy.Mul(*rest)


def _values(expr, symbols: list, rows: np.ndarray, sympy) -> np.ndarray | None:
    """``expr`` on each of ``rows`` (float64), or None where it is not real there."""
    function = sympy.lambdify(symbols, expr, "numpy", dummify=True)
    with np.errstate(all="ignore"):
        value = np.asarray(function(*rows.T))
    if np.iscomplexobj(value):
        if np.any(value.imag != 0):
            return None
        value = value.real
    return np.broadcast_to(value.astype(np.float64), len(rows))


def _rms(expr, symbols: list, rows: np.ndarray, sympy) -> float:
    """Root mean square of ``expr`` over ``rows``; inf where it is not finite or
    not real (a constant such as ``(-2.3)**0.7`` in a trained network's term)."""
    value = _values(expr, symbols, rows, sympy)
    if value is None:
        return math.inf
    with np.errstate(all="ignore"):
        rms = float(np.sqrt(np.mean(np.square(value))))
    return rms if math.isfinite(rms) else math.inf


def _tidy(expressions: list, symbols: list, rows: np.ndarray, scales: np.ndarray) -> list:
    """``expressions`` without the marks of floating-point rounding.

    Floats that are written as whole numbers become Integers (no ``1.0*``), and a
    term with a Float in it is dropped from an output's sum where it is at most
    ``NEGLIGIBLE`` of the output's root mean square over ``rows`` (``scales``): a
    constant ``+ 4.4e-16`` next to values near 1 is what rounding left, not part of
    the formula. Square roots give up their squared factors (:func:`_roots_tidied`),
    and a formula of exact numbers is factored where that is shorter (:func:`_factored`).
    """
    sympy = _import_sympy()
    tidy = []
    for expr, scale in zip(expressions, scales, strict=True):
        expr = _integral_floats(sympy.sympify(expr), sympy)
        expr = _roots_tidied(expr, symbols, rows, sympy)
        if isinstance(expr, sympy.Add):
            terms = [
                t
                for t in expr.args
                if not (t.has(sympy.Float) and _rms(t, symbols, rows, sympy) <= NEGLIGIBLE * scale)
            ]
            expr = sympy.Add(*terms)
        tidy.append(_factored(expr, sympy))
    return tidy


#: Expressions of up to this many operations are tried factored, and kept so
#: where that saves at least this many (:func:`_factored`): ``m*(981*h +
#: 50*v**2)/100`` saves one over ``981*h*m/100 + m*v**2/2``, and reads worse.
_FACTORED_OPS, _FACTORED_GAIN = 40, 2


def _factored(expr, sympy):
    """``expr`` factored where that writes it with at least ``_FACTORED_GAIN``
    fewer operations and no larger number, and it holds exact numbers only:
    ``(-c*v/2 + p/2)/(c**2/2 + c*v + v**2/2)`` is
    ``(p - c*v)/(c + v)**2``, ``1/(c/p + 2*v + p*v**2/c)`` is ``c*p/(c + p*v)**2``;
    ``981*h*m/100000 + m*v**2/25920`` stays, as its constants would merge. The
    argument of a function is factored where that saves one operation:
    ``sin(x*y - x - y + 1)`` is ``sin((x - 1)*(y - 1))``. A formula with fitted
    constants (Floats) stays as it is."""
    if expr.has(sympy.Float) or sympy.count_ops(expr) > _FACTORED_OPS:
        return expr
    expr = expr.replace(
        lambda e: isinstance(e, sympy.Function) and len(e.args) == 1,
        lambda e: e.func(_shorter(e.args[0], sympy.factor(e.args[0]), 1, sympy)),
    )
    return _shorter(expr, sympy.factor(expr), _FACTORED_GAIN, sympy)


def _shorter(expr, factored, gain: int, sympy):
    """``factored`` where it has at least ``gain`` fewer operations than ``expr``
    and no larger number, else ``expr``."""
    fewer = sympy.count_ops(factored) <= sympy.count_ops(expr) - gain
    return factored if fewer and _largest_number(factored) <= _largest_number(expr) else expr


def _largest_number(expr) -> int:
    """The largest numerator or denominator of the rational numbers in ``expr``."""
    return max((max(abs(r.p), r.q) for r in expr.atoms() if r.is_Rational), default=0)


def _format_r2(score: float) -> str:
    return f"1 - {1 - score:.2g}" if 0.99 < score < 1 else f"{score:.3g}"


def _rounding_evidence(est) -> tuple[float, int, str, float]:
    """The held-out relative error, the table's rows, the dtype, and the dtype's bound.

    Set by the estimator's fit (``_exactness_evidence``); a fit without it has no
    evidence of exactness.
    """
    error, n_rows, dtype = getattr(est, "_exactness_evidence", (math.inf, 0, "float64"))
    return error, n_rows, dtype, EXACT_RELATIVE_MSE.get(dtype, EXACT_RELATIVE_MSE["float32"])


def _fits_to_rounding(est) -> bool:
    """Whether the fit is close enough, on enough rows, for its formula to be exact.

    The held-out R² at least ``EXACT_R2``, the held-out mean squared error at most
    ``EXACT_RELATIVE_MSE`` of the mean squared target (float rounding, for the
    network's floating-point type), and a table of at least ``MIN_EXACT_ROWS``
    rows: a formula with fitted constants can approximate a smooth function to
    1e-12 on a narrow range, or fit a few rows of anything, but not to rounding.
    """
    error, n_rows, _, bound = _rounding_evidence(est)
    return bool(est.validation_score_ >= EXACT_R2 and error <= bound and n_rows >= MIN_EXACT_ROWS)


def _not_to_rounding_reason(est) -> str:
    """Why a fit with a high held-out R² is still not called exact."""
    error, n_rows, dtype, bound = _rounding_evidence(est)
    if n_rows < MIN_EXACT_ROWS:
        return (
            f"The table has {n_rows} rows, fewer than the {MIN_EXACT_ROWS} it takes to "
            "tell a formula from a fit: a few constants fit a few rows of anything."
        )
    return (
        f"The fit is close but not exact: its held-out mean squared error is "
        f"{error:.3g} of the mean squared target, above the "
        f"{bound:g} of {dtype} "
        "rounding, as when a formula only approximates the target on this range; it "
        "may be far off outside it."
    )


class _FormulaReading(FormulaExportMixin):
    """The readings of the formula behind :class:`FormulaMixin`'s attributes and methods."""

    def _feature_names(self) -> list[str]:
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            return [f"x{i}" for i in range(self.n_features_in_)]
        return [str(n) for n in names]

    def _symbols(self) -> list:
        """The features' sympy Symbols, named by :func:`symbol_names`."""
        sympy = _import_sympy()
        return [sympy.Symbol(name) for name in symbol_names(self._feature_names())]

    def _is_vector(self) -> bool:
        return getattr(self, "_y_ndim", 1) != 1

    def _read(self, tolerance: float, digits: int | None = None, simple: bool = True) -> list:
        """The network's formula, tidied (:func:`_tidy`); its constants are simple
        numbers only when ``simple``, which only a reading that may be exact asks for."""
        expressions = network_formula(
            self.net_.module_, self._feature_names(), tolerance, self._gate_ranges, digits, simple
        )
        predicted = self._predicted(self._check_rows)
        with np.errstate(all="ignore"):
            finite = np.where(np.isfinite(predicted), predicted, 0.0)
            scales = np.sqrt(np.mean(np.square(finite), axis=0))
        return _tidy(expressions, self._symbols(), self._check_rows, scales)

    def _predicted(self, rows: np.ndarray) -> np.ndarray:
        """What the network predicts for ``rows``, one column per output."""
        module = self.net_.module_
        param = next(module.parameters())
        module.eval()
        with torch.no_grad():
            X = torch.as_tensor(rows, dtype=param.dtype, device=param.device)
            return module(X).cpu().numpy().reshape(len(rows), -1)

    def _difference(self, expressions: list, rows: np.ndarray | None = None) -> float:
        """How far ``expressions`` are from ``predict`` (see :func:`_relative_difference`)."""
        sympy = _import_sympy()
        rows = self._check_rows if rows is None else rows
        predicted = self._predicted(rows)
        symbols = self._symbols()
        columns = []
        with np.errstate(all="ignore"):
            for expression in expressions:
                # Dummy arguments: a symbol named like a name of the generated code
                # (``e``, ``numpy``) would shadow it.
                function = sympy.lambdify(symbols, expression, "numpy", dummify=True)
                value = function(*rows.T)
                columns.append(np.broadcast_to(np.asarray(value, dtype=np.float64), len(rows)))
        return _relative_difference(np.stack(columns, axis=1), predicted)

    def _default_reading(self, digits: tuple[int | None, ...]) -> tuple[list, float]:
        """The formula as read by default, with its difference from ``predict``.

        Weights within ``FORMULA_TOLERANCE`` of a discrete value are read as that
        value, and the coefficients left get the fewest of ``digits`` significant
        digits, as long as the formula then computes what ``predict`` computes
        (relative ``AGREEMENT``); failing that, a network whose formula is not exact
        is read as its weights are. The reading closest to ``predict`` is returned
        when none agrees. Only an exact formula has simple constants (fractions,
        multiples of π): the others are written as decimals.
        """
        if self.formula_exact_:
            expressions = self._read(FORMULA_TOLERANCE)
            return expressions, self._difference(expressions)
        closest = None
        for tolerance in (FORMULA_TOLERANCE, 0.0):
            for d in digits:
                expressions = self._read(tolerance, d, simple=False)
                difference = self._difference(expressions)
                if difference <= AGREEMENT:
                    return expressions, difference
                if closest is None or difference < closest[1]:
                    closest = (expressions, difference)
        return closest

    def _inexact_reasons(self, tolerance: float, difference: float, default: bool) -> list[str]:
        """Why the formula read with ``tolerance`` is not exact; empty when it is."""
        reasons = []
        distance = max_distance(self.net_.module_, self._gate_ranges)
        if not distance <= tolerance:
            reasons.append(
                f"The network did not converge to an exact formula: a weight or gate is "
                f"{distance:.3g} away from its discrete values, more than "
                f"tolerance={tolerance:g}. Such weights appear as floating-point "
                "coefficients."
            )
        score = self.validation_score_
        if not score >= EXACT_R2:
            discrete = ", although its weights are discrete" if distance <= tolerance else ""
            reasons.append(
                f"The network does not fit the held-out data{discrete}: its R² there is "
                f"{_format_r2(score)}, and an exact formula has at least 1 - 1e-09. The "
                "formula is not the one behind the target."
            )
        elif not _fits_to_rounding(self):
            reasons.append(_not_to_rounding_reason(self))
        elif getattr(self, "_extrapolation_miss", None) is not None:
            reasons.append(
                "The fit is close but not exact: refitted on the rows in the middle of "
                "the table, the formula misses the outer rows by "
                f"{self._extrapolation_miss:.3g} (relative mean squared error), more "
                "than an exact formula does: it approximates the target on this range "
                "and may be far off outside it."
            )
        if difference > AGREEMENT:
            reasons.append(
                f"The formula differs from predict by up to {100 * difference:.3g}% on "
                f"{len(self._check_rows)} of the training rows."
            )
        elif default and self._rounding_difference > AGREEMENT:
            reasons.append(
                "Reading the weights as discrete values would change the predictions by "
                f"up to {100 * self._rounding_difference:.3g}% on the training rows, so "
                "they appear as they are."
            )
        return reasons

    def _checked_reading(self, tolerance: float | None, shortest: bool = False) -> list:
        """The formula's expressions read with ``tolerance``; warns when not exact.

        By default (``tolerance`` None), the reading of ``formula_``: with the fewest
        digits that agree with ``predict`` where ``shortest``, else with all. With a
        tolerance, constants are simple numbers only where the reading is exact.
        """
        default = tolerance is None
        tolerance = FORMULA_TOLERANCE if default else _check_tolerance(tolerance)
        _import_sympy()
        if default:
            expressions, difference = self._default_reading(_DIGITS if shortest else (None,))
        else:
            distance = max_distance(self.net_.module_, self._gate_ranges)
            simple = distance <= tolerance and _fits_to_rounding(self)
            expressions = self._read(tolerance, simple=simple)
            difference = self._difference(expressions)
            if simple and difference > AGREEMENT:
                expressions = self._read(tolerance, simple=False)
                difference = self._difference(expressions)
        reasons = self._inexact_reasons(tolerance, difference, default)
        if reasons:
            warnings.warn(" ".join(reasons), FormulaWarning, stacklevel=3)
        return expressions


class FormulaMixin(_FormulaReading):
    """Reading the formula of a fitted arithmetic-unit regressor.

    Expects ``net_`` (the skorch net holding the one-copy network), ``n_features_in_``,
    ``validation_score_`` (the kept network's R² on the held-out rows) and,
    optionally, ``feature_names_in_``.
    """

    #: Private attributes that :meth:`_fit_formula` sets.
    _formula_state = (
        "_gate_ranges",
        "_distance",
        "_check_rows",
        "_formula_text",
        "_rounding_difference",
        "_exactness_evidence",
        "_extrapolation_miss",
    )

    def _not_exact_(self, extrapolation_error: float) -> None:
        """Mark the formula not exact: it fits the held-out rows to rounding but,
        refitted on the rows in the middle of the table, misses the outer ones by
        ``extrapolation_error`` (relative mean squared error): an approximation."""
        error, n_rows, dtype = self._exactness_evidence
        self._exactness_evidence = (max(error, extrapolation_error), n_rows, dtype)
        self._extrapolation_miss = extrapolation_error
        self.formula_exact_ = False
        self._formula_text = None

    def _fit_formula(self, X: torch.Tensor, known_gate_ranges: list | None = None) -> None:
        """Set ``sparsity_error_`` and ``formula_exact_`` after fit.

        ``formula_`` itself is read from the network when first asked for: sympy's
        simplification costs more than a short fit, and a grid search never needs it.
        A sample of the training rows is kept to check it against ``predict`` then.
        ``known_gate_ranges``, the gates' ranges over all the training rows, stand in
        for those measured on ``X`` where ``X`` is only a sample of them (a model
        loaded from a file).
        """
        module = self.net_.module_
        if known_gate_ranges is None:
            known_gate_ranges = gate_ranges(module, X)
        self._gate_ranges = known_gate_ranges
        with torch.no_grad():
            self.sparsity_error_ = float(module.sparsity_error().max())
        self._distance = max_distance(module, self._gate_ranges)
        order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
        n_rows = min(_CHECK_ROWS, max(16, _CHECK_VALUES // max(1, X.shape[1])))
        rows = order[:n_rows].sort().values.to(X.device)
        self._check_rows = X.index_select(0, rows).cpu().numpy()
        self._formula_text = None
        self._extrapolation_miss = None
        # How far the formula read with the default tolerance is from predict on
        # the training rows.
        self._rounding_difference = 0.0
        discrete = self._distance <= FORMULA_TOLERANCE
        fits = _fits_to_rounding(self)
        if discrete and fits:
            # A formula is marked exact only if it computes what the network computes
            # (the reading may round weights or gates that are not exactly discrete).
            try:
                expressions = self._read(FORMULA_TOLERANCE)
                self._rounding_difference = self._difference(expressions, X.cpu().numpy())
            except ImportError:
                pass  # Without sympy there is no formula to check.
        self.formula_exact_ = bool(discrete and fits and self._rounding_difference <= AGREEMENT)

    @property
    def formula_symbols_(self) -> dict[str, str] | None:
        """The feature of each symbol of the formula: ``{symbol name: feature name}``.

        A feature's symbol is named after its column, or ``x0``, ``x1``, ... for an
        array, where sympy reads that name back as the symbol: ``price`` stays
        ``price``. A name that is not a Python identifier, is a keyword, or that sympy
        gives a meaning to gets a safe name instead: each run of other characters
        becomes ``_`` (``"unit price"`` reads ``unit_price``, ``"qty-2"``
        ``qty_2``), a leading digit gets a ``_`` before it (``"2"`` reads ``_2``), a
        keyword or sympy name a ``_`` after it (``"pi"`` reads ``pi_``, ``"E"``
        ``E_``, ``"lambda"`` ``lambda_``), and a name already taken a suffix ``_1``,
        ``_2``, ... (``"x y"`` reads ``x_y_1`` next to a column ``x_y``). ``None``
        without sympy, like ``formula_``.

        Examples
        --------
        >>> from sknalu import NMURegressor
        >>> import numpy as np
        >>> import pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame({"unit price": rng.uniform(1, 2, 200), "qty": rng.uniform(1, 2, 200)})
        >>> est = NMURegressor(max_steps=2000, random_state=0)
        >>> est = est.fit(X, X["unit price"] * X["qty"])
        >>> est.formula_
        'qty*unit_price'
        >>> est.formula_symbols_
        {'unit_price': 'unit price', 'qty': 'qty'}
        """
        check_is_fitted(self)
        names = self._feature_names()
        try:
            return dict(zip(symbol_names(names), names, strict=True))
        except ImportError:
            return None

    @property
    def formula_(self) -> str | None:
        """The learned formula as a string; ``None`` without sympy (see Attributes).

        The string is what ``str`` writes of the expression :meth:`to_sympy`
        returns, in the same symbols (``formula_symbols_`` says which feature each
        one is), so that ``sympy.sympify(est.formula_)`` reads an exact formula back
        as that expression, whatever the column names. An approximate one starts
        with ``"≈ "``, which has to be removed first, and may end with how much it
        differs from :meth:`predict`.
        """
        check_is_fitted(self)
        if self._formula_text is None:
            try:
                expressions, difference = self._default_reading(_DIGITS)
            except ImportError:
                # The formula is an extra: everything else works without sympy.
                return None
            text = str(expressions) if self._is_vector() else str(expressions[0])
            if not self.formula_exact_:
                text = f"≈ {text}"
            if difference > AGREEMENT:
                text += (
                    f"  (differs from predict by up to {100 * difference:.3g}% on "
                    f"{len(self._check_rows)} of the training rows)"
                )
            self._formula_text = text
        return self._formula_text

    def to_sympy(self, tolerance: float | None = None) -> sympy.Expr | sympy.Matrix:
        """The formula the fitted network computes, as a sympy expression.

        The kept network is read layer by layer: every weight within ``tolerance`` of
        its unit's discrete values ({-1, 0, 1} for NAU, NAC and Linear units, {0, 1}
        for NMU and NMRU units, multiples of ½ for the Real NPU) counts as that value, so
        inputs with weight 0 vanish, and sympy collects the sums and products. A NALU
        gate counts as saturated when it stays within ``tolerance`` of 0 or 1 on the
        training data; the layer then reads as the multiplication or the addition.

        Parameters
        ----------
        tolerance : float, optional
            Largest distance of a weight from a discrete value still read as that
            value; in ``[0, 0.5)``. By default 0.01, the formula of ``formula_``
            with every digit of its coefficients: when the network's formula is not
            exact and reading its weights within 0.01 as discrete values would
            change what it computes, they are read as they are (tolerance 0).

        Returns
        -------
        sympy.Expr or sympy.Matrix
            An expression of the features when ``y`` was one-dimensional, else a
            column Matrix with one expression per output. Each feature is a Symbol
            named after its column (``x0``, ``x1``, ... for an array), or after a safe
            name made from it (``unit_price`` for ``"unit price"``, ``pi_`` for
            ``"pi"``): ``formula_symbols_`` maps the symbols to the columns, and
            ``formula_`` reads back with ``sympy.sympify``.

        Warns
        -----
        FormulaWarning
            When the formula is not exact, saying why (see ``formula_exact_``): a
            weight is farther than ``tolerance`` from every discrete value or a gate
            is not saturated, or the network does not fit the held-out rows to
            rounding, or the formula differs from ``predict`` on the training rows.

        Raises
        ------
        ImportError
            When sympy is not installed.

        Examples
        --------
        >>> import numpy as np
        >>> import pandas as pd
        >>> from sknalu import NMURegressor
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame(rng.uniform(1, 2, size=(200, 2)), columns=["price", "qty"])
        >>> est = NMURegressor(max_steps=2000, random_state=0).fit(X, X.price * X.qty)
        >>> est.to_sympy()
        price*qty
        >>> est.formula_
        'price*qty'

        Values substitute through the symbols of ``formula_symbols_``:

        >>> import sympy
        >>> row = {"price": 3.0, "qty": 2.0}
        >>> symbols = {sympy.Symbol(s): row[c] for s, c in est.formula_symbols_.items()}
        >>> est.to_sympy().subs(symbols)
        6.00000000000000
        """
        check_is_fitted(self)
        sympy = _import_sympy()
        expressions = self._checked_reading(tolerance)
        if self._is_vector():
            return sympy.Matrix(expressions)
        return expressions[0]
