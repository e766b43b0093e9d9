"""Oracles and parsers are pure functions: checked on hand-made histories and tool output."""
from __future__ import annotations

import pytest

from kafkalab import oracles
from kafkalab.probes import heap, process, syscalls
from kafkalab.workloads.storage import restart_lines


def test_lost_is_acknowledged_minus_read():
    assert oracles.lost({b"a", b"b", b"c"}, [b"a", b"c", b"x"]) == {b"b"}
    assert oracles.lost([], [b"a"]) == set()


def test_duplicates_count_extra_copies():
    assert oracles.duplicates([1, 2, 2, 3, 3, 3]) == 3
    assert oracles.duplicates([1, 2, 3]) == 0


def test_missing_counts_values_never_read():
    assert oracles.missing(range(5), [0, 1, 1, 4]) == 2


def test_reordered_counts_first_copies_behind_a_later_value():
    assert oracles.reordered([0, 1, 2, 3]) == 0
    assert oracles.reordered([0, 2, 1, 3]) == 1
    assert oracles.reordered([0, 1, 1, 2]) == 0  # a duplicate is not a reordering
    assert oracles.reordered([3, 0, 1, 2]) == 3


def test_numbered_runs_count_through_the_oracles():
    from kafkalab.experiments.delivery import RetryRun
    from kafkalab.experiments.power_loss import Lost
    from kafkalab.experiments.transactions import Retried
    from kafkalab.workloads.feeds import Record
    stored = [0, 2, 1, 2, 4]  # 3 never stored, 2 twice, 1 behind 2
    retry = RetryRun({}, [Record(0.1 * i) for i in range(5)], (0.0, 1.0), stored)
    assert (retry.duplicates, retry.missing, retry.reordered) == (1, 1, 1)
    retried = Retried({}, "t", 5, 5, {}, [])
    assert (retried.duplicates, retried.missing) == (0, 5)
    lost = Lost("one machine", "t", 5, oracles.lost(range(5), {0, 1, 4}), 0)
    assert (lost.gone, lost.lost, lost.kept) == ({2, 3}, 2, 3)


def test_gaps_between_timestamps():
    assert oracles.gaps([0.0, 0.1, 0.3, 0.7]) == pytest.approx([0.1, 0.2, 0.4])
    assert oracles.longest_gap([1.0]) == 0.0


def test_perf_stat_csv():
    text = ("# started on Sat\n\n37,,syscalls:sys_enter_fsync,1000,100.00,,\n"
            "<not counted>,,syscalls:sys_enter_fdatasync,0,0.00,,\n")
    assert syscalls.parse_perf_stat(text) == {"fsync": 37, "fdatasync": 0}


def test_strace_sendfile_and_sync_lines():
    text = ("4242  sendfile(312, 298, [1048576] => [1064960], 16384) = 16384\n"
            "4243  sendfile(312, 298, [0], 8) = -1 EAGAIN (Resource temporarily unavailable)\n"
            "4244  fsync(77</d/replication-offset-checkpoint.tmp>) = 0\n4244  fdatasync(78) = 0\n"
            "4245  fsync(79 <unfinished ...>\n")
    assert syscalls.parse_strace_sendfile(text) == [(4242, 298, 1048576, 16384)]
    assert syscalls.parse_strace_syncs(text) == [
        (4244, "fsync", 77, "/d/replication-offset-checkpoint.tmp"), (4244, "fdatasync", 78, "")]


def test_gc_log_and_allocation_between_full_gcs():
    text = ("[1.0s][info][gc] GC(7) Pause Full (Diagnostic Command) 40M->12M(384M) 30.1ms\n"
            "[2.0s][info][gc] GC(8) Pause Young (Allocation Failure) 100M->20M(384M) 3.0ms\n"
            "[3.0s][info][gc] GC(9) Pause Full (Diagnostic Command) 50M->13M(384M) 28.0ms\n")
    events = heap.parse_gc_log(text)
    assert [e[:2] for e in events] == [(7, "Full"), (8, "Young"), (9, "Full")]
    assert heap.allocated_mib(events) == (100 - 12) + (50 - 20)


def test_proc_stat_cpu_seconds_with_a_space_in_the_name():
    stat = "123 (java main) S 1 2 3 4 5 6 7 8 9 10 " + f"{2 * process.TICKS} {process.TICKS} 0 0"
    assert process.parse_stat_cpu(stat) == 3.0


def test_restart_lines_pick_the_partition_load_time():
    log = ("[2026] INFO Completed load of Log(dir=/x/t-0, topic=t, partition=0) with 1 segments"
           " in 68ms (1/2 completed in /x) (kafka.log.LogManager)\n"
           "[2026] INFO [LogLoader partition=t-0, dir=/x] Recovering unflushed segment 0\n"
           "[2026] INFO Completed load of Log(dir=/x/u-0, topic=u, partition=0) in 3ms\n")
    load_ms, lines = restart_lines(log, "t")
    assert load_ms == 68 and any("Recovering unflushed segment" in ln for ln in lines)
