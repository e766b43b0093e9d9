"""The lab as a notebook sees it: connect, topics, leaders, ISRs, waiting, and bringing it up or down."""
from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from .. import skips
from ..errors import LabError, LabTimeout
from ..waiting import wait_for
from . import cds, children, kafka_clients, lazyfs, network, powercut, topology
from .faults import Faults
from .launcher import Launcher, launcher_for

T = TypeVar("T")
READY_TOPIC = "_kafkalab_ready"
BOOK_PREFIX = "kafkalab-"  # how the book names what it makes on a cluster it does not run


def _listening(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((topology.HOST, port)) == 0


def _refused(address: str) -> bool:
    """True when a bootstrap address fails at once: connection refused, or an unknown host."""
    host, _, port = address.strip().split("://")[-1].rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=1).close()
    except (ConnectionRefusedError, socket.gaierror):
        return True
    except (OSError, ValueError):  # a timeout or an address we cannot read: ask Kafka
        return False
    return False


class Lab(Faults):
    """A running Kafka cluster: the book's own lab, or an external one (no faults, no files)."""

    def __init__(self, bootstrap: str, launcher: Launcher | None = None) -> None:
        """Wrap a reachable cluster; launcher is None for an external cluster."""
        self.bootstrap = bootstrap
        self.launcher = launcher
        self._isolated = {}
        self.admin = kafka_clients.admin(bootstrap)

    def renew_admin(self) -> None:
        """Replace the harness's admin client (an old one's metadata cache can stay stale)."""
        self.admin = kafka_clients.admin(self.bootstrap)

    def ask(self, request: Callable[[AdminClient], T], timeout: float, what: str,
            again: Callable[[KafkaError], bool] = lambda e: True) -> T:
        """request(admin) until it answers, with a new admin client after each error `again`
        accepts (a client's metadata cache can keep answering "No leaders found" about a topic
        whose leader is up); other errors are raised at once."""
        def attempt() -> tuple[T]:
            try:
                return (request(self.admin),)
            except KafkaException as e:
                if not again(e.args[0]):
                    raise LabError(f"{what}: {e.args[0]}") from None
                self.renew_admin()
                raise
        return wait_for(attempt, timeout, what, interval=0.2)[0]

    def __repr__(self) -> str:
        """One line: where the lab is and how it is run."""
        how = self.launcher.kind if self.launcher else "external"
        return f"<Lab {how} bootstrap={self.bootstrap} brokers={self.brokers}>"

    @property
    def external(self) -> bool:
        """True for a cluster the book does not run (KAFKA_BOOTSTRAP_SERVERS)."""
        return self.launcher is None

    @property
    def brokers(self) -> list[int]:
        """The broker ids of the lab (for an external cluster: those in its metadata)."""
        if self.launcher:
            return [b.id for b in topology.BROKERS]
        return sorted(self.admin.list_topics(timeout=10).brokers)

    # --- metadata -------------------------------------------------------------------------
    def live_brokers(self, timeout: float = 5) -> set[int]:
        """Ids of the brokers the cluster counts as alive (registered and not fenced).

        Read from a metadata request, which any live broker answers (DescribeCluster would go
        to the broker the metadata last named as controller, which may just have died).
        """
        return set(self.admin.list_topics(timeout=timeout).brokers)

    def partition(self, topic: str, partition: int = 0, timeout: float = 10):
        """The metadata of one partition (leader, replicas, isrs), retried until it answers.

        A lookup can land on a broker that has not yet heard of a new topic (brokers learn it
        from the controller milliseconds apart) or on a paused broker that never answers, so
        each try gets one second and the next may go to another broker.
        """
        def lookup():
            t = self.admin.list_topics(topic, timeout=1).topics.get(topic)
            if t is None or t.error is not None or partition not in t.partitions:
                return None
            return t.partitions[partition]
        try:
            return wait_for(lookup, timeout, f"metadata of {topic} partition {partition}",
                            interval=0.05)
        except LabTimeout as e:
            raise LabError(f"no metadata for partition {partition} of topic {topic!r} within "
                           f"{timeout:g} s (is the name right?): {e}") from None

    def leader(self, topic: str, partition: int = 0) -> int:
        """The broker id leading the partition, or -1 while it has no leader."""
        return self.partition(topic, partition).leader

    def isr(self, topic: str, partition: int = 0) -> list[int]:
        """The partition's in-sync replicas, sorted."""
        return sorted(self.partition(topic, partition).isrs)

    def replicas(self, topic: str, partition: int = 0) -> list[int]:
        """The partition's assigned replicas, preferred leader first."""
        return list(self.partition(topic, partition).replicas)

    def followers(self, topic: str, partition: int = 0) -> list[int]:
        """The partition's replicas that do not lead it, in replica order."""
        p = self.partition(topic, partition)
        return [b for b in p.replicas if b != p.leader]

    def follower(self, topic: str, partition: int = 0) -> int:
        """One follower of the partition (the first in replica order)."""
        found = self.followers(topic, partition)
        if not found:
            raise LabError(f"{topic}-{partition} has no follower (replicas "
                           f"{self.replicas(topic, partition)})")
        return found[0]

    def wait_in_sync(self, topic: str, partition: int = 0, timeout: float = 60) -> list[int]:
        """Wait until every replica of the partition is in its ISR; return the ISR."""
        return wait_for(lambda: (isr := self.isr(topic, partition)) == sorted(
            self.replicas(topic, partition)) and isr, timeout,
            f"every replica of {topic}-{partition} to be in sync")

    # --- topics --------------------------------------------------------------------------------
    def new_topic(self, prefix: str = "lab", partitions: int = 1, replication_factor: int = 3,
                  config: dict[str, str] | None = None, min_insync_replicas: int | None = None,
                  timeout: float = 30, on: list[int] | list[list[int]] | None = None) -> str:
        """Create a topic with a name unique to this call; return it once every partition leads.

        `on` places every partition's replicas on those brokers, the first one preferred leader
        (or, as a list of lists, each partition's replicas in turn).
        """
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,200}", prefix):
            raise ValueError(f"topic prefix {prefix!r}: use letters, digits, '.', '_' or '-'")
        name = self.unique(prefix)
        config = dict(config or {})
        if self.external:  # a smaller cluster gets what it can hold
            replication_factor = min(replication_factor, len(self.brokers))
            if min_insync_replicas is not None:
                min_insync_replicas = min(min_insync_replicas, replication_factor)
        if min_insync_replicas is not None:
            config["min.insync.replicas"] = str(min_insync_replicas)
        assignment = ([list(r) for r in on] if on and isinstance(on[0], list)  # type: ignore[union-attr]
                      else [list(on)] * partitions if on else None)  # type: ignore[arg-type]
        if assignment is not None:
            partitions = len(assignment)

        def create() -> bool:
            spec = (NewTopic(name, partitions, replication_factor, config=config) if on is None
                    else NewTopic(name, partitions, replica_assignment=assignment,
                                  config=config))
            fut = self.admin.create_topics([spec], request_timeout=10)[name]
            try:
                fut.result(11)
            except KafkaException as e:
                err = e.args[0]
                if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:  # an earlier try got through
                    return True
                if err.retriable() or err.code() in (KafkaError._TIMED_OUT,
                                                     KafkaError.NOT_CONTROLLER):
                    return False  # e.g. the broker named as controller was just restarted
                raise LabError(f"creating topic {name} ({partitions} partitions, RF "
                               f"{replication_factor}, {config}) failed: {err.str()}") from None
            return True
        wait_for(create, timeout, f"the cluster to create {name}", interval=0.2)
        wait_for(lambda: all(self.partition(name, p).leader >= 0 for p in range(partitions)),
                 timeout, f"every partition of {name} to have a leader")
        return name

    def preferred_leaders(self, topics: tuple[str, ...] = ("__consumer_offsets",),
                          timeout: float = 60) -> int:
        """Move every partition of `topics` to its preferred leader now (return how many moved).

        After a broker restart the controller moves leaderships back on its own, at its next
        balance check; a group coordinator moving in the middle of an experiment restarts every
        member's session. Calling this first makes that move happen before, not during. An
        external cluster keeps its leaders (0): it is not the book's to rearrange.
        """
        from confluent_kafka import ElectionType, TopicPartition
        if self.external:
            return 0
        md = self.admin.list_topics(timeout=10)
        parts = [(t, p, m) for t in topics if t in md.topics
                 for p, m in md.topics[t].partitions.items()]
        wait_for(lambda: all(m.replicas[0] in self.partition(t, p).isrs for t, p, m in parts),
                 timeout, f"every preferred replica of {', '.join(topics)} to be in sync")
        away = [TopicPartition(t, p) for t, p, m in parts
                if self.partition(t, p).leader != m.replicas[0]]
        if away:
            self.admin.elect_leaders(ElectionType.PREFERRED, away).result(timeout)
            wait_for(lambda: all(self.partition(tp.topic, tp.partition).leader ==
                                 self.partition(tp.topic, tp.partition).replicas[0]
                                 for tp in away), timeout, "the preferred leaders to lead")
        return len(away)

    def unique(self, prefix: str) -> str:
        """A name unique to this call; on an external cluster it starts with BOOK_PREFIX."""
        return f"{BOOK_PREFIX if self.external else ''}{prefix}-{uuid.uuid4().hex[:10]}"

    def clean_external(self, timeout: float = 30) -> tuple[list[str], list[str], list[str]]:
        """Delete the topics and consumer groups the book made on an external cluster; return
        those deleted and the groups left because members are still in them."""
        if not self.external:
            raise LabError("clean --external is for the cluster KAFKA_BOOTSTRAP_SERVERS names; "
                           "it is not set")
        topics = sorted(t for t in self.admin.list_topics(timeout=10).topics
                        if t.startswith(BOOK_PREFIX))
        listed = self.admin.list_consumer_groups(request_timeout=timeout).result(timeout)
        groups = sorted(g.group_id for g in listed.valid if g.group_id.startswith(BOOK_PREFIX))
        futures = {**(self.admin.delete_topics(topics, request_timeout=timeout) if topics else {}),
                   **(self.admin.delete_consumer_groups(groups, request_timeout=timeout)
                      if groups else {})}
        busy = []
        for name, fut in futures.items():
            try:
                fut.result(timeout)
            except KafkaException as e:
                if e.args[0].code() == KafkaError.NON_EMPTY_GROUP:
                    busy.append(name)
                elif e.args[0].code() not in (KafkaError.UNKNOWN_TOPIC_OR_PART,
                                              KafkaError.GROUP_ID_NOT_FOUND):
                    raise LabError(f"deleting {name}: {e.args[0].str()}") from None
        return topics, [g for g in groups if g not in busy], busy

    def clear_topics(self, timeout: float = 30) -> int:
        """Delete every topic but Kafka's internal ones and the lab's own; return how many.

        The test run calls it between notebooks: a broker restarting later loads (and after a
        crash, recovers) every partition on its disk, so fewer partitions mean faster restarts.
        """
        self.require_own("deleting every topic")
        names = [t for t in self.admin.list_topics(timeout=10).topics
                 if not t.startswith("__") and t != READY_TOPIC]
        if names:
            for fut in self.admin.delete_topics(names, request_timeout=timeout).values():
                try:
                    fut.result(timeout)
                except KafkaException as e:
                    if e.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                        raise LabError(f"deleting the lab's topics: {e.args[0].str()}") from None
        return len(names)

    # --- Kafka's own tools ---------------------------------------------------------------------
    def tool(self, name: str, *args: str, check: bool = True) -> str:
        """Run one of Kafka's tools against this cluster (its bootstrap filled in); its output."""
        from .tools import run
        return run(name, *args, bootstrap=self.bootstrap, check=check).stdout

    # --- waiting and files ---------------------------------------------------------------------
    wait_for = staticmethod(wait_for)

    def log_dir(self, broker: int, topic: str, partition: int = 0) -> Path:
        """The partition's directory on the broker's disk (segments, indexes)."""
        n = self._node(broker, "reading log files")
        self.require_own("reading log files", "reads_files")
        return self.launcher.data_dir(n) / f"{topic}-{partition}"

    def wait_ready(self, timeout: float = 90) -> None:
        """Wait until all brokers are registered and an acks=all write to RF=3 succeeds."""
        wait_for(lambda: self.live_brokers() == set(self.brokers), timeout,
                 f"brokers {self.brokers} to register with the controller "
                 f"(logs: {self.launcher.run_dir if self.launcher else '-'})", interval=0.2)
        wait_for(lambda: _ready_check(self), 30,
                 "an acks=all write to a RF=3, min.insync.replicas=2 topic", interval=0.2)

    def status(self) -> list[dict[str, Any]]:
        """One row per node: id, role, port, pid, state, memory."""
        if self.external:
            return [{"id": b, "role": "broker", "port": None, "pid": None, "state": "external",
                     "rss_mb": None} for b in self.brokers]
        return node_status(self.launcher)


