"""Every example of the gallery runs to the end.

Each ``examples/plot_*.py`` runs in a fresh Python process, as the documentation
build would run it, with ``SKNALU_EXAMPLES_FAST=1`` (small fits, a few seconds each)
and matplotlib's non-interactive Agg backend. A script that raises fails its test.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

import sknalu

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("plot_*.py"))
#: Longest a fast-mode example may take; they need seconds, this only stops a hang.
TIMEOUT = 300


def _missing(example: Path) -> str | None:
    """Why ``example`` cannot run here, or None when it can."""
    if example.name == "plot_formula.py":
        if not hasattr(sknalu.NMURegressor, "to_sympy"):
            return "needs NMURegressor.to_sympy, which this version of sknalu lacks"
        if importlib.util.find_spec("sympy") is None:
            return "needs sympy"
    return None


def test_the_gallery_has_examples():
    assert len(EXAMPLES) >= 3, f"no examples found in {EXAMPLES_DIR}"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example, tmp_path):
    reason = _missing(example)
    if reason:
        pytest.skip(reason)
    env = dict(os.environ, SKNALU_EXAMPLES_FAST="1", MPLBACKEND="Agg")
    env.setdefault("OMP_NUM_THREADS", "1")
    # The example must import the sknalu under test, wherever the test found it.
    package_root = str(Path(sknalu.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, str(example)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, (
        f"{example.name} failed with exit status {result.returncode}:\n{result.stderr[-4000:]}"
    )
