"""Lookups in the metric catalogs for the series and labels a query selects."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import attrs
import promql_parser as pp

from obscompile import promql, trampoline
from obscompile.check.alert_index import AlertIndex
from obscompile.check.context import (
    GRAFANA_PLACEHOLDER,
    ProjectContext,
    ServiceContext,
)
from obscompile.check.scrape_job import jobs_by_name
from obscompile.derive.alert_names import AlertOrigin
from obscompile.diagnostics import shorten
from obscompile.memo import by_identity
from obscompile.model.metric import Metric, MetricType, SeriesNaming
from obscompile.model.scrape import ScrapeJob
from obscompile.model.service import Service
from obscompile.trampoline import Recursive

# Series that exist without a catalog entry: `up` and `scrape_*` come from Prometheus
# itself, the others from the default collectors of the client libraries.
BUILTIN_METRICS = frozenset({"up"})
BUILTIN_PREFIXES = ("scrape_", "process_", "nodejs_", "python_", "go_")

# The metric types for which prometheus_client exports a `<name>_created` series.
CREATED_TYPES = (MetricType.COUNTER, MetricType.HISTOGRAM, MetricType.SUMMARY)


@attrs.frozen
class CatalogEntry:
    """A catalog metric and the service whose manifest declares it."""

    service: Service
    metric: Metric


def equal_values(selector: pp.VectorSelector, label: str) -> list[str]:
    """Return the values of the `label="value"` matchers of `selector`."""
    return [
        m.value
        for m in selector.matchers.matchers
        if m.name == label and m.op == pp.MatchOp.Equal
    ]


def selector_name(selector: pp.VectorSelector) -> str | None:
    """Return the metric name a selector matches exactly, or None."""
    return promql.metric_name(selector)


def is_placeholder(value: str) -> bool:
    return GRAFANA_PLACEHOLDER in value


def is_builtin(name: str) -> bool:
    return name in BUILTIN_METRICS or name.startswith(BUILTIN_PREFIXES)


def is_recorded(name: str) -> bool:
    """Return True for a recording rule's series (`level:metric:operations`)."""
    return ":" in name


def exported_series(metric: Metric) -> tuple[str, ...]:
    """Return the series names a client library exports for `metric`.

    Besides `Metric.series_names()`, prometheus_client (Python) exports a
    `<name>_created` gauge for each counter, histogram and summary. prom-client
    exports no `_created` series, so a metric of a Node.js service has none.
    """
    names = metric.series_names()
    if metric.naming is SeriesNaming.PROM_CLIENT:
        return names
    if metric.type in CREATED_TYPES:
        names = (*names, created_series(metric))
    return names


def created_series(metric: Metric) -> str:
    """Return the name of the `_created` series that prometheus_client gives `metric`.

    A counter loses a `_total` suffix first (`jobs_total` gives `jobs_created`), but a
    histogram or summary keeps it (`a_total` gives `a_total_created`).
    """
    base = metric.name
    if metric.type is MetricType.COUNTER:
        base = base.removesuffix("_total")
    return f"{base}_created"


# One index of the project's series, rebuilt when the services tuple changes, so
# that a lookup costs a dictionary access instead of a walk over every catalog. It
# gives every declaration of a series, in project order.
_index_key: list[tuple[Service, ...]] = []
_index: dict[str, list[CatalogEntry]] = {}


def _project_index(services: tuple[Service, ...]) -> dict[str, list[CatalogEntry]]:
    if not _index_key or _index_key[0] is not services:
        _index.clear()
        for service in services:
            for metric in service.metrics:
                for name in exported_series(metric):
                    _index.setdefault(name, []).append(CatalogEntry(service, metric))
        _index_key[:] = [services]
    return _index


@attrs.frozen
class Lookups:
    """The reads of one service's checks in other services' catalogs, jobs and alerts.

    `series` and `bases` are the names given to `find_metric` and `find_base_name`
    that the service's own catalog did not resolve, and `jobs` the job names given
    to `jobs_named`. `every_catalog` is True when a check read every catalog,
    `every_job` when it read the name of every scrape job, and `completeness` when
    it called `complete`. `scraped` are the job names given to `scrapers`, whose
    services' catalogs a check read, and `alert_names` the names given to
    `alerts_named`. `lookup_answers` gives a digest of what they find.
    """

    series: frozenset[str] = frozenset()
    bases: frozenset[str] = frozenset()
    jobs: frozenset[str] = frozenset()
    every_catalog: bool = False
    every_job: bool = False
    completeness: bool = False
    scraped: frozenset[str] = frozenset()
    alert_names: frozenset[str] = frozenset()


