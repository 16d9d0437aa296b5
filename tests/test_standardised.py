"""A fit on standardised columns or a standardised target says that its formula is
of the scaled values, and how to do without."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sknalu.exceptions
from sknalu import NALURegressor, NMURegressor
from sknalu.exceptions import StandardisedDataWarning
from sknalu.formula._standardised import looks_standardised


@pytest.fixture(scope="module")
def shop():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.uniform(1, 10, size=(300, 2)), columns=["price", "qty"])
    return X, X.price * X.qty


def test_the_warning_is_a_public_user_warning():
    assert issubclass(StandardisedDataWarning, UserWarning)
    assert "StandardisedDataWarning" in sknalu.exceptions.__all__


def test_a_pipeline_with_a_scaler_warns_that_the_formula_is_of_scaled_columns(shop):
    X, y = shop
    pipeline = make_pipeline(StandardScaler(), NALURegressor(units="auto", random_state=0))
    with pytest.warns(StandardisedDataWarning) as caught:
        pipeline.fit(X, y)
    # units="auto" fits several candidates: the warning comes once, from fit.
    assert len([w for w in caught if w.category is StandardisedDataWarning]) == 1
    message = str(caught[0].message)
    assert "every column of X has mean 0 and standard deviation 1" in message
    assert "Fit on the raw columns" in message and "(x - mean_) / scale_" in message


def test_a_scaler_with_pandas_output_warns_although_the_names_are_the_columns(shop):
    X, y = shop
    scaler = StandardScaler().set_output(transform="pandas")
    pipeline = make_pipeline(scaler, NMURegressor(max_steps=500, random_state=0))
    with pytest.warns(StandardisedDataWarning, match="whatever their names"):
        pipeline.fit(X, y)
    assert list(pipeline[-1].feature_names_in_) == ["price", "qty"]


def test_a_standardised_target_warns(shop):
    X, y = shop
    model = TransformedTargetRegressor(
        NMURegressor(max_steps=500, random_state=0), transformer=StandardScaler()
    )
    with pytest.warns(StandardisedDataWarning, match="the target has mean 0"):
        model.fit(X, y)


def test_raw_columns_and_target_do_not_warn(shop):
    X, y = shop
    with warnings.catch_warnings():
        warnings.simplefilter("error", StandardisedDataWarning)
        NMURegressor(max_steps=500, random_state=0).fit(X, y)


@pytest.mark.parametrize(
    "data, expected",
    [
        (np.array([[-1.0, 1.0], [1.0, -1.0]]), True),
        # A constant column becomes 0 after a StandardScaler.
        (np.array([[-1.0, 0.0], [1.0, 0.0]]), True),
        (np.array([-1.0, 1.0]), True),
        (np.zeros((4, 2)), False),
        (np.array([[-1.0, 1.0]]), False),
        (np.array([[-1.0, np.nan], [1.0, 1.0]]), False),
        (np.array([[0.0, 1.0], [2.0, 3.0]]), False),
        ([["a", "b"], ["c", "d"]], False),
    ],
)
def test_looks_standardised(data, expected):
    assert looks_standardised(data) is expected


def test_looks_standardised_is_tolerant_to_rounding_only():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 3))
    Z = StandardScaler().fit_transform(X)
    assert looks_standardised(Z)
    assert not looks_standardised(Z * (1 + 1e-5))
    assert not looks_standardised(X)
