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
from skorch.callbacks import Callback

from sknalu import ArithmeticNetwork, NALURegressor, NMURegressor
from sknalu.datasets import make_arithmetic
from sknalu.training._data import TensorDataset

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


class HeldOutErrors(Callback):
    """Every copy's mean squared error on the held-out rows at every evaluation, by numpy."""

    def initialize(self):
        self.errors_, self.steps_ = [], []
        return self

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        with torch.no_grad():
            pred = net.module_(dataset_valid.X).cpu().numpy()  # [copy, row, output]
        self.errors_.append(((pred - dataset_valid.y.cpu().numpy()) ** 2).mean(axis=(1, 2)))
        self.steps_.append(net.n_steps_)


def held_out_rows(est, n_rows):
    """Indices of the rows ``est`` held out, from its own split of the row numbers."""
    rows = torch.arange(n_rows, dtype=torch.float64)[:, None]
    _, valid = est.net_.train_split(TensorDataset(rows, torch.zeros(n_rows, 1)))
    return valid.X[:, 0].long().numpy()


def test_restarts_keep_the_copy_with_the_lowest_held_out_loss():
    # An NAU → NAU network cannot multiply: every copy keeps a held-out error of its
    # own, so the choice among them matters and no copy is exact.
    X, y = make_arithmetic("x0 * x1", n_samples=1000, random_state=0)
    recorder = HeldOutErrors()
    est = NMURegressor(
        units=("nau", "nau"),
        n_restarts=8,
        max_steps=3000,
        snap=False,  # the kept weights are then exactly those measured
        callbacks=[("held_out", recorder)],
        random_state=0,
    ).fit(X, y)
    recorder = dict(est.net_.callbacks_)["held_out"]
    errors = np.array(recorder.errors_)  # [evaluation, copy]
    evaluation, copy = np.unravel_index(np.argmin(errors), errors.shape)
    assert est.best_restart_ == copy
    assert est.best_step_ == recorder.steps_[evaluation]
    assert errors.min() < np.median(errors[evaluation])  # the copies really differ
    # validation_loss_ is the mean squared error of predict on the held-out rows.
    valid = held_out_rows(est, len(X))
    assert len(valid) == 100
    held_out_mse = np.mean((est.predict(X[valid]) - y[valid]) ** 2)
    assert est.validation_loss_ == pytest.approx(held_out_mse, rel=1e-12)
    assert est.validation_loss_ == pytest.approx(errors.min(), rel=1e-12)
    # ... and not the error on the rows it trained on.
    trained = np.setdiff1d(np.arange(len(X)), valid)
    assert abs(np.mean((est.predict(X[trained]) - y[trained]) ** 2) / held_out_mse - 1) > 1e-3


def test_among_exact_fits_the_latest_is_kept():
    from types import SimpleNamespace

    from skorch.history import History

    from sknalu.training._callbacks import RestartSelection
    from sknalu.training._data import TensorDataset

    X = torch.rand(100, 2, dtype=torch.float64) + 1
    y = X.sum(1, keepdim=True)
    network = ArithmeticNetwork(2, 1, units=("nau",), n_copies=2, dtype=torch.float64)
    with torch.no_grad():
        network.layers[0].W.copy_(torch.tensor([[[1.0, 1.0]], [[1.0, 0.9]]]))
    net = SimpleNamespace(module_=network, history=History(), n_steps_=0, max_steps=10, lr=0.1)
    selection = RestartSelection().initialize()
    for step in (500, 1000, 1500):
        net.n_steps_ = step
        net.history.new_epoch()
        selection.on_epoch_end(net, dataset_train=TensorDataset(X, y))
        assert selection.exact_ and selection.best_copy_ == 0
    assert selection.best_step_ == 1500
    with torch.no_grad():  # a better but inexact copy does not replace an exact one
        network.layers[0].W[0, 0, 1] = 0.5
    net.n_steps_ = 2000
    net.history.new_epoch()
    selection.on_epoch_end(net, dataset_train=TensorDataset(X, y))
    assert selection.best_step_ == 1500 and selection.exact_