_NONE = Lookups()


class _Recorder:
    """The lookups of the checks that run while `recording` is active."""

    def __init__(self) -> None:
        self.series: set[str] = set()
        self.bases: set[str] = set()
        self.jobs: set[str] = set()
        self.every_catalog = False
        self.every_job = False
        self.completeness = False
        self.scraped: set[str] = set()
        self.alert_names: set[str] = set()

    def lookups(self) -> Lookups:
        return Lookups(
            frozenset(self.series),
            frozenset(self.bases),
            frozenset(self.jobs),
            self.every_catalog,
            self.every_job,
            self.completeness,
            frozenset(self.scraped),
            frozenset(self.alert_names),
        )


_recorders: list[_Recorder] = []


@contextlib.contextmanager
def recording() -> Iterator[Callable[[], Lookups]]:
    """Record the lookups made inside the block; yield a function that gives them."""
    recorder = _Recorder()
    _recorders.append(recorder)
    try:
        yield recorder.lookups
    finally:
        _recorders.pop()


def lookup_answers(
    lookups: Lookups,
    services: tuple[Service, ...],
    failed_manifests: Sequence[str],
    alert_index: AlertIndex | None = None,
    service: Service | None = None,
) -> str:
    """Return a digest of what `lookups` find in the catalogs, jobs and alerts.

    `failed_manifests` are the manifests that failed to load, as for `complete`.
    `alert_index` gives the alerts of `services`, derived from them when None.
    `service` is the service whose checks made `lookups`. Its own alerts change
    only with it, so the digest leaves them out.
    """
    if lookups == _NONE:
        # Most services read only their own catalog and jobs, so no index is built.
        return ""
    parts: list[object] = []
    if lookups.alert_names:
        if alert_index is None:
            alert_index = AlertIndex.derived(services)
        parts.append(_alert_answers(lookups.alert_names, alert_index, service))
    if attrs.evolve(lookups, alert_names=frozenset()) == _NONE:
        # Only alert names were looked up, as for most services, so the catalogs and
        # jobs are not indexed.
        return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()
    index = _project_index(services) if lookups.series else {}
    for name in sorted(lookups.series):
        for entry in index.get(name, ()):
            jobs = [_job_values(job) for job in entry.service.scrape_jobs]
            parts.append((name, entry.service.name, _values(entry.metric), jobs))
        parts.append((name, None))
    for name in sorted(lookups.bases):
        found = _base_metric(services, name)
        parts.append((name, None if found is None else _values(found)))
    if lookups.every_catalog:
        parts.append(catalog_series(services))
    by_name = jobs_by_name(services)
    for name in sorted(lookups.jobs):
        parts.append((name, [_job_values(job) for job in by_name.get(name, ())]))
    if lookups.every_job:
        parts.append([(j.job, j.honor_labels) for s in services for j in s.scrape_jobs])
    for name in sorted(lookups.scraped):
        owners = _scrapers(services, (name,))
        parts.append((name, [(s.name, catalog_series((s,))) for s in owners]))
    if lookups.completeness:
        parts.append(("complete", not failed_manifests))
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()


def _alert_answers(
    names: frozenset[str], alert_index: AlertIndex, service: Service | None
) -> list[object]:
    """Return each of `names` that alerts other than those of `service` have, and where.

    Most names are those of one alert of `service` alone, so they add nothing.
    """
    found: list[object] = []
    for name in sorted(names):
        others = alert_index.named_elsewhere(name, service)
        if not others:
            continue
        found.append(name)
        for alert in others:
            at = alert.location
            found.append((alert.service, alert.panel, at.file, at.line, at.column))
            if at.used_at is not None:
                found.append(at.used_at)
    return found


def alerts_named(context: ServiceContext, name: str) -> list[AlertOrigin]:
    """Return every alert of the project named `name`, in project order."""
    if _recorders:
        _recorders[-1].alert_names.add(name)
    return context.alert_index.named(name)


def _job_values(job: ScrapeJob) -> tuple[object, ...]:
    """Return the fields of `job` that checks read: not where they are written."""
    return _READ_JOB_FIELDS(job)


def complete(context: ProjectContext) -> bool:
    """Return True when every manifest of the project loaded without errors.

    A manifest that failed to load may declare any metric, label or scrape job. So a
    check reports a name as missing from every service only while this holds.
    """
    if _recorders:
        _recorders[-1].completeness = True
    return not context.failed_manifests