def node_status(launcher: Launcher) -> list[dict[str, Any]]:
    """Status rows of a launcher's nodes, without needing a reachable cluster."""
    return [{"id": n.id, "role": n.role, "port": n.port, "pid": launcher.pid(n),
             "state": launcher.state(n), "rss_mb": launcher.rss_mb(n)} for n in topology.NODES]


def connect(start: bool = True, timeout: float = 90) -> Lab:
    """Attach to the lab (or KAFKA_BOOTSTRAP_SERVERS); start it, or heal it, when start is True."""
    skips.install()  # in a notebook, what the cluster cannot do is a note, and the rest runs on
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        if all(_refused(a) for a in external.split(",")):
            raise LabError(f"no broker at KAFKA_BOOTSTRAP_SERVERS={external} (connection refused "
                           f"or unknown host); check it, or unset it and start the book's lab "
                           f"with `{topology.UP_COMMAND}`")
        lab = Lab(external)
        try:
            lab.admin.list_topics(timeout=8)
        except KafkaException as e:
            raise LabError(f"cannot reach the cluster at KAFKA_BOOTSTRAP_SERVERS={external} "
                           f"within 8 s ({e.args[0].str()}); check it, or unset it and start "
                           f"the book's lab with `{topology.UP_COMMAND}`") from None
        return lab
    launcher = launcher_for()
    if launcher.local_processes:
        network.clear()  # a broker cut off by a notebook that died mid-experiment rejoins
    states = {n: launcher.state(n) for n in topology.NODES}
    if all(s == "up" for s in states.values()):
        lab = Lab(topology.BOOTSTRAP, launcher)
        wait_for(lambda: lab.live_brokers() == set(lab.brokers), 10,
                 f"all brokers to be registered (is the lab healthy? try `{topology.UP_COMMAND}`)")
        return lab
    if not start:
        if not any(_listening(n.port) for n in topology.NODES):
            raise LabError(f"no Kafka lab is running on {topology.BOOTSTRAP}: start it with "
                           f"`{topology.UP_COMMAND}` (or `make up`)")
        raise LabError("the lab is only partly running ("
                       + ", ".join(f"{n.name} {s}" for n, s in states.items())
                       + f"): run `{topology.UP_COMMAND}` to bring every node back")
    return up(launcher, timeout)


