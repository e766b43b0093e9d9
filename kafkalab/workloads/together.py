"""Experiments that share nothing (each its own topics, group or transactional id, and no
broker fault) run side by side, each in a thread of its own, so that their waits overlap."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

K = TypeVar("K")
T = TypeVar("T")


def side_by_side(runs: Mapping[K, Callable[[], T]]) -> dict[K, T]:
    """Start every run at once; their results by key, or the first run's error once all ended."""
    if not runs:
        return {}
    with ThreadPoolExecutor(max_workers=len(runs), thread_name_prefix="kafkalab-run") as pool:
        futures = {key: pool.submit(run) for key, run in runs.items()}
    for future in futures.values():  # every run has ended here: the pool's exit waited for them
        if (error := future.exception()) is not None:
            raise error
    return {key: future.result() for key, future in futures.items()}
