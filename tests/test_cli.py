"""The command line: status, a fault round trip, and clear errors for bad input."""
from __future__ import annotations

import subprocess
import sys

from kafkalab.lab import topology


def cli(*args: str) -> subprocess.CompletedProcess:
    """Run `python -m kafkalab ARGS` from the repository root."""
    return subprocess.run([sys.executable, "-m", "kafkalab", *args], capture_output=True,
                          text=True, timeout=120, cwd=topology.ROOT)


def test_status_lists_every_node_and_the_controller(lab):
    out = cli("status")
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.split()[:1] in
            (["0"], ["1"], ["2"], ["3"])]
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        (str(n.id), n.role, str(n.port), "up") for n in topology.NODES]
    assert "controller: node 0" in out.stdout


def test_pause_and_resume_from_the_command_line(lab):
    out = cli("pause", "3")
    try:
        assert out.returncode == 0, out.stderr
        assert lab.state(3) == "paused"
        assert "paused" in out.stdout
    finally:
        back = cli("resume", "3")
    assert back.returncode == 0, back.stderr
    assert lab.state(3) == "up"


def test_unknown_broker_on_the_command_line(lab):
    out = cli("kill", "9")
    assert out.returncode == 1
    assert "no broker 9 in the lab; the brokers are [1, 2, 3]" in out.stderr


def test_bench_runs_both_producers_and_prints_the_ratio(lab):
    out = cli("bench", "--records", "3000", "--rounds", "1")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "round 1 perf-test" in out.stdout and "round 1 harness" in out.stdout
    whole, steady = (float(line.rsplit(":", 1)[1]) for line in out.stdout.strip().splitlines()[-2:])
    assert whole > 0 and steady > 0, out.stdout
