"""Textbook formulas: does a model read the exact formula back from a table?

The operations suite asks about one operation on two inputs; this suite asks the
question a scientist or engineer comes with: given a table of measured quantities
(``m``, ``v``, ``h`` ...) and a target computed from them by a formula of physics,
engineering, finance or geometry, does the model find that formula, and does it
extrapolate? Its formulas come in three collections (:data:`FORMULA_COLLECTIONS`).
:data:`FORMULAS` (``"textbook"``) holds 37 of them, built from + − × ÷, integer
powers and numeric constants (rationals such as 1/2, multiples of π, decimal
constants such as 9.81 or 8.314), of four kinds (:attr:`SuiteFormula.kind`):

- ``"product"``: products and quotients of variables with coefficient 1 (``m*a``,
  ``V/R``);
- ``"power"``: the same with an integer power (``m*c**2``, ``M/r**2``);
- ``"constant"``: a single term with a constant factor (``m*v**2/2``,
  ``4*pi*r**3/3``);
- ``"sum"``: sums and ratios of such terms (``R1*R2/(R1 + R2)``,
  ``p0 + rho*9.81*h``).

:data:`ALGEBRAIC_FORMULAS` (``"algebraic"``, 50) still has no function but
harder shapes:

- ``"polynomial"``: more than four terms or a power above 3 (a heat-capacity
  polynomial in ``T``, the deflection of a beam ``w*x*(L**3 - 2*L*x**2 +
  x**3)/(24*Ey*Iz)``);
- ``"shifted"``: a difference squared or cubed (``k*(x - x0)**2/2``,
  ``10/(5 + (a - 3)**2 + (b - 3)**2)``);
- ``"rational"``: a denominator of several terms and of degree 2 or more
  (``q*Ef/(m*(w0**2 - w**2))``), or under a long numerator;
- ``"root"``: a fractional power of a product (``sqrt(k/m)``,
  ``2*pi*sqrt(Lp/g)``). ``NMURegressor``'s units take no roots, by design: these
  formulas are marked :attr:`SuiteFormula.needs_roots`, and the models of
  :data:`ROOTLESS_MODELS` are not asked for them.

:data:`FUNCTION_FORMULAS` (``"functions"``, 44) are of kind ``"function"``: they
take ``exp``, ``log``, ``sin``, ``cos``, ``tanh``, ``asin``, a variable power or
the square root of a sum, mostly one function of a product of powers times a
product of powers (``q*v*B*sin(theta)``, ``A*exp(-Ea/(8.314*T))``), some with two
or nested functions (``A*exp(-b*t)*cos(w*t)``, ``asin(n1*sin(theta)/n2)``).

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
the truth (its terms, for roots and functions), whatever their coefficients
(:func:`same_structure`): the measure for noisy targets (``noise > 0``: Gaussian
noise of a standard deviation of ``noise`` times the target's root mean square),
where exact coefficients cannot be expected. An exact fit has the right structure.

On noisy targets a missed structure is either the search's miss or beyond what the
rows hold: **truth_supported** tells them apart (:func:`truth_supported`). It is
True where the truth, its constants refitted by nonlinear least squares on the
training rows, has a lower extended BIC than the formula read back (each charged
for its constants as the estimators' own criterion charges them): a formula the
rows prefer, which the search did not return. ``supported_structure_share`` is
the share of the right structures among the fits whose truth the rows prefer or
whose structure is right.

The ``sknalu benchmark --suite formulas`` command runs it from the shell.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import NALURegressor, NMURegressor
from ._models import route
from ._support import check_count, run_jobs, seed_list, single_threaded

if TYPE_CHECKING:
    import sympy

__all__ = [
    "ALGEBRAIC_FORMULAS",
    "EXACT_FORMULA_REL_ERROR",
    "EXACT_PREDICTION_REL_ERROR",
    "FORMULAS",
    "FORMULAS_COLUMNS",
    "FORMULA_COLLECTIONS",
    "FORMULA_MODELS",
    "FUNCTION_FORMULAS",
    "KINDS",
    "ROOTLESS_MODELS",
    "SuiteFormula",
    "check_formula",
    "formula_collection",
    "gplearn_to_sympy",
    "run_formulas",
    "same_structure",
    "summarize_formulas",
    "truth_supported",
]

#: Largest relative difference between the formula read back and the truth, over
#: :data:`EXACT_POINTS` points of the test ranges, of an exact fit.
EXACT_FORMULA_REL_ERROR = 1e-6

#: Largest relative test error of an exact fit of a model that reads back no formula.
EXACT_PREDICTION_REL_ERROR = 1e-9

#: Points of the test ranges on which the formula read back is compared to the truth.
EXACT_POINTS = 1000

#: The candidate terms the estimators' information criterion assumes each term of
#: a formula was chosen from (the user guide's search page), for
#: :func:`truth_supported`.
CRITERION_CANDIDATES = 1000

#: The kinds of formula (:attr:`SuiteFormula.kind`), in the order of the summaries.
KINDS = (
    "product",
    "power",
    "constant",
    "sum",
    "polynomial",
    "shifted",
    "rational",
    "root",
    "function",
)

#: Models whose units take no roots: the suite does not ask them for a formula that
#: :attr:`SuiteFormula.needs_roots` (``NMURegressor``'s units multiply, by design).
ROOTLESS_MODELS = ("nmu_auto",)

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
    needs_roots : bool, default=False
        Whether the formula takes a root (a fractional power) of an expression of the
        variables, such as ``sqrt(k/m)``: ``NMURegressor``'s units cannot, by design,
        so the suite does not ask the models of :data:`ROOTLESS_MODELS` for it
        (:meth:`is_for`).

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
    needs_roots: bool = False

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
        """The kind of formula, one of :data:`KINDS` (see the module).

        The first that applies: ``"function"`` (a function such as ``exp`` or
        ``sin``, a variable exponent, or a root of a sum), ``"root"`` (a fractional
        power of a product of variables), ``"shifted"`` (a difference such as
        ``x - x0`` or ``a - 3`` squared or cubed); then, the formula written as one
        fraction, ``"rational"`` (a denominator of several terms and of degree 2 or
        more, or over a long numerator), ``"polynomial"`` (a single-term denominator
        under a long numerator: more than four terms or a power above 3), ``"sum"``
        (any other numerator or denominator of several terms), and for a single term
        ``"constant"`` (a coefficient other than 1), ``"power"`` (a power above 1) or
        ``"product"``.
        """
        import sympy

        expression, symbols = self.to_sympy(), list(self.symbols().values())
        shape = _shape_kind(expression, symbols)
        if shape is not None:
            return shape
        numerator, denominator = sympy.fraction(sympy.together(expression))
        top, bottom = (sympy.Poly(part, *symbols) for part in (numerator, denominator))
        if len(bottom.terms()) > 1:
            return "rational" if bottom.total_degree() >= 2 or _long(top) else "sum"
        if len(top.terms()) > 1:
            return "polynomial" if _long(top) else "sum"
        if any(poly.LC() != 1 for poly in (top, bottom)):
            return "constant"
        if any(max(poly.LM().exponents, default=0) > 1 for poly in (top, bottom)):
            return "power"
        return "product"

    def is_for(self, model: str) -> bool:
        """Whether the suite asks ``model`` (a key of :data:`FORMULA_MODELS`) for this formula.

        Parameters
        ----------
        model : str
            The model.

        Returns
        -------
        bool
            False for a model of :data:`ROOTLESS_MODELS` and a formula that
            :attr:`needs_roots`, True otherwise.

        Examples
        --------
        >>> f = SuiteFormula("spring_frequency", "mechanics", "sqrt(k/m)",
        ...                  {"k": (1, 5), "m": (1, 5)}, {"k": (5, 20), "m": (5, 20)},
        ...                  needs_roots=True)
        >>> f.kind, f.is_for("nmu_auto"), f.is_for("nalu_auto")
        ('root', False, True)
        """
        return not (self.needs_roots and model in ROOTLESS_MODELS)

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


def _is_integer(exponent) -> bool:
    """Whether a sympy exponent is an integer number (``2`` or ``2.0``)."""
    return bool(exponent.is_number) and float(exponent).is_integer()


def _is_monomial(expression) -> bool:
    """Whether ``expression`` is a number times a product of powers of symbols."""
    import sympy

    return all(
        factor.is_number
        or factor.is_Symbol
        or (factor.is_Pow and factor.base.is_Symbol and factor.exp.is_number)
        for factor in sympy.Mul.make_args(expression)
    )


def _is_difference(expression, symbols) -> bool:
    """Whether ``expression`` is a linear sum with a negative term: ``x - x0``, ``a - 3``."""
    import sympy

    if not (expression.is_Add and expression.is_polynomial(*symbols)):
        return False
    poly = sympy.Poly(expression, *symbols)
    return poly.total_degree() == 1 and any(c.is_negative for c in poly.coeffs())


def _shape_kind(expression, symbols) -> str | None:
    """``"function"``, ``"root"`` or ``"shifted"`` (see :attr:`SuiteFormula.kind`), or None."""
    import sympy

    powers = [p for p in expression.atoms(sympy.Pow) if p.free_symbols]
    if expression.atoms(sympy.Function) or any(
        p.exp.free_symbols or not (_is_integer(p.exp) or _is_monomial(p.base)) for p in powers
    ):
        return "function"
    if any(not _is_integer(p.exp) for p in powers):
        return "root"
    if any(abs(p.exp) >= 2 and _is_difference(p.base, symbols) for p in powers):
        return "shifted"
    return None


def _long(poly) -> bool:
    """Whether a polynomial has more than four terms or a variable's power above 3."""
    return len(poly.terms()) > 4 or max(max(m) for m in poly.monoms()) > 3


