"""The Python API for writing services, and the registry of reusable building blocks.

The constructors build the same frozen model classes as the YAML loader, validate
their arguments when called, and record the caller's file and line on every node, so
an error in a service module points at the user's code::

    from obscompile import dsl

    dsl.service(
        "payments",
        scrape=dsl.scrape_job("payments", port=8080),
        metrics=dsl.http_metrics(),
        rows=[dsl.use("http_api_health", job="payments")],
    )

Calling `service()` while obscompile loads a module registers the service; a
module may define several.
"""

from __future__ import annotations

import contextvars
import difflib
import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs

from obscompile.diagnostics import ObscompileError
from obscompile.load.manifest import derive_uid, service_key
from obscompile.load.thresholds import ThresholdError, parse_shorthand, parse_structured
from obscompile.model.location import Location
from obscompile.model.metric import Metric, MetricType
from obscompile.model.panel import Panel, PanelAlert, PanelType, Row
from obscompile.model.scrape import ScrapeJob
from obscompile.model.service import AlertSettings, Dashboard, Runtime, Service
from obscompile.model.threshold import Thresholds

_PACKAGE_DIR = str(Path(__file__).resolve().parent)
_UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


class DSLError(ObscompileError, ValueError):
    """A DSL constructor got an invalid argument; `location` is the caller's line."""

    def __init__(self, message: str, location: Location) -> None:
        super().__init__(message)
        self.location = location


def caller_location() -> Location:
    """Return the first stack frame outside the obscompile package."""
    frame = inspect.currentframe()
    while frame is not None:
        filename = frame.f_code.co_filename
        if not str(Path(filename).resolve()).startswith(_PACKAGE_DIR + "/"):
            return Location(_display(filename), frame.f_lineno, 1)
        frame = frame.f_back
    return Location("<unknown>", 1, 1)


def _display(filename: str) -> str:
    try:
        relative = Path(filename).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return filename
    return str(relative)


def _fail(message: str) -> DSLError:
    return DSLError(message, caller_location())


def _choice(value: str, choices: Iterable[str], what: str) -> str:
    options = list(choices)
    if value in options:
        return value
    close = difflib.get_close_matches(value, options, n=1)
    hint = f' (did you mean "{close[0]}"?)' if close else ""
    raise _fail(f'{what} "{value}" is not one of {", ".join(options)}{hint}')


def _duration(value: str | None, what: str) -> str | None:
    if value is not None and not _DURATION.match(value):
        raise _fail(f'{what} "{value}" is not a Prometheus duration such as 15s or 5m')
    return value


def _pairs(mapping: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((mapping or {}).items()))


# Metrics -----------------------------------------------------------------------


def metric(
    name: str,
    type: str,
    help: str = "",
    labels: Sequence[str] = (),
    buckets: Sequence[float] = (),
) -> Metric:
    """Declare one catalog metric (type counter, gauge, histogram, summary or info)."""
    if not _METRIC_NAME.match(name):
        raise _fail(f'metric name "{name}" is invalid: use [a-zA-Z_:][a-zA-Z0-9_:]*')
    kind = MetricType(_choice(type, [t.value for t in MetricType], "metric type"))
    for label in labels:
        if not _LABEL_NAME.match(label):
            raise _fail(f'label name "{label}" of metric "{name}" is invalid')
    if buckets and kind is not MetricType.HISTOGRAM:
        raise _fail(f'metric "{name}" has buckets but is a {kind}, not a histogram')
    return Metric(
        name=name,
        type=kind,
        help=help,
        labels=tuple(labels),
        buckets=tuple(float(b) for b in buckets),
        location=caller_location(),
    )


def counter(name: str, help: str = "", labels: Sequence[str] = ()) -> Metric:
    """Declare a counter."""
    return metric(name, "counter", help, labels)


def gauge(name: str, help: str = "", labels: Sequence[str] = ()) -> Metric:
    """Declare a gauge."""
    return metric(name, "gauge", help, labels)


def histogram(
    name: str, help: str = "", labels: Sequence[str] = (), buckets: Sequence[float] = ()
) -> Metric:
    """Declare a histogram with its bucket upper bounds."""
    return metric(name, "histogram", help, labels, buckets)


# Scrape jobs and dashboards ----------------------------------------------------


def scrape_job(
    job: str,
    targets: Sequence[str] | None = None,
    port: int | None = None,
    path: str = "/metrics",
    interval: str | None = None,
    timeout: str | None = None,
    scheme: str = "http",
    labels: Mapping[str, str] | None = None,
) -> ScrapeJob:
    """Declare a scrape job; `port` alone means the target `<job>:<port>`."""
    if targets is None:
        if port is None:
            raise _fail(f'scrape job "{job}" needs targets or port')
        targets = [f"{job}:{port}"]
    return ScrapeJob(
        job=job,
        targets=tuple(targets),
        metrics_path=path,
        interval=_duration(interval, "interval"),
        timeout=_duration(timeout, "timeout"),
        scheme=_choice(scheme, ["http", "https"], "scheme"),
        labels=_pairs(labels),
        location=caller_location(),
    )


