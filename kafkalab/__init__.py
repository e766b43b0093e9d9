"""kafkalab: the book's Kafka lab. `lab = kafkalab.connect()` and experiment.

Rooms: `lab` (topology, launchers, cluster, faults), `workloads` (what several chapters
share: clients, load feeds, group members, processors), `experiments` (one module per
chapter's experiments), `oracles` (pure checks over recorded events), `probes` (the OS's view
of a broker: page cache, system calls, heap, CPU), `book` (site, plots, widgets, exercise checks).
"""
from __future__ import annotations

import platform
from typing import TYPE_CHECKING, Any

from .errors import LabError, LabTimeout, NotAvailable
from .lab.topology import BOOTSTRAP, kafka_version
from .waiting import wait_for

if TYPE_CHECKING:
    from .lab.cluster import Lab, connect, down, up

__all__ = ["Lab", "LabError", "LabTimeout", "NotAvailable", "BOOTSTRAP", "connect", "down",
           "up", "wait_for", "versions", "kafka_version"]


def versions() -> dict[str, str]:
    """The versions this run uses: Kafka, librdkafka, confluent-kafka, Python (pinned), and the
    Java that runs the lab's JVMs, or the release an external cluster's brokers run."""
    import os

    import confluent_kafka

    from .lab.jvm import java_path, java_version
    from .lab.launcher import launcher_for
    out = {"Apache Kafka": kafka_version(), "librdkafka": confluent_kafka.libversion()[0],
           "confluent-kafka": confluent_kafka.__version__, "Python": platform.python_version()}
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        from .lab.tools import cluster_version
        out["Apache Kafka"] += " (clients and tools)"
        out["external cluster"] = f"{external}: Kafka {cluster_version(external)}"
    elif launcher_for().kind == "jvm":
        out["Java (the lab)"] = java_version(java_path())
    return out


def __getattr__(name: str) -> Any:
    """Lab, connect, up and down, imported on first use: `python -m kafkalab cds` (run by
    `make jars` beside the venv's install) needs no client library."""
    if name in ("Lab", "connect", "down", "up"):
        from . import lab
        return getattr(lab, name)
    raise AttributeError(f"module 'kafkalab' has no attribute {name!r}")
