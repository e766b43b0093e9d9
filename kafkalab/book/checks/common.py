"""What every exercise checker shares: the solutions switch, and "wrong" versus "cannot run".

A checker raises AssertionError ("wrong") only for the reader's answer: a value or a setting
the client refuses, or a measurement that shows the answer wrong. A cluster that cannot run the
check raises NotAvailable (an external cluster, a missing host tool), shown as a one-line note;
a sick lab (a timeout, a broker that does not answer) raises LabError saying it is the lab's
problem. Neither is ever reported as the reader's mistake.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from ...errors import LabError, NotAvailable
from ..site import SOLUTIONS


def solutions() -> bool:
    """True when the book is built or tested: the exercises' solution cells then run.

    In JupyterLab they do nothing, so "Run All" checks the reader's own answers.
    """
    return os.environ.get(SOLUTIONS) == "1"


SICK_LAB = ("the lab could not run this check, which says nothing about your answer "
            "(`python -m kafkalab status` shows the lab; `python -m kafkalab up` starts what is down)")


def checker(fn: Callable[..., None]) -> Callable[..., None]:
    """Settings the client refuses become "wrong"; a sick lab becomes LabError; NotAvailable passes."""
    @functools.wraps(fn)
    def check(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except (AssertionError, NotAvailable):
            raise
        except KafkaException as e:
            if refused_setting(e):
                raise AssertionError(f"your settings could not run: {e}") from None
            raise LabError(f"{SICK_LAB}: {e}") from e
        except LabError as e:
            raise LabError(f"{SICK_LAB}: {e}") from e
        except ValueError as e:
            raise AssertionError(f"your settings could not run: {e}") from None
    return check


def refused_setting(e: KafkaException) -> bool:
    """True when librdkafka refused a configuration (an invalid name, value or combination)."""
    err = e.args[0] if e.args else None
    return isinstance(err, KafkaError) and err.code() in (KafkaError._INVALID_ARG,
                                                          KafkaError.INVALID_CONFIG)


def _whole(name: str, value: Any, low: int = 1) -> None:
    """Refuse a value that is not a whole number >= low, naming the setting."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise AssertionError(f"set {name} to a whole number >= {low} (got {value!r})")


def _settings(name: str, value: Any) -> None:
    """Refuse a value that is not a dict of settings."""
    if not isinstance(value, dict):
        raise AssertionError(f"{name} must be a dict of settings, got {value!r}")


