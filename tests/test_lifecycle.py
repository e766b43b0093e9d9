"""Down and up again: no JVM or port is left behind, and a stopped lab is reported clearly."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

import kafkalab
from kafkalab import LabError
from kafkalab.lab import topology as S
from kafkalab.lab.jvm import port_in_use


def lab_jvms(run_dir: Path) -> list[int]:
    """Pids of every live JVM whose command line points into this lab's run directory."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if "kafka.Kafka" in cmd and str(run_dir) in cmd and state not in "ZX":
            pids.append(int(proc.name))
    return pids


def test_down_leaves_nothing_and_up_comes_back(lab):
    if lab.launcher.kind != "jvm":
        pytest.skip("process checks are for the JVM launcher")
    run_dir = lab.launcher.run_dir
    assert len(lab_jvms(run_dir)) == len(S.NODES)
    t = time.monotonic()
    kafkalab.down(lab.launcher)
    print(f"down took {time.monotonic() - t:.1f} s")
    assert lab_jvms(run_dir) == []
    assert [n.port for n in S.NODES if port_in_use(n.port)] == []

    t = time.monotonic()
    with pytest.raises(LabError, match="python -m kafkalab up"):
        kafkalab.connect(start=False)
    assert time.monotonic() - t < 10

    t = time.monotonic()
    kafkalab.up(lab.launcher)
    print(f"up (formatted, warm jars) took {time.monotonic() - t:.1f} s")
    assert lab.live_brokers() == {1, 2, 3}
    assert len(lab_jvms(run_dir)) == len(S.NODES)
