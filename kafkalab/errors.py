"""The errors kafkalab raises: each message says what went wrong and what to do."""
from __future__ import annotations


class LabError(RuntimeError):
    """Something about the lab is wrong; the message says what and what to do."""


class LabTimeout(LabError, TimeoutError):
    """A condition the lab waited for did not happen before its deadline."""


class NotAvailable(LabError):
    """A fault or a file is asked of a cluster the book does not run (an external one)."""
