"""Faults a user can meet: overflow, fits that go nowhere, formulas that disagree with
predict, Ctrl-C, mistakes in the arguments, and the cost of the training history."""

import collections
import math
import pickle
import re
import signal
import threading
import warnings

import numpy as np
import pandas as pd
import pytest
import sympy
import torch
from conftest import set_weights
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback, EarlyStopping

import sknalu._estimators
from sknalu import NALURegressor, NMURegressor
from sknalu.datasets import make_arithmetic
from sknalu.exceptions import FormulaWarning
from sknalu.units import NAU, register_unit, unregister_unit

ESTIMATORS = [NALURegressor, NMURegressor]


def assert_unfitted(est):
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    assert not hasattr(est, "net_")


def relative_difference(f, p):
    return float(np.max(np.abs(f - p) / np.abs(p)))


# -- data whose magnitude overflows float64 ---------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_a_target_whose_square_overflows_is_refused_with_the_remedy(Estimator):
    X, y = make_arithmetic("x0 * x1", n_samples=100, random_state=0)
    est = Estimator(max_steps=10, random_state=0)
    with pytest.raises(ValueError, match=r"target's magnitude overflows float64") as info:
        est.fit(X * 1e100, y * 1e200)
    assert f"|y| reaches {np.abs(y).max() * 1e200:.3g}" in str(info.value)
    assert "Rescale the target and the features" in str(info.value)
    assert_unfitted(est)


def test_a_loss_that_overflows_during_training_stops_with_the_cause():
    # |y| ~ 1e100 squares to 1e200, but the NMU multiplies two such sums: 1e400.
    X, _ = make_arithmetic("x0", n_samples=100, random_state=0)
    X = X * 1e100
    # Without the constant factor, which would scale the product down into range.
    est = NMURegressor(max_steps=300, random_state=0, constants=False)
    with pytest.raises(ValueError, match="The loss overflows float64") as info:
        est.fit(X, X[:, 0] - X[:, 1])
    assert re.search(r"\|X\| up to [12](\.\d+)?e\+100", str(info.value))
    assert "Rescale the features and the target" in str(info.value)
    assert_unfitted(est)


