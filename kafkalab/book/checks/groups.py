"""Exercise checkers for chapters 08-10: consumer groups."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import LabError
from .common import _settings, _whole, checker

if TYPE_CHECKING:
    from ...lab.cluster import Lab


@checker
def check_replaced_within(lab: Lab, consumer_config: dict, seconds: float = 10) -> None:
    """Pass when, with consumer_config, a killed member's partitions flow again within `seconds`."""
    from ...experiments import rebalance
    from ...workloads.feeds import Feed
    from ...workloads.group import Group, settled, tps
    _settings("consumer_config", consumer_config)
    session = int(consumer_config.get("session.timeout.ms", 45000))
    if session > seconds * 1000:
        raise AssertionError(f"with session.timeout.ms={session} the group waits {session / 1000:g} s "
                             f"before it even notices a dead member; that is over {seconds:g} s")
    topic = lab.new_topic("ex-replaced", partitions=4)
    parts = tps(topic, 4)
    with Feed(lab, topic, 200), Group(lab, [topic], consumer_config) as g:
        g.add()
        g.add()
        settled(g, parts)  # no rebalance still in flight when the member dies
        trig = rebalance.Trigger("kill", 0, g.kill(0))
        rebalance.react(g, trig, parts, timeout=session / 1000 + 30)
    if trig.pause_s > seconds:
        raise AssertionError(f"the killed member's partitions were consumed again only after "
                             f"{trig.pause_s:.1f} s (the group reacted after {trig.detect_s:.1f} s)")
    print(f"Correct: consumed again {trig.pause_s:.1f} s after the kill.")


@checker
def check_revoked_prediction(lab: Lab, revoked: int) -> None:
    """Pass when `revoked` is how many partitions member 0 gives up when a third member joins."""
    _whole("revoked", revoked, low=0)
    judge_revoked(_revoked_on_join(lab, "librdkafka"), revoked)


@checker
def check_java_joiner_revoked(lab: Lab, revoked: int) -> None:
    """Pass when `revoked` is how many partitions librdkafka member 0 gives up when a Java
    consumer with its default assignors joins."""
    _whole("revoked", revoked, low=0)
    judge_revoked(_revoked_on_join(lab, "java"), revoked)


def _revoked_on_join(lab: Lab, joiner: str) -> int:
    """Partitions member 0 of two range members on six partitions gives up as a third joins."""
    from ...workloads.group import Group, settled, tps
    topic = lab.new_topic("ex-revoked", partitions=6)
    parts = tps(topic, 6)
    config = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
              "max.poll.interval.ms": 6000}
    librdkafka = {"partition.assignment.strategy": "range"}
    with Group(lab, [topic], config) as g:
        g.add(librdkafka)
        g.add(librdkafka)
        settled(g, parts)
        at = g.now()
        # a Java joiner keeps its client's default list: range, cooperative-sticky
        g.add(librdkafka if joiner == "librdkafka" else None, client=joiner)
        g.wait_owned(parts, [0, 1, 2])
        gave_up = [e for e in g.events() if e.member == 0 and e.ev == "revoked" and e.t >= at]
    if not gave_up:  # a range group always revokes on a join: a missing record is the lab's
        raise LabError("member 0 recorded no revocation although member 2 joined and got "
                       "partitions; run the check again")
    return len(gave_up[0].tps)


def judge_revoked(got: int, revoked: int) -> None:
    """Pass when `revoked` is the number of partitions member 0 gave up (`got`)."""
    if revoked != got:
        raise AssertionError(f"member 0 gave up {got} partitions when member 2 joined, not {revoked}")
    print(f"Correct: {got} partitions revoked from member 0 (eager rebalancing gives up everything).")


@checker
def check_few_duplicates(lab: Lab, commit: str, consumer_config: dict, limit: int = 1) -> None:
    """Pass when killing a member mid-stream makes the group process at most `limit` records twice."""
    from ...experiments import rebalance
    _settings("consumer_config", consumer_config)
    if commit not in ("auto", "after"):
        raise AssertionError(f"commit must be 'auto' or 'after', got {commit!r}")
    config = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
              "max.poll.interval.ms": 6000, **consumer_config}
    # librdkafka stores an offset when poll() returns the record (enable.auto.offset.store), and
    # auto commit sends stored offsets on a timer: past records not yet processed.
    if (commit == "after" and _on(config, "enable.auto.commit")
            and _on(config, "enable.auto.offset.store")):
        raise AssertionError("with enable.auto.commit left on, the background commit also commits "
                             "the offsets of records poll() returned but not yet processed: a "
                             "crash then skips them")
    judge_few_duplicates(rebalance.processed_twice(lab, config, commit), limit)


def _on(config: dict, name: str) -> bool:
    """Whether a boolean consumer setting is on (librdkafka's default for both names: true)."""
    return str(config.get(name, True)).lower() not in ("false", "0")


