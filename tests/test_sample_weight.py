"""``fit(X, y, sample_weight)``: the weights through the loss, the split, the snap and
the check that the formula is exact; and the weighted errors and least squares."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import r2_score

from sknalu import ArithmeticNetwork, NALURegressor, NMURegressor
from sknalu._validation import check_sample_weight
from sknalu.exact._errors import evaluate_mse, lowest_r2, mean_square, relative_mse
from sknalu.exact._snap import snap_network_
from sknalu.training._data import HoldOut, TensorDataset
from sknalu.training._net import ArithmeticNet
from sknalu.units import least_squares, log_least_squares

ESTIMATORS = [NALURegressor, NMURegressor]


def product_table(n=200, seed=0):
    """``y = x0 * x1`` on ``n`` rows of inputs in [1, 2]."""
    X = np.random.default_rng(seed).uniform(1, 2, size=(n, 2))
    return X, X[:, 0] * X[:, 1]


def short_fit(**params):
    return NMURegressor(max_steps=2000, random_state=0, **params)


# -- checking the weights ------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    ("weight", "match"),
    [
        (np.ones(19), r"sample_weight\.shape == \(19,\), expected \(20,\)"),
        (np.ones((20, 2)), "1D array"),
        (np.r_[-1.0, np.ones(19)], "Negative values"),
        (np.r_[np.nan, np.ones(19)], "NaN"),
        (np.r_[np.inf, np.ones(19)], "infinity"),
        (np.zeros(20), "at least one non-zero"),
    ],
)
def test_bad_weights_are_refused_with_a_clear_error(Estimator, weight, match):
    X, y = product_table(20)
    est = Estimator(max_steps=10, random_state=0)
    with pytest.raises(ValueError, match=match):
        est.fit(X, y, sample_weight=weight)
    assert not hasattr(est, "net_")


@pytest.mark.parametrize(
    "weight",
    [
        np.r_[np.zeros(5), np.arange(1.0, 196.0)],
        np.linspace(0, 3, 200, dtype=np.float32),
        pd.Series(np.linspace(0, 3, 200)),
        list(range(200)),
    ],
    ids=["float64", "float32", "series", "list"],
)
def test_the_users_weights_and_data_are_not_modified(weight):
    X, y = product_table()
    copies = (X.copy(), y.copy(), pd.Series(weight).to_numpy(copy=True))
    if isinstance(weight, np.ndarray):
        weight.flags.writeable = False  # a write would raise
    NMURegressor(max_steps=50, random_state=0).fit(X, y, sample_weight=weight)
    for passed, copy in zip((X, y, weight), copies, strict=True):
        np.testing.assert_array_equal(np.asarray(passed), copy)


def test_check_sample_weight_drops_zero_rows_and_normalises():
    X, y = np.arange(8.0).reshape(4, 2), np.arange(4.0)
    weight = np.array([2.0, 0.0, 4.0, 6.0])
    X_kept, y_kept, kept = check_sample_weight(weight, X, y)
    np.testing.assert_array_equal(y_kept, [0.0, 2.0, 3.0])
    np.testing.assert_array_equal(X_kept, X[[0, 2, 3]])
    np.testing.assert_allclose(kept, [0.5, 1.0, 1.5])
    np.testing.assert_array_equal(weight, [2.0, 0.0, 4.0, 6.0])
    assert check_sample_weight(np.full(4, 7.0), X, y)[2] is None
    assert check_sample_weight(None, X, y)[2] is None
    # Huge weights do not overflow their mean.
    np.testing.assert_allclose(
        check_sample_weight([1e308, 1e308, 0, 5e307], X, y)[2], [1.2, 1.2, 0.6]
    )


# -- the fit -------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_equal_weights_give_the_unweighted_fit_to_the_bit(Estimator):
    X, y = product_table()
    fits = [
        Estimator(max_steps=600, random_state=0).fit(X, y, sample_weight=weight)
        for weight in (None, np.ones(len(y)), np.full(len(y), 3.5))
    ]
    X_far = np.random.default_rng(1).uniform(-10, 10, size=(50, 2))
    reference = fits[0]
    for est in fits[1:]:
        np.testing.assert_array_equal(est.predict(X_far), reference.predict(X_far))
        state, expected = est.net_.module_.state_dict(), reference.net_.module_.state_dict()
        assert all(torch.equal(state[k], expected[k]) for k in expected)
        assert est.validation_loss_ == reference.validation_loss_
        assert est.formula_ == reference.formula_
        losses = [(row["train_loss"], row["valid_loss"]) for row in est.history_]
        assert losses == [(row["train_loss"], row["valid_loss"]) for row in reference.history_]


def test_rows_of_weight_zero_do_not_count():
    """Garbage targets on 10 rows, weighted 0: the formula is still exact."""
    X, y = product_table()
    y_corrupted = y.copy()
    y_corrupted[:10] = np.random.default_rng(2).uniform(-50, 50, 10)
    weight = np.r_[np.zeros(10), np.ones(190)]
    est = short_fit().fit(X, y_corrupted, sample_weight=weight)
    assert est.formula_exact_
    assert est.formula_ == "x0*x1"
    assert est.validation_score_ == pytest.approx(1.0, abs=1e-12)
    # Unweighted, the garbage rows keep the formula from being exact.
    assert not short_fit().fit(X, y_corrupted).formula_exact_


def test_integer_weights_give_the_formula_of_repeated_rows():
    X, y = product_table(100)
    weight = np.random.default_rng(3).integers(1, 4, size=100)
    weighted = short_fit().fit(X, y, sample_weight=weight)
    repeated = short_fit().fit(X.repeat(weight, axis=0), y.repeat(weight))
    assert weighted.formula_exact_ and repeated.formula_exact_
    assert weighted.formula_ == repeated.formula_ == "x0*x1"
    X_far = np.array([[100.0, -3.0], [1e3, 1e3]])
    np.testing.assert_allclose(weighted.predict(X_far), repeated.predict(X_far), rtol=1e-12)


@pytest.mark.parametrize(
    ("Estimator", "params", "formula", "target"),
    [
        (NMURegressor, {"units": ("nau", "nau")}, "x0 - x1", lambda X: X[:, 0] - X[:, 1]),
        (NMURegressor, {"batch_size": 32}, "5*x0*x1/2 + 1", lambda X: 2.5 * X[:, 0] * X[:, 1] + 1),
        (NALURegressor, {}, "x0/x1", lambda X: X[:, 0] / X[:, 1]),
    ],
)
def test_weighted_fits_find_exact_formulas(Estimator, params, formula, target):
    X, _ = product_table()
    weight = np.random.default_rng(4).uniform(0.1, 3.0, size=len(X))
    est = Estimator(max_steps=2000, random_state=0, **params)
    est.fit(X, target(X), sample_weight=weight)
    assert est.formula_exact_
    assert est.formula_ == formula


def test_weighted_multi_output_fit():
    X, _ = product_table()
    Y = np.c_[X[:, 0] + X[:, 1], X[:, 0] - X[:, 1]]
    weight = np.random.default_rng(5).uniform(0.1, 3.0, size=len(X))
    est = NMURegressor(units=("nau", "nau"), max_steps=1000, random_state=0)
    est.fit(X, Y, sample_weight=weight)
    assert est.predict(X).shape == (200, 2)
    assert est.formula_exact_


def test_score_takes_weights():
    X, y = product_table()
    est = NMURegressor(max_steps=200, snap=False, random_state=0).fit(X, y)
    weight = np.random.default_rng(6).uniform(0, 2, size=len(y))
    expected = r2_score(y, est.predict(X), sample_weight=weight)
    assert est.score(X, y, sample_weight=weight) == pytest.approx(expected)
    assert est.score(X, y, sample_weight=weight) != pytest.approx(est.score(X, y), abs=0)


def test_the_validation_score_is_the_weighted_r2_of_the_held_out_rows():
    X, y = product_table()
    y = y + np.random.default_rng(7).normal(0, 0.05, size=len(y))
    weight = np.random.default_rng(8).uniform(0.1, 3.0, size=len(y))
    est = NMURegressor(max_steps=300, snap=False, random_state=0)
    est.fit(X, y, sample_weight=weight)
    split = est.net_.train_split.rows(len(y))
    valid = split[1]
    expected = r2_score(y[valid], est.predict(X[valid]), sample_weight=weight[valid])
    assert est.validation_score_ == pytest.approx(expected, rel=1e-9)


# -- the parts: the split, the loss, the errors, least squares, the snap --------------


def test_the_weights_follow_their_rows_into_the_held_out_split():
    X = torch.arange(60.0).reshape(30, 2)
    y, weight = X[:, :1] * 2, torch.arange(30.0) + 1
    train, valid = HoldOut(0.2, seed=0)(TensorDataset(X, y, weight))
    for part in (train, valid):
        torch.testing.assert_close(part.sample_weight, part.X[:, 0] / 2 + 1)
    assert len(valid) == 6


def test_the_weighted_training_loss_is_the_loss_of_repeated_rows():
    net = ArithmeticNet(
        ArithmeticNetwork,
        module__in_features=2,
        module__out_features=1,
        module__n_copies=3,
        module__dtype=torch.float64,
    ).initialize()
    net.needs_oob_loss_ = False
    X = torch.rand(4, 2, dtype=torch.float64)
    y = torch.rand(4, 1, dtype=torch.float64)
    counts = torch.tensor([1, 2, 0, 1])  # mean 1, as the estimators normalise
    weight = counts.to(torch.float64)
    with torch.no_grad():
        weighted_pred, repeated_pred = net.infer(X), net.infer(X.repeat_interleave(counts, 0))
    inputs = {"data": X, "sample_weight": weight}
    for training in (True, False):
        weighted = net.get_loss(weighted_pred, y, X=inputs, training=training)
        repeated = net.get_loss(repeated_pred, y.repeat_interleave(counts, 0), training=training)
        torch.testing.assert_close(weighted, repeated)
    # The inputs of a weighted batch are skorch's dict: the network sees the data.
    torch.testing.assert_close(net.infer(inputs), weighted_pred)


def test_a_net_of_ones_own_takes_weights_the_skorch_way():
    X = torch.rand(50, 2, dtype=torch.float64) + 1
    y = X.prod(1, keepdim=True)
    net = ArithmeticNet(
        ArithmeticNetwork,
        module__in_features=2,
        module__out_features=1,
        module__dtype=torch.float64,
        max_epochs=1,
        max_steps=20,
        steps_per_epoch=20,
        train_split=HoldOut(0.2, seed=0),
        batch_size=16,
        verbose=0,
    )
    net.fit({"data": X, "sample_weight": torch.linspace(0.5, 1.5, 50, dtype=torch.float64)}, y)
    assert net.n_steps_ == 20
    assert np.isfinite(net.history[-1]["valid_loss"])


def test_weighted_errors_are_those_of_repeated_rows():
    rng = np.random.default_rng(9)
    y_true, y_pred = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    counts = rng.integers(0, 4, size=30)
    repeated = y_true.repeat(counts, 0), y_pred.repeat(counts, 0)
    weight = counts.astype(float)
    assert relative_mse(y_true, y_pred, weight) == pytest.approx(relative_mse(*repeated))
    assert lowest_r2(y_true, y_pred, weight) == pytest.approx(lowest_r2(*repeated))
    r2 = r2_score(y_true[:, 0], y_pred[:, 0], sample_weight=weight)
    assert lowest_r2(y_true[:, :1], y_pred[:, :1], weight) == pytest.approx(r2)

    net = ArithmeticNetwork(2, 2, units=("nau",), n_copies=3, dtype=torch.float64)
    X, y = torch.tensor(y_pred), torch.tensor(y_true)
    w, c = torch.tensor(weight), torch.tensor(counts)
    repeated = X.repeat_interleave(c, 0), y.repeat_interleave(c, 0)
    torch.testing.assert_close(evaluate_mse(net, X, y, w), evaluate_mse(net, *repeated))
    assert mean_square(y, w) == pytest.approx(mean_square(repeated[1]))


def test_weighted_least_squares_are_those_of_repeated_rows():
    rng = np.random.default_rng(10)
    x = torch.tensor(rng.uniform(1, 2, size=(40, 3)))
    y = torch.tensor(rng.uniform(1, 2, size=(40, 2)))
    counts = torch.tensor(rng.integers(0, 4, size=40))
    w = counts.to(torch.float64)
    repeated = x.repeat_interleave(counts, 0), y.repeat_interleave(counts, 0)
    torch.testing.assert_close(least_squares(x, y, w), least_squares(*repeated))
    torch.testing.assert_close(log_least_squares(x, y, w), log_least_squares(*repeated))


def test_weighted_constants_are_those_of_repeated_rows():
    net = ArithmeticNetwork(2, 1, units=("nau", "nmu"), n_copies=2, constants=True)
    net = net.double()
    rng = np.random.default_rng(11)
    X = torch.tensor(rng.uniform(1, 2, size=(30, 2)))
    y = torch.tensor(rng.normal(size=(30, 1)))
    counts = torch.tensor(rng.integers(0, 4, size=30))
    repeated = ArithmeticNetwork(2, 1, units=("nau", "nmu"), n_copies=2, constants=True).double()
    repeated.load_state_dict(net.state_dict())
    net.fit_constants_(X, y, offset=True, sample_weight=counts.to(torch.float64))
    repeated.fit_constants_(X.repeat_interleave(counts, 0), y.repeat_interleave(counts, 0), True)
    torch.testing.assert_close(net.scale, repeated.scale)
    torch.testing.assert_close(net.offset, repeated.offset)


def test_the_snap_ignores_rows_of_weight_zero():
    """A network one snap away from ``x0 * x1``, judged on rows with 5 garbage targets."""
    net = ArithmeticNetwork(2, 1, units=("nau", "nmu"), dtype=torch.float64)
    with torch.no_grad():
        net.layers[0].W.copy_(torch.tensor([[0.97, 0.02], [0.03, 1.0]]))
        net.layers[1].W.copy_(torch.tensor([[1.0, 0.96]]))
    net.keep_copy_(0)
    X = torch.rand(40, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 1
    y = X.prod(1, keepdim=True)
    y[:5] = 1e3
    weight = torch.ones(40, dtype=torch.float64)
    weight[:5] = 0
    unweighted = ArithmeticNetwork(2, 1, units=("nau", "nmu"), dtype=torch.float64)
    unweighted.keep_copy_(0)
    unweighted.load_state_dict(net.state_dict())
    moved, _, after = snap_network_(net, X, y, sample_weight=weight)
    assert moved > 0 and after == 0.0
    torch.testing.assert_close(net(X)[5:], y[5:], rtol=0, atol=0)
    # Unweighted, the garbage rows count.
    assert snap_network_(unweighted, X, y)[2] > 1e3


# -- units="auto" ----------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_the_search_ignores_rows_of_weight_zero(Estimator):
    """Garbage targets weighted 0: units="auto" still finds the exact formula."""
    X = np.random.default_rng(6).uniform(1, 3, size=(300, 3))
    y = X[:, 0] ** 2 * X[:, 1] / X[:, 2] + 3 * X[:, 2]
    y_corrupted = y.copy()
    y_corrupted[:15] = np.random.default_rng(7).uniform(-50, 50, 15)
    weight = np.r_[np.zeros(15), np.ones(285)]
    est = Estimator(units="auto", max_time=20, random_state=0)
    est.fit(X, y_corrupted, sample_weight=weight)
    assert est.formula_exact_
    np.testing.assert_allclose(est.predict(X[:15]), y[:15], rtol=1e-9)
    unweighted = Estimator(units="auto", max_time=5, random_state=0)
    assert not unweighted.fit(X, y_corrupted).formula_exact_


def test_the_search_weighs_an_approximate_formula():
    """No exact formula (half the rows, drawn at random, one higher than the rest
    at the same ``x``, which no formula of ``x`` fits): the heavy rows pull the
    formula kept towards themselves, and it scores better under the weights than
    the unweighted one. (A step at ``x = 0.5`` instead made the outcome depend on
    how far the search got in its time: ratios with a near-pole at the step fit
    both sides whatever the weights.)"""
    rng = np.random.default_rng(8)
    X = rng.uniform(0, 1, size=(400, 1))
    light = rng.uniform(size=400) < 0.5
    y = 2 * X[:, 0] + np.where(light, 1.0, 0.0) + 0.05 * rng.normal(size=400)
    weight = np.where(light, 1.0, 20.0)
    params = {"units": "auto", "max_time": 4, "functions": (), "random_state": 0}
    weighted = NALURegressor(**params).fit(X, y, sample_weight=weight)
    plain = NALURegressor(**params).fit(X, y)
    assert not weighted.formula_exact_
    heavy_error = [np.mean((e.predict(X[~light]) - y[~light]) ** 2) for e in (weighted, plain)]
    assert heavy_error[0] < 0.75 * heavy_error[1]
    assert weighted.score(X, y, sample_weight=weight) > plain.score(X, y, sample_weight=weight)


def test_the_searchs_least_squares_are_weighted():
    """The linear model of the search is the weighted least-squares line."""
    from sknalu.search._closed_form import find_formulas

    rng = np.random.default_rng(9)
    X = rng.uniform(0, 1, size=(300, 1))
    y = np.exp(3 * X[:, 0]) + 0.1 * rng.normal(size=300)
    weight = rng.uniform(0.1, 5.0, size=300)
    found = find_formulas(
        X[:200],
        y[:200],
        X[200:],
        y[200:],
        ratios=False,
        sample_weight=weight[:200],
        valid_weight=weight[200:],
    )
    (linear,) = [f for f in found if f.kind == "linear"]
    slope, intercept = np.polyfit(X[:200, 0], y[:200], 1, w=np.sqrt(weight[:200]))
    np.testing.assert_allclose(linear.numerator_coef, [intercept, slope], rtol=1e-10)
    residual = linear.predict(X[200:]) - y[200:]
    expected = np.average(residual**2, weights=weight[200:]) / np.average(
        y[200:] ** 2, weights=weight[200:]
    )
    assert linear.valid_error == pytest.approx(expected, rel=1e-12)
