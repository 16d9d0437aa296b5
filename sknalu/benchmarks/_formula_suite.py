"""Textbook formulas: does a model read the exact formula back from a table?

The operations suite asks about one operation on two inputs; this suite asks the
question a scientist or engineer comes with: given a table of measured quantities
(``m``, ``v``, ``h`` ...) and a target computed from them by a formula of physics,
engineering, finance or geometry, does the model find that formula, and does it
extrapolate? :data:`FORMULAS` holds 37 of them, built from + − × ÷, integer powers
and numeric constants (rationals such as 1/2, multiples of π, decimal constants
such as 9.81 or 8.314), of four kinds (:attr:`SuiteFormula.kind`):

- ``"product"``: products and quotients of variables with coefficient 1 (``m*a``,
  ``V/R``);
- ``"power"``: the same with an integer power (``m*c**2``, ``M/r**2``);
- ``"constant"``: a single term with a constant factor (``m*v**2/2``,
  ``4*pi*r**3/3``);
- ``"sum"``: sums and ratios of such terms (``R1*R2/(R1 + R2)``,
  ``p0 + rho*9.81*h``).

Each seed draws training rows uniformly from each variable's training range and
test rows from its wider extrapolation range. A fit is **exact** when

- the model reads back a formula (``formula_`` of the sknalu estimators, with its
  ``"≈ "`` stripped, since the estimators mark exactness conservatively; gplearn's
  program) with the same variables as the truth that agrees with it to a relative
  1e-6 (the largest over 1000 points drawn from the test ranges of
  ``|found - truth| / |truth|``), or
- the model reads back no formula (linear regression, the MLP) and its largest
  relative error over the test rows is below 1e-9.

A fit has the right **structure** when the formula read back has the monomials of
the truth, whatever their coefficients (:func:`same_structure`): the measure for
noisy targets (``noise > 0``), where exact coefficients cannot be expected. An
exact fit has the right structure.

The ``sknalu benchmark --suite formulas`` command runs it from the shell.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import NALURegressor, NMURegressor
from ._models import route
from ._support import check_count, seed_list, single_threaded

if TYPE_CHECKING:
    import sympy

__all__ = [
    "EXACT_FORMULA_REL_ERROR",
    "EXACT_PREDICTION_REL_ERROR",
    "FORMULAS",
    "FORMULAS_COLUMNS",
    "FORMULA_MODELS",
    "SuiteFormula",
    "check_formula",
    "gplearn_to_sympy",
    "run_formulas",
    "same_structure",
    "summarize_formulas",
]

#: Largest relative difference between the formula read back and the truth, over
#: :data:`EXACT_POINTS` points of the test ranges, of an exact fit.
EXACT_FORMULA_REL_ERROR = 1e-6

#: Largest relative test error of an exact fit of a model that reads back no formula.
EXACT_PREDICTION_REL_ERROR = 1e-9

#: Points of the test ranges on which the formula read back is compared to the truth.
EXACT_POINTS = 1000

#: The kinds of formula (:attr:`SuiteFormula.kind`), in the order of the summaries.
KINDS = ("product", "power", "constant", "sum")

Ranges = Mapping[str, tuple[float, float]]


@dataclass(frozen=True)
class SuiteFormula:
    """A textbook formula and the ranges its variables are drawn from.

    Parameters
    ----------
    name : str
        A short identifier, e.g. ``"kinetic_energy"``.
    domain : str
        Where the formula comes from: mechanics, electricity, finance, geometry ...
    expression : str
        The formula as sympy parses it, its variables written by name, e.g.
        ``"m*v**2/2"``.
    train : dict of str to (float, float)
        Each variable's training range ``(low, high)``; the order of the variables
        is the order of the columns of the table.
    test : dict of str to (float, float)
        Each variable's (wider) extrapolation range.

    Examples
    --------
    >>> f = SuiteFormula("momentum", "mechanics", "m*v", {"m": (1, 5), "v": (1, 5)},
    ...             {"m": (5, 20), "v": (5, 20)})
    >>> f.variables, f.kind
    (('m', 'v'), 'product')
    >>> f.sample(2, np.random.RandomState(0)).round(2)
          m     v
    0  3.20  3.41
    1  3.86  3.18
    """

    name: str
    domain: str
    expression: str
    train: Ranges
    test: Ranges

    def __post_init__(self):
        if set(self.train) != set(self.test):
            raise ValueError(
                f"{self.name}: the training and test ranges name different variables "
                f"({sorted(self.train)} and {sorted(self.test)})."
            )
        for name in self.train:
            if not name.isidentifier():
                raise ValueError(f"{self.name}: {name!r} is not a valid variable name.")
            for which, ranges in (("training", self.train), ("test", self.test)):
                low, high = ranges[name]
                if not low < high:
                    raise ValueError(
                        f"{self.name}: the {which} range of {name} must have low < high, "
                        f"got ({low}, {high})."
                    )

    @property
    def variables(self) -> tuple[str, ...]:
        """The variable names, in the order of the table's columns."""
        return tuple(self.train)

    def symbols(self) -> dict[str, sympy.Symbol]:
        """A sympy symbol per variable, by name.

        Returns
        -------
        dict of str to sympy.Symbol
            The symbols, in the order of :attr:`variables`.
        """
        import sympy

        return {name: sympy.Symbol(name) for name in self.variables}

    def parse(self, text: str) -> sympy.Expr:
        """Parse a formula written in this formula's variables.

        The variables are passed to sympy as local names, so that a variable called
        ``E`` or ``S`` is a symbol, not Euler's number or sympy's singleton registry.

        Parameters
        ----------
        text : str
            The formula, e.g. ``"m*v**2/2"``.

        Returns
        -------
        sympy.Expr
            The formula in this formula's symbols.
        """
        import sympy

        return sympy.sympify(text, locals=self.symbols())

    def to_sympy(self) -> sympy.Expr:
        """The formula as a sympy expression.

        Returns
        -------
        sympy.Expr
            :attr:`expression`, parsed by :meth:`parse`.
        """
        return self.parse(self.expression)

    @property
    def kind(self) -> str:
        """``"product"``, ``"power"``, ``"constant"`` or ``"sum"`` (see the module)."""
        import sympy

        numerator, denominator = sympy.fraction(sympy.together(self.to_sympy()))
        terms = [sympy.Poly(part, *self.symbols().values()) for part in (numerator, denominator)]
        if any(len(poly.terms()) > 1 for poly in terms):
            return "sum"
        if any(poly.LC() != 1 for poly in terms):
            return "constant"
        if any(max(poly.LM().exponents, default=0) > 1 for poly in terms):
            return "power"
        return "product"

    def sample(self, n: int, random_state: np.random.RandomState, which: str = "train"):
        """``n`` rows drawn uniformly from the training (or test) ranges.

        Parameters
        ----------
        n : int
            Rows.
        random_state : numpy.random.RandomState
            The generator; one column is drawn after the other.
        which : {"train", "test"}, default="train"
            The ranges to draw from.

        Returns
        -------
        DataFrame
            One column per variable.
        """
        ranges = {"train": self.train, "test": self.test}[which]
        return pd.DataFrame(
            {name: random_state.uniform(*ranges[name], size=n) for name in self.variables}
        )

    def evaluate(self, X: pd.DataFrame, expression: sympy.Expr | None = None) -> np.ndarray:
        """The formula (or ``expression``, in the same variables) on the rows of ``X``.

        Parameters
        ----------
        X : DataFrame
            A column per variable.
        expression : sympy.Expr or None, default=None
            What to evaluate instead of the formula.

        Returns
        -------
        ndarray of shape (n_samples,)
            The values; NaN where they are not real (or ``expression`` divides by
            zero).
        """
        import sympy

        expression = self.to_sympy() if expression is None else expression
        if expression.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan):
            return np.full(len(X), np.nan)  # a division by zero, which lambdify cannot print
        function = sympy.lambdify(list(self.symbols().values()), expression, "numpy")
        with np.errstate(all="ignore"):
            values = np.asarray(
                function(*(X[name].to_numpy(dtype=float) for name in self.variables))
            )
        if np.iscomplexobj(values):
            values = np.where(values.imag == 0, values.real, np.nan)
        return np.broadcast_to(values.astype(float), (len(X),)).copy()


