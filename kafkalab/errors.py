"""The errors kafkalab raises: each message says what went wrong and what to do."""
from __future__ import annotations


class LabError(RuntimeError):
    """Something about the lab is wrong; the message says what and what to do."""


class LabTimeout(LabError, TimeoutError):
    """A condition the lab waited for did not happen before its deadline."""


class NotAvailable(LabError):
    """What was asked cannot be done here, and neither the lab nor the reader is at fault: a fault,
    a file or a process asked of a cluster the book does not run (KAFKA_BOOTSTRAP_SERVERS), a
    capability the launcher lacks (power cuts or process probes under Docker), or a host tool or
    kernel feature missing (strace, perf, iptables, ss, cgroup v2, FUSE, a JVM's GC log).
    Notebooks show it as a one-line "Skipped: ..." note; exercise checks let it through as such."""


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
