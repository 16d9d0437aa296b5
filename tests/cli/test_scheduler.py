"""``sknalu benchmark --scheduler``: every suite runs there, or fails at once, clearly."""

import socket
import threading
import time

import pandas as pd
import pytest

from sknalu.benchmarks import run_operations
from sknalu.cli import main

pytest.importorskip("distributed")

#: The options of each suite that make it small.
SUITES = {
    "task": ["--quick"],
    "operations": ["--suite", "operations", "--ops", "add", "--models", "nau", "--seeds", "2"],
    "formulas": [
        "--suite", "formulas", "--formulas", "newton_second_law", "electric_power",
        "--models", "linear", "--seeds", "1",
    ],
}  # fmt: skip
#: Fewer rows and steps, for the suites that run here.
TINY = {
    "operations": ["--n-train", "200", "--n-test", "50", "--param", "max_steps=100"],
    "formulas": ["--n-train", "200", "--n-test", "50"],
}


@pytest.fixture
def closed_port():
    """A TCP port on this machine where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never says a word, as a web server
    waits for a request (the dashboard's port given by mistake)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def accept():
        try:
            while True:
                accepted.append(server.accept()[0])
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for connection in accepted:
        connection.close()


def _fails_at_once(capsys, argv, *words, within=8.0):
    start = time.perf_counter()
    status = main(argv)
    seconds = time.perf_counter() - start
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("sknalu benchmark: error: cannot reach the dask scheduler at "), err
    for word in words:
        assert word in err, err
    assert seconds < within, seconds


@pytest.mark.parametrize("suite", SUITES)
def test_an_unreachable_scheduler_fails_every_suite_at_once(suite, closed_port, tmp_path, capsys):
    address = f"tcp://127.0.0.1:{closed_port}"
    argv = ["benchmark", *SUITES[suite], "--scheduler", address, "--output-dir", str(tmp_path)]
    _fails_at_once(capsys, argv, address, "refused")
    assert not any(tmp_path.iterdir())  # nothing ran, nothing written


def test_a_server_that_is_no_scheduler_fails_within_the_wait(silent_server, tmp_path, capsys):
    argv = ["benchmark", "--quick", "--scheduler", silent_server, "--scheduler-wait", "1"]
    _fails_at_once(capsys, [*argv, "--output-dir", str(tmp_path)], "no dask scheduler answers")


def test_an_unknown_host_is_named(tmp_path, capsys):
    argv = ["benchmark", "--suite", "operations", "--scheduler", "no-such-host.invalid:8786"]
    _fails_at_once(capsys, [*argv, "--output-dir", str(tmp_path)], "no-such-host.invalid")


def test_the_speed_measurement_takes_no_scheduler(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["benchmark", "--speed", "--scheduler", "tcp://127.0.0.1:8786"])
    assert exc.value.code == 2
    assert "--scheduler does not apply" in capsys.readouterr().err


def test_run_operations_refuses_an_unreachable_scheduler(closed_port):
    with pytest.raises(ConnectionError, match="cannot reach the dask scheduler"):
        run_operations(["add"], ["nau"], seeds=1, scheduler=f"127.0.0.1:{closed_port}")


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,  # joblib runs one thread's worth of jobs locally
        processes=False,
        protocol="tcp",
        dashboard_address=None,
    ) as cluster:
        yield cluster


def _executed(cluster) -> int:
    return sum(worker.state.executed_count for worker in cluster.workers.values())


@pytest.mark.parametrize("suite", ["operations", "formulas"])
def test_the_suites_run_their_fits_on_the_scheduler(cluster, suite, tmp_path, capsys):
    before = _executed(cluster)
    argv = ["benchmark", *SUITES[suite], *TINY[suite], "--scheduler", cluster.scheduler_address]
    assert main([*argv, "--output-dir", str(tmp_path)]) == 0, capsys.readouterr().err
    results = pd.read_csv(tmp_path / f"{suite}.csv")
    assert _executed(cluster) - before == len(results) > 0