def _formula(name: str, domain: str, expression: str, **ranges) -> SuiteFormula:
    """``name=((train_low, train_high), (test_low, test_high))`` per variable."""
    return SuiteFormula(
        name,
        domain,
        expression,
        {v: r[0] for v, r in ranges.items()},
        {v: r[1] for v, r in ranges.items()},
    )


# Ranges used by many formulas: a training range and the wider range beyond it.
_SMALL = ((1.0, 5.0), (5.0, 20.0))
_MEDIUM = ((1.0, 10.0), (10.0, 50.0))

#: The formulas of the suite.
FORMULAS: tuple[SuiteFormula, ...] = (
    # -- products and quotients of variables, coefficient 1 ----------------------------
    _formula("newton_second_law", "mechanics", "m*a", m=_SMALL, a=_MEDIUM),
    _formula(
        "electric_power",
        "electricity",
        "V*i",
        V=((5.0, 24.0), (24.0, 240.0)),
        i=((0.5, 5.0), (5.0, 20.0)),
    ),
    _formula("density", "mechanics", "m/vol", m=_MEDIUM, vol=_SMALL),
    _formula(
        "speed",
        "kinematics",
        "d/t",
        d=((10.0, 100.0), (100.0, 1000.0)),
        t=((2.0, 10.0), (10.0, 60.0)),
    ),
    _formula(
        "momentum", "mechanics", "m*v", m=((0.1, 2.0), (2.0, 10.0)), v=((1.0, 30.0), (30.0, 100.0))
    ),
    _formula(
        "work", "mechanics", "F*d", F=((10.0, 100.0), (100.0, 500.0)), d=((0.5, 3.0), (3.0, 10.0))
    ),
    _formula("torque", "mechanics", "r*F", r=((0.1, 1.0), (1.0, 5.0)), F=_MEDIUM),
    _formula(
        "ohms_law_current",
        "electricity",
        "V/R",
        V=((1.0, 12.0), (12.0, 240.0)),
        R=((10.0, 100.0), (100.0, 1000.0)),
    ),
    _formula(
        "heat_capacity",
        "thermodynamics",
        "m*c*dT",
        m=_SMALL,
        c=((0.5, 4.2), (4.2, 10.0)),
        dT=((1.0, 20.0), (20.0, 100.0)),
    ),
    # -- with an integer power ---------------------------------------------------------
    _formula("mass_energy", "relativity", "m*c**2", m=_SMALL, c=_SMALL),
    _formula("joule_heating", "electricity", "i**2*R", i=_SMALL, R=_MEDIUM),
    _formula(
        "power_from_voltage", "electricity", "V**2/R", V=((1.0, 12.0), (12.0, 48.0)), R=_MEDIUM
    ),
    _formula("centripetal_acceleration", "mechanics", "v**2/r", v=_MEDIUM, r=_SMALL),
    _formula("gravitational_field", "gravitation", "M/r**2", M=_MEDIUM, r=_SMALL),
    # -- with a constant factor --------------------------------------------------------
    _formula("kinetic_energy", "mechanics", "m*v**2/2", m=_SMALL, v=_MEDIUM),
    _formula(
        "coulomb_force",
        "electricity",
        "q1*q2/(4*pi*eps*r**2)",
        q1=_SMALL,
        q2=_SMALL,
        eps=_SMALL,
        r=((0.5, 2.0), (2.0, 8.0)),
    ),
    _formula("sphere_volume", "geometry", "4*pi*r**3/3", r=_SMALL),
    _formula(
        "ideal_gas_pressure",
        "thermodynamics",
        "n*8.314*T/V",
        n=_SMALL,
        T=((250.0, 400.0), (400.0, 1200.0)),
        V=_MEDIUM,
    ),
    _formula("cylinder_volume", "geometry", "pi*r**2*h", r=_SMALL, h=_MEDIUM),
    _formula("kilovolt_power", "electricity", "1000*V*i", V=((0.2, 1.0), (1.0, 11.0)), i=_SMALL),
    _formula("potential_energy", "mechanics", "m*9.81*h", m=_SMALL, h=_MEDIUM),
    _formula(
        "gravitation",
        "gravitation",
        "6.674e-11*m1*m2/r**2",
        m1=((1e6, 1e7), (1e7, 1e8)),
        m2=((1e6, 1e7), (1e7, 1e8)),
        r=_MEDIUM,
    ),
    # -- sums and ratios of terms ------------------------------------------------------
    _formula(
        "centre_of_mass",
        "mechanics",
        "(m1*x1 + m2*x2)/(m1 + m2)",
        m1=_SMALL,
        m2=_SMALL,
        x1=_MEDIUM,
        x2=_MEDIUM,
    ),
    _formula(
        "parallel_resistors",
        "electricity",
        "R1*R2/(R1 + R2)",
        R1=((10.0, 100.0), (100.0, 1000.0)),
        R2=((10.0, 100.0), (100.0, 1000.0)),
    ),
    _formula(
        "thin_lens_focal_length",
        "optics",
        "u*v/(u + v)",
        u=((10.0, 50.0), (50.0, 200.0)),
        v=((10.0, 50.0), (50.0, 200.0)),
    ),
    _formula(
        "mechanical_energy", "mechanics", "m*v**2/2 + m*9.81*h", m=_SMALL, v=_MEDIUM, h=_MEDIUM
    ),
    _formula(
        "hydrostatic_pressure",
        "fluids",
        "p0 + rho*9.81*h",
        p0=((9e4, 1.1e5), (1.1e5, 3e5)),
        rho=((800.0, 1200.0), (1200.0, 3000.0)),
        h=_MEDIUM,
    ),
    _formula("rectangle_perimeter", "geometry", "2*(a + b)", a=_MEDIUM, b=_MEDIUM),
    _formula(
        "simple_interest",
        "finance",
        "P*(1 + r*t)",
        P=((100.0, 1000.0), (1000.0, 10000.0)),
        r=((0.01, 0.1), (0.1, 0.3)),
        t=_SMALL,
    ),
    _formula("total_cost", "finance", "price*qty + 7", price=_MEDIUM, qty=_MEDIUM),
    _formula("trapezoid_area", "geometry", "(a + b)*h/2", a=_MEDIUM, b=_MEDIUM, h=_MEDIUM),
    _formula("total_energy", "relativity", "m*c**2 + m*v**2/2", m=_SMALL, c=_MEDIUM, v=_SMALL),
    _formula(
        "radar_doppler",
        "acoustics",
        "f*(c + v)/(c - v)",
        f=((100.0, 1000.0), (1000.0, 5000.0)),
        c=((300.0, 400.0), (400.0, 600.0)),
        v=((1.0, 50.0), (50.0, 150.0)),
    ),
    _formula(
        "weighted_mean",
        "statistics",
        "(w1*x1 + w2*x2 + w3*x3)/(w1 + w2 + w3)",
        w1=_SMALL,
        w2=_SMALL,
        w3=_SMALL,
        x1=_MEDIUM,
        x2=_MEDIUM,
        x3=_MEDIUM,
    ),
    _formula(
        "compound_growth",
        "finance",
        "P*(1 + r)**2",
        P=((100.0, 1000.0), (1000.0, 10000.0)),
        r=((0.01, 0.1), (0.1, 0.5)),
    ),
    _formula("round_trip_speed", "kinematics", "2*v1*v2/(v1 + v2)", v1=_MEDIUM, v2=_MEDIUM),
    _formula("displacement", "kinematics", "v0*t + 9.81*t**2/2", v0=_MEDIUM, t=_SMALL),
)


