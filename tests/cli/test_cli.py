"""The fit and predict commands of the sknalu command line."""

import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from sknalu import NALURegressor, NMURegressor, load_model
from sknalu._estimators import _ArithmeticRegressor
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
def saved_models(shop_csv, tmp_path_factory):
    """The same fit saved by ``sknalu fit --save`` in each format, by file name."""
    directory = tmp_path_factory.mktemp("model")
    args = ["fit", str(shop_csv), "--target", "total", "--max-steps", "2000"]
    for name in ("model.skops", "model.joblib"):
        assert main([*args, "--random-state", "0", "--save", str(directory / name)]) == 0
    return {path.name: path for path in directory.iterdir()}


@pytest.fixture(params=["model.skops", "model.joblib"])
def saved_model(request, saved_models):
    return saved_models[request.param]


@pytest.fixture
def never_fits(monkeypatch):
    """Make any estimator's fit or predict fail the test."""

    def fail(self, *args, **kwargs):
        raise AssertionError("the command trained or predicted before checking its paths")

    monkeypatch.setattr(_ArithmeticRegressor, "fit", fail)
    monkeypatch.setattr(_ArithmeticRegressor, "predict", fail)


def _predict(model, *args):
    """The arguments of ``sknalu predict`` for ``model``; a joblib file is trusted."""
    trust = ["--trust-pickle"] if Path(model).suffix != ".skops" else []
    return ["predict", str(model), *map(str, args), *trust]


def _one_line_error(capsys, *words):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


# -- fit --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "load"), [("model.skops", load_model), ("model.pkl", joblib.load)]
)
def test_fit_prints_formula_score_and_sparsity_error_and_saves(
    shop_csv, tmp_path, capsys, name, load
):
    path = tmp_path / name
    args = ["fit", str(shop_csv), "--target", "total", "--max-steps", "2000"]
    assert main([*args, "--random-state", "0", "--save", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "formula:        price*qty",
        "R² (training):  1",
        "sparsity error: 0",
        f"model saved to: {path}",
    ]
    model = load(path)
    assert isinstance(model, NMURegressor)
    assert model.get_params()["max_steps"] == 2000
    assert model.formula_ == "price*qty"
    assert model.feature_names_in_.tolist() == ["price", "qty", "noise"]


def test_fit_passes_estimator_units_and_restarts(shop_csv, tmp_path, capsys):
    path = tmp_path / "nac.skops"
    args = ["fit", str(shop_csv), "--target", "total", "--estimator", "nalu"]
    args += ["--units", "nac,nac_mul", "--n-restarts", "2", "--max-steps", "20"]
    assert main([*args, "--random-state", "0", "--save", str(path)]) == 0
    model = load_model(path)
    assert isinstance(model, NALURegressor)
    assert model.units == ("nac", "nac_mul") and model.n_restarts == 2
    assert model.random_state == 0
    out = capsys.readouterr().out
    assert "formula:        ≈ " in out and "not exact" in out


def test_one_unit_name_means_that_unit_in_every_layer(shop_csv, tmp_path):
    path = tmp_path / "nau.joblib"
    args = ["fit", str(shop_csv), "--target", "total", "--units", "nau", "--max-steps", "20"]
    assert main([*args, "--random-state", "0", "--save", str(path)]) == 0
    assert joblib.load(path).units == "nau"


def test_fit_without_save_writes_no_file(shop_csv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["fit", str(shop_csv), "--target", "total", "--max-steps", "20"]
    assert main([*args, "--random-state", "0"]) == 0
    assert "saved" not in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


def test_ctrl_c_during_fit_saves_nothing_and_exits_130(shop_csv, tmp_path, monkeypatch, capsys):
    def interrupted(self, X, y):
        raise KeyboardInterrupt

    monkeypatch.setattr(NMURegressor, "fit", interrupted)
    path = tmp_path / "model.skops"
    args = ["fit", str(shop_csv), "--target", "total", "--random-state", "0"]
    assert main([*args, "--save", str(path)]) == 130
    captured = capsys.readouterr()
    assert captured.err == "sknalu fit: interrupted; nothing saved\n"
    assert captured.out == ""
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("save", "message"),
    [
        ("missing/model.skops", "no such directory: {tmp}/missing"),
        ("model.csv", "cannot tell the model format of {tmp}/model.csv from its extension"),
        ("model", "cannot tell the model format of {tmp}/model from its extension"),
        ("a_directory.skops", "cannot write the model to {tmp}/a_directory.skops: it is a dir"),
    ],
)
def test_a_bad_save_path_fails_before_training(
    shop_csv, tmp_path, capsys, never_fits, save, message
):
    (tmp_path / "a_directory.skops").mkdir()
    args = ["fit", str(shop_csv), "--target", "total", "--random-state", "0"]
    assert main([*args, "--save", str(tmp_path / save)]) == 2
    _one_line_error(capsys, "sknalu fit: error:", message.format(tmp=tmp_path))


def test_a_save_path_without_write_permission_fails_before_training(
    shop_csv, tmp_path, capsys, never_fits, monkeypatch
):
    # Tests may run as root, for whom every directory is writable: ask os.access.
    monkeypatch.setattr("sknalu.cli._common.os.access", lambda path, mode: False)
    path = tmp_path / "model.skops"
    args = ["fit", str(shop_csv), "--target", "total", "--random-state", "0"]
    assert main([*args, "--save", str(path)]) == 2
    _one_line_error(capsys, f"cannot write the model to {path}: permission denied")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("m.skops", "skops"),
        ("m.SKOPS", "skops"),
        ("m.v2.skops", "skops"),
        ("m.joblib", "joblib"),
        ("m.pkl", "joblib"),
        ("m.pickle", "joblib"),
        ("m.joblib.gz", "joblib"),
        ("m.pkl.xz", "joblib"),
    ],
)
def test_the_extension_picks_the_model_format(name, expected):
    from sknalu.cli._common import model_format

    assert model_format(name) == expected


