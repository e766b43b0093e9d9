"""Exercise checkers for chapter 13: exactly-once processing, markers, the last stable offset,
and what each client's consumer reads with its defaults."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import LabError
from .common import _settings, _whole, checker

if TYPE_CHECKING:
    from ...experiments.eos import CrashRun
    from ...experiments.transactions import DefaultReads, Marked
    from ...lab.cluster import Lab

ISOLATION = ("read_committed", "read_uncommitted")


@checker
def check_exactly_once(lab: Lab, mode: str, isolation: str, crashes: int = 2) -> None:
    """Kill the processor `crashes` times; pass when a reader with `isolation` finds every input
    exactly once in the output."""
    from ...experiments import eos
    if mode not in eos.MODES:
        raise AssertionError(f"mode must be one of {eos.MODES}, got {mode!r}")
    if isolation not in ISOLATION:
        raise AssertionError(f"isolation must be one of {ISOLATION}, got {isolation!r}")
    judge_exactly_once(eos.crash_loop(lab, mode, crashes=crashes, records=300), isolation)


def judge_exactly_once(run: CrashRun, isolation: str) -> None:
    """Pass when the run's output, read with `isolation`, holds every input exactly once."""
    out = run.committed if isolation == "read_committed" else run.uncommitted
    if out is None or run.uncommitted is None:
        raise LabError("the run read no output")
    if not run.uncommitted.duplicates:
        # No kill left part of a batch in the log: both modes and both isolations would pass.
        raise LabError(f"none of the {len(run.kills)} kills left a half-written batch in the "
                       "output, so this run cannot tell the answers apart; run the check again")
    if out.missing:
        raise AssertionError(f"{out.missing} inputs never reached the output ({isolation})")
    if out.duplicates:
        raise AssertionError(f"a {isolation} reader found {out.duplicates} inputs more than once "
                             f"after {len(run.kills)} crashes of a {run.mode} processor")
    print(f"Correct: {run.inputs} inputs, each exactly once for a {isolation} reader, after "
          f"{len(run.kills)} crashes ({run.uncommitted.duplicates if run.uncommitted else 0} "
          "aborted copies in the log).")


def check_abort_marker(run: Marked, partition: int, offset: int) -> None:
    """Pass when `offset` is the offset of the ABORT marker in the partition of the run's topic."""
    _whole("offset", offset, low=0)
    aborts = [o for o, kind in run.markers(partition) if kind == "ABORT"]
    if offset not in aborts:
        raise AssertionError(f"offset {offset} of partition {partition} holds no abort marker"
                             f"{'' if aborts else ' (there is none)'}: markers are control "
                             "batches (attribute bit 5), one record whose key says ABORT")
    print(f"Correct: the ABORT marker of partition {partition} is at offset {offset}.")


@checker
def check_release_within(lab: Lab, producer_config: dict, within_s: float = 8.0) -> None:
    """Freeze a producer built from producer_config mid-transaction; pass when read_committed
    readers move on within within_s."""
    from ...experiments.transactions import open_transaction
    from ...lab import kafka_clients, topology
    from ...workloads.client_defaults import librdkafka_default
    _settings("producer_config", producer_config)
    if taken := sorted({"bootstrap.servers", "transactional.id"} & set(producer_config)):
        raise AssertionError(f"leave {' and '.join(taken)} to the checker: it runs the producer")
    if odd := [k for k, v in producer_config.items() if not isinstance(v, (str, int, float, bool))]:
        raise AssertionError(f"settings are strings, numbers or booleans: {odd}")
    # The producer the frozen process will run, built here first: a setting librdkafka refuses
    # is the reader's mistake, raised as such by @checker, not a processor that failed to start.
    kafka_clients.producer(lab.bootstrap, {"transactional.id": "kafkalab-check", **producer_config})
    timeout_ms = int(producer_config.get("transaction.timeout.ms",
                                         librdkafka_default("transaction.timeout.ms")))
    interval_s = int(topology.BROKER_SETTINGS[
        "transaction.abort.timed.out.transaction.cleanup.interval.ms"]) / 1000
    if timeout_ms / 1000 + interval_s > within_s:
        raise AssertionError(
            f"with transaction.timeout.ms={timeout_ms} the coordinator waits {timeout_ms / 1000:g} s "
            f"before a transaction counts as timed out, and looks for such transactions every "
            f"{interval_s:g} s here: readers may wait {timeout_ms / 1000 + interval_s:g} s, more "
            f"than {within_s:g} s")
    run = open_transaction(lab, commit_after_s=None, watch_s=within_s + 1,
                           producer_config=producer_config)
    # The bound above is the coordinator's; the marker's way to the partition leader and the
    # sampling (about 0.1 s) come on top, so a run of an answer at the bound may end a little later.
    judge_release(run, within_s, slack_s=0.5)


