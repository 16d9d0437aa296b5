"""scikit-learn estimators built on networks of neural arithmetic units."""

from __future__ import annotations

import contextlib
import inspect
import math
import threading
import time
import warnings
from dataclasses import dataclass
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from ._docstrings import document
from ._network import ArithmeticNetwork
from ._validation import (
    NON_NEGATIVE,
    Interval,
    StrOptions,
    _check_numbers,
    _check_target_magnitude,
    at_least,
    check_sample_weight,
    one_cpu_thread,
    store_params,
)
from .exact._errors import lowest_r2, relative_mse
from .exact._snap import snap_network_
from .formula._estimator import FormulaMixin
from .formula._standardised import warn_if_standardised
from .search._auto import fit_auto
from .search._layout import Layout
from .training._data import HoldOut, TensorDataset, fit_seeds
from .training._net import ArithmeticNet, finite_copies, non_finite_loss_message
from .training._plan import check_callbacks, training_callbacks, training_outcome
from .training._private import supports_fused
from .training._schedules import LR_SCHEDULES
from .units._functions import FUNCTIONS, check_functions
from .units._registry import (
    UNITS,
    restore_registrations,
    units_of_family,
    user_registrations,
)
from .units._regularizers import OOB_MODES, REGULARIZER_SHAPES

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "sgd": torch.optim.SGD,
}
#: Optimiser steps between two evaluations of the held-out loss.
_STEPS_PER_EPOCH = 500
#: The floating-point types of the ``dtype`` hyperparameter.
_DTYPES = {"float64": torch.float64, "float32": torch.float32}


#: The hyperparameters' constraints, as scikit-learn's ``_validate_params`` reads them.
_PARAMETER_CONSTRAINTS: dict = {
    "units": [str, tuple, list],
    # The names are checked in fit by check_functions, which lists them.
    "functions": [tuple, list],
    "hidden_size": [at_least(1)],
    "n_restarts": [at_least(1)],
    "regularizer_strength": [NON_NEGATIVE],
    "regularizer_start": [at_least(0)],
    "regularizer_end": [at_least(0)],
    "regularizer_shape": [StrOptions(set(REGULARIZER_SHAPES))],
    "oob_mode": [StrOptions(set(OOB_MODES))],
    "optimizer": [str, type],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "lr_schedule": [StrOptions(set(LR_SCHEDULES))],
    "batch_size": [at_least(1)],
    "max_steps": [at_least(1)],
    "validation_fraction": [Interval(Real, 0, 0.5, closed="both")],
    # Checked in fit by _check_device and _check_callbacks, whose messages say
    # what is expected in more detail.
    "device": "no_validation",
    "dtype": [StrOptions(set(_DTYPES))],
    "random_state": ["random_state"],
    "verbose": [at_least(0)],
    "callbacks": "no_validation",
    "snap": ["boolean"],
    "escape_saddles": ["boolean"],
    "constants": ["boolean"],
    "n_jobs": [None, Integral],
    "max_time": [None, Interval(Real, 0, None, closed="neither")],
    "selection": [StrOptions({"best", "accuracy"})],
}


@dataclass(frozen=True)
class _Settings:
    """The validated settings of a fit that are not hyperparameters as they are."""

    units: tuple[str, ...]
    optimizer: type
    device: torch.device
    dtype: torch.dtype
    callbacks: list
    functions: tuple[str, ...] = FUNCTIONS


def _layer_units(est) -> tuple[str, ...]:
    """The unit of each layer, checked against the units ``est`` accepts."""
    units = (est.units,) * 2 if isinstance(est.units, str) else tuple(est.units)
    accepted = est._accepted_units()
    family = ", ".join(repr(u) for u in accepted)
    if not units or not all(isinstance(u, str) for u in units):
        raise ValueError(
            f"units must be a unit name or a non-empty tuple of unit names "
            f"(one per layer) from {family}; got {est.units!r}."
        )
    for unit in units:
        if unit not in accepted:
            other = " (a unit of the other estimator)" if unit in UNITS else ""
            raise ValueError(
                f"{type(est).__name__} does not know the unit {unit!r}{other}; "
                f"choose from {family}."
            )
    return units


