"""What every exercise checker shares: the solutions switch, and "wrong" versus "cannot run".

A checker raises AssertionError ("wrong") only for the reader's answer; a cluster that cannot
run the check (an external one, a missing tool) raises NotAvailable, which the notebook shows
as a one-line note and never as the reader's mistake.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaException

from ...errors import LabError, NotAvailable
from ..site import SOLUTIONS

if TYPE_CHECKING:
    pass


def solutions() -> bool:
    """True when the book is built or tested: the exercises' solution cells then run.

    In JupyterLab they do nothing, so "Run All" checks the reader's own answers.
    """
    return os.environ.get(SOLUTIONS) == "1"


def checker(fn: Callable[..., None]) -> Callable[..., None]:
    """Turn errors the reader's settings caused into "wrong"; let NotAvailable through."""
    @functools.wraps(fn)
    def check(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except (AssertionError, NotAvailable):
            raise
        except (ValueError, LabError, KafkaException) as e:
            raise AssertionError(f"your settings could not run: {e}") from None
    return check


def _whole(name: str, value: Any, low: int = 1) -> None:
    """Refuse a value that is not a whole number >= low, naming the setting."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise AssertionError(f"set {name} to a whole number >= {low} (got {value!r})")


def _settings(name: str, value: Any) -> None:
    """Refuse a value that is not a dict of settings."""
    if not isinstance(value, dict):
        raise AssertionError(f"{name} must be a dict of settings, got {value!r}")


