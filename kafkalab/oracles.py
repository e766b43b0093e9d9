"""Oracles: pure functions over what the producer was told and what a reader found afterwards.

Each takes recorded events (acknowledged values, values read back in log order, timestamps)
and names or counts what went wrong; none talks to the cluster, so each is tested on
hand-made histories. `Numbered` gives a run of numbered records the three counts at once.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Sequence


def lost(acknowledged: Iterable[Hashable], read: Iterable[Hashable]) -> set:
    """Acknowledged values the reader did not find: every acknowledged record must be readable."""
    return set(acknowledged) - set(read)


def duplicates(read: Iterable[Hashable]) -> int:
    """Extra copies: a value read n times counts n - 1."""
    return sum(n - 1 for n in Counter(read).values() if n > 1)


def missing(sent: Iterable[Hashable], read: Iterable[Hashable]) -> int:
    """Sent values the reader found no copy of."""
    return len(set(sent) - set(read))


def reordered(order: Sequence[int]) -> int:
    """Values whose first copy lies after the first copy of a value sent later (numbers = send order)."""
    seen: set[int] = set()
    count, highest = 0, -1
    for i in order:
        if i in seen:
            continue
        seen.add(i)
        count += i < highest
        highest = max(highest, i)
    return count


def gaps(times: Sequence[float]) -> list[float]:
    """The intervals between consecutive timestamps."""
    return [b - a for a, b in zip(times, times[1:])]


def longest_gap(times: Sequence[float]) -> float:
    """The longest interval between consecutive timestamps (0 for fewer than two)."""
    return max(gaps(times), default=0.0)


class Numbered:
    """Counts over a run whose records were numbered 0 .. sent-1 in send order: `stored` holds
    the numbers a reader found, in log order, copies included (a subclass provides both)."""

    sent: int
    stored: Sequence[int]

    @property
    def duplicates(self) -> int:
        """Extra copies in the log."""
        return duplicates(self.stored)

    @property
    def missing(self) -> int:
        """Sent records with no copy in the log."""
        return missing(range(self.sent), self.stored)

    @property
    def reordered(self) -> int:
        """Records stored (first copy) after a record that was sent later."""
        return reordered(self.stored)
