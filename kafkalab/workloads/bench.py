"""`python -m kafkalab bench`: the book's Python harness against Kafka's own producer perf tool."""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import time
from typing import TYPE_CHECKING

from ..errors import LabError
from ..lab import topology

if TYPE_CHECKING:
    from ..lab.cluster import Lab


WARMUP = 0.25  # the first quarter of each run's records: connections, and the JVM's JIT


def perf_test(lab: Lab, topic: str, records: int, size: int, props: dict) -> tuple[float, float]:
    """Records/s of org.apache.kafka.tools.ProducerPerformance (kafka-tools jar) with props:
    over the whole run, and in steady state (after its --warmup-records)."""
    from ..lab.jvm import java_path
    cmd = [java_path(), "-Xmx512m", "-cp", f"{topology.LIBS_DIR}/*",
           f"-Dlog4j2.configurationFile={topology.KAFKA_DIR / 'log4j2.xml'}",
           f"-Dkafka.logs.dir={topology.RUN_DIR / 'bench'}",
           "org.apache.kafka.tools.ProducerPerformance", "--topic", topic,
           "--num-records", str(records), "--record-size", str(size), "--throughput", "-1",
           "--warmup-records", str(int(records * WARMUP)),
           "--producer-props", f"bootstrap.servers={lab.bootstrap}",
           *(f"{k}={v}" for k, v in props.items())]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    # A line per reporting window, then the whole run's summary and the steady state's.
    whole = re.findall(r"^(\d+) records sent, ([\d.]+) records/sec.*99\.9th", res.stdout, re.M)
    steady = re.findall(r"^(\d+) steady state records sent, ([\d.]+) records/sec", res.stdout, re.M)
    if res.returncode != 0 or not whole or not steady or int(whole[-1][0]) != records:
        raise LabError(f"ProducerPerformance failed:\n{res.stdout[-800:]}{res.stderr[-800:]}")
    return float(whole[-1][1]), float(steady[-1][1])


def harness(lab: Lab, topic: str, records: int, size: int, props: dict) -> tuple[float, float]:
    """Records/s of the book's Python producer loop (workloads.clients.produce) with props:
    over the whole run, and in steady state: deliveries after the first quarter's, per second."""
    from .clients import produce
    run = produce(lab, topic, dict(props), records=records, size=size)
    if run.errors:
        raise LabError(f"the harness failed to deliver: {run.errors}")
    first = int(records * WARMUP)
    done = run.delivered_at
    span = done[-1] - done[first]
    return run.throughput, (len(done) - 1 - first) / span if span > 0 else float("nan")


def disk_write_mb_s(size_mb: int = 256) -> float:
    """Sequential write bandwidth of the run directory's disk (dd with conv=fdatasync), MB/s."""
    topology.RUN_DIR.mkdir(parents=True, exist_ok=True)
    target = topology.RUN_DIR / "dd-bench.tmp"
    t = time.monotonic()
    try:
        subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={size_mb}",
                        "conv=fdatasync"], capture_output=True, check=True, timeout=300)
    finally:
        target.unlink(missing_ok=True)
    return size_mb * 1.048576 / (time.monotonic() - t)


def main(argv: list[str] | None = None) -> int:
    """Alternate both producers for a few rounds; print rates, medians and their ratio."""
    from ..lab.cluster import connect
    ap = argparse.ArgumentParser(prog="python -m kafkalab bench")
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=200, help="record size in bytes")
    ap.add_argument("--acks", default="1")
    ap.add_argument("--linger-ms", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=16384)
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    lab = connect()
    props = {"acks": args.acks, "linger.ms": args.linger_ms, "batch.size": args.batch_size,
             "enable.idempotence": "false", "compression.type": "none"}
    topic = lab.new_topic("bench", partitions=args.partitions, replication_factor=3)
    print(f"topic {topic}: {args.partitions} partitions, RF=3; {args.records} records of "
          f"{args.size} B; {props}")
    rates: dict[str, list[float]] = {"perf-test": [], "harness": []}
    steady: dict[str, list[float]] = {"perf-test": [], "harness": []}
    for r in range(1, args.rounds + 1):
        for name, fn in (("perf-test", perf_test), ("harness", harness)):
            rate, settled = fn(lab, topic, args.records, args.size, props)
            rates[name].append(rate)
            steady[name].append(settled)
            print(f"round {r} {name:9} {rate:12,.0f} records/s  {rate * args.size / 1e6:8.1f} MB/s"
                  f"   steady state {settled:12,.0f} records/s")
    med = {k: statistics.median(v) for k, v in rates.items()}
    med_steady = {k: statistics.median(v) for k, v in steady.items()}
    for k, v in med.items():
        print(f"median {k:9} {v:12,.0f} records/s  {v * args.size / 1e6:8.1f} MB/s"
              f"   steady state {med_steady[k]:12,.0f} records/s")
    disk = disk_write_mb_s()
    best = max(rates["harness"]) * args.size / 1e6
    print(f"disk sequential write (dd, fdatasync): {disk:.0f} MB/s; best harness "
          f"{best:.1f} MB/s = {best / disk:.2f} of it")
    print(f"ratio harness/perf-test, whole runs (start-up included): "
          f"{med['harness'] / med['perf-test']:.2f}")
    print(f"ratio harness/perf-test, steady state (first {WARMUP:.0%} of records left out): "
          f"{med_steady['harness'] / med_steady['perf-test']:.2f}")
    return 0