def probed(context: ServiceContext, names: Iterable[str]) -> bool:
    """Return True when every job of `names` is a probe job of the project.

    The series of a probe job are the probing exporter's, such as blackbox_exporter's
    `probe_success`, which no service's catalog declares.
    """
    jobs = jobs_named(context, names)
    return bool(jobs) and all(job.probe is not None for job in jobs)


def job_catalogs(context: ServiceContext, names: Iterable[str]) -> list[Service]:
    """Return the services whose catalogs alone declare what jobs `names` export.

    Those are the services that scrape the jobs, when each has a catalog. A probe
    job's series are the exporter's, so probe jobs get an empty list, and so do jobs
    whose scrapers lack a catalog. A query of those jobs may read any catalog.
    """
    names = list(names)
    if probed(context, names):
        return []
    owners = scrapers(context, names)
    return owners if all(owner.metrics for owner in owners) else []


def jobs_named(context: ServiceContext, names: Iterable[str]) -> list[ScrapeJob]:
    """Return the scrape jobs of the project named one of `names`, in that order."""
    names = list(names)
    if _recorders:
        _recorders[-1].jobs.update(names)
    index = jobs_by_name(context.services)
    return [job for name in names for job in index.get(name, ())]


def scrapers(context: ServiceContext, names: Iterable[str]) -> list[Service]:
    """Return the services that scrape a job named one of `names`, in project order."""
    names = set(names)
    if _recorders:
        _recorders[-1].scraped.update(names)
    return _scrapers(context.services, names)


# The services that scrape each job name, in project order, rebuilt when the services
# tuple changes, as the series index is.
_scrapers_key: list[tuple[Service, ...]] = []
_scrapers_index: dict[str, list[Service]] = {}


def _scrapers(services: tuple[Service, ...], names: Iterable[str]) -> list[Service]:
    if not _scrapers_key or _scrapers_key[0] is not services:
        _scrapers_index.clear()
        for service in services:
            for job in dict.fromkeys(job.job for job in service.scrape_jobs):
                _scrapers_index.setdefault(job, []).append(service)
        _scrapers_key[:] = [services]
    found = {id(s): s for name in names for s in _scrapers_index.get(name, ())}
    return (
        [s for s in services if id(s) in found] if len(found) > 1 else [*found.values()]
    )


def every_job_name(context: ServiceContext) -> list[str]:
    """Return the name of every scrape job of the project, in project order."""
    if _recorders:
        _recorders[-1].every_job = True
    return _job_names(context.services)


def honors_labels(context: ServiceContext) -> bool:
    """Return True when a scrape job of the project keeps the `job` of its series.

    Such a job, as a Pushgateway's is, gives its series the job names that were
    pushed, which no manifest declares, so any `job` value may name them.
    """
    if _recorders:
        _recorders[-1].every_job = True
    return any(j.honor_labels for s in context.services for j in s.scrape_jobs)


def _job_names(services: Iterable[Service]) -> list[str]:
    return [job.job for service in services for job in service.scrape_jobs]


def _values(metric: Metric) -> tuple[object, ...]:
    """Return the fields of `metric` that checks read: not its help or position."""
    return _READ_METRIC_FIELDS(metric)


def _fields_except(cls: type, *unread: str) -> Callable[[Any], tuple[object, ...]]:
    """Return a function that returns the values of the fields of `cls` not in `unread`."""
    names = [field.name for field in attrs.fields(cls) if field.name not in unread]
    getter = operator.attrgetter(*names)
    return lambda value: tuple(getter(value))


# The fields of other services' jobs and metrics that no check reads. Every other
# field counts, so a field added to either class is compared without an edit here.
_READ_JOB_FIELDS = _fields_except(ScrapeJob, "location", "locations")
_READ_METRIC_FIELDS = _fields_except(Metric, "location", "locations", "help")


# The checks of one service look up many series of its own catalog in a row.
@by_identity(64)
def _own_index(service: Service) -> dict[str, Metric]:
    """Return each series of the service's catalog and the first metric that exports it."""
    index: dict[str, Metric] = {}
    for metric in service.metrics:
        for name in exported_series(metric):
            index.setdefault(name, metric)
    return index


def own_entry(context: ServiceContext, series: str) -> CatalogEntry | None:
    """Return the entry of the service's own catalog that exports `series`, if any."""
    metric = _own_index(context.service).get(series)
    return CatalogEntry(context.service, metric) if metric is not None else None


def find_metric(context: ServiceContext, series: str) -> CatalogEntry | None:
    """Return the catalog entry that exports `series`: the service's own, else any."""
    own = own_entry(context, series)
    if own is not None:
        return own
    found = declarations(context, series)
    return found[0] if found else None


