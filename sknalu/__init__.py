"""sknalu: neural arithmetic units as scikit-learn estimators.

Networks of neural arithmetic units (NAC, NALU, NAU, NMU and later units) learn
the arithmetic relation between numeric features (+, -, ×, ÷) and so extrapolate
far beyond the range they were trained on.
"""

from ._estimators import NALURegressor, NMURegressor
from ._network import ArithmeticNetwork
from ._persistence import load_model, save_model

__version__ = "0.1.0"

__all__ = [
    "ArithmeticNetwork",
    "NALURegressor",
    "NMURegressor",
    "__version__",
    "load_model",
    "save_model",
]
