"""alerts/name: derived alert names that two alerts of one service share.

A derived name joins the service, the panel title, the series of a per-series
threshold and the severity, each camel-cased. Titles such as `Error Rate` and
`Error-Rate`, or a panel `Lag 2` and the series `2` of a panel `Lag`, give one name.
The later alert in dashboard order then gets a number (`ErrorRate2Critical`), so
moving or removing a panel renames another panel's alert. Alertmanager routes,
silences and inhibitions that match `alertname` then miss it, so each clash gets a
warning at every panel involved.

A written `alert.name` replaces the service and the title, and the build still
appends the severity, so a written name that ends with `Critical` or `Warning`
gives a rule such as `BacklogCriticalCritical`, which gets a warning too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

import attrs

from obscompile.derive.annotations import Band
from obscompile.diagnostics import Diagnostic, warning
from obscompile.model.location import Location
from obscompile.model.panel import Panel
from obscompile.render.grafana import PanelView

NAME = "alerts/name"
WRITE_NAME = "give one of them a name of its own with alert: {name: ...}"
# The words that the build appends to an alert's name, one for each severity.
SEVERITY_WORDS = ("Critical", "Warning")


@attrs.frozen
class NamedAlert:
    """The band of a panel that an alert is for, and its `derived` name before numbering.

    `series` is the series of a per-series threshold, or None for the whole panel.
    """

    view: PanelView = attrs.field(eq=False)
    series: str | None
    band: Band
    derived: str

    @property
    def written(self) -> bool:
        """Return True when the name starts with the panel's `alert.name`."""
        return self.view.panel.alert.name is not None

    def location(self) -> Location:
        """Return where the manifest writes what the name is derived from."""
        panel = self.view.panel
        if self.written:
            return panel.alert.locations.get("name", panel.alert.location)
        if self.series is None:
            return panel.location_of("title")
        written = panel.thresholds.series if panel.thresholds is not None else ()
        for series in written:
            if series.series == self.series:
                return panel.series_location(series)
        return panel.location_of("thresholds")

    def panel_text(self) -> str:
        """Return the panel, and its series if any, as a message names them."""
        text = f'panel "{self.view.panel.title}"'
        if self.series is not None:
            text += f' (series "{self.series}")'
        return text

    def alert_text(self) -> str:
        """Return which alert of its panel this is, as a message names it."""
        if self.series is not None:
            return f'series "{self.series}"'
        return f"the {self.band.color} band ({self.band.words(self.view.unit)})"


@attrs.frozen
class AlertOrigin:
    """The final `name` of an alert of `service`, and the panel that derives it.

    `panel` names the panel and its series as `NamedAlert.panel_text` does, and
    `location` is `NamedAlert.location`.
    """

    name: str
    service: str
    panel: str
    location: Location

    def __reduce__(self) -> tuple[type[AlertOrigin], tuple[str, str, str, Location]]:
        # The build cache unpickles every service's alerts in each build, and
        # positional arguments unpickle faster than attrs' state.
        return (AlertOrigin, (self.name, self.service, self.panel, self.location))


class PackedOrigins(Sequence[AlertOrigin]):
    """The alerts of one service, kept as plain values until one is read.

    The build cache unpickles the alerts of every service in each build, and a
    build reads only their `names` unless another service has one of them too. So
    they unpickle as a tuple of names and one of panels, lines and columns, in
    place of two objects for each alert.
    """

    __slots__ = ("names", "_service", "_file", "_packed", "_origins")

    def __init__(
        self,
        names: tuple[str, ...],
        service: str,
        file: str,
        packed: tuple[str | int, ...],
    ) -> None:
        self.names = names
        self._service = service
        self._file = file
        self._packed = packed
        self._origins: list[AlertOrigin | None] = [None] * len(names)

    @classmethod
    def of(cls, origins: tuple[AlertOrigin, ...]) -> Sequence[AlertOrigin]:
        """Return `origins` packed, or as they are where they are not all plain
        positions of one service in one file."""
        if not origins:
            return origins
        first = origins[0]
        if any(
            origin.service != first.service
            or origin.location.file != first.location.file
            or origin.location.used_at is not None
            for origin in origins
        ):
            return origins
        packed = tuple(
            part
            for origin in origins
            for part in (origin.panel, origin.location.line, origin.location.column)
        )
        names = tuple(origin.name for origin in origins)
        return cls(names, first.service, first.location.file, packed)

    def __len__(self) -> int:
        return len(self.names)

    @overload
    def __getitem__(self, index: int) -> AlertOrigin: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[AlertOrigin]: ...

    def __getitem__(self, index: int | slice) -> AlertOrigin | Sequence[AlertOrigin]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        origin = self._origins[index]
        if origin is None:
            position = range(len(self))[index] * 3
            panel, line, column = self._packed[position : position + 3]
            origin = AlertOrigin(
                self.names[index],
                self._service,
                str(panel),
                Location(self._file, int(line), int(column)),
            )
            # One object for each alert, so that callers may compare them by id.
            self._origins[index] = origin
        return origin

    def __reduce__(
        self,
    ) -> tuple[type[PackedOrigins], tuple[tuple[str, ...], str, str, tuple]]:
        return (PackedOrigins, (self.names, self._service, self._file, self._packed))