def judge_few_duplicates(run, limit: int = 1) -> None:
    """Pass when the run missed nothing, processed at most `limit` records twice, and did not
    rely on auto commit (which bounds what comes again by time, not by records)."""
    if run.missing:
        raise AssertionError(f"{run.missing} records were never processed")
    if run.duplicates > limit:
        raise AssertionError(f"{run.duplicates} records were processed twice (limit {limit})")
    if run.commit == "auto":
        raise AssertionError(f"{run.duplicates} processed twice this time, but auto commit "
                             "repeats whatever came since its last timed commit: the bound "
                             "depends on where the crash falls, not on your settings")
    print(f"Correct: {run.duplicates} processed twice, none missing, of {run.produced}.")


@checker
def check_range_prediction(lab: Lab, busiest: int) -> None:
    """Pass when `busiest` is what the busier of two range members holds of topics of 3 and 5."""
    from ...experiments import assignment
    _whole("busiest", busiest, low=0)
    topics = {lab.new_topic("ex-range-a", partitions=3): 3,
              lab.new_topic("ex-range-b", partitions=5): 5}
    seq = assignment.run_sequence(lab, "range", topics, script=("join", "join"))
    judge_range_prediction(max(seq.steps[-1].per_member().values()), busiest)
    print(f"{seq.steps[-1].per_member()} partitions per member.")


def judge_range_prediction(got: int, busiest: int) -> None:
    """Pass when `busiest` is what the busier member held (`got`)."""
    if busiest != got:
        raise AssertionError(f"the busier member held {got} partitions, not {busiest}")
    print("Correct:", end=" ")


@checker
def check_mixed_prediction(lab: Lab, bigger: str) -> None:
    """Pass when `bigger` names the client ("java" or "librdkafka") whose member gets three of
    five partitions in a classic group of one of each on their defaults."""
    from ...experiments import assignment
    if bigger not in ("java", "librdkafka"):
        raise AssertionError(f"bigger = {bigger!r}: answer 'java' or 'librdkafka'")
    # librdkafka joins first, so it is the group's leader and runs the assignment
    judge_mixed(assignment.mixed_group(lab, outsider=None, java_first=False), bigger)


def judge_mixed(run, bigger: str) -> None:
    """Pass when `bigger` is the client whose member held the most partitions in `run`."""
    got = max(run.held, key=lambda c: len(run.held[c]))
    if run.assignor != "range":
        raise LabError(f"the group used {run.assignor!r}, not range: the lab's group did not "
                       "behave as the exercise assumes")
    if bigger != got:
        raise AssertionError(f"the {got} member held {run.held[got]} and the other "
                             f"{[p for c, p in run.held.items() if c != got][0]}, although "
                             "librdkafka's member joined first and ran the assignment")
    print(f"Correct: {run.held} under {run.assignor}; member ids {sorted(run.member_ids.values())}.")


@checker
def check_minimal_assignor(lab: Lab, assignor: str) -> None:
    """Pass when `assignor` keeps members within one partition and moves only what it must."""
    from ...experiments import assignment
    from ...workloads.group import config_for
    try:
        config_for(assignor)
    except ValueError as e:
        raise AssertionError(str(e)) from None
    topics = {lab.new_topic("ex-minimal-a", partitions=3): 3,
              lab.new_topic("ex-minimal-b", partitions=5): 5}
    seq = assignment.run_sequence(lab, assignor, topics)
    for step in seq.steps:
        counts = step.per_member().values()
        if max(counts) - min(counts) > 1:
            raise AssertionError(f"after '{step.label}' the members held {step.per_member()}")
        if step.moved > assignment.fewest_moves(seq, step):
            raise AssertionError(f"'{step.label}' moved {step.moved} partitions where "
                                 f"{assignment.fewest_moves(seq, step)} had to")
    print(f"Correct: {sum(s.moved for s in seq.steps)} moves in all, each the fewest possible.")


@checker
def check_broker_range(lab: Lab, consumer_config: dict) -> None:
    """Pass when consumer_config makes a group of the new protocol with the broker's range."""
    from confluent_kafka import ConsumerGroupType

    from ...experiments import assignment
    from ...workloads.group import Group, settled, tps
    _settings("consumer_config", consumer_config)
    topics = {lab.new_topic("ex-broker-a", partitions=3): 3,
              lab.new_topic("ex-broker-b", partitions=5): 5}
    parts = [tp for t, n in topics.items() for tp in tps(t, n)]
    with Group(lab, list(topics), consumer_config) as g:
        g.add()
        g.add()
        settled(g, parts)
        counts = sorted(list(assignment.Step("", "join", g.alive(), g.owners(), 0, 0)
                             .per_member().values()))
        desc = lab.admin.describe_consumer_groups([g.group_id])[g.group_id].result(10)
    if desc.type != ConsumerGroupType.CONSUMER:
        raise AssertionError(f"the group uses the {desc.type.name.lower()} protocol, not the "
                             "new one")
    if counts != [3, 5]:
        raise AssertionError(f"the members held {counts} partitions: not range's 3 and 5")
    print(f"Correct: a {desc.type.name.lower()}-protocol group; {counts} partitions per member.")


