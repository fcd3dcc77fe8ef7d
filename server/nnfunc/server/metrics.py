"""Prometheus metrics of the server (filled by its own change).

The servicer reports the time of each stage of a call here; this module decides
whether and how it is recorded (a no-op while metrics are off).
"""

from __future__ import annotations


def record_stage(stage: str, seconds: float) -> None:
    """Seconds the current call spent in ``stage`` ("decode", "compute" or "encode")."""
