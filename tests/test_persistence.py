"""save_model and load_model: skops files that load without trusting their content."""

import io
import os
import pickle
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io
import torch
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from skops.io.exceptions import UntrustedTypesFoundException
from skorch.callbacks import Callback

from sknalu import NALURegressor, NMURegressor, load_model, save_model
from sknalu._persistence import SKOPS_TRUSTED_TYPES
from sknalu.cli import main
from sknalu.datasets import make_arithmetic


@pytest.fixture(scope="module")
def data():
    X, _ = make_arithmetic("x0", n_samples=300, as_frame=True, random_state=0)
    X = X.rename(columns={"x0": "price", "x1": "qty"})
    return X, X.price * X.qty


@pytest.fixture(scope="module")
def fitted(data):
    """A fitted NMURegressor (1-D target) and NALURegressor (2-D target)."""
    X, y = data
    nmu = NMURegressor(max_steps=2000, random_state=0).fit(X, y)
    nalu = NALURegressor(max_steps=300, random_state=0).fit(X, np.column_stack([y, X.price]))
    return {"nmu": nmu, "nalu": nalu}


@pytest.mark.parametrize("name", ["nmu", "nalu"])
def test_loaded_model_predicts_identically_and_keeps_its_attributes(fitted, data, name, tmp_path):
    est = fitted[name]
    path = tmp_path / "model.skops"
    save_model(est, path)
    loaded = load_model(path)
    assert type(loaded) is type(est)
    X, _ = data
    # To the last bit, on the training rows and far outside them.
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    np.testing.assert_array_equal(loaded.predict(X * 100), est.predict(X * 100))
    assert loaded.formula_ == est.formula_
    assert loaded.feature_names_in_.tolist() == ["price", "qty"]
    assert loaded.get_params() == est.get_params()
    for attribute in ("n_features_in_", "n_outputs_", "n_steps_", "best_restart_", "best_step_"):
        assert getattr(loaded, attribute) == getattr(est, attribute)
    for attribute in ("validation_loss_", "sparsity_error_", "snapped_", "formula_exact_"):
        assert getattr(loaded, attribute) == getattr(est, attribute)
    assert list(loaded.history_) == list(est.history_)
    assert loaded.history_[:, "selection_loss"] == est.history_[:, "selection_loss"]
    for key, value in est.net_.module_.state_dict().items():
        assert torch.equal(loaded.net_.module_.state_dict()[key], value)


def test_the_nmu_product_reads_back_as_the_same_formula(fitted, tmp_path):
    path = tmp_path / "product.skops"
    save_model(fitted["nmu"], path)
    loaded = load_model(path)
    assert loaded.formula_ == "price*qty"
    assert str(loaded.to_sympy()) == "price*qty"


@pytest.mark.parametrize("name", ["nmu", "nalu"])
def test_trusted_types_are_exactly_what_a_saved_estimator_holds(fitted, name, tmp_path):
    path = tmp_path / "model.skops"
    save_model(fitted[name], path)
    assert skops.io.get_untrusted_types(file=path) == sorted(SKOPS_TRUSTED_TYPES)


def test_the_estimator_as_it_is_needs_its_skorch_net_trusted(fitted):
    # Why save_model writes plain data: skops can write the estimator itself, but
    # reading it back means trusting the skorch net, which unpickles its module.
    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(fitted["nmu"]))
    assert "sknalu.training._net.ArithmeticNet" in untrusted


# -- files from elsewhere ---------------------------------------------------------------


