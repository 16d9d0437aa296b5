"""Leaving saddle points along negative curvature, once training has settled.

Training a network of arithmetic units can stall at a saddle point rather than a
minimum. The best known is the symmetric point of a product (Madsen & Johansen 2020):
NAU → NMU on ``a * b`` first learns ``h1 = h2 = (a + b) / 2`` and the held-out
error stays there, because the one direction that leads down, moving the two
hidden units apart, curves down about 10⁷ times more gently than the steepest
directions curve up. A first-order optimiser moves along it at a rate set by
that ratio; the paper's runs need about 1.4 million steps to leave.

Where the network has few parameters, the Hessian of the training error is small
enough to compute exactly (a few hundred parameters: a fraction of a second).
Its eigenvector of most negative eigenvalue points down such a saddle, and a line
search along it moves the network off it in one step; the remaining weights of a
product then lie on the right side of 0.5, and rounding every weight to its
unit's discrete values gives the exact formula. :func:`leave_saddles_` takes
these steps for every copy of a network (:func:`_copy_hessians`,
:func:`_descent_directions`, :func:`_line_search`, :func:`_keep_if_lower`), and
:func:`round_if_no_worse_` rounds; :class:`~sknalu.training._callbacks.SaddleEscape`
calls both once training stalls.

The network is reached through its own interface only (duck typing): its
parameters, ``arithmetic_units()`` and ``fit_constants_`` of
:class:`~sknalu.ArithmeticNetwork`, and the units' ``clipped_bounds`` and ``snap_``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._errors import copy_mse, mean_square, per_copy_mse
from ._snap import saved_state
from ._tolerances import ESCAPE_IMPROVEMENT, FLAT_CURVATURE, no_worse

#: Distances along the unit eigenvector that the line search tries, each both ways.
_STEP_SIZES = (0.05, 0.1, 0.2, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
#: Most directions of negative curvature the line search tries per copy.
_N_DIRECTIONS = 4
#: Rows of a Hessian computed per batch of backward passes.
_HESSIAN_CHUNK = 64
#: Most elements (rows × parameters per copy) of one batched evaluation of
#: line-search candidates: bounds its memory to a few hundred MB.
_CANDIDATE_ELEMENTS = 2**24


def leave_saddles_(
    module: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    max_iterations: int = 4,
    max_parameters: int = 1024,
    margin: float = 1e-2,
    hessian_rows: int | None = None,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Move every copy of a network off saddle points of its error on ``X``, ``y``.

    Each iteration computes, for every copy still moving, the Hessian of its mean squared
    error over its parameter entries at least ``margin`` inside their bounds
    (:func:`_copy_hessians`), and tries steps of several lengths, both ways, along the
    eigenvectors of its (up to) four most negative eigenvalues (:func:`_descent_directions`,
    :func:`_line_search`), projected into bounds. Each copy takes the step that lowers its
    error most, and stops when no eigenvalue is negative or no step lowers its error
    (:func:`_keep_if_lower`): no copy's error ever increases. One Hessian computation
    gives all the copies, and the line search evaluates all their candidates at once.

    Parameters
    ----------
    module : ArithmeticNetwork
        The network, with any number of copies; changed in place.
    X, y : Tensor
        Rows of training data (a few thousand are plenty).
    max_iterations : int, default=4
        Most steps a copy takes.
    max_parameters : int, default=1024
        Networks with more parameter entries per copy are left alone: the Hessian
        has their square of entries.
    margin : float, default=1e-2
        Entries this close to a bound are held fixed.
    hessian_rows : int or None, default=None
        The Hessian is computed on the first ``hessian_rows`` rows of ``X`` (all when
        None): its cost grows with them; the line search uses all the rows, cheaply.
    sample_weight : Tensor of shape (n,), optional
        The rows' weights: every error is the weighted mean squared error.

    Returns
    -------
    Tensor
        Number of steps each copy took.

    Examples
    --------
    NAU → NMU on ``x0 * x1`` at the symmetric saddle, both hidden units ``(x0 + x1) / 2``:

    >>> import torch
    >>> from sknalu import ArithmeticNetwork
    >>> net = ArithmeticNetwork(2, 1, units=("nau", "nmu"), dtype=torch.float64)
    >>> with torch.no_grad():
    ...     _ = net.layers[0].W.fill_(0.5)
    ...     _ = net.layers[1].W.fill_(1.0)
    >>> X = torch.rand(1000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 1
    >>> y = X.prod(1, keepdim=True)
    >>> leave_saddles_(net, X, y).tolist()
    [1]
    >>> w = net.layers[0].weight.detach()[0].round(decimals=2) + 0.0
    >>> sorted(w.tolist())  # one hidden unit is x0, the other x1
    [[0.0, 1.0], [1.0, 0.0]]
    """
    parameters = list(module.parameters())
    if not parameters:
        return torch.zeros(0, dtype=torch.long)
    n_copies = parameters[0].shape[0]
    steps = torch.zeros(n_copies, dtype=torch.long, device=parameters[0].device)
    flat = _flat(module, n_copies)
    if flat.shape[1] > max_parameters:
        return steps.cpu()
    training = module.training
    module.eval()
    try:
        _descend_(module, flat, steps, (X, y, sample_weight), max_iterations, margin, hessian_rows)
        _load(module, flat)
    finally:
        module.train(training)
    return steps.cpu()


