"""The user guide's formula pages print what the code gives.

Their examples are doctests (``>>>``) in ``.. code-block:: pycon``: each page runs
here as :func:`doctest.testfile` does, with ``...`` for digits that depend on the
noise or on timing.
"""

import doctest
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from sknalu import NMURegressor

USER_GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user_guide"


def run_page(name: str) -> None:
    result = doctest.testfile(
        str(USER_GUIDE / name),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        raise_on_error=False,
        verbose=False,
    )
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} example(s) of {name} print something else"


# The pages show what happens with warnings; the warnings themselves are not output.
@pytest.mark.filterwarnings("ignore::sknalu.exceptions.FormulaWarning")
@pytest.mark.parametrize("page", ["formula.rst", "scikit_learn.rst", "search.rst"])
def test_user_guide_page_prints_what_the_code_gives(page):
    run_page(page)


@pytest.mark.slow  # the noisy table's search takes tens of seconds
def test_table_to_formula_prints_what_the_code_gives():
    run_page("table_to_formula.rst")


def test_a_column_transformer_with_pandas_output_keeps_the_column_names():
    rng = np.random.default_rng(0)
    shop = pd.DataFrame(rng.uniform(1, 2, size=(200, 3)), columns=["price", "qty", "store"])
    passthrough = [("numbers", "passthrough", ["price", "qty"])]
    select = ColumnTransformer(passthrough, verbose_feature_names_out=False)
    pipeline = Pipeline(
        [("select", select.set_output(transform="pandas")), ("model", NMURegressor())]
    )
    pipeline.set_params(model__max_steps=2000, model__random_state=0)
    pipeline.fit(shop, shop.price * shop.qty)
    assert pipeline[-1].formula_ == "price*qty"
    assert list(pipeline[-1].feature_names_in_) == ["price", "qty"]
