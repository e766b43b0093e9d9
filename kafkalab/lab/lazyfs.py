"""A FUSE filesystem that forgets what was never fsynced, as a disk with a volatile cache does
when the power goes (the capability Jepsen's LazyFS gives; this is the lab's own, in Python).

Pass-through to a backing directory, with one difference: for every file written since its
last fsync (or fdatasync, or msync of a mapping) the filesystem keeps an undo record, the file's
size at that sync and the bytes each later write or truncation replaced. `power_cut()` applies
the undo records, so the backing directory then holds exactly what was synced.

What is modelled: file *data* and size. Creating, renaming and deleting files and directories
are durable at once, as if every directory were fsynced after each change (Kafka fsyncs the
directory after a segment roll or rename, so this errs on the kind side only for names).
Kafka's index files are memory-mapped: the kernel writes a mapping's dirty pages through
`write` (on writeback or msync) and an msync ends in `fsync`, so mapped writes are undone like
any other unsynced write.

Run as `python -m kafkalab.lab.lazyfs BACKING MOUNTPOINT` (foreground; `fusermount3 -u` ends
it). Writing `power-cut` to the file `.lazyfs` at the mount's root applies the undo records;
reading `.lazyfs` returns the unsynced bytes per file as JSON.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LabError
from . import topology

CONTROL = "/.lazyfs"


@dataclass
class Undo:
    """What a file held at its last sync: its size, and the bytes later changes replaced."""

    synced_size: int
    saved: list[tuple[int, bytes]] = field(default_factory=list)  # (offset, old bytes), in order
    written: int = 0  # bytes written since the sync

    def restore(self, path: str) -> None:
        """Put the file back as it was at its last sync."""
        with open(path, "r+b") as f:
            f.truncate(self.synced_size)
            for offset, old in reversed(self.saved):  # the oldest copy of a range wins
                f.seek(offset)
                f.write(old)


class Forgetful:
    """The tracking half: undo records per backing path, kept under one lock."""

    def __init__(self) -> None:
        """No file changed since a sync."""
        self.undo: dict[str, Undo] = {}
        self.lock = threading.Lock()

    def _record(self, path: str, offset: int, length: int, fd: int | None = None) -> Undo:
        """Save the synced bytes in [offset, offset + length) before they change."""
        u = self.undo.get(path)
        if u is None:
            u = self.undo[path] = Undo(os.stat(path).st_size)
        end = min(offset + length, u.synced_size)
        if offset < end:
            if fd is not None:
                old = os.pread(fd, end - offset, offset)
            else:
                with open(path, "rb") as f:
                    f.seek(offset)
                    old = f.read(end - offset)
            u.saved.append((offset, old))
        return u

    def before_write(self, path: str, offset: int, length: int, fd: int) -> None:
        """A write of `length` bytes at `offset` is about to happen."""
        with self.lock:
            self._record(path, offset, length, fd).written += length

    def before_truncate(self, path: str, length: int) -> None:
        """The file is about to be cut (or extended) to `length`."""
        with self.lock:
            size = os.stat(path).st_size
            self._record(path, length, max(size - length, 0))

    def synced(self, path: str) -> None:
        """The file's data is on disk now."""
        with self.lock:
            self.undo.pop(path, None)

    def created(self, path: str) -> None:
        """A new, empty file: its name is durable, its data not yet."""
        with self.lock:
            self.undo[path] = Undo(0)

    def removed(self, path: str) -> None:
        """The file is gone: nothing to undo."""
        with self.lock:
            self.undo.pop(path, None)

    def renamed(self, old: str, new: str) -> None:
        """Unsynced data moves with the file; whatever `new` was is gone."""
        with self.lock:
            self.undo.pop(new, None)
            if old in self.undo:
                self.undo[new] = self.undo.pop(old)

    def power_cut(self) -> dict[str, int]:
        """Apply every undo record; return the unsynced bytes dropped per file."""
        with self.lock:
            dropped = {}
            for path, u in self.undo.items():
                if os.path.exists(path):
                    dropped[path] = max(os.stat(path).st_size - u.synced_size, 0) or u.written
                    u.restore(path)
            self.undo.clear()
            return dropped

    def pending(self) -> dict[str, int]:
        """Bytes written since the last sync, per file."""
        with self.lock:
            return {p: u.written for p, u in self.undo.items() if u.written}


