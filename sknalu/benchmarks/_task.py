"""The arithmetic benchmark task: sums of two overlapping subsets, then one operation.

Madsen & Johansen (2020, section 4.1), "static function task": an input vector
``x`` of ``input_size`` values drawn iid from a range, two subsets of
``subset_size`` consecutive indices that overlap by ``overlap`` indices,

``a = Σ x[o : o + s]``,  ``b = Σ x[o + s - v : o + 2s - v]``,

and the target ``t = a op b``. The offset ``o`` is drawn once per seed. Models are
trained on one range (interpolation) and tested on another (extrapolation).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field

import numpy as np
from sklearn.utils import check_random_state

from ._support import check_count

__all__ = [
    "DEFAULT_RANGE",
    "OPS",
    "RANGES",
    "ArithmeticTask",
    "RangePair",
    "ValueRange",
    "check_op",
]

#: The task's operations: name → symbol. ``square`` is ``a²`` and ``sqrt`` is ``√a``.
OPS: dict[str, str] = {
    "add": "+",
    "sub": "−",
    "mul": "×",
    "div": "÷",
    "square": "a²",
    "sqrt": "√a",
}
#: Other spellings accepted for the operations.
_OP_ALIASES = {
    "+": "add",
    "-": "sub",
    "−": "sub",
    "*": "mul",
    "×": "mul",
    "/": "div",
    "÷": "div",
    "a²": "square",
    "a^2": "square",
    "√a": "sqrt",
}


def check_op(op: str) -> str:
    """The canonical name of an operation, from its name or symbol.

    Parameters
    ----------
    op : str
        A key of :data:`OPS` (``"add"``, ...) or a symbol (``"+"``, ``"*"``, ``"/"``).

    Returns
    -------
    str
        The key of :data:`OPS`.

    Examples
    --------
    >>> check_op("*"), check_op("sub")
    ('mul', 'sub')
    """
    if isinstance(op, str):
        op = _OP_ALIASES.get(op.strip(), op.strip())
        if op in OPS:
            return op
    raise ValueError(f"unknown operation {op!r}; choose from {', '.join(OPS)}.")


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_INTERVAL = re.compile(rf"^\s*U\s*\[\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\]\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ValueRange:
    """The uniform distribution on a union of disjoint intervals.

    A value is drawn uniformly from the union: an interval is picked with
    probability proportional to its length, then a value uniformly inside it.

    Parameters
    ----------
    intervals : tuple of (float, float)
        The ``(low, high)`` bounds of each interval, ``low < high``; kept sorted.

    Examples
    --------
    >>> r = ValueRange.parse("U[-6,-2] ∪ U[2,6]")
    >>> r.intervals, str(r)
    (((-6.0, -2.0), (2.0, 6.0)), 'U[-6,-2]∪U[2,6]')
    >>> x = r.sample((1000,), random_state=0)
    >>> bool(np.all((np.abs(x) >= 2) & (np.abs(x) <= 6)))
    True
    """

    intervals: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        try:
            intervals = tuple(sorted((float(lo), float(hi)) for lo, hi in self.intervals))
        except (TypeError, ValueError):
            raise ValueError(
                f"intervals must be pairs (low, high) of numbers, got {self.intervals!r}."
            ) from None
        if not intervals:
            raise ValueError("a value range needs at least one interval.")
        for lo, hi in intervals:
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"an interval needs finite bounds low < high, got ({lo}, {hi}).")
        for (_, hi), (lo, _) in itertools.pairwise(intervals):
            if lo < hi:
                raise ValueError(f"the intervals of a value range must not overlap: {intervals}.")
        object.__setattr__(self, "intervals", intervals)

    @classmethod
    def parse(cls, text: str) -> ValueRange:
        """A range from its name, e.g. ``"U[1,2]"`` or ``"U[-6,-2]∪U[2,6]"``.

        ``|`` may stand for ``∪``.
        """
        intervals = []
        for part in re.split(r"[∪|]", text):
            match = _INTERVAL.match(part)
            if match is None:
                raise ValueError(
                    f"cannot read the value range {text!r}; write it as U[low,high], "
                    "or a union such as U[-6,-2]∪U[2,6] (| also works for ∪)."
                )
            intervals.append((float(match[1]), float(match[2])))
        return cls(tuple(intervals))

    @property
    def low(self) -> float:
        """The smallest value of the range."""
        return self.intervals[0][0]

    @property
    def high(self) -> float:
        """The largest value of the range."""
        return self.intervals[-1][1]

    def __str__(self) -> str:
        return "∪".join(f"U[{lo:g},{hi:g}]" for lo, hi in self.intervals)

    def sample(self, size, random_state=None) -> np.ndarray:
        """Draw values of the given shape from the range.

        Parameters
        ----------
        size : int or tuple of int
            Shape of the result.
        random_state : int, RandomState instance or None, default=None
            Seed of the draw.

        Returns
        -------
        ndarray of float64
            The values.
        """
        rng = check_random_state(random_state)
        lows = np.array([lo for lo, _ in self.intervals])
        lengths = np.array([hi - lo for lo, hi in self.intervals])
        # One uniform draw on the concatenated lengths, then mapped back into the
        # interval it falls in: uniform on the union with a single random number.
        u = rng.uniform(0.0, lengths.sum(), size=size)
        if len(lengths) == 1:
            return u + lows[0]
        starts = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
        which = np.searchsorted(starts, u, side="right") - 1
        return u - starts[which] + lows[which]


@dataclass(frozen=True)
class RangePair:
    """A training (interpolation) range and a test (extrapolation) range.

    Parameters
    ----------
    train : ValueRange
        Where the training and validation inputs are drawn.
    test : ValueRange
        Where the test inputs are drawn.

    Examples
    --------
    >>> pair = RangePair.parse("U[-2,2]->U[-6,-2]∪U[2,6]")
    >>> pair.train.intervals, pair.test.intervals
    (((-2.0, 2.0),), ((-6.0, -2.0), (2.0, 6.0)))
    >>> str(pair)
    'U[-2,2]->U[-6,-2]∪U[2,6]'
    """

    train: ValueRange
    test: ValueRange

    @classmethod
    def parse(cls, text: str) -> RangePair:
        """A pair from its name, ``"TRAIN->TEST"``, e.g. ``"U[1,2]->U[2,6]"``."""
        if not isinstance(text, str) or text.count("->") != 1:
            raise ValueError(
                f"cannot read the range pair {text!r}; write it as TRAIN->TEST, "
                "e.g. U[1,2]->U[2,6]."
            )
        train, test = text.split("->")
        return cls(ValueRange.parse(train), ValueRange.parse(test))

    @property
    def name(self) -> str:
        """The canonical name, ``"TRAIN->TEST"``."""
        return str(self)

    def __str__(self) -> str:
        return f"{self.train}->{self.test}"


#: The nine ranges of Mistry et al. (2021), train → test, by name.
RANGES: dict[str, RangePair] = {
    str(pair): pair
    for pair in map(
        RangePair.parse,
        [
            "U[-20,-10]->U[-40,-20]",
            "U[-2,-1]->U[-6,-2]",
            "U[-1.2,-1.1]->U[-6.1,-1.2]",
            "U[-0.2,-0.1]->U[-2,-0.2]",
            "U[-2,2]->U[-6,-2]∪U[2,6]",
            "U[0.1,0.2]->U[0.2,2]",
            "U[1,2]->U[2,6]",
            "U[1.1,1.2]->U[1.2,6]",
            "U[10,20]->U[20,40]",
        ],
    )
}
#: The range of Madsen & Johansen (2020), the one their published numbers use.
DEFAULT_RANGE = "U[1,2]->U[2,6]"


@dataclass(frozen=True)
class ArithmeticTask:
    """One instance of the task: an operation and where its two subsets lie.

    Parameters
    ----------
    op : str, default="mul"
        The operation, a key of :data:`OPS` or its symbol.
    input_size : int, default=100
        Length of the input vector.
    subset_size : int, default=25
        Length of each of the two subsets.
    overlap : int, default=12
        Number of indices the two subsets share.
    offset : int, default=0
        First index of ``a``; at most :attr:`max_offset`.

    Attributes
    ----------
    a_slice, b_slice : slice
        The indices summed into ``a`` and ``b``.

    Examples
    --------
    >>> task = ArithmeticTask("add", offset=3)
    >>> task.a_slice, task.b_slice, task.max_offset
    (slice(3, 28, None), slice(16, 41, None), 62)
    >>> X, y = task.sample(5, "U[1,2]", random_state=0)
    >>> X.shape, bool(np.allclose(y, X[:, 3:28].sum(1) + X[:, 16:41].sum(1)))
    ((5, 100), True)
    """

    op: str = "mul"
    input_size: int = 100
    subset_size: int = 25
    overlap: int = 12
    offset: int = 0
    a_slice: slice = field(init=False, repr=False, compare=False)
    b_slice: slice = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # the dataclass is frozen: set derived fields once
        set_(self, "op", check_op(self.op))
        for name, minimum in (("input_size", 1), ("subset_size", 1), ("overlap", 0)):
            set_(self, name, check_count("ArithmeticTask", name, getattr(self, name), minimum))
        if self.overlap > self.subset_size:
            raise ValueError(
                f"overlap ({self.overlap}) cannot exceed subset_size ({self.subset_size})."
            )
        span = 2 * self.subset_size - self.overlap
        if span > self.input_size:
            raise ValueError(
                f"two subsets of {self.subset_size} overlapping by {self.overlap} span {span} "
                f"indices, more than input_size={self.input_size}."
            )
        offset = check_count("ArithmeticTask", "offset", self.offset, 0)
        if offset > self.max_offset:
            raise ValueError(f"offset must be at most {self.max_offset}, got {offset}.")
        set_(self, "offset", offset)
        b_start = offset + self.subset_size - self.overlap
        set_(self, "a_slice", slice(offset, offset + self.subset_size))
        set_(self, "b_slice", slice(b_start, b_start + self.subset_size))

    @property
    def max_offset(self) -> int:
        """The largest offset at which both subsets fit in the input."""
        return self.input_size - (2 * self.subset_size - self.overlap)

    @classmethod
    def draw(
        cls,
        op: str = "mul",
        random_state=None,
        *,
        input_size: int = 100,
        subset_size: int = 25,
        overlap: int = 12,
    ) -> ArithmeticTask:
        """A task whose offset is drawn uniformly from ``0 .. max_offset``.

        Parameters
        ----------
        op : str, default="mul"
            The operation.
        random_state : int, RandomState instance or None, default=None
            Seed of the offset.
        input_size, subset_size, overlap : int
            As in the class.

        Returns
        -------
        ArithmeticTask
            The task.

        Examples
        --------
        >>> offsets = {ArithmeticTask.draw("add", seed).offset for seed in range(200)}
        >>> min(offsets), max(offsets)
        (0, 62)
        """
        sizes = cls(op, input_size=input_size, subset_size=subset_size, overlap=overlap)
        rng = check_random_state(random_state)
        offset = int(rng.randint(0, sizes.max_offset + 1))
        return cls(
            op, input_size=input_size, subset_size=subset_size, overlap=overlap, offset=offset
        )

    def ab(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The two subset sums ``a`` and ``b`` of every row of ``X``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, input_size)
            Inputs.

        Returns
        -------
        a, b : ndarray of shape (n_samples,)
            The sums over the two subsets.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.input_size:
            raise ValueError(f"X must have shape (n, {self.input_size}), got {X.shape}.")
        return X[:, self.a_slice].sum(axis=1), X[:, self.b_slice].sum(axis=1)

    def target(self, X: np.ndarray) -> np.ndarray:
        """The target ``a op b`` of every row of ``X``, of shape (n_samples,).

        ``X`` is as for :meth:`ab`.
        """
        a, b = self.ab(X)
        return apply_op(self.op, a, b)

    def sample(
        self, n_samples: int, value_range: ValueRange | str, random_state=None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw inputs from a range and compute their targets.

        Parameters
        ----------
        n_samples : int
            Number of rows.
        value_range : ValueRange or str
            Where every input value is drawn, e.g. ``"U[1,2]"``.
        random_state : int, RandomState instance or None, default=None
            Seed of the draw.

        Returns
        -------
        X : ndarray of shape (n_samples, input_size)
            Inputs.
        y : ndarray of shape (n_samples,)
            Targets.
        """
        n_samples = check_count("ArithmeticTask.sample", "n_samples", n_samples, 1)
        if isinstance(value_range, str):
            value_range = ValueRange.parse(value_range)
        if self.op == "sqrt" and value_range.low < 0:
            raise ValueError(
                f"the operation 'sqrt' needs a range without negative values, got {value_range}."
            )
        X = value_range.sample((n_samples, self.input_size), random_state)
        return X, self.target(X)


def apply_op(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a op b`` for an operation name of :data:`OPS`.

    Parameters
    ----------
    op : str
        A key of :data:`OPS`.
    a, b : ndarray
        The operands; ``b`` is unused by a² and √a.

    Returns
    -------
    ndarray
        ``a op b``.

    Examples
    --------
    >>> apply_op("div", np.array([3.0]), np.array([2.0]))
    array([1.5])
    """
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "div":
        return a / b
    if op == "square":
        return a * a
    if op == "sqrt":
        return np.sqrt(a)
    raise ValueError(f"unknown operation {op!r}; choose from {', '.join(OPS)}.")