def _formula(
    name: str, domain: str, expression: str, *, needs_roots: bool = False, **ranges
) -> SuiteFormula:
    """``name=((train_low, train_high), (test_low, test_high))`` per variable."""
    return SuiteFormula(
        name,
        domain,
        expression,
        {v: r[0] for v, r in ranges.items()},
        {v: r[1] for v, r in ranges.items()},
        needs_roots,
    )


# Ranges used by many formulas: a training range and the wider range beyond it.
_SMALL = ((1.0, 5.0), (5.0, 20.0))
_MEDIUM = ((1.0, 10.0), (10.0, 50.0))

#: The textbook formulas of the suite (collection ``"textbook"``), the default ones.
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


# Ranges of the newer collections: money, rates of interest, and positions on a line
# kept apart so that differences never vanish.
_MONEY = ((100.0, 1000.0), (1000.0, 10000.0))
_RATE = ((0.01, 0.1), (0.1, 0.3))
_NEAR = ((0.0, 1.0), (1.0, 3.0))
_FAR = ((4.0, 6.0), (6.0, 12.0))
_ORIGIN = ((0.1, 1.0), (1.0, 1.95))
_POSITION = ((2.0, 5.0), (5.0, 15.0))
_LARGE_MASS = ((1e6, 1e7), (1e7, 1e8))
_BEAM = {
    "w": _SMALL,
    "L": ((5.0, 8.0), (8.0, 15.0)),
    "Ey": ((100.0, 200.0), (200.0, 400.0)),
    "Iz": _SMALL,
}