def up(launcher: Launcher | None = None, timeout: float = 90) -> Lab:
    """Start every node that is down, resume paused ones, and wait until the lab is ready."""
    launcher = launcher or launcher_for()
    launcher.check_tools()
    if launcher.can_cut_power:
        powercut.restore(launcher)  # a crashed run's LazyFS leaves data beside its mount point
    if launcher.kind == "jvm" and all(launcher.state(n) == "down" for n in topology.NODES):
        if cds.missing(launcher.major):  # once: `make jars` normally wrote them
            cds.build()
    if not launcher.formatted():
        launcher.format()
    for n in topology.NODES:  # the controller first, so the brokers find it
        state = launcher.state(n)
        if state == "paused":
            launcher.resume(n)
        elif state == "down":
            launcher.start(n)
    lab = Lab(topology.BOOTSTRAP, launcher)
    lab.wait_ready(timeout)
    return lab


def down(launcher: Launcher | None = None, wipe: bool = False) -> None:
    """Stop every node cleanly (brokers, then the controller); with wipe, delete the data."""
    launcher = launcher or launcher_for()
    children.reap()  # group members and processors never outlive the lab
    launcher.down()
    if launcher.can_cut_power:  # then the brokers' data, if on LazyFS, goes back
        powercut.restore(launcher)
    lazyfs.clear()
    if wipe:
        launcher.wipe()


def _ready_check(lab: Lab) -> bool:
    """One acks=all write to a RF=3, min.insync.replicas=2 topic; True when acknowledged."""
    md = lab.admin.list_topics(timeout=5)
    if READY_TOPIC not in md.topics:
        fut = lab.admin.create_topics([NewTopic(READY_TOPIC, 1, 3, config={
            "min.insync.replicas": "2"})])[READY_TOPIC]
        try:
            fut.result(10)
        except KafkaException as e:
            if "already exists" not in str(e):
                return False
    results: list = []
    p = kafka_clients.producer(lab.bootstrap, {"acks": "all", "message.timeout.ms": 3000})
    p.produce(READY_TOPIC, b"ready", on_delivery=lambda err, msg: results.append(err))
    p.flush(5)
    return bool(results) and results[0] is None

