"""The estimators' shared docstrings, written once and filled in for each estimator."""

from __future__ import annotations

import inspect

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
    "functions": (
        "tuple of str",
        """The functions a ``"function"`` unit (:class:`~sknalu.units.FunctionUnit`)
        may apply to its sums, besides the identity: any of ``"exp"``, ``"log"``,
        ``"sin"``, ``"cos"``, ``"sqrt"``, ``"tanh"``, ``"arcsin"``; ``()`` for none.
        Training chooses one per hidden unit. Name only those the data can hold
        (``("exp", "log")`` where there is no trigonometry): fewer functions are
        fewer wrong choices. An unknown name is a ``ValueError`` in :meth:`fit`.""",
    ),
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
    "max_time": (
        "float or None",
        """Seconds within which :meth:`fit` returns, with the best it found by then
        (None: no limit). Training stops at the first evaluation after it; with
        ``units="auto"`` the closed-form search gets up to 70% of 90% of it, the
        networks the rest of those 90%, and the last 10% are kept for choosing
        among them and reading them back. What a fit cut short by ``max_time``
        has found depends on the machine's speed: the same ``random_state`` gives
        the same result where the fit ends first (an exact formula found, or
        ``max_time=None``).""",
    ),
    "selection": (
        '{"best", "accuracy"}',
        """Which formula ``units="auto"`` keeps when none is exact (an exact formula,
        the simplest, is always kept): ``"best"``, the simplest formula whose
        held-out error is within 5% of the lowest or not significantly above it
        (and, other than the linear model, at most half the linear model's);
        ``"accuracy"``, the lowest held-out error. ``equations_`` lists the
        candidates either way.""",
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
        rows to float rounding (``validation_score_ >= 1 - 1e-9`` and a held-out
        mean squared error at most 1e-20 of the mean squared target in float64,
        1e-9 in float32), the table has at least 20 rows, and the formula computes
        what :meth:`predict` computes on the training rows (relative 1e-6). A
        formula with fitted constants that only approximates the target on the
        training range (say a ratio of polynomials for a sine) is not exact.
    formula_ : str or None
        The learned formula (see :meth:`to_sympy`), e.g. ``"price*qty"``; prefixed
        with ``"≈ "`` when it is not exact, its coefficients then written with 4, 8
        or all digits, the fewest that compute what :meth:`predict` computes
        (relative 1e-6 on the training rows), else followed by how much it
        differs; None when sympy is not installed.
    formula_symbols_ : dict or None
        The symbol of each column in ``formula_`` and :meth:`to_sympy`, as
        ``{symbol name: column name}``: a column name that is not a safe sympy
        symbol (``"unit price"``, ``"2"``, ``"pi"``) gets one (``unit_price``,
        ``_2``, ``pi_``); None when sympy is not installed.
    search_results_ : dict of lists
        Only with ``units="auto"``: one entry per structure tried (``source``:
        ``"closed form"`` or ``"trained"``, ``units``, ``hidden_size``,
        ``validation_loss``, ``validation_score``, ``formula_exact``, ``formula``,
        ``complexity``, ``fit_time``, ``chosen``, ``error``); ``pandas.DataFrame``
        takes it, like ``cv_results_``.
    equations_ : pandas.DataFrame
        Only with ``units="auto"``: the closed-form search's candidates on the
        Pareto front of size against held-out error, simplest first, as PySR
        lists them: ``complexity`` (terms plus the degrees of their powers),
        ``loss`` (held-out mean squared error), ``r2``, ``exact``, ``equation``,
        ``sympy_format`` and ``rank`` (0 for the formula the search ranked first);
        empty with several targets.
    units_, hidden_size_ : tuple of str, int
        Only with ``units="auto"``: the structure kept."""


def document(cls: type) -> type:
    """Fill ``{parameters_and_attributes}`` in an estimator's docstring.

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
    sections = (
        "Parameters\n    ----------\n    "
        + "\n    ".join(entries)
        + "\n\n    Attributes\n    ----------\n    "
        + _ATTRIBUTES_DOC
    )
    cls.__doc__ = cls.__doc__.replace("{parameters_and_attributes}", sections)
    return cls
