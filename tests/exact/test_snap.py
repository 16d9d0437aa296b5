"""Snapping weights onto their discrete values: the units' snap_ and SnapWeights."""

import ast
import copy
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import set_weights
from skorch.history import History

import sknalu.exact
from sknalu import ArithmeticNetwork, NMURegressor
from sknalu.exact._errors import evaluate_mse
from sknalu.exact._numbers import SIGNED, nearest_value
from sknalu.exact._snap import snap_linear_pair_
from sknalu.training._callbacks import SnapWeights
from sknalu.training._data import TensorDataset
from sknalu.units import INALU, NAC, NALU, NAU, NMRU, NMU, Linear, NACMul, RealNPU, _targets

pytestmark = pytest.mark.usefixtures("float64")


def _values(t):
    return t.detach().reshape(-1).tolist()


def _history():
    """A skorch history with one epoch's row, which the callbacks record into."""
    history = History()
    history.new_epoch()
    return history


# -- unit.snap_ -------------------------------------------------------------------------


@pytest.mark.parametrize("Unit", [NAU, Linear])
def test_signed_units_snap_to_minus_one_zero_one_within_tolerance(Unit):
    unit = Unit(5, 1)
    set_weights(unit.W, [0.97, -0.96, 0.04, 0.5, -1.0])
    assert unit.snap_(tolerance=0.05) == 3  # -1.0 is already on target
    assert _values(unit.weight) == pytest.approx([1.0, -1.0, 0.0, 0.5, -1.0], abs=0)


@pytest.mark.parametrize(("Unit", "n_in"), [(NMU, 4), (NMRU, 2)])
def test_multiplying_units_snap_to_zero_one(Unit, n_in):
    unit = Unit(n_in, 1)
    set_weights(unit.W, [0.97, 0.02, 0.5, 0.88])
    assert unit.snap_(tolerance=0.05) == 2
    assert _values(unit.weight) == [1.0, 0.0, 0.5, pytest.approx(0.88)]


def test_zero_tolerance_moves_nothing():
    unit = NMU(2, 1)
    set_weights(unit.W, [0.999, 0.001])
    assert unit.snap_(tolerance=0.0) == 0
    assert _values(unit.W) == pytest.approx([0.999, 0.001])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("Unit", [NAC, NACMul])
def test_nac_weights_snap_exactly_by_saturation(Unit, dtype):
    unit = Unit(4, 1).to(dtype)
    set_weights(unit.W_hat, [3.0, -3.0, 0.02, 0.5])
    set_weights(unit.M_hat, [5.0, 5.0, 1.0, 0.0])
    assert unit.snap_(tolerance=0.05) == 3
    w = _values(unit.weight)
    assert w[:3] == [1.0, -1.0, 0.0]  # exactly, not approximately
    assert w[3] == pytest.approx(np.tanh(0.5) * 0.5)


def test_snapped_nac_adds_exactly():
    unit = NAC(2, 1).double()
    set_weights(unit.W_hat, [4.0, 4.0])
    set_weights(unit.M_hat, [6.0, 6.0])
    unit.snap_()
    x = torch.tensor([[1e15, 3.0]], dtype=torch.float64)
    assert unit(x).item() == 1e15 + 3.0


def test_nalu_snaps_its_weights_but_not_its_input_dependent_gate():
    unit = NALU(2, 1, shared_weights=False)
    set_weights(unit.W_hat, [4.0, 4.0])
    set_weights(unit.M_hat, [6.0, 6.0])
    set_weights(unit.W_hat_mul, [-4.0, 0.01])
    set_weights(unit.M_hat_mul, [6.0, 0.0])
    set_weights(unit.G, [0.01, 8.0])
    assert unit.snap_(tolerance=0.05) == 4
    assert _values(unit.weight) == [1.0, 1.0]
    assert _values(unit.weight_mul) == [-1.0, 0.0]
    assert _values(unit.G) == pytest.approx([0.01, 8.0])


def test_inalu_snaps_a_nearly_closed_gate_shut():
    unit = INALU(2, 1).double()
    set_weights(unit.g_hat, [-6.0])  # σ(-6) ≈ 0.0025
    unit.snap_(tolerance=0.01)
    assert _values(unit.gate()) == [0.0]


