"""Exercise checkers: run the reader's settings on the lab and say what went wrong."""
from __future__ import annotations

from confluent_kafka import Producer

from .errors import LabError


def _write_one(lab, topic: str) -> str | None:
    """Write one record with acks=all and no retries; return the error name or None."""
    errors: list = []
    p = Producer({"bootstrap.servers": lab.bootstrap, "acks": "all", "retries": 0,
                  "message.timeout.ms": 15000, "log_level": 0})
    p.produce(topic, b"check", on_delivery=lambda err, msg: errors.append(err))
    p.flush(20)
    if not errors:
        return "NO_DELIVERY_REPORT"
    return errors[0].name() if errors[0] is not None else None


def check_follower_choice(lab, topic: str, victim: int) -> None:
    """Kill `victim`; pass when the leader of partition 0 stays where it was."""
    before = lab.leader(topic)
    if victim not in lab.replicas(topic):
        raise AssertionError(f"broker {victim} holds no replica of {topic}: pick one of "
                             f"{lab.replicas(topic)}")
    with lab.killed(victim):
        lab.wait_for(lambda: victim not in lab.isr(topic), 30,
                     f"broker {victim} to leave the ISR")
        after = lab.leader(topic)
    if after != before:
        raise AssertionError(f"killing broker {victim} moved the leadership from {before} to "
                             f"{after}: broker {victim} was the leader, not a follower")
    print(f"Correct: broker {victim} died, broker {before} still leads, ISR was "
          f"{lab.isr(topic)} once it came back.")


def check_durability_settings(lab, replication_factor: int, min_insync_replicas: int) -> None:
    """Pass when acks=all writes survive one broker down but are refused with two down."""
    for name, value in (("replication_factor", replication_factor),
                        ("min_insync_replicas", min_insync_replicas)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise AssertionError(f"set {name} to a whole number of replicas (got {value!r})")
    try:
        topic = lab.new_topic("ex-durable", replication_factor=replication_factor,
                              min_insync_replicas=min_insync_replicas)
    except LabError as e:
        raise AssertionError(f"the lab refused these settings: {e}") from None
    leader = lab.leader(topic)
    followers = [b for b in lab.replicas(topic) if b != leader]
    others = followers + [b for b in lab.brokers if b not in lab.replicas(topic)]
    with lab.killed(others[0]):
        lab.wait_for(lambda: others[0] not in lab.isr(topic) and lab.isr(topic), 30,
                     f"broker {others[0]} to leave the ISR")
        one_down = _write_one(lab, topic)
        with lab.killed(others[1]):
            lab.wait_for(lambda: lab.isr(topic) == [leader], 30, "the ISR to shrink to the "
                         "leader alone")
            two_down = _write_one(lab, topic)
    if one_down is not None:
        raise AssertionError(f"with one broker down the write failed ({one_down}): the "
                             f"topic must keep accepting acks=all writes")
    if two_down != "NOT_ENOUGH_REPLICAS":
        raise AssertionError(f"with two brokers down the write got {two_down or 'accepted'}: "
                             "it should be refused with NOT_ENOUGH_REPLICAS")
    print(f"Correct: one broker down, the write was accepted; two down, it was refused "
          f"({two_down}).")
