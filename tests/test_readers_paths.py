"""The CI workflow and the dev container agree with the README: same test command, same versions."""
from __future__ import annotations

import json
import re

import yaml

from kafkalab.lab import topology

README = (topology.ROOT / "README.md").read_text()


def readme_test_command() -> str:
    """The command the README names for running the tests."""
    return re.search(r"^make test\b", README, re.M).group(0)


def test_workflow_runs_the_readme_test_command_and_publishes_the_site():
    wf = yaml.safe_load((topology.ROOT / ".github" / "workflows" / "book.yml").read_text())
    steps = wf["jobs"]["test"]["steps"]
    assert any(step.get("run", "").strip() == readme_test_command() for step in steps), steps
    uses = [step.get("uses", "") for job in wf["jobs"].values() for step in job["steps"]]
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    assert wf["jobs"]["deploy"]["if"].count("pull_request"), "pull requests must not deploy"


def test_dev_container_matches_the_readme():
    dc = json.loads((topology.ROOT / ".devcontainer" / "devcontainer.json").read_text())
    python = re.search(r"python:\S*?(3\.\d+)", dc["image"]).group(1)
    assert f"Python {python}+" in README, python
    java = dc["features"]["ghcr.io/devcontainers/features/java:1"]["version"]
    assert f"Java {java}+" in README, java
    assert dc["postCreateCommand"].startswith("make "), dc["postCreateCommand"]
    assert "make lab" in README and "make lab" in dc["postStartCommand"]


def test_readme_names_the_site_address_and_how_to_publish_a_fork():
    assert re.search(r"https://<owner>\.github\.io/<repository>/", README)
    assert "Settings → Pages" in README and "GitHub Actions" in README
    assert ".devcontainer/devcontainer.json" in README