def _optimizer_class(optimizer) -> type:
    """The optimiser class a name or class stands for."""
    if isinstance(optimizer, str) and optimizer.lower() in _OPTIMIZERS:
        return _OPTIMIZERS[optimizer.lower()]
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.SparseAdam):
        raise ValueError(
            "optimizer=SparseAdam needs sparse gradients, and the units' gradients are "
            "dense: use 'adam' (or another torch optimiser) instead."
        )
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        return optimizer
    raise ValueError(
        f"optimizer must be one of {sorted(_OPTIMIZERS)} or a "
        f"torch.optim.Optimizer subclass, got {optimizer!r}."
    )


def _check_device(name) -> torch.device:
    """The torch device ``name`` stands for, checked to exist."""
    message = f"device must be 'cpu', 'cuda' or 'cuda:N', got {name!r}."
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(message) from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(message)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but torch finds no CUDA device.")
    if device.type == "cuda" and device.index is not None:
        if device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={name!r} was asked for, but torch finds "
                f"{torch.cuda.device_count()} CUDA device(s), numbered from 0."
            )
    return device


def _with_defaults(init, **defaults):
    """``init`` with other defaults, and the signature that says so.

    scikit-learn reads an estimator's hyperparameters and their defaults from the
    signature of its ``__init__`` (``get_params``, ``clone``, the repr); the one
    made here lists the same hyperparameters as ``init`` with ``defaults`` in
    place, so that each is written, and documented, once.
    """
    signature = inspect.signature(init)
    unknown = set(defaults) - set(signature.parameters)
    if unknown:
        raise TypeError(f"not hyperparameters of {init.__qualname__}: {sorted(unknown)}")
    signature = signature.replace(
        parameters=[
            p.replace(default=defaults[p.name]) if p.name in defaults else p
            for p in signature.parameters.values()
        ]
    )

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        init(**bound.arguments)

    __init__.__signature__ = signature
    __init__.__doc__ = init.__doc__
    return __init__


_FITTING: set[int] = set()
_FITTING_LOCK = threading.Lock()


@contextlib.contextmanager
def _one_fit_at_a_time(est):
    """Refuse a second ``fit`` of ``est`` while one runs (in another thread)."""
    with _FITTING_LOCK:
        if id(est) in _FITTING:
            raise RuntimeError(
                f"This {type(est).__name__} is being fitted in another thread; fit a "
                "copy in each thread instead (sklearn.base.clone(estimator))."
            )
        _FITTING.add(id(est))
    try:
        yield
    finally:
        with _FITTING_LOCK:
            _FITTING.discard(id(est))


def _warn_if_unusable(est, n_not_finite: int, n_rows: int) -> None:
    """Warn, from ``fit``, about a fit that overflows on some rows or did not learn."""
    if n_not_finite:
        warnings.warn(
            f"The fitted network's predictions are not finite (inf or NaN) on "
            f"{n_not_finite} of the {n_rows} training rows: its sums and products of "
            "their features overflow float64, or divide by zero.",
            RuntimeWarning,
            stacklevel=6,
        )
    if not est.validation_score_ > 0:
        warnings.warn(
            f"{type(est).__name__} did not learn the target: the held-out R² of "
            f"the kept network is {est.validation_score_:.3g}, no better than "
            "predicting the target's mean (R² = 0), so its formula is not the "
            "target's. Try a smaller lr, more max_steps or n_restarts, or other "
            'units (units="auto" tries several).',
            ConvergenceWarning,
            stacklevel=6,
        )