class PoisonWeights(Callback):
    """Make every weight NaN at the end of epoch ``epoch``."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            with torch.no_grad():
                for param in net.module_.parameters():
                    param.fill_(math.nan)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_the_kept_weights_are_the_best_finite_ones(Estimator):
    X, y = make_arithmetic("x0 * x1", n_samples=300, random_state=0)
    # Without the snap, which would solve x0 * x1 at the first evaluation.
    est = Estimator(max_steps=2000, snap=False, random_state=0, callbacks=[PoisonWeights(2)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    losses = est.history_[:, "selection_loss"]
    assert losses[2:] == [math.inf, math.inf]
    assert est.best_step_ <= 1000
    assert est.validation_loss_ == min(losses[:2])
    assert np.isfinite(est.predict(X)).all()


def test_predictions_that_overflow_are_reported_with_their_number():
    X, y = make_arithmetic("x0 * x1", n_samples=200, random_state=0)
    est = NMURegressor(max_steps=1000, random_state=0).fit(X, y)
    far = np.array([[1e200, 1e200], [2.0, 3.0], [-1e300, 1e300]])
    with pytest.warns(RuntimeWarning, match="2 of 3 predictions are not finite"):
        predicted = est.predict(far)
    assert np.isfinite(predicted[1]) and not np.isfinite(predicted[[0, 2]]).any()


# -- an exact formula is one that fits ------------------------------------------------


@pytest.mark.parametrize(
    ("params", "scale"),
    # lr=1e6 without the snap, whose closed-form start would rescue the fit; both
    # without the constant factor, which learns 1e30 (see the next test).
    [({"lr": 1e6, "snap": False, "constants": False}, 1.0), ({"constants": False}, 1e30)],
    ids=["lr=1e6", "y=1e30*x0*x1"],
)
def test_a_discrete_formula_that_does_not_fit_is_not_exact(params, scale):
    X, y = make_arithmetic("x0 * x1", n_samples=300, random_state=0)
    est = NMURegressor(max_steps=1000, random_state=0, **params)
    with pytest.warns(ConvergenceWarning, match="did not learn the target: the held-out R²"):
        est.fit(X, scale * y)
    assert est.sparsity_error_ <= 0.01  # discrete weights...
    assert est.validation_score_ < 0  # ...that do not fit
    assert not est.formula_exact_
    assert est.formula_.startswith("≈ ")
    with pytest.warns(FormulaWarning, match="although its weights are discrete: its R² there is -"):
        est.to_sympy()


def test_a_huge_constant_factor_is_learned_and_read_back():
    X, y = make_arithmetic("x0 * x1", n_samples=300, random_state=0)
    est = NMURegressor(max_steps=1000, random_state=0).fit(X, 1e30 * y)
    x0, x1 = sympy.symbols("x0 x1")
    factor = sympy.simplify(sympy.sympify(est.formula_) / (x0 * x1))
    assert est.formula_exact_ and factor.is_number and float(factor) == 1e30
    X_far = X * 3
    np.testing.assert_allclose(est.predict(X_far), 1e30 * X_far[:, 0] * X_far[:, 1], rtol=1e-12)


@pytest.mark.parametrize("noise", [0.0, 1e-3])
def test_only_a_formula_that_fits_the_held_out_rows_counts_as_exact(noise):
    X, y = make_arithmetic("x0 * x1", n_samples=500, random_state=0)
    y = y + noise * np.random.default_rng(1).standard_normal(len(y))
    est = NMURegressor(max_steps=2000, random_state=0).fit(X, y)
    assert est.sparsity_error_ == 0.0
    if noise:
        # The right formula, but the targets are not exactly it.
        assert 1 - 1e-4 < est.validation_score_ < 1 - 1e-9
        assert est.formula_ == "≈ x0*x1" and not est.formula_exact_
        with pytest.warns(FormulaWarning, match=r"R² there is 1 - \d"):
            est.to_sympy()
    else:
        assert est.validation_score_ >= 1 - 1e-9
        assert est.formula_ == "x0*x1" and est.formula_exact_


class _MisreadNAU(NAU):
    """An NAU whose formula forgets every input but the first."""

    def formula(self, xs, reader, gate_range=None):
        return [xs[0] for _ in range(self.out_features)]


@pytest.fixture
def misread_nau():
    register_unit("misread_nau", _MisreadNAU, families=("nmu",))
    yield "misread_nau"
    unregister_unit("misread_nau")


def test_an_exact_network_whose_formula_misreads_it_is_not_marked_exact(misread_nau):
    X, y = make_arithmetic("x0 + x1", n_samples=500, random_state=0)
    est = NMURegressor(units=(misread_nau, misread_nau), random_state=0).fit(X, y)
    assert est.sparsity_error_ == 0.0 and est.validation_score_ >= 1 - 1e-9
    assert not est.formula_exact_  # the reading x0 is not what the network computes
    assert est.formula_.startswith("≈ ")


# -- the formula computes what predict computes ------------------------------------------


class SetWeights(Callback):
    """Give the kept NAU -> NMU network hand-set weights when training ends."""

    def __init__(self, first, second):
        self.first = first
        self.second = second

    def on_train_end(self, net, **kwargs):
        set_weights(net.module_.layers[0].W, self.first)
        set_weights(net.module_.layers[1].W, self.second)


def fit_by_hand(first, second, target):
    X, _ = make_arithmetic("x0", n_samples=300, random_state=0)
    est = NMURegressor(
        max_steps=50,
        escape_saddles=False,
        constants=False,  # the weights set are the whole formula
        random_state=0,
        callbacks=[SetWeights(first, second)],
    )
    return est.fit(X, target(X[:, 0], X[:, 1])), X


def evaluate(expression, X):
    f = sympy.lambdify(sympy.symbols("x0 x1"), expression)
    return np.broadcast_to(f(X[:, 0], X[:, 1]), len(X))


def test_an_approximate_formula_computes_what_predict_computes():
    # A small hidden unit, 0.031 x0 - 0.0091 x1 (0.013 to 0.053 on [1, 2]): reading
    # -0.0091 as 0 (it is within 0.01 of it) changes that unit, and the output, by
    # up to 140%.
    first, second = [[0.0312345, -0.0091234], [1.0, 1.0]], [[1.0, 1.0]]
    est, X = fit_by_hand(first, second, lambda a, b: (0.0312345 * a - 0.0091234 * b) * (a + b))
    predicted = est.predict(X)
    assert not est.formula_exact_ and est.formula_.startswith("≈ ")
    printed = sympy.sympify(est.formula_.removeprefix("≈ "))
    assert relative_difference(evaluate(printed, X), predicted) <= 1e-6
    with pytest.warns(FormulaWarning) as record:
        expression = est.to_sympy()
    assert "differs from predict" not in str(record[0].message)
    assert relative_difference(evaluate(expression, X), predicted) <= 1e-6
    # Read with that tolerance on purpose, the formula says by how much it is off.
    match = r"differs from predict by up to \d\d+(\.\d+)?% on 256 of the training rows"
    with pytest.warns(FormulaWarning, match=match):
        rounded = est.to_sympy(tolerance=0.01)
    assert relative_difference(evaluate(rounded, X), predicted) > 1.0


def test_discrete_weights_that_fit_are_exact_only_if_rounding_keeps_the_predictions():
    # x0 + 0.005 x1: within 0.01 of x0, and the network fits its target exactly,
    # but the formula x0*x1 would be up to 1% off predict.
    first, second = [[1.0, 0.005], [0.0, 1.0]], [[1.0, 1.0]]
    est, X = fit_by_hand(first, second, lambda a, b: (a + 0.005 * b) * b)
    assert est.validation_score_ >= 1 - 1e-9 and est.sparsity_error_ == 0.005
    assert not est.formula_exact_
    printed = sympy.sympify(est.formula_.removeprefix("≈ "))
    assert relative_difference(evaluate(printed, X), est.predict(X)) <= 1e-6
    with pytest.warns(FormulaWarning, match=r"would change the predictions by up to 0\.\d+%"):
        est.to_sympy()


# -- Ctrl-C -----------------------------------------------------------------------------


class Interrupt(Callback):
    """At the end of epoch ``epoch``, Ctrl-C (``sigint=True``) or a callback's stop."""

    def __init__(self, epoch, sigint):
        self.epoch = epoch
        self.sigint = sigint

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            if self.sigint:
                signal.raise_signal(signal.SIGINT)
            raise KeyboardInterrupt


