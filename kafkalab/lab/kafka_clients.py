"""The one place librdkafka clients are configured, for every process (the lab, the chapters'
experiments, the member and processor processes): the harness's quiet logging, statistics
reports, a logger of a client's own, and the base settings of admin clients, producers and
consumers. It imports nothing else from kafkalab, so any of them may use it."""
from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient

QUIET = {"log_level": 0}  # the harness's own clients stay silent; chapters' clients do not
# An admin request gives up after 1.5 s, so a paused broker (which holds its connection open
# but never answers) costs one timeout, then another broker is asked.
ADMIN = {"socket.timeout.ms": 1500, **QUIET}
STATS_INTERVAL_MS = 200


def settings(bootstrap: str, config: dict | None = None, quiet: bool = True,
             stats: list[dict] | None = None) -> dict[str, Any]:
    """A client's settings: bootstrap, quiet logging (unless not `quiet`), statistics reports
    appended to `stats` when given, then `config` over them."""
    base: dict[str, Any] = {"bootstrap.servers": bootstrap, **(QUIET if quiet else {})}
    if stats is not None:
        base |= {"statistics.interval.ms": STATS_INTERVAL_MS,
                 "stats_cb": lambda s: stats.append(json.loads(s))}
    return {**base, **(config or {})}


def admin(bootstrap: str) -> AdminClient:
    """A quiet admin client whose requests give up on a broker that does not answer."""
    from confluent_kafka.admin import AdminClient
    return AdminClient({**ADMIN, "bootstrap.servers": bootstrap})


def producer(bootstrap: str, config: dict | None = None, quiet: bool = True,
             stats: list[dict] | None = None) -> Producer:
    """A Producer with settings(bootstrap, config, quiet, stats)."""
    from confluent_kafka import Producer
    return Producer(settings(bootstrap, config, quiet, stats))


def consumer(bootstrap: str, config: dict | None = None, quiet: bool = True) -> Consumer:
    """A Consumer with settings(bootstrap, config, quiet)."""
    from confluent_kafka import Consumer
    return Consumer(settings(bootstrap, config, quiet))


def own_logger(handler: logging.Handler) -> logging.Logger:
    """A logger for one client's librdkafka lines (its "logger" setting) that feeds `handler`
    alone: nothing reaches the notebook's output or another client's handler."""
    logger = logging.getLogger(f"kafkalab.client.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return logger