def _descend_(
    module: nn.Module,
    flat: torch.Tensor,
    steps: torch.Tensor,
    rows: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None],
    max_iterations: int,
    margin: float,
    hessian_rows: int | None,
) -> None:
    """The iterations of :func:`leave_saddles_`, on the copies' parameters ``flat``.

    ``rows`` holds the inputs, the targets and the rows' weights (or None).
    ``flat`` (``[copy, P]``) and ``steps`` (``[copy]``) are updated in place. Each
    iteration is four steps for every copy still moving: its Hessian, its
    directions of negative curvature, the line search along them, and the step
    kept only where it lowers the error; a copy whose error no step lowers stops.
    Copies whose error is 0 or not finite do not move.
    """
    X, y, sample_weight = rows
    # The rows the Hessian is computed on.
    head = slice(hessian_rows)
    head_rows = (X[head], y[head], None if sample_weight is None else sample_weight[head])
    lo, hi = _bound_vectors(module, flat)
    losses = per_copy_mse(module, X, y, sample_weight)
    moving = (torch.isfinite(losses) & (losses > 0)).nonzero().flatten()
    for _ in range(max_iterations):
        if len(moving) == 0:
            break
        current = flat[moving]
        free = (current - margin >= lo) & (current + margin <= hi)
        hessians = _copy_hessians(module, current, *head_rows)
        directions = _descent_directions(hessians, free)
        best_loss, chosen = _line_search(module, current, directions, (lo, hi), X, y, sample_weight)
        moving = _keep_if_lower(moving, best_loss, chosen, flat, losses, steps)


