"""docker-compose.yml must describe the same lab as the JVM launcher (Docker cannot run here)."""
from __future__ import annotations

import yaml

from kafkalab.lab import topology as S


def env_name(prop: str) -> str:
    """The apache/kafka image's environment name for a server property."""
    return "KAFKA_" + prop.replace("_", "__").replace("-", "___").replace(".", "_").upper()


def services():
    return yaml.safe_load(S.COMPOSE_FILE.read_text())["services"]


def test_compose_parses_and_pins_the_same_kafka_version():
    svc = services()
    assert set(svc) == {n.name for n in S.NODES}
    for name, s in svc.items():
        assert s["image"] == f"apache/kafka:{S.kafka_version()}", name


def test_compose_publishes_the_same_ports_on_loopback():
    svc = services()
    for n in S.NODES:
        port = n.port - S.PORT_OFFSET  # compose runs lane 0 only
        assert f"127.0.0.1:{port}:{port}" in svc[n.name]["ports"], n.name
        env = svc[n.name]["environment"]
        assert env["KAFKA_NODE_ID"] == str(n.id)
        assert env["KAFKA_PROCESS_ROLES"] == n.role
    for b in S.BROKERS:
        listeners = svc[b.name]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        assert f"127.0.0.1:{b.port - S.PORT_OFFSET}" in listeners


def test_compose_uses_the_same_tuned_settings():
    svc = services()
    for b in S.BROKERS:
        env = svc[b.name]["environment"]
        for prop, value in S.BROKER_SETTINGS.items():
            assert env.get(env_name(prop)) == value, f"{b.name}: {prop}"
    env = svc[S.CONTROLLER.name]["environment"]
    for prop, value in S.CONTROLLER_SETTINGS.items():
        assert env.get(env_name(prop)) == value, f"controller: {prop}"


def test_compose_has_health_checks_and_data_mounts():
    for n in S.NODES:
        s = services()[n.name]
        assert "healthcheck" in s, n.name
        assert any(v.endswith(":/var/lib/kafka/data") for v in s["volumes"]), n.name


def test_every_lab_setting_names_kafkas_default():
    assert set(S.KAFKA_DEFAULTS) == set(S.BROKER_SETTINGS) | set(S.CONTROLLER_SETTINGS)
