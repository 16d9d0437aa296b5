"""Leaving saddle points along negative curvature: leave_saddles_ and SaddleEscape."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import set_weights
from skorch.history import History

from sknalu import ArithmeticNetwork, NALURegressor, NMURegressor
from sknalu.exact._escape import leave_saddles_
from sknalu.training._callbacks import SaddleEscape
from sknalu.training._data import TensorDataset

pytestmark = pytest.mark.usefixtures("float64")


def _product_rows(n=1000, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 2, dtype=torch.float64, generator=generator) + 1
    return X, X.prod(1, keepdim=True)


def _history():
    """A skorch history with one epoch's row, which the callbacks record into."""
    history = History()
    history.new_epoch()
    return history


def _losses(network, X, y):
    with torch.no_grad():
        return (network(X) - y).square().mean(dim=(-1, -2))


def test_copies_leave_the_symmetric_saddle_of_a_product_and_exact_ones_stay():
    # Copy 0 and 1: both hidden units hold (x0 + x1) / 2 (a saddle); copy 2 is exact.
    network = ArithmeticNetwork(2, 1, units=("nau", "nmu"), n_copies=3)
    set_weights(network.layers[0].W, [[[0.5, 0.5]] * 2, [[0.5, 0.5]] * 2, [[1, 0], [0, 1]]])
    set_weights(network.layers[1].W, [[[1.0, 1.0]]] * 3)
    X, y = _product_rows()
    exact = network.copy_state(2)
    steps = leave_saddles_(network, X, y)
    assert steps[0] >= 1 and steps[1] >= 1 and steps[2] == 0
    assert _losses(network, X, y)[:2].max() < 1e-4
    for key, value in network.copy_state(2).items():
        assert torch.equal(value, exact[key])


def test_escape_never_increases_a_copys_error():
    network = ArithmeticNetwork(4, 1, units=("nau", "nmu"), n_copies=6, seed=3)
    generator = torch.Generator().manual_seed(1)
    X = torch.rand(500, 4, dtype=torch.float64, generator=generator) * 2 - 1
    y = (X[:, :1] - X[:, 1:2]) * X[:, 2:3]
    before = _losses(network, X, y)
    leave_saddles_(network, X, y)
    assert (_losses(network, X, y) <= before).all()


def test_networks_with_too_many_parameters_are_left_alone():
    network = ArithmeticNetwork(2, 1, units=("nau", "nmu"), n_copies=2)
    state = {k: v.clone() for k, v in network.state_dict().items()}
    X, y = _product_rows(50)
    assert leave_saddles_(network, X, y, max_parameters=5).tolist() == [0, 0]
    for key, value in network.state_dict().items():
        assert torch.equal(value, state[key])


def test_weights_near_their_bounds_are_held_fixed():
    # The exact product has every weight on a bound; the escape leaves it as it is.
    network = ArithmeticNetwork(2, 1, units=("nau", "nmu"))
    set_weights(network.layers[0].W, [[[1.0, 0.0], [0.0, 1.0]]])
    set_weights(network.layers[1].W, [[[1.0, 1.0]]])
    X, y = _product_rows(50)
    assert leave_saddles_(network, X, y).tolist() == [0]


# -- in the estimators ----------------------------------------------------------------------


def _overlapping_product(n_rows, low, high, seed):
    # a * b with a = x0 + ... + x4 and b = x3 + ... + x7 among 20 inputs: the
    # 100-input task of Madsen & Johansen (2020), scaled down.
    X = np.random.default_rng(seed).uniform(low, high, size=(n_rows, 20))
    return X, X[:, 0:5].sum(1) * X[:, 3:8].sum(1)


def test_escape_solves_a_product_that_training_alone_leaves_at_the_saddle():
    X, y = _overlapping_product(4000, 1, 2, seed=0)
    X_far, y_far = _overlapping_product(500, 2, 6, seed=1)
    params = {"max_steps": 2000, "random_state": 0}
    stuck = NMURegressor(escape_saddles=False, **params).fit(X, y)
    assert np.mean((stuck.predict(X_far) - y_far) ** 2) > 1.0
    est = NMURegressor(**params).fit(X, y)
    np.testing.assert_allclose(est.predict(X_far), y_far, rtol=1e-10)
    assert est.snapped_ and est.sparsity_error_ == 0.0
    escape = dict(est.net_.callbacks_)["saddle_escape"]
    assert sum(escape.n_steps_) > 0 and escape.rounded_[est.best_restart_]
    assert escape.seconds_ > 0


def test_escape_is_on_for_nmu_and_off_for_nalu_by_default():
    assert NMURegressor().escape_saddles is True
    assert NALURegressor().escape_saddles is False
    X, y = _overlapping_product(200, 1, 2, seed=0)
    est = NALURegressor(max_steps=100, random_state=0).fit(X, y)
    assert "saddle_escape" not in dict(est.net_.callbacks_)