class LargestRawWeight(Callback):
    """The largest raw weight magnitude of the network after every optimiser step."""

    def initialize(self):
        self.largest_ = []
        return self

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            with torch.no_grad():
                self.largest_.append(max(float(u.W.abs().max()) for u in net.module_.layers))


def test_oob_mode_regularized_lets_weights_out_of_bounds_and_pulls_them_back():
    # The NAU computes with its weights clamped to [-1, 1], so beyond the bounds the
    # error has no gradient; without the sparsity regulariser only the out-of-bounds
    # penalty of oob_mode="regularized" can then move a raw weight back.
    X, y = make_arithmetic("x0 + x1 - x2", n_samples=1000, n_features=3, random_state=0)
    X_far, y_far = make_arithmetic(
        "x0 + x1 - x2", n_samples=500, n_features=3, value_range=(2, 6), random_state=1
    )
    fits = {}
    for mode in ("clip", "regularized"):
        est = NMURegressor(
            units=("nau", "nau"),
            oob_mode=mode,
            regularizer_strength=0.0,
            max_steps=3000,
            callbacks=[("largest", LargestRawWeight())],
            random_state=0,
            snap=False,  # no snap, which would end the fit exact long before
            constants=False,  # a constant factor would let the weights stay below 1
        ).fit(X, y)
        fits[mode] = est, np.array(dict(est.net_.callbacks_)["largest"].largest_)
    clip, clipped = fits["clip"]
    assert len(clipped) == clip.n_steps_ and clipped.max() == 1.0  # projected every step
    est, free = fits["regularized"]
    assert free.max() > 1.0  # not projected: the weights left the bounds ...
    assert free.max() < 1.01 and free[-1] <= 1.0  # ... and the penalty brought them back
    np.testing.assert_allclose(est.predict(X_far), y_far, rtol=1e-6)


def _noisy(y, seed=1):
    """``y`` with a little noise, so that no fit of it ends early as exact."""
    return y + np.random.default_rng(seed).normal(0, 1e-3, len(y))


def test_history_records_steps_and_regularizer_schedule():
    X, y = make_arithmetic("x0 * x1", n_samples=300, random_state=0)
    y = _noisy(y)
    est = NMURegressor(
        max_steps=2000,
        regularizer_strength=2.0,
        regularizer_start=500,
        regularizer_end=1500,
        random_state=0,
    ).fit(X, y)
    assert est.n_steps_ == 2000
    assert est.history_[:, "n_steps"] == [500, 1000, 1500, 2000]
    assert est.history_[:, "regularizer_scale"] == pytest.approx([0.0, 1.0, 2.0, 2.0])


def test_user_callbacks_run_inside_the_skorch_net():
    class CountBatches(Callback):
        def initialize(self):
            self.batches_ = 0
            return self

        def on_batch_end(self, net, training=False, **kwargs):
            self.batches_ += training

    counter = CountBatches()
    X, y = make_arithmetic("x0 * x1", n_samples=300, random_state=0)
    est = NMURegressor(
        max_steps=700, snap=False, callbacks=[("count", counter)], random_state=0
    ).fit(X, y)
    assert dict(est.net_.callbacks_)["count"].batches_ == 700


def test_a_step_is_the_same_through_torchs_own_optimizer_step():
    # A per-batch callback and an optimiser hook send every step through
    # optimizer.step(closure), with the weights clipped in every forward pass; the
    # fit without them takes the direct fused step on projected weights.
    class Listen(Callback):
        def on_batch_end(self, net, **kwargs):
            pass

    class Hook(Callback):
        def on_train_begin(self, net, **kwargs):
            net.optimizer_.register_step_post_hook(lambda *args: None)

    X, y = make_arithmetic("x0 * x1 + x2", n_samples=300, n_features=4, random_state=0)
    params = {"max_steps": 1200, "n_restarts": 3, "random_state": 0}
    direct = NMURegressor(**params).fit(X, y)
    plain = NMURegressor(callbacks=[("listen", Listen()), ("hook", Hook())], **params).fit(X, y)
    assert direct.n_steps_ == plain.n_steps_
    for name, value in direct.net_.module_.state_dict().items():
        assert torch.equal(value, plain.net_.module_.state_dict()[name]), name


