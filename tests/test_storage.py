"""The page-cache and system-call probes the storage chapters rely on, checked against the kernel."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kafkalab.lab import topology
from kafkalab.probes import pagecache, syscalls
from kafkalab.workloads import clients, storage


def test_residency_follows_eviction_and_reading():
    """A written file is cached, evict() drops it, reading it back caches it again."""
    path = topology.RUN_DIR / "test-pages.bin"  # the lab's disk: /tmp may be a tmpfs without eviction
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(2 * 1024 * 1024))
    assert pagecache.resident_fraction(path) > 0.95
    pagecache.evict(path)
    assert pagecache.resident_fraction(path) < 0.05
    path.read_bytes()
    assert pagecache.resident_fraction(path) > 0.95
    assert pagecache.resident(path)[1] == 2 * 1024 * 1024 // pagecache.PAGE
    path.unlink()


@pytest.mark.parametrize("method", ["cachestat", "page_flags"])
def test_dirty_pages_until_synced(method):
    """Freshly written pages are dirty; after fdatasync the same cached pages are clean."""
    count = getattr(pagecache, method)
    path = topology.RUN_DIR / f"test-dirty-{method}.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(4 * 1024 * 1024))
    try:
        if count(path) is None:
            pytest.skip("cachestat(2) needs Linux 6.5 or later")
        n_dirty, cached = count(path)
        assert n_dirty > 0.9 * cached, (n_dirty, cached)
        assert pagecache.first_dirty_byte(path) == 0
        fd = os.open(path, os.O_RDONLY)
        os.fdatasync(fd)
        os.close(fd)
        n_dirty, cached = count(path)
        assert n_dirty == 0 and cached == 1024, (n_dirty, cached)
        assert pagecache.first_dirty_byte(path) is None
    finally:
        path.unlink()


def test_writeback_after_restores_the_machine_settings():
    """The kernel's expiry is changed inside the block and put back after it, even on error."""
    before = pagecache.vm_writeback()
    with pytest.raises(RuntimeError):
        with pagecache.writeback_after(2.0, 0.5) as vm:
            if vm["dirty_expire_centisecs"] == before["dirty_expire_centisecs"]:
                pytest.skip("/proc/sys/vm is read-only here")
            assert vm == {"dirty_expire_centisecs": 200, "dirty_writeback_centisecs": 50}
            raise RuntimeError("inside the block")
    assert pagecache.vm_writeback() == before


def test_syscall_counter_counts_exactly(tmp_path):
    """perf counts the fsync calls a child makes after it is attached, no more, no fewer."""
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys\nsys.stdin.readline()\nfd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY)\n"
         "for _ in range(37): os.fsync(fd)\nprint('done', flush=True)\nsys.stdin.readline()",
         str(tmp_path / "f")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        with syscalls.SyscallCounter(child.pid, ("fsync", "fdatasync")) as calls:
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "done"
        assert calls.counts == {"fsync": 37, "fdatasync": 0}
    finally:
        child.kill()
        child.wait()


def test_segments_roll_at_segment_bytes(lab):
    """Three MB into 1 MiB segments make at least three files, each under the limit."""
    topic = lab.new_topic("test-segments", replication_factor=1,
                          config={"segment.bytes": str(2**20)})
    clients.fill(lab, topic, 3000, size=1000)
    segs = storage.segments(lab, topic)
    assert len(segs) >= 3 and all(s.log_bytes <= 2**20 for s in segs), segs
    assert [s.base_offset for s in segs] == sorted({s.base_offset for s in segs})


def test_fill_rejects_records_too_small_for_their_number(lab):
    """fill() needs 8 bytes per record for the record's number."""
    with pytest.raises(ValueError, match="at least 8 bytes"):
        clients.fill(lab, "unused", 1, size=4)


def test_sync_trace_names_the_file_synced(tmp_path):
    """strace -y names the file of each fsync, even one closed before the trace ends."""
    target = tmp_path / "synced.bin"
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys\nsys.stdin.readline()\nfd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY)\n"
         "os.write(fd, b'x'); os.fsync(fd); os.close(fd)\nprint('done', flush=True)\nsys.stdin.readline()",
         str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        with syscalls.SyncTrace(child.pid) as trace:
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "done"
        assert trace.files == [str(target)], trace.files
    finally:
        child.kill()
        child.wait()