def declarations(
    context: ServiceContext, series: str, jobs: Iterable[str] = ()
) -> list[CatalogEntry]:
    """Return the project's catalog entries that export `series`, in project order.

    With `jobs`, only the entries of the services that scrape one of those jobs are
    returned, when there are any. Where `job_catalogs` finds the catalogs that alone
    declare those jobs' series, the result is empty when they lack `series`:
    promql/unknown-metric reports that, and no other catalog applies.
    """
    if _recorders:
        _recorders[-1].series.add(series)
    found = _project_index(context.services).get(series, [])
    selected = set(jobs)
    if not selected:
        return found
    owners = job_catalogs(context, selected)
    if owners:
        owned = {id(owner) for owner in owners}
        return [entry for entry in found if id(entry.service) in owned]
    if len(found) < 2:
        return found
    scraping = [
        entry
        for entry in found
        if any(job.job in selected for job in entry.service.scrape_jobs)
    ]
    return scraping or found


def find_base_name(context: ServiceContext, name: str) -> Metric | None:
    """Return the catalog metric named `name` when it exports no series of that name."""
    own = _base_metric((context.service,), name)
    if own is not None:
        return own
    if _recorders:
        _recorders[-1].bases.add(name)
    return _base_metric(context.services, name)


def _base_metric(services: Iterable[Service], name: str) -> Metric | None:
    for service in services:
        for metric in service.metrics:
            if metric.name == name and name not in metric.series_names():
                return metric
    return None


def project_series(context: ServiceContext) -> list[str]:
    """Return every series name of the service's and the project's catalogs."""
    if _recorders:
        _recorders[-1].every_catalog = True
    return catalog_series((context.service, *context.services))


def catalog_series(services: Iterable[Service]) -> list[str]:
    """Return every series name the catalogs declare, in order, without repeats."""
    names: dict[str, None] = {}
    for service in services:
        for metric in service.metrics:
            names.update(dict.fromkeys(metric.series_names()))
    return list(names)


def suggestion(word: str, choices: Iterable[str]) -> str:
    """Return `; did you mean "x"?` for the closest choice, or an empty string."""
    close = closest(word, choices)
    return f'; did you mean "{shorten(close)}"?' if close is not None else ""


def missing_label_hint(label: str, labels: Iterable[str]) -> str:
    """Return the hint for a `label` that series lack: the nearest of their `labels`.

    Where none is near, the hint lists them all.
    """
    labels = sorted(labels)
    found = suggestion(label, labels)
    if found:
        return found
    if labels:
        return "; their labels are " + ", ".join(shorten(label) for label in labels)
    return "; they have no labels"


