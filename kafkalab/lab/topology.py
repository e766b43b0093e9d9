"""The lab's topology, ports, heaps and broker settings: written once here, shared by both launchers."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KAFKA_DIR = ROOT / "kafka"
LIBS_DIR = KAFKA_DIR / "libs"
POM = KAFKA_DIR / "pom.xml"
COMPOSE_FILE = ROOT / "docker-compose.yml"
# A lane is a whole second (third, ...) lab on the same machine, with its own ports, run
# directory and fault tags: `make test` runs the suite in two lanes at once (KAFKALAB_LANE=1).
LANE = int(os.environ.get("KAFKALAB_LANE") or 0)
PORT_OFFSET = 100 * LANE  # lane 0: 19090-19093; lane 1: 19190-19193
NAME = "kafkalab" if LANE == 0 else f"kafkalab{LANE}"  # tags the lab's rules, cgroups, mounts
_BASE_RUN_DIR = Path(os.environ.get("KAFKALAB_RUN_DIR", ROOT / ".lab"))
RUN_DIR = _BASE_RUN_DIR if LANE == 0 else _BASE_RUN_DIR.with_name(f"{_BASE_RUN_DIR.name}-lane{LANE}")
CACHE_DIR = _BASE_RUN_DIR / "cache"  # shared by every lane: class-data archives, client defaults

HOST = "127.0.0.1"
UP_COMMAND = "python -m kafkalab up"  # named in every 'cannot reach the lab' message


@dataclass(frozen=True)
class Node:
    """One process of the lab: the KRaft controller (id 0) or a broker (ids 1-3)."""

    id: int
    role: str  # "controller" or "broker"
    port: int

    @property
    def name(self) -> str:
        """Service name, shared with docker-compose.yml."""
        return "controller" if self.role == "controller" else f"broker-{self.id}"


CONTROLLER = Node(0, "controller", 19090 + PORT_OFFSET)
BROKERS = tuple(Node(i, "broker", 19090 + i + PORT_OFFSET) for i in (1, 2, 3))
NODES = (CONTROLLER, *BROKERS)
BOOTSTRAP = ",".join(f"{HOST}:{b.port}" for b in BROKERS)

# Heap per JVM (the machine has 2 cores and runs four of them next to the notebook).
BROKER_HEAP = "384m"
CONTROLLER_HEAP = "256m"
JVM_OPTS = (
    "-XX:+UseSerialGC",  # one GC thread: small heaps, fewer threads on 2 cores
    "-XX:CICompilerCount=2",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)

# Settings every broker gets, each with what it speeds up in the lab and its production default.
BROKER_SETTINGS: dict[str, str] = {
    # A killed broker is fenced (and its leaderships moved) after 3 s instead of 9 s.
    "broker.session.timeout.ms": "3000",  # default 9000
    # A follower that stops fetching leaves the ISR after 10 s instead of 30 s (chapter 06).
    "replica.lag.time.max.ms": "10000",  # default 30000
    # Heartbeats often enough for the 3 s session above.
    "broker.heartbeat.interval.ms": "500",  # default 2000
    # Groups of the new protocol (KIP-848) get their assignments within a second, not 5 s.
    "group.consumer.heartbeat.interval.ms": "1000",  # default 5000
    "group.consumer.min.heartbeat.interval.ms": "1000",  # default 5000
    # A new consumer group starts at once instead of waiting for more members.
    "group.initial.rebalance.delay.ms": "0",  # default 3000
    # Retention and cleaner tasks start 1 s after startup instead of 30 s.
    "log.initial.task.delay.ms": "1000",  # default 30000
    # Retention is checked every 5 s, so the retention chapter need not wait 5 minutes.
    "log.retention.check.interval.ms": "5000",  # default 300000
    # An idle log cleaner looks for work every second instead of every 15 s.
    "log.cleaner.backoff.ms": "1000",  # default 15000
    # A deleted topic's folders (and a deleted segment's files) go 1 s later instead of 60 s,
    # so a broker restarted soon after a topic was deleted has fewer logs to load.
    "log.segment.delete.delay.ms": "1000",  # default 60000
    # A restarting node loads a metadata snapshot at most 10 s old instead of replaying the
    # metadata log from its start; snapshots older than 10 minutes are removed.
    "metadata.log.max.snapshot.interval.ms": "10000",  # default 3600000 (1 hour)
    "metadata.max.retention.ms": "600000",  # default 604800000 (7 days)
    # A transaction past its transaction.timeout.ms is aborted within 1 s instead of 10 s.
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",  # default 10000
    # Internal topics are replicated like production ones: survive a broker failure.
    "offsets.topic.replication.factor": "3",  # default 3 (the single-broker quickstart uses 1)
    "transaction.state.log.replication.factor": "3",  # default 3
    "transaction.state.log.min.isr": "2",  # default 2
    "share.coordinator.state.topic.replication.factor": "3",  # default 3
    "share.coordinator.state.topic.min.isr": "2",  # default 2
    # Fewer partitions for internal topics: the first consumer group and transaction start faster.
    "offsets.topic.num.partitions": "6",  # default 50
    "transaction.state.log.num.partitions": "6",  # default 50
    "share.coordinator.state.topic.num.partitions": "6",  # default 50
    # Few threads: four JVMs share 2 cores.
    "num.network.threads": "2",  # default 3
    "num.io.threads": "2",  # default 8
    "background.threads": "2",  # default 10
    "num.replica.fetchers": "1",  # default 1
    "num.recovery.threads.per.data.dir": "1",  # default 2
    "log.cleaner.threads": "1",  # default 1
    # Topics are created by the book, by name; a typo should fail, not create a topic.
    "auto.create.topics.enable": "false",  # default true
}

# Kafka's own default for each setting above, printed beside the lab's value by the chapters.
KAFKA_DEFAULTS: dict[str, str] = {
    "broker.session.timeout.ms": "9000", "broker.heartbeat.interval.ms": "2000",
    "replica.lag.time.max.ms": "30000", "leader.imbalance.check.interval.seconds": "300",
    "group.consumer.heartbeat.interval.ms": "5000",
    "group.consumer.min.heartbeat.interval.ms": "5000",
    "group.initial.rebalance.delay.ms": "3000", "log.initial.task.delay.ms": "30000",
    "log.retention.check.interval.ms": "300000", "log.cleaner.backoff.ms": "15000",
    "log.segment.delete.delay.ms": "60000", "metadata.log.max.snapshot.interval.ms": "3600000",
    "metadata.max.retention.ms": "604800000",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": "10000",
    "offsets.topic.replication.factor": "3", "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "share.coordinator.state.topic.replication.factor": "3",
    "share.coordinator.state.topic.min.isr": "2", "offsets.topic.num.partitions": "50",
    "transaction.state.log.num.partitions": "50",
    "share.coordinator.state.topic.num.partitions": "50", "num.network.threads": "3",
    "num.io.threads": "8", "background.threads": "10", "num.replica.fetchers": "1",
    "num.recovery.threads.per.data.dir": "2", "log.cleaner.threads": "1",
    "auto.create.topics.enable": "true",
}

# Settings of the controller (it runs no partitions, only the metadata quorum).
CONTROLLER_SETTINGS: dict[str, str] = {
    "broker.session.timeout.ms": BROKER_SETTINGS["broker.session.timeout.ms"],
    # Leadership moves back to the preferred replica 10 s after it could, not 300 s (chapter 07).
    "leader.imbalance.check.interval.seconds": "10",  # default 300
    "metadata.log.max.snapshot.interval.ms": BROKER_SETTINGS["metadata.log.max.snapshot.interval.ms"],
    "metadata.max.retention.ms": BROKER_SETTINGS["metadata.max.retention.ms"],
    "num.io.threads": "2",
    "num.network.threads": "1",
    "background.threads": "2",
}


def session_timeout_s() -> float:
    """broker.session.timeout.ms in seconds: how long the controller waits before fencing."""
    return int(BROKER_SETTINGS["broker.session.timeout.ms"]) / 1000


def heartbeat_s() -> float:
    """broker.heartbeat.interval.ms in seconds."""
    return int(BROKER_SETTINGS["broker.heartbeat.interval.ms"]) / 1000


def replica_lag_s() -> float:
    """The lab's replica.lag.time.max.ms, in seconds."""
    return int(BROKER_SETTINGS["replica.lag.time.max.ms"]) / 1000


