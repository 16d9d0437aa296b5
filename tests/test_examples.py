"""Every example of the gallery runs to the end.

Each ``examples/plot_*.py`` runs in a fresh Python process, as the documentation
build would run it, with ``SKNALU_EXAMPLES_FAST=1`` (small fits, a few seconds each)
and matplotlib's non-interactive Agg backend. A script that raises fails its test,
including one that misses matplotlib or sympy: both are in the dev extra.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import sknalu

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("plot_*.py"))
#: Longest a fast-mode example may take; they need seconds, this only stops a hang.
TIMEOUT = 300


def test_the_gallery_has_examples():
    assert len(EXAMPLES) >= 3, f"no examples found in {EXAMPLES_DIR}"


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example, tmp_path):
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
