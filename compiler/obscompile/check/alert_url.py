"""alert/url: alert annotations named as links, such as runbook_url, with no valid URL.

By convention, an annotation named `url` or ending in `_url` contains a link that
people open from the alert. Such an annotation is a Go template, so the text of its
actions is only known when Prometheus expands it, and the check reads the rest.
"""

from __future__ import annotations

from collections.abc import Iterator

from obscompile.check.context import ServiceContext
from obscompile.check.registry import Scope, check
from obscompile.diagnostics import Diagnostic, error
from obscompile.load.schema import DERIVED_ANNOTATIONS
from obscompile.load.urls import url_problem
from obscompile.model.location import Location

NAME = "alert/url"


def is_link_annotation(name: str) -> bool:
    """Return True for an annotation whose name marks a link: `url` or `*_url`."""
    return name == "url" or name.endswith("_url")


def _annotation_problems(
    annotations: tuple[tuple[str, str], ...],
    locations: dict[str, Location],
    where: Location,
) -> Iterator[Diagnostic]:
    for name, text in annotations:
        # alert/label reports a derived name, whose value the build replaces.
        if not is_link_annotation(name) or name in DERIVED_ANNOTATIONS:
            continue
        problem = url_problem(text, template=True)
        if problem is None:
            continue
        yield error(
            locations.get(f"annotation-value:{name}", where),
            f'alert annotation {name} "{text}" is invalid: it {problem}',
            NAME,
        )


@check(
    NAME,
    "alert annotations named as links, such as runbook_url, that hold no valid URL",
    scope=Scope.SERVICE,
)
def alert_url(context: ServiceContext) -> Iterator[Diagnostic]:
    service = context.service
    yield from _annotation_problems(
        service.alerts.annotations,
        service.alerts.locations,
        service.locations.get("alerts", service.location),
    )
    for _row, panel in context.panels():
        alert = panel.alert
        yield from _annotation_problems(
            alert.annotations, alert.locations, alert.location
        )
