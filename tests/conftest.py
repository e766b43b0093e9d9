"""Shared fixtures: one lab for the whole session, started if needed and stopped if we started it."""
from __future__ import annotations

import pytest

import kafkalab
from kafkalab.lab import topology
from kafkalab.lab.launcher import launcher_for

LAB_FIXTURES = {"lab", "healthy"}


def pytest_configure(config) -> None:
    """The `lab` marker: `pytest -m "not lab"` (`make check`) runs what needs no cluster."""
    config.addinivalue_line("markers", "lab: needs the running lab (Java, the jars, four JVMs)")


def pytest_collection_modifyitems(config, items) -> None:
    """Mark every test that uses the lab's fixtures, and every notebook cell, as `lab`."""
    for item in items:
        if LAB_FIXTURES & set(getattr(item, "fixturenames", ())) or str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab():
    """The running lab (started for the session when it was down, and stopped afterwards)."""
    launcher = launcher_for()
    was_up = all(launcher.state(n) == "up" for n in topology.NODES)
    lab = kafkalab.connect()
    yield lab
    if not was_up:
        kafkalab.down(launcher)


@pytest.fixture
def healthy(lab):
    """The lab, with every broker back up and registered after the test, whatever it did."""
    yield lab
    lab.heal()
    lab.wait_for(lambda: lab.live_brokers() == set(lab.brokers), 60,
                 "every broker to be registered after the test")
