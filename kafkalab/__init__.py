"""kafkalab: the book's Kafka lab. `lab = kafkalab.connect()` and experiment."""
from __future__ import annotations

import platform

from .cluster import Lab, connect, down, up, wait_for
from .errors import LabError, LabTimeout, NotAvailable
from .settings import BOOTSTRAP, kafka_version

__all__ = ["Lab", "LabError", "LabTimeout", "NotAvailable", "BOOTSTRAP", "connect", "down",
           "up", "wait_for", "versions", "kafka_version"]


def versions() -> dict[str, str]:
    """The pinned versions this run uses: Kafka, librdkafka, confluent-kafka, Python."""
    import confluent_kafka
    return {"Apache Kafka": kafka_version(), "librdkafka": confluent_kafka.libversion()[0],
            "confluent-kafka": confluent_kafka.__version__,
            "Python": platform.python_version()}
