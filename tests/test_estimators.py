"""NALURegressor and NMURegressor: extrapolation, scikit-learn behaviour, bad input."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from sknalu import NALURegressor, NMURegressor
from sknalu.datasets import make_arithmetic

ESTIMATORS = [NALURegressor, NMURegressor]


def relative_error(est, formula, n_features, value_range=(2.0, 6.0), seed=1):
    X, y = make_arithmetic(
        formula, n_samples=2000, n_features=n_features, value_range=value_range, random_state=seed
    )
    return float(np.median(np.abs(est.predict(X) - y) / np.abs(y)))


def fit_on(est, formula, n_features, value_range=(1.0, 2.0), n_samples=1000, seed=0):
    X, y = make_arithmetic(
        formula,
        n_samples=n_samples,
        n_features=n_features,
        value_range=value_range,
        random_state=seed,
    )
    return est.fit(X, y)


# -- extrapolation ----------------------------------------------------------------


def test_nau_nau_learns_signed_sum_and_extrapolates():
    est = fit_on(NMURegressor(units=("nau", "nau"), random_state=0), "x0 - x1 + x2", 3)
    assert relative_error(est, "x0 - x1 + x2", 3) < 1e-4


def test_nmu_defaults_learn_a_product_exactly_on_every_seed():
    errors = [
        relative_error(
            fit_on(NMURegressor(random_state=seed), "x0 * x1", 2, seed=seed), "x0 * x1", 2
        )
        for seed in range(5)
    ]
    assert max(errors) < 1e-12, errors


def test_nac_learns_a_sum_of_ten_features_far_out_of_range():
    formula = " + ".join(f"x{i}" for i in range(10))
    est = fit_on(NALURegressor(units="nac", random_state=0), formula, 10, value_range=(0.0, 10.0))
    assert relative_error(est, formula, 10, value_range=(0.0, 100.0)) < 1e-3


def test_mlp_fails_to_extrapolate_the_same_product():
    est = fit_on(
        MLPRegressor(hidden_layer_sizes=(64, 64), max_iter=2000, random_state=0), "x0 * x1", 2
    )
    assert relative_error(est, "x0 * x1", 2) > 0.1


@pytest.mark.parametrize(("formula", "expected"), [("x0 * x1", "nmu"), ("x0 + x1", "nau")])
def test_grid_search_in_a_pipeline_picks_the_right_unit(formula, expected):
    pipe = Pipeline(
        [
            ("identity", FunctionTransformer(validate=True)),
            ("model", NMURegressor(random_state=0, max_steps=2000)),
        ]
    )
    search = GridSearchCV(
        pipe, {"model__units": ["nau", "nmu"]}, cv=KFold(3, shuffle=True, random_state=0)
    )
    X, y = make_arithmetic(formula, n_samples=600, random_state=0)
    search.fit(X, y)
    assert search.best_params_["model__units"] == expected
    X_far, y_far = make_arithmetic(formula, n_samples=500, value_range=(2, 6), random_state=1)
    assert np.median(np.abs(search.predict(X_far) - y_far) / y_far) < 1e-2


# -- scikit-learn behaviour ---------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_dataframe_input_keeps_feature_names(Estimator):
    X, y = make_arithmetic("x0 + x1", n_samples=200, as_frame=True, random_state=0)
    X = X.rename(columns={"x0": "price", "x1": "qty"})
    est = Estimator(max_steps=50, random_state=0).fit(X, y)
    assert est.feature_names_in_.tolist() == ["price", "qty"]
    assert est.n_features_in_ == 2
    with pytest.raises(ValueError, match="feature names"):
        est.predict(X.rename(columns={"qty": "quantity"}))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_one_and_two_dimensional_targets(Estimator):
    X, y = make_arithmetic("x0 + x1", n_samples=200, random_state=0)
    est = Estimator(max_steps=50, random_state=0)
    pred = est.fit(X, y).predict(X)
    assert pred.shape == (200,) and pred.dtype == np.float64
    Y = np.column_stack([y, X[:, 0] - X[:, 1]])
    pred = est.fit(X, Y).predict(X)
    assert pred.shape == (200, 2) and pred.dtype == np.float64
    assert est.n_outputs_ == 2


def test_multi_output_targets_are_learned():
    X, _ = make_arithmetic("x0", n_samples=1000, random_state=0)
    Y = np.column_stack([X[:, 0] + X[:, 1], X[:, 0] - X[:, 1]])
    est = NMURegressor(units=("nau", "nau"), random_state=0).fit(X, Y)
    X_far = X * 3
    Y_far = np.column_stack([X_far[:, 0] + X_far[:, 1], X_far[:, 0] - X_far[:, 1]])
    np.testing.assert_allclose(est.predict(X_far), Y_far, atol=1e-3)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_same_random_state_gives_same_predictions(Estimator):
    X, y = make_arithmetic("x0 * x1", n_samples=300, random_state=0)
    a, b, c = (
        Estimator(max_steps=300, n_restarts=3, random_state=seed).fit(X, y) for seed in (5, 5, 6)
    )
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.history_[:, "train_loss"] == b.history_[:, "train_loss"]
    # Another seed trains differently (both may still end on the exact product).
    assert a.history_[:, "train_loss"] != c.history_[:, "train_loss"]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_clone_and_pickle_round_trip(Estimator):
    X, y = make_arithmetic("x0 * x1", n_samples=300, random_state=0)
    est = Estimator(max_steps=200, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))
    fresh = clone(est)
    assert not hasattr(fresh, "net_")
    assert fresh.get_params() == est.get_params()


def test_set_params_reaches_every_hyperparameter():
    est = NMURegressor().set_params(units="nau", regularizer_strength=0.5, lr=0.1)
    assert est.get_params()["units"] == "nau"
    assert est.get_params()["lr"] == 0.1


# -- bad input ---------------------------------------------------------------------


@pytest.fixture
def data():
    return make_arithmetic("x0 * x1", n_samples=100, random_state=0)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    ("value", "match"), [(np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "infinity")]
)
def test_non_finite_input_is_rejected_clearly(Estimator, data, value, match):
    X, y = data
    X = X.copy()
    X[3, 1] = value
    with pytest.raises(ValueError, match=match):
        Estimator(max_steps=10).fit(X, y)
    y = y.copy()
    y[5] = value
    with pytest.raises(ValueError, match=match):
        Estimator(max_steps=10).fit(data[0], y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_strings_are_rejected_clearly(Estimator, data):
    X, y = data
    frame = pd.DataFrame(X, columns=["a", "b"]).assign(b=["x"] * len(X))
    with pytest.raises(ValueError, match="could not convert string to float"):
        Estimator(max_steps=10).fit(frame, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_empty_input_is_rejected_clearly(Estimator):
    with pytest.raises(ValueError, match="0 sample"):
        Estimator(max_steps=10).fit(np.empty((0, 2)), np.empty(0))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_wrong_number_of_features_at_predict(Estimator, data):
    X, y = data
    est = Estimator(max_steps=10, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"X has 3 features, but .* is expecting 2 features"):
        est.predict(np.ones((4, 3)))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_fit_does_not_modify_its_input(Estimator, data):
    X, y = data
    X_before, y_before = X.copy(), y.copy()
    frame = pd.DataFrame(X, columns=["a", "b"])
    frame_before = frame.copy()
    Estimator(max_steps=50, random_state=0).fit(X, y).predict(X)
    Estimator(max_steps=50, random_state=0).fit(frame, y).predict(frame)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    pd.testing.assert_frame_equal(frame, frame_before)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"units": "nmu_typo"}, "does not know the unit 'nmu_typo'"),
        ({"units": ("nau", 3)}, "units must be a unit name"),
        ({"units": ()}, "units must be a unit name"),
        ({"hidden_size": 0}, r"'hidden_size' parameter .* must be an int in the range \[1, inf\)"),
        ({"n_restarts": 2.5}, "'n_restarts' parameter .* must be an int"),
        ({"lr": -1.0}, r"'lr' parameter .* must be a float in the range \(0.0, inf\)"),
        ({"lr": np.inf}, "'lr' parameter .* Got inf"),
        ({"regularizer_shape": "cubic"}, "'regularizer_shape' parameter .* must be a str among"),
        ({"oob_mode": "wrap"}, "'oob_mode' parameter .* must be a str among"),
        ({"lr_schedule": "linear"}, "'lr_schedule' parameter .* must be a str among"),
        ({"snap": "yes"}, "'snap' parameter .* must be an instance of 'bool'"),
        ({"optimizer": "adamax2"}, "optimizer must be one of"),
        ({"optimizer": torch.optim.SparseAdam}, "SparseAdam needs sparse gradients"),
        ({"validation_fraction": 0.9}, "'validation_fraction' parameter .* must be a float"),
        ({"device": "tpu:x"}, "device must be"),
    ],
)
def test_bad_hyperparameters_are_named_in_the_error(data, params, match):
    with pytest.raises(ValueError, match=match):
        NMURegressor(random_state=0, max_steps=10, **params).fit(*data)


def test_units_of_the_other_family_are_refused_with_a_hint(data):
    with pytest.raises(ValueError, match="other estimator"):
        NALURegressor(random_state=0, units="nmu").fit(*data)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_a_gpu_is_a_clear_error(data):
    with pytest.raises(ValueError, match="no CUDA device"):
        NMURegressor(random_state=0, device="cuda").fit(*data)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fit_matches_the_formula(data):
    X, y = make_arithmetic("x0 * x1", n_samples=1000, random_state=0)
    est = NMURegressor(device="cuda", n_restarts=8, random_state=0).fit(X, y)
    assert est.net_.module_.layers[0].W.device.type == "cuda"
    assert relative_error(est, "x0 * x1", 2) < 1e-3


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_docstrings_list_the_registered_units_and_the_signature_defaults(Estimator):
    doc = Estimator.__doc__
    for name in Estimator._accepted_units():
        assert f'``"{name}"``' in doc
    for name, value in Estimator().get_params().items():
        shown = f'"{value}"' if isinstance(value, str) else repr(value)
        if isinstance(value, tuple):
            shown = "(" + ", ".join(f'"{u}"' for u in value) + ")"
        assert f"{name} : " in doc and f"default={shown}" in doc.split(f"{name} : ")[1]
