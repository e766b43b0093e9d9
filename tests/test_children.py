"""The lab's record of its helper processes: `down` ends what it started, and nothing else."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kafkalab.lab import children
from kafkalab.waiting import wait_for

# Prints once its interpreter runs (its command line is then readable in /proc), then sleeps.
HELPER = [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(60)",
          "kafkalab-test-helper"]


def _state(pid: int) -> str:
    """What reap sees of a pid, for a failure message."""
    return (f"pid {pid}: alive {children._alive(pid)}, ours {children._cmdline_is_ours(pid)}, "
            f"started {children._started(pid)!r}")


def test_reap_ends_a_recorded_helper_but_not_a_process_that_took_its_pid(tmp_path, monkeypatch):
    monkeypatch.setattr(children, "CHILDREN", tmp_path)
    out = tmp_path / "ours.out"
    ours = children.run(HELPER, tmp_path / "ours", "ours", stdout=out)
    other = subprocess.Popen(HELPER, stdout=subprocess.PIPE)  # a kafkalab process not recorded
    try:
        assert other.stdout is not None and other.stdout.readline() == b"ready\n"
        wait_for(lambda: Path(out).read_text() == "ready\n", 20, "the recorded helper to start")
        record = (tmp_path / "ours.pid").read_text().strip()
        # A stale record whose pid now names `other`: same pid, another start time.
        (tmp_path / "stale.pid").write_text(f"{other.pid} 1\n")
        seen = f"record {record!r}; {_state(ours.pid)}; {_state(other.pid)}"
        assert children.reap() == 1, seen
        assert ours.wait(10) is not None
        assert other.poll() is None, "reap ended a process it had not started"
        assert not list(tmp_path.glob("*.pid"))
    finally:
        for p in (ours, other):
            p.kill()
            p.wait()
