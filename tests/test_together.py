"""Side-by-side runs: they overlap in time, and one run's failure is raised once all have ended."""
from __future__ import annotations

import threading
import time

import pytest

from kafkalab.workloads.together import side_by_side


def test_runs_overlap_and_results_keep_their_keys():
    """Each run waits for the others at a barrier: run one after another, none would get past it."""
    meet = threading.Barrier(3, timeout=5)
    runs = {name: (lambda name=name: (meet.wait(), name)[1]) for name in ("a", "b", "c")}
    assert side_by_side(runs) == {"a": "a", "b": "b", "c": "c"}


def test_a_failure_is_raised_after_the_other_runs_have_ended():
    """The failing run's own error comes out, and only once the slower run has finished."""
    ended = []

    def slow() -> str:
        time.sleep(0.3)
        ended.append("slow")
        return "done"

    def fails() -> str:
        raise ValueError("this run failed")

    with pytest.raises(ValueError, match="this run failed"):
        side_by_side({"slow": slow, "fails": fails})
    assert ended == ["slow"]


def test_no_runs_no_threads():
    """An empty set of runs gives an empty result."""
    assert side_by_side({}) == {}