# -- predict ------------------------------------------------------------------------------


def test_predict_writes_predictions_to_a_file(saved_model, shop_csv, tmp_path):
    output = tmp_path / "preds.csv"
    assert main(_predict(saved_model, shop_csv, "--output", output)) == 0
    preds = pd.read_csv(output)
    frame = pd.read_csv(shop_csv)
    assert list(preds.columns) == ["prediction"] and len(preds) == len(frame)
    # The snapped model computes price * qty exactly; the target column is ignored.
    np.testing.assert_allclose(preds.prediction, frame.price * frame.qty, rtol=1e-15)


def test_skops_and_joblib_models_predict_the_same_to_the_last_bit(saved_models, shop_csv):
    skops_model = load_model(saved_models["model.skops"])
    joblib_model = joblib.load(saved_models["model.joblib"])
    frame = pd.read_csv(shop_csv).drop(columns="total")
    np.testing.assert_array_equal(skops_model.predict(frame), joblib_model.predict(frame))


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("missing/preds.csv", "no such directory: {tmp}/missing"),
        ("preds.txt", "cannot write the predictions to {tmp}/preds.txt: they are CSV"),
        ("a_directory.csv", "cannot write the predictions to {tmp}/a_directory.csv: it is a"),
    ],
)
def test_a_bad_output_path_fails_before_predicting(
    saved_model, shop_csv, tmp_path, capsys, never_fits, output, message
):
    (tmp_path / "a_directory.csv").mkdir()
    assert main(_predict(saved_model, shop_csv, "--output", tmp_path / output)) == 2
    _one_line_error(capsys, "sknalu predict: error:", message.format(tmp=tmp_path))


def test_predict_writes_compressed_csv(saved_model, shop_csv, tmp_path):
    output = tmp_path / "preds.csv.gz"
    assert main(_predict(saved_model, shop_csv, "--output", output)) == 0
    assert len(pd.read_csv(output)) == len(pd.read_csv(shop_csv))


def test_predict_writes_csv_to_stdout(saved_model, tmp_path, capsys):
    data = tmp_path / "new.csv"
    pd.DataFrame({"noise": [0.0, 9.0], "qty": [3.0, -2.0], "price": [100.0, 0.5]}).to_csv(
        data, index=False
    )
    assert main(_predict(saved_model, data)) == 0
    assert capsys.readouterr().out.splitlines() == ["prediction", "300.0", "-1.0"]


# -- mistakes --------------------------------------------------------------------------------


def test_missing_data_file(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "nope.csv"), "--target", "y", "--random-state", "0"]) == 2
    _one_line_error(capsys, "sknalu fit: error: no such file:", "nope.csv")


def test_missing_target_column_lists_the_columns(shop_csv, capsys):
    assert main(["fit", str(shop_csv), "--target", "totl", "--random-state", "0"]) == 2
    _one_line_error(capsys, "no column 'totl'", "its columns are: price, qty, noise, total")


def test_non_numeric_columns_are_named(tmp_path, capsys):
    data = tmp_path / "text.csv"
    frame = pd.DataFrame({"a": [1.0, 2.0], "city": ["x", "y"], "kind": ["p", "q"], "y": [1, 2]})
    frame.to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "y", "--random-state", "0"]) == 2
    _one_line_error(capsys, "non-numeric columns: city, kind")


def test_missing_values_are_named(tmp_path, capsys):
    data = tmp_path / "gaps.csv"
    pd.DataFrame({"a": [1.0, None, 2.0], "y": [1.0, 2.0, 3.0]}).to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "y", "--random-state", "0"]) == 2
    _one_line_error(capsys, "missing values in columns: a")


