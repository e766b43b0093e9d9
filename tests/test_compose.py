"""docker-compose.yml must describe the same lab as the JVM launcher (Docker cannot run here)."""
from __future__ import annotations

import yaml

from kafkalab.lab import topology


def env_name(prop: str) -> str:
    """The apache/kafka image's environment name for a server property."""
    return "KAFKA_" + prop.replace("_", "__").replace("-", "___").replace(".", "_").upper()


def services():
    return yaml.safe_load(topology.COMPOSE_FILE.read_text())["services"]


def test_compose_parses_and_pins_the_same_kafka_version():
    svc = services()
    assert set(svc) == {n.name for n in topology.NODES}
    for name, s in svc.items():
        assert s["image"] == f"apache/kafka:{topology.kafka_version()}", name


def test_compose_publishes_the_same_ports_on_loopback():
    svc = services()
    for n in topology.NODES:
        port = n.port - topology.PORT_OFFSET  # compose runs lane 0 only
        assert f"127.0.0.1:{port}:{port}" in svc[n.name]["ports"], n.name
        env = svc[n.name]["environment"]
        assert env["KAFKA_NODE_ID"] == str(n.id)
        assert env["KAFKA_PROCESS_ROLES"] == n.role
    for b in topology.BROKERS:
        listeners = svc[b.name]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        assert f"127.0.0.1:{b.port - topology.PORT_OFFSET}" in listeners


def test_compose_uses_the_same_tuned_settings():
    svc = services()
    for b in topology.BROKERS:
        env = svc[b.name]["environment"]
        for prop, value in topology.BROKER_SETTINGS.items():
            assert env.get(env_name(prop)) == value, f"{b.name}: {prop}"
    env = svc[topology.CONTROLLER.name]["environment"]
    for prop, value in topology.CONTROLLER_SETTINGS.items():
        assert env.get(env_name(prop)) == value, f"controller: {prop}"


def test_compose_has_health_checks_and_data_mounts():
    for n in topology.NODES:
        s = services()[n.name]
        assert "healthcheck" in s, n.name
        assert any(v.endswith(":/var/lib/kafka/data") for v in s["volumes"]), n.name


def test_every_lab_setting_names_kafkas_default():
    assert set(topology.KAFKA_DEFAULTS) == set(topology.BROKER_SETTINGS) | set(topology.CONTROLLER_SETTINGS)
