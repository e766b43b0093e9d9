"""Waiting for a condition with a deadline: the one polling loop every room of kafkalab uses."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import LabTimeout

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 30, what: str = "a condition",
             interval: float = 0.1) -> T:
    """Poll condition until it returns something truthy; raise LabTimeout naming `what`."""
    try:
        from confluent_kafka import KafkaException
        retried: tuple[type[Exception], ...] = (KafkaException,)
    except ImportError:  # `python -m kafkalab cds` runs before the venv has the client
        retried = ()
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = condition()
        except retried as e:  # a broker in the middle of a fault: try again
            last = e
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise LabTimeout(f"timed out after {timeout:g} s waiting for {what} "
                             f"(last seen: {last!r})")
        time.sleep(interval)


def sleep_until(deadline: float) -> None:
    """Sleep until time.monotonic() reaches deadline (a schedule, not a wait for a condition)."""
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(left)


class Sampler:
    """Context manager: calls self.sample() every `interval` seconds in a thread for the block.

    A subclass implements sample() and sets self.result, which the with-statement yields.
    """

    result: Any = None

    def __init__(self, interval: float) -> None:
        """Prepare the thread; it starts when the block is entered."""
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        """Take one sample (subclasses)."""
        raise NotImplementedError

    def _run(self) -> None:
        """Sample until stopped."""
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> Any:
        """Start sampling; yield the result object that fills while the block runs."""
        self._thread.start()
        return self.result

    def __exit__(self, *exc) -> None:
        """Stop sampling and wait for the thread."""
        self._stop.set()
        self._thread.join()
