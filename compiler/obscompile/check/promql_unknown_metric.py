"""promql/unknown-metric: a query selects a metric that no catalog declares."""

from __future__ import annotations

from collections.abc import Iterator

import promql_parser as pp

from obscompile.check import catalog
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, error, warning

NAME = "promql/unknown-metric"

# A service without a catalog may chart any exporter's metrics, so only a name at least
# this similar to a declared series (difflib's ratio) is reported there, as a likely
# typo. 0.9 allows about two edits in a name of 20 characters.
TYPO_CUTOFF = 0.9


def unknown_metrics(context: PanelContext) -> list[tuple[pp.VectorSelector, str]]:
    """Return the first selector of each metric that the query reads and no catalog has.

    A service without a catalog has nothing to compare against, so none is unknown.
    """
    if not context.service.metrics:
        return []
    return _undeclared(context)


def _undeclared(context: PanelContext) -> list[tuple[pp.VectorSelector, str]]:
    """Return the first selector of each metric that the query reads and no catalog has."""
    found: dict[str, pp.VectorSelector] = {}
    for selector in context.query.of_type(pp.VectorSelector):
        name = catalog.selector_name(selector)
        if name is None or name in found or catalog.is_placeholder(name):
            continue
        if catalog.is_builtin(name) or catalog.is_recorded(name):
            continue
        if catalog.find_metric(context, name) is not None:
            continue
        found[name] = selector
    return [(selector, name) for name, selector in found.items()]


@check(NAME, "a query selects a metric that the service's catalog does not declare")
def unknown_metric(context: PanelContext) -> Iterator[Diagnostic]:
    if not context.service.metrics:
        yield from _likely_typos(context)
        return
    for selector, name in unknown_metrics(context):
        message = _base_name_message(context, name)
        if message is None:
            # The service's own names come first: they are the likely intent.
            own = catalog.catalog_series((context.service,))
            hint = (
                catalog.suggestion(name, own)
                or catalog.suggestion(name, catalog.project_series(context))
                or "; declare it under metrics:"
            )
            message = (
                f'metric "{name}" is not in the catalog of service '
                f'"{context.service.name}" or of any other service{hint}'
            )
        yield error(context.node_location(selector), message, NAME)


def _likely_typos(context: PanelContext) -> Iterator[Diagnostic]:
    """Warn about the names of a catalog-less service that look like a declared series.

    Such a service's queries may read metrics that no catalog declares, such as an
    exporter's, so a name is reported only when it is the base name of a declared
    histogram or close to a declared series.
    """
    for selector, name in _undeclared(context):
        message = _base_name_message(context, name)
        if message is None:
            close = catalog.closest(
                name, catalog.project_series(context), cutoff=TYPO_CUTOFF
            )
            if close is None:
                continue
            message = (
                f'metric "{name}" is not in any catalog; did you mean "{close}"? '
                f'Service "{context.service.name}" declares no metrics, so only names '
                "close to a declared one are reported"
            )
        yield warning(context.node_location(selector), message, NAME)


def _base_name_message(context: PanelContext, name: str) -> str | None:
    """Return the message for `name` when a catalog metric has that name but no such series."""
    base = catalog.find_base_name(context, name)
    if base is None:
        return None
    series = ", ".join(base.series_names())
    return f'metric "{name}" is a {base.type}, whose series are {series}'