def dashboard(
    uid: str,
    title: str,
    description: str = "",
    tags: Sequence[str] = (),
    folder: str = "General",
    refresh: str = "1m",
    time: str = "now-6h",
    timezone: str = "browser",
) -> Dashboard:
    """Declare dashboard settings; `uid` is at most 40 characters of [A-Za-z0-9_-]."""
    if not _UID.match(uid):
        raise _fail(
            f'uid "{uid}" is invalid: Grafana allows at most 40 characters from [A-Za-z0-9_-]'
        )
    return Dashboard(
        uid=uid,
        title=title,
        description=description,
        tags=tuple(tags),
        folder=folder,
        refresh=refresh,
        time_from=time,
        timezone=timezone,
        location=caller_location(),
    )


# Panels and rows ---------------------------------------------------------------


def thresholds(text: str | Mapping[str, Any]) -> Thresholds:
    """Parse threshold shorthand ("<1% Green, 1-5% Yellow, >5% Red") or the mapping form."""
    location = caller_location()
    try:
        parsed = (
            parse_shorthand(text)
            if isinstance(text, str)
            else parse_structured(dict(text))
        )
    except ThresholdError as exc:
        raise DSLError(str(exc), location) from None
    return attrs.evolve(parsed, location=location)


def alert(
    name: str | None = None,
    for_: str | None = None,
    summary: str | None = None,
    description: str | None = None,
    warning: bool = False,
    labels: Mapping[str, str] | None = None,
    enabled: bool = True,
) -> PanelAlert:
    """Per-panel alert settings; anything left None falls back to the service's."""
    return PanelAlert(
        name=name,
        for_=_duration(for_, "for"),
        summary=summary,
        description=description,
        warning=warning,
        enabled=enabled,
        labels=_pairs(labels),
        location=caller_location(),
    )


def panel(
    title: str,
    query: str,
    type: str = "timeseries",
    description: str = "",
    unit: str | None = None,
    legend: str | None = None,
    thresholds: str | Mapping[str, Any] | Thresholds | None = None,
    capacity: float | None = None,
    stack: bool = False,
    color_mode: str | None = None,
    decimals: int | None = None,
    min: float | None = None,
    max: float | None = None,
    width: int | None = None,
    height: int | None = None,
    instant: bool | None = None,
    record: bool | None = None,
    alert: PanelAlert | bool | None = None,
) -> Panel:
    """Declare a panel with one PromQL query, kept unchanged."""
    location = caller_location()
    if not isinstance(title, str) or not title:
        raise DSLError(f"a panel needs a title string, not {title!r}", location)
    if not isinstance(query, str) or not query:
        raise DSLError(f'panel "{title}" needs a query string, not {query!r}', location)
    kind = PanelType(_choice(type, [t.value for t in PanelType], "panel type"))
    if color_mode is not None:
        _choice(
            color_mode,
            ["value", "background", "background_solid", "none"],
            "color_mode",
        )
    if width is not None and not 1 <= width <= 24:
        raise DSLError(f"width {width} is outside 1..24", location)
    parsed: Thresholds | None = (
        thresholds if isinstance(thresholds, Thresholds) else None
    )
    if thresholds is not None and not isinstance(thresholds, Thresholds):
        try:
            parsed = (
                parse_shorthand(thresholds)
                if isinstance(thresholds, str)
                else parse_structured(dict(thresholds))
            )
        except ThresholdError as exc:
            raise DSLError(str(exc), location) from None
        parsed = attrs.evolve(parsed, location=location)
    if isinstance(alert, bool):
        alert = PanelAlert(enabled=alert, location=location)
    return Panel(
        title=title,
        query=query,
        type=kind,
        description=description,
        unit=unit,
        legend=legend,
        thresholds=parsed,
        capacity=capacity,
        stack=stack,
        color_mode=color_mode,
        decimals=decimals,
        min=min,
        max=max,
        width=width,
        height=height,
        instant=instant,
        record=record,
        alert=alert or PanelAlert(location=location),
        location=location,
    )


def row(title: str, panels: Sequence[Panel] = (), collapsed: bool = False) -> Row:
    """Declare a dashboard row."""
    for item in panels:
        if not isinstance(item, Panel):
            raise _fail(f'row "{title}" got {type(item).__name__}, not a panel')
    return Row(
        title=title,
        panels=tuple(panels),
        collapsed=collapsed,
        location=caller_location(),
    )


def override(row_value: Row, *panels: Panel | Mapping[str, Any]) -> Row:
    """Replace panels of a row by title and append new ones, as Jsonnet's `+:` does.

    A mapping changes only the fields it names on the panel with that `title`.
    """
    result = list(row_value.panels)
    for item in panels:
        title = item.title if isinstance(item, Panel) else item.get("title")
        index = next((i for i, p in enumerate(result) if p.title == title), None)
        if isinstance(item, Panel):
            if index is None:
                result.append(item)
            else:
                result[index] = item
            continue
        if index is None:
            result.append(panel(**dict(item)))
            continue
        changes = {k: v for k, v in item.items() if k != "title"}
        result[index] = _evolve_panel(result[index], changes)
    return attrs.evolve(row_value, panels=tuple(result))


