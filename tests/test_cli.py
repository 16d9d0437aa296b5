"""The fit and predict commands of the sknalu command line."""

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from sknalu import NALURegressor, NMURegressor
from sknalu.cli import main


@pytest.fixture(scope="module")
def shop_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.uniform(1, 2, (200, 3)), columns=["price", "qty", "noise"])
    frame["total"] = frame.price * frame.qty
    path = tmp_path_factory.mktemp("data") / "shop.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def saved_model(shop_csv, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    args = ["fit", str(shop_csv), "--target", "total", "--max-steps", "2000"]
    assert main([*args, "--random-state", "0", "--save", str(path)]) == 0
    return path


def _one_line_error(capsys, *words):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


# -- fit --------------------------------------------------------------------------------


def test_fit_prints_formula_score_and_sparsity_error_and_saves(shop_csv, tmp_path, capsys):
    path = tmp_path / "model.joblib"
    args = ["fit", str(shop_csv), "--target", "total", "--max-steps", "2000"]
    assert main([*args, "--random-state", "0", "--save", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "formula:        price*qty",
        "R² (training):  1",
        "sparsity error: 0",
        f"model saved to: {path}",
    ]
    model = joblib.load(path)
    assert isinstance(model, NMURegressor)
    assert model.get_params()["max_steps"] == 2000
    assert model.formula_ == "price*qty"
    assert model.feature_names_in_.tolist() == ["price", "qty", "noise"]


def test_fit_passes_estimator_units_and_restarts(shop_csv, tmp_path, capsys):
    path = tmp_path / "nac.joblib"
    args = ["fit", str(shop_csv), "--target", "total", "--estimator", "nalu"]
    args += ["--units", "nac,nac_mul", "--n-restarts", "2", "--max-steps", "20"]
    assert main([*args, "--save", str(path)]) == 0
    model = joblib.load(path)
    assert isinstance(model, NALURegressor)
    assert model.units == ("nac", "nac_mul") and model.n_restarts == 2
    out = capsys.readouterr().out
    assert "formula:        ≈ " in out and "not exact" in out


def test_one_unit_name_means_that_unit_in_every_layer(shop_csv, tmp_path):
    path = tmp_path / "nau.joblib"
    args = ["fit", str(shop_csv), "--target", "total", "--units", "nau", "--max-steps", "20"]
    assert main([*args, "--save", str(path)]) == 0
    assert joblib.load(path).units == "nau"


def test_fit_without_save_writes_no_file(shop_csv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", str(shop_csv), "--target", "total", "--max-steps", "20"]) == 0
    assert "saved" not in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


# -- predict ------------------------------------------------------------------------------


def test_predict_writes_predictions_to_a_file(saved_model, shop_csv, tmp_path):
    output = tmp_path / "preds.csv"
    assert main(["predict", str(saved_model), str(shop_csv), "--output", str(output)]) == 0
    preds = pd.read_csv(output)
    frame = pd.read_csv(shop_csv)
    assert list(preds.columns) == ["prediction"] and len(preds) == len(frame)
    # The snapped model computes price * qty exactly; the target column is ignored.
    np.testing.assert_allclose(preds.prediction, frame.price * frame.qty, rtol=1e-15)


def test_predict_writes_csv_to_stdout(saved_model, tmp_path, capsys):
    data = tmp_path / "new.csv"
    pd.DataFrame({"noise": [0.0, 9.0], "qty": [3.0, -2.0], "price": [100.0, 0.5]}).to_csv(
        data, index=False
    )
    assert main(["predict", str(saved_model), str(data)]) == 0
    assert capsys.readouterr().out.splitlines() == ["prediction", "300.0", "-1.0"]


# -- mistakes --------------------------------------------------------------------------------


def test_missing_data_file(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "nope.csv"), "--target", "y"]) == 2
    _one_line_error(capsys, "sknalu fit: error: no such file:", "nope.csv")


def test_missing_target_column_lists_the_columns(shop_csv, capsys):
    assert main(["fit", str(shop_csv), "--target", "totl"]) == 2
    _one_line_error(capsys, "no column 'totl'", "its columns are: price, qty, noise, total")


def test_non_numeric_columns_are_named(tmp_path, capsys):
    data = tmp_path / "text.csv"
    frame = pd.DataFrame({"a": [1.0, 2.0], "city": ["x", "y"], "kind": ["p", "q"], "y": [1, 2]})
    frame.to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "y"]) == 2
    _one_line_error(capsys, "non-numeric columns: city, kind")


def test_missing_values_are_named(tmp_path, capsys):
    data = tmp_path / "gaps.csv"
    pd.DataFrame({"a": [1.0, None, 2.0], "y": [1.0, 2.0, 3.0]}).to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "y"]) == 2
    _one_line_error(capsys, "missing values in columns: a")


def test_empty_file(tmp_path, capsys):
    data = tmp_path / "empty.csv"
    data.write_text("")
    assert main(["fit", str(data), "--target", "y"]) == 2
    _one_line_error(capsys, "empty.csv is empty")


def test_bad_unit_name_is_reported_by_the_estimator(shop_csv, capsys):
    args = ["fit", str(shop_csv), "--target", "total", "--units", "nau,nmu_typo"]
    assert main(args) == 2
    _one_line_error(capsys, "does not know the unit 'nmu_typo'")


def test_model_file_that_is_not_a_sknalu_estimator(shop_csv, tmp_path, capsys):
    other = tmp_path / "linear.joblib"
    joblib.dump(LinearRegression(), other)
    assert main(["predict", str(other), str(shop_csv)]) == 2
    _one_line_error(capsys, "holds a LinearRegression, not a sknalu estimator")
    assert main(["predict", str(shop_csv), str(shop_csv)]) == 2
    _one_line_error(capsys, "shop.csv is not a model saved by sknalu fit")
    assert main(["predict", str(tmp_path / "none.joblib"), str(shop_csv)]) == 2
    _one_line_error(capsys, "no such file:", "none.joblib")


def test_predict_data_without_the_feature_columns(saved_model, tmp_path, capsys):
    data = tmp_path / "partial.csv"
    pd.DataFrame({"price": [1.0]}).to_csv(data, index=False)
    assert main(["predict", str(saved_model), str(data)]) == 2
    _one_line_error(capsys, "lacks the model's feature columns: qty, noise")


def test_missing_target_option_is_an_argparse_usage_error(shop_csv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(shop_csv)])
    assert exit_info.value.code == 2
    assert "--target" in capsys.readouterr().err