@checker
def check_quiet_rolling_restart(lab: Lab, config_for_member) -> None:
    """Pass when restarting a member configured by config_for_member(i) causes no rebalance."""
    from ...experiments import cooperative
    if not callable(config_for_member):
        raise AssertionError("config_for_member must be a function of the member's index")
    configs = [config_for_member(i) for i in range(3)]
    for c in configs:
        _settings("config_for_member(i)", c)
    ids = [c.get("group.instance.id") for c in configs]
    shared = sorted({str(x) for x in ids if x is not None and ids.count(x) > 1})
    if shared:  # otherwise the group never settles, and the wait would blame the lab
        raise AssertionError(f"members 0-2 share group.instance.id {shared}: an instance id names "
                             "one member, so the coordinator keeps only the latest to join with "
                             "it and fences the others (FENCED_INSTANCE_ID)")
    judge_restart(cooperative.restart_member(lab, config=config_for_member))


def judge_restart(run) -> None:
    """Pass when a restarted member got its partitions back and no other member was touched."""
    if run.others_changes or not run.same_partitions:
        raise AssertionError(f"the other members got {run.others_changes} assignment changes, "
                             f"and the member {'got' if run.same_partitions else 'did not get'} "
                             "its partitions back")
    print(f"Correct: back on its partitions {run.gone_s:.1f} s after its close; no rebalance.")


@checker
def check_cooperative_predictions(run, paused: int, given_up: int) -> None:
    """Pass when both numbers match `run`, a cooperative-sticky scale-out from 3 to 4 members:
    the partitions that paused, and what each old member's revoke callbacks gave up."""
    _whole("paused", paused, low=0)
    _whole("given_up", given_up, low=0)
    _settled_evenly(run)
    judge_cooperative(run, paused, given_up)


def _settled_evenly(run) -> None:
    """Raise LabError unless the scale-out ended with every member holding its even share (a
    member that dropped out on a slow machine changes every count the reader predicts)."""
    if run is None or not getattr(run, "owners", None):
        return
    held: dict[int, int] = {}
    for member in run.owners.values():
        held[member] = held.get(member, 0) + 1
    if len(held) != run.members_before + 1 or max(held.values()) - min(held.values()) > 1:
        raise LabError(f"the scale-out did not end with {run.members_before + 1} members sharing "
                       f"the partitions evenly (held: {held}); run the cell that made it again")


def judge_cooperative(run, paused: int, given_up: int) -> None:
    """Pass when `paused` and `given_up` (per old member) are what the scale-out measured."""
    gave = [sum(len(e.tps) for e in run.group.events()
                if e.member == m and e.ev == "revoked" and e.t >= run.at)
            for m in range(run.members_before)]
    if paused != len(run.paused):
        raise AssertionError(f"{len(run.paused)} partitions paused, not {paused}")
    if any(n != given_up for n in gave):
        raise AssertionError(f"the old members gave up {gave} partitions, not {given_up} each")
    print(f"Correct: {len(run.paused)} paused; the old members gave up {gave}.")


@checker
def check_eager_first_assignment(run, first: int) -> None:
    """Pass when `first` is the newcomer's first assignment in `run`, an eager 3 -> 4 scale-out."""
    _whole("first", first, low=0)
    _settled_evenly(run)
    judge_eager_first(run, first)


def judge_eager_first(run, first: int) -> None:
    """Pass when `first` is the size of the newcomer's first assignment in the run."""
    if first != run.newcomer[0]:
        raise AssertionError(f"the newcomer's first assignment held {run.newcomer[0]} "
                             f"partitions, not {first}")
    print(f"Correct: {run.newcomer[0]} at once; {len(run.paused)} partitions paused meanwhile.")


@checker
def check_java_defaults(run, paused: int, first: int) -> None:
    """Pass when both numbers match `run`, a 3 -> 4 scale-out of Java members at their default
    assignors and a cooperative-sticky librdkafka newcomer: partitions paused, and the size of
    the newcomer's first assignment."""
    _whole("paused", paused, low=0)
    _whole("first", first, low=0)
    _settled_evenly(run)
    judge_java_defaults(run, paused, first)


def judge_java_defaults(run, paused: int, first: int) -> None:
    """Pass when `paused` and `first` are what the mixed scale-out measured."""
    if paused != len(run.paused):
        raise AssertionError(f"{len(run.paused)} partitions paused, not {paused}")
    if first != run.newcomer[0]:
        raise AssertionError(f"the newcomer's first assignment held {run.newcomer[0]} "
                             f"partitions, not {first}")
    print(f"Correct: {len(run.paused)} paused; the newcomer's assignments {run.newcomer}.")