#: Polynomials with powers above 3 or more than four terms, squared or cubed
#: differences, ratios of polynomials and roots of products, no other functions.
ALGEBRAIC_FORMULAS: tuple[SuiteFormula, ...] = (
    # -- polynomials: a power above 3 or more than four terms --------------------------
    _formula(
        "nasa_heat_capacity_n2",
        "thermodynamics",
        "8.314*(3.531005 - 1.2366099e-4*T - 5.0299943e-7*T**2 + 2.4353061e-9*T**3"
        " - 1.4088124e-12*T**4)",
        T=((300.0, 600.0), (600.0, 1000.0)),
    ),
    _formula(
        "shomate_heat_capacity_water",
        "thermodynamics",
        "30.092 + 6.832514*t + 6.793435*t**2 - 2.53448*t**3 + 0.082139/t**2",
        t=((0.5, 1.0), (1.0, 1.7)),
    ),
    _formula(
        "lowe_vapour_pressure",
        "meteorology",
        "6.107799961 + 0.4436518521*Tc + 0.01428945805*Tc**2 + 2.650648471e-4*Tc**3"
        " + 3.031240396e-6*Tc**4 + 2.034080948e-8*Tc**5 + 6.136820929e-11*Tc**6",
        Tc=((0.0, 20.0), (20.0, 50.0)),
    ),
    _formula(
        "thermocouple_type_k",
        "instrumentation",
        "25.08355*emf + 0.07860106*emf**2 - 0.2503131*emf**3 + 0.0831527*emf**4"
        " - 0.01228034*emf**5 + 9.804036e-4*emf**6 - 4.41303e-5*emf**7"
        " + 1.057734e-6*emf**8 - 1.052755e-8*emf**9",
        emf=((1.0, 8.0), (8.0, 20.6)),
    ),
    _formula(
        "relativistic_kinetic_energy_series",
        "relativity",
        "m*v**2/2 + 3*m*v**4/(8*c**2) + 5*m*v**6/(16*c**4)",
        m=_SMALL,
        v=((0.1, 0.3), (0.3, 0.6)),
        c=((1.0, 2.0), (2.0, 4.0)),
    ),
    _formula(
        "anharmonic_potential",
        "mechanics",
        "k*x**2/2 - 0.3*x**3 + 0.05*x**4",
        k=_SMALL,
        x=((0.5, 2.0), (2.0, 4.0)),
    ),
    _formula(
        "beam_deflection_uniform_load",
        "structures",
        "w*x*(L**3 - 2*L*x**2 + x**3)/(24*Ey*Iz)",
        x=((0.5, 2.0), (2.0, 4.0)),
        **_BEAM,
    ),
    _formula(
        "beam_deflection_triangular_load",
        "structures",
        "w*x*(7*L**4 - 10*L**2*x**2 + 3*x**4)/(360*L*Ey*Iz)",
        x=((0.5, 2.0), (2.0, 4.0)),
        **_BEAM,
    ),
    _formula(
        "minimum_jerk_trajectory",
        "robotics",
        "x0 + dx*(10*s**3 - 15*s**4 + 6*s**5)",
        x0=_SMALL,
        dx=_MEDIUM,
        s=((0.1, 0.5), (0.5, 1.0)),
    ),
    _formula("compound_interest_five_years", "finance", "P*(1 + r)**5", P=_MONEY, r=_RATE),
    _formula(
        "annuity_future_value",
        "finance",
        "pmt*((1 + r)**4 - 1)/r",
        pmt=((100.0, 1000.0), (1000.0, 5000.0)),
        r=_RATE,
    ),
    _formula(
        "net_radiated_power",
        "thermodynamics",
        "5.670e-8*em*A*(T**4 - Ta**4)",
        em=((0.1, 0.5), (0.5, 1.0)),
        A=_SMALL,
        T=((400.0, 600.0), (600.0, 1200.0)),
        Ta=((250.0, 300.0), (300.0, 380.0)),
    ),
    # -- shifted: a difference squared or cubed ----------------------------------------
    _formula(
        "shifted_spring_energy", "mechanics", "k*(x - x0)**2/2", k=_SMALL, x=_POSITION, x0=_ORIGIN
    ),
    _formula(
        "gravitation_between_points",
        "gravitation",
        "6.674e-11*m1*m2/((x2 - x1)**2 + (y2 - y1)**2)",
        m1=_LARGE_MASS,
        m2=_LARGE_MASS,
        x1=_NEAR,
        x2=_FAR,
        y1=_NEAR,
        y2=_NEAR,
    ),
    _formula(
        "rational_bump",
        "symbolic regression",
        "10/(5 + (a - 3)**2 + (b - 3)**2)",
        a=((2.0, 4.0), (4.0, 8.0)),
        b=((2.0, 4.0), (4.0, 8.0)),
    ),
    _formula(
        "coulomb_force_on_a_line",
        "electricity",
        "8.9875e-3*q1*q2/(x2 - x1)**2",
        q1=_SMALL,
        q2=_SMALL,
        x1=_NEAR,
        x2=_FAR,
    ),
    _formula(
        "parallel_axis_theorem",
        "mechanics",
        "Jc + m*(x - xc)**2",
        Jc=_SMALL,
        m=_SMALL,
        x=_POSITION,
        xc=_ORIGIN,
    ),
    _formula(
        "inelastic_collision_energy_loss",
        "mechanics",
        "m1*m2*(v1 - v2)**2/(2*(m1 + m2))",
        m1=_SMALL,
        m2=_SMALL,
        v1=((5.0, 10.0), (10.0, 30.0)),
        v2=((0.0, 2.0), (2.0, 4.5)),
    ),
    _formula(
        "lorentzian_line_shape",
        "spectroscopy",
        "A*g**2/((f - f0)**2 + g**2)",
        A=_SMALL,
        g=((0.5, 1.0), (1.0, 3.0)),
        f=((10.0, 20.0), (20.0, 50.0)),
        f0=((5.0, 8.0), (8.0, 15.0)),
    ),
    _formula(
        "drag_with_tailwind",
        "fluids",
        "rho*Cd*A*(v - w)**2/2",
        rho=((1.0, 1.3), (1.3, 2.0)),
        Cd=((0.2, 0.5), (0.5, 1.2)),
        A=_SMALL,
        v=((10.0, 20.0), (20.0, 50.0)),
        w=((0.0, 3.0), (3.0, 8.0)),
    ),
    _formula(
        "quadratic_thermal_expansion",
        "materials",
        "L0*(1 + 1.2e-5*(T - T0) + 4e-9*(T - T0)**2)",
        L0=_SMALL,
        T=((300.0, 400.0), (400.0, 800.0)),
        T0=((270.0, 285.0), (255.0, 295.0)),
    ),
    _formula(
        "hollow_cube_mass",
        "engineering",
        "rho*(a**3 - (a - 2*t)**3)",
        rho=((1000.0, 3000.0), (3000.0, 8000.0)),
        a=((5.0, 10.0), (10.0, 30.0)),
        t=((0.1, 1.0), (1.0, 2.0)),
    ),
    _formula(
        "variance_of_three",
        "statistics",
        "((x1 - x2)**2 + (x1 - x3)**2 + (x2 - x3)**2)/9",
        x1=((1.0, 2.0), (2.0, 4.0)),
        x2=((5.0, 6.0), (6.0, 10.0)),
        x3=((11.0, 12.0), (12.0, 20.0)),
    ),
    # -- rational: a denominator of degree 2 or more, or under a long numerator --------
    _formula(
        "driven_oscillator_amplitude",
        "mechanics",
        "q*Ef/(m*(w0**2 - w**2))",
        q=_SMALL,
        Ef=_SMALL,
        m=_SMALL,
        w0=((5.0, 8.0), (8.0, 15.0)),
        w=((0.5, 2.0), (2.0, 4.0)),
    ),
    _formula(
        "oscillator_scattering",
        "optics",
        "Ef**2*w**4/(w**2 - w0**2)**2",
        Ef=_SMALL,
        w=((5.0, 8.0), (8.0, 15.0)),
        w0=((0.5, 2.0), (2.0, 4.0)),
    ),
    _formula(
        "lensmaker_equation",
        "optics",
        "R1*R2/((n - 1)*(R2 - R1))",
        n=((1.3, 1.6), (1.6, 2.0)),
        R1=((5.0, 10.0), (10.0, 20.0)),
        R2=((25.0, 40.0), (40.0, 100.0)),
    ),
    _formula(
        "thick_lens_focal_length",
        "optics",
        "n*R1*R2/((n - 1)*(n*(R2 - R1) + (n - 1)*dl))",
        n=((1.3, 1.6), (1.6, 2.0)),
        R1=((5.0, 10.0), (10.0, 20.0)),
        R2=((25.0, 40.0), (40.0, 100.0)),
        dl=((0.5, 2.0), (2.0, 5.0)),
    ),
    _formula(
        "hill_equation",
        "biochemistry",
        "vmax*c**2/(K**2 + c**2)",
        vmax=_MEDIUM,
        c=_SMALL,
        K=_SMALL,
    ),
    _formula(
        "rlc_power",
        "electricity",
        "V**2*R/(R**2 + (w*Lh - 1/(w*Cf))**2)",
        V=_MEDIUM,
        R=((10.0, 100.0), (100.0, 500.0)),
        w=((100.0, 300.0), (300.0, 1000.0)),
        Lh=((0.01, 0.1), (0.1, 0.5)),
        Cf=((1e-4, 1e-3), (1e-3, 1e-2)),
    ),
    _formula(
        "pade_exponential",
        "numerical analysis",
        "(12 + 6*x + x**2)/(12 - 6*x + x**2)",
        x=((0.0, 1.0), (1.0, 3.0)),
    ),
    _formula(
        "bond_price",
        "finance",
        "cpn/(1 + y) + cpn/(1 + y)**2 + (cpn + F)/(1 + y)**3",
        cpn=((1.0, 5.0), (5.0, 10.0)),
        F=((100.0, 200.0), (200.0, 1000.0)),
        y=_RATE,
    ),
    _formula(
        "loan_payment",
        "finance",
        "P*r*(1 + r)**5/((1 + r)**5 - 1)",
        P=_MONEY,
        r=_RATE,
    ),
    _formula(
        "water_density_kell",
        "fluids",
        "(999.83952 + 16.945176*T - 7.9870401e-3*T**2 - 46.170461e-6*T**3"
        " + 105.56302e-9*T**4 - 280.54253e-12*T**5)/(1 + 16.87985e-3*T)",
        T=((5.0, 40.0), (40.0, 100.0)),
    ),
    _formula(
        "relativistic_velocity_addition",
        "relativity",
        "(u + v)/(1 + u*v/c**2)",
        u=((0.1, 0.4), (0.4, 0.9)),
        v=((0.1, 0.4), (0.4, 0.9)),
        c=((1.0, 1.2), (1.2, 2.0)),
    ),
    _formula(
        "three_parallel_resistors",
        "electricity",
        "1/(1/R1 + 1/R2 + 1/R3)",
        R1=((10.0, 100.0), (100.0, 1000.0)),
        R2=((10.0, 100.0), (100.0, 1000.0)),
        R3=((10.0, 100.0), (100.0, 1000.0)),
    ),
    _formula(
        "wheatstone_bridge_voltage",
        "electricity",
        "V*(R1/(R1 + R2) - R3/(R3 + R4))",
        V=_MEDIUM,
        R1=((50.0, 100.0), (100.0, 200.0)),
        R2=((1.0, 10.0), (10.0, 20.0)),
        R3=((1.0, 10.0), (10.0, 20.0)),
        R4=((50.0, 100.0), (100.0, 200.0)),
    ),
    _formula(
        "acoustic_transmission",
        "acoustics",
        "4*Z1*Z2/(Z1 + Z2)**2",
        Z1=((1.0, 5.0), (5.0, 20.0)),
        Z2=((10.0, 50.0), (50.0, 200.0)),
    ),
    # -- roots of products of powers: not asked of nmu_auto ----------------------------
    _formula(
        "spring_mass_frequency", "mechanics", "sqrt(k/m)", needs_roots=True, k=_MEDIUM, m=_SMALL
    ),
    _formula("torricelli_speed", "fluids", "sqrt(2*9.81*h)", needs_roots=True, h=_MEDIUM),
    _formula(
        "pendulum_period",
        "mechanics",
        "2*pi*sqrt(Lp/g)",
        needs_roots=True,
        Lp=_SMALL,
        g=((1.6, 9.8), (9.8, 25.0)),
    ),
    _formula(
        "escape_velocity",
        "gravitation",
        "sqrt(2*6.674e-11*M/r)",
        needs_roots=True,
        M=((1e22, 1e23), (1e23, 1e25)),
        r=((1e6, 5e6), (5e6, 5e7)),
    ),
    _formula(
        "string_wave_speed",
        "waves",
        "sqrt(Ft/mu)",
        needs_roots=True,
        Ft=((10.0, 100.0), (100.0, 1000.0)),
        mu=((0.001, 0.01), (0.01, 0.05)),
    ),
    _formula(
        "rms_molecular_speed",
        "thermodynamics",
        "sqrt(3*8.314*T/M)",
        needs_roots=True,
        T=((250.0, 400.0), (400.0, 1200.0)),
        M=((0.002, 0.03), (0.03, 0.2)),
    ),
    _formula(
        "kepler_orbital_period",
        "gravitation",
        "2*pi*sqrt(a**3/(6.674e-11*M))",
        needs_roots=True,
        a=((1e7, 5e7), (5e7, 5e8)),
        M=((1e23, 1e24), (1e24, 1e26)),
    ),
    _formula(
        "momentum_from_kinetic_energy",
        "mechanics",
        "sqrt(2*m*Ek)",
        needs_roots=True,
        m=_SMALL,
        Ek=_MEDIUM,
    ),
    _formula(
        "lc_resonant_frequency",
        "electricity",
        "1/(2*pi*sqrt(Lh*Cf))",
        needs_roots=True,
        Lh=((0.01, 0.1), (0.1, 0.5)),
        Cf=((1e-6, 1e-5), (1e-5, 1e-4)),
    ),
    _formula(
        "standard_error_of_mean",
        "statistics",
        "sd/sqrt(n)",
        needs_roots=True,
        sd=_MEDIUM,
        n=((10.0, 100.0), (100.0, 10000.0)),
    ),
    _formula(
        "economic_order_quantity",
        "operations research",
        "sqrt(2*dem*cost/hold)",
        needs_roots=True,
        dem=((100.0, 1000.0), (1000.0, 10000.0)),
        cost=_MEDIUM,
        hold=_SMALL,
    ),
    _formula(
        "volatility_over_time",
        "finance",
        "sigma*sqrt(t)",
        needs_roots=True,
        sigma=((0.05, 0.3), (0.3, 0.8)),
        t=((0.1, 1.0), (1.0, 10.0)),
    ),
    _formula(
        "critical_damping",
        "mechanics",
        "2*sqrt(k*m)",
        needs_roots=True,
        k=_MEDIUM,
        m=_SMALL,
    ),
)

