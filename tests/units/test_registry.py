"""The registry of unit names: built-in units read-only, a user's unit in other processes."""

import os
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from test_adding_a_unit import Selector

from sknalu import NMURegressor, save_model
from sknalu.units import BUILTIN_UNITS, NAU, UNITS, register_unit, unregister_unit

TESTS = str(Path(__file__).resolve().parent)


@pytest.fixture
def selector():
    register_unit("selector", Selector, families=("nmu",))
    yield
    unregister_unit("selector")


@pytest.fixture
def fitted(selector):
    X = np.random.default_rng(0).uniform(1, 2, size=(500, 3))
    est = NMURegressor(units=("selector",), max_steps=1500, random_state=0)
    return est.fit(X, X[:, 0] + X[:, 2])


def _fit_formula(est):
    X = np.random.default_rng(0).uniform(1, 2, size=(500, 3))
    return est.fit(X, X[:, 0] + X[:, 2]).formula_


def _run(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python process that can import this folder's modules."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def test_the_built_in_units_are_read_only():
    with pytest.raises(TypeError):
        UNITS["nau"] = Selector
    with pytest.raises(TypeError):
        BUILTIN_UNITS["selector"] = Selector
    with pytest.raises(ValueError, match="'nau' is a built-in unit"):
        register_unit("nau", Selector, families=("nmu",))
    with pytest.raises(ValueError, match="built-in unit and cannot be removed"):
        unregister_unit("nmu")
    assert UNITS["nau"] is NAU


def test_a_registered_unit_is_known_in_joblib_workers(selector):
    est = NMURegressor(units=("selector",), max_steps=1500, random_state=0)
    formulas = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(_fit_formula)(clone(est)) for _ in range(2)
    )
    assert formulas == ["x0 + x2", "x0 + x2"]


@pytest.mark.slow  # a fresh Python process
def test_a_pickled_model_brings_its_registered_unit_to_a_fresh_process(fitted, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(fitted, path)
    result = _run(
        "import joblib, sknalu\n"
        f"model = joblib.load({str(path)!r})\n"
        "print(model.formula_, 'selector' in sknalu.units.UNITS)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "x0 + x2 True"


@pytest.mark.slow  # a fresh Python process
def test_a_skops_model_with_an_unregistered_unit_is_refused_with_what_to_do(fitted, tmp_path):
    path = tmp_path / "model.skops"
    save_model(fitted, path)
    refused = _run(f"import sknalu; sknalu.load_model({str(path)!r})")
    assert refused.returncode != 0
    assert "'selector'" in refused.stderr and "register_unit" in refused.stderr
    loaded = _run(
        "import sknalu, test_adding_a_unit as t\n"
        "sknalu.units.register_unit('selector', t.Selector, families=('nmu',))\n"
        f"print(sknalu.load_model({str(path)!r}).formula_)"
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "x0 + x2"