def max_pause_s() -> float:
    """The longest pause a broker can take and still count as alive: a session minus a heartbeat."""
    return session_timeout_s() - heartbeat_s()


def kafka_version() -> str:
    """The pinned Apache Kafka version, read from kafka/pom.xml (the one place it is written)."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if not match:
        raise RuntimeError(f"no <kafka.version> in {POM}")
    return match.group(1).strip()


def node(node_id: int) -> Node:
    """The node with this id."""
    for n in NODES:
        if n.id == node_id:
            return n
    raise ValueError(f"no node {node_id}; nodes are {[n.id for n in NODES]}")


def node_properties(n: Node, data_dir: Path) -> dict[str, str]:
    """The full server.properties of one node of the JVM launcher."""
    voters = f"{CONTROLLER.id}@{HOST}:{CONTROLLER.port}"
    props = {"node.id": str(n.id), "controller.quorum.voters": voters,
             "controller.listener.names": "CONTROLLER"}
    if n.role == "controller":
        props |= {"process.roles": "controller",
                  "listeners": f"CONTROLLER://{HOST}:{n.port}",
                  "metadata.log.dir": str(data_dir),
                  "log.dirs": str(data_dir)}
        return props | CONTROLLER_SETTINGS
    props |= {"process.roles": "broker",
              "listeners": f"PLAINTEXT://{HOST}:{n.port}",
              "advertised.listeners": f"PLAINTEXT://{HOST}:{n.port}",
              "inter.broker.listener.name": "PLAINTEXT",
              "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
              "log.dirs": str(data_dir)}
    return props | BROKER_SETTINGS