class _CreateFile:
    """Unpickled, it creates a file: a stand-in for any code a pickle can run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def poisoned(fitted, tmp_path):
    """A skops file of a fitted estimator whose pickled net creates ``marker``."""
    marker = tmp_path / "marker"
    path = tmp_path / "poisoned.skops"
    with (
        zipfile.ZipFile(io.BytesIO(skops.io.dumps(fitted["nmu"]))) as source,
        zipfile.ZipFile(path, "w") as target,
    ):
        pickled = [name for name in source.namelist() if name.endswith(".bin")]
        assert pickled, source.namelist()
        for name in source.namelist():
            content = source.read(name)
            target.writestr(name, pickle.dumps(_CreateFile(marker)) if name in pickled else content)
    return path, marker


def test_a_file_that_runs_code_is_refused_before_any_of_it_runs(poisoned, capsys):
    path, marker = poisoned
    with pytest.raises(
        UntrustedTypesFoundException, match=r"sknalu\.training\._net\.ArithmeticNet"
    ):
        load_model(path)
    assert not marker.exists()

    data = path.with_name("data.csv")
    pd.DataFrame({"price": [1.0], "qty": [2.0]}).to_csv(data, index=False)
    assert main(["predict", str(path), str(data)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"sknalu predict: error: {path} holds types sknalu does not trust (")
    assert "sknalu.training._net.ArithmeticNet" in err and err.endswith("refusing to load it\n")
    assert not marker.exists()

    # The payload is live: trusting the types the file holds runs it.
    with pytest.raises(Exception):  # noqa: B017 - the net then fails on what it got
        skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    assert marker.exists()


def test_a_file_holding_a_system_call_is_refused(tmp_path):
    path = tmp_path / "system.skops"
    skops.io.dump({"sknalu_model": 1, "run": os.system}, path)
    with pytest.raises(UntrustedTypesFoundException, match="system"):
        load_model(path)


def test_files_that_hold_no_sknalu_model(tmp_path):
    other = tmp_path / "linear.skops"
    skops.io.dump(LinearRegression(), other)  # a type skops trusts, but no sknalu model
    with pytest.raises(ValueError, match=r"linear\.skops is not a model saved by sknalu"):
        load_model(other)
    text = tmp_path / "text.skops"
    text.write_text("price,qty\n1,2\n")
    with pytest.raises(ValueError, match=r"text\.skops is not a model saved by sknalu"):
        load_model(text)
    edited = tmp_path / "edited.skops"
    skops.io.dump({"sknalu_model": 1, "estimator": "NMURegressor"}, edited)
    with pytest.raises(ValueError, match=r"edited\.skops is not a model saved by sknalu"):
        load_model(edited)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_model(tmp_path / "none.skops")


# -- what cannot be saved -------------------------------------------------------------------


def test_an_unfitted_estimator_cannot_be_saved(tmp_path):
    with pytest.raises(NotFittedError):
        save_model(NMURegressor(), tmp_path / "model.skops")
    assert not (tmp_path / "model.skops").exists()


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"callbacks": [("noop", Callback())]}, "hyperparameter callbacks="),
        ({"optimizer": torch.optim.SGD}, "hyperparameter optimizer="),
    ],
)
def test_hyperparameters_that_are_not_plain_data_are_named(data, params, named, tmp_path):
    X, y = data
    est = NMURegressor(max_steps=10, random_state=0, **params).fit(X, y)
    with pytest.raises(TypeError, match=named):
        save_model(est, tmp_path / "model.skops")
    assert not (tmp_path / "model.skops").exists()


# -- what a file may hold ---------------------------------------------------------------------


def _edited(fitted, tmp_path, edit, name="nmu"):
    """A skops file of ``fitted[name]``'s saved data, changed by ``edit(state)``."""
    from sknalu._persistence import _state

    state = _state(fitted[name])
    edit(state)
    path = tmp_path / "edited.skops"
    skops.io.dump(state, path)
    return path


