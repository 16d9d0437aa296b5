"""The ``sknalu benchmark`` command."""

from __future__ import annotations

import argparse
import contextlib
import time
from typing import Any

from ..benchmarks import (
    DEFAULT_RANGE,
    FORMULA_COLLECTIONS,
    FORMULA_MODELS,
    MODELS,
    OPS,
    RANGES,
    formula_collection,
    measure_speed,
    parse_param,
    run_benchmark,
    run_formulas,
    run_operations,
    summarize_formulas,
    summarize_operations,
    write_report,
)
from ..benchmarks._support import SCHEDULER_WAIT, SchedulerUnreachable, on_scheduler
from ._common import InputError, reports_input_errors

__all__ = ["PARSER", "QUICK_PROFILE", "add_arguments", "run"]

#: ``--quick``: small enough for continuous integration (well under a minute on two
#: cores): NAU on +, NMU on ×, two seeds, few steps, few rows.
QUICK_PROFILE: dict[str, Any] = {
    "ops": ["add", "mul"],
    "models": {"add": ["nau"], "mul": ["nmu"]},
    "seeds": 2,
    "params": {"max_steps": 3000},
    "n_train": 2000,
    "n_valid": 1000,
    "n_test": 1000,
    "threshold_samples": 100_000,
}

_DEFAULTS: dict[str, Any] = {
    "ops": ["add", "sub", "mul"],
    "models": None,
    "seeds": 10,
    "params": {},
    "n_train": 20_000,
    "n_valid": 10_000,
    "n_test": 10_000,
    "threshold_samples": 1_000_000,
}


def _seeds(text: str):
    """``N`` (seeds 0 .. N-1), ``A-B`` (A .. B) or ``A,B,C``."""
    try:
        if "," in text:
            return [int(s) for s in text.split(",")]
        if "-" in text.strip("-"):
            first, last = (int(s) for s in text.split("-"))
            if last < first:
                raise ValueError
            return list(range(first, last + 1))
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"seeds must be a count N, a range A-B or a list A,B,C; got {text!r}"
        ) from None


def _fraction(text: str) -> float:
    try:
        value = float(text)
        if not value >= 0:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"noise must be a fraction of at least 0, got {text!r}"
        ) from None
    return value