def check_formula(formula: str | SuiteFormula) -> SuiteFormula:
    """A formula of :data:`FORMULAS`, from its name (or the formula itself).

    Parameters
    ----------
    formula : str or SuiteFormula
        The name of a formula of :data:`FORMULAS`, or a formula.

    Returns
    -------
    SuiteFormula
        The formula.

    Examples
    --------
    >>> check_formula("kinetic_energy").expression
    'm*v**2/2'
    """
    if isinstance(formula, SuiteFormula):
        return formula
    for known in FORMULAS:
        if known.name == formula:
            return known
    raise ValueError(
        f"unknown formula {formula!r}; choose from {', '.join(f.name for f in FORMULAS)}."
    )


# -- the models --------------------------------------------------------------------


def _with(estimator, params: Mapping[str, Any] | None):
    return estimator.set_params(**params) if params else estimator


def _nmu_auto(random_state, params=None):
    return _with(NMURegressor(units="auto", random_state=random_state), params)


def _nalu_auto(random_state, params=None):
    return _with(NALURegressor(units="auto", random_state=random_state), params)


def _linear(random_state, params=None):
    from sklearn.linear_model import LinearRegression

    return _with(LinearRegression(), params)


def _mlp(random_state, params=None):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    network = make_pipeline(
        StandardScaler(), MLPRegressor(random_state=random_state, max_iter=2000)
    )
    return _with(TransformedTargetRegressor(network, transformer=StandardScaler()), params)