def _set(*keys_and_value):
    *keys, last, value = keys_and_value

    def edit(state):
        for key in keys:
            state = state[key]
        state[last] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (_set("attributes", "predict", np.negative), "'predict'"),
        (_set("attributes", "model", LinearRegression()), "'model'"),
        (_set("attributes", "__class__", "NALURegressor"), "'__class__'"),
        (_set("attributes", "n_features_in_", "2"), "n_features_in_ must be an int"),
        (_set("attributes", "n_outputs_", 2), "module__out_features disagrees"),
        (_set("attributes", "snapped_", np.negative), "snapped_ must be a bool"),
        (_set("attributes", "validation_score_", 2.0), r"validation_score_ must be a float in"),
        (_set("attributes", "validation_score_", np.nan), r"validation_score_ must be a float in"),
        (_set("attributes", "units_", ("nau", "nmu")), "'units_' belongs to units='auto'"),
        (_set("attributes", "_check_rows", np.ones((3, 5))), "_check_rows disagrees"),
        (_set("params", "optimizer", np.negative), "optimizer must be one of"),
        (_set("params", "callbacks", [np.negative]), "callbacks must be one of None"),
        (_set("params", "max_steps", -1), "max_steps must be an int"),
        (_set("net", "params", "predict_nonlinearity", np.exp), "predict_nonlinearity"),
        (_set("net", "params", "compile", True), "compile must be one of False"),
        (_set("net", "params", "module__units", ("nau", "npu")), "module__units disagrees"),
        (_set("net", "params", "iterator_train", "x"), "'iterator_train'"),
        (_set("net", "attributes", "forward", np.negative), "'forward'"),
        (_set("net", "device", "meta"), "the device must be 'cpu' or a CUDA device"),
        (_set("net", "weights", "layers.0.W", np.zeros((1, 2, 2), np.float32)), "layers.0.W"),
    ],
)
def test_a_file_holding_what_no_fitted_estimator_holds_is_refused_by_name(
    fitted, tmp_path, edit, named
):
    path = _edited(fitted, tmp_path, edit)
    with pytest.raises(ValueError, match=r"edited\.skops is not a model saved by sknalu") as info:
        load_model(path)
    assert named.replace("\\", "") in str(info.value) or pytest.fail(str(info.value))


@pytest.mark.parametrize(
    ("name", "forged"),
    [
        ("_formula_text", "price + 42"),
        ("formula_exact_", True),
        ("sparsity_error_", 0.0),
        ("_distance", 0.0),
        ("_rounding_difference", 0.0),
    ],
)
def test_what_follows_from_the_weights_is_recomputed_not_read(data, tmp_path, name, forged):
    X, y = data
    units = ("nac", "nac_mul")
    est = NALURegressor(units=units, n_restarts=2, max_steps=20, random_state=0).fit(X, y)
    # Its formula is not exact: forging it exact must not stick.
    assert not est.formula_exact_ and est.sparsity_error_ > 0.01
    path = _edited({"nalu": est}, tmp_path, _set("attributes", name, forged), name="nalu")
    loaded = load_model(path)
    assert loaded.formula_ == est.formula_ and loaded.formula_.startswith("≈ ")
    assert loaded.formula_exact_ is False
    assert loaded.sparsity_error_ == est.sparsity_error_
    assert loaded._distance == est._distance
    assert loaded._rounding_difference == est._rounding_difference


def test_saved_files_hold_no_derived_results(fitted, tmp_path):
    path = tmp_path / "model.skops"
    save_model(fitted["nalu"], path)
    held = skops.io.load(path)["attributes"]
    for name in ("formula_exact_", "sparsity_error_", "_formula_text", "_distance"):
        assert name not in held


