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

#: Checks expected to fail, per estimator class, with the reason.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
