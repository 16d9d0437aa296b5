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
unit's discrete values gives the exact formula. :func:`escape_saddles_` does this
for every copy of a network, :class:`SaddleEscape` at the end of training.
"""

from __future__ import annotations

import math

import torch

from ..units._registry import iter_units
from ._errors import copy_mse, evaluate_mse
from ._snap import saved_state
from ._tolerances import no_worse

#: Distances along the unit eigenvector that the line search tries, each both ways.
_STEP_SIZES = (0.05, 0.1, 0.2, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


def _flat(module: torch.nn.Module, n_copies: int) -> torch.Tensor:
    """Every copy's parameters as one row each: ``[n_copies, n_parameters]``."""
    return torch.cat([p.detach().reshape(n_copies, -1) for p in module.parameters()], dim=1)


def _unflatten(flat: torch.Tensor, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Rows of ``flat`` as the parameters of as many copies of ``module``."""
    out, start = {}, 0
    for name, p in module.named_parameters():
        size = p[0].numel()
        out[name] = flat[:, start : start + size].reshape(len(flat), *p.shape[1:])
        start += size
    return out


@torch.no_grad()
def _load(module: torch.nn.Module, flat: torch.Tensor) -> None:
    for name, value in _unflatten(flat, module).items():
        module.get_parameter(name).copy_(value)


def _copy_losses(module: torch.nn.Module, params, X: torch.Tensor, y: torch.Tensor):
    out = torch.func.functional_call(module, params, (X,))
    if out.dim() == y.dim():  # a network reduced to one copy
        out = out.unsqueeze(0)
    return copy_mse(out, y)


def _losses(module: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Every copy's mean squared error, NaN counted as infinite."""
    return evaluate_mse(module, X, y).reshape(-1)


#: Most elements (rows × parameters per copy) of one batched evaluation of
#: line-search candidates: bounds its memory to a few hundred MB.
_CANDIDATE_ELEMENTS = 2**24


@torch.no_grad()
def _candidate_losses(
    module: torch.nn.Module, candidates: torch.Tensor, X: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """The mean squared error of every row of ``candidates`` (``[N, P]``) on ``X``, ``y``.

    The candidates are evaluated as copies of the network, many in one forward
    pass, which costs far less than loading and evaluating them one by one.
    NaN counts as infinite.
    """
    chunk = max(1, _CANDIDATE_ELEMENTS // (len(X) * candidates.shape[1]))
    losses = [
        _copy_losses(module, _unflatten(part, module), X, y) for part in candidates.split(chunk)
    ]
    return torch.nan_to_num(torch.cat(losses), nan=math.inf, posinf=math.inf)


def _bound_vectors(module: torch.nn.Module, flat: torch.Tensor):
    """The lower and upper bound of every parameter entry (``[P]`` each).

    The bounds are the units' own (:meth:`~sknalu.units.ArithmeticUnit.clipped_bounds`),
    infinite for entries without bounds.
    """
    bounds = {
        id(getattr(unit, name)): limits
        for unit in iter_units(module)
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


def _negative_directions(hessian: torch.Tensor, free: torch.Tensor, n: int) -> torch.Tensor:
    """Up to ``n`` unit eigenvectors of most negative curvature, over the free entries.

    Moving an entry closer to a bound would reach the projection of
    :meth:`~sknalu.units.ArithmeticUnit.constrain_`, a kink the Hessian does not
    see, so only the ``free`` entries move. Returns ``[n, P]``, zero rows where
    there are fewer negative eigenvalues.
    """
    directions = hessian.new_zeros(n, len(free))
    index = free.nonzero().flatten()
    block = hessian[index][:, index]
    if len(index) == 0 or not bool(torch.isfinite(block).all()):
        return directions
    eigenvalues, eigenvectors = torch.linalg.eigh(block)
    tiny = 1e-12 * float(eigenvalues.abs().max())
    negative = int((eigenvalues < -tiny).sum())
    for j in range(min(n, negative)):
        directions[j, index] = eigenvectors[:, j]
    return directions


def escape_saddles_(
    module: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    max_iterations: int = 4,
    max_parameters: int = 1024,
    margin: float = 1e-2,
    hessian_rows: int | None = None,
) -> torch.Tensor:
    """Move every copy of a network off saddle points of its error on ``X``, ``y``.

    Each iteration computes, for every copy still moving, the Hessian of its mean
    squared error with respect to its parameter entries that lie at least
    ``margin`` inside their bounds, and tries steps of several lengths, both ways,
    along the eigenvectors of its (up to) four most negative eigenvalues; each copy
    takes the step that lowers its error most, and the weights are projected into
    bounds. A copy stops when no eigenvalue is negative or no step lowers its
    error, so no copy's error ever increases. The copies are independent, so one
    Hessian computation gives all of them, and the line search evaluates every
    candidate step of every copy in a few batched forward passes.

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
        The Hessian is computed on the first ``hessian_rows`` rows of ``X`` (all
        when None); its cost grows with them, while the line search, which uses all
        the rows, costs little.

    Returns
    -------
    Tensor
        Number of steps each copy took.

    Examples
    --------
    NAU → NMU on ``x0 * x1`` at the symmetric saddle, both hidden units holding
    ``(x0 + x1) / 2``:

    >>> import torch
    >>> from sknalu import ArithmeticNetwork
    >>> net = ArithmeticNetwork(2, 1, units=("nau", "nmu"), dtype=torch.float64)
    >>> with torch.no_grad():
    ...     _ = net.layers[0].W.fill_(0.5)
    ...     _ = net.layers[1].W.fill_(1.0)
    >>> X = torch.rand(1000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 1
    >>> y = X.prod(1, keepdim=True)
    >>> escape_saddles_(net, X, y).tolist()
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
    X_hessian, y_hessian = X[:hessian_rows], y[:hessian_rows]

    def total_loss(values: torch.Tensor) -> torch.Tensor:
        return _copy_losses(module, _unflatten(values, module), X_hessian, y_hessian).sum()

    def gradient_summed_over_copies(values: torch.Tensor) -> torch.Tensor:
        # The copies are independent, so row j of this Jacobian holds row j of
        # every copy's Hessian: P backward passes give all the Hessians.
        return torch.func.grad(total_loss)(values).sum(0)

    lo, hi = _bound_vectors(module, flat)
    sizes = torch.tensor(_STEP_SIZES, dtype=flat.dtype, device=flat.device)
    lengths = torch.cat([sizes, -sizes]).reshape(1, -1, 1, 1)  # [1, 2S, 1, 1]
    try:
        base = _losses(module, X, y)
        active = torch.isfinite(base) & (base > 0)
        for _ in range(max_iterations):
            moving = active.nonzero().flatten()
            if len(moving) == 0:
                break
            current = flat[moving]
            free = (current - margin >= lo) & (current + margin <= hi)
            # Reverse over reverse: torch's forward mode warns on first use.
            hessians = torch.func.jacrev(gradient_summed_over_copies, chunk_size=64)(current)
            hessians = hessians.permute(1, 0, 2)  # [copy, P, P]
            directions = torch.stack(
                [_negative_directions(h, f, 4) for h, f in zip(hessians, free, strict=True)],
                dim=1,
            )  # [4, copy, P]
            candidates = (current + lengths * directions.unsqueeze(1)).clamp(lo, hi)
            n_candidates = candidates.shape[0] * candidates.shape[1]
            losses = _candidate_losses(module, candidates.reshape(-1, flat.shape[1]), X, y)
            losses = losses.reshape(n_candidates, len(moving))
            best = losses.argmin(dim=0)
            best_loss = losses[best, torch.arange(len(moving))]
            improved = best_loss < base[moving] * (1 - 1e-9)
            chosen = candidates.reshape(n_candidates, len(moving), -1)[
                best, torch.arange(len(moving))
            ]
            winners = moving[improved]
            flat[winners] = chosen[improved]
            base[winners] = best_loss[improved]
            steps[winners] += 1
            active = torch.zeros_like(active)
            active[winners] = True
        _load(module, flat)
        return steps.cpu()
    finally:
        module.train(training)


@torch.no_grad()
def _round_if_no_worse(module: torch.nn.Module, X: torch.Tensor, y: torch.Tensor):
    """Round every copy's weights to its units' discrete values where no worse.

    Returns, per copy, whether the rounded weights were kept.
    """
    state = saved_state(module)
    before = _losses(module, X, y)
    for unit in iter_units(module):
        unit.snap_(math.inf)
    module.fit_constants_(X, y)
    after = _losses(module, X, y)
    changed = torch.zeros_like(before, dtype=torch.bool)
    for key, value in module.state_dict().items():
        changed |= (value != state[key]).reshape(len(before), -1).any(1)
    keep = changed & no_worse(after, before, float(y.square().mean()))
    for key, value in module.state_dict().items():
        value[~keep] = state[key][~keep]
    return keep