def _tensor_data(X, y, sample_weight, settings: _Settings) -> tuple[TensorDataset, float]:
    """The rows that count, as tensors on the training device, and their mean squared target.

    With ``sample_weight``, the rows of weight 0 are left out and the others carry
    their weights, of mean 1 (:func:`~sknalu._validation.check_sample_weight`); the
    mean squared target is then weighted too.
    """
    X, y, weight = check_sample_weight(sample_weight, X, y)
    _check_target_magnitude(y)
    # torch.tensor copies: nothing the user passed in is ever shared or modified.
    X_t, y_t, weight_t = (
        None if a is None else torch.tensor(a, dtype=settings.dtype, device=settings.device)
        for a in (X, y, weight)
    )
    if weight is None:
        mean_square = np.mean(y**2)
    else:
        mean_square = np.average(np.mean(y**2, axis=1), weights=weight)
    return TensorDataset(X_t, y_t, weight_t), float(mean_square)


class _ArithmeticRegressor(FormulaMixin, RegressorMixin, BaseEstimator):
    """Shared implementation of the arithmetic-unit regressors.

    Subclasses set ``_unit_family`` (the family of units they accept, see
    :func:`sknalu.units.register_unit`) and their defaults; everything else is
    shared so that a hyperparameter means the same thing in every estimator.
    """

    _unit_family: str = ""

    _parameter_constraints: dict = _PARAMETER_CONSTRAINTS

    # -- validation ---------------------------------------------------------------
    @classmethod
    def _accepted_units(cls) -> tuple[str, ...]:
        return units_of_family(cls._unit_family)

    def _auto(self) -> bool:
        return isinstance(self.units, str) and self.units == "auto"

    # -- fit: the phases, in the order they run -------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Train the network on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Numeric inputs; column names of a DataFrame are kept as
            ``feature_names_in_``. Inputs are used as they are: scaling them would
            change the arithmetic the network has to learn.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            A non-negative weight per row (``1 / σ²`` for rows of standard deviation
            ``σ``): every error of the fit, from the loss to the check that the
            formula is exact, weighs the rows; rows of weight 0 are left out.

        Returns
        -------
        self
            The fitted estimator.

        Raises
        ------
        ValueError
            For bad hyperparameters or data, named in the message; also when the
            data's magnitude overflows float64 in the loss, so that no weights with
            a finite error exist.
        KeyboardInterrupt
            On Ctrl-C, which stops training; the estimator is then left unfitted.

        Warns
        -----
        ConvergenceWarning
            When the kept network predicts the held-out rows no better than their
            mean (``validation_score_ <= 0``).
        RuntimeWarning
            When the fitted network's predictions are not finite on some training
            rows.
        StandardisedDataWarning
            When the columns of ``X`` or the target look standardised (mean 0,
            standard deviation 1), as after a ``StandardScaler``: the formula is then
            of the scaled values.
        """
        with _one_fit_at_a_time(self):
            try:
                self._fit(X, y, sample_weight=sample_weight)
            except BaseException:
                # An error, or Ctrl-C: leave no state from a fit that did not finish.
                self._forget_fit()
                raise
        warn_if_standardised(X, y)
        return self

    def _forget_fit(self) -> None:
        for name in list(vars(self)):
            fitted = name.endswith("_") and not name.startswith("__")
            if fitted or name in (*self._formula_state, "_y_ndim"):
                delattr(self, name)

    def _fit(self, X, y, structure: Layout | None = None, sample_weight=None) -> None:
        """Validate, plan, train, make exact, read back; or search, for ``units="auto"``.

        ``structure``, a formula found in closed form by the search, is written into
        the network instead of being trained (no optimiser step).
        """
        settings = self._validate_hyperparameters()
        _check_numbers(X, "X")
        _check_numbers(y, "y")
        if settings is None:
            fit_auto(self, X, y, sample_weight)
            return
        dataset, mean_square = self._validate_data(X, y, settings, sample_weight)
        self.net_ = self._plan(settings, dataset, mean_square, structure)
        split = self.net_.train_split
        with one_cpu_thread(settings.device):
            self._train(dataset)
            snapped = self._make_exact(dataset, split)
        self._read_back(dataset, split, snapped)

    def _validate_hyperparameters(self) -> _Settings | None:
        """Validate every hyperparameter; the settings of a fit, None for ``units="auto"``."""
        self._validate_params()
        units = None if self._auto() else _layer_units(self)
        optimizer = _optimizer_class(self.optimizer)
        device = _check_device(self.device)
        callbacks = check_callbacks(self.callbacks)
        functions = check_functions(self.functions)
        if units is None:
            return None
        return _Settings(
            units, optimizer, device, _DTYPES[self.dtype], callbacks, functions=functions
        )

    def _validate_data(self, X, y, settings: _Settings, weights) -> tuple[TensorDataset, float]:
        """The data as tensors on the training device, and the mean squared target."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        self._y_ndim = y.ndim
        y2 = y.reshape(len(y), -1)
        self.n_outputs_ = y2.shape[1]
        return _tensor_data(X, y2, weights, settings)

    def _plan(
        self, settings: _Settings, dataset: TensorDataset, mean_square: float, structure
    ) -> ArithmeticNet:
        """The skorch net that trains the network: its module, optimiser and callbacks."""
        init_seed, batch_seed, split_seed = fit_seeds(self.random_state)
        optimizer_params = {}
        if supports_fused(settings.optimizer, settings.device):
            # One fused kernel per step instead of a dozen small ones.
            optimizer_params["optimizer__fused"] = True
        callbacks = training_callbacks(
            structure=structure,
            escape_saddles=self.escape_saddles,
            snap=bool(self.snap),
            verbose=self.verbose,
            user_callbacks=settings.callbacks,
            deadline=math.inf if self.max_time is None else time.time() + self.max_time,
        )
        return ArithmeticNet(
            ArithmeticNetwork,
            module__in_features=dataset.X.shape[1],
            module__out_features=self.n_outputs_,
            module__units=settings.units,
            module__hidden_size=self.hidden_size,
            module__n_copies=self.n_restarts,
            module__oob_mode=self.oob_mode,
            module__regularizer_shape=self.regularizer_shape,
            module__seed=init_seed,
            module__dtype=settings.dtype,
            module__constants=self.constants,
            module__unit_options={"functions": settings.functions},
            optimizer=settings.optimizer,
            **optimizer_params,
            lr=self.lr,
            lr_schedule=self.lr_schedule,
            batch_size=self.batch_size,
            max_epochs=1 if structure else math.ceil(self.max_steps / _STEPS_PER_EPOCH),
            max_steps=0 if structure else self.max_steps,
            steps_per_epoch=_STEPS_PER_EPOCH,
            regularizer_strength=self.regularizer_strength,
            # The regulariser weighs against the relative error (see its docs).
            target_scale=mean_square or 1.0,
            regularizer_start=self.regularizer_start,
            regularizer_end=self.regularizer_end,
            train_split=HoldOut(self.validation_fraction, split_seed),
            callbacks=callbacks,
            device=settings.device,
            seed=batch_seed,
            verbose=max(0, self.verbose - 1),
        )

    def _train(self, dataset: TensorDataset) -> None:
        """Train every restart; the restart selection leaves the kept one."""
        self.net_.fit(dataset, None)
        if not bool(finite_copies(self.net_.module_).all()):
            # The restart selection keeps finite weights only: a guard, not a path.
            raise ValueError(non_finite_loss_message(dataset, self.lr))

    def _make_exact(self, dataset: TensorDataset, split: HoldOut) -> bool:
        """Snap the kept network's weights where the held-out rows allow; whether it moved."""
        if not self.snap:
            return False
        held_out = split(dataset)[1] or dataset
        moved, _, _ = snap_network_(
            self.net_.module_, held_out.X, held_out.y, sample_weight=held_out.sample_weight
        )
        return moved > 0

    def _read_back(self, dataset: TensorDataset, split: HoldOut, snapped: bool) -> None:
        """Set the fitted attributes from the history, check the fit, read the formula."""
        outcome = training_outcome(self.net_.history)
        self.history_ = self.net_.history
        self.n_steps_ = self.net_.n_steps_
        self.best_restart_ = outcome.best_copy
        self.best_step_ = outcome.best_step
        self.validation_loss_ = outcome.best_loss
        # The kept weights were snapped at the end, or during training (by the snap
        # trial, or rounded by the saddle escape) at the step they were kept from.
        self.snapped_ = bool(self.snap and (snapped or outcome.snapped))
        self._check_fitted_network(dataset, split)
        self._fit_formula(dataset.X)

    def _check_fitted_network(self, dataset: TensorDataset, split: HoldOut) -> None:
        """Set ``validation_score_``; warn about a fit that did not learn or overflows."""
        _, valid = split(dataset)
        held_out = valid if valid is not None else dataset
        y_held_out = held_out.y.cpu().numpy()
        predicted_held_out = self._forward(held_out.X).cpu().numpy()
        weight = None if held_out.sample_weight is None else held_out.sample_weight.cpu().numpy()
        self.validation_score_ = lowest_r2(y_held_out, predicted_held_out, weight)
        # What decides, with the weights, whether the formula is exact: how close the
        # fit comes to the held-out rows, how many rows those are, and how many the
        # table has (see FormulaMixin._fit_formula).
        self._exactness_evidence = (
            relative_mse(y_held_out, predicted_held_out, weight),
            len(dataset),
            str(held_out.y.dtype).removeprefix("torch."),
        )
        predicted = self._forward(dataset.X).reshape(len(dataset), -1)
        _warn_if_unusable(self, int((~torch.isfinite(predicted).all(1)).sum()), len(dataset))

    def _forward(self, X: torch.Tensor) -> torch.Tensor:
        """The kept network's outputs for ``X``, in slices that bound the memory."""
        module = self.net_.module_
        module.eval()
        with torch.no_grad():
            return torch.cat([module(X[i : i + 65536]) for i in range(0, max(1, len(X)), 65536)])

    def _predict_tensor(self, X) -> torch.Tensor:
        weight = next(self.net_.module_.parameters())
        # torch.tensor copies: nothing the user passed in is ever shared or modified.
        return self._forward(torch.tensor(X, dtype=weight.dtype, device=weight.device))

    def predict(self, X):
        """Predict with the kept network.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Inputs, with the features seen in :meth:`fit`.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions, float64; one-dimensional when ``y`` was.

        Warns
        -----
        RuntimeWarning
            When some predictions are not finite, saying for how many rows; when some
            rows lie outside the domain of the formula, naming them, the unit and why.
        """
        check_is_fitted(self)
        _check_numbers(X, "X")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        with self.net_.module_.checking_domain(self._feature_names()) as outside:
            y = self._predict_tensor(X).cpu().numpy().astype(np.float64, copy=False)
        outside.warn(stacklevel=2)
        n_bad = int((~np.isfinite(y.reshape(len(y), -1)).all(1)).sum())
        if n_bad:
            warnings.warn(
                f"{n_bad} of {len(y)} predictions are not finite (inf or NaN): the "
                "network's sums and products of these rows' features overflow float64, "
                "or divide by zero.",
                RuntimeWarning,
                stacklevel=2,
            )
        return y.ravel() if self._y_ndim == 1 else y

    def __getstate__(self):
        # A unit registered in this process travels with the estimator, so that a
        # joblib worker or another process that unpickles it knows the unit too.
        state = super().__getstate__()
        names = (self.units,) if isinstance(self.units, str) else tuple(self.units)
        registrations = {n: r for n, r in user_registrations().items() if n in names}
        if registrations:
            state["_registered_units"] = registrations
        return state

    def __setstate__(self, state):
        restore_registrations(state.pop("_registered_units", {}))
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        # A network of arithmetic units fits arithmetic relations, not the
        # generic data sets that scikit-learn's checks score against.
        tags.regressor_tags.poor_score = True
        return tags


