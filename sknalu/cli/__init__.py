"""The ``sknalu`` command line."""

from __future__ import annotations

import argparse
import sys
import time

from ._fit import add_fit_command
from ._predict import add_predict_command


def _demo(args: argparse.Namespace) -> int:
    from ._demo import TEST_RANGE, TRAIN_RANGE, run_demo

    start = time.perf_counter()
    print(
        f"Training on inputs in U{list(TRAIN_RANGE)}, testing on U{list(TRAIN_RANGE)} "
        f"(interpolation) and U{list(TEST_RANGE)} (extrapolation).\n"
        "Errors are median relative errors |prediction - truth| / |truth|.\n"
    )
    table = run_demo(n_samples=args.n_samples, random_state=args.random_state)
    formats = {
        "interpolation": "{:.2e}".format,
        "extrapolation": "{:.2e}".format,
        "fit seconds": "{:.1f}".format,
    }
    print(table.to_string(index=False, formatters=formats))
    print(f"\nTotal time: {time.perf_counter() - start:.1f} s")
    return 0


def _add_demo(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="fit the arithmetic units and an MLP on built-in data, compare extrapolation",
        description="Fit NMURegressor, NALURegressor and MLPRegressor on built-in "
        "arithmetic data and print their interpolation and extrapolation errors.",
    )
    p.add_argument("--n-samples", type=int, default=2000, help="rows per data set")
    p.add_argument("--random-state", type=int, default=0, help="seed of data and models")
    p.set_defaults(func=_demo)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sknalu`` command."""
    parser = argparse.ArgumentParser(
        prog="sknalu", description="Neural arithmetic units as scikit-learn estimators."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for add in COMMANDS:
        add(subparsers)
    return parser


def _add_benchmark(subparsers) -> None:
    from ._benchmark import add_benchmark_command

    add_benchmark_command(subparsers)


#: Functions that add one sub-command each to the parser.
COMMANDS = [_add_demo, add_fit_command, add_predict_command, _add_benchmark]


def main(argv: list[str] | None = None) -> int:
    """Run the ``sknalu`` command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