def test_real_npu_snaps_weights_to_integers_and_gates_to_zero_one():
    unit = RealNPU(3, 1)
    set_weights(unit.W, [1.96, -1.03, 0.5])
    set_weights(unit.g, [0.98, 1.2, 0.4])  # 1.2 acts as 1 already
    assert unit.snap_(tolerance=0.05) == 3
    assert _values(unit.W) == [2.0, -1.0, 0.5]
    assert _values(unit.relevance) == [1.0, 1.0, pytest.approx(0.4)]


def test_snap_acts_on_every_copy():
    unit = NAU(2, 1, n_copies=3)
    set_weights(unit.W, [[0.99, 0.5], [0.01, -0.98], [0.3, 0.3]])
    assert unit.snap_(tolerance=0.05) == 3
    assert _values(unit.W) == pytest.approx([1.0, 0.5, 0.0, -1.0, 0.3, 0.3], abs=0)


# -- the SnapWeights callback -------------------------------------------------------------


def _run_callback(network, X, y):
    net = SimpleNamespace(module_=network)
    callback = SnapWeights().initialize()
    callback.on_epoch_end(net, dataset_train=TensorDataset(X, y), dataset_valid=None)
    callback.on_train_end(net)
    return callback


def _sum_network(w):
    network = ArithmeticNetwork(2, 1, units=("nau",), dtype=torch.float64)
    set_weights(network.layers[0].W, w)
    return network


def test_callback_keeps_snapped_weights_that_fit_better():
    X = torch.rand(50, 2, dtype=torch.float64) + 1
    y = (X[:, 0] - X[:, 1]).unsqueeze(1)
    network = _sum_network([0.999, -0.97])
    callback = _run_callback(network, X, y)
    assert callback.snapped_ and callback.n_moved_ == 2
    assert callback.loss_after_ == 0.0 < callback.loss_before_
    assert _values(network.layers[0].W) == [1.0, -1.0]
    assert callback.dataset_ is None  # no data is kept in a pickled model


def test_callback_restores_weights_when_snapping_fits_worse():
    X = torch.rand(50, 2, dtype=torch.float64) + 1
    y = (0.95 * X[:, 0] - X[:, 1]).unsqueeze(1)  # 0.95 is the true weight
    network = _sum_network([0.95, -1.0])
    callback = _run_callback(network, X, y)
    assert not callback.snapped_ and callback.n_moved_ == 0
    assert callback.loss_after_ == callback.loss_before_
    assert _values(network.layers[0].W) == pytest.approx([0.95, -1.0], abs=0)


# -- two NAU layers snapped through their product ------------------------------------------


def _nau_pair(w1, w2):
    network = ArithmeticNetwork(3, 1, units=("nau", "nau"), dtype=torch.float64)
    set_weights(network.layers[0].W, w1)
    set_weights(network.layers[1].W, w2)
    return network


# x0 + 2*x1 with x0's weight split between the hidden units and a small weight on x2.
_SPLIT_SUM = ([[0.4, 0.98, 0.03], [0.62, 1.0, -0.02]], [[0.99, 1.0]])


def test_pair_snap_writes_the_rounded_product_as_discrete_weights():
    network = _nau_pair(*_SPLIT_SUM)
    first, second = network.layers
    assert snap_linear_pair_(first, second, tolerance=0.1) == 6
    w1, w2 = first.weight.detach()[0], second.weight.detach()[0]
    assert set(w1.reshape(-1).tolist()) <= {-1.0, 0.0, 1.0} and w2.tolist() == [[1.0, 1.0]]
    assert (w2 @ w1).tolist() == [[1.0, 2.0, 0.0]]
    # Of the columns giving 1 for x0, the one nearest the trained (0.4, 0.62).
    assert w1[:, 0].tolist() == [0.0, 1.0]


def _assert_unchanged(network, snap):
    before = {k: v.clone() for k, v in network.state_dict().items()}
    assert snap() == 0
    for key, value in network.state_dict().items():
        assert torch.equal(value, before[key])


