"""save_model and load_model: skops files that load without trusting their content."""

import io
import os
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io
import torch
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
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