def test_gate_ranges_that_do_not_hold_the_kept_rows_are_refused(data, tmp_path):
    X, y = data
    est = NALURegressor(units=("nalu",), n_restarts=2, max_steps=50, random_state=0).fit(X, y)
    path = tmp_path / "model.skops"
    save_model(est, path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert loaded.formula_ == est.formula_
    assert loaded.formula_exact_ == est.formula_exact_
    # A gate claimed saturated (its range a point at 1) that the kept rows open.
    lo, hi = est._gate_ranges[0]
    forged = [(np.ones_like(lo), np.ones_like(hi))]
    edited = _edited({"nmu": est}, tmp_path, _set("attributes", "_gate_ranges", forged))
    with pytest.raises(ValueError, match=r"_gate_ranges\[0\] does not hold the gate's range"):
        load_model(edited)


# -- sizes -------------------------------------------------------------------------------------


@pytest.fixture
def never_builds(monkeypatch):
    """Make building any network fail the test."""

    def fail(self, *args, **kwargs):
        raise AssertionError("load_model built a network before checking its size")

    monkeypatch.setattr("sknalu._network.ArithmeticNetwork.__init__", fail)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set("net", "params", "module__hidden_size", 12_000), r"hidden_size must be an int in"),
        (_set("net", "params", "module__hidden_size", 4000), "hidden size 4000, 1 outputs"),
        (_set("net", "params", "module__n_copies", 10**9), r"must be an int in \[1, 1000000\]"),
        (_set("net", "params", "module__units", ("nau",) * 40), "module__units must be"),
        (_set("net", "params", "module__in_features", 10**6), "module__in_features must be"),
    ],
)
def test_a_network_larger_than_its_weights_or_the_limits_is_never_built(
    fitted, tmp_path, edit, message, never_builds
):
    def edit_consistently(state):
        edit(state)
        net = state["net"]["params"]
        state["params"]["hidden_size"] = net["module__hidden_size"]
        state["params"]["n_restarts"] = net["module__n_copies"]

    path = _edited(fitted, tmp_path, edit_consistently)
    with pytest.raises(ValueError, match=message):
        load_model(path)


def _npy_header(shape) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f8", "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def test_a_file_of_compressed_zeros_is_refused_before_it_is_read(tmp_path):
    import tracemalloc

    from sknalu._persistence import MAX_UNCOMPRESSED_BYTES

    n = MAX_UNCOMPRESSED_BYTES // 8 + 2**20
    path = tmp_path / "zeros.skops"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("schema.json", skops.io.dumps({"a": 1}))
        with archive.open("1.npy", "w", force_zip64=True) as member:
            member.write(_npy_header((n,)))
            zeros = bytes(2**22)
            for _ in range(0, 8 * n, len(zeros)):
                member.write(zeros)
    assert path.stat().st_size < 2**21  # a small file, with 264 MiB inside
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"more than the \d+ bytes \(256 MiB\)"):
            load_model(path)
        assert tracemalloc.get_traced_memory()[1] < 2**24
    finally:
        tracemalloc.stop()


def test_an_array_header_larger_than_its_data_is_refused(fitted, tmp_path):
    path = tmp_path / "model.skops"
    save_model(fitted["nmu"], path)
    forged = tmp_path / "forged.skops"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(forged, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name.endswith(".npy"):
                content = _npy_header((10**10,)) + content[-64:]
            target.writestr(name, content)
    with pytest.raises(ValueError, match=r"declares an array of shape \(10000000000,\)"):
        load_model(forged)


# -- what keeps working ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"units": "auto", "max_steps": 300},
        {"dtype": "float32", "max_steps": 2000},
        {"units": ("nau", "nmu"), "n_restarts": 2, "max_steps": 300},
    ],
)
def test_round_trips_of_other_settings(data, params, tmp_path):
    X, y = data
    est = NMURegressor(random_state=0, **params).fit(X.to_numpy(), y.to_numpy())
    path = tmp_path / "model.skops"
    save_model(est, path)
    loaded = load_model(path)
    for rows in (X.to_numpy(), 100 * X.to_numpy()):
        np.testing.assert_array_equal(loaded.predict(rows), est.predict(rows))
    assert loaded.formula_ == est.formula_
    assert loaded.formula_exact_ == est.formula_exact_
    assert loaded.sparsity_error_ == est.sparsity_error_
    assert loaded.get_params() == est.get_params()
    for name in ("units_", "hidden_size_", "search_results_", "validation_score_"):
        assert getattr(loaded, name, None) == getattr(est, name, None)


# -- scikit-learn models holding sknalu estimators ----------------------------------------------