@document
class NMURegressor(_ArithmeticRegressor):
    """Regressor built from neural addition and multiplication units.

    The units of Madsen & Johansen (2020): the NAU adds and subtracts its inputs,
    the NMU multiplies them. Their weights are kept in bounds and pulled towards
    {-1, 0, 1} by a scheduled sparsity regulariser, so a fitted network computes an
    exact formula and extrapolates far beyond the training range. The default
    network, NAU → NMU, learns products of sums; ``units=("nau", "nau")`` learns sums
    and differences.

    {parameters_and_attributes}

    See Also
    --------
    NALURegressor : The NALU line of units, by default NAU → Real NPU: also powers
        and roots.

    Examples
    --------
    >>> import numpy as np
    >>> from sknalu import NMURegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(1, 2, size=(1000, 2))
    >>> est = NMURegressor(random_state=0).fit(X, X[:, 0] * X[:, 1])
    >>> est.predict(np.array([[5.0, 6.0]])).round(3)
    array([30.])
    """

    _unit_family = "nmu"
    _auto_roles: ClassVar[dict[str, str]] = {
        "product": "nmru",
        "selector": "nau",
        "sum": "weighted",
        "function": "function",
    }
    _auto_half_powers = False
    _auto_stacks: ClassVar[tuple] = (
        (("nau", "nmu"), 2),
        (("nau", "nmru"), 2),
        (("nau", "nau"), 2),
        (("nmru", "weighted"), 4),
    )

    def __init__(
        self,
        units=("nau", "nmu"),
        *,
        hidden_size=2,
        functions=FUNCTIONS,
        n_restarts=8,
        regularizer_strength=1e-6,
        regularizer_start=1000,
        regularizer_end=3000,
        regularizer_shape="squared",
        oob_mode="clip",
        optimizer="adam",
        lr=1e-2,
        lr_schedule="cosine_tail",
        batch_size=128,
        max_steps=10_000,
        validation_fraction=0.1,
        device="cpu",
        dtype="float64",
        random_state=None,
        verbose=0,
        callbacks=None,
        snap=True,
        escape_saddles=True,
        constants=True,
        n_jobs=None,
        max_time=60.0,
        selection="best",
    ):
        store_params(self, locals())