def origin_names(origins: Sequence[AlertOrigin]) -> tuple[str, ...]:
    """Return the names of `origins`, without unpacking packed ones."""
    if isinstance(origins, PackedOrigins):
        return origins.names
    return tuple(origin.name for origin in origins)


@attrs.frozen
class NameClash:
    """An alert whose derived `name` was given first to `holder`, so it got `numbered`."""

    later: NamedAlert
    holder: NamedAlert
    name: str
    numbered: str


def quoted_names(names: list[str]) -> str:
    """Return `"a"`, `"a" and "b"` or `"a", "b" and "c"` for `names`."""
    quoted = [f'"{name}"' for name in names]
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _moving(plural: bool) -> str:
    return f"moving or removing a panel can rename {'them' if plural else 'it'}"


def clash_warnings(clashes: list[NameClash]) -> Iterator[Diagnostic]:
    """Warn of each pair of alerts that derive one name, at each panel involved.

    The clashes of two panels, or of two series of one panel, such as their
    critical and warning alerts, share one warning per panel.
    """
    pairs: dict[tuple, list[NameClash]] = {}
    for clash in clashes:
        later, holder = clash.later, clash.holder
        key: tuple = (later.view.id, later.series, holder.view.id, holder.series)
        if later.view.id == holder.view.id and later.series == holder.series:
            key += (later.band, holder.band)
        pairs.setdefault(key, []).append(clash)
    for found in pairs.values():
        yield from _pair_warnings(found)


def _pair_warnings(clashes: list[NameClash]) -> Iterator[Diagnostic]:
    later = clashes[0].later
    holder = clashes[0].holder
    shared = quoted_names([clash.name for clash in clashes])
    numbered = quoted_names([clash.numbered for clash in clashes])
    plural = len(clashes) > 1
    name_word = "names" if plural else "name"
    renamed = (
        f"so the later {'ones are' if plural else 'one is'} named {numbered}, and "
    )
    if later.view.id == holder.view.id:
        # Neither the series nor the bands of one panel take names of their own.
        yield warning(
            later.location(),
            f'panel "{later.view.panel.title}": the alerts of {holder.alert_text()} '
            f"and of {later.alert_text()} both get the {name_word} {shared}, "
            f"{renamed}reordering or removing the thresholds can rename "
            f"{'them' if plural else 'it'}; chart one of them in a panel of its own "
            "with alert: {name: ...}",
            NAME,
        )
        return
    if all(clash.holder.derived == clash.name for clash in clashes):
        sides = ((later, holder), (holder, later))
        for this, other in sides:
            yield warning(
                this.location(),
                f"{this.panel_text()}: this panel and {other.panel_text()} at "
                f"{other.location()} both give the alert {name_word} {shared}, "
                f"{renamed}{_moving(plural)}; " + WRITE_NAME,
                NAME,
            )
        return
    # The holder's own name has a number, and it warns of its own clash.
    yield warning(
        later.location(),
        f"{later.panel_text()}: the alert {name_word} {shared} of this panel "
        f"{'are' if plural else 'is'} the numbered name of {holder.panel_text()} "
        f"at {holder.location()}, so this panel's {name_word} "
        f"{'are' if plural else 'is'} {numbered}, and {_moving(plural)}; " + WRITE_NAME,
        NAME,
    )


def _severity_ending(name: str) -> str | None:
    return next((word for word in SEVERITY_WORDS if name.endswith(word)), None)


def severity_suffix_warning(panel: Panel, names: list[str]) -> Diagnostic | None:
    """Warn where the panel's written alert name ends with a severity word.

    `names` are the names of the panel's alerts, which end with the severity that
    the build appends.
    """
    written = panel.alert.name
    ending = _severity_ending(written) if written is not None else None
    if written is None or ending is None or not names:
        return None
    stem = written
    while (word := _severity_ending(stem)) is not None:
        stem = stem.removesuffix(word)
    unique = list(dict.fromkeys(names))
    if len(unique) > 1:
        named = f"the rules are named {quoted_names(unique)}"
    else:
        named = f"the rule is named {quoted_names(unique)}"
    advice = f"write name: {stem}" if stem else f'write a name without "{ending}"'
    return warning(
        panel.alert.locations.get("name", panel.alert.location),
        f'alert name "{written}" ends with "{ending}", and the build appends the '
        f"severity to a written name, so {named}; {advice}",
        NAME,
    )
