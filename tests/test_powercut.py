"""A broker on LazyFS and a power cut: acknowledged records it never fsynced are gone, fsynced
ones are kept, and the broker's data directory goes back to the ordinary filesystem after."""
from __future__ import annotations

import os
import shutil

import pytest

from kafkalab.lab import powercut
from kafkalab.workloads import clients, storage

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/fuse") or not shutil.which("fusermount3"),
                                reason="needs /dev/fuse and fusermount3 (`make tools`)")


def test_power_cut_drops_unsynced_records_and_keeps_fsynced_ones(healthy):
    lab = healthy
    b = lab.brokers[-1]
    plain = lab.new_topic("cut-plain", replication_factor=1, on=[[b]])
    synced = lab.new_topic("cut-synced", replication_factor=1, on=[[b]],
                           config={"flush.messages": "1"})
    with lab.lazyfs(b):
        assert powercut.on_lazyfs(lab, b)
        clients.fill(lab, plain, 2000, size=200)  # RF=1: acknowledged by broker b alone
        clients.fill(lab, synced, 200, size=200)
        dropped = lab.power_cut(b, remount=False)
        assert not powercut.on_lazyfs(lab, b)  # started again on the ordinary filesystem
        kept_plain, kept_synced = storage.numbers(lab, plain), storage.numbers(lab, synced)
    assert not powercut.on_lazyfs(lab, b)
    data, backing = powercut._paths(lab, b)
    assert data.is_dir() and not backing.exists()
    lost = 2000 - len(kept_plain)
    assert lost > 0 and kept_plain == set(range(len(kept_plain))), (lost, dropped)
    assert any(f.startswith(plain) and f.endswith(".log") for f in dropped[b]), dropped
    assert kept_synced == set(range(200)), len(kept_synced)
