"""A stack of arithmetic units, trained as many independent copies at once.

A *copy* here is what the estimators call a *restart* (``n_restarts``): one
independently initialised network, trained side by side with the others in the
same batched weights.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .exact._errors import per_copy_mse
from .units._base import ArithmeticUnit
from .units._registry import UNITS, iter_units

#: Rows a message names before it only counts the others.
_ROWS_NAMED = 5


def _rows_text(rows: np.ndarray) -> str:
    """``"row 3"``, ``"rows 0, 4, 9"`` or ``"rows 0, 4, 9, 12, 17, ... (250 rows)"``."""
    named = ", ".join(str(int(r)) for r in rows[:_ROWS_NAMED])
    if len(rows) == 1:
        return f"row {named}"
    more = f", ... ({len(rows)} rows)" if len(rows) > _ROWS_NAMED else ""
    return f"rows {named}{more}"


class DomainReport:
    """The rows of a network's inputs outside the domain of its formula, and why.

    Filled by :meth:`ArithmeticNetwork.checking_domain`: each forward pass in its
    block asks every layer's unit
    (:meth:`~sknalu.units.ArithmeticUnit.domain_violations`) about that layer's
    inputs, the outputs of the layer before. The rows of successive passes are
    numbered on, so that a prediction in slices reports the rows of the whole.

    Parameters
    ----------
    names : sequence of str, optional
        The names of the network's inputs; ``"x0"``, ``"x1"``, ... when None. The
        inputs of a later layer are ``"h0"``, ``"h1"``, ..., the outputs of the
        layer before.

    Attributes
    ----------
    n_rows : int
        The rows seen.

    Examples
    --------
    >>> import torch
    >>> net = ArithmeticNetwork(1, 1, units=("npu",), n_copies=1)
    >>> with torch.no_grad():
    ...     _ = net.layers[0].W.fill_(0.5)  # √x
    ...     _ = net.layers[0].g.fill_(1.0)
    >>> with net.checking_domain(["a"]) as report:
    ...     _ = net(torch.tensor([[4.0], [-4.0]]))
    >>> report.rows.tolist()
    [1]
    >>> print(report.message())  # doctest: +NORMALIZE_WHITESPACE
    1 of 2 rows lie outside the domain of the fitted network's formula, where its
    predictions are no values of the formula: row 1. Layer 0 (RealNPU) raises its
    input a to the power 1/2 (a square root) where a is negative: a non-integer
    power of a negative input is no real number; in row 1.
    """

    def __init__(self, names: Sequence[str] | None = None) -> None:
        self.names = None if names is None else [str(n) for n in names]
        self.n_rows = 0
        self._offset = 0
        self._found: dict[str, list[torch.Tensor]] = {}

    def add_(self, index: int, layer: ArithmeticUnit, x: torch.Tensor) -> None:
        """Record the rows of ``x``, the inputs of layer ``index``, outside its domain."""
        batch = x.shape[-2]
        if index == 0:
            self._offset, self.n_rows = self.n_rows, self.n_rows + batch
            names = self.names
        else:
            names = [f"h{j}" for j in range(layer.in_features)]
        for violation in layer.domain_violations(x, names):
            rows = violation.rows.reshape(-1, batch).any(0)
            if bool(rows.any()):
                where = f"layer {index} ({type(layer).__name__}) {violation.reason}"
                found = rows.nonzero()[:, 0].cpu() + self._offset
                self._found.setdefault(where, []).append(found)

    def __bool__(self) -> bool:
        return bool(self._found)

    @property
    def reasons(self) -> dict[str, np.ndarray]:
        """For each unit and reason, the sorted indices of the rows outside."""
        return {where: np.unique(torch.cat(rows).numpy()) for where, rows in self._found.items()}

    @property
    def rows(self) -> np.ndarray:
        """The sorted indices of the rows outside, for any reason."""
        reasons = list(self.reasons.values())
        return np.unique(np.concatenate(reasons)) if reasons else np.array([], dtype=np.int64)

    def warn(self, stacklevel: int = 1) -> None:
        """Warn with :meth:`message` (a ``RuntimeWarning``) where some rows lie outside.

        ``stacklevel`` counts from the caller, as for :func:`warnings.warn`.
        """
        if self:
            warnings.warn(self.message(), RuntimeWarning, stacklevel=stacklevel + 1)

    def message(self) -> str:
        """What the rows outside are, and why, in words; ``""`` when there are none."""
        if not self:
            return ""
        rows = self.rows
        lines = [
            f"{len(rows)} of {self.n_rows} rows lie outside the domain of the fitted "
            "network's formula, where its predictions are no values of the formula: "
            f"{_rows_text(rows)}."
        ]
        for where, outside in self.reasons.items():
            lines.append(f"{where[0].upper()}{where[1:]}; in {_rows_text(outside)}.")
        if any(not where.startswith("layer 0 ") for where in self._found):
            lines.append("(h0, h1, ... are the outputs of the layer before.)")
        return " ".join(lines)


@contextlib.contextmanager
def _checking_domain(
    layers: Sequence[ArithmeticUnit], report: DomainReport
) -> Iterator[DomainReport]:
    """Fill ``report`` from every forward pass of ``layers`` in this thread, in the block."""
    thread = threading.get_ident()

    def checker(index: int):
        def check(layer, args):
            if threading.get_ident() == thread:
                report.add_(index, layer, args[0])

        return check

    handles = [layer.register_forward_pre_hook(checker(i)) for i, layer in enumerate(layers)]
    try:
        yield report
    finally:
        for handle in handles:
            handle.remove()


def _constants(
    h: torch.Tensor, y: torch.Tensor, offset: bool, sample_weight: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The least-squares ``scale`` and ``offset`` of ``y ≈ scale * h + offset``, per copy
    and output, and where they hold (``h`` and ``y`` are ``[copies, n, out]``).

    On the rows where ``h`` is finite (and, with ``sample_weight``, whose weight is
    positive, each weighing its weight); without ``offset``, ``offset`` is 0.
    """
    finite = torch.isfinite(h)
    if sample_weight is None:
        # Times 1.0: the sums below are those of the unweighted rows, to the bit.
        w, n = 1.0, finite.sum(-2).clamp_min(1)
    else:
        finite &= (sample_weight > 0).reshape(-1, 1)
        w = torch.where(finite, sample_weight.to(h).reshape(-1, 1), 0.0)
        n = w.sum(-2)
    h0, y0 = torch.where(finite, h, 0.0), torch.where(finite, y, 0.0)
    h_mean, y_mean = (h0 * w).sum(-2) / n, (y0 * w).sum(-2) / n
    if not offset:
        h_mean, y_mean = torch.zeros_like(h_mean), torch.zeros_like(y_mean)
    dh = torch.where(finite, h - h_mean.unsqueeze(-2), 0.0)
    dy = torch.where(finite, y - y_mean.unsqueeze(-2), 0.0)
    variance = (dh.square() * w).sum(-2)
    scale = (dh * dy * w).sum(-2) / variance
    offset = y_mean - scale * h_mean
    ok = torch.isfinite(scale) & torch.isfinite(offset) & (variance > 0)
    ok &= finite.sum(-2) >= 2
    return scale, offset, ok


