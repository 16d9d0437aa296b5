"""Every threshold that decides "exact", "fits", "no worse" or "simple", and its test.

A network of arithmetic units is worth its formula only when the formula is the
target's, so sknalu calls a fit *exact* only where float64 rounding, not a missing
or extra term, explains what is left. The thresholds below say where that line
is; each is used by the modules named beside it and defined nowhere else. Errors
are relative: a mean squared error divided by the mean squared target (or by the
target's variance, for an R²).

=========================  ==========  =============================================
name                       value       decides
=========================  ==========  =============================================
``EXACT_FIT``              1e-12       a trained copy fits exactly (training stops)
``EXACT_LEAST_SQUARES``    1e-20       a least-squares solution or closed-form
                                       formula fits exactly
``EXACT_SEARCH``           1e-26       a formula of the closed-form search can be
                                       exact (held-out error)
``EXACT_EXTRAPOLATION``    1e-24       ... and still fits the outer rows of each
                                       column, refitted on the others
``EXACT_R2``               1 - 1e-9    a formula with discrete weights is exact
``EXACT_RELATIVE_MSE``     1e-20 (f64) ... and fits the held-out rows to rounding
``MIN_EXACT_ROWS``         20          ... judged on at least this many rows
``AGREEMENT``              1e-6        the formula computes what ``predict`` does
``SNAP_TOLERANCE``         0.1         how far the snap moves a weight
``FORMULA_TOLERANCE``      0.01        how far a weight read as a discrete value
                                       may be from it
``SIMPLE_RELATIVE``        1e-9        a constant is a simple number (½, π, ...)
``SIMPLE_RELATIVE_STEPS``  1e-12 ...   ... the tolerances the snap tries, in turn
``SIMPLE_TRAINED``         1e-4        a trained constant in a function is simple
``ESCAPE_IMPROVEMENT``     1e-9        a saddle-escape step lowers the error
``FLAT_CURVATURE``         1e-12       a Hessian eigenvalue is negative
``NO_WORSE_RTOL/ATOL``     1e-6/1e-24  an error counts as no increase
``NOISE_RTOL``             0.1         ... on noisy targets, if not significant
``FITTING``                1e-2        ... for a network that fits but for noise
``NEGLIGIBLE``             1e-12       a closed-form term contributes nothing
``NULL``/``NULL_ENTRY``    1e-9/1e-6   a singular value, a null-vector entry is 0
``SIMPLER_WITHIN``         0.05        a formula with more terms is not better
``CLEARLY_WORSE``          2           a simpler formula is worse, whatever the test
``BEAT_LINEAR``            0.5         a formula beats the linear model
``TRAIN_BELOW_R2``         1 - 1e-3    units="auto" trains stacks
``BEAT_CLOSED_FORM``       0.5         a trained stack beats the closed form
=========================  ==========  =============================================
"""

from __future__ import annotations

import math

import torch

#: Relative held-out mean squared error under which a trained copy counts as an exact
#: fit, and training stops: well above float64 rounding of a right network (about
#: 1e-30), well below the error of a network that misses a term.
EXACT_FIT = 1e-12

#: Relative mean squared error under which a least-squares solution (a refit of a
#: unit's weights, a closed-form formula) counts as exact: float64 rounding of a right
#: formula is about 1e-30, a wrong one is far above.
EXACT_LEAST_SQUARES = 1e-20

#: Held-out relative mean squared error under which a formula of the closed-form
#: search can be exact (it must then also extrapolate, see ``confirm_exact``): the
#: exact formulas of the benchmark's collections reach 1e-33 to 2e-28 with columns
#: scaled for least squares, while a polynomial of high degree that approximates a
#: sine or an exponential on a narrow range reaches 1e-25 to 1e-21 there.
EXACT_SEARCH = 1e-26

#: Relative mean squared error on the outer rows of each column under which such a
#: formula, refitted on the others, still counts as exact (``confirm_exact``): the
#: exact formulas of the benchmark's collections reach 1e-31 to 3e-26 there, while a
#: ratio of polynomials approximating an exponential on a narrow range, found in
#: columns centred for its null vector, reaches 1e-23.
EXACT_EXTRAPOLATION = 1e-24

#: Held-out R² from which a network with discrete weights counts as exact. A relative
#: mean squared error of 1e-9 is a root-mean-square miss of 3e-5 of the targets'
#: standard deviation: far above the float64 rounding of a right formula (about
#: 1e-16 relative, squared), far below what leaving out or adding a whole term or
#: factor costs, unless that term is itself that small.
EXACT_R2 = 1 - 1e-9

#: Held-out mean squared error, over the mean squared target, under which a network
#: with discrete weights counts as exact, by floating-point type. float64: the exact
#: fits of the formula suites reach at most 5e-28 (float rounding); a formula with
#: fitted constants that only approximates a smooth function (a ratio of polynomials
#: for a sine or an exponential on a narrow range) stays above 1e-16, so 1e-20 lies
#: between them with orders to spare. float32 keeps about 7 digits: rounding and a
#: close approximation cannot be told apart below ``1 - EXACT_R2``.
EXACT_RELATIVE_MSE = {"float64": 1e-20, "float32": 1e-9}

#: Fewer rows than this never make a fit exact: a formula with a few constants fits
#: a few rows of anything to rounding.
MIN_EXACT_ROWS = 20

#: Largest relative difference between the formula and ``predict`` on the training
#: rows that counts as computing the same: float32 rounding stays below it.
AGREEMENT = 1e-6

#: Largest distance a weight is moved by snapping. Generous on purpose: the held-out
#: check, not the distance, decides whether the snapped weights are kept.
SNAP_TOLERANCE = 0.1