@document
class NALURegressor(_ArithmeticRegressor):
    """Regressor built from units of the NALU family (Trask et al. 2018).

    A small network of the units of the NALU line of work, trained through skorch,
    that learns the arithmetic behind the data so that it extrapolates beyond the
    training range. The default network, an NAU followed by a Real NPU (Heim, Pevný
    & Šmídl 2020) with 32 restarts, learns each of +, −, ×, ÷, squares and square
    roots of its inputs exactly: the NAU selects and adds inputs, the Real NPU
    raises them to powers that are multiples of ½ and multiplies them. The units of
    Trask et al. (2018) are there too: additions (``"nac"``), products and
    quotients of positive inputs (``"nac_mul"``), or a gated choice between both
    (``"nalu"``). The user guide's "Which units for which operation" says what
    each solves.

    {parameters_and_attributes}

    See Also
    --------
    NMURegressor : The NAU, NMU and NMRU units: sums, products and quotients of
        sums.

    Examples
    --------
    >>> import numpy as np
    >>> from sknalu import NALURegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(0, 10, size=(500, 3))
    >>> y = X.sum(axis=1)
    >>> est = NALURegressor(units="nac", random_state=0).fit(X, y)
    >>> X_far = np.array([[100.0, 200.0, 300.0]])
    >>> bool(abs(est.predict(X_far)[0] - 600) < 1)
    True
    """

    _unit_family = "nalu"
    #: units="auto": the units that hold a formula found in closed form, whether a
    #: single product may take square roots, and the stacks (and widths) trained
    #: when no such formula fits.
    _auto_roles: ClassVar[dict[str, str]] = {
        "product": "npu",
        "selector": "nau",
        "sum": "weighted",
        "function": "function",
    }
    _auto_half_powers = True
    _auto_stacks: ClassVar[tuple] = (
        (("nau", "npu"), 2),
        (("nau", "nau"), 2),
        (("npu", "weighted"), 2),
        (("npu", "weighted"), 4),
    )

    # NMURegressor's hyperparameters, with the defaults of Trask et al.'s units.
    __init__ = _with_defaults(
        NMURegressor.__init__,
        units=("nau", "npu"),
        n_restarts=32,
        regularizer_strength=0.0,
        regularizer_start=0,
        regularizer_end=0,
        regularizer_shape="linear",
        lr_schedule="constant",
        max_steps=5000,
        escape_saddles=False,
    )
