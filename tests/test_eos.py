"""Processor processes: a frozen one is fenced by its successor, and none outlives the lab."""
from __future__ import annotations

import os
import signal

from kafkalab.experiments.transactions import end_offsets
from kafkalab.lab import children
from kafkalab.workloads.processors import Processors


def test_reap_ends_a_frozen_processor_and_its_open_transaction_is_aborted(lab):
    topic = lab.new_topic("test-eos-reap", partitions=1)
    ps = Processors(lab, topic, topic, "open", partitions=1, batch=5,
                    producer_config={"transaction.timeout.ms": 3000})
    i = ps.start()
    lab.wait_for(lambda: ps.events(i, "begun"), 30, "the open transaction's records")
    ps.signal(i, signal.SIGSTOP)
    high, stable = end_offsets(lab, topic)
    assert stable == 0 < high, (stable, high)  # the open transaction holds the stable offset
    pid = ps.procs[i].pid
    assert children.reap() == 1  # what `down` does, paused processes included
    ps.procs[i].wait(10)
    assert not os.path.exists(f"/proc/{pid}")
    # the coordinator aborts what the dead producer left open once its timeout has passed
    lab.wait_for(lambda: end_offsets(lab, topic)[1] > high - 1, 15,
                 "the coordinator to abort the transaction and release the stable offset")
