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
    A notebook prints it as a one-line "Skipped: ..." note and runs on (kafkalab.skips); exercise
    checks let it through as such; KAFKALAB_STRICT=1 (the suite on the own lab) raises it."""

