"""Brokers whose data directory sits on LazyFS, and power cuts that drop what they never fsynced.

A broker moved onto LazyFS keeps its data where it was: the folder's contents move to a backing
folder beside it, and LazyFS mounts that folder at the old path, so the broker's settings do not
change. `power_cut(lab, b, ...)` SIGKILLs the brokers at once, has LazyFS drop every unsynced
write, remounts (no cached page survives) and starts them again. `down` puts every data
directory back (restore()).
"""
from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LabError
from . import lazyfs, topology

if TYPE_CHECKING:
    from .cluster import Lab

BACKING = "data.lazyfs-backing"
_mounts: dict[int, subprocess.Popen] = {}  # broker -> its LazyFS process (this Python process's)


def _paths(lab: Lab, broker: int) -> tuple[Path, Path]:
    """(data directory, backing folder) of a broker."""
    lab.require_own("power cuts (LazyFS mounts a broker's data directory here)", "can_cut_power")
    d = lab.launcher.data_dir(topology.node(broker))
    return d, d.parent / BACKING


def on_lazyfs(lab: Lab, broker: int) -> bool:
    """True when the broker's data directory is a LazyFS mount."""
    return os.path.ismount(_paths(lab, broker)[0])


def _restarted(lab: Lab, brokers: list[int], step: Callable[[int], None]) -> None:
    """Stop the brokers cleanly, all at once, run step(b) for each, then start them together."""
    if not brokers:
        return
    with ThreadPoolExecutor(len(brokers)) as pool:  # each clean stop waits on the controller
        list(pool.map(lab.stop, brokers))
    try:
        for b in brokers:
            step(b)
    finally:
        for b in brokers:
            lab.start(b, wait=False)
    for b in brokers:
        lab.start(b)


def use(lab: Lab, *brokers: int) -> None:
    """Move each broker's data onto LazyFS: clean stop, mount over a backing folder, start."""
    def mount(b: int) -> None:
        data, backing = _paths(lab, b)
        if backing.exists():
            raise LabError(f"{backing} exists: `python -m kafkalab down` puts it back")
        data.rename(backing)
        data.mkdir()
        _mounts[b] = lazyfs.mount(backing, data)
    _restarted(lab, [b for b in brokers if not os.path.ismount(_paths(lab, b)[0])], mount)


def leave(lab: Lab, *brokers: int) -> None:
    """Move each broker's data back to the ordinary filesystem (clean stop, unmount, start)."""
    def unmount(b: int) -> None:
        _put_back(*_paths(lab, b), _mounts.pop(b, None))
    _restarted(lab, [b for b in brokers if os.path.ismount(_paths(lab, b)[0])], unmount)


def _put_back(data: Path, backing: Path, proc: subprocess.Popen | None = None) -> None:
    """Unmount the data directory and move the backing folder back into its place."""
    lazyfs.unmount(data, proc)
    if backing.exists():
        if data.exists():
            # the empty mount point; a control file written there while no mount was up goes too
            (data / lazyfs.CONTROL.lstrip("/")).unlink(missing_ok=True)
            data.rmdir()
        backing.rename(data)


@contextmanager
def lazy(lab: Lab, *brokers: int) -> Iterator[None]:
    """The brokers on LazyFS for the block; back on the ordinary filesystem however it ends."""
    try:
        use(lab, *brokers)
        yield
    finally:
        leave(lab, *brokers)


def power_cut(lab: Lab, *brokers: int, remount: bool = True) -> dict[int, dict[str, int]]:
    """SIGKILL the brokers together, drop their unsynced writes, remount, start them again;
    return the bytes dropped per broker and file.

    remount=False puts their data back on the ordinary filesystem instead of remounting (what
    survived is the same), so a block that ends with the cut saves a restart per broker.
    """
    paths = {b: _paths(lab, b) for b in brokers}
    missing = [b for b, (data, _) in paths.items() if not os.path.ismount(data)]
    if missing:
        raise LabError(f"broker(s) {missing} are not on LazyFS: put them there first "
                       f"(with lab.lazyfs({', '.join(map(str, missing))}): ...)")
    log = lab.launcher.node_dir(topology.CONTROLLER) / "logs" / "server.log"
    offset = log.stat().st_size
    for b in brokers:
        lab.kill(b)
    # Started again only once the controller has fenced them, so that "registered" means this
    # start; read from the controller's own log, as no broker may be left to ask.
    lab.wait_for(lambda: _fenced_since(log, offset, brokers), 30,
                 f"the controller to fence broker(s) {list(brokers)} after the cut")
    dropped = {}
    try:
        for b, (data, backing) in paths.items():
            dropped[b] = lazyfs.power_cut(data)
            if remount:
                lazyfs.unmount(data, _mounts.pop(b, None))
                _mounts[b] = lazyfs.mount(backing, data)
            else:
                _put_back(data, backing, _mounts.pop(b, None))
    finally:
        for b in brokers:
            lab.start(b, wait=False)
    for b in brokers:
        lab.start(b)
    return dropped


def _fenced_since(log: Path, offset: int, brokers: tuple[int, ...]) -> bool:
    """True when the controller's log, past `offset`, records each broker's fencing."""
    with open(log, "rb") as f:
        f.seek(offset if log.stat().st_size >= offset else 0)
        text = f.read().decode(errors="replace")
    return all(re.search(rf"brokerId={b}, brokerEpoch=\d+, fenced=1", text) for b in brokers)


def restore(launcher, run_dir: Path = topology.RUN_DIR) -> int:
    """Put back the data directory of every stopped broker left on LazyFS (`down` once the
    brokers have stopped; `up` before it looks at the data)."""
    restored = 0
    for n in topology.BROKERS:
        data, backing = run_dir / n.name / "data", run_dir / n.name / BACKING
        if launcher.pid(n) is not None:
            continue
        if os.path.ismount(data) or backing.exists():
            _put_back(data, backing, _mounts.pop(n.id, None))
            restored += 1
    return restored
