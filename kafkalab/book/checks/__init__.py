"""Exercise checkers: each runs the reader's settings on the lab and says what went wrong.

A checker raises AssertionError ("wrong") only for the reader's answer; a cluster that cannot
run the check (an external one, a missing tool) raises NotAvailable, which the notebook shows
as a one-line note and never as the reader's mistake.
"""
from .common import solutions
from .groups import *  # noqa: F403
from .logs import *  # noqa: F403
from .producing import *  # noqa: F403
from .replicas import *  # noqa: F403
from .storage import *  # noqa: F403
from .transactions import *  # noqa: F403

__all__ = ["solutions"] + [n for n in dir() if n.startswith(("check_", "judge_"))]
