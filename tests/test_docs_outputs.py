"""What the README and the documentation show, checked against what sknalu does.

- the README's install says how to get torch's CPU build;
- the README's command-line block runs as written, in an empty directory, and prints
  the lines written under each command;
- the command-line page's sessions (``$ COMMAND`` and the lines it prints) print
  what they show, the demo's errors included (its times vary);
- the tables of hyperparameters and units name every hyperparameter and unit, and
  the README's its defaults;
- the README's Python blocks run top to bottom, their results as commented (slow:
  its grid search fits twenty models).
"""

from __future__ import annotations

import ast
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sknalu import NALURegressor, NMURegressor
from sknalu.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CLI_PAGE = ROOT / "docs" / "cli.rst"
TRAINING_PAGE = ROOT / "docs" / "user_guide" / "training.rst"
ESTIMATORS = (NMURegressor, NALURegressor)
#: The commands of the README and the docs run with this Python and its sknalu.
BIN = str(Path(sys.executable).parent)


def _section(text: str, heading: str) -> str:
    """The markdown section under ``## heading``, to the next heading of its level."""
    start = text.index(f"## {heading}\n")
    following = text.find("\n## ", start + 1)
    return text[start : following if following > 0 else len(text)]


def _fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def _run_bash(script: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=os.pathsep.join([BIN, os.environ.get("PATH", "")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


# -- the README -----------------------------------------------------------------------------


def test_the_readme_says_how_to_install_torch_for_the_cpu():
    quick_start = _section(README.read_text(encoding="utf-8"), "Quick start")
    commands = _fenced(quick_start, "bash")[0]
    cpu = "pip install torch --index-url https://download.pytorch.org/whl/cpu"
    assert cpu in commands
    # Before sknalu, so that pip keeps that torch.
    assert commands.index(cpu) < commands.index("pip install -e")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.skipif(shutil.which("sknalu", path=BIN) is None, reason="sknalu not installed")
def test_the_readme_command_line_block_runs_as_written(tmp_path):
    block = _fenced(_section(README.read_text(encoding="utf-8"), "Command line"), "bash")[0]
    expected = [line[4:] for line in block.splitlines() if line.startswith("#   ")]
    result = _run_bash(block, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected
    assert result.stderr == ""  # no progress bar when no terminal watches
    assert {"shop.csv", "new.csv", "model.skops"} <= {p.name for p in tmp_path.iterdir()}


def _literal(cell: str):
    return ast.literal_eval(cell.replace("`", "").strip())


def _readme_rows(heading: str) -> list[list[str]]:
    rows = []
    for line in _section(README.read_text(encoding="utf-8"), heading).splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows[1:]


def test_the_readme_table_of_hyperparameters_is_complete_and_right():
    rows = _readme_rows("Hyperparameters")
    named = {}
    for name_cell, *defaults, _ in rows:
        names = re.findall(r"`(\w+)`", name_cell)
        for i, cls in enumerate(ESTIMATORS):
            cell = defaults[0] if defaults[i] == "the same" else defaults[i]
            value = _literal(cell)
            values = value if len(names) > 1 else (value,)
            for name, expected in zip(names, values, strict=True):
                named.setdefault(name, {})[cls.__name__] = expected
    for cls in ESTIMATORS:
        params = cls().get_params()
        assert sorted(named) == sorted(params), "the README's table of hyperparameters"
        for name, value in params.items():
            assert named[name][cls.__name__] == value, (cls.__name__, name)


def test_the_readme_table_of_units_names_every_unit():
    rows = _readme_rows("Estimators and units")
    for (estimator, units, _), cls in zip(rows, ESTIMATORS, strict=True):
        assert estimator == f"`{cls.__name__}`"
        listed = re.findall(r'`"(\w+)"`', units)
        assert sorted(listed) == sorted(cls()._accepted_units())


def test_the_training_page_table_of_hyperparameters_is_complete():
    text = TRAINING_PAGE.read_text(encoding="utf-8")
    table = text[text.index(".. list-table:: Hyperparameters") :]
    table = table[: table.index("\n\n.. ")]
    first_cells = re.findall(r"^   \* - (.*)$", table, flags=re.M)[1:]
    named = {name for cell in first_cells for name in re.findall(r"``(\w+)``", cell)}
    for cls in ESTIMATORS:
        assert sorted(named) == sorted(cls().get_params())


def _commented_result(comment: str):
    """The Python literal a comment starts with (``{'units': 'nmu'}: a product``)."""
    for cut in [None, *reversed([m.start() for m in re.finditer(":", comment)])]:
        try:
            return ast.literal_eval(comment[:cut].strip())
        except (ValueError, SyntaxError):
            continue
    raise LookupError(comment)


@pytest.mark.slow
def test_the_readme_python_blocks_run_top_to_bottom_as_commented():
    namespace, checked = {}, []
    for block in _fenced(README.read_text(encoding="utf-8"), "python"):
        exec(compile(block, str(README), "exec"), namespace)
        for line in block.splitlines():
            # ``expression  # result``, the result written as a Python literal
            match = re.match(r"^([\w.]+)\s+#\s+(.*)$", line)
            if not match:
                continue
            try:
                expected = _commented_result(match.group(2))
            except LookupError:
                continue
            assert eval(match.group(1), namespace) == expected, line
            checked.append(line)
    assert len(checked) >= 4, checked


# -- the command-line page ------------------------------------------------------------------


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    """The page's literal blocks, in order: ``("bash" or "text", lines)``, dedented."""
    lines, blocks, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        directive = re.match(r"^(\s*)\.\. code-block:: (\w+)$", line)
        i += 1
        if not directive:
            continue
        indent = len(directive.group(1))
        body = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > indent):
            body.append(lines[i])
            i += 1
        body = _strip_blank(body)
        while body and not body[0].strip():
            body = body[1:]
        if not body:
            continue
        depth = min(_indent(b) for b in body if b.strip())
        blocks.append((directive.group(2), [b[depth:] for b in body]))
    return blocks


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _sessions(blocks) -> list[tuple[str, list[str]]]:
    """Every ``$ command`` of the text blocks and the lines shown under it."""
    sessions = []
    for kind, body in blocks:
        if kind != "text" or not body[0].startswith("$ "):
            continue
        for line in body:
            if line.startswith("$ "):
                sessions.append((line[2:], []))
            else:
                sessions[-1][1].append(line)
    return [(command, _strip_blank(shown)) for command, shown in sessions]


def _strip_blank(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _run_command(command: str, capsys) -> list[str]:
    """``sknalu ...`` in this process, ``cat`` read here: what they print, in lines."""
    argv = shlex.split(command)
    if argv[0] == "cat":
        return Path(argv[1]).read_text(encoding="utf-8").splitlines()
    assert argv[0] == "sknalu", command
    main(argv[1:])
    captured = capsys.readouterr()
    return _strip_blank((captured.out + captured.err).splitlines())


def test_the_cli_page_sessions_print_what_they_show(tmp_path, monkeypatch, capsys):
    blocks = _blocks(CLI_PAGE.read_text(encoding="utf-8"))
    setup = [body for kind, body in blocks if kind == "bash" and "python -c" in body[0]]
    assert len(setup) == 1
    result = _run_bash("\n".join(setup[0]), tmp_path)
    assert result.returncode == 0, result.stderr
    monkeypatch.chdir(tmp_path)
    sessions = [s for s in _sessions(blocks) if s[0] != "sknalu demo"]
    assert len(sessions) >= 6
    for command, shown in sessions:
        assert _run_command(command, capsys) == shown, command


def _numbers_agree(shown: str, printed: str) -> bool:
    a, b = float(shown), float(printed)
    return math.isclose(a, b, rel_tol=0.05) or max(abs(a), abs(b)) < 1e-12


def test_the_cli_page_shows_what_the_demo_prints(capsys):
    sessions = _sessions(_blocks(CLI_PAGE.read_text(encoding="utf-8")))
    shown = next(lines for command, lines in sessions if command == "sknalu demo")
    assert main(["demo"]) == 0
    printed = _strip_blank(capsys.readouterr().out.splitlines())
    assert len(printed) == len(shown), printed
    for mine, theirs in zip(shown, printed, strict=True):
        if mine.startswith("Total time"):
            assert theirs.startswith("Total time")
        elif not re.search(r"\de[+-]\d", mine):  # the text and the table's header
            assert mine == theirs
        else:  # task and model, the errors in and out of range; the seconds vary
            mine_cells, their_cells = mine.split(), theirs.split()
            assert mine_cells[:-3] == their_cells[:-3], theirs
            for shown_error, error in zip(mine_cells[-3:-1], their_cells[-3:-1], strict=True):
                assert _numbers_agree(shown_error, error), (mine, theirs)