def _gplearn(random_state, params=None):
    """gplearn's genetic programming with + − × ÷, sized to about a minute per formula.

    A population of 2000 programs over at most 20 generations (stopping as soon as the
    mean absolute error falls below 1e-10), a small parsimony coefficient (0.001, on
    the scale of the mean absolute error) and gplearn's defaults otherwise: constants
    drawn from [-1, 1], initial depths 2 to 6.
    """
    from gplearn.genetic import SymbolicRegressor

    estimator = SymbolicRegressor(
        population_size=2000,
        generations=20,
        function_set=("add", "sub", "mul", "div"),
        parsimony_coefficient=0.001,
        stopping_criteria=1e-10,
        random_state=random_state,
    )
    return _with(estimator, params)


#: The models of the suite: name → ``factory(random_state, params)`` → estimator.
FORMULA_MODELS: dict[str, Callable[..., Any]] = {
    "nmu_auto": _nmu_auto,
    "nalu_auto": _nalu_auto,
    "linear": _linear,
    "mlp": _mlp,
    "gplearn": _gplearn,
}

#: The models whose unqualified ``params`` apply to them: the sknalu estimators.
_SKNALU_MODELS = ("nmu_auto", "nalu_auto")


def _check_models(models: Iterable[str]) -> list[str]:
    models = [models] if isinstance(models, str) else list(models)
    for model in models:
        if model not in FORMULA_MODELS:
            raise ValueError(
                f"unknown model {model!r} for the formulas suite; choose from "
                f"{', '.join(FORMULA_MODELS)}."
            )
    if "gplearn" in models:
        try:
            import gplearn  # noqa: F401
        except ImportError:
            warnings.warn(
                "gplearn is not installed (pip install gplearn, or sknalu[gplearn]); "
                "the gplearn model is skipped.",
                UserWarning,
                stacklevel=3,
            )
            models.remove("gplearn")
    return list(dict.fromkeys(models))


