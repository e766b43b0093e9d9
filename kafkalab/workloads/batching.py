"""What batching saves the brokers: CPU time per megabyte, with and without batches."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..probes import process
from .clients import ProduceRun, produce

if TYPE_CHECKING:
    from ..lab.cluster import Lab


@dataclass
class BrokerCost:
    """One producer run and the CPU time every broker spent during it."""

    run: ProduceRun
    cpu_s: float  # user + system seconds, all brokers, during the run
    megabytes: float  # value bytes delivered

    @property
    def cpu_ms_per_mb(self) -> float:
        """Broker CPU milliseconds per delivered MB."""
        return 1000 * self.cpu_s / self.megabytes if self.megabytes else float("inf")


def broker_cost(lab: Lab, topic: str, config: dict, records: int, size: int = 200) -> BrokerCost:
    """Produce `records` as fast as possible with `config`; count the brokers' CPU time."""
    pids = [lab.process(b, "reading the brokers' CPU time").pid for b in lab.brokers]
    before = sum(process.cpu_seconds(p) for p in pids)
    run = produce(lab, topic, config, records=records, size=size)
    cpu = sum(process.cpu_seconds(p) for p in pids) - before
    return BrokerCost(run, cpu, run.delivered * size / 1e6)
