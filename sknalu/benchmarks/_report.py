"""Summaries of benchmark results, beside the published numbers."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ._metrics import wilson_interval
from ._models import MODELS
from ._task import DEFAULT_RANGE, OPS

__all__ = ["PAPER_RESULTS", "summarize", "to_markdown", "write_report"]

_MIXED_RANGE = "U[-2,2]->U[-6,-2]∪U[2,6]"


def _paper(success: str, solved_at: str = "–", sparsity_error: str = "–") -> dict[str, str]:
    return {"success": success, "solved_at": solved_at, "sparsity_error": sparsity_error}


#: Madsen & Johansen (2020), table 1 and section 4.1: 100 seeds of 5,000,000 steps
#: each, one model per seed; success with its 95% Wilson interval, median solved-at
#: step and mean sparsity error of the solved seeds. Keyed by (op, model, range).
PAPER_RESULTS: dict[tuple[str, str, str], dict[str, str]] = {
    ("mul", "nmu", DEFAULT_RANGE): _paper("98% (+1/-5)", "1.4e6", "4.2e-7"),
    ("mul", "nac_mul", DEFAULT_RANGE): _paper("31% (+10/-8)", "2.8e6", "5.8e-4"),
    ("mul", "nalu", DEFAULT_RANGE): _paper("0%"),
    ("add", "nau", DEFAULT_RANGE): _paper("100% (+0/-4)", "1.8e4", "3.2e-5"),
    ("add", "nac", DEFAULT_RANGE): _paper("100%", "2.5e5", "2.3e-1"),
    ("add", "linear", DEFAULT_RANGE): _paper("100%", "6.1e4", "2.5e-1"),
    ("add", "nalu", DEFAULT_RANGE): _paper("14%", "1.5e6", "1.7e-1"),
    ("sub", "nau", DEFAULT_RANGE): _paper("100% (+0/-4)", "5.0e3", "6.6e-2"),
    ("sub", "nac", DEFAULT_RANGE): _paper("100%", "9.0e3", "2.3e-1"),
    ("sub", "linear", DEFAULT_RANGE): _paper("7%", "3.3e6", "1.8e-1"),
    ("sub", "nalu", DEFAULT_RANGE): _paper("14%", "1.9e6", "2.1e-1"),
    **{
        ("div", model, DEFAULT_RANGE): _paper("0%")
        for model in ("nmu", "nau", "nac", "nac_mul", "nalu", "linear")
    },
    # "Only the NMU succeeds (about 78%)" on the mixed-sign range.
    ("mul", "nmu", _MIXED_RANGE): _paper("~78%"),
}

_SUMMARY_COLUMNS = [
    "op",
    "model",
    "range",
    "seeds",
    "threshold",
    "successes",
    "success_rate",
    "success_low",
    "success_high",
    "solved_at_median",
    "sparsity_error_mean",
    "fit_time_median",
    "n_steps",
    "n_restarts",
    "paper_success",
    "paper_solved_at",
    "paper_sparsity_error",
]


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """One row per operation, model and range, with the papers' statistics.

    As in Madsen & Johansen (2020), the solved-at step and the sparsity error are
    summarised over the seeds that succeeded only: the median step at which they
    were first solved and the mean sparsity error of their kept networks.

    Parameters
    ----------
    results : DataFrame
        The output of :func:`~sknalu.benchmarks.run_benchmark` (or its CSV).

    Returns
    -------
    DataFrame
        Columns ``op, model, range, seeds, threshold, successes, success_rate,
        success_low, success_high`` (95% Wilson interval), ``solved_at_median,
        sparsity_error_mean, fit_time_median, n_steps, n_restarts`` and the published
        ``paper_success, paper_solved_at, paper_sparsity_error`` where there are any.

    Examples
    --------
    >>> import numpy as np
    >>> results = pd.DataFrame({
    ...     "op": "add", "model": "nau", "range": "U[1,2]->U[2,6]", "seed": [0, 1],
    ...     "threshold": 1e-5, "success": [True, False], "solved_at": [1500.0, np.nan],
    ...     "sparsity_error": [1e-6, 0.3], "fit_time": [2.0, 4.0], "n_steps": 5000,
    ...     "n_restarts": 8})
    >>> summary = summarize(results)
    >>> summary.loc[0, ["success_rate", "solved_at_median", "sparsity_error_mean"]].tolist()
    [0.5, 1500.0, 1e-06]
    >>> summary.loc[0, "paper_success"]
    '100% (+0/-4)'
    """
    missing = {"op", "model", "range", "seed", "success"} - set(results.columns)
    if missing:
        raise ValueError(f"results lack the columns {sorted(missing)}.")
    rows = []
    for (op, model, range_), group in results.groupby(["op", "model", "range"], sort=False):
        solved = group[group["success"].astype(bool)]
        n, k = len(group), len(solved)
        low, high = wilson_interval(k, n)
        paper = PAPER_RESULTS.get((op, model, range_), {})
        rows.append(
            {
                "op": op,
                "model": model,
                "range": range_,
                "seeds": n,
                "threshold": group["threshold"].iloc[0],
                "successes": k,
                "success_rate": k / n,
                "success_low": low,
                "success_high": high,
                "solved_at_median": solved["solved_at"].median() if k else math.nan,
                "sparsity_error_mean": solved["sparsity_error"].mean() if k else math.nan,
                "fit_time_median": group["fit_time"].median(),
                "n_steps": group["n_steps"].max(),
                "n_restarts": group["n_restarts"].max(),
                "paper_success": paper.get("success", ""),
                "paper_solved_at": paper.get("solved_at", ""),
                "paper_sparsity_error": paper.get("sparsity_error", ""),
            }
        )
    return pd.DataFrame(rows, columns=_SUMMARY_COLUMNS)


def _sci(value: float) -> str:
    """``1.4e6`` / ``3.2e-5``: the papers' notation; a dash for no value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _success(rate: float, low: float, high: float) -> str:
    pct = round(100 * rate)
    return f"{pct}% (+{round(100 * high) - pct}/-{pct - round(100 * low)})"