class _OwnScaler(TransformerMixin, BaseEstimator):
    """A transformer of a class of one's own: not a type skops trusts."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


@pytest.fixture(scope="module")
def pipelines(data):
    """A Pipeline of scikit-learn transformers ending in an NMURegressor, and one in a
    TransformedTargetRegressor; both fitted, small and seeded."""
    X, y = data
    X = X.assign(noise=np.linspace(1, 2, len(X)))
    columns = ColumnTransformer(
        [("scaled", StandardScaler(), ["noise"]), ("kept", "passthrough", ["price", "qty"])]
    )
    nmu = NMURegressor(max_steps=300, n_restarts=2, random_state=0)
    polynomial = make_pipeline(PolynomialFeatures(2), StandardScaler(), clone(nmu))
    target = TransformedTargetRegressor(polynomial, func=np.log, inverse_func=np.exp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what the fits say of scaled columns: not tested here
        models = {"pipeline": make_pipeline(columns, nmu).fit(X, y), "target": target.fit(X, y)}
    return X, models


@pytest.mark.parametrize("name", ["pipeline", "target"])
def test_a_pipeline_of_scikit_learn_transformers_and_a_sknalu_estimator_round_trips(
    pipelines, name, tmp_path
):
    X, models = pipelines
    model = models[name]
    path = tmp_path / "pipeline.skops"
    save_model(model, path)
    assert skops.io.get_untrusted_types(file=path) == []
    loaded = load_model(path)
    assert type(loaded) is type(model)
    for rows in (X, X * 10):
        np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    assert repr(loaded.get_params()) == repr(model.get_params())
    est = model[-1] if name == "pipeline" else model.regressor_[-1]
    again = loaded[-1] if name == "pipeline" else loaded.regressor_[-1]
    assert type(again) is NMURegressor and again is not est
    assert again.formula_ == est.formula_ and again.n_steps_ == est.n_steps_
    if name == "target":  # the unfitted template is an unfitted estimator again
        assert not hasattr(loaded.regressor[-1], "net_")
        assert loaded.regressor[-1].get_params() == model.regressor[-1].get_params()


def test_saving_a_pipeline_leaves_it_as_it_was(pipelines, tmp_path):
    X, models = pipelines
    before = models["pipeline"].predict(X)
    save_model(models["pipeline"], tmp_path / "pipeline.skops")
    assert type(models["pipeline"][-1]) is NMURegressor
    np.testing.assert_array_equal(models["pipeline"].predict(X), before)


def test_a_pipeline_with_a_transformer_of_ones_own_is_refused(data, tmp_path):
    X, y = data
    own = make_pipeline(_OwnScaler(), NMURegressor(max_steps=10, random_state=0)).fit(X, y)
    with pytest.raises(TypeError, match="_OwnScaler"):
        save_model(own, tmp_path / "own.skops")
    assert not (tmp_path / "own.skops").exists()
    # Written by hand instead, the file is refused before anything in it is built.
    from sknalu._persistence import _composite_state

    forged = tmp_path / "forged.skops"
    skops.io.dump(_composite_state(own), forged)
    with pytest.raises(UntrustedTypesFoundException, match="_OwnScaler"):
        load_model(forged)


def test_models_that_hold_no_sknalu_estimator_are_refused(data, tmp_path):
    X, y = data
    linear = make_pipeline(StandardScaler(), LinearRegression()).fit(X, y)
    with pytest.raises(TypeError, match="holds none"):
        save_model(linear, tmp_path / "linear.skops")
    with pytest.raises(NotFittedError):
        save_model(make_pipeline(StandardScaler(), NMURegressor()), tmp_path / "p.skops")
    with pytest.raises(TypeError, match="got list"):
        save_model([linear], tmp_path / "list.skops")
    path = tmp_path / "linear.skops"
    skops.io.dump({"sknalu_composite": 1, "model": linear}, path)
    with pytest.raises(ValueError, match="holds no sknalu estimator"):
        load_model(path)


def test_an_edited_estimator_in_a_pipeline_is_refused_by_name(pipelines, tmp_path):
    from sknalu._persistence import _composite_state

    _, models = pipelines
    state = _composite_state(models["pipeline"])
    state["model"].steps[-1][1]["attributes"]["n_steps_"] = -1
    path = tmp_path / "edited.skops"
    skops.io.dump(state, path)
    with pytest.raises(ValueError, match=r"edited\.skops is not a model saved by .*n_steps_"):
        load_model(path)