def test_pair_snap_changes_nothing_when_the_product_is_not_near_integers():
    network = _nau_pair([[0.4, 0.98, 0.2], [0.62, 1.0, 0.0]], [[1.0, 1.0]])  # 0.2 * x2
    _assert_unchanged(network, lambda: snap_linear_pair_(*network.layers, tolerance=0.1))


def test_pair_snap_leaves_layers_too_wide_to_search():
    network = ArithmeticNetwork(3, 1, units=("nau", "nau"), hidden_size=9)
    set_weights(network.layers[0].W, torch.full((9, 3), 0.99))
    set_weights(network.layers[1].W, torch.full((1, 9), 1.0))
    _assert_unchanged(network, lambda: snap_linear_pair_(*network.layers, tolerance=0.1))


def test_pair_snap_chooses_the_second_layer_when_it_is_not_near_discrete():
    # x0 - x1 carried by the second hidden unit; the first one's weight of 0.5 in the
    # second layer is far from {0, 1} but multiplies only zeros.
    network = _nau_pair([[0.0, 0.0, 0.0], [-0.98, 1.0, 0.01]], [[0.5, -1.0]])
    assert snap_linear_pair_(*network.layers, tolerance=0.1) > 0
    w1, w2 = (layer.weight.detach()[0] for layer in network.layers)
    assert (w2 @ w1).tolist() == [[1.0, -1.0, 0.0]]
    assert set(torch.cat([w1.reshape(-1), w2.reshape(-1)]).tolist()) <= {-1.0, 0.0, 1.0}


def test_callback_snaps_a_split_sum_through_the_product():
    X = torch.rand(50, 3, dtype=torch.float64) + 1
    y = (X[:, 0] + 2 * X[:, 1]).unsqueeze(1)
    network = _nau_pair(*_SPLIT_SUM)
    callback = _run_callback(network, X, y)
    assert callback.snapped_ and callback.loss_after_ < 1e-20 < callback.loss_before_
    assert network.sparsity_error().item() == 0.0


def test_sum_estimator_ends_with_discrete_weights():
    # a + b with overlapping subsets: the weights of a sum are free to split between
    # the two hidden units, and the product snap places them.
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 2, size=(1000, 10))
    y = X[:, 0:5].sum(1) + X[:, 3:8].sum(1)
    est = NMURegressor(units=("nau", "nau"), max_steps=3000, random_state=0).fit(X, y)
    assert est.snapped_ and est.sparsity_error_ == 0.0
    X_far = rng.uniform(10, 100, size=(50, 10))
    np.testing.assert_allclose(
        est.predict(X_far), X_far[:, 0:5].sum(1) + X_far[:, 3:8].sum(1), rtol=1e-12
    )


def test_held_out_error_is_infinite_for_a_diverged_network():
    network = _sum_network([1.0, 1.0])
    X = torch.tensor([[np.inf, 1.0]], dtype=torch.float64)
    assert float(evaluate_mse(network, X, torch.zeros(1, 1, dtype=torch.float64))) == np.inf


# -- the estimators' snap hyperparameter -----------------------------------------------------


def _product_data():
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 2, size=(200, 2))
    return X, X[:, 0] * X[:, 1]


def test_snap_false_trains_without_snapping():
    X, y = _product_data()
    params = {"max_steps": 2000, "random_state": 0}
    est = NMURegressor(snap=False, **params).fit(X, y)
    assert est.snapped_ is False
    callbacks = dict(est.net_.callbacks_)
    assert "snap" not in callbacks and "snap_trial" not in callbacks
    snapped = NMURegressor(**params).fit(X, y)
    assert snapped.snapped_ is True
    assert snapped.sparsity_error_ == 0.0 < est.sparsity_error_
    # The escape's rounding and the snap make it exact; without them it is not.
    assert snapped.validation_loss_ < 1e-20 < est.validation_loss_


def test_snapped_model_pickles_without_its_training_data():
    X, y = _product_data()
    est = NMURegressor(max_steps=1000, random_state=0).fit(X, y)
    assert all(getattr(callback, "dataset_", None) is None for _, callback in est.net_.callbacks_)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))
    assert restored.formula_ == est.formula_


