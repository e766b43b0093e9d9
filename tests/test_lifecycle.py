"""Down and up again: no JVM or port is left behind, and a stopped lab is reported clearly."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kafkalab
from kafkalab import LabError
from kafkalab.lab import children, topology
from kafkalab.lab.jvm import port_in_use
from kafkalab.workloads import java_clients
from kafkalab.workloads.group import Group


def lab_jvms(run_dir: Path) -> list[int]:
    """Pids of every live broker or controller JVM started from this lab's run directory."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        ours = any(f"{run_dir / n.name / 'server.properties'}" in cmd for n in topology.NODES)
        if "kafka.Kafka" in cmd and ours and state not in "ZX":
            pids.append(int(proc.name))
    return pids


def test_down_leaves_nothing_and_up_comes_back(lab):
    if lab.launcher.kind != "jvm":
        pytest.skip("process checks are for the JVM launcher")
    run_dir = lab.launcher.run_dir
    assert len(lab_jvms(run_dir)) == len(topology.NODES)
    # The lab's children go with it: a Java producer, a Java group member paused, a librdkafka one.
    topic = lab.new_topic("test-reap", partitions=2)
    producer = java_clients.JavaProducer(lab, topic, {}, records=-1, throughput=20)
    g = Group(lab, [topic], {"session.timeout.ms": 6000})
    g.add(client="java")
    g.add()
    procs = [producer.child.proc, *g.procs]
    os.kill(g.procs[0].pid, signal.SIGSTOP)  # a paused child is reaped too
    assert len({p.stem for p in children.CHILDREN.glob("*.pid")}) >= len(procs)
    t = time.monotonic()
    try:
        kafkalab.down(lab.launcher)
        print(f"down took {time.monotonic() - t:.1f} s")
        for proc in procs:
            proc.wait(10)  # raises if a child outlived the lab
        assert not list(children.CHILDREN.glob("*.pid"))
    finally:
        producer.child.kill()
        g.end()
    assert lab_jvms(run_dir) == []
    assert [n.port for n in topology.NODES if port_in_use(n.port)] == []

    t = time.monotonic()
    with pytest.raises(LabError, match="python -m kafkalab up"):
        kafkalab.connect(start=False)
    assert time.monotonic() - t < 10

    t = time.monotonic()
    kafkalab.up(lab.launcher)
    print(f"up (formatted, warm jars) took {time.monotonic() - t:.1f} s")
    assert lab.live_brokers() == {1, 2, 3}
    assert len(lab_jvms(run_dir)) == len(topology.NODES)


def test_every_node_loads_the_class_data_archive(lab):
    if lab.launcher.kind != "jvm":
        pytest.skip("class-data archives are for the JVM launcher")
    for n in topology.NODES:
        pid = lab.launcher.pid(n)
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        flags = [a for a in cmd if a.startswith(("-XX:SharedArchiveFile=", "-XX:AOTCache="))]
        assert flags, f"{n.name} starts without a class-data archive: {cmd[:8]}"
        archive = flags[0].split("=", 1)[1]
        assert Path(archive).stat().st_size > 1_000_000, flags
        # A JVM that finds the archive unusable (other flags, other jars) warns and runs
        # without it; one that uses it has the file mapped into its memory.
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert archive in maps, f"{n.name} was given {archive} but did not map it"


def test_lanes_are_separate_labs():
    code = ("from kafkalab.lab import topology, network, lazyfs; "
            "print(topology.BOOTSTRAP, topology.RUN_DIR, topology.CACHE_DIR, network.TAG, "
            "network.PREFIX, lazyfs.FSNAME)")
    seen = []
    for lane in ("0", "1"):
        env = {**os.environ, "KAFKALAB_LANE": lane}
        env.pop("KAFKALAB_RUN_DIR", None)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout.split()
        seen.append(out)
    (boot0, run0, cache0, *tags0), (boot1, run1, cache1, *tags1) = seen
    assert set(boot0.split(",")).isdisjoint(boot1.split(",")), (boot0, boot1)
    assert run0 != run1 and not run1.startswith(run0 + "/"), (run0, run1)
    assert cache0 == cache1  # archives and client defaults are shared
    for t0, t1 in zip(tags0, tags1):
        assert t0 != t1 and not t1.startswith(t0 + "-"), (t0, t1)