def _copy_hessians(
    module: nn.Module,
    values: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """The Hessian of each copy's mean squared error at the rows of ``values``.

    ``values`` is ``[copy, P]``; returns ``[copy, P, P]``. The copies are
    independent, so row j of the Jacobian of the gradient summed over the copies
    holds row j of every copy's Hessian: P backward passes give all the Hessians.
    """

    def total_loss(flat: torch.Tensor) -> torch.Tensor:
        return _functional_mse(module, _unflatten(flat, module), X, y, sample_weight).sum()

    def gradient_summed_over_copies(flat: torch.Tensor) -> torch.Tensor:
        return torch.func.grad(total_loss)(flat).sum(0)

    # Reverse over reverse: torch's forward mode warns on first use.
    jacobian = torch.func.jacrev(gradient_summed_over_copies, chunk_size=_HESSIAN_CHUNK)
    return jacobian(values).permute(1, 0, 2)


def _descent_directions(hessians: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
    """Every copy's (up to) :data:`_N_DIRECTIONS` directions of most negative curvature.

    ``[n_directions, copy, P]``; see :func:`_negative_directions`.
    """
    return torch.stack(
        [_negative_directions(h, f, _N_DIRECTIONS) for h, f in zip(hessians, free, strict=True)],
        dim=1,
    )


def _negative_directions(hessian: torch.Tensor, free: torch.Tensor, n: int) -> torch.Tensor:
    """Up to ``n`` unit eigenvectors of most negative curvature, over the free entries.

    Moving an entry closer to a bound would reach the projection of
    :meth:`~sknalu.units.ArithmeticUnit.constrain_`, a kink the Hessian does not
    see, so only the ``free`` entries move. An eigenvalue counts as negative below
    minus :data:`~sknalu.exact._tolerances.FLAT_CURVATURE` times the largest
    magnitude. Returns ``[n, P]``, zero rows where there are fewer negative
    eigenvalues.
    """
    directions = hessian.new_zeros(n, len(free))
    index = free.nonzero().flatten()
    block = hessian[index][:, index]
    if len(index) == 0 or not bool(torch.isfinite(block).all()):
        return directions
    eigenvalues, eigenvectors = torch.linalg.eigh(block)
    tiny = FLAT_CURVATURE * float(eigenvalues.abs().max())
    negative = int((eigenvalues < -tiny).sum())
    for j in range(min(n, negative)):
        directions[j, index] = eigenvectors[:, j]
    return directions


def _line_search(
    module: nn.Module,
    current: torch.Tensor,
    directions: torch.Tensor,
    bounds: tuple[torch.Tensor, torch.Tensor],
    X: torch.Tensor,
    y: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each copy's best step along its ``directions``, each of :data:`_STEP_SIZES` both ways.

    ``current`` is ``[copy, P]``, ``directions`` ``[n_directions, copy, P]``; every
    candidate is projected into ``bounds`` (the lower and upper bound vectors).
    Returns, per copy, the lowest error on ``X``, ``y`` among its candidates and
    that candidate (``[copy]`` and ``[copy, P]``).
    """
    sizes = torch.tensor(_STEP_SIZES, dtype=current.dtype, device=current.device)
    lengths = torch.cat([sizes, -sizes]).reshape(1, -1, 1, 1)  # [1, 2S, 1, 1]
    candidates = (current + lengths * directions.unsqueeze(1)).clamp(*bounds)
    n_candidates, n_moving = candidates.shape[0] * candidates.shape[1], len(current)
    losses = _candidate_losses(
        module, candidates.reshape(-1, current.shape[1]), X, y, sample_weight
    )
    losses = losses.reshape(n_candidates, n_moving)
    best = losses.argmin(dim=0)
    best_loss = losses[best, torch.arange(n_moving)]
    chosen = candidates.reshape(n_candidates, n_moving, -1)[best, torch.arange(n_moving)]
    return best_loss, chosen


def _keep_if_lower(
    moving: torch.Tensor,
    best_loss: torch.Tensor,
    chosen: torch.Tensor,
    flat: torch.Tensor,
    losses: torch.Tensor,
    steps: torch.Tensor,
) -> torch.Tensor:
    """Take the chosen step of each ``moving`` copy whose error it lowers; those copies.

    A step is taken where it lowers the copy's error by more than the fraction
    :data:`~sknalu.exact._tolerances.ESCAPE_IMPROVEMENT`: ``flat``, ``losses`` and
    ``steps`` (all copies) are updated in place. Only those copies move on.
    """
    improved = best_loss < losses[moving] * (1 - ESCAPE_IMPROVEMENT)
    winners = moving[improved]
    flat[winners] = chosen[improved]
    losses[winners] = best_loss[improved]
    steps[winners] += 1
    return winners


@torch.no_grad()
def round_if_no_worse_(
    module: nn.Module, X: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Round every copy's weights to its units' discrete values where no worse.

    Every unit's ``snap_`` reaches every weight, the constants are refitted, and a
    copy keeps its rounded weights where they changed and its error on ``X``, ``y``
    (weighted by ``sample_weight``, if given) is
    :func:`~sknalu.exact._tolerances.no_worse`; the others are restored.

    Returns
    -------
    Tensor of bool
        Per copy, whether the rounded weights were kept.
    """
    state = saved_state(module)
    before = per_copy_mse(module, X, y, sample_weight)
    for unit in module.arithmetic_units():
        unit.snap_(math.inf)
    module.fit_constants_(X, y, sample_weight=sample_weight)
    after = per_copy_mse(module, X, y, sample_weight)
    changed = torch.zeros_like(before, dtype=torch.bool)
    for key, value in module.state_dict().items():
        changed |= (value != state[key]).reshape(len(before), -1).any(1)
    keep = changed & no_worse(after, before, mean_square(y, sample_weight))
    for key, value in module.state_dict().items():
        value[~keep] = state[key][~keep]
    return keep


# -- the copies' parameters as rows of one matrix ----------------------------------------


def _flat(module: nn.Module, n_copies: int) -> torch.Tensor:
    """Every copy's parameters as one row each: ``[n_copies, n_parameters]``."""
    return torch.cat([p.detach().reshape(n_copies, -1) for p in module.parameters()], dim=1)


def _unflatten(flat: torch.Tensor, module: nn.Module) -> dict[str, torch.Tensor]:
    """Rows of ``flat`` as the parameters of as many copies of ``module``."""
    out, start = {}, 0
    for name, p in module.named_parameters():
        size = p[0].numel()
        out[name] = flat[:, start : start + size].reshape(len(flat), *p.shape[1:])
        start += size
    return out


@torch.no_grad()
def _load(module: nn.Module, flat: torch.Tensor) -> None:
    """Write the rows of ``flat`` into the copies' parameters."""
    for name, value in _unflatten(flat, module).items():
        module.get_parameter(name).copy_(value)


def _bound_vectors(module: nn.Module, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The lower and upper bound of every parameter entry (``[P]`` each).

    The bounds are the units' own (:meth:`~sknalu.units.ArithmeticUnit.clipped_bounds`),
    infinite for entries without bounds.
    """
    bounds = {
        id(getattr(unit, name)): limits
        for unit in module.arithmetic_units()
        for name, limits in unit.clipped_bounds().items()
    }
    lo = torch.full_like(flat[0], -math.inf)
    hi = torch.full_like(flat[0], math.inf)
    start = 0
    for p in module.parameters():
        size = p[0].numel()
        if id(p) in bounds:
            lo[start : start + size], hi[start : start + size] = bounds[id(p)]
        start += size
    return lo, hi


def _functional_mse(
    module: nn.Module, params, X: torch.Tensor, y: torch.Tensor, sample_weight=None
):
    """Each copy's mean squared error with ``params`` in place of the module's own."""
    out = torch.func.functional_call(module, params, (X,))
    if out.dim() == y.dim():  # a network reduced to one copy
        out = out.unsqueeze(0)
    return copy_mse(out, y, sample_weight)


@torch.no_grad()
def _candidate_losses(
    module: nn.Module,
    candidates: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """The mean squared error of every row of ``candidates`` (``[N, P]``) on ``X``, ``y``.

    The candidates are evaluated as copies of the network, many in one forward
    pass, which costs far less than loading and evaluating them one by one.
    NaN counts as infinite.
    """
    chunk = max(1, _CANDIDATE_ELEMENTS // (len(X) * candidates.shape[1]))
    losses = [
        _functional_mse(module, _unflatten(part, module), X, y, sample_weight)
        for part in candidates.split(chunk)
    ]
    return torch.nan_to_num(torch.cat(losses), nan=math.inf, posinf=math.inf)