def _evolve_panel(base: Panel, changes: Mapping[str, Any]) -> Panel:
    fields = {f.name for f in attrs.fields(Panel)} - {"location", "locations"}
    unknown = sorted(set(changes) - fields)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(fields), n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        raise _fail(f'unknown panel field "{unknown[0]}"{hint}')
    arguments = {f: getattr(base, f) for f in fields}
    arguments["type"] = str(base.type)
    arguments.update(changes)
    return panel(**arguments)


# Services ----------------------------------------------------------------------

_collector: contextvars.ContextVar[list[Service] | None] = contextvars.ContextVar(
    "obscompile_dsl_collector", default=None
)


def service(
    name: str,
    title: str | None = None,
    dashboard: Dashboard | None = None,
    scrape: ScrapeJob | Sequence[ScrapeJob] = (),
    metrics: Sequence[Metric] | Sequence[Sequence[Metric]] = (),
    rows: Sequence[Row] = (),
    runtime: str | None = None,
    alert_for: str | None = None,
    alert_labels: Mapping[str, str] | None = None,
    key: str | None = None,
) -> Service:
    """Declare a service, and register it when obscompile is loading this module."""
    location = caller_location()
    service_name = key or service_key(name)
    if not service_name:
        raise DSLError(
            f'cannot derive an identifier from service "{name}"; pass key="..."',
            location,
        )
    jobs = (scrape,) if isinstance(scrape, ScrapeJob) else tuple(scrape)
    catalog: list[Metric] = []
    for item in metrics:
        catalog.extend([item] if isinstance(item, Metric) else item)
    dashboard_value: Dashboard | None
    if rows and dashboard is None:
        dashboard_value = Dashboard(
            uid=derive_uid(name), title=title or name, location=location
        )
    else:
        dashboard_value = dashboard
    result = Service(
        name=service_name,
        title=title or name,
        dashboard=dashboard_value,
        scrape_jobs=jobs,
        metrics=tuple(catalog),
        rows=tuple(rows),
        runtime=Runtime(_choice(runtime, ["python", "nodejs"], "runtime"))
        if runtime
        else None,
        alerts=AlertSettings(
            for_=_duration(alert_for, "alert_for"), labels=_pairs(alert_labels)
        ),
        location=location,
    )
    collected = _collector.get()
    if collected is not None:
        collected.append(result)
    return result


def collecting() -> tuple[list[Service], contextvars.Token]:
    """Start collecting the services that `service()` declares (used by the loader)."""
    collected: list[Service] = []
    return collected, _collector.set(collected)


def stop_collecting(token: contextvars.Token) -> None:
    _collector.reset(token)


# Building blocks ---------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


@attrs.frozen
class Block:
    """A named function that returns a row, a list of panels, or a list of metrics."""

    name: str
    function: Callable[..., Any]

    @property
    def parameters(self) -> dict[str, inspect.Parameter]:
        return dict(inspect.signature(self.function).parameters)

    @property
    def required(self) -> list[str]:
        return [
            n
            for n, p in self.parameters.items()
            if p.default is inspect.Parameter.empty
        ]


BLOCKS: dict[str, Block] = {}


def block(name: str) -> Callable[[F], F]:
    """Register a function as a building block that manifests can `use:` by name."""

    def register(function: F) -> F:
        BLOCKS[name] = Block(name, function)
        return function

    return register


def use(name: str, /, **parameters: Any) -> Any:
    """Call a registered block by name, checking its parameters."""
    found = BLOCKS.get(name)
    if found is None:
        close = difflib.get_close_matches(name, sorted(BLOCKS), n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        raise _fail(f'unknown block "{name}"{hint}')
    problem = block_parameter_problem(found, parameters)
    if problem:
        raise _fail(problem)
    return found.function(**parameters)


def block_parameter_problem(found: Block, parameters: Mapping[str, Any]) -> str | None:
    """Describe the first unknown or missing parameter of a block call, if any."""
    known = found.parameters
    for given in parameters:
        if given not in known:
            close = difflib.get_close_matches(given, sorted(known), n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            return f'block "{found.name}" has no parameter "{given}"{hint}'
    for required in found.required:
        if required not in parameters:
            return f'block "{found.name}" needs parameter "{required}"'
    return None


def http_metrics(buckets: Sequence[float] | None = None) -> list[Metric]:
    """Return the standard HTTP metric catalog (shipped block `http_metrics`)."""
    return use("http_metrics", **({} if buckets is None else {"buckets": buckets}))


# Import the shipped blocks so that they register.
from obscompile import blocks as _shipped_blocks  # noqa: E402,F401
