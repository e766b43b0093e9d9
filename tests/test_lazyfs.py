"""LazyFS, the filesystem that forgets unsynced writes: what a power cut keeps and drops.

Needs /dev/fuse, fusermount3 (`make tools` installs fuse3) and root, as the lab machines have.
"""
from __future__ import annotations

import mmap
import os
import shutil

import pytest

from kafkalab.lab import lazyfs

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/fuse") or not shutil.which("fusermount3"),
                                reason="needs /dev/fuse and fusermount3 (`make tools`)")


@pytest.fixture
def fs(tmp_path):
    """A LazyFS mount over a fresh backing directory; (mount point, backing directory)."""
    with lazyfs.mounted(tmp_path / "backing", tmp_path / "mnt") as m:
        yield m, tmp_path / "backing"
    assert not os.path.ismount(tmp_path / "mnt")


def write(path, data: bytes, sync: bool, offset: int | None = None) -> None:
    """Write data (appending, or at offset), with or without fsync, and close."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | (os.O_APPEND if offset is None else 0), 0o644)
    try:
        if offset is None:
            os.write(fd, data)
        else:
            os.pwrite(fd, data, offset)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def test_unsynced_writes_are_gone_after_a_cut_and_synced_ones_stay(fs):
    m, backing = fs
    write(m / "kept.log", b"A" * 5000, sync=True)
    write(m / "kept.log", b"B" * 3000, sync=False)
    write(m / "lost.log", b"C" * 4096, sync=False)
    assert lazyfs.pending(m) == {"kept.log": 3000, "lost.log": 4096}
    dropped = lazyfs.power_cut(m)
    assert dropped == {"kept.log": 3000, "lost.log": 4096}
    assert (backing / "kept.log").read_bytes() == b"A" * 5000
    assert (backing / "lost.log").read_bytes() == b""  # its name was kept, its data not
    assert lazyfs.pending(m) == {}


def test_an_overwrite_inside_synced_data_is_undone(fs):
    m, backing = fs
    write(m / "index", bytes(8192), sync=True)
    write(m / "index", b"\x01" * 100, sync=False, offset=4000)
    write(m / "index", b"\x02" * 10, sync=False, offset=4050)
    lazyfs.power_cut(m)
    assert (backing / "index").read_bytes() == bytes(8192)


def test_fdatasync_counts_as_a_sync_and_truncation_is_undone(fs):
    m, backing = fs
    write(m / "seg", b"x" * 1000, sync=False)
    fd = os.open(m / "seg", os.O_RDWR)
    os.fdatasync(fd)
    os.ftruncate(fd, 10)
    os.close(fd)
    lazyfs.power_cut(m)
    assert (backing / "seg").read_bytes() == b"x" * 1000


def test_renames_are_durable_the_data_they_carry_is_not(fs):
    m, backing = fs
    write(m / "a.log", b"synced", sync=True)
    write(m / "b.log", b"unsynced", sync=False)
    os.rename(m / "a.log", m / "a.log.deleted")
    os.rename(m / "b.log", m / "b.cleaned")
    lazyfs.power_cut(m)
    assert sorted(os.listdir(backing)) == ["a.log.deleted", "b.cleaned"]
    assert (backing / "a.log.deleted").read_bytes() == b"synced"
    assert (backing / "b.cleaned").read_bytes() == b""


def test_mapped_writes_survive_with_msync_and_not_without(fs):
    m, backing = fs
    for name in ("synced.index", "unsynced.index"):
        write(m / name, bytes(4096), sync=True)
    with open(m / "synced.index", "r+b") as f, mmap.mmap(f.fileno(), 4096) as mm:
        mm[0:8] = b"offset01"
        mm.flush()  # msync: the kernel writes the page through LazyFS, then fsyncs
    with open(m / "unsynced.index", "r+b") as f, mmap.mmap(f.fileno(), 4096) as mm:
        mm[0:8] = b"offset02"  # dirty in the page cache only
    lazyfs.power_cut(m)  # writes the dirty pages to LazyFS first, as the kernel would
    assert (backing / "synced.index").read_bytes()[:8] == b"offset01"
    assert (backing / "unsynced.index").read_bytes()[:8] == bytes(8)


def test_clear_unmounts_what_a_crashed_run_left(tmp_path):
    proc = lazyfs.mount(tmp_path / "b", tmp_path / "m")
    assert tmp_path / "m" in lazyfs.stale_mounts()
    assert lazyfs.clear() >= 1  # what `down` does
    proc.wait(20)
    assert not os.path.ismount(tmp_path / "m")
