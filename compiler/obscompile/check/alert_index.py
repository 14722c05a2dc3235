"""The alerts that the services of a project derive, looked up by alert name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from obscompile.derive.alert_names import origin_names

if TYPE_CHECKING:
    from obscompile.derive.alert_names import AlertOrigin
    from obscompile.model.service import Service

# An alert in the index: the id of its service, the alerts of that service and the
# alert's position among them.
_Entry = tuple[int, Sequence["AlertOrigin"], int]


class AlertIndex:
    """The derived alerts of every service of a project, by service and by name.

    `origins_of(service)` returns the alerts of one service, as
    `derive.alerts.alert_origins` does. The index calls it for every service when it
    is first read, so a build that reads no alert name derives none. It reads only
    the names of the alerts until a caller asks for an alert itself, so that packed
    alerts from the build cache (see `PackedOrigins`) stay packed.
    """

    def __init__(
        self,
        services: Sequence[Service],
        origins_of: Callable[[Service], Sequence[AlertOrigin]],
    ) -> None:
        self._services = services
        self._origins_of = origins_of
        self._by_service: dict[int, Sequence[AlertOrigin]] | None = None
        self._by_name: dict[str, list[_Entry]] = {}

    @classmethod
    def derived(cls, services: Sequence[Service]) -> AlertIndex:
        """Return the index that derives the alerts of `services` when first read."""
        from obscompile.derive.alerts import alert_origins

        return cls(services, alert_origins)

    def _built(self) -> dict[int, Sequence[AlertOrigin]]:
        if self._by_service is None:
            by_service: dict[int, Sequence[AlertOrigin]] = {}
            by_name = self._by_name
            for service in self._services:
                origins = self._origins_of(service)
                owner = id(service)
                by_service[owner] = origins
                for position, name in enumerate(origin_names(origins)):
                    entry = (owner, origins, position)
                    found = by_name.get(name)
                    if found is None:
                        by_name[name] = [entry]
                    else:
                        found.append(entry)
            self._by_service = by_service
        return self._by_service

    def build(self) -> None:
        """Derive every service's alerts now, such as before worker processes fork."""
        self._built()

    def of(self, service: Service) -> Sequence[AlertOrigin]:
        """Return the alerts of `service`, a service of the index, in rule order."""
        return self._built().get(id(service), ())

    def named(self, name: str) -> list[AlertOrigin]:
        """Return every alert of the project named `name`, in project order."""
        self._built()
        return [origins[i] for _, origins, i in self._by_name.get(name, ())]

    def named_elsewhere(self, name: str, service: Service | None) -> list[AlertOrigin]:
        """Return the alerts named `name` of every service but `service`."""
        self._built()
        owner = None if service is None else id(service)
        entries = self._by_name.get(name, ())
        return [origins[i] for found, origins, i in entries if found != owner]