@pytest.fixture
def interactive_sigint():
    """Python's own Ctrl-C handler, as in an interactive session.

    A process started in the background by a shell inherits SIGINT ignored, and
    Python then installs no handler; a real Ctrl-C needs one to raise.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("interactive_sigint")
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_ctrl_c_reaches_the_caller_and_leaves_the_estimator_unfitted(Estimator):
    X, y = make_arithmetic("x0 * x1", n_samples=100, random_state=0)
    est = Estimator(max_steps=1000, random_state=0).fit(X, y)
    # Without the snap, which would solve x0 * x1 and end training at step 500.
    est.set_params(max_steps=2000, snap=False, callbacks=[Interrupt(2, sigint=True)])
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    assert_unfitted(est)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_callback_can_still_stop_training_early():
    X, y = make_arithmetic("x0 * x1", n_samples=300, random_state=0)
    # Without the snap, which would solve x0 * x1 and end training at step 500.
    est = NMURegressor(
        max_steps=3000, snap=False, random_state=0, callbacks=[Interrupt(2, sigint=False)]
    )
    assert est.fit(X, y).n_steps_ == 1000
    # skorch's EarlyStopping stops the same way: no improvement by 100% in an epoch.
    stop = EarlyStopping(monitor="valid_loss", patience=1, threshold=1.0)
    est = NMURegressor(max_steps=3000, snap=False, random_state=0, callbacks=[stop]).fit(X, y)
    assert est.n_steps_ == 1000 and np.isfinite(est.predict(X)).all()


# -- mistakes in the arguments ------------------------------------------------------------


@pytest.fixture
def data():
    return make_arithmetic("x0 * x1", n_samples=100, random_state=0)


@pytest.mark.parametrize(
    "callbacks",
    [[object()], object(), [("count", object())], [(3, Callback())], "disable", [None]],
    ids=["object-in-list", "object", "pair-with-object", "pair-with-number", "str", "None"],
)
def test_callbacks_that_are_not_skorch_callbacks_are_named(data, callbacks):
    est = NMURegressor(random_state=0, max_steps=10, callbacks=callbacks)
    with pytest.raises(ValueError, match=r"callbacks must be a list of skorch Callbacks or \("):
        est.fit(*data)


def test_a_callback_name_taken_by_sknalu_is_named(data):
    with pytest.raises(ValueError, match="the name 'snap' is taken by one of sknalu's own"):
        NMURegressor(random_state=0, max_steps=10, callbacks=[("snap", Callback())]).fit(*data)


@pytest.mark.parametrize("device", ["meta", "mps", torch.device("meta"), "cuda:x", 0.5])
def test_devices_other_than_cpu_and_cuda_are_named(data, device):
    with pytest.raises(ValueError, match=r"device must be 'cpu', 'cuda' or 'cuda:N', got "):
        NMURegressor(random_state=0, max_steps=10, device=device).fit(*data)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_columns_that_are_not_numbers_are_named(Estimator, data):
    X, y = data
    frame = pd.DataFrame(X, columns=["a", "b"]).assign(
        when=pd.date_range("2024-01-01", periods=len(X)),
        took=pd.to_timedelta(np.arange(len(X)), unit="s"),
        who=["ann"] * len(X),
    )
    before = frame.copy()
    with pytest.raises(ValueError) as info:
        Estimator(max_steps=10).fit(frame, y)
    message = str(info.value)
    assert message.startswith("X must hold numbers only, but column 'when' holds datetime64")
    assert "column 'took' holds timedelta64" in message
    assert re.search(r"column 'who' \(\w+\) cannot be read as numbers: could not convert", message)
    assert "'a'" not in message and "'b'" not in message
    pd.testing.assert_frame_equal(frame, before)


def test_dates_in_arrays_and_targets_and_text_at_predict_are_named(data):
    X, y = data
    # numpy would read these as nanoseconds since 1970.
    dates = np.array(pd.date_range("2024-01-01", periods=2 * len(X))).reshape(-1, 2)
    with pytest.raises(ValueError, match="X must hold numbers only, but column 0 holds datetime"):
        NMURegressor(random_state=0, max_steps=10).fit(dates, y)
    target = pd.Series(pd.date_range("2024-01-01", periods=len(X)), name="due")
    with pytest.raises(ValueError, match="y must hold numbers only, but y 'due' holds datetime"):
        NMURegressor(random_state=0, max_steps=10).fit(X, target)
    frame = pd.DataFrame(X, columns=["x0", "x1"])
    est = NMURegressor(random_state=0, max_steps=10).fit(frame, y)
    with pytest.raises(ValueError, match=r"column 'x1' \(\w+\) cannot be read as numbers"):
        est.predict(frame.assign(x1=["two"] * len(X)))


# -- the training history: per epoch, read once per epoch ---------------------------------


def host_reads(monkeypatch, max_steps):
    """Tensor reads to the host during a fit evaluated once, at its end."""
    counts = collections.Counter()
    X, y = make_arithmetic("x0 * x1", n_samples=300, random_state=0)
    with monkeypatch.context() as patch:
        patch.setattr(sknalu._estimators, "_STEPS_PER_EPOCH", 10**6)
        for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
            original = getattr(torch.Tensor, name)

            def counted(self, *args, _original=original, _name=name, **kwargs):
                counts[_name] += 1
                return _original(self, *args, **kwargs)

            patch.setattr(torch.Tensor, name, counted)
        est = NMURegressor(max_steps=max_steps, snap=False, escape_saddles=False, random_state=0)
        est.fit(X, y)
    assert est.n_steps_ == max_steps and len(est.history_) == 1
    return counts


def test_optimiser_steps_read_nothing_back_from_the_device(monkeypatch):
    reads = host_reads(monkeypatch, 1000)
    assert host_reads(monkeypatch, 2000) == reads
    assert sum(reads.values()) < 100, reads


def test_a_saved_model_does_not_grow_with_the_number_of_steps():
    X, y = make_arithmetic("x0 * x1", n_samples=200, random_state=0)
    sizes = {
        steps: len(
            pickle.dumps(
                NMURegressor(
                    max_steps=steps, n_restarts=1, escape_saddles=False, random_state=0
                ).fit(X, y)
            )
        )
        for steps in (1000, 10_000)
    }
    assert sizes[10_000] <= 1.5 * sizes[1000], sizes


class RecordPerBatch(Callback):
    def on_batch_end(self, net, training=False, **kwargs):
        net.history.record_batch("seen", training)


def test_history_keeps_epoch_losses_and_per_batch_records_only_when_asked(capsys):
    X, y = make_arithmetic("x0 * x1", n_samples=300, random_state=0)
    est = NMURegressor(max_steps=1000, snap=False, random_state=0, verbose=2).fit(X, y)
    row = est.history_[-1]
    # One record per pass (training, held-out), not one per batch.
    assert [sorted(batch) for batch in row["batches"]] == [
        ["train_batch_size", "train_loss"],
        ["valid_batch_size", "valid_loss"],
    ]
    assert row["train_batch_count"] == 500 and row["valid_batch_count"] == 1
    assert est.history_[:, "valid_loss_best"][0] is True
    assert all(np.isfinite(est.history_[:, key]).all() for key in ("train_loss", "valid_loss"))
    table = capsys.readouterr().out
    assert "train_loss" in table and "valid_loss" in table and "selection_loss" in table
    est = NMURegressor(
        max_steps=1000, snap=False, random_state=0, callbacks=[RecordPerBatch()]
    ).fit(X, y)
    assert len(est.history_[-1]["batches"]) == 501  # 500 steps and the held-out batch
    assert est.history_[-1, "batches", 0, "seen"] is True


def test_a_second_thread_fitting_the_same_estimator_is_refused():
    started, release = threading.Event(), threading.Event()

    class Gate(Callback):
        # Holds the first fit inside training until the second one has been tried.
        def on_train_begin(self, net, **kwargs):
            started.set()
            assert release.wait(timeout=60)

    X = np.random.default_rng(0).uniform(1, 2, (300, 2))
    est = NMURegressor(max_steps=1000, random_state=0, callbacks=[("gate", Gate())])
    first = threading.Thread(target=est.fit, args=(X, X[:, 0] * X[:, 1]))
    first.start()
    assert started.wait(timeout=60)
    try:
        with pytest.raises(RuntimeError, match="being fitted in another thread"):
            est.fit(X, X[:, 0] * X[:, 1])
    finally:
        release.set()
        first.join()
    assert est.formula_ == "x0*x1"


@pytest.mark.parametrize("n_rows", [2, 3, 5, 8, 13])
def test_a_few_rows_of_noise_never_make_an_exact_formula(n_rows):
    rng = np.random.default_rng(n_rows)
    X = rng.uniform(1, 2, (n_rows, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Pure noise: nothing is exact, and the search runs to its deadline.
        est = NMURegressor(units="auto", max_steps=300, random_state=0, max_time=10)
        est.fit(X, rng.normal(size=n_rows))
        assert not est.formula_exact_
        reason = f"The table has {n_rows} rows|does not fit the held-out data"
        with pytest.warns(FormulaWarning, match=reason):
            est.to_sympy()


def test_targets_whose_squares_underflow_are_judged_as_any_other():
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 2, (200, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = NMURegressor(random_state=0, max_steps=500).fit(X, 1e-300 * X[:, 0] * X[:, 1])
    # Training cannot learn a target this small, and the fit says so: no formula
    # '0' called exact, no R² of 1 from squares that vanish.
    assert est.validation_score_ < 0.999
    assert not est.formula_exact_
