"""The lab: topology and broker settings, the launchers that run it, the cluster facade, faults,
and the client configuration (kafka_clients) every process uses."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cluster import Lab, connect, down, up

__all__ = ["Lab", "connect", "down", "up"]


def __getattr__(name: str) -> Any:
    """Lab, connect, up and down from .cluster, imported on first use (it needs the client)."""
    if name in __all__:
        from . import cluster
        return getattr(cluster, name)
    raise AttributeError(f"module 'kafkalab.lab' has no attribute {name!r}")
