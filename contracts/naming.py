"""Exchange, queue and dead-letter names, all derived from MENTORSHIP_NAMESPACE."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_NAMESPACE = "mentorship"


@dataclass(frozen=True)
class Naming:
    """Names of the broker objects and databases of one namespace (tenant or test run)."""

    namespace: str = DEFAULT_NAMESPACE

    @property
    def exchange(self) -> str:
        """The durable topic exchange every event is published to."""
        return self.namespace

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.namespace}.dlx"

    def queue(self, service: str, routing_key: str) -> str:
        """The quorum queue through which `service` consumes `routing_key`."""
        return f"{self.namespace}.{service}.{routing_key}"

    def dead_letter_queue(self, service: str, routing_key: str) -> str:
        return f"{self.queue(service, routing_key)}.dlq"

    def database(self, service: str) -> str:
        return f"{self.namespace}_{service}".replace(".", "_").replace("-", "_")