def _route(params: Mapping[str, Any] | None, models: list[str]) -> dict[str, dict[str, Any]]:
    """Send ``NAME`` to the sknalu models that have it, ``MODEL.NAME`` to MODEL only."""
    accepted = {m: set(FORMULA_MODELS[m](0).get_params()) for m in models}
    reserved = {"random_state": "it is the seed"}
    return route(params, accepted, reserved, plain=_SKNALU_MODELS)


# -- reading a fit back ------------------------------------------------------------


_GPLEARN_FUNCTIONS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


def gplearn_to_sympy(program, variables: Sequence[str]) -> sympy.Expr:
    """A gplearn program as a sympy expression in ``variables``.

    Parameters
    ----------
    program : str or gplearn program
        The program written out (``str(est._program)``: ``add``, ``sub``, ``mul``
        and ``div`` of ``X0``, ``X1`` ... and constants), or the fitted program
        itself (``est._program``), whose constants keep all their digits where the
        string rounds them to three decimals.
    variables : sequence of str
        The names of ``X0``, ``X1`` ...

    Returns
    -------
    sympy.Expr
        The program. ``div`` is gplearn's protected division (1 where the divisor
        is within 0.001 of zero); it is read as plain division, which it is
        wherever the divisor is farther from zero. A program that relies on the
        protection (dividing by ``sub(X0, X0)``, say) reads back as a formula that is
        infinite there, and so never as exact.

    Examples
    --------
    >>> gplearn_to_sympy("add(mul(X0, X1), div(X1, 0.5))", ["m", "v"])
    m*v + 2.0*v
    """
    import sympy

    symbols = [sympy.Symbol(v) for v in variables]
    if isinstance(program, str):
        names = {f"X{i}": symbol for i, symbol in enumerate(symbols)}
        return sympy.sympify(program, locals={**names, **_GPLEARN_FUNCTIONS})
    # The program is a list in prefix order: functions (with .name and .arity),
    # feature indices and constants.
    nodes = iter(program.program)

    def read():
        node = next(nodes)
        if hasattr(node, "arity"):
            if node.name not in _GPLEARN_FUNCTIONS:
                raise ValueError(f"cannot read the gplearn function {node.name!r}.")
            arguments = [read() for _ in range(node.arity)]
            return _GPLEARN_FUNCTIONS[node.name](*arguments)
        if isinstance(node, (int, np.integer)):
            return symbols[int(node)]
        return sympy.Float(float(node))

    return read()


def _read_back(estimator, formula: SuiteFormula, model: str):
    """The formula read back (a string or None), its sympy form, whether it is marked exact."""
    if model == "gplearn":
        expression = gplearn_to_sympy(estimator._program, formula.variables)
        return str(expression), expression, None
    text = getattr(estimator, "formula_", None)
    if text is None:
        return None, None, None
    text = text.split("  (differs from predict", 1)[0]
    marked_exact = not text.startswith("≈")
    return text, formula.parse(text.removeprefix("≈").strip()), marked_exact