#: Default tolerance of the formula: a weight is read as a discrete value when it is
#: at most this far from it. After the snap the weights of a solved network are
#: exactly discrete, so this only has to absorb the remaining error of a network
#: trained without snapping.
FORMULA_TOLERANCE = 0.01

#: How close (relatively) a constant must be to a simple number (a small fraction,
#: times a power of π) to be moved onto it: float64 rounding of a least-squares
#: constant stays far below it.
SIMPLE_RELATIVE = 1e-9

#: The relative tolerances, strictest first, with which the snap tries to move the
#: constants of a network that fits but for noise onto simple numbers: a looser one
#: is tried only after the stricter ones, and the held-out rows judge each.
SIMPLE_RELATIVE_STEPS = (1e-12, SIMPLE_RELATIVE, 1e-6)

#: How close (relatively) a constant inside a function (``sin(2*pi*x)``, the constants
#: of a :class:`~sknalu.units.FunctionUnit`) must be to a simple number for the snap to
#: move it there. No least-squares refit makes such a constant exact, only gradient
#: descent, which ends about 1e-5 relative from it; at 1e-4 only the simplest numbers
#: qualify (size at most 10, by the rule of :func:`~sknalu.exact._numbers.simple_form`:
#: ½, 2, 2/3, 2π, ...), and the held-out rows judge the move.
SIMPLE_TRAINED = 1e-4

#: Relative increase of an error, and absolute increase in units of the mean squared
#: target, that :func:`no_worse` still counts as no increase: rounding, not a change
#: of formula.
NO_WORSE_RTOL, NO_WORSE_ATOL = 1e-6, 1e-24

#: The saddle escape takes a step only where it lowers a copy's error by more than
#: this fraction, so that float64 rounding alone never moves a copy.
ESCAPE_IMPROVEMENT = 1e-9

#: An eigenvalue of the Hessian counts as negative only below minus this fraction of
#: the largest magnitude: smaller ones are the float64 rounding of a zero curvature.
FLAT_CURVATURE = 1e-12

#: On noisy targets a network that has fitted some of the noise can beat the right
#: formula on a few held-out rows by a few percent. A snap is also accepted when it
#: raises the held-out error by at most this fraction and not significantly: by less
#: than two standard errors of the mean of the rows' paired differences.
NOISE_RTOL = 0.1

#: ... but only for a network whose mean squared error is below this fraction of the
#: mean squared target: one that fits the data but for noise.
FITTING = 1e-2

#: A closed-form term whose contribution is below this fraction of the target's norm
#: is 0: it can only be fitting rounding.
NEGLIGIBLE = 1e-12

#: A singular value below ``NULL`` times the largest is zero (an exact ratio of
#: polynomials exists), and so is a null vector's entry below ``NULL_ENTRY`` times its
#: largest: both sit between float64 rounding and any real coefficient.
NULL, NULL_ENTRY = 1e-9, 1e-6

#: A formula with more terms is kept only if it lowers the held-out error by more
#: than this fraction: less is noise being fitted.
SIMPLER_WITHIN = 0.05

#: A formula with more than this times the lowest held-out error is clearly worse,
#: whatever the paired test says: errors with a heavy tail (a pole just outside the
#: rows) make the test's spread large. Noise alone never puts the right formula this
#: far above the best one on the same held-out rows.
CLEARLY_WORSE = 2.0

#: Without an exact formula, another formula must have at most this fraction of the
#: linear model's held-out error to be preferred to it.
BEAT_LINEAR = 0.5

#: Below this held-out R² of the best closed-form formula, ``units="auto"`` trains
#: the estimator's unit stacks: the closed form has not found the structure.
TRAIN_BELOW_R2 = 1 - 1e-3

#: Without an exact formula, a trained network must have at most this fraction of
#: the held-out error of the best formula found in closed form to be kept instead.
BEAT_CLOSED_FORM = 0.5


def no_worse(after, before, scale, rtol: float = NO_WORSE_RTOL, atol: float = NO_WORSE_ATOL):
    """Whether the error ``after`` a change counts as no worse than ``before``.

    ``after <= before * (1 + rtol) + atol * scale``, with ``scale`` the mean
    squared target; floats or tensors (element-wise).

    Examples
    --------
    >>> no_worse(1.0 + 1e-7, 1.0, scale=1.0), no_worse(1.1, 1.0, scale=1.0)
    (True, False)
    """
    return after <= before * (1 + rtol) + atol * scale


def not_significantly_worse(after: torch.Tensor, before: torch.Tensor) -> bool:
    """Whether per-row errors ``after`` are at most 10% and not significantly above ``before``.

    Examples
    --------
    >>> before = torch.linspace(1.0, 2.0, 50)
    >>> not_significantly_worse(before * 1.01, before), not_significantly_worse(before * 2, before)
    (False, False)
    >>> not_significantly_worse(before + 0.01 * torch.sin(torch.arange(50.0)), before)
    True
    """
    if len(after) < 20 or not bool(torch.isfinite(after).all()):
        return False
    difference = after - before
    bound = 2 * difference.std() / math.sqrt(len(difference))
    return bool(after.mean() <= (1 + NOISE_RTOL) * before.mean() and difference.mean() <= bound)


def is_exact_least_squares(residual: float, mean_square: float) -> bool:
    """Whether a least-squares residual (a mean square) counts as exact.

    Examples
    --------
    >>> is_exact_least_squares(1e-25, 1.0), is_exact_least_squares(1e-12, 1.0)
    (True, False)
    """
    return residual <= EXACT_LEAST_SQUARES * mean_square
