"""Cutting a broker off from the others: it stays registered, and the cut is always undone."""
from __future__ import annotations

import subprocess
from pathlib import Path

from kafkalab.lab import network, topology


def rules() -> list[str]:
    """The lab's iptables rules now in place."""
    out = subprocess.run(["iptables", "-S", "OUTPUT"], capture_output=True, text=True).stdout
    return [ln for ln in out.splitlines() if f"--comment {network.TAG}" in ln]


def cgroup_of(pid: int) -> str:
    """The process's cgroup v2 path."""
    return next(ln[3:] for ln in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                if ln.startswith("0::"))


def test_isolated_broker_stays_registered_and_is_restored(healthy):
    lab = healthy
    b = lab.brokers[-1]
    pid = lab.process(b).pid
    home = cgroup_of(pid)
    with lab.isolated(b):
        assert len(rules()) == 1, rules()
        assert cgroup_of(pid) == f"/{network.PREFIX}broker-{b}"
        # its connections to the other brokers were closed, and new ones are refused
        others = [topology.node(x).port for x in lab.brokers if x != b]
        assert not network._connections(pid, others)
        assert b in lab.live_brokers()  # heartbeats to the controller go on
    assert rules() == [] and cgroup_of(pid) == home
    assert not (network.cgroup2_root() / f"{network.PREFIX}broker-{b}").exists()


def test_clear_undoes_a_cut_left_behind(healthy):
    lab = healthy
    b = lab.brokers[0]
    pid = lab.process(b).pid
    lab.isolate(b)  # as a notebook killed mid-experiment would leave it
    assert rules()
    assert network.clear() == 1
    assert rules() == [] and not cgroup_of(pid).startswith(f"/{network.PREFIX}")
    lab._isolated.clear()