def _relative(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        error = np.abs(found - truth) / np.abs(truth)
    return np.where(np.isfinite(error), error, np.inf)


def _monomials(expression: sympy.Expr, symbols) -> tuple[frozenset, frozenset] | None:
    """The monomials of the numerator and the denominator; None if not rational in symbols."""
    import sympy

    if not expression.free_symbols <= set(symbols):
        return None
    # A power of a variable's expression other than an integer one (a trained
    # network's x**0.7613) makes no rational function; sympy's cancel would spend
    # minutes and gigabytes finding that out with the exponent as a fraction.
    for power in expression.atoms(sympy.Pow):
        exponent = power.exp
        if power.base.free_symbols and not (exponent.is_number and float(exponent).is_integer()):
            return None
    # Floats become exact rationals, so that cancelling common factors is exact.
    expression = expression.xreplace({f: sympy.Rational(f) for f in expression.atoms(sympy.Float)})
    try:
        numerator, denominator = sympy.fraction(sympy.cancel(sympy.together(expression)))
        parts = [sympy.Poly(sympy.expand(p), *symbols) for p in (numerator, denominator)]
    except Exception:  # sympy has many ways of saying that it is no rational function
        return None
    return tuple(frozenset(m for m, c in poly.terms() if c != 0) for poly in parts)


def same_structure(found: sympy.Expr, truth: sympy.Expr, symbols: Sequence) -> bool:
    """Whether ``found`` has the monomials of ``truth``, whatever their coefficients.

    Both are written as one fraction (:func:`sympy.together`), common factors of
    numerator and denominator cancelled (:func:`sympy.cancel`), numerator and
    denominator expanded into polynomials of ``symbols``; the structure is the same
    when the sets of monomials of the numerators and of the denominators are.
    A formula that is no rational function of ``symbols`` (a square root, say) has
    no structure to compare and is never the same.

    Parameters
    ----------
    found, truth : sympy.Expr
        The formula read back and the true one.
    symbols : sequence of sympy.Symbol
        The variables.

    Returns
    -------
    bool
        Whether the monomials are the same.

    Examples
    --------
    >>> import sympy
    >>> R1, R2 = sympy.symbols("R1 R2")
    >>> truth = R1 * R2 / (R1 + R2)
    >>> same_structure(sympy.sympify("0.98*R1*R2/(1.01*R1 + R2)", locals={"R1": R1, "R2": R2}),
    ...                truth, [R1, R2])
    True
    >>> same_structure(R1 * R2 / (R1 + R2 + 1), truth, [R1, R2])
    False
    """
    found_monomials = _monomials(found, symbols)
    truth_monomials = _monomials(truth, symbols)
    return found_monomials is not None and found_monomials == truth_monomials


# -- running -----------------------------------------------------------------------

#: Columns of :func:`summarize_formulas`.
SUMMARY_COLUMNS = [
    "model",
    "group",
    "formulas",
    "fits",
    "exact",
    "formulas_exact",
    "exact_share",
    "structure_share",
    "errors",
    "fit_time_median",
    "extrapolation_error_median",
]

#: Columns of the results table, one row per formula, model and seed.
FORMULAS_COLUMNS = [
    "formula",
    "domain",
    "kind",
    "truth",
    "model",
    "seed",
    "noise",
    "exact",
    "structure",
    "formula_exact",
    "formula_error",
    "extrapolation_error",
    "max_extrapolation_error",
    "fit_time",
    "found",
    "error",
]


def _draw_rows(formula: SuiteFormula, seed: int, noise: float, n_train: int, n_test: int):
    """A seed's training rows, test rows and checking points, each drawn in turn.

    Returns ``X, y, X_test, y_test, X_check``: ``y`` with its noise, ``y_test``
    exact, ``X_check`` the :data:`EXACT_POINTS` points of the test ranges on which
    the formula read back is compared to the truth.
    """
    rng = np.random.RandomState(seed)
    X = formula.sample(n_train, rng, "train")
    X_test = formula.sample(n_test, rng, "test")
    X_check = formula.sample(EXACT_POINTS, rng, "test")
    y, y_test = formula.evaluate(X), formula.evaluate(X_test)
    if noise > 0:
        y = y + rng.normal(scale=noise * y.std(), size=len(y))
    return X, y, X_test, y_test, X_check


def _blank_row(formula: SuiteFormula, model: str, seed: int, noise: float) -> dict[str, Any]:
    """The row of a fit before it is run: not exact, nothing measured."""
    return {
        "formula": formula.name,
        "domain": formula.domain,
        "kind": formula.kind,
        "truth": formula.expression,
        "model": model,
        "seed": seed,
        "noise": noise,
        "exact": False,
        "structure": False,
        "formula_exact": None,
        "formula_error": np.nan,
        "extrapolation_error": np.nan,
        "max_extrapolation_error": np.nan,
        "fit_time": np.nan,
        "found": None,
        "error": None,
    }


def _fit_and_read_back(estimator, formula: SuiteFormula, model: str, X, y, X_test, y_test, row):
    """Fit, measure the extrapolation and read the formula back, into ``row``.

    Fills ``fit_time``, ``extrapolation_error``, ``max_extrapolation_error``,
    ``found`` and ``formula_exact`` as they become known; returns the sympy form
    of the formula read back (None for a model that reads back none).
    """
    with warnings.catch_warnings(), single_threaded():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        estimator.fit(X, y)
        row["fit_time"] = time.perf_counter() - start
        errors = _relative(np.asarray(estimator.predict(X_test), dtype=float), y_test)
        row["extrapolation_error"] = float(np.median(errors))
        row["max_extrapolation_error"] = float(errors.max())
        found, expression, marked_exact = _read_back(estimator, formula, model)
    row["found"], row["formula_exact"] = found, marked_exact
    return expression


def _score_read_back(row, formula: SuiteFormula, expression, X_check) -> None:
    """Set ``exact``, ``structure`` and ``formula_error`` of ``row`` (see the module)."""
    if expression is None:
        row["exact"] = row["max_extrapolation_error"] < EXACT_PREDICTION_REL_ERROR
        row["structure"] = row["exact"]
        return
    truth = formula.to_sympy()
    if expression.free_symbols <= truth.free_symbols:  # else it cannot be computed
        found_values = formula.evaluate(X_check, expression)
        difference = _relative(found_values, formula.evaluate(X_check))
        row["formula_error"] = float(difference.max())
    row["exact"] = bool(
        expression.free_symbols == truth.free_symbols
        and row["formula_error"] < EXACT_FORMULA_REL_ERROR
    )
    row["structure"] = row["exact"] or same_structure(
        expression, truth, list(formula.symbols().values())
    )


def _one(formula: SuiteFormula, model: str, seed: int, params, noise, n_train, n_test) -> dict:
    """Fit ``model`` on one seed of ``formula``: the row of the results.

    A fit that fails is a result, not the end of the run: the row keeps what was
    measured before the failure, is not exact and names the error.
    """
    X, y, X_test, y_test, X_check = _draw_rows(formula, seed, noise, n_train, n_test)
    row = _blank_row(formula, model, seed, noise)
    try:
        estimator = FORMULA_MODELS[model](seed, params)
        expression = _fit_and_read_back(estimator, formula, model, X, y, X_test, y_test, row)
        _score_read_back(row, formula, expression, X_check)
    except Exception as exc:  # sympy, gplearn and the fits fail in many ways
        row["exact"] = row["structure"] = False
        row["error"] = f"{type(exc).__name__}: {exc}"
    return row


def _require_sympy() -> None:
    """Raise an ImportError that says how to install sympy when it is missing."""
    try:
        import sympy  # noqa: F401
    except ImportError:
        raise ImportError("the formulas suite needs sympy: pip install sknalu[formula].") from None


def run_formulas(
    formulas: Iterable[str | SuiteFormula] | None = None,
    models: Iterable[str] = ("nmu_auto", "nalu_auto", "linear", "mlp"),
    seeds: int | Sequence[int] = 2,
    noise: float = 0.0,
    n_train: int = 1000,
    n_test: int = 1000,
    params: Mapping[str, Any] | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Fit each model on each textbook formula, once per seed; score the formula read back.

    Parameters
    ----------
    formulas : iterable of str or SuiteFormula, optional
        Names of :data:`FORMULAS` or formulas of one's own; all of :data:`FORMULAS`
        by default.
    models : iterable of str, default=("nmu_auto", "nalu_auto", "linear", "mlp")
        Keys of :data:`FORMULA_MODELS`: ``NMURegressor(units="auto")``,
        ``NALURegressor(units="auto")``, scikit-learn's ``LinearRegression`` and a
        standardised ``MLPRegressor``, or gplearn's ``SymbolicRegressor``
        (``"gplearn"``, skipped with a warning when gplearn is not installed).
    seeds : int or sequence of int, default=2
        ``N`` for seeds 0 .. N-1, or the seeds. A seed draws the rows
        (``numpy.random.RandomState(seed)``) and seeds the estimator.
    noise : float, default=0.0
        Gaussian noise added to the training target, with standard deviation
        ``noise`` times that of the target; the test target stays exact.
    n_train, n_test : int, default=1000
        Training rows (from the training ranges) and test rows (from the test
        ranges) per seed.
    params : dict, optional
        Estimator parameters: ``"NAME"`` for every sknalu model of the run that has
        it, ``"MODEL.NAME"`` for that model only (any model, e.g.
        ``"gplearn.generations"``). A name no model has is an error.
    n_jobs : int, default=1
        Fits at once (joblib).

    Returns
    -------
    DataFrame
        One row per formula, model and seed, with :data:`FORMULAS_COLUMNS`:
        ``exact`` and ``structure`` (see the module), ``formula_exact`` (whether a
        sknalu estimator marked its formula exact, i.e. wrote no ``"≈ "``),
        ``formula_error`` (largest relative difference of the formula read back from
        the truth), ``extrapolation_error`` and ``max_extrapolation_error`` (median
        and largest relative error of ``predict`` on the test rows), ``fit_time``
        (seconds of ``fit``), ``found`` (the formula read back) and ``error`` (the
        exception of a fit that failed, which then counts as not exact).

    Examples
    --------
    >>> results = run_formulas(["rectangle_perimeter", "momentum"], ["linear"], seeds=1)
    >>> results[["formula", "model", "exact"]]
                   formula   model  exact
    0  rectangle_perimeter  linear   True
    1             momentum  linear  False
    """
    import joblib

    _require_sympy()
    formulas = [check_formula(f) for f in (FORMULAS if formulas is None else formulas)]
    models = _check_models(models)
    seeds = seed_list("run_formulas", seeds)
    n_train = check_count("run_formulas", "n_train", n_train, 2)
    n_test = check_count("run_formulas", "n_test", n_test, 1)
    if not noise >= 0:
        raise ValueError(f"noise must be a fraction of at least 0, got {noise!r}.")
    routed = _route(params, models)
    jobs = [
        joblib.delayed(_one)(f, m, s, routed[m], float(noise), n_train, n_test)
        for f in formulas
        for m in models
        for s in seeds
    ]
    rows = joblib.Parallel(n_jobs=n_jobs)(jobs)
    return pd.DataFrame(rows, columns=FORMULAS_COLUMNS)


def summarize_formulas(results: pd.DataFrame, by: str | None = "kind") -> pd.DataFrame:
    """Per model: formulas recovered exactly, right structures, fit time, error.

    A formula counts for a model and a seed when that fit is exact: ``exact`` is the
    number of exact fits and ``exact_share`` their share of the fits (formulas ×
    seeds); ``formulas_exact`` is the number of formulas recovered exactly by at
    least one seed.

    Parameters
    ----------
    results : DataFrame
        The table of :func:`run_formulas`.
    by : {"kind", "domain"} or None, default="kind"
        A second view: the same figures per model and kind of formula (or domain),
        after the model's row for all formulas (``group`` "all").

    Returns
    -------
    DataFrame
        Per model and group: ``formulas``, ``fits``, ``exact``, ``formulas_exact``,
        ``exact_share``, ``structure_share``, ``errors`` (fits that failed),
        ``fit_time_median`` (seconds) and ``extrapolation_error_median``.

    Examples
    --------
    >>> results = pd.DataFrame({
    ...     "formula": ["f", "f", "g", "g"], "kind": ["sum", "sum", "power", "power"],
    ...     "model": "linear", "seed": [0, 1, 0, 1], "exact": [True, False, False, False],
    ...     "structure": [True, True, False, False], "error": None,
    ...     "fit_time": [0.1, 0.3, 0.2, 0.2], "extrapolation_error": [0, 0.1, 0.2, 0.3]})
    >>> summarize_formulas(results)[["model", "group", "fits", "exact", "formulas_exact"]]
        model  group  fits  exact  formulas_exact
    0  linear    all     4      1               1
    1  linear  power     2      0               0
    2  linear    sum     2      1               1
    """
    rows = [
        _summary_row(model, group, part)
        for model, frame in results.groupby("model", sort=False)
        for group, part in _groups(frame, by)
    ]
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _groups(frame: pd.DataFrame, by: str | None) -> list[tuple[str, pd.DataFrame]]:
    """A model's rows: all of them (group ``"all"``), then those of each kind or domain."""
    groups = [("all", frame)]
    if by is not None:
        order = KINDS if by == "kind" else sorted(frame[by].unique())
        groups += [(g, frame[frame[by] == g]) for g in order if (frame[by] == g).any()]
    return groups


def _summary_row(model: str, group: str, part: pd.DataFrame) -> dict[str, Any]:
    """The figures of :func:`summarize_formulas` for a model's rows of a group."""
    return {
        "model": model,
        "group": group,
        "formulas": part["formula"].nunique(),
        "fits": len(part),
        "exact": int(part["exact"].sum()),
        "formulas_exact": int(part.groupby("formula")["exact"].any().sum()),
        "exact_share": float(part["exact"].mean()),
        "structure_share": float(part["structure"].mean()),
        "errors": int(part["error"].notna().sum()),
        "fit_time_median": float(part["fit_time"].median()),
        "extrapolation_error_median": float(part["extrapolation_error"].median()),
    }
