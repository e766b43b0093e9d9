"""The lab: topology and broker settings, the launchers that run it, the cluster facade, faults."""
from __future__ import annotations

from .cluster import Lab, connect, down, up

__all__ = ["Lab", "connect", "down", "up"]