#: The columns of the markdown table.
_HEADER = [
    "op",
    "model",
    "range",
    "seeds",
    "threshold",
    "success",
    "paper",
    "solved at",
    "paper",
    "sparsity error",
    "paper",
    "fit s",
    "steps",
    "restarts",
]

#: The report's title and what its columns mean, before the table.
_INTRODUCTION = [
    "# sknalu arithmetic benchmark",
    "",
    "The static function task of Madsen & Johansen (2020): t = a op b, with a and b",
    "sums of two overlapping subsets of the input. Success: test (extrapolation) MSE",
    "at the model-selection step (lowest validation MSE) below the threshold; rates",
    "with their 95% Wilson interval. Solved at: median over the seeds that succeeded",
    "of the first evaluated step below the threshold. Sparsity error: mean over the",
    "seeds that succeeded. Fit s: median fit time in seconds.",
    "",
    "Paper: Madsen & Johansen (2020), 100 seeds of 5,000,000 steps, one model per",
    "seed. Our runs use the settings below, usually far fewer steps: compare success",
    "rates and sparsity errors, not solved-at steps.",
    "",
]


def to_markdown(summary: pd.DataFrame, config: dict | None = None) -> str:
    """A markdown report of a summary, beside the published numbers.

    Parameters
    ----------
    summary : DataFrame
        The output of :func:`summarize`.
    config : dict or None, default=None
        Settings of the run (``results.attrs["config"]``), listed under the table.

    Returns
    -------
    str
        The report.

    Examples
    --------
    >>> summary = pd.DataFrame([{
    ...     "op": "mul", "model": "nmu", "range": "U[1,2]->U[2,6]", "seeds": 10,
    ...     "threshold": 0.16, "successes": 9, "success_rate": 0.9, "success_low": 0.596,
    ...     "success_high": 0.982, "solved_at_median": 12000.0, "sparsity_error_mean": 2e-7,
    ...     "fit_time_median": 31.4, "n_steps": 50000, "n_restarts": 8,
    ...     "paper_success": "98% (+1/-5)", "paper_solved_at": "1.4e6",
    ...     "paper_sparsity_error": "4.2e-7"}])
    >>> cells = to_markdown(summary).splitlines()[-1].split(" | ")
    >>> cells[1:5]
    ['NMU', 'U[1,2]->U[2,6]', '10', '1.6e-1']
    >>> cells[5:11]
    ['90% (+8/-30)', '98% (+1/-5)', '1.2e4', '1.4e6', '2.0e-7', '4.2e-7']
    """
    lines = [*_INTRODUCTION, "| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    lines += [_table_row(row) for row in summary.itertuples(index=False)]
    if config:
        lines += _settings_section(config)
    return "\n".join(lines) + "\n"


def _table_row(row) -> str:
    """A row of :func:`summarize` as a line of the markdown table."""
    cells = [
        OPS.get(row.op, row.op),
        MODELS[row.model].name if row.model in MODELS else row.model,
        row.range,
        str(row.seeds),
        _sci(row.threshold),
        _success(row.success_rate, row.success_low, row.success_high),
        row.paper_success,
        _sci(row.solved_at_median),
        row.paper_solved_at,
        _sci(row.sparsity_error_mean),
        row.paper_sparsity_error,
        f"{row.fit_time_median:.1f}",
        _sci(float(row.n_steps)),
        str(row.n_restarts),
    ]
    return "| " + " | ".join(cells) + " |"


def _settings_section(config: dict) -> list[str]:
    """The settings of a run (``results.attrs["config"]``) as a markdown section."""
    lines = ["", "## Settings", ""]
    for key, value in config.items():
        if key == "models":
            for model, params in value.items():
                shown = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "defaults"
                lines.append(f"- {MODELS[model].name}: {shown}")
        else:
            lines.append(f"- {key}: {value}")
    lines.append("- every other estimator parameter: its default")
    return lines


def write_report(results: pd.DataFrame, directory: str | Path) -> dict[str, Path]:
    """Write the results as CSV and their summary as markdown.

    Parameters
    ----------
    results : DataFrame
        The output of :func:`~sknalu.benchmarks.run_benchmark`.
    directory : str or Path
        Created if needed; ``results.csv`` and ``summary.md`` are written in it.

    Returns
    -------
    dict
        ``{"csv": path, "markdown": path}``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"csv": directory / "results.csv", "markdown": directory / "summary.md"}
    results.to_csv(paths["csv"], index=False)
    markdown = to_markdown(summarize(results), results.attrs.get("config"))
    paths["markdown"].write_text(markdown, encoding="utf-8")
    return paths
