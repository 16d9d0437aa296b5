"""scikit-learn's estimator checks, run over every public estimator.

Checks that cannot pass are listed in ``EXPECTED_FAILED_CHECKS`` with the reason.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sknalu import NALURegressor, NMURegressor

#: Short fits keep the checks fast; they test the estimator contract, not accuracy.
ESTIMATORS = [
    NALURegressor(max_steps=100, random_state=0),
    NMURegressor(max_steps=100, random_state=0),
]

#: Why a weight of 2 cannot give what a repeated row gives, to scikit-learn's rtol=1e-7.
_STOCHASTIC_TRAINING = (
    "Training is stochastic: the weighted loss is the loss of the repeated rows, but "
    "the repeated data has more rows, so other random minibatches, another held-out "
    "split (fewer than 20 rows hold none out, and a repeated row can fall on both "
    "sides of it) and other float sums; the fits agree in expectation, not to "
    "rtol=1e-7. tests/test_sample_weight.py checks that both read back the same "
    "formula where there is an exact one."
)

#: Checks expected to fail, per estimator class, with the reason.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    name: {"check_sample_weight_equivalence_on_dense_data": _STOCHASTIC_TRAINING}
    for name in ("NALURegressor", "NMURegressor")
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