def judge_release(run, within_s: float, slack_s: float = 0.0) -> None:
    """Pass when the run's last stable offset moved past the open transaction within within_s
    (plus slack_s for the marker's way and the sampling)."""
    if run.released_at is None or run.released_at - run.begun_at > within_s + slack_s:
        held = "never moved" if run.released_at is None else \
            f"moved after {run.released_at - run.begun_at:.1f} s"
        raise AssertionError(f"the last stable offset {held}: read_committed readers were held "
                             f"longer than {within_s:g} s")
    print(f"Correct: the coordinator aborted the silent transaction; readers moved on after "
          f"{run.released_at - run.begun_at:.1f} s.")


@checker
def check_default_reads(lab: Lab, run: Marked, java_records: int, librdkafka_records: int) -> None:
    """Read the run's topic with a Java and a librdkafka consumer, each with its client's
    defaults; pass when the predicted numbers of records each received are right."""
    from ...experiments.transactions import default_reads
    _whole("java_records", java_records, low=0)
    _whole("librdkafka_records", librdkafka_records, low=0)
    judge_default_reads(default_reads(lab, run.topic, len(run.logs)), java_records,
                        librdkafka_records, markers=sum(len(run.markers(p)) for p in run.logs))


def judge_default_reads(reads: DefaultReads, java_records: int, librdkafka_records: int,
                        markers: int = 0) -> None:
    """Pass when the predicted counts are the records each client's consumer received; `markers`
    (control records in the topic) names a prediction that counted them."""
    for client, read in reads.got.items():
        # A record handed over twice (a rebalance of the Java member's group on a busy machine)
        # changes the count whatever the answer: the lab's fault, not the prediction's.
        if len({(p, o) for p, o, _ in read}) != len(read):
            raise LabError(f"the {client} consumer was handed some records twice, so its count "
                           "cannot judge the prediction; run the check again")
    got = {"java": len(reads.values("java")), "librdkafka": len(reads.values("librdkafka"))}
    said = {"java": java_records, "librdkafka": librdkafka_records}
    if said == got:
        print(f"Correct: the Java consumer received {got['java']} records (its default is "
              f"read_uncommitted, aborted records included), librdkafka's {got['librdkafka']} "
              "(its default is read_committed).")
        return
    hints = {"java": "the Java consumer's default isolation.level is read_uncommitted: it gets the "
                     "aborted transaction's records too (ConsumerConfig.DEFAULT_ISOLATION_LEVEL)",
             "librdkafka": "librdkafka's default isolation.level is read_committed: it skips the "
                           "aborted transaction's records"}
    wrong = []
    for client in ("java", "librdkafka"):
        if said[client] == got[client]:
            continue
        other = "librdkafka" if client == "java" else "java"
        if markers and said[client] == got[client] + markers:
            why = "markers take offsets but are never handed to a consumer"
        elif said[client] == got[other]:
            why = hints[client]
        elif said[client] < got[client]:
            why = hints["java"] if client == "java" else "it still gets every committed record"
        else:
            why = hints["librdkafka"] if client == "librdkafka" else \
                "each data record in the log reaches it once, and nothing else does"
        wrong.append(f"the {client} consumer received {got[client]} records, not {said[client]}: {why}")
    raise AssertionError("; ".join(wrong))