def operations(backing: str):
    """The FUSE operations: pass-through to `backing`, tracked by a Forgetful."""
    from mfusepy import FuseOSError, Operations

    class LazyFS(Operations):
        """Pass-through to the backing directory that can forget unsynced data."""

        use_ns = True

        def __init__(self) -> None:
            """Track changes under `backing`."""
            self.root = os.path.realpath(backing)
            self.tracker = Forgetful()
            self.last_cut: dict[str, int] = {}

        def _real(self, path: str) -> str:
            """The backing path of a mount path."""
            return os.path.join(self.root, path.lstrip("/"))

        def _control(self) -> bytes:
            """What reading the control file returns."""
            rel = {os.path.relpath(p, self.root): n for p, n in self.tracker.pending().items()}
            return (json.dumps({"pending": rel, "last_cut": self.last_cut}) + "\n").encode()

        # --- metadata ---------------------------------------------------------------------------
        def getattr(self, path, fh=None):
            if path == CONTROL:
                return {"st_mode": 0o100644, "st_nlink": 1, "st_size": len(self._control())}
            try:
                st = os.fstat(fh) if fh is not None else os.lstat(self._real(path))
            except OSError as e:
                raise FuseOSError(e.errno) from None
            return {k: getattr(st, k) for k in ("st_mode", "st_nlink", "st_size", "st_uid",
                                                "st_gid", "st_blocks")} | {
                "st_atime": st.st_atime_ns, "st_mtime": st.st_mtime_ns, "st_ctime": st.st_ctime_ns}

        def readdir(self, path, fh):
            return [".", "..", *os.listdir(self._real(path))]

        def access(self, path, amode):
            if path != CONTROL and not os.access(self._real(path), amode):
                raise FuseOSError(errno.EACCES)
            return 0

        def chmod(self, path, mode):
            os.chmod(self._real(path), mode)
            return 0

        def chown(self, path, uid, gid):
            os.chown(self._real(path), uid, gid)
            return 0

        def utimens(self, path, times=None):
            os.utime(self._real(path), ns=times)
            return 0

        def mkdir(self, path, mode):
            os.mkdir(self._real(path), mode)
            return 0

        def rmdir(self, path):
            os.rmdir(self._real(path))
            return 0

        def unlink(self, path):
            real = self._real(path)
            os.unlink(real)
            self.tracker.removed(real)
            return 0

        def rename(self, old, new):
            os.rename(self._real(old), self._real(new))
            self.tracker.renamed(self._real(old), self._real(new))
            return 0

        def statfs(self, path):
            st = os.statvfs(self._real(path))
            return {k: getattr(st, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize",
                                                "f_favail", "f_ffree", "f_files", "f_flag",
                                                "f_frsize", "f_namemax")}

        # --- data -------------------------------------------------------------------------------
        def open(self, path, flags):
            if path == CONTROL:
                return 0
            real = self._real(path)
            if flags & os.O_TRUNC:
                self.tracker.before_truncate(real, 0)
            return os.open(real, flags & ~os.O_APPEND if flags & os.O_APPEND else flags)

        def create(self, path, mode, fi=None):
            real = self._real(path)
            existed = os.path.exists(real)
            fd = os.open(real, os.O_RDWR | os.O_CREAT, mode)
            if not existed:
                self.tracker.created(real)
            return fd

        def read(self, path, size, offset, fh):
            if path == CONTROL:
                return self._control()[offset:offset + size]
            return os.pread(fh, size, offset)

        def write(self, path, data, offset, fh):
            if path == CONTROL:
                if data.strip() == b"power-cut":
                    self.last_cut = {os.path.relpath(p, self.root): n
                                     for p, n in self.tracker.power_cut().items()}
                return len(data)
            self.tracker.before_write(self._real(path), offset, len(data), fh)
            return os.pwrite(fh, data, offset)

        def truncate(self, path, length, fh=None):
            real = self._real(path)
            self.tracker.before_truncate(real, length)
            os.truncate(real if fh is None else fh, length)
            return 0

        def fsync(self, path, datasync, fh):
            if path != CONTROL:
                (os.fdatasync if datasync else os.fsync)(fh)
                self.tracker.synced(self._real(path))
            return 0

        def fsyncdir(self, path, datasync, fh):
            return 0  # names are durable at once (see the module's docstring)

        def flush(self, path, fh):
            return 0

        def release(self, path, fh):
            if path != CONTROL:
                os.close(fh)
            return 0

    return LazyFS()


