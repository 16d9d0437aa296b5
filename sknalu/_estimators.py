"""scikit-learn estimators built on networks of neural arithmetic units."""

from __future__ import annotations

import inspect
import math
import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from ._network import ArithmeticNetwork
from ._validation import (
    NON_NEGATIVE,
    Interval,
    StrOptions,
    _check_numbers,
    _check_target_magnitude,
    at_least,
    one_cpu_thread,
    store_params,
)
from .exact._errors import _lowest_r2
from .formula._estimator import FormulaMixin
from .search._auto import fit_auto
from .search._layout import Layout
from .training._callbacks import (
    LoadStructure,
    RestartSelection,
    SaddleEscape,
    SnapTrial,
    SnapWeights,
    StepProgressBar,
    StopWhenExact,
)
from .training._data import HoldOut, TensorDataset, fit_seeds
from .training._net import ArithmeticNet, finite_copies, non_finite_loss_message
from .training._plan import _check_callbacks
from .training._private import _supports_fused
from .training._schedules import LR_SCHEDULES
from .units._registry import UNITS, units_of_family
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


class _ArithmeticRegressor(FormulaMixin, RegressorMixin, BaseEstimator):
    """Shared implementation of the arithmetic-unit regressors.

    Subclasses set ``_unit_family`` (the family of units they accept, see
    :func:`sknalu.units.register_unit`) and their defaults; everything else is
    shared so that a hyperparameter means the same thing in every estimator.
    """

    _unit_family: str = ""

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        "units": [str, tuple, list],
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
    }

    # -- validation ---------------------------------------------------------------
    @classmethod
    def _accepted_units(cls) -> tuple[str, ...]:
        return units_of_family(cls._unit_family)

    def _layer_units(self) -> tuple[str, ...]:
        units = (self.units,) * 2 if isinstance(self.units, str) else tuple(self.units)
        accepted = self._accepted_units()
        family = ", ".join(repr(u) for u in accepted)
        if not units or not all(isinstance(u, str) for u in units):
            raise ValueError(
                f"units must be a unit name or a non-empty tuple of unit names "
                f"(one per layer) from {family}; got {self.units!r}."
            )
        for unit in units:
            if unit not in accepted:
                other = " (a unit of the other estimator)" if unit in UNITS else ""
                raise ValueError(
                    f"{type(self).__name__} does not know the unit {unit!r}{other}; "
                    f"choose from {family}."
                )
        return units

    def _optimizer_class(self):
        if isinstance(self.optimizer, str) and self.optimizer.lower() in _OPTIMIZERS:
            return _OPTIMIZERS[self.optimizer.lower()]
        if isinstance(self.optimizer, type) and issubclass(self.optimizer, torch.optim.Optimizer):
            return self.optimizer
        raise ValueError(
            f"optimizer must be one of {sorted(_OPTIMIZERS)} or a "
            f"torch.optim.Optimizer subclass, got {self.optimizer!r}."
        )

    def _check_device(self) -> torch.device:
        message = f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}."
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError):
            raise ValueError(message) from None
        if device.type not in ("cpu", "cuda"):
            raise ValueError(message)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' was asked for, but torch finds no CUDA device.")
        if device.type == "cuda" and device.index is not None:
            if device.index >= torch.cuda.device_count():
                raise ValueError(
                    f"device={self.device!r} was asked for, but torch finds "
                    f"{torch.cuda.device_count()} CUDA device(s), numbered from 0."
                )
        return device

    def _check_params(self):
        """Validate every hyperparameter; return the units, optimiser and device."""
        self._validate_params()
        units = None if self._auto() else self._layer_units()
        return units, self._optimizer_class(), self._check_device()

    def _auto(self) -> bool:
        return isinstance(self.units, str) and self.units == "auto"

    # -- fit / predict --------------------------------------------------------------
    def _to_tensor(self, a: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        # torch.tensor copies: nothing the user passed in is ever shared or modified.
        return torch.tensor(a, dtype=dtype, device=device)

    def fit(self, X, y):
        """Train the network on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Numeric inputs; column names of a DataFrame are kept as
            ``feature_names_in_``. Inputs are used as they are: scaling them would
            change the arithmetic the network has to learn.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.

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
        """
        try:
            self._fit(X, y)
        except BaseException:
            # An error, or Ctrl-C: leave no state from a fit that did not finish.
            self._forget_fit()
            raise
        return self

    def _forget_fit(self) -> None:
        for name in list(vars(self)):
            fitted = name.endswith("_") and not name.startswith("__")
            if fitted or name in (*self._formula_state, "_y_ndim"):
                delattr(self, name)

    def _fit(self, X, y, structure: Layout | None = None) -> None:
        units, optimizer, device = self._check_params()
        user_callbacks = _check_callbacks(self.callbacks)
        _check_numbers(X, "X")
        _check_numbers(y, "y")
        if units is None:
            self._fit_auto(X, y)
            return
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        self._y_ndim = y.ndim
        y2 = y.reshape(len(y), -1)
        self.n_outputs_ = y2.shape[1]
        _check_target_magnitude(y2)

        init_seed, batch_seed, split_seed = fit_seeds(self.random_state)

        optimizer_params = {}
        if _supports_fused(optimizer, device):
            # One fused kernel per step instead of a dozen small ones.
            optimizer_params["optimizer__fused"] = True
        callbacks = []
        if structure is not None:
            # A formula found in closed form: written into the network, then only
            # evaluated, snapped and read back (no optimiser step).
            callbacks.append(("structure", LoadStructure(structure)))
        if self.escape_saddles:
            # Before the restart selection, which then measures the moved copies.
            callbacks.append(("saddle_escape", SaddleEscape(round_weights=bool(self.snap))))
        if self.snap:
            # Before the restart selection too: an exact copy then ends training.
            callbacks.append(("snap_trial", SnapTrial()))
        callbacks.append(("restart_selection", RestartSelection()))
        if self.snap:
            # After the restart selection, which leaves the one network to snap.
            callbacks.append(("snap", SnapWeights()))
        if self.verbose:
            callbacks.append(("progress", StepProgressBar()))
        callbacks += user_callbacks
        # Last, as it ends training: every other callback has seen the evaluation.
        callbacks.append(("stop_when_exact", StopWhenExact()))
        split = HoldOut(self.validation_fraction, split_seed)
        self.net_ = ArithmeticNet(
            ArithmeticNetwork,
            module__in_features=X.shape[1],
            module__out_features=self.n_outputs_,
            module__units=units,
            module__hidden_size=self.hidden_size,
            module__n_copies=self.n_restarts,
            module__oob_mode=self.oob_mode,
            module__regularizer_shape=self.regularizer_shape,
            module__seed=init_seed,
            module__dtype=_DTYPES[self.dtype],
            module__constants=self.constants,
            optimizer=optimizer,
            **optimizer_params,
            lr=self.lr,
            lr_schedule=self.lr_schedule,
            batch_size=self.batch_size,
            max_epochs=1 if structure else math.ceil(self.max_steps / _STEPS_PER_EPOCH),
            max_steps=0 if structure else self.max_steps,
            steps_per_epoch=_STEPS_PER_EPOCH,
            regularizer_strength=self.regularizer_strength,
            # The regulariser weighs against the relative error (see its docs).
            target_scale=float(np.mean(y2**2)) or 1.0,
            regularizer_start=self.regularizer_start,
            regularizer_end=self.regularizer_end,
            train_split=split,
            callbacks=callbacks,
            device=device,
            seed=batch_seed,
            verbose=max(0, self.verbose - 1),
        )
        dtype = _DTYPES[self.dtype]
        dataset = TensorDataset(
            self._to_tensor(X, device, dtype), self._to_tensor(y2, device, dtype)
        )
        with one_cpu_thread(device):
            self.net_.fit(dataset, None)
        if not bool(finite_copies(self.net_.module_).all()):
            # The restart selection keeps finite weights only: a guard, not a path.
            raise ValueError(non_finite_loss_message(dataset, self.lr))
        selection = dict(self.net_.callbacks_)["restart_selection"]
        self.history_ = self.net_.history
        self.n_steps_ = self.net_.n_steps_
        self.best_restart_ = selection.best_copy_
        self.best_step_ = selection.best_step_
        self.validation_loss_ = selection.best_loss_
        callbacks = dict(self.net_.callbacks_)
        # The kept weights were snapped at the end, or during training (by the snap
        # trial, or rounded by the saddle escape) at the step they were kept from.
        snapped_during = set()
        if self.snap:
            snapped_during.update(callbacks["snap_trial"].snapped_)
            if "saddle_escape" in callbacks:
                snapped_during.update(callbacks["saddle_escape"].rounded_at_)
        kept = (self.best_restart_, self.best_step_)
        self.snapped_ = bool(self.snap and (callbacks["snap"].snapped_ or kept in snapped_during))
        self._check_fitted_network(dataset, split)
        self._fit_formula(dataset.X)

    def _fit_auto(self, X, y) -> None:
        fit_auto(self, X, y)

    def _check_fitted_network(self, dataset: TensorDataset, split: HoldOut) -> None:
        """Set ``validation_score_``; warn about a fit that did not learn or overflows."""
        _, valid = split(dataset)
        held_out = valid if valid is not None else dataset
        self.validation_score_ = _lowest_r2(
            held_out.y.cpu().numpy(), self._forward(held_out.X).cpu().numpy()
        )
        predicted = self._forward(dataset.X).reshape(len(dataset), -1)
        n_bad = int((~torch.isfinite(predicted).all(1)).sum())
        if n_bad:
            warnings.warn(
                f"The fitted network's predictions are not finite (inf or NaN) on {n_bad} "
                f"of the {len(dataset)} training rows: its sums and products of their "
                "features overflow float64, or divide by zero.",
                RuntimeWarning,
                stacklevel=4,
            )
        if not self.validation_score_ > 0:
            warnings.warn(
                f"{type(self).__name__} did not learn the target: the held-out R² of "
                f"the kept network is {self.validation_score_:.3g}, no better than "
                "predicting the target's mean (R² = 0), so its formula is not the "
                "target's. Try a smaller lr, more max_steps or n_restarts, or other "
                'units (units="auto" tries several).',
                ConvergenceWarning,
                stacklevel=4,
            )

    def _forward(self, X: torch.Tensor) -> torch.Tensor:
        """The kept network's outputs for ``X``, in slices that bound the memory."""
        module = self.net_.module_
        module.eval()
        with torch.no_grad():
            return torch.cat([module(X[i : i + 65536]) for i in range(0, max(1, len(X)), 65536)])

    def _predict_tensor(self, X) -> torch.Tensor:
        weight = next(self.net_.module_.parameters())
        return self._forward(self._to_tensor(X, weight.device, weight.dtype))

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
            When some predictions are not finite (the network's output overflows
            float64 for their inputs), saying for how many rows.
        """
        check_is_fitted(self)
        _check_numbers(X, "X")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        y = self._predict_tensor(X).cpu().numpy().astype(np.float64, copy=False)
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        # A network of arithmetic units fits arithmetic relations, not the
        # generic data sets that scikit-learn's checks score against.
        tags.regressor_tags.poor_score = True
        return tags


#: The parameters both estimators share, in signature order: type and meaning. The
#: default each estimator documents is read from its own signature.
_PARAMETER_DOCS = {
    "units": (
        "str or tuple of str",
        """The unit of every layer (a string gives a two-layer network), or one unit
        per layer, from {units}; or ``"auto"``, which searches for the structure
        of the formula (a product of powers, a sum of such terms, a ratio of two
        sums, with constants), keeps the exact one with the simplest formula, or else
        the one the search ranks first on the held-out rows, and reports what it
        tried in ``search_results_``.
        :doc:`/user_guide/units` says which unit learns which operation, and
        :doc:`/user_guide/table_to_formula` how ``"auto"`` searches.""",
    ),
    "hidden_size": ("int", "Width of every hidden layer."),
    "n_restarts": (
        "int",
        """Independently initialised copies of the network trained together in one
        batched model; the one with the lowest held-out loss is kept.""",
    ),
    "regularizer_strength": (
        "float",
        """Weight ``λ_sparse`` of the sparsity regulariser, which pulls every weight
        towards its unit's discrete values ({-1, 0, 1}, {0, 1} or the multiples of ½),
        relative to the mean squared target: the regulariser weighs against the
        relative error, so a target in other units (scaled by a constant) is fitted
        the same way.""",
    ),
    "regularizer_start": ("int", "Optimiser step at which the regulariser starts to grow."),
    "regularizer_end": ("int", "Optimiser step at which it reaches full strength."),
    "regularizer_shape": (
        '{"linear", "squared"}',
        """Shape of the sparsity regulariser: ``"linear"`` is the paper's
        ``min(|W|, |1 - |W||)``, ``"squared"`` is ``W² (1 - |W|)²``.""",
    ),
    "oob_mode": (
        '{"clip", "regularized"}',
        """``"clip"`` projects the weights of units with bounds into them after every
        step; ``"regularized"`` penalises weights out of bounds instead.""",
    ),
    "optimizer": (
        '{"adam", "adamw", "rmsprop", "sgd"} or torch optimizer class',
        "The optimiser.",
    ),
    "lr": ("float", "Learning rate."),
    "lr_schedule": (
        '{"constant", "cosine", "cosine_tail"}',
        """``"cosine"`` lowers the learning rate along half a cosine to 0 at
        ``max_steps``; ``"cosine_tail"`` keeps it constant for the first 70% of the
        steps and lowers it so over the last 30%. A falling rate lets the weights
        settle, which exact weights and ``escape_saddles`` need, but cuts short
        fits that are still learning.""",
    ),
    "batch_size": ("int", "Rows per optimiser step, drawn at random from the training data."),
    "max_steps": ("int", "Number of optimiser steps."),
    "validation_fraction": (
        "float",
        """Fraction of the training rows held out to choose the restart and the step
        whose weights are kept (none below 20 rows).""",
    ),
    "device": ('{"cpu", "cuda"}', "Where the network trains."),
    "dtype": (
        '{"float64", "float32"}',
        """Floating-point type of the weights and the data, in training and
        prediction (predictions are returned as float64). float64 on every device
        by default: the exactness checks (a held-out error below 1e-12 of the
        target's mean square, a snap kept only if the error does not grow by more
        than 1e-6) want its 16 digits; float32 halves the memory and is faster on
        GPUs with little double-precision throughput.""",
    ),
    "random_state": (
        "int, RandomState instance or None",
        "Seeds the initialisation, the batches and the held-out rows.",
    ),
    "verbose": ("int", "1 shows a progress bar; 2 also prints skorch's table of losses."),
    "callbacks": ("list of skorch callbacks", "Extra callbacks for the skorch net."),
    "snap": (
        "bool",
        """After training, move every weight within 0.1 of a discrete value of its
        unit exactly onto it, and keep the snapped weights only if the held-out
        error does not get worse. Two linear layers in a row are snapped through
        their product. A solved network then computes exactly its formula.""",
    ),
    "escape_saddles": (
        "bool",
        """After the last step, move every restart off saddle points of its training
        error along directions of negative curvature, found from the exact Hessian
        (networks of up to 1,024 free weights), then round its weights if that does
        not make its error worse; the held-out error then chooses among the
        restarts as usual. This is what lets NAU → NMU leave the symmetric point
        of a product (both hidden units learning the same sum) in one step instead
        of about a million.""",
    ),
    "constants": (
        "bool",
        """Learn a constant factor and an additive constant for every output:
        the network computes ``c * f(x) + d``. ``c`` is trained with the weights
        and solved by least squares at every evaluation; ``d`` is solved by the
        snap only. A formula that does not need them reads without them (the snap tries
        ``c = 1`` and ``d = 0`` and keeps them where the held-out error stays as
        low), and a constant that is a simple rational or rational multiple of π
        within the held-out error is read back as one (``m*v**2/2``,
        ``x/(4*pi*r**2)``). The factor also makes the fit independent of the
        units of measurement of the target and of the columns a product uses.""",
    ),
    "n_jobs": (
        "int or None",
        """Structures fitted at once by ``units="auto"`` (joblib: None is one, -1
        all cores, and a dask or Ray joblib backend spreads them over a cluster).
        No effect with explicit units.""",
    ),
}

_ATTRIBUTES_DOC = """net_ : skorch.NeuralNetRegressor
        The trained skorch net; ``net_.module_`` is the torch network.
    history_ : skorch.History
        Losses per evaluation (every 500 optimiser steps).
    n_steps_ : int
        Optimiser steps taken.
    best_restart_ : int
        Index of the restart that was kept.
    best_step_ : int
        Optimiser step whose weights were kept.
    validation_loss_ : float
        Held-out mean squared error of the kept weights.
    n_features_in_ : int
        Number of features seen in :meth:`fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen in :meth:`fit`, when they are all strings.
    n_outputs_ : int
        Number of targets.
    snapped_ : bool
        Whether snapping moved weights and the snapped weights were kept (False
        with ``snap=False``).
    sparsity_error_ : float
        Largest distance of any effective weight of the kept network from its
        unit's discrete values: max over all weights of ``min(|W|, |1 - |W||)``
        for {-1, 0, 1} weights (Madsen & Johansen 2020, section 4.1).
    validation_score_ : float
        R² of the kept network on the held-out rows (the training rows when none
        are held out); with several targets, the lowest of theirs.
    formula_exact_ : bool
        Whether ``formula_`` is exact: every weight is within 0.01 of its unit's
        discrete values and every gate is saturated, the network fits the held-out
        rows (``validation_score_ >= 1 - 1e-9``), and the formula computes what
        :meth:`predict` computes on the training rows (relative 1e-6).
    formula_ : str or None
        The learned formula (see :meth:`to_sympy`), e.g. ``"price*qty"``; prefixed
        with ``"≈ "`` when it is not exact, its coefficients then written with 4, 8
        or all digits, the fewest that compute what :meth:`predict` computes
        (relative 1e-6 on the training rows), else followed by how much it
        differs; None when sympy is not installed.
    search_results_ : dict of lists
        Only with ``units="auto"``: one entry per structure tried (``source``:
        ``"closed form"`` or ``"trained"``, ``units``, ``hidden_size``,
        ``validation_loss``, ``validation_score``, ``formula_exact``, ``formula``,
        ``complexity``, ``fit_time``, ``chosen``, ``error``); ``pandas.DataFrame``
        takes it, like ``cv_results_``.
    units_, hidden_size_ : tuple of str, int
        Only with ``units="auto"``: the structure kept."""


def _document(cls: type[_ArithmeticRegressor]) -> type[_ArithmeticRegressor]:
    """Fill ``{parameters}`` and ``{attributes}`` in an estimator's docstring.

    The parameters are documented once, in :data:`_PARAMETER_DOCS`; each estimator's
    defaults come from its own signature and its units from the registry, so that
    one edit changes both estimators and the documentation cannot drift from the code.
    """
    signature = inspect.signature(cls.__init__)
    units = ", ".join(f'``"{name}"``' for name in cls._accepted_units())
    entries = []
    for name, parameter in list(signature.parameters.items())[1:]:
        kind, text = _PARAMETER_DOCS[name]
        default = parameter.default
        shown = f'"{default}"' if isinstance(default, str) else repr(default)
        if isinstance(default, tuple):
            shown = "(" + ", ".join(f'"{u}"' for u in default) + ")"
        text = text.replace("{units}", units)
        entries.append(f"{name} : {kind}, default={shown}\n        {text}")
    doc = cls.__doc__.replace("{parameters}", "\n    ".join(entries))
    cls.__doc__ = doc.replace("{attributes}", _ATTRIBUTES_DOC)
    return cls


@_document
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

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    {attributes}

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
    }
    _auto_half_powers = True
    _auto_stacks: ClassVar[tuple] = (
        (("nau", "npu"), 2),
        (("nau", "nau"), 2),
        (("npu", "weighted"), 2),
        (("npu", "weighted"), 4),
    )

    def __init__(
        self,
        units=("nau", "npu"),
        *,
        hidden_size=2,
        n_restarts=32,
        regularizer_strength=0.0,
        regularizer_start=0,
        regularizer_end=0,
        regularizer_shape="linear",
        oob_mode="clip",
        optimizer="adam",
        lr=1e-2,
        lr_schedule="constant",
        batch_size=128,
        max_steps=5000,
        validation_fraction=0.1,
        device="cpu",
        dtype="float64",
        random_state=None,
        verbose=0,
        callbacks=None,
        snap=True,
        escape_saddles=False,
        constants=True,
        n_jobs=None,
    ):
        store_params(self, locals())


@_document
class NMURegressor(_ArithmeticRegressor):
    """Regressor built from neural addition and multiplication units.

    The units of Madsen & Johansen (2020): the NAU adds and subtracts its inputs,
    the NMU multiplies them. Their weights are kept in bounds and pulled towards
    {-1, 0, 1} by a scheduled sparsity regulariser, so a fitted network computes an
    exact formula and extrapolates far beyond the training range. The default
    network, NAU → NMU, learns products of sums; ``units=("nau", "nau")`` learns sums
    and differences.

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    {attributes}

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
    ):
        store_params(self, locals())
