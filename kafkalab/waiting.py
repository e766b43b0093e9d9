"""Waiting for a condition with a deadline: the one polling loop every room of kafkalab uses."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import LabTimeout

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 30, what: str = "a condition",
             interval: float = 0.1) -> T:
    """Poll condition until it returns something truthy; raise LabTimeout naming `what`."""
    from confluent_kafka import KafkaException
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = condition()
        except KafkaException as e:  # a broker in the middle of a fault: try again
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