@pytest.mark.parametrize("snap", ["yes", 1, None])
def test_snap_must_be_a_bool(snap):
    X, y = _product_data()
    with pytest.raises(ValueError, match=r"'snap' parameter .* must be an instance of 'bool'"):
        NMURegressor(random_state=0, max_steps=10, snap=snap).fit(X, y)


def test_a_sum_is_snapped_during_training_and_training_stops_once_exact():
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 2, size=(1000, 10))
    y = X[:, 0:5].sum(1) - X[:, 3:8].sum(1)
    est = NMURegressor(units=("nau", "nau"), max_steps=10_000, random_state=0).fit(X, y)
    callbacks = dict(est.net_.callbacks_)
    trial, stop = callbacks["snap_trial"], callbacks["stop_when_exact"]
    assert (est.best_restart_, est.best_step_) in trial.snapped_
    assert stop.stopped_at_ == est.n_steps_ == est.best_step_ < 10_000
    assert est.snapped_ and est.formula_exact_ and est.sparsity_error_ == 0.0
    assert len(est.history_) == est.n_steps_ // 500  # no evaluation after the stop


def test_snap_trial_snaps_the_best_copies_and_keeps_only_snaps_that_are_no_worse():
    from sknalu.training._callbacks import SnapTrial

    X = torch.rand(50, 3, dtype=torch.float64) + 1
    y = (X[:, 0] + 2 * X[:, 1]).unsqueeze(1)
    network = ArithmeticNetwork(3, 1, units=("nau", "nau"), n_copies=2)
    set_weights(network.layers[0].W, [_SPLIT_SUM[0], [[0.5, 0.4, 0.3], [0.2, 0.1, 0.0]]])
    set_weights(network.layers[1].W, [_SPLIT_SUM[1], [[0.9, 0.9]]])
    start = copy.deepcopy(network.state_dict())
    before = network.state_dict()["layers.1.W"][1].clone()
    net = SimpleNamespace(module_=network, n_steps_=500, history=_history())
    # Only the best copy is tried with max_copies=1.
    trial = SnapTrial(max_copies=1).initialize()
    trial.on_epoch_end(net, dataset_train=TensorDataset(X, y))
    assert trial.snapped_ == [(0, 500)]
    assert network.sparsity_error()[0].item() == 0.0
    torch.testing.assert_close(network.state_dict()["layers.1.W"][1], before)
    # By default every copy is tried: the second one solves the sum too.
    network.load_state_dict(start)
    trial = SnapTrial().initialize()
    trial.on_epoch_end(net, dataset_train=TensorDataset(X, y))
    assert sorted(trial.snapped_) == [(0, 500), (1, 500)]
    assert (evaluate_mse(network, X, y) < 1e-20).all()
    # A sum whose coefficients are not integers: no copy's error gets worse.
    network.load_state_dict(start)
    target = X @ torch.tensor([[1.04], [2.03], [0.0]], dtype=torch.float64)
    errors = evaluate_mse(network, X, target)
    trial = SnapTrial().initialize()
    trial.on_epoch_end(net, dataset_train=TensorDataset(X, target))
    assert (evaluate_mse(network, X, target) <= errors * (1 + 1e-6)).all()


# -- the layering of sknalu.exact ------------------------------------------------------------


def test_exact_imports_nothing_of_sknalu_but_itself_and_the_exceptions():
    allowed = {"sknalu.exact", "sknalu.exceptions"}
    for path in Path(sknalu.exact.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                package = ["sknalu", "exact"][: 3 - node.level]
                names = [".".join([*package, node.module] if node.module else package)]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.split(".")[0] == "sknalu":
                    assert any(name == a or name.startswith(a + ".") for a in allowed), (
                        path.name,
                        name,
                    )


def test_the_units_round_onto_their_targets_as_the_snap_does():
    # The units read SIGNED and its rounding from exact/, where the snap reads them.
    assert _targets.SIGNED is SIGNED
    w = torch.cat([torch.linspace(-1.5, 1.5, 61), torch.tensor([-0.5, 0.5, -0.0])])
    assert torch.equal(nearest_value(w, SIGNED), _targets.nearest_target(w, SIGNED))