def _param(text: str):
    try:
        return parse_param(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_DTYPE_HELP = "floating-point type of the hand-written loop and of the fit (default: float64)"


def _run_speed(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    table = measure_speed(
        n_steps=args.speed_steps,
        restarts=tuple(args.speed_restarts),
        device=args.device,
        repeats=args.speed_repeats,
        dtype=args.dtype,
    )
    return _write_table(table, table, args.output_dir, "speed", start)


def _write_table(results, table, output_dir: str, stem: str, start: float) -> int:
    """Write ``results`` as CSV and ``table`` as text under ``output_dir``; print them."""
    from pathlib import Path

    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    results.to_csv(directory / f"{stem}.csv", index=False)
    text = table.to_string(index=False, float_format=lambda v: f"{v:.3g}")
    (directory / f"{stem}.txt").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"Wrote {directory / f'{stem}.csv'} and {directory / f'{stem}.txt'}.")
    print(f"Total time: {time.perf_counter() - start:.1f} s")
    return 0


def _run_operations(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    try:
        results = run_operations(
            ops=args.ops or list(OPS),
            models=args.models or ["npu"],
            seeds=args.seeds if args.seeds is not None else 10,
            value_range=(args.ranges or [DEFAULT_RANGE])[0],
            params=dict(args.param or []),
            n_train=args.n_train or 2000,
            n_test=args.n_test or 2000,
            n_jobs=args.n_jobs or 1,
        )
    except ValueError as exc:
        args.parser.error(str(exc))
    return _write_table(
        results, summarize_operations(results), args.output_dir, "operations", start
    )


def _run_formulas(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    try:
        results = run_formulas(
            formulas=args.formulas or formula_collection(args.collection),
            models=args.models or ["nmu_auto", "nalu_auto", "linear", "mlp"],
            seeds=args.seeds if args.seeds is not None else 2,
            noise=args.noise or 0.0,
            params=dict(args.param or []),
            n_train=args.n_train or 1000,
            n_test=args.n_test or 1000,
            n_jobs=args.n_jobs or 1,
        )
    except (ValueError, ImportError) as exc:
        args.parser.error(str(exc))
    return _write_table(results, summarize_formulas(results), args.output_dir, "formulas", start)


def _on_scheduler(args: argparse.Namespace, stack: contextlib.ExitStack) -> None:
    """With ``--scheduler``, run the suite's fits there; fail at once if it is not there."""
    if args.scheduler is None:
        return
    try:
        stack.enter_context(on_scheduler(args.scheduler, args.scheduler_wait))
    except (SchedulerUnreachable, ImportError) as exc:
        raise InputError(str(exc)) from None
    if args.n_jobs is None:
        args.n_jobs = -1  # all the cluster's worker threads


@reports_input_errors("benchmark")
def run(args: argparse.Namespace) -> int:
    if args.speed:
        if args.scheduler is not None:
            args.parser.error("--speed measures this machine: --scheduler does not apply")
        return _run_speed(args)
    with contextlib.ExitStack() as stack:
        _on_scheduler(args, stack)
        if args.suite == "operations":
            return _run_operations(args)
        if args.suite == "formulas":
            return _run_formulas(args)
        return _run_task(args)


def _run_task(args: argparse.Namespace) -> int:
    """The 100-input task of the paper (``--suite task``)."""
    settings = dict(_DEFAULTS)
    if args.quick:
        settings.update(QUICK_PROFILE)
    for name in ("ops", "models", "seeds", "n_train", "n_valid", "n_test", "threshold_samples"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    settings["params"] = {**settings["params"], **dict(args.param or [])}
    ranges = args.ranges or [DEFAULT_RANGE]
    if "all" in ranges:
        ranges = list(RANGES)

    start = time.perf_counter()
    try:
        results = run_benchmark(
            ranges=ranges,
            n_jobs=args.n_jobs,
            verbose=args.verbose,
            **settings,
        )
    except ValueError as exc:
        args.parser.error(str(exc))
    paths = write_report(results, args.output_dir)
    print(paths["markdown"].read_text(encoding="utf-8"))
    print(f"Wrote {paths['csv']} and {paths['markdown']}.")
    print(f"Total time: {time.perf_counter() - start:.1f} s")
    return 0


#: How ``sknalu benchmark`` presents itself in the command line's help.
PARSER = {
    "help": "run the arithmetic benchmark of the NAU/NMU paper",
    "description": "Run the static arithmetic task of Madsen & Johansen (2020) over "
    "operations, models, ranges and seeds; write results.csv and summary.md "
    "(success rates, solved-at steps, sparsity errors beside the published "
    "numbers).",
    "epilog": "examples:\n"
    "  sknalu benchmark --quick\n"
    "  sknalu benchmark --suite operations --seeds 10\n"
    "  sknalu benchmark --suite formulas --models nmu_auto linear gplearn --n-jobs 2\n"
    "  sknalu benchmark --suite formulas --collection functions --models nalu_auto\n"
    "  sknalu benchmark --ops mul --models nmu nac_mul --seeds 20 --n-jobs 2 \\\n"
    "      --param max_steps=50000\n"
    "  sknalu benchmark --ranges all --ops add --scheduler tcp://host:8786",
    "formatter_class": argparse.RawDescriptionHelpFormatter,
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments of ``sknalu benchmark`` to its parser ``p``."""
    _add_suite_arguments(p)
    _add_task_arguments(p)
    _add_run_arguments(p)
    _add_speed_arguments(p)


def _add_suite_arguments(p: argparse.ArgumentParser) -> None:
    """``--suite`` and the options of the formulas suite."""
    p.add_argument(
        "--suite",
        choices=("task", "operations", "formulas"),
        default="task",
        help="task: the 100-input task (default); operations: each operation on two "
        "inputs a and b, 2000 rows, scored on whether the formula read back is the "
        "true one (default models: npu, i.e. NALURegressor()); formulas: formulas "
        "of physics, engineering, finance and geometry (see --collection), 1000 rows, "
        "scored on whether the formula read back is exact and on extrapolation "
        "(default models: nmu_auto nalu_auto linear mlp; writes formulas.csv and "
        "formulas.txt, with the median and largest fit times and the median fit time "
        "of the fits that are not exact)",
    )
    sizes = ", ".join(f"{name}: {len(f)}" for name, f in FORMULA_COLLECTIONS.items())
    p.add_argument(
        "--collection",
        choices=(*FORMULA_COLLECTIONS, "all"),
        default="textbook",
        help="--suite formulas: the formulas to run (default: textbook); textbook: "
        "+ - * / and integer powers; algebraic: long polynomials, squared differences, "
        "ratios of polynomials and roots (nmu_auto is not asked for the roots); "
        f"functions: exp, log, sin, cos, tanh, asin ... ({sizes} formulas)",
    )
    p.add_argument(
        "--formulas",
        nargs="+",
        metavar="NAME",
        help="--suite formulas: the formulas to run, by name, of any collection "
        "(default: those of --collection)",
    )
    p.add_argument(
        "--noise",
        type=_fraction,
        metavar="FRACTION",
        help="--suite formulas: Gaussian noise on the training target, with a standard "
        "deviation of FRACTION times the target's root mean square (default: 0)",
    )


def _add_task_arguments(p: argparse.ArgumentParser) -> None:
    """What to run: operations, models, ranges, seeds and estimator parameters."""
    p.add_argument(
        "--ops",
        nargs="+",
        metavar="OP",
        help=f"operations, of {', '.join(OPS)} (default: add sub mul)",
    )
    p.add_argument(
        "--models",
        nargs="+",
        metavar="MODEL",
        help=f"models, of {', '.join(MODELS)} (default: the papers' models of each op); "
        f"with --suite formulas, of {', '.join(FORMULA_MODELS)}",
    )
    p.add_argument(
        "--ranges",
        nargs="+",
        metavar="RANGE",
        help=f"TRAIN->TEST ranges such as '{DEFAULT_RANGE}' or 'U[-2,2]->U[-6,-2]|U[2,6]' "
        f"(quote them; | is ∪), or 'all' for the nine of Mistry et al. "
        f"(default: {DEFAULT_RANGE})",
    )
    p.add_argument(
        "--seeds",
        type=_seeds,
        help="N (seeds 0..N-1), A-B or A,B,C (default: 10; --suite formulas: 2)",
    )
    p.add_argument(
        "--param",
        action="append",
        type=_param,
        metavar="[MODEL.]NAME=VALUE",
        help="an estimator parameter for every model that has it, or for one model; "
        "repeatable (e.g. max_steps=50000, nmu.n_restarts=1)",
    )


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    """How to run: parallel fits, where results go, rows, the CI profile, progress."""
    p.add_argument("--n-jobs", type=int, help="fits at once (default: 1; all with --scheduler)")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="dask.distributed scheduler to run the fits of any suite on (tcp://host:8786); "
        "the command ends with an error if it does not answer",
    )
    p.add_argument(
        "--scheduler-wait",
        type=float,
        default=SCHEDULER_WAIT,
        metavar="SECONDS",
        help=f"how long to wait for --scheduler to answer (default: {SCHEDULER_WAIT:g})",
    )
    p.add_argument(
        "--output-dir",
        default="benchmark-results",
        help="where results.csv and summary.md go (--suite operations or formulas: "
        "SUITE.csv and SUITE.txt)",
    )
    p.add_argument(
        "--n-train",
        type=int,
        help="training rows per seed (default: 20000; --suite formulas: 1000)",
    )
    p.add_argument("--n-valid", type=int, help="validation rows per seed (default: 10000)")
    p.add_argument(
        "--n-test", type=int, help="test rows per seed (default: 10000; --suite formulas: 1000)"
    )
    p.add_argument(
        "--threshold-samples",
        type=int,
        help="Monte-Carlo samples of the success threshold (default: 1000000)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a profile small enough for CI: + and ×, NAU and NMU, 2 seeds, 3000 steps "
        "(options given explicitly still apply)",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="--suite task: joblib's progress lines (on a terminal a progress bar counts "
        "the fits of every suite anyway; in a file or pipe nothing is drawn)",
    )


def _add_speed_arguments(p: argparse.ArgumentParser) -> None:
    """``--speed`` and its options, in a group of their own."""
    speed = p.add_argument_group(
        "training speed",
        "--speed measures optimiser steps per second of NMURegressor against a "
        "hand-written torch loop and plain skorch instead of running the task",
    )
    speed.add_argument("--speed", action="store_true", help="measure training speed")
    speed.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    dtypes = ("float64", "float32")
    speed.add_argument("--dtype", choices=dtypes, default=dtypes[0], help=_DTYPE_HELP)
    speed.add_argument(
        "--speed-steps", type=int, default=3000, help="steps per measurement (default: 3000)"
    )
    speed.add_argument(
        "--speed-restarts",
        type=int,
        nargs="+",
        default=[1, 8, 32],
        metavar="K",
        help="n_restarts values to time (default: 1 8 32)",
    )
    speed.add_argument(
        "--speed-repeats", type=int, default=5, help="repeats, median kept (default: 5)"
    )
