"""``units="auto"``: from a table to the structure of its formula.

- ``_closed_form``: formulas found in closed form by least squares (products of
  powers, sums and ratios of them);
- ``_layout``: writing such a formula into a network of the estimator's units;
- ``_auto``: the search an estimator runs (:func:`fit_auto`), which fits the best
  structures and keeps one.
"""
