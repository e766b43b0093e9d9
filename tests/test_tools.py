"""Kafka's own tools run from the lab's jars under their usual names, the bootstrap filled in."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from kafkalab import LabError
from kafkalab.lab import tools, topology


def test_kafka_topics_describe_agrees_with_the_admin_client(lab):
    topic = lab.new_topic("tool-describe", replication_factor=3, min_insync_replicas=2)
    out = subprocess.run([sys.executable, "-m", "kafkalab", "tool", "kafka-topics", "--describe",
                          "--topic", topic], capture_output=True, text=True, cwd=topology.ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    row = re.search(r"Partition: 0\s+Leader: (\d+)\s+Replicas: ([\d,]+)\s+Isr: ([\d,]+)", out.stdout)
    assert row, out.stdout
    assert int(row[1]) == lab.leader(topic)
    assert [int(b) for b in row[2].split(",")] == lab.replicas(topic)
    assert sorted(int(b) for b in row[3].split(",")) == lab.isr(topic)
    assert "Elr:" in out.stdout  # Eligible Leader Replicas are on in this Kafka


def test_lab_tool_returns_the_output_and_names_a_failure(lab):
    assert "__consumer_offsets" in lab.tool("kafka-topics", "--list")
    with pytest.raises(LabError, match="exited 1"):
        lab.tool("kafka-topics", "--describe", "--topic", "no-such-topic-here")
    with pytest.raises(LabError, match="unknown tool 'kafka-nope'; the lab has"):
        tools.run("kafka-nope")