def closest(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """Return the choice most similar to `word`, the first of several equal ones.

    The similarity is difflib's ratio, as in `difflib.get_close_matches`, which
    returns the one of equal choices that sorts last instead.
    """
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(word)
    best, best_score = None, -1.0
    for choice in choices:
        matcher.set_seq1(choice)
        if matcher.real_quick_ratio() < cutoff or matcher.quick_ratio() < cutoff:
            continue
        score = matcher.ratio()
        if score >= cutoff and score > best_score:
            best, best_score = choice, score
    return best


def series_labels(entry: CatalogEntry, series: str) -> frozenset[str]:
    """Return the labels that series `series` of a catalog metric carries."""
    metric = entry.metric
    labels = set(metric.labels) | set(promql.ALWAYS_LABELS)
    for job in entry.service.scrape_jobs:
        labels.update(name for name, _ in job.labels)
    if metric.type is MetricType.HISTOGRAM and series.endswith("_bucket"):
        labels.add("le")
    if metric.type is MetricType.SUMMARY and series == metric.name:
        labels.add("quantile")
    return frozenset(labels)


def selected_metric(
    context: ServiceContext, selector: pp.VectorSelector
) -> CatalogEntry | None:
    """Return the catalog entry of the series `selector` matches, or None.

    The service's own declaration comes first, then that of a service that scrapes
    the job the selector's `job` matcher names, then the first in project order.
    """
    name = selector_name(selector)
    if name is None:
        return None
    own = own_entry(context, name)
    if own is not None:
        return own
    found = declarations(context, name, equal_values(selector, "job"))
    return found[0] if found else None


def selector_labels(
    context: ServiceContext, selector: pp.VectorSelector
) -> frozenset[str] | None:
    """Return the labels of the series `selector` matches, or None if unknown.

    When the service's own catalog lacks the series and several other services
    declare it, the labels are those of the services that scrape the job the
    selector's `job` matcher names, or else of every declaration together. They are
    unknown then while a manifest failed to load (see `complete`).
    """
    name = selector_name(selector)
    if name is None:
        return None
    own = own_entry(context, name)
    if own is not None:
        return series_labels(own, name)
    found = declarations(context, name, equal_values(selector, "job"))
    # A manifest that failed to load may declare the series with more labels.
    if not found or not complete(context):
        return None
    return frozenset().union(*(series_labels(entry, name) for entry in found))


def vector_arguments(node: pp.Call) -> list[pp.Expr]:
    """Return the arguments of a call that are not number or string literals."""
    literals = pp.NumberLiteral | pp.StringLiteral
    return [a for a in node.args if not isinstance(promql.strip_parens(a), literals)]


def _string_argument(node: pp.Call, index: int) -> str | None:
    if index < len(node.args):
        argument = promql.strip_parens(node.args[index])
        if isinstance(argument, pp.StringLiteral):
            return argument.val
    return None


def available_labels(context: ServiceContext, node: pp.Expr) -> frozenset[str] | None:
    """Return the labels of the series `node` evaluates to, or None if not known.

    The sets come from the catalog, so they are exact only for catalog metrics.
    """
    return trampoline.run(_available_labels(context, node))


def _available_labels(
    context: ServiceContext, node: pp.Expr
) -> Recursive[frozenset[str] | None]:
    node = promql.strip_parens(node)
    if isinstance(node, pp.NumberLiteral | pp.StringLiteral):
        return frozenset()
    if isinstance(node, pp.VectorSelector):
        return selector_labels(context, node)
    if isinstance(node, pp.MatrixSelector):
        return selector_labels(context, node.vector_selector)
    if isinstance(node, pp.SubqueryExpr | pp.UnaryExpr):
        return (yield _available_labels(context, node.expr))
    if isinstance(node, pp.AggregateExpr):
        return (yield _aggregation_labels(context, node))
    if isinstance(node, pp.Call):
        return (yield _call_labels(context, node))
    if isinstance(node, pp.BinaryExpr):
        return (yield _binary_labels(context, node))
    return None


def _aggregation_labels(
    context: ServiceContext, node: pp.AggregateExpr
) -> Recursive[frozenset[str] | None]:
    operator = str(node.op)
    modifier = node.modifier
    if operator in ("topk", "bottomk", "limitk", "limit_ratio"):
        return (yield _available_labels(context, node.expr))
    extra: set[str] = set()
    if operator == "count_values" and isinstance(node.param, pp.StringLiteral):
        extra.add(node.param.val)
    if modifier is None:
        return frozenset(extra)
    if modifier.type == pp.AggModifierType.By:
        return frozenset(modifier.labels) | extra
    inner = yield _available_labels(context, node.expr)
    return None if inner is None else (inner - set(modifier.labels)) | extra


def _call_labels(
    context: ServiceContext, node: pp.Call
) -> Recursive[frozenset[str] | None]:
    name = node.func.name
    vectors = vector_arguments(node)
    if name in ("vector", "time", "scalar", "pi"):
        return frozenset()
    if name in ("absent", "absent_over_time") and node.args:
        return frozenset(promql.absent_labels(node.args[0]))
    if not vectors:
        return None
    if name == "histogram_quantile":
        inner = yield _available_labels(context, vectors[-1])
        return None if inner is None else inner - {"le"}
    inner = yield _available_labels(context, vectors[0])
    if inner is not None and name in ("label_replace", "label_join"):
        target = _string_argument(node, 1)
        return inner | {target} if target else inner
    return inner


def _binary_labels(
    context: ServiceContext, node: pp.BinaryExpr
) -> Recursive[frozenset[str] | None]:
    # A scalar side, such as 100, time() or scalar(...), keeps the labels of the
    # vector side.
    if promql.value_type(node.lhs) == "scalar":
        return (yield _available_labels(context, node.rhs))
    left = yield _available_labels(context, node.lhs)
    if promql.value_type(node.rhs) == "scalar":
        return left
    right = yield _available_labels(context, node.rhs)
    operator = str(node.op)
    if operator == "or":
        return None if left is None or right is None else left | right
    modifier = node.modifier
    matching = modifier.matching if modifier is not None else None
    card = str(modifier.card) if modifier is not None else ""
    if matching is None or operator in ("and", "unless"):
        return left
    include = set(modifier.group_labels or ()) if modifier is not None else set()
    if "ManyToOne" in card:
        return None if left is None else left | include
    if "OneToMany" in card:
        return None if right is None else right | include
    if matching.type == pp.LabelModifierType.Include:
        return frozenset(matching.labels)
    return None if left is None else left - set(matching.labels)
