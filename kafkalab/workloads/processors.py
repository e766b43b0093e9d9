"""Processors: consume-transform-produce processes (processor.py) sharing one input, output,
group and transactional.id, started, signalled and read back from here."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from ..errors import LabError
from ..lab import children, topology
from ..waiting import wait_for

if TYPE_CHECKING:
    from ..lab.cluster import Lab


def steady_coordinators(lab: Lab) -> None:
    """Put __transaction_state's leaders on their preferred brokers (the lab's own cluster only):
    a coordinator the controller moves mid-run holds that run's markers back."""
    lab.preferred_leaders(("__transaction_state",))


MODES = ("transactional", "at-least-once")


class Processors:
    """Context manager: processor processes sharing one input, output, group and transactional.id."""

    def __init__(self, lab: Lab, input_topic: str, output_topic: str, mode: str = "transactional",
                 partitions: int = 3, batch: int = 50, delay_ms: float = 4,
                 producer_config: dict | None = None) -> None:
        """Prepare the processors' shared spec; each starts with start()."""
        steady_coordinators(lab)
        if mode not in MODES + ("open",):
            raise ValueError(f"mode = {mode!r}: use one of {MODES}")
        self.name = lab.unique("proc")
        self.dir = topology.RUN_DIR / "processors" / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.file = self.dir / "side-effect.txt"
        self.spec = {"bootstrap": lab.bootstrap, "input": input_topic, "output": output_topic,
                     "mode": mode, "partitions": partitions, "batch": batch, "delay_ms": delay_ms,
                     "group": self.name, "transactional_id": self.name, "file": str(self.file),
                     "producer": producer_config or {}}
        self.procs: list[subprocess.Popen] = []
        self.t0 = time.time()

    def __enter__(self) -> Processors:
        """The processors."""
        return self

    def __exit__(self, *exc: Any) -> None:
        """SIGKILL every processor still running (paused ones too)."""
        for i, p in enumerate(self.procs):
            if p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
                os.kill(p.pid, signal.SIGKILL)
            p.wait(10)
            children.forget(f"{self.name}-{i}")

    def start(self, timeout: float = 30) -> int:
        """Start one more processor with the shared spec; return its index once it has started."""
        i = len(self.procs)
        proc = children.spawn("kafkalab.workloads.processor",
                              {**self.spec, "events": str(self.dir / f"p{i}.jsonl")},
                              self.dir / f"p{i}", f"{self.name}-{i}")
        self.procs.append(proc)
        wait_for(lambda: self.events(i, "start") or proc.poll() is not None, timeout,
                 f"processor {i} to start (init_transactions)")
        if proc.poll() is not None:
            raise LabError(f"processor {i} exited: {(self.dir / f'p{i}.log').read_text()[-500:]}")
        return i

    def events(self, i: int, ev: str | None = None) -> list[dict]:
        """Processor i's events so far (of one kind, if given)."""
        path = self.dir / f"p{i}.jsonl"
        if not path.exists():
            return []
        lines = path.read_text().splitlines()
        return [d for d in (json.loads(x) for x in lines if x.endswith("}"))
                if ev is None or d["ev"] == ev]

    def signal(self, i: int, sig: signal.Signals) -> None:
        """Send processor i a signal (SIGKILL waits for it to end)."""
        os.kill(self.procs[i].pid, sig)
        if sig == signal.SIGKILL:
            self.procs[i].wait(10)
            children.forget(f"{self.name}-{i}")

    def stop(self, i: int) -> None:
        """SIGTERM processor i and wait for it to finish its batch."""
        self.signal(i, signal.SIGTERM)
        self.procs[i].wait(30)
        children.forget(f"{self.name}-{i}")

    def side_effects(self) -> Counter:
        """How many times each input value was appended to the local file."""
        return Counter(self.file.read_text().split()) if self.file.exists() else Counter()
