"""Training: the restart selection, callbacks, the optimiser step, schedules, threads."""

import contextlib
import io

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from sknalu import ArithmeticNetwork, NMURegressor
from sknalu.datasets import make_arithmetic
from sknalu.training._data import TensorDataset


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


def test_turning_the_private_apis_off_gives_the_same_fit(monkeypatch):
    # SKNALU_PRIVATE_APIS=0 (ENABLED False) sends every step through torch's
    # documented optimizer.step(closure) and zero_grad: the same weights to the bit.
    from sknalu.training import _private

    X, y = make_arithmetic("x0 * x1 + x2", n_samples=300, n_features=4, random_state=0)
    params = {"max_steps": 1200, "n_restarts": 3, "random_state": 0}
    fast = NMURegressor(**params).fit(X, y)
    calls = []
    monkeypatch.setattr(_private, "ENABLED", False)
    monkeypatch.setattr(_private, "fused_adam_step", lambda *a: calls.append(a) or False)
    documented = NMURegressor(**params).fit(X, y)
    assert not calls
    assert fast.n_steps_ == documented.n_steps_
    for name, value in fast.net_.module_.state_dict().items():
        assert torch.equal(value, documented.net_.module_.state_dict()[name]), name


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


def test_verbose_shows_a_progress_bar_over_steps(capsys):
    # On a terminal only: tests/test_progress.py checks that files get nothing.
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    X, y = make_arithmetic("x0 * x1", n_samples=100, random_state=0)
    with contextlib.redirect_stderr(Terminal()) as err:
        NMURegressor(max_steps=1000, snap=False, verbose=1, random_state=0).fit(X, y)
    assert "1000/1000" in err.getvalue() and "step" in err.getvalue()
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


def test_skorchs_scoring_and_checkpoint_callbacks_work_inside_a_fit(tmp_path):
    # Both read what skorch's own nets record: one prediction per row (not one per
    # restart) and the last batch of an epoch.
    from skorch.callbacks import BatchScoring, Checkpoint, EpochScoring

    X, y = make_arithmetic("x0 * x1", n_samples=500, random_state=0)
    callbacks = [
        ("r2", EpochScoring("r2", lower_is_better=False)),
        ("train_r2", EpochScoring("r2", False, on_train=True, name="train_r2")),
        ("batch_r2", BatchScoring("r2", False, name="batch_r2")),
        ("checkpoint", Checkpoint(dirname=str(tmp_path), monitor="valid_loss_best")),
    ]
    est = NMURegressor(max_steps=1000, random_state=0, callbacks=callbacks).fit(X, y)
    # Scores of the kept copy: the last held-out ones exact, the epoch's training rows
    # scored as the copies learned.
    assert est.history_[-1, "r2"] > 0.999 and est.history_[-1, "batch_r2"] > 0.999
    assert est.history_[-1, "train_r2"] > 0.9
    assert (tmp_path / "params.pt").exists()
