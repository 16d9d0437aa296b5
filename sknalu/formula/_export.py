"""The formula in other forms: LaTeX, and a function of ``X`` for numpy or torch.

:class:`FormulaExportMixin` gives the estimators what PySR's ``latex()``,
``sympy()`` and ``pytorch()`` give, in scikit-learn's and sympy's words:
:meth:`~FormulaExportMixin.to_latex` and :meth:`~FormulaExportMixin.lambdify`. Both
read the formula as :class:`~sknalu.formula._estimator.FormulaMixin` does
(``_checked_reading``), and warn as ``to_sympy`` does when it is not exact.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable, Sequence

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._reader import _import_sympy

#: The ``backend`` values of :meth:`FormulaExportMixin.lambdify`.
_BACKENDS = ("numpy", "torch")


class FormulaFunction:
    """The formula as a function of ``X``, made by :meth:`FormulaExportMixin.lambdify`.

    Calling it with ``X`` of shape (n_samples, n_features), the features in the order
    of fit (a DataFrame is put in that order by its column names), gives one value
    per row, or one column per output for several targets, as ``predict`` does.

    Parameters
    ----------
    functions : list of callable
        Per output, the function sympy's ``lambdify`` made, of one argument per
        feature.
    backend : {"numpy", "torch"}
        Whether ``X`` and the values are numpy arrays or torch tensors.
    feature_names : sequence of str
        The features, in the order of fit.
    vector : bool
        Whether the values have one column per output, or are one-dimensional.
    text : str
        The formula, shown by ``repr``.
    """

    def __init__(
        self,
        functions: list[Callable],
        backend: str,
        feature_names: Sequence[str],
        vector: bool,
        text: str,
    ) -> None:
        self.functions = functions
        self.backend = backend
        self.feature_names = list(feature_names)
        self.vector = vector
        self.text = text

    def __repr__(self) -> str:
        return f"<formula of {', '.join(self.feature_names)} ({self.backend}): {self.text}>"

    def _columns(self, X):
        """The features of ``X``, one array or tensor each, checked to be there."""
        if self.backend == "torch":
            if not isinstance(X, torch.Tensor):
                X = torch.as_tensor(np.asarray(X, dtype=np.float64))
        else:
            if hasattr(X, "columns") and set(self.feature_names) <= set(map(str, X.columns)):
                X = X[[c for name in self.feature_names for c in X.columns if str(c) == name]]
            X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(
                f"X must have shape (n_samples, {len(self.feature_names)}): the features "
                f"{', '.join(self.feature_names)}; got shape {tuple(X.shape)}."
            )
        return X, [X[:, i] for i in range(X.shape[1])]

    def __call__(self, X):
        X, columns = self._columns(X)
        n = X.shape[0]
        if self.backend == "torch":
            values = [
                torch.as_tensor(f(*columns), dtype=X.dtype, device=X.device).expand(n)
                for f in self.functions
            ]
            out = torch.stack(values, dim=1)
        else:
            values = [
                np.broadcast_to(np.asarray(f(*columns), dtype=np.float64), n)
                for f in self.functions
            ]
            out = np.stack(values, axis=1)
        return out if self.vector else out[:, 0]


class FormulaExportMixin:
    """The formula of a fitted estimator as LaTeX and as a numpy or torch function.

    Expects what :class:`~sknalu.formula._estimator.FormulaMixin` provides.
    """

    def to_latex(self, tolerance: float | None = None) -> str:
        r"""The learned formula as LaTeX, as ``sympy.latex`` writes it.

        Parameters
        ----------
        tolerance : float, optional
            As for :meth:`to_sympy`. By default the formula of ``formula_``, with
            its coefficients' digits (without its leading ``"≈ "``).

        Returns
        -------
        str
            The LaTeX of the expression; of a column matrix, one row per output,
            when ``y`` was two-dimensional.

        Warns
        -----
        FormulaWarning
            When the formula is not exact, saying why, as :meth:`to_sympy` does.

        Raises
        ------
        ImportError
            When sympy is not installed.

        Examples
        --------
        >>> import numpy as np
        >>> import pandas as pd
        >>> from sknalu import NALURegressor
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame(rng.uniform(1, 2, size=(200, 2)), columns=["mass", "speed"])
        >>> est = NALURegressor(units="auto", random_state=0)
        >>> est = est.fit(X, X.mass * X.speed**2 / 2)
        >>> est.formula_
        'mass*speed**2/2'
        >>> print(est.to_latex())
        \frac{mass speed^{2}}{2}
        """
        check_is_fitted(self)
        sympy = _import_sympy()
        expressions = self._checked_reading(tolerance, shortest=True)
        expr = sympy.Matrix(expressions) if self._is_vector() else expressions[0]
        return sympy.latex(expr)

    def lambdify(self, backend: str = "numpy", tolerance: float | None = None) -> FormulaFunction:
        """The learned formula as a function of ``X``, for numpy or torch.

        ``sympy.lambdify`` of :meth:`to_sympy`'s expression, called as ``predict`` is:
        ``f(X)`` with ``X`` of shape (n_samples, n_features). It computes the formula,
        not the network: where the formula is exact the values are ``predict``'s,
        and a torch function is differentiable, on any device, in ``X``'s dtype.

        Parameters
        ----------
        backend : {"numpy", "torch"}, default="numpy"
            ``"numpy"``: ``X`` is an array or a DataFrame (its columns taken by the
            names of ``feature_names_in_``), the values a float64 array.
            ``"torch"``: ``X`` is a tensor, the values a tensor computed with
            torch's operations from it.
        tolerance : float, optional
            As for :meth:`to_sympy`; by default, its formula with every digit.

        Returns
        -------
        FormulaFunction
            ``f(X)``, of shape (n_samples,), or (n_samples, n_outputs) when ``y``
            was two-dimensional.

        Warns
        -----
        FormulaWarning
            When the formula is not exact, saying why, as :meth:`to_sympy` does.

        Raises
        ------
        ValueError
            For another ``backend``; from the function, for ``X`` without the
            features of fit.
        ImportError
            When sympy is not installed.

        Examples
        --------
        >>> import numpy as np
        >>> from sknalu import NMURegressor
        >>> rng = np.random.default_rng(0)
        >>> X = rng.uniform(1, 2, size=(200, 2))
        >>> est = NMURegressor(max_steps=2000, random_state=0).fit(X, X[:, 0] * X[:, 1])
        >>> f = est.lambdify()
        >>> f
        <formula of x0, x1 (numpy): x0*x1>
        >>> f(np.array([[3.0, 2.0], [10.0, -4.0]]))
        array([  6., -40.])

        With torch, gradients flow through the formula:

        >>> import torch
        >>> x = torch.tensor([[3.0, 2.0]], dtype=torch.float64, requires_grad=True)
        >>> est.lambdify("torch")(x).sum().backward()
        >>> x.grad
        tensor([[2., 3.]], dtype=torch.float64)
        """
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {list(_BACKENDS)}, got {backend!r}.")
        check_is_fitted(self)
        sympy = _import_sympy()
        expressions = self._checked_reading(tolerance)
        symbols = self._symbols()
        # Dummy arguments: a symbol named like a name of the generated code (``e``,
        # ``numpy``, ``torch``) would shadow it.
        functions = [sympy.lambdify(symbols, e, backend, dummify=True) for e in expressions]
        text = str(expressions) if self._is_vector() else str(expressions[0])
        return FormulaFunction(functions, backend, self._feature_names(), self._is_vector(), text)

    def _get_fitted_attr_html(self, doc_link=""):
        """scikit-learn's table of fitted attributes in the HTML repr, with
        ``formula_`` in full: the table cuts every string to a few characters, and
        the formula is what a notebook user looks for there."""
        parent = getattr(super(), "_get_fitted_attr_html", None)
        if parent is None:
            return None
        attrs = parent(doc_link)
        info = attrs.get("formula_") if hasattr(attrs, "get") else None
        if info is None or not isinstance(info.get("value"), str):
            return attrs
        formula = info["value"]
        try:
            attrs.__class__ = _full_formula_table(type(attrs))
        except TypeError:  # another kind of table: left as scikit-learn makes it
            return attrs
        info["value"] = _FORMULA_MARK
        attrs.formula = formula
        return attrs


#: What stands for the formula in scikit-learn's table until it is written in full
#: (short enough not to be cut).
_FORMULA_MARK = "\x00f"


@functools.cache
def _full_formula_table(table: type) -> type:
    """A subclass of scikit-learn's table of fitted attributes whose HTML holds
    ``self.formula`` in full where the formula's mark is."""

    class FullFormulaTable(table):
        def _html_repr(self):
            text = super()._html_repr()
            return text.replace(html.escape(repr(_FORMULA_MARK)), html.escape(self.formula), 1)

    return FullFormulaTable