_ANGLE = ((0.2, 1.0), (1.0, 2.5))  # sines stay positive: within (0, pi)
_SMALL_ANGLE = ((0.0, 0.5), (0.5, 1.3))  # cosines stay positive: within [0, pi/2)
_TIME = ((0.0, 5.0), (5.0, 20.0))
_DECAY = ((0.05, 0.2), (0.2, 0.4))
_COUNT = ((100.0, 1000.0), (1000.0, 10000.0))

#: Formulas with exp, log, sin, cos, tanh, asin or the square root of a sum.
FUNCTION_FORMULAS: tuple[SuiteFormula, ...] = (
    # -- one function of a product of powers, times a product of powers ----------------
    _formula(
        "lorentz_force",
        "electromagnetism",
        "q*v*B*sin(theta)",
        q=_SMALL,
        v=_SMALL,
        B=_SMALL,
        theta=_ANGLE,
    ),
    _formula("bragg_wavelength", "crystallography", "2*d*sin(theta)", d=_SMALL, theta=_ANGLE),
    _formula("ac_power", "electricity", "Vr*Ir*cos(phi)", Vr=_MEDIUM, Ir=_SMALL, phi=_SMALL_ANGLE),
    _formula("malus_law", "optics", "I0*cos(theta)**2", I0=_MEDIUM, theta=_SMALL_ANGLE),
    _formula(
        "projectile_range",
        "mechanics",
        "v**2*sin(2*theta)/9.81",
        v=_MEDIUM,
        theta=((0.1, 0.5), (0.5, 1.4)),
    ),
    _formula(
        "standard_normal_density",
        "statistics",
        "exp(-x**2/2)/sqrt(2*pi)",
        x=((0.0, 1.0), (1.0, 3.0)),
    ),
    _formula("radioactive_decay", "nuclear physics", "N0*exp(-k*t)", N0=_COUNT, k=_DECAY, t=_TIME),
    _formula(
        "half_life_decay",
        "nuclear physics",
        "N0*0.5**(t/th)",
        N0=_COUNT,
        t=_TIME,
        th=((1.0, 5.0), (5.0, 20.0)),
    ),
    _formula(
        "population_doubling",
        "biology",
        "N0*2**(t/td)",
        N0=_COUNT,
        t=_TIME,
        td=((1.0, 5.0), (5.0, 10.0)),
    ),
    _formula(
        "drug_concentration",
        "pharmacology",
        "D/Vd*exp(-k*t)",
        D=((100.0, 500.0), (500.0, 2000.0)),
        Vd=((10.0, 50.0), (50.0, 100.0)),
        k=_DECAY,
        t=_TIME,
    ),
    _formula(
        "continuous_compounding",
        "finance",
        "P*exp(r*t)",
        P=_MONEY,
        r=((0.01, 0.1), (0.1, 0.2)),
        t=((1.0, 5.0), (5.0, 30.0)),
    ),
    _formula(
        "arrhenius_rate",
        "chemistry",
        "A*exp(-Ea/(8.314*T))",
        A=((1e6, 1e7), (1e7, 1e9)),
        Ea=((1e4, 2e4), (2e4, 3.5e4)),
        T=((300.0, 400.0), (400.0, 900.0)),
    ),
    _formula(
        "zeeman_population",
        "statistical mechanics",
        "n0*exp(-mu*B/(1.380649e-23*T))",
        n0=_MEDIUM,
        mu=((5e-24, 1e-23), (1e-23, 2e-23)),
        B=_SMALL,
        T=((300.0, 600.0), (600.0, 1200.0)),
    ),
    _formula(
        "barometric_pressure",
        "atmosphere",
        "p0*exp(-0.02896*9.81*h/(8.314*T))",
        p0=((9e4, 1.1e5), (1.1e5, 3e5)),
        h=((0.0, 2000.0), (2000.0, 10000.0)),
        T=((270.0, 290.0), (230.0, 320.0)),
    ),
    _formula(
        "richardson_thermionic_current",
        "solid-state physics",
        "1.2017e6*T**2*exp(-W/(8.617e-5*T))",
        W=((2.0, 2.5), (2.5, 3.5)),
        T=((1800.0, 2200.0), (2200.0, 3000.0)),
    ),
    _formula(
        "beer_lambert_transmission",
        "chemistry",
        "I0*10**(-eps*conc*l)",
        I0=_MEDIUM,
        eps=((10.0, 50.0), (50.0, 100.0)),
        conc=((0.001, 0.005), (0.005, 0.01)),
        l=((0.5, 1.0), (1.0, 2.0)),
    ),
    _formula(
        "capacitor_charging",
        "electricity",
        "V0*(1 - exp(-t/(R*Cf)))",
        V0=_MEDIUM,
        t=((0.1, 1.0), (1.0, 5.0)),
        R=((100.0, 500.0), (500.0, 2000.0)),
        Cf=((1e-3, 5e-3), (5e-3, 2e-2)),
    ),
    _formula(
        "biochemical_oxygen_demand",
        "environmental engineering",
        "213.8*(1 - exp(-0.547*x))",
        x=((1.0, 4.0), (4.0, 10.0)),
    ),
    _formula(
        "falling_with_drag",
        "mechanics",
        "vt*tanh(9.81*t/vt)",
        vt=((10.0, 50.0), (50.0, 100.0)),
        t=((0.5, 2.0), (2.0, 10.0)),
    ),
    _formula(
        "nernst_potential",
        "electrochemistry",
        "8.314*T/(z*96485)*log(c1/c2)",
        T=((280.0, 320.0), (320.0, 400.0)),
        z=((1.0, 2.0), (2.0, 3.5)),
        c1=((10.0, 50.0), (50.0, 200.0)),
        c2=((1.0, 5.0), (5.0, 9.5)),
    ),
    _formula(
        "isothermal_work",
        "thermodynamics",
        "n*8.314*T*log(V2/V1)",
        n=_SMALL,
        T=((250.0, 400.0), (400.0, 1200.0)),
        V1=((1.0, 2.0), (2.0, 4.0)),
        V2=((5.0, 10.0), (10.0, 50.0)),
    ),
    _formula(
        "rocket_equation",
        "astronautics",
        "ve*log(m0/mf)",
        ve=((1000.0, 2500.0), (2500.0, 4500.0)),
        m0=((100.0, 200.0), (200.0, 1000.0)),
        mf=((10.0, 40.0), (40.0, 90.0)),
    ),
    _formula(
        "absorbance",
        "chemistry",
        "log(I0/It)/log(10)",
        I0=((100.0, 200.0), (200.0, 500.0)),
        It=((10.0, 40.0), (40.0, 90.0)),
    ),
    _formula(
        "sound_intensity_level",
        "acoustics",
        "10*log(Iw/1e-12)/log(10)",
        Iw=((1e-6, 1e-4), (1e-4, 1.0)),
    ),
    _formula("ph", "chemistry", "-log(h)/log(10)", h=((1e-5, 1e-3), (1e-3, 0.1))),
    _formula(
        "log_return",
        "finance",
        "log(P1/P0)",
        P1=((120.0, 200.0), (200.0, 500.0)),
        P0=((50.0, 70.0), (70.0, 115.0)),
    ),
    _formula(
        "critical_angle",
        "optics",
        "asin(n2/n1)",
        n1=((1.5, 1.7), (1.7, 2.4)),
        n2=((1.0, 1.1), (1.1, 1.33)),
    ),
    # -- two functions, nested functions, functions of sums ----------------------------
    _formula(
        "exp_cos_sum",
        "symbolic regression",
        "1.5*exp(x0) + 5*cos(x1)",
        x0=((0.0, 1.0), (1.0, 3.0)),
        x1=((0.0, 0.6), (0.6, 1.5)),
    ),
    _formula(
        "sin_cos_product",
        "symbolic regression",
        "6*sin(x0)*cos(x1)",
        x0=_ANGLE,
        x1=((0.0, 0.6), (0.6, 1.4)),
    ),
    _formula(
        "log_sum",
        "symbolic regression",
        "log(x + 1) + log(x**2 + 1)",
        x=((0.1, 1.0), (1.0, 5.0)),
    ),
    _formula(
        "damped_oscillation",
        "mechanics",
        "A*exp(-b*t)*cos(w*t)",
        A=_SMALL,
        b=((0.1, 0.5), (0.5, 1.0)),
        t=((0.1, 0.6), (0.6, 1.25)),
        w=((0.85, 1.0), (1.0, 1.2)),
    ),
    _formula(
        "inclined_plane_acceleration",
        "mechanics",
        "9.81*(sin(theta) - mu*cos(theta))",
        theta=((0.6, 0.9), (0.9, 1.4)),
        mu=((0.05, 0.3), (0.3, 0.6)),
    ),
    _formula(
        "relativistic_mass",
        "relativity",
        "m0/sqrt(1 - v**2/8.988e16)",
        needs_roots=True,
        m0=_SMALL,
        v=((3e7, 1.2e8), (1.2e8, 2.7e8)),
    ),
    _formula(
        "cosine_rule",
        "geometry",
        "sqrt(a**2 + b**2 - 2*a*b*cos(ang))",
        needs_roots=True,
        a=_SMALL,
        b=_SMALL,
        ang=((0.5, 1.5), (1.5, 3.0)),
    ),
    _formula(
        "pendulum_displacement",
        "mechanics",
        "x0*cos(sqrt(9.81/Lp)*t)",
        needs_roots=True,
        x0=_SMALL,
        Lp=((1.0, 2.0), (2.0, 5.0)),
        t=((0.05, 0.2), (0.2, 0.45)),
    ),
    _formula(
        "water_wave_speed",
        "fluids",
        "sqrt(9.81*tanh(k*d)/k)",
        needs_roots=True,
        k=((0.1, 1.0), (1.0, 5.0)),
        d=((1.0, 5.0), (5.0, 20.0)),
    ),
    _formula(
        "snell_refraction_angle",
        "optics",
        "asin(n1*sin(theta)/n2)",
        n1=((1.0, 1.1), (1.1, 1.33)),
        n2=((1.5, 1.7), (1.7, 2.4)),
        theta=((0.1, 0.7), (0.7, 1.5)),
    ),
    _formula(
        "normal_density",
        "statistics",
        "exp(-(x - mu)**2/(2*sd**2))/(sd*sqrt(2*pi))",
        x=((0.0, 2.0), (2.0, 6.0)),
        mu=((0.0, 2.0), (2.0, 4.5)),
        sd=((1.0, 2.0), (2.0, 4.0)),
    ),
    _formula(
        "logistic_growth",
        "biology",
        "K/(1 + (K/P0 - 1)*exp(-r*t))",
        K=((100.0, 200.0), (200.0, 500.0)),
        P0=((5.0, 20.0), (20.0, 50.0)),
        r=((0.1, 0.5), (0.5, 1.0)),
        t=_TIME,
    ),
    _formula(
        "gompertz_growth",
        "biology",
        "a*exp(-b*exp(-c*t))",
        a=((100.0, 200.0), (200.0, 500.0)),
        b=((1.0, 3.0), (3.0, 6.0)),
        c=((0.1, 0.5), (0.5, 1.0)),
        t=_TIME,
    ),
    _formula(
        "discrete_compounding",
        "finance",
        "P*(1 + r/n)**(n*t)",
        P=_MONEY,
        r=_RATE,
        n=((1.0, 4.0), (4.0, 12.0)),
        t=((1.0, 5.0), (5.0, 20.0)),
    ),
    _formula(
        "planck_spectral_radiance",
        "thermodynamics",
        "1.4745e-23*nu**3/(exp(0.04799*nu/T) - 1)",
        nu=((10.0, 100.0), (100.0, 500.0)),
        T=((3.0, 30.0), (30.0, 300.0)),
    ),
    _formula(
        "tetens_vapour_pressure",
        "meteorology",
        "610.78*exp(17.27*Tc/(Tc + 237.3))",
        Tc=((0.0, 20.0), (20.0, 50.0)),
    ),
    _formula(
        "log_mean_temperature_difference",
        "heat transfer",
        "(dT1 - dT2)/log(dT1/dT2)",
        dT1=((30.0, 50.0), (50.0, 90.0)),
        dT2=((5.0, 15.0), (15.0, 27.0)),
    ),
)


