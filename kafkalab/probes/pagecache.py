"""The Linux page cache seen from Python: resident pages of a file, eviction, dirty memory."""
from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..waiting import Sampler

PAGE = os.sysconf("SC_PAGE_SIZE")
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.syscall.restype = ctypes.c_long
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
_MAP_FAILED = ctypes.c_void_p(-1).value


@contextmanager
def _mapped(path: str | Path) -> Iterator[tuple[int, list[int]]]:
    """Map the file read-only; yield its address and the indexes of its cached pages (mincore)."""
    size = os.path.getsize(path)
    if size == 0:
        yield 0, []
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, _MAP_FAILED):
            raise OSError(ctypes.get_errno(), f"mmap of {path} failed")
        try:
            vec = (ctypes.c_ubyte * -(-size // PAGE))()
            if _libc.mincore(addr, size, vec) != 0:
                raise OSError(ctypes.get_errno(), f"mincore of {path} failed")
            yield addr, [i for i, b in enumerate(bytes(vec)) if b & 1]
        finally:
            _libc.munmap(addr, size)
    finally:
        os.close(fd)


def resident(path: str | Path) -> tuple[int, int]:
    """(pages in the page cache, pages in the file), from mincore(2) on a read-only mapping."""
    with _mapped(path) as (_, cached):
        return len(cached), -(-os.path.getsize(path) // PAGE)


def resident_fraction(path: str | Path) -> float:
    """Share of the file's pages that are in the page cache (1.0 for an empty file)."""
    cached, pages = resident(path)
    return cached / pages if pages else 1.0


def sync(path: str | Path) -> None:
    """Have the kernel write the file's dirty pages to the disk now (fdatasync)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def evict(path: str | Path) -> None:
    """Write the file's dirty pages, then ask the kernel to drop its cached pages."""
    sync(path)  # DONTNEED drops clean pages only
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes (Dirty: written but not yet on disk; Writeback: on its way)."""
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, value = line.split(":", 1)
        parts = value.split()
        out[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return out


def vm_writeback() -> dict[str, int]:
    """The kernel's writeback settings: when dirty pages are written without anyone asking."""
    names = ("dirty_expire_centisecs", "dirty_writeback_centisecs", "dirty_background_ratio",
             "dirty_ratio", "dirty_background_bytes", "dirty_bytes")
    return {n: int(Path(f"/proc/sys/vm/{n}").read_text()) for n in names}


@contextmanager
def writeback_after(expire_s: float, every_s: float) -> Iterator[dict[str, int]]:
    """Have the kernel write dirty pages older than expire_s, checking every every_s, for the
    block; restore the machine's settings however it ends. Yields the settings in force.

    Needs root; where /proc/sys/vm is read-only the machine's own settings stay and are yielded.
    """
    names = {"dirty_expire_centisecs": int(expire_s * 100),
             "dirty_writeback_centisecs": int(every_s * 100)}
    before = {n: Path(f"/proc/sys/vm/{n}").read_text().strip() for n in names}
    changed = []
    try:
        for n, value in names.items():
            try:
                Path(f"/proc/sys/vm/{n}").write_text(str(value))
                changed.append(n)
            except OSError:
                break
        yield {n: int(Path(f"/proc/sys/vm/{n}").read_text()) for n in names}
    finally:
        for n in changed:
            Path(f"/proc/sys/vm/{n}").write_text(before[n])


def first_dirty_byte(path: str | Path) -> int | None:
    """Offset of the file's first dirty or under-writeback page (page flags; root), None if clean."""
    with _mapped(path) as (addr, cached):
        for i, flags in _flags(addr, cached):
            if flags & (_KPF_DIRTY | _KPF_WRITEBACK):
                return i * PAGE
    return None


@dataclass
class DirtyTimeline:
    """Dirty and Writeback memory sampled over time, with labelled moments."""

    t: list[float] = field(default_factory=list)
    dirty: list[int] = field(default_factory=list)
    writeback: list[int] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)

    def mark(self, label: str) -> None:
        """Label this moment (drawn as a line on the plot)."""
        self.marks.append((time.monotonic() - self.t0, label))

    def dirty_at(self, label: str) -> int:
        """Dirty bytes at the last sample taken before the labelled moment."""
        moment = dict((name, t) for t, name in self.marks)[label]
        before = [d for t, d in zip(self.t, self.dirty) if t <= moment]
        return before[-1] if before else self.dirty[0]


class DirtySampler(Sampler):
    """Context manager: samples /proc/meminfo Dirty and Writeback every interval seconds."""

    def __init__(self, interval: float = 0.05) -> None:
        """Prepare a sampler; it starts when the with-block is entered."""
        super().__init__(interval)
        self.result = DirtyTimeline()

    def sample(self) -> None:
        """One Dirty/Writeback sample."""
        info, tl = meminfo(), self.result
        tl.t.append(time.monotonic() - tl.t0)
        tl.dirty.append(info["Dirty"])
        tl.writeback.append(info["Writeback"])


_KPF_DIRTY, _KPF_WRITEBACK = 1 << 4, 1 << 8  # bits of /proc/kpageflags (kernel's page-flags ABI)


class _Range(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _Stat(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "nr_cache", "nr_dirty", "nr_writeback", "nr_evicted", "nr_recently_evicted")]


_CACHESTAT = {"x86_64": 451, "aarch64": 451}.get(os.uname().machine)


def cachestat(path: str | Path) -> tuple[int, int] | None:
    """(dirty or writeback pages, cached pages) from cachestat(2), Linux 6.5+; None where absent.

    The kernel answers only a caller who may write to the file (or owns it, or is root) and
    refuses others with EPERM, which returns None here too.
    """
    if _CACHESTAT is None:
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        stat = _Stat()
        if _libc.syscall(_CACHESTAT, fd, ctypes.byref(_Range(0, 0)), ctypes.byref(stat), 0):
            return None  # ENOSYS before Linux 6.5; EPERM without write permission
        return stat.nr_dirty + stat.nr_writeback, stat.nr_cache
    finally:
        os.close(fd)


def dirty(path: str | Path) -> tuple[int, int]:
    """(dirty pages, cached pages) of a file: cachestat(2) where the kernel has it, else page flags."""
    return cachestat(path) or page_flags(path)


def page_flags(path: str | Path) -> tuple[int, int]:
    """(dirty pages, cached pages) of a file: its cached pages' flags from /proc/kpageflags.

    Maps the file, touches only pages already cached (so nothing is read from disk), looks up
    each page frame in /proc/self/pagemap and reads its flags. Needs root: without it the
    kernel hides page frame numbers.
    """
    with _mapped(path) as (addr, cached):
        n_dirty = sum(bool(flags & (_KPF_DIRTY | _KPF_WRITEBACK))
                      for _, flags in _flags(addr, cached))
        return n_dirty, len(cached)


def _flags(addr: int, cached: list[int]) -> list[tuple[int, int]]:
    """(page index, kpageflags) of each cached page of a mapping."""
    for i in cached:  # map the cached page into this process without reading the disk
        ctypes.c_ubyte.from_address(addr + i * PAGE).value
    out = []
    with open("/proc/self/pagemap", "rb") as pagemap, open("/proc/kpageflags", "rb") as kf:
        for i in cached:
            pagemap.seek((addr // PAGE + i) * 8)
            entry = int.from_bytes(pagemap.read(8), "little")
            pfn = entry & ((1 << 55) - 1)
            if not entry >> 63 or pfn == 0:
                raise PermissionError("page frame numbers are hidden: reading page "
                                      "flags needs root")
            kf.seek(pfn * 8)
            out.append((i, int.from_bytes(kf.read(8), "little")))
    return out


def dirty_fraction(path: str | Path) -> float:
    """Share of the file's cached pages that are dirty or being written back (0.0 if none cached)."""
    n_dirty, cached = dirty(path)
    return n_dirty / cached if cached else 0.0
