"""promql/unknown-metric: a query selects a metric that no catalog declares."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence

import promql_parser as pp

from obscompile.check import catalog, client_library
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, error, shorten, warning
from obscompile.model.metric import MetricType, SeriesNaming
from obscompile.model.service import Service

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
        jobs = catalog.equal_values(selector, "job")
        if jobs and catalog.probed(context, jobs):
            continue
        found[name] = selector
    return [(selector, name) for name, selector in found.items()]


def _not_in_job_catalogs(context: PanelContext) -> dict[str, Diagnostic]:
    """Return an error for each metric that the services scraping its job lack.

    A selector with `job="x"` reads what job x exports. When every service that
    scrapes x declares a catalog, the metric must be in one of those catalogs, so
    that renaming a metric in its service's catalog breaks the other services'
    queries of it.
    """
    found: dict[str, Diagnostic] = {}
    for selector in context.query.of_type(pp.VectorSelector):
        name = catalog.selector_name(selector)
        jobs = catalog.equal_values(selector, "job")
        if name is None or name in found or not jobs or catalog.is_placeholder(name):
            continue
        if catalog.is_builtin(name) or catalog.is_recorded(name):
            continue
        if _own(context, name, jobs):
            continue
        owners = catalog.job_catalogs(context, jobs)
        if not owners:
            continue
        exported = {
            series
            for owner in owners
            for metric in owner.metrics
            for series in catalog.exported_series(metric)
        }
        if name in exported:
            continue
        if not _scrapes_all(context, jobs) and not catalog.complete(context):
            # A manifest that failed to load may scrape the job and declare it. A
            # job that the service scrapes itself is checked against its own catalog.
            continue
        declared = catalog.catalog_series(owners)
        # Two manifests that declare one service are reported apart.
        names = " or ".join(dict.fromkeys(f'"{owner.name}"' for owner in owners))
        job_names = " or ".join(f'"{shorten(job)}"' for job in jobs)
        renamed = (
            _exposed_as(name, owners, selector)
            or _summary_buckets(name, owners)
            or _owners_created(name, owners)
        )
        found[name] = error(
            context.node_location(selector),
            renamed
            or f'metric "{shorten(name)}" is not in the catalog of service {names}, '
            f"which scrapes job {job_names}{catalog.suggestion(name, declared)}",
            NAME,
        )
    return found


def _exposed_as(
    name: str, owners: Sequence[Service], selector: pp.VectorSelector
) -> str | None:
    """Return a message when a catalog declares `name` but exposes it by another name.

    The client libraries expose a counter `orders` as `orders_total` and an info
    metric `build` as `build_info`, so a query reads those names. prometheus_client
    exposes a summary `x` without the quantile series `x`.
    """
    for owner in owners:
        for metric in owner.metrics:
            if metric.name != name:
                continue
            quantile = client_library.selected_quantile(selector)
            missing = client_library.missing_quantiles(metric, quantile)
            if missing is not None:
                return missing
            series = metric.series_names()
            listed = ", ".join(f'"{s}"' for s in series)
            article = "an" if str(metric.type)[0] in "aeiou" else "a"
            fix = f'query "{series[0]}"' if len(series) == 1 else "query one of them"
            return (
                f'metric "{shorten(name)}" is {article} {metric.type} of the catalog '
                f'of service "{owner.name}", which the client libraries expose as '
                f"{listed}; {fix}"
            )
    return None


def _summary_buckets(name: str, owners: Sequence[Service]) -> str | None:
    """Return a message when `name` is the _bucket series of a catalog's summary.

    A summary exports quantiles, not buckets, so histogram_quantile() cannot read it.
    A prometheus_client summary exports no quantiles either.
    """
    base = name.removesuffix("_bucket")
    if base == name:
        return None
    for owner in owners:
        for metric in owner.metrics:
            if metric.name == base and metric.type is MetricType.SUMMARY:
                if metric.naming is SeriesNaming.PROMETHEUS_CLIENT:
                    fix = f'declare "{base}" as a histogram'
                else:
                    fix = (
                        "read one of its quantiles, such as "
                        f'{base}{{quantile="0.9"}}, or declare "{base}" as a histogram'
                    )
                return (
                    f'metric "{shorten(name)}" is not in the catalog of service '
                    f'"{owner.name}", which declares "{base}" as a summary, and a '
                    f"summary has no buckets; {fix}"
                )
    return None


def _owners_created(name: str, owners: Sequence[Service]) -> str | None:
    """Return a message when `name` is a `_created` series that prom-client lacks."""
    for owner in owners:
        for metric in owner.metrics:
            message = client_library.missing_created(name, metric)
            if message is not None:
                return message
    return None


def _created_message(context: PanelContext, name: str) -> str | None:
    """Return a message when `name` is a `_created` series that prom-client lacks.

    The metric is the first declaration of its `_total` or `_count` series, the
    service's own first, as for any other series the query reads.
    """
    for series in client_library.created_owners(name):
        entry = catalog.find_metric(context, series)
        if entry is None:
            continue
        message = client_library.missing_created(name, entry.metric)
        if message is not None:
            return message
    return None


def _scrapes_all(context: PanelContext, jobs: list[str]) -> bool:
    """Return True when the service scrapes every one of `jobs` itself."""
    return {job.job for job in context.service.scrape_jobs}.issuperset(jobs)


def _own(context: PanelContext, name: str, jobs: list[str]) -> bool:
    """Return True when the service scrapes `jobs` itself and its catalog has `name`.

    The metric is then declared for those jobs, whatever other services declare, so
    no other catalog is read.
    """
    return _scrapes_all(context, jobs) and catalog.own_entry(context, name) is not None


@check(NAME, "a query selects a metric that the service's catalog does not declare")
def unknown_metric(context: PanelContext) -> Iterator[Diagnostic]:
    by_job = _not_in_job_catalogs(context)
    yield from by_job.values()
    if not context.service.metrics:
        yield from _likely_typos(context, reported=by_job.keys())
        return
    for selector, name in unknown_metrics(context):
        if name in by_job:
            continue
        message = (
            _base_name_message(context, name, selector)
            or _summary_buckets(name, (context.service,))
            or _created_message(context, name)
        )
        if message is None:
            if not catalog.complete(context):
                continue  # A manifest that failed to load may declare it.
            # The service's own names come first: they are the likely intent.
            own = catalog.catalog_series((context.service,))
            hint = (
                catalog.suggestion(name, own)
                or catalog.suggestion(name, catalog.project_series(context))
                or "; declare it under metrics:"
            )
            message = (
                f'metric "{shorten(name)}" is not in the catalog of service '
                f'"{context.service.name}" or of any other service{hint}'
            )
        yield error(context.node_location(selector), message, NAME)


def _likely_typos(
    context: PanelContext, reported: Collection[str]
) -> Iterator[Diagnostic]:
    """Warn about the names of a catalog-less service that look like a declared series.

    Such a service's queries may read metrics that no catalog declares, such as an
    exporter's, so a name is reported only when it is the base name of a declared
    histogram or close to a declared series. Names in `reported` have an error.
    """
    for selector, name in _undeclared(context):
        if name in reported:
            continue
        message = _base_name_message(context, name, selector) or _created_message(
            context, name
        )
        if message is None:
            close = catalog.closest(
                name, catalog.project_series(context), cutoff=TYPO_CUTOFF
            )
            if close is None or not catalog.complete(context):
                continue
            message = (
                f'metric "{name}" is not in any catalog; did you mean "{close}"? '
                f'Service "{context.service.name}" declares no metrics, so only names '
                "close to a declared one are reported"
            )
        yield warning(context.node_location(selector), message, NAME)


def _base_name_message(
    context: PanelContext, name: str, selector: pp.VectorSelector
) -> str | None:
    """Return the message for `name` when a catalog metric has that name but no such series."""
    base = catalog.find_base_name(context, name)
    if base is None:
        return None
    quantile = client_library.selected_quantile(selector)
    missing = client_library.missing_quantiles(base, quantile)
    if missing is not None:
        return missing
    series = ", ".join(base.series_names())
    return f'metric "{name}" is a {base.type}, whose series are {series}'