def test_callback_moves_the_max_copies_best_copies_after_the_last_step():
    X, y = (torch.as_tensor(a).reshape(len(a), -1) for a in _overlapping_product(500, 1, 2, 0))
    network = ArithmeticNetwork(20, 1, units=("nau", "nmu"), n_copies=5)
    before = network.state_dict()
    before = {key: value.clone() for key, value in before.items()}
    losses_before = _losses(network, X, y)
    # The two copies with the lowest error on the (all 500) rows are the ones to move.
    best_two = sorted(torch.argsort(losses_before)[:2].tolist())
    net = SimpleNamespace(module_=network, n_steps_=10, max_steps=20, seed=0, history=_history())
    callback = SaddleEscape(max_copies=2).initialize()
    callback.on_epoch_end(net, dataset_train=TensorDataset(X, y))
    assert callback.n_steps_ == [] and callback.seconds_ == 0.0  # not the last step yet
    for key, value in network.state_dict().items():
        assert torch.equal(value, before[key])
    net.n_steps_ = 20
    callback.on_epoch_end(net, dataset_train=TensorDataset(X, y))
    assert len(callback.n_steps_) == len(callback.rounded_) == 5 and callback.seconds_ > 0
    touched = [n > 0 or r for n, r in zip(callback.n_steps_, callback.rounded_, strict=True)]
    assert [i for i, t in enumerate(touched) if t] == best_two
    moved = [
        i
        for i in range(5)
        if any(not torch.equal(v[i], before[k][i]) for k, v in network.state_dict().items())
    ]
    assert moved == best_two
    losses_after = _losses(network, X, y)
    assert (losses_after[best_two] < losses_before[best_two]).all()


def test_same_random_state_same_escape():
    X, y = _overlapping_product(1000, 1, 2, seed=0)
    first, second = (NMURegressor(max_steps=500, random_state=0).fit(X, y) for _ in range(2))
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    escapes = [dict(est.net_.callbacks_)["saddle_escape"] for est in (first, second)]
    assert escapes[0].n_steps_ == escapes[1].n_steps_


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_escape_saddles_must_be_a_bool(value):
    X, y = _overlapping_product(50, 1, 2, seed=0)
    with pytest.raises(ValueError, match=r"'escape_saddles' parameter .* must be an"):
        NMURegressor(random_state=0, escape_saddles=value, max_steps=10).fit(X, y)


def test_snap_false_also_keeps_the_escape_from_rounding():
    X, y = _overlapping_product(1000, 1, 2, seed=0)
    est = NMURegressor(max_steps=500, snap=False, random_state=0).fit(X, y)
    assert not any(dict(est.net_.callbacks_)["saddle_escape"].rounded_)
    assert est.snapped_ is False


@pytest.mark.parametrize("units", [("nau", "nmu"), ("npu", "nau"), ("nac", "nmru")])
def test_batched_candidates_score_what_each_network_scores_alone(units):
    from sknalu.exact._escape import _bound_vectors, _candidate_losses, _flat, _load

    network = ArithmeticNetwork(3, 1, units=units, n_copies=2, seed=1).eval()
    X = torch.rand(300, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) + 1
    y = X.prod(1, keepdim=True)
    flat = _flat(network, 2)
    lo, hi = _bound_vectors(network, flat)
    noise = torch.randn(5, *flat.shape, dtype=flat.dtype, generator=torch.Generator())
    candidates = (flat + noise).clamp(lo, hi).reshape(-1, flat.shape[1])
    batched = _candidate_losses(network, candidates, X, y)
    for i, candidate in enumerate(candidates.reshape(5, 2, -1)):
        # Projecting with the bound vectors is what constrain_ does to the weights.
        _load(network, flat + noise[i])
        network.constrain_()
        torch.testing.assert_close(_flat(network, 2), candidate)
        torch.testing.assert_close(batched[2 * i : 2 * i + 2], _losses(network, X, y))


def test_escape_runs_when_the_error_stalls_not_only_after_the_last_step():
    X, y = (torch.as_tensor(a).reshape(len(a), -1) for a in _overlapping_product(500, 1, 2, 0))
    network = ArithmeticNetwork(20, 1, units=("nau", "nmu"), n_copies=3)
    net = SimpleNamespace(module_=network, n_steps_=0, max_steps=10_000, seed=0, history=_history())
    callback = SaddleEscape(patience=2, min_improvement=0.1).initialize()
    for step in (500, 1000):  # the weights do not change: the error stalls
        net.n_steps_ = step
        callback.on_epoch_end(net, dataset_train=TensorDataset(X, y))
        assert callback.escaped_at_ == []  # fewer than patience + 1 evaluations
    net.n_steps_ = 1500
    callback.on_epoch_end(net, dataset_train=TensorDataset(X, y))
    assert callback.escaped_at_ == [1500]
    # The next escape needs a new stall of patience + 1 evaluations.
    net.n_steps_ = 2000
    callback.on_epoch_end(net, dataset_train=TensorDataset(X, y))
    assert callback.escaped_at_ == [1500]


def test_a_stalled_product_is_escaped_and_training_stops_once_exact():
    X, y = _overlapping_product(4000, 1, 2, seed=0)
    X_far, y_far = _overlapping_product(500, 2, 6, seed=1)
    est = NMURegressor(max_steps=10_000, random_state=0).fit(X, y)
    escape = dict(est.net_.callbacks_)["saddle_escape"]
    stop = dict(est.net_.callbacks_)["stop_when_exact"]
    assert escape.escaped_at_ and escape.escaped_at_[0] < 10_000
    assert stop.stopped_at_ == est.n_steps_ < 10_000
    assert est.formula_exact_ and est.snapped_
    np.testing.assert_allclose(est.predict(X_far), y_far, rtol=1e-10)