#: The collections of formulas, by name: ``"textbook"`` (:data:`FORMULAS`),
#: ``"algebraic"`` (:data:`ALGEBRAIC_FORMULAS`) and ``"functions"``
#: (:data:`FUNCTION_FORMULAS`).
FORMULA_COLLECTIONS: dict[str, tuple[SuiteFormula, ...]] = {
    "textbook": FORMULAS,
    "algebraic": ALGEBRAIC_FORMULAS,
    "functions": FUNCTION_FORMULAS,
}


def formula_collection(name: str) -> tuple[SuiteFormula, ...]:
    """The formulas of a collection of :data:`FORMULA_COLLECTIONS`, or of all (``"all"``).

    Parameters
    ----------
    name : {"textbook", "algebraic", "functions", "all"}
        The collection; ``"all"`` is the three, one after the other.

    Returns
    -------
    tuple of SuiteFormula
        Its formulas.

    Examples
    --------
    >>> [len(formula_collection(name)) for name in ("textbook", "algebraic", "functions")]
    [37, 50, 44]
    """
    if name == "all":
        return tuple(f for formulas in FORMULA_COLLECTIONS.values() for f in formulas)
    if name not in FORMULA_COLLECTIONS:
        raise ValueError(
            f"unknown collection {name!r}; choose from {', '.join(FORMULA_COLLECTIONS)} or all."
        )
    return FORMULA_COLLECTIONS[name]


