"""Progress: a bar on a terminal for every job one waits on, nothing in files.

A fit with ``verbose``, ``units="auto"``, the benchmarks, ``--speed`` and the demo
draw a progress bar on standard error when it is a terminal; where standard error
(or, for skorch's table of losses, standard output) is a file or a pipe, nothing of
a bar is written: no carriage returns, no escape codes.
"""

import contextlib
import io
import re

import joblib
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from sknalu import NMURegressor, load_model
from sknalu.benchmarks import measure_speed
from sknalu.benchmarks._support import run_jobs
from sknalu.cli import _demo, main
from sknalu.datasets import make_arithmetic

#: An empty bar, as tqdm draws a bar of no steps: "0step [00:00, ?step/s]".
EMPTY_BAR = re.compile(r"(^|[\s\r])0step \[")


class Terminal(io.StringIO):
    """A stream that says it is a terminal, and keeps what is written to it."""

    def isatty(self):
        return True


@contextlib.contextmanager
def terminal():
    """Standard error and standard output as terminals; what is written to them.

    A context manager, not a fixture: pytest sets its own streams again when a test
    starts.
    """
    streams = {"err": Terminal(), "out": Terminal()}
    with contextlib.redirect_stderr(streams["err"]), contextlib.redirect_stdout(streams["out"]):
        yield streams


@pytest.fixture(scope="module")
def product():
    return make_arithmetic("x0 * x1", n_samples=200, random_state=0)


# -- fits ---------------------------------------------------------------------------------


def test_verbose_draws_a_bar_over_the_steps_on_a_terminal(product):
    with terminal() as streams:
        NMURegressor(max_steps=1000, snap=False, verbose=1, random_state=0).fit(*product)
    err = streams["err"].getvalue()
    assert "1000/1000" in err and "step" in err and "nau,nmu" in err


def test_verbose_writes_nothing_to_a_file(product, capsys):
    NMURegressor(max_steps=1000, snap=False, verbose=1, random_state=0).fit(*product)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_the_auto_search_draws_no_empty_bars(product):
    with terminal() as streams:
        NMURegressor(units="auto", max_steps=500, verbose=1, random_state=0).fit(*product)
    err = streams["err"].getvalue()
    assert not EMPTY_BAR.search(err), err


def test_the_table_of_losses_is_coloured_on_a_terminal(product):
    with terminal() as streams:
        NMURegressor(max_steps=1000, snap=False, verbose=2, random_state=0).fit(*product)
    assert "\x1b[" in streams["out"].getvalue()  # skorch's colours, as skorch draws them


def test_the_table_of_losses_in_a_file_has_no_escape_codes(product, capsys):
    NMURegressor(max_steps=1000, snap=False, verbose=2, random_state=0).fit(*product)
    captured = capsys.readouterr()
    assert "train_loss" in captured.out and "valid_loss" in captured.out
    assert "\x1b" not in captured.out and "\r" not in captured.out
    assert captured.err == ""


# -- benchmarks, demo ---------------------------------------------------------------------


def test_run_jobs_counts_the_jobs_done_on_a_terminal():
    with terminal() as streams:
        results = run_jobs([joblib.delayed(pow)(2, n) for n in range(5)], what="powers")
    assert results == [1, 2, 4, 8, 16]
    err = streams["err"].getvalue()
    assert "powers" in err and "5/5" in err


def test_run_jobs_writes_nothing_to_a_file(capsys):
    assert run_jobs([joblib.delayed(abs)(-n) for n in range(3)]) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_the_operations_suite_shows_its_progress_on_a_terminal(tmp_path):
    argv = ["benchmark", "--suite", "operations", "--ops", "add", "--models", "nau"]
    argv += ["--seeds", "2", "--n-train", "200", "--n-test", "50", "--param", "max_steps=100"]
    with terminal() as streams:
        assert main([*argv, "--output-dir", str(tmp_path)]) == 0
    err = streams["err"].getvalue()
    assert "operations" in err and "2/2" in err


_QUICK = ["benchmark", "--quick", "--seeds", "1", "--param", "max_steps=200", "--n-train", "300"]
_QUICK += ["--n-valid", "150", "--threshold-samples", "1000"]


def test_the_task_suite_shows_its_progress_on_a_terminal(tmp_path):
    with terminal() as streams:
        assert main([*_QUICK, "--output-dir", str(tmp_path)]) == 0
    err = streams["err"].getvalue()
    assert "benchmark" in err and "2/2" in err


def test_the_task_suite_writes_no_progress_to_a_file(tmp_path, capsys):
    assert main([*_QUICK, "--output-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""


def test_the_speed_measurement_shows_its_progress():
    with terminal() as streams:
        table = measure_speed(n_steps=50, restarts=(1,), repeats=1)
    assert len(table) == 3
    err = streams["err"].getvalue()
    assert "speed" in err and "measurement" in err


def _quick_models(random_state):
    return {
        "NMURegressor": NMURegressor(max_steps=100, random_state=random_state),
        "LinearRegression": LinearRegression(),
    }


def test_the_demo_shows_its_progress(monkeypatch):
    monkeypatch.setattr(_demo, "_models", _quick_models)
    with terminal() as streams:
        assert main(["demo", "--n-samples", "50"]) == 0
    err = streams["err"].getvalue()
    assert "demo" in err and "4/4" in err


def test_sknalu_fit_shows_its_progress_on_a_terminal_only(product, tmp_path, capsys):
    X, y = product
    path = tmp_path / "product.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "y": y}).to_csv(path, index=False)
    argv = ["fit", str(path), "--target", "y", "--max-steps", "500", "--random-state", "0"]
    with terminal() as streams:
        assert main(argv) == 0
    assert "step" in streams["err"].getvalue() and "nau,nmu" in streams["err"].getvalue()
    assert main([*argv, "--save", str(tmp_path / "model.skops")]) == 0
    assert capsys.readouterr().err == ""
    # The model saved is as quiet as the estimator's default.
    assert load_model(tmp_path / "model.skops").verbose == 0
