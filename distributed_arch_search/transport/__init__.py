"""Transports between the search master and the evaluators: RabbitMQ (several machines) or local
processes (one machine). Both implement ``base.Transport``."""

from .base import InFlight, Received, Transport

__all__ = ["InFlight", "Received", "Transport"]
