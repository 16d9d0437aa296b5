"""Reading a network back as a formula.

- ``_reader``: :class:`FormulaReader`, which the units use to write themselves as
  sympy expressions, and :func:`network_formula`;
- ``_estimator``: the estimators' formula methods and attributes (``formula_``,
  ``to_sympy``, ``formula_exact_``).
"""