class ArithmeticNetwork(nn.Module):
    """Layers of arithmetic units with no activation between them.

    The network holds ``n_copies`` independently initialised copies of itself in
    batched weight tensors, so that one forward and one backward pass trains all of
    them: each copy sees the same batch, and because the training loss is the sum of
    the copies' losses, each copy's gradient is exactly what it would be alone.
    :meth:`keep_copy_` then reduces the network to one chosen copy.

    Parameters
    ----------
    in_features, out_features : int
        Number of inputs and of outputs.
    units : sequence of str
        One unit name per layer, from :data:`sknalu.units.UNITS`.
    hidden_size : int, default=2
        Width of every hidden layer.
    n_copies : int, default=1
        Number of independently initialised copies trained together.
    oob_mode, regularizer_shape : str, default="clip", "linear"
        Passed to every unit (see :class:`~sknalu.units.ArithmeticUnit`).
    seed : int, default=0
        Seed of the initialisation; the same seed gives the same weights.
    dtype : torch.dtype or None, default=None
        Floating-point type of the weights; torch's default type when None.
    constants : bool, default=False
        Whether the output is ``scale * layers(x) + offset``, with a constant factor
        and an additive constant per output (and copy). The factor is a weight,
        trained with the units'; the additive constant is not trained (a weight
        without gradient) but set by :meth:`fit_constants_` in the snap: trained,
        it would let a product unit hold any weight on a single input,
        ``c (w h + 1 - w) + d`` being linear in ``h`` for every ``w``.
    unit_options : mapping, optional
        Options of some units, by name (``{"functions": ("sin", "exp")}``): each
        unit is passed those its class names in
        :attr:`~sknalu.units.ArithmeticUnit.options`, the others none.

    Examples
    --------
    >>> import torch
    >>> net = ArithmeticNetwork(3, 1, units=("nau", "nmu"), n_copies=8)
    >>> net(torch.ones(5, 3)).shape
    torch.Size([8, 5, 1])
    >>> net.keep_copy_(2)
    >>> net(torch.ones(5, 3)).shape
    torch.Size([5, 1])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        units: Sequence[str] = ("nau", "nmu"),
        hidden_size: int = 2,
        n_copies: int = 1,
        oob_mode: str = "clip",
        regularizer_shape: str = "linear",
        seed: int = 0,
        dtype: torch.dtype | None = None,
        constants: bool = False,
        unit_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.units = tuple(units)
        self.hidden_size = hidden_size
        self.n_copies = n_copies
        generator = torch.Generator().manual_seed(int(seed))
        sizes = [in_features] + [hidden_size] * (len(self.units) - 1) + [out_features]
        layers: list[ArithmeticUnit] = []
        unit_options = dict(unit_options or {})
        for name, n_in, n_out in zip(self.units, sizes[:-1], sizes[1:], strict=True):
            unit = UNITS[name]
            options = {k: v for k, v in unit_options.items() if k in unit.options}
            layers.append(
                unit(
                    n_in,
                    n_out,
                    n_copies=n_copies,
                    oob_mode=oob_mode,
                    regularizer_shape=regularizer_shape,
                    generator=generator,
                    **options,
                )
            )
        self.layers = nn.ModuleList(layers).to(dtype or torch.get_default_dtype())
        self.constants = constants
        if constants:
            shape = (out_features,) if n_copies is None else (n_copies, out_features)
            kind = {"dtype": dtype or torch.get_default_dtype()}
            self.scale = nn.Parameter(torch.ones(shape, **kind))
            self.offset = nn.Parameter(torch.zeros(shape, **kind), requires_grad=False)
        #: Whether the copy dimension is squeezed from the output (one kept copy).
        self.squeeze_copies = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``[n_copies, batch, out]``, or ``[batch, out]`` after :meth:`keep_copy_`."""
        x = self.body(x)
        if self.constants:
            x = torch.addcmul(self.offset.unsqueeze(-2), x, self.scale.unsqueeze(-2))
        return x.squeeze(0) if self.squeeze_copies else x

    def body(self, x: torch.Tensor) -> torch.Tensor:
        """What the layers compute, before the constants; ``[n_copies, batch, out]``."""
        for layer in self.layers:
            x = layer(x)
        return x

    def arithmetic_units(self) -> list[ArithmeticUnit]:
        """Every arithmetic unit of the network, in module order.

        (Not :attr:`units`, which holds the units' names.) The snap and the saddle
        escape of :mod:`sknalu.exact` reach the units through this method only.
        """
        return list(iter_units(self))

    def checking_domain(
        self, names: Sequence[str] | None = None
    ) -> contextlib.AbstractContextManager[DomainReport]:
        """A block in which every forward pass reports the rows outside the formula's domain.

        Before each layer computes, its unit says which rows of its inputs (the
        network's, or the outputs of the layer before) lie outside the domain where
        it computes its formula (:meth:`~sknalu.units.ArithmeticUnit.domain_violations`).
        The :class:`DomainReport` yielded gathers them over the block's passes, in
        the thread that entered it.

        Parameters
        ----------
        names : sequence of str, optional
            The names of the network's inputs; ``"x0"``, ``"x1"``, ... when None.

        Returns
        -------
        context manager yielding DomainReport
        """
        return _checking_domain(self.layers, DomainReport(names))

    @torch.no_grad()
    def domain_violations(
        self, X: torch.Tensor, names: Sequence[str] | None = None
    ) -> DomainReport:
        """The rows of ``X`` outside the domain of the network's formula, and why.

        One forward pass in evaluation mode within :meth:`checking_domain`, on ``X``
        of shape (n_samples, in_features), with ``names`` as there.
        """
        training = self.training
        self.eval()
        try:
            with self.checking_domain(names) as report:
                self(X)
        finally:
            self.train(training)
        return report

    @torch.no_grad()
    def fit_constants_(self, X, y, offset: bool = False, sample_weight=None) -> None:
        """Set each copy's constant factor, and additive constant, by least squares.

        For every copy and output, ``scale`` becomes the least-squares fit of ``y``
        by ``scale * body(X)``, or with ``offset`` ``scale`` and ``offset`` that of
        ``scale * body(X) + offset``, on the rows where the layers' output is
        finite; with ``sample_weight`` (one per row), the weighted fit. A copy
        whose output is constant or not finite keeps its constants. Nothing
        happens without ``constants``.
        """
        if not self.constants:
            return
        training = self.training
        self.eval()
        try:
            h = self.body(X)
        finally:
            self.train(training)
        scale, offset, ok = _constants(h, y.to(h.dtype).expand_as(h), offset, sample_weight)
        shape = self.scale.shape
        self.scale.copy_(torch.where(ok, scale, self.scale.reshape(ok.shape)).reshape(shape))
        self.offset.copy_(torch.where(ok, offset, self.offset.reshape(ok.shape)).reshape(shape))

    def sparsity_loss(self, gradient_scale: float | None = None) -> torch.Tensor:
        """Sum over layers of the sparsity regulariser, one value per copy.

        ``gradient_scale`` is passed to every unit's
        :meth:`~sknalu.units.ArithmeticUnit.sparsity_loss`.
        """
        return functools.reduce(
            torch.add, (layer.sparsity_loss(gradient_scale) for layer in self.layers)
        )

    def oob_loss(self) -> torch.Tensor:
        """Sum over layers of the out-of-bounds regulariser, one value per copy."""
        return sum(layer.oob_loss() for layer in self.layers)

    @torch.no_grad()
    def constrain_(self) -> None:
        """Project every layer's weights into bounds (``oob_mode="clip"``)."""
        for layer in self.layers:
            layer.constrain_()

    @contextlib.contextmanager
    def projected(self):
        """A block in which every step is followed by :meth:`constrain_`.

        For a training loop that evaluates the network only at projected weights:
        every optimiser step followed by :meth:`constrain_`, and an optimiser that
        evaluates the loss once per step, before it moves the weights. The weights
        are projected on entry; inside, the units of ``oob_mode="clip"`` use them
        as they are instead of clipping them in every forward pass, with the same
        values and gradients.
        """
        self.constrain_()
        units = list(iter_units(self))
        for unit in units:
            unit.within_bounds = True
        try:
            yield self
        finally:
            for unit in units:
                unit.within_bounds = False

    @torch.no_grad()
    def keep_copy_(self, index: int) -> None:
        """Discard every copy but ``index``; the output loses its copy dimension."""
        self.keep_copies_([index])
        self.squeeze_copies = True

    @torch.no_grad()
    def keep_copies_(self, indices: Sequence[int]) -> None:
        """Discard every copy not in ``indices``, which become copies 0, 1, ...

        Every parameter and buffer holds the copies along its first dimension.
        """
        indices = list(indices)
        for unit in iter_units(self):
            unit.n_copies = len(indices)
        for param in self.parameters():
            param.data = param.data[indices].clone()
        for module in self.modules():
            for name, buffer in list(module.named_buffers(recurse=False)):
                setattr(module, name, buffer[indices].clone())
        self.n_copies = len(indices)

    @torch.no_grad()
    def copy_state(self, index: int) -> dict[str, torch.Tensor]:
        """A detached copy of the weights of copy ``index``."""
        return {k: v[index].clone() for k, v in self.state_dict().items()}

    @torch.no_grad()
    def load_copy_state_(self, index: int, state: dict[str, torch.Tensor]) -> None:
        """Write weights taken with :meth:`copy_state` into copy ``index``."""
        for k, v in self.state_dict().items():
            v[index].copy_(state[k])

    @torch.no_grad()
    def sparsity_error(self) -> torch.Tensor:
        """Largest distance of any weight from its discrete values, one value per copy.

        The sparsity error of Madsen & Johansen (2020, section 4.1),
        ``max min(|W|, |1 - |W||)`` for {-1, 0, 1} weights, measured on the
        effective weights against each unit's own discrete values (multiples of ½ for the
        Real NPU). Gates do not count.
        """
        return torch.stack([layer.sparsity_error() for layer in self.layers]).amax(dim=0)

    def per_copy_mse(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean squared error of each copy on ``X``, ``y``, in evaluation mode.

        The error the estimators select their restart by, on any rows: the rows are
        evaluated in chunks, and not-a-number counts as infinite, so that a
        diverged copy is never the best one.

        Parameters
        ----------
        X : Tensor of shape (n_samples, in_features)
            Inputs, of the network's dtype and on its device.
        y : Tensor of shape (n_samples, out_features)
            Targets.

        Returns
        -------
        Tensor of shape (n_copies,)
            One error per copy; of shape ``(1,)`` after :meth:`keep_copy_`.

        Examples
        --------
        >>> net = ArithmeticNetwork(2, 1, units=("nau",), n_copies=3)
        >>> net.per_copy_mse(torch.ones(4, 2), torch.zeros(4, 1)).shape
        torch.Size([3])
        """
        return per_copy_mse(self, X, y)
