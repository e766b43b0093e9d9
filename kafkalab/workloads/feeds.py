"""Load feeds: a producer thread sending numbered values at a steady rate, every record's send
time and outcome kept, for experiments that need writes flowing while something happens."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .clients import pace, producer

if TYPE_CHECKING:
    from ..lab.cluster import Lab


@dataclass
class Record:
    """One record's fate: when it was sent and finished (s since the run began), and how."""

    sent: float
    done: float = float("nan")
    error: str | None = None  # None: delivered
    partition: int = -1  # where the leader put it

    @property
    def delivered(self) -> bool:
        """True when the delivery report carried no error."""
        return self.error is None and self.done == self.done

    @property
    def age(self) -> float:
        """Seconds from produce() to the delivery report (nan without a report)."""
        return self.done - self.sent


def sender(p, topic: str, t0: float, records: list[Record]):
    """A produce function that records each record's send time and outcome into `records`."""
    def send(value: bytes) -> None:
        rec = Record(time.monotonic() - t0)
        records.append(rec)

        def report(err, msg, rec=rec) -> None:
            rec.done = time.monotonic() - t0
            rec.error = err.name() if err is not None else None
            rec.partition = msg.partition() if err is None else -1
        p.produce(topic, value, on_delivery=report)
    return send


class Steady:
    """Context manager: a thread producing values 0, 1, 2, ... at `rate`/s (up to `limit`), each
    one's send time and outcome kept in .records (times in s since .t0); stopped with the block."""

    def __init__(self, p, topic: str, rate: float, limit: int | None = None) -> None:
        """Prepare the sender; it starts when the block is entered."""
        self.records: list[Record] = []
        self.t0 = time.monotonic()
        self._send = sender(p, topic, self.t0, self.records)
        self._p, self._rate, self._limit = p, rate, limit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        """Send on schedule until stopped."""
        i = 0
        while not self._stop.is_set() and (self._limit is None or i < self._limit):
            pace(self._p, self.t0 + i / self._rate)
            self._send(f"{i}".encode())
            i += 1

    def __enter__(self) -> Steady:
        """Start sending."""
        self._thread.start()
        return self

    def done(self) -> bool:
        """True once a limited sender has sent everything."""
        return not self._thread.is_alive()

    def __exit__(self, *exc) -> None:
        """Stop sending (delivery reports still to come are served by the caller's flush)."""
        self._stop.set()
        self._thread.join()

    @property
    def rate(self) -> float:
        """Records per second achieved."""
        sent = [r.sent for r in self.records]
        return (len(sent) - 1) / (sent[-1] - sent[0]) if len(sent) > 1 else 0.0


class Feed(Steady):
    """Context manager: a producer (acks=all) writing `rate` records/s (values 0, 1, 2, ...,
    up to `limit`) in a thread; every delivery report is in once the block has ended."""

    def __init__(self, lab: Lab, topic: str, rate: float, limit: int | None = None) -> None:
        """Prepare the feed; it starts when the block is entered."""
        super().__init__(producer(lab, {"acks": "all", "linger.ms": 5}), topic, rate, limit)

    def __exit__(self, *exc) -> None:
        """Stop writing and wait for the last delivery reports."""
        super().__exit__(*exc)
        self._p.flush(30)

    @property
    def acked(self) -> dict[bytes, int]:
        """Acknowledged values and the partition each went to."""
        return {str(i).encode(): r.partition for i, r in enumerate(self.records) if r.delivered}
