"""The lab's record of its helper processes: `down` ends what it started, and nothing else."""
from __future__ import annotations

import subprocess
import sys

from kafkalab.lab import children


def test_reap_ends_a_recorded_helper_but_not_a_process_that_took_its_pid(tmp_path, monkeypatch):
    monkeypatch.setattr(children, "CHILDREN", tmp_path)
    cmd = [sys.executable, "-c", "import time; time.sleep(60)", "kafkalab-test-helper"]
    ours = children.run(cmd, tmp_path / "ours", "ours")
    other = subprocess.Popen(cmd)  # a kafkalab process the lab did not start under this record
    try:
        # A stale record whose pid now names `other`: same pid, another start time.
        (tmp_path / "stale.pid").write_text(f"{other.pid} 1\n")
        assert children.reap() == 1
        assert ours.wait(10) is not None
        assert other.poll() is None, "reap ended a process it had not started"
        assert not list(tmp_path.glob("*.pid"))
    finally:
        for p in (ours, other):
            p.kill()
            p.wait()
