"""The alerts that the services of a project derive, looked up by alert name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from obscompile.derive.alert_names import AlertOrigin
    from obscompile.model.service import Service


class AlertIndex:
    """The derived alerts of every service of a project, by service and by name.

    `origins_of(service)` returns the alerts of one service, as
    `derive.alerts.alert_origins` does. The index calls it for every service when it
    is first read, so a build that reads no alert name derives none.
    """

    def __init__(
        self,
        services: Sequence[Service],
        origins_of: Callable[[Service], Sequence[AlertOrigin]],
    ) -> None:
        self._services = services
        self._origins_of = origins_of
        self._by_service: dict[int, tuple[AlertOrigin, ...]] | None = None
        self._by_name: dict[str, list[AlertOrigin]] = {}

    @classmethod
    def derived(cls, services: Sequence[Service]) -> AlertIndex:
        """Return the index that derives the alerts of `services` when first read."""
        from obscompile.derive.alerts import alert_origins

        return cls(services, alert_origins)

    def _built(self) -> dict[int, tuple[AlertOrigin, ...]]:
        if self._by_service is None:
            by_service: dict[int, tuple[AlertOrigin, ...]] = {}
            for service in self._services:
                origins = tuple(self._origins_of(service))
                by_service[id(service)] = origins
                for origin in origins:
                    self._by_name.setdefault(origin.name, []).append(origin)
            self._by_service = by_service
        return self._by_service

    def build(self) -> None:
        """Derive every service's alerts now, such as before worker processes fork."""
        self._built()

    def of(self, service: Service) -> tuple[AlertOrigin, ...]:
        """Return the alerts of `service`, a service of the index, in rule order."""
        return self._built().get(id(service), ())

    def named(self, name: str) -> list[AlertOrigin]:
        """Return every alert of the project named `name`, in project order."""
        if self._by_service is None:
            self._built()
        return self._by_name.get(name, [])
