"""The errors kafkalab raises: each message says what went wrong and what to do."""
from __future__ import annotations


class LabError(RuntimeError):
    """Something about the lab is wrong; the message says what and what to do."""


class LabTimeout(LabError, TimeoutError):
    """A condition the lab waited for did not happen before its deadline."""


class NotAvailable(LabError):
    """The check cannot run here: a fault or a file asked of an external cluster, or a host tool missing."""