@pytest.mark.parametrize(
    "options",
    [{}, {"amsgrad": True, "weight_decay": 0.1}, {"maximize": True}, {"decoupled": True}],
    ids=["adam", "amsgrad", "maximize", "adamw"],
)
def test_the_direct_fused_adam_step_is_torchs_to_the_bit(options):
    from sknalu.training._private import fused_adam_step

    options = dict(options)
    Optimizer = torch.optim.AdamW if options.pop("decoupled", False) else torch.optim.Adam
    try:
        Optimizer([torch.zeros(1, requires_grad=True)], fused=True)
    except (RuntimeError, TypeError):
        pytest.skip("this torch has no fused Adam for the CPU")
    networks = [ArithmeticNetwork(3, 1, units=("nau", "nmu"), n_copies=2, seed=0) for _ in "ab"]
    optimizers = [Optimizer(n.parameters(), lr=0.01, fused=True, **options) for n in networks]
    x = torch.rand(32, 3) + 1
    for step in range(20):
        for network, optimizer in zip(networks, optimizers, strict=True):
            optimizer.zero_grad()
            (network(x) - x[:, :1] * x[:, 1:2]).square().mean().backward()
        optimizers[0].step()
        # The first step creates the optimiser's state, through optimizer.step.
        assert fused_adam_step(optimizers[1]) == (step > 0)
        if step == 0:
            optimizers[1].step()
    for a, b in zip(networks[0].parameters(), networks[1].parameters(), strict=True):
        assert torch.equal(a, b)
    assert not fused_adam_step(torch.optim.Adam(networks[0].parameters(), fused=False))
    optimizers[1].register_step_pre_hook(lambda *args: None)
    assert not fused_adam_step(optimizers[1])


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


def test_verbose_shows_a_progress_bar_over_steps(capsys):
    X, y = make_arithmetic("x0 * x1", n_samples=100, random_state=0)
    NMURegressor(max_steps=1000, snap=False, verbose=1, random_state=0).fit(X, y)
    err = capsys.readouterr().err
    assert "1000/1000" in err and "step" in err
    NMURegressor(max_steps=1000, verbose=0, random_state=0).fit(X, y)
    assert capsys.readouterr().err == ""


def test_cosine_schedule_lowers_the_learning_rate_to_zero():
    X, y = make_arithmetic("x0 + x1", n_samples=200, random_state=0)
    y = _noisy(y)
    params = {"units": ("nau", "nau"), "max_steps": 1000, "lr": 0.05, "random_state": 0}
    est = NMURegressor(lr_schedule="cosine", **params)
    est.fit(X, y)
    lr = est.net_.optimizer_.param_groups[0]["lr"]
    # The last step ran at step 999 of 1000: half a cosine has nearly reached 0.
    assert lr == pytest.approx(0.5 * 0.05 * (1 + np.cos(np.pi * 999 / 1000)))
    assert lr < 1e-6
    constant = NMURegressor(lr_schedule="constant", **params)
    assert constant.fit(X, y).net_.optimizer_.param_groups[0]["lr"] == 0.05


def test_cosine_tail_schedule_is_constant_then_falls_to_zero():
    from sknalu.training._schedules import lr_factor

    factors = [lr_factor("cosine_tail", step, 1000) for step in (0, 500, 700, 850, 1000)]
    assert factors == pytest.approx([1.0, 1.0, 1.0, 0.5, 0.0])
    X, y = make_arithmetic("x0 + x1", n_samples=200, random_state=0)
    y = _noisy(y)
    est = NMURegressor(units=("nau", "nau"), max_steps=1000, lr=0.05, random_state=0).fit(X, y)
    assert est.lr_schedule == "cosine_tail"  # NMURegressor's default
    assert est.net_.optimizer_.param_groups[0]["lr"] < 1e-5


def test_fit_leaves_torch_thread_setting_as_it_was():
    X, y = make_arithmetic("x0 * x1", n_samples=100, random_state=0)
    before = torch.get_num_threads()
    NMURegressor(max_steps=100, random_state=0).fit(X, y)
    assert torch.get_num_threads() == before


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