def check_formula(formula: str | SuiteFormula) -> SuiteFormula:
    """A formula of a collection (:data:`FORMULA_COLLECTIONS`), from its name.

    Parameters
    ----------
    formula : str or SuiteFormula
        The name of a formula of :data:`FORMULAS`, :data:`ALGEBRAIC_FORMULAS` or
        :data:`FUNCTION_FORMULAS`, or a formula, returned as it is.

    Returns
    -------
    SuiteFormula
        The formula.

    Examples
    --------
    >>> check_formula("kinetic_energy").expression
    'm*v**2/2'
    >>> check_formula("lorentz_force").expression
    'q*v*B*sin(theta)'
    """
    import difflib

    if isinstance(formula, SuiteFormula):
        return formula
    known = {f.name: f for f in formula_collection("all")}
    if formula in known:
        return known[formula]
    close = difflib.get_close_matches(str(formula), known, n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ValueError(
        f"unknown formula {formula!r}; {hint}the names are those of the collections "
        f"{', '.join(FORMULA_COLLECTIONS)} (sknalu.benchmarks.FORMULA_COLLECTIONS)."
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
    # The estimator renames a column sympy reads as something else (``beta`` is
    # ``beta_``): its symbols are parsed as such, then mapped to the variables.
    import sympy

    names = getattr(estimator, "formula_symbols_", None) or {}
    symbols = formula.symbols()
    own = {s: sympy.Symbol(s) for s in names}
    expression = sympy.sympify(text.removeprefix("≈").strip(), locals={**symbols, **own})
    renamed = {sympy.Symbol(s): symbols[c] for s, c in names.items() if c in symbols}
    return text, expression.xreplace(renamed), marked_exact


def _relative(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        error = np.abs(found - truth) / np.abs(truth)
    return np.where(np.isfinite(error), error, np.inf)


def _monomials(expression: sympy.Expr, symbols) -> tuple[frozenset, frozenset] | None:
    """The monomials of the numerator and the denominator; None if not rational in symbols."""
    import sympy

    if not expression.free_symbols <= set(symbols) or expression.atoms(sympy.Function):
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
    """Whether ``found`` has the monomials (or terms) of ``truth``, whatever their coefficients.

    For a ``truth`` that is a rational function of ``symbols``: both are written as
    one fraction (:func:`sympy.together`), common factors of numerator and
    denominator cancelled (:func:`sympy.cancel`), numerator and denominator expanded
    into polynomials of ``symbols``; the structure is the same when the sets of
    monomials of the numerators and of the denominators are. A ``found`` that is no
    rational function of ``symbols`` (a square root, say) is then never the same.

    For a ``truth`` with roots whose square is a rational function
    (``m0/sqrt(1 - v**2/c**2)``): the same when the squares have the same
    monomials, as above; otherwise, and for a ``truth`` with functions, see below.

    For a ``truth`` with roots or functions (``sqrt(k/m)``, ``A*exp(-b*t)``): both
    are expanded (products of sums multiplied out, ``sqrt(k/m)`` into
    ``sqrt(k)/sqrt(m)``, ``log(a/b)`` into ``log(a) - log(b)``, ``exp(a + b)`` into
    ``exp(a)*exp(b)``) into sums of terms; the structure is the same when the sets
    of terms are, a term being its variables with their exponents and its function
    applications, each with the terms of its argument, compared the same way; a
    number to a variable power, ``2**(t/td)``, is an ``exp``. Coefficients,
    numbers inside functions included, are ignored.

    Parameters
    ----------
    found, truth : sympy.Expr
        The formula read back and the true one.
    symbols : sequence of sympy.Symbol
        The variables.

    Returns
    -------
    bool
        Whether the monomials (or terms) are the same.

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
    >>> t, b = sympy.symbols("t b")
    >>> same_structure(3.1 * sympy.exp(-0.98 * b * t), sympy.exp(-b * t), [t, b])
    True

    A truth with a root whose square is a rational function has the structure of a
    formula whose square has the same monomials, however the root is written:

    >>> m0, v, c = sympy.symbols("m0 v c", positive=True)
    >>> same_structure(1.01 * c * m0 / sympy.sqrt(0.99 * c**2 - v**2),
    ...                m0 / sympy.sqrt(1 - v**2 / c**2), [m0, v, c])
    True
    """
    truth_monomials = _monomials(truth, symbols)
    if truth_monomials is None:
        return _same_squares(found, truth, symbols) or _same_terms(found, truth, symbols)
    found_monomials = _monomials(found, symbols)
    return found_monomials is not None and found_monomials == truth_monomials


def _same_squares(found, truth, symbols) -> bool:
    """Whether ``found`` and a ``truth`` whose square is a rational function have
    squares of the same monomials: ``c*m0/sqrt(c**2 - v**2)`` is
    ``m0/sqrt(1 - v**2/c**2)`` written over another term."""
    if _heads(truth) - {"root", "root of a sum"} or not found.free_symbols <= set(symbols):
        return False
    squared = _monomials(truth**2, symbols)
    return squared is not None and _monomials(found**2, symbols) == squared


def _heads(expression) -> frozenset:
    """The functions of ``expression`` and its kinds of non-integer power, by name."""
    import sympy

    heads = {type(f).__name__ for f in expression.atoms(sympy.Function)}
    for power in expression.atoms(sympy.Pow):
        if not power.free_symbols:
            continue
        if power.exp.free_symbols:
            heads.add("exp")  # b**x is exp(x*log(b))
        elif not _is_integer(power.exp):
            heads.add("root" if _is_monomial(power.base) else "root of a sum")
    return frozenset(heads)


def _same_terms(found, truth, symbols) -> bool:
    """:func:`same_structure` for a truth with roots or functions: the same terms."""
    import sympy

    if (
        not found.free_symbols <= set(symbols)
        or found.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan)
        or _heads(found) != _heads(truth)  # at once, before expanding anything
    ):
        return False
    try:
        return _terms(found) == _terms(truth)
    except Exception:  # sympy has many ways of failing on a formula read back
        return False


def _terms(expression) -> frozenset:
    """The terms of ``expression`` expanded, without their coefficients (:func:`_term`)."""
    import sympy

    expression = expression.xreplace({f: sympy.Rational(f) for f in expression.atoms(sympy.Float)})
    expanded = sympy.expand(expression, power_base=True, power_exp=True, log=True, force=True)
    return frozenset(_term(term) for term in sympy.Add.make_args(expanded))


def _term(term) -> frozenset:
    """A term as its factors ``(head, exponent)``, numbers left out.

    A head is a variable's name, a function's name with the terms of its arguments,
    or the terms of a sum raised to a power; a number to a variable power is an
    ``exp`` of the terms of the power.
    """
    import sympy

    factors = set()
    for factor in sympy.Mul.make_args(term):
        if factor.is_number:
            continue
        base, exponent = factor.as_base_exp() if factor.is_Pow else (factor, sympy.Integer(1))
        while base.is_Pow and base.exp.is_number and exponent.is_number:  # sqrt(1/m)
            base, exponent = base.base, base.exp * exponent
        if base.is_number:
            head, exponent = ("exp", (_terms(exponent),)), sympy.Integer(1)
        elif base.is_Symbol:
            head = base.name
        elif base.is_Function:
            head = (type(base).__name__, tuple(_terms(a) for a in base.args))
        else:
            head = ("sum", _terms(base))
        factors.add((head, exponent if exponent.is_number else _terms(exponent)))
    return frozenset(factors)


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
    "supported_structure_share",
    "errors",
    "fit_time_median",
    "fit_time_max",
    "failed_fit_time_median",
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
    "found_by",
    "truth_supported",
    "error",
]


def _draw_rows(formula: SuiteFormula, seed: int, noise: float, n_train: int, n_test: int):
    """A seed's training rows, test rows and checking points, each drawn in turn.

    Returns ``X, y, X_test, y_test, X_check``: ``y`` with its noise (Gaussian, with
    a standard deviation of ``noise`` times the root mean square of ``y``), ``y_test``
    exact, ``X_check`` the :data:`EXACT_POINTS` points of the test ranges on which
    the formula read back is compared to the truth.
    """
    rng = np.random.RandomState(seed)
    X = formula.sample(n_train, rng, "train")
    X_test = formula.sample(n_test, rng, "test")
    X_check = formula.sample(EXACT_POINTS, rng, "test")
    y, y_test = formula.evaluate(X), formula.evaluate(X_test)
    if noise > 0:
        y = y + rng.normal(scale=noise * np.sqrt(np.mean(y**2)), size=len(y))
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
        "found_by": None,
        "truth_supported": None,
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
    row["found_by"] = _found_by(estimator)
    return expression


def _found_by(estimator) -> str | None:
    """Which part of ``units="auto"`` gave the formula kept: ``"closed form"``,
    ``"linear model"`` or ``"trained"`` (a stack of units); None for other models."""
    results = getattr(estimator, "search_results_", None)
    if results is None:
        return None
    chosen = [s for s, c in zip(results["source"], results["chosen"], strict=True) if c]
    return chosen[0] if chosen else None


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
        if noise > 0 and expression is not None and not row["structure"]:
            row["truth_supported"] = truth_supported(formula, expression, X, y)
    except Exception as exc:  # sympy, gplearn and the fits fail in many ways
        row["exact"] = row["structure"] = False
        row["error"] = f"{type(exc).__name__}: {exc}"
    return row


def truth_supported(formula: SuiteFormula, found: sympy.Expr, X, y) -> bool:
    """Whether the rows ``X``, ``y`` prefer ``formula``'s truth to ``found``.

    Both are charged as the estimators' criterion charges a formula (extended
    BIC, ``n log RSS + k (log n + 2 log 1000)``), ``k`` the constants each fits
    as the search writes it (:func:`_charged`): a ratio of polynomials (or a
    polynomial) a constant per monomial of its expanded numerator and
    denominator, less one; any other formula the numbers it holds outside its
    exponents. The truth's constants are refitted by nonlinear least squares on
    the rows, from their true values; ``found``'s are its own.

    Parameters
    ----------
    formula : SuiteFormula
        The formula whose truth is charged.
    found : sympy.Expr
        The formula read back, in ``formula``'s symbols.
    X : DataFrame
        The training rows, a column per variable.
    y : ndarray
        The (noisy) target.

    Returns
    -------
    bool
        True where the truth's criterion is the lower.

    Examples
    --------
    >>> f = check_formula("shifted_spring_energy")
    >>> X, y, *_ = _draw_rows(f, 0, 0.01, 400, 10)
    >>> truth_supported(f, f.parse("0.5*k*x**2"), X, y)
    True
    """
    import sympy
    from scipy.optimize import least_squares

    symbols = list(formula.symbols().values())
    columns = [np.asarray(X[name], dtype=float) for name in formula.variables]
    y = np.asarray(y, dtype=float)
    per_term = math.log(len(y)) + 2 * math.log(CRITERION_CANDIDATES)

    def criterion(rss: float, k: int) -> float:
        return len(y) * math.log(max(rss, 1e-300)) + k * per_term

    with np.errstate(all="ignore"):
        found_values = sympy.lambdify(symbols, found, "numpy")(*columns)
        found_rss = float(np.sum((np.broadcast_to(found_values, y.shape) - y) ** 2))
        truth, values, k = _charged(formula.to_sympy(), symbols)
        model = sympy.lambdify([*sympy.symbols(f"p0:{len(values)}"), *symbols], truth, "numpy")
        start = np.asarray(values, dtype=float)
        fit = least_squares(
            lambda p: np.broadcast_to(model(*p, *columns), y.shape) - y,
            start,
            x_scale=np.where(start != 0, np.abs(start), 1.0),
        )
    if not np.isfinite(found_rss):
        return True
    found_k = _charged(found, symbols)[2]
    return criterion(float(fit.fun @ fit.fun), k) < criterion(found_rss, found_k)


def _charged(expression, symbols):
    """``expression`` with its constants as symbols ``p0``, ``p1``, ..., their
    values, and the number the search would fit (see :func:`truth_supported`).

    A ratio of polynomials: a symbol per monomial of the expanded numerator and
    denominator, but the denominator's first, kept at its value (``k`` one
    less). Any other formula: a symbol per number outside its exponents (or one
    in front where it has none)."""
    import sympy

    values: list[float] = []

    def symbol(value) -> sympy.Symbol:
        values.append(float(value))
        return sympy.Symbol(f"p{len(values) - 1}")

    if expression.is_rational_function(*symbols):
        numerator, denominator = sympy.fraction(sympy.together(expression))
        parts = []
        for polynomial in (numerator, denominator):
            terms = sympy.Poly(sympy.expand(polynomial), *symbols).terms()
            parts.append(
                [(sympy.Mul(*(s**e for s, e in zip(symbols, m, strict=True))), c) for m, c in terms]
            )
        (num, den) = parts
        lead_monomial, lead = den[0]
        top = sum(symbol(c) * m for m, c in num)
        bottom = lead * lead_monomial + sum(symbol(c) * m for m, c in den[1:])
        return top / bottom, values, len(values)

    def free(e):
        if e.is_Number:
            return symbol(e)
        if e.is_Pow and e.exp.is_Number:
            return sympy.Pow(free(e.base), e.exp)
        if not e.args or e.is_Symbol:
            return e
        return e.func(*[free(a) for a in e.args])

    out = free(expression)
    if not values:
        out = symbol(1.0) * out
    return out, values, len(values)


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
        Names of formulas of :data:`FORMULA_COLLECTIONS`, or formulas of one's own;
        :data:`FORMULAS` by default. The models of :data:`ROOTLESS_MODELS` are not
        asked for a formula that :attr:`~SuiteFormula.needs_roots` (no row).
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
        ``noise`` times the target's root mean square (``sqrt(mean(y**2))``); the
        test target stays exact.
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
        One row per formula, model asked for it and seed, :data:`FORMULAS_COLUMNS`:
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
        if f.is_for(m)
        for s in seeds
    ]
    rows = run_jobs(jobs, n_jobs, what="formulas")
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
        ``exact_share``, ``structure_share``, ``errors`` (fits that raised),
        ``fit_time_median`` and ``fit_time_max`` (seconds, over all fits),
        ``failed_fit_time_median`` (seconds, over the fits that are not exact; NaN
        when all are) and ``extrapolation_error_median``.

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


def _supported_structure_share(part: pd.DataFrame) -> float:
    """The share of right structures among the fits whose structure is right or
    whose truth the rows prefer (``truth_supported``); NaN without noisy fits."""
    if "truth_supported" not in part:
        return math.nan
    structure = part["structure"].astype(bool)
    supported = structure | (part["truth_supported"] == True)  # noqa: E712 (None: no noise)
    return float(structure[supported].mean()) if supported.any() else math.nan


def _exact_by_training(part: pd.DataFrame) -> int:
    """Exact fits whose formula only a trained stack of units found (units="auto")."""
    if "found_by" not in part:
        return 0
    return int((part["exact"].astype(bool) & (part["found_by"] == "trained")).sum())


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
        "supported_structure_share": _supported_structure_share(part),
        "errors": int(part["error"].notna().sum()),
        "fit_time_median": float(part["fit_time"].median()),
        "fit_time_max": float(part["fit_time"].max()),
        "failed_fit_time_median": float(part.loc[~part["exact"].astype(bool), "fit_time"].median()),
        # Exact fits that only a trained stack of units found (units="auto").
        "exact_by_training": _exact_by_training(part),
        "extrapolation_error_median": float(part["extrapolation_error"].median()),
    }