# --- mounting, from the lab's side ------------------------------------------------------------
FSNAME = f"{topology.NAME}-lazyfs"  # per lane: clear() unmounts this lab's mounts only


def mount(backing: Path, mountpoint: Path, timeout: float = 20) -> subprocess.Popen:
    """Mount `backing` at `mountpoint` through a LazyFS process; unmounting ends it (`down`
    unmounts every LazyFS mount once the brokers have stopped: see clear())."""
    backing.mkdir(parents=True, exist_ok=True)
    mountpoint.mkdir(parents=True, exist_ok=True)
    if os.path.ismount(mountpoint):
        raise LabError(f"{mountpoint} is already a mount point: `python -m kafkalab down` "
                       "unmounts what an earlier run left")
    log = open(mountpoint.parent / f"{mountpoint.name}.lazyfs.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "kafkalab.lab.lazyfs", str(backing),
                             str(mountpoint)], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    while not os.path.ismount(mountpoint):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise LabError(f"LazyFS did not mount {mountpoint} within {timeout:g} s: see "
                           f"{log.name}")
        time.sleep(0.05)
    return proc


def unmount(mountpoint: Path, proc: subprocess.Popen | None = None) -> None:
    """Unmount (lazily, if something still holds a file open) and wait for the LazyFS process."""
    if os.path.ismount(mountpoint):
        res = subprocess.run(["fusermount3", "-u", str(mountpoint)], capture_output=True, text=True)
        if res.returncode != 0:
            subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], capture_output=True)
    if proc is not None:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def sync_mount(mountpoint: Path) -> None:
    """Have the kernel write the mount's dirty pages (mapped ones too) to LazyFS, unsynced."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(mountpoint, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if libc.syncfs(fd) != 0:
            raise OSError(ctypes.get_errno(), f"syncfs({mountpoint})")
    finally:
        os.close(fd)


def power_cut(mountpoint: Path) -> dict[str, int]:
    """Drop every unsynced write under the mount (its writers must be dead); return the bytes
    dropped per file. Remount afterwards, so that no page the kernel cached survives."""
    if not os.path.ismount(mountpoint):  # else the write below would land on the real disk
        raise LabError(f"the LazyFS mount at {mountpoint} is gone (its process ended: see "
                       f"{mountpoint.parent / f'{mountpoint.name}.lazyfs.log'})")
    sync_mount(mountpoint)
    (mountpoint / CONTROL.lstrip("/")).write_bytes(b"power-cut")
    return json.loads((mountpoint / CONTROL.lstrip("/")).read_bytes())["last_cut"]


def pending(mountpoint: Path) -> dict[str, int]:
    """Bytes written and not yet synced, per file (relative to the mount)."""
    return json.loads((mountpoint / CONTROL.lstrip("/")).read_bytes())["pending"]


def stale_mounts() -> list[Path]:
    """Mount points of LazyFS filesystems still mounted (e.g. left by a crashed run)."""
    out = []
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[0] == FSNAME:
            out.append(Path(fields[1].replace("\\040", " ")))
    return out


def clear() -> int:
    """Unmount every LazyFS mount left behind; return how many."""
    stale = stale_mounts()
    for m in stale:
        unmount(m)
    return len(stale)


@contextmanager
def mounted(backing: Path, mountpoint: Path) -> Iterator[Path]:
    """Mount for the block; unmount however it ends."""
    proc = mount(backing, mountpoint)
    try:
        yield mountpoint
    finally:
        unmount(mountpoint, proc)


def main(argv: list[str]) -> None:
    """Mount BACKING at MOUNTPOINT in the foreground until unmounted."""
    from mfusepy import FUSE
    backing, mountpoint = argv
    FUSE(operations(backing), mountpoint, foreground=True, nothreads=False, fsname=FSNAME)


if __name__ == "__main__":
    main(sys.argv[1:])
