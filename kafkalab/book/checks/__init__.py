"""Exercise checkers: each runs the reader's settings on the lab and says what went wrong.

A checker raises AssertionError ("wrong") only for the reader's answer; a cluster that cannot
run the check raises NotAvailable (a one-line note), and a sick lab LabError: neither is ever
the reader's mistake (see common.checker).
"""
from .batching import *  # noqa: F403
from .common import solutions
from .groups import *  # noqa: F403
from .logs import *  # noqa: F403
from .producing import *  # noqa: F403
from .replicas import *  # noqa: F403
from .storage import *  # noqa: F403
from .transactions import *  # noqa: F403

__all__ = ["solutions"] + [n for n in dir() if n.startswith(("check_", "judge_"))]
