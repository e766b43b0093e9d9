"""The errors kafkalab raises: each message says what went wrong and what to do."""
from __future__ import annotations


class LabError(RuntimeError):
    """Something about the lab is wrong; the message says what and what to do."""


class LabTimeout(LabError, TimeoutError):
    """A condition the lab waited for did not happen before its deadline."""


class NotAvailable(LabError):
    """The check cannot run here: a fault or a file asked of an external cluster, or a host tool missing."""


def show_as_note() -> None:
    """In IPython, show NotAvailable as a one-line note, not a traceback; the run still stops there."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def note(shell, etype, value, tb, tb_offset=None) -> list[str]:
        print(f"Skipped: {value}")
        return []
    shell.set_custom_exc((NotAvailable,), note)
