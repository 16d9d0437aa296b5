"""Predictions outside the domain of the learned formula say so.

A square root of a negative number, a division by zero, a product through
logarithms near 0 or of negative inputs: there the network's output is no value
of its formula, and ``predict`` warns, naming the rows, the unit and why. Inside
the domain it stays silent.
"""

import re
import warnings

import numpy as np
import pytest
import torch
from conftest import set_weights

from sknalu import ArithmeticNetwork, NALURegressor, NMURegressor

pytestmark = pytest.mark.usefixtures("float64")


def _positive(n_features, seed=0):
    return np.random.RandomState(seed).uniform(1, 2, size=(500, n_features))


@pytest.fixture(scope="module")
def square_root():
    X = _positive(1)
    est = NALURegressor(random_state=0, max_steps=50).fit(X, np.sqrt(X[:, 0]))
    assert est.formula_ == "sqrt(x0)" and est.formula_exact_
    return est


def _silent_predict(est, X):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predicted = est.predict(X)
    assert [str(w.message) for w in caught] == []
    return predicted


def test_a_square_root_of_a_negative_input_warns_naming_the_row(square_root):
    with pytest.warns(RuntimeWarning, match="outside the domain") as record:
        square_root.predict(np.array([[-4.0], [4.0]]))
    message = str(record[0].message)
    assert "1 of 2 rows" in message and "row 0." in message
    assert "square root" in message and "negative input" in message
    assert "RealNPU" in message


def test_a_square_root_inside_its_domain_is_silent(square_root):
    predicted = _silent_predict(square_root, np.array([[0.0], [2.25], [1e6]]))
    np.testing.assert_allclose(predicted, [0.0, 1.5, 1e3], rtol=1e-12)


def test_the_warning_names_the_first_rows_and_counts_them(square_root):
    X = np.linspace(-3, 3, 1000)[:, None]
    with pytest.warns(RuntimeWarning, match="outside the domain") as record:
        square_root.predict(X)
    message = str(record[0].message)
    assert "500 of 1000 rows" in message
    assert "rows 0, 1, 2, 3, 4, ... (500 rows)" in message


def test_the_rows_are_numbered_across_the_slices_predict_takes(square_root):
    X = np.ones((70_000, 1))
    X[[3, 69_999]] = -1.0  # one row in each slice of 65536
    with pytest.warns(RuntimeWarning, match=re.escape("rows 3, 69999.")):
        square_root.predict(X)


def test_a_nac_mul_product_near_zero_warns():
    X = _positive(2)
    est = NALURegressor(units=("nac_mul",), random_state=0, max_steps=50)
    est.fit(X, X[:, 0] * X[:, 1])
    near_zero = np.array([[2.0, 3.0], [3e-7, 2.0]])
    with pytest.warns(RuntimeWarning, match="outside the domain") as record:
        predicted = est.predict(near_zero)
    message = str(record[0].message)
    assert "row 1." in message and "log(|x0| + ε)" in message and "NACMul" in message
    assert abs(predicted[1] / 6e-7 - 1) > 0.05  # what the warning is about


def test_a_nac_mul_product_of_one_negative_input_warns_about_its_sign():
    X = _positive(2)
    est = NALURegressor(units=("nac_mul",), random_state=0, max_steps=50)
    est.fit(X, X[:, 0] * X[:, 1])
    with pytest.warns(RuntimeWarning, match="sign") as record:
        est.predict(np.array([[-2.0, 3.0], [-2.0, -3.0]]))
    assert "row 0." in str(record[0].message)  # two negative factors: the sign is right


def test_an_nmu_product_of_negative_inputs_is_silent():
    X = _positive(2)
    est = NMURegressor(random_state=0, max_steps=50).fit(X, X[:, 0] * X[:, 1])
    assert est.formula_ == "x0*x1"
    negative = np.array([[-2.0, 3.0], [-2.0, -3.0], [0.0, -1e-9]])
    predicted = _silent_predict(est, negative)
    np.testing.assert_allclose(predicted, negative.prod(axis=1), rtol=1e-12)


def test_a_division_by_an_input_near_zero_warns():
    X = _positive(2)
    est = NMURegressor(units=("nau", "nmru"), random_state=0, max_steps=50)
    est.fit(X, X[:, 0] / X[:, 1])
    assert est.formula_ == "x0/x1"
    with pytest.warns(RuntimeWarning, match="outside the domain") as record:
        est.predict(np.array([[1.0, 1e-9], [1.0, 2.0]]))
    message = str(record[0].message)
    assert "row 0." in message and "NMRU" in message and "divides by" in message


def test_the_network_asks_each_layer_about_the_outputs_of_the_layer_before():
    # sqrt(x0 - x1): every input positive, but the square root's input is not.
    net = ArithmeticNetwork(2, 1, units=("nau", "npu"), n_copies=1)
    set_weights(net.layers[0].W, [[1.0, -1.0], [0.0, 0.0]])
    set_weights(net.layers[1].W, [0.5, 0.0])
    set_weights(net.layers[1].g, [1.0, 0.0])
    net.keep_copy_(0)
    report = net.domain_violations(torch.tensor([[3.0, 2.0], [2.0, 3.0], [5.0, 1.0]]), ["a", "b"])
    assert report.rows.tolist() == [1]
    assert report.n_rows == 3
    (reason,) = report.reasons
    assert reason.startswith("layer 1 (RealNPU) raises its input h0 to the power 1/2")


def test_a_report_without_rows_outside_is_empty():
    net = ArithmeticNetwork(2, 1, units=("nau", "nmu"), n_copies=1)
    report = net.domain_violations(-torch.ones(4, 2))
    assert not report and report.message() == "" and report.rows.tolist() == []