def test_empty_file(tmp_path, capsys):
    data = tmp_path / "empty.csv"
    data.write_text("")
    assert main(["fit", str(data), "--target", "y", "--random-state", "0"]) == 2
    _one_line_error(capsys, "empty.csv is empty")


def test_bad_unit_name_is_reported_by_the_estimator(shop_csv, capsys):
    args = ["fit", str(shop_csv), "--target", "total", "--units", "nau,nmu_typo"]
    assert main([*args, "--random-state", "0"]) == 2
    _one_line_error(capsys, "does not know the unit 'nmu_typo'")


def test_model_file_that_is_not_a_sknalu_estimator(shop_csv, tmp_path, capsys):
    other = tmp_path / "linear.joblib"
    joblib.dump(LinearRegression(), other)
    assert main(_predict(other, shop_csv)) == 2
    _one_line_error(capsys, "holds a LinearRegression, not a sknalu estimator")
    assert main(["predict", str(shop_csv), str(shop_csv)]) == 2
    _one_line_error(capsys, "cannot tell the model format of", "shop.csv")
    csv_named_joblib = tmp_path / "data.joblib"
    csv_named_joblib.write_text(shop_csv.read_text())
    assert main(_predict(csv_named_joblib, shop_csv)) == 2
    _one_line_error(capsys, "data.joblib is not a model saved by sknalu fit")
    csv_named_skops = tmp_path / "data.skops"
    csv_named_skops.write_text(shop_csv.read_text())
    assert main(["predict", str(csv_named_skops), str(shop_csv)]) == 2
    _one_line_error(capsys, "data.skops is not a model saved by sknalu fit")
    assert main(_predict(tmp_path / "none.joblib", shop_csv)) == 2
    _one_line_error(capsys, "no such file:", "none.joblib")


def test_predict_data_without_the_feature_columns(saved_model, tmp_path, capsys):
    data = tmp_path / "partial.csv"
    pd.DataFrame({"price": [1.0]}).to_csv(data, index=False)
    assert main(_predict(saved_model, data)) == 2
    _one_line_error(capsys, "lacks the model's feature columns: qty, noise")


def test_missing_target_option_is_an_argparse_usage_error(shop_csv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(shop_csv), "--random-state", "0"])
    assert exit_info.value.code == 2
    assert "--target" in capsys.readouterr().err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.slow  # a fresh Python process
def test_predict_to_a_full_disk_says_so(saved_models, shop_csv):
    command = [sys.executable, "-m", "sknalu", "predict", str(saved_models["model.skops"])]
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [*command, str(shop_csv)], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120
        )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "sknalu predict: error: cannot write the predictions to standard output: "
        "No space left on device"
    )


@pytest.mark.parametrize("n_samples", ["0", "-5", "7", "many"])
def test_demo_refuses_too_few_rows_by_name(n_samples, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--n-samples", n_samples])
    assert exc.value.code == 2
    assert "argument --n-samples" in capsys.readouterr().err


# -- files from elsewhere -------------------------------------------------------------------


class _CreateFile:
    """Unpickled, it creates a file: a stand-in for any code a pickle can run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("name", ["model.joblib", "model.pkl", "model.pickle.gz"])
def test_predict_refuses_a_pickle_unless_trusted_and_runs_nothing(name, shop_csv, tmp_path, capsys):
    marker = tmp_path / "marker"
    path = tmp_path / name
    joblib.dump(_CreateFile(marker), path)
    assert main(["predict", str(path), str(shop_csv)]) == 2
    err = _one_line_error(capsys, f"sknalu predict: error: {path} is a joblib/pickle file")
    assert "--trust-pickle" in err and ".skops" in err
    assert not marker.exists()
    # Trusted, it is loaded, and the code in it runs: the flag is what stands between.
    assert main(["predict", str(path), str(shop_csv), "--trust-pickle"]) == 2
    _one_line_error(capsys, "holds a TextIOWrapper, not a sknalu estimator")
    assert marker.exists()


def test_predict_names_what_is_wrong_with_an_edited_skops_file(saved_models, shop_csv, capsys):
    import skops.io

    from sknalu._persistence import _state

    state = _state(load_model(saved_models["model.skops"]))
    state["attributes"]["predict"] = np.negative
    path = saved_models["model.skops"].with_name("edited.skops")
    skops.io.dump(state, path)
    assert main(["predict", str(path), str(shop_csv)]) == 2
    _one_line_error(capsys, f"{path} is not a model saved by sknalu fit:", "'predict'")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.slow  # a fresh Python process
def test_fit_to_a_full_disk_says_so(shop_csv):
    command = [sys.executable, "-m", "sknalu", "fit", str(shop_csv), "--target", "total"]
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [*command, "--max-steps", "200", "--random-state", "0"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "sknalu fit: error: cannot write to standard output: No space left on device"
    )
