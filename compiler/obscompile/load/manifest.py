"""Build model objects from validated manifest data, recording positions on each node."""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from typing import Any

import attrs

from obscompile.diagnostics import Diagnostic, error, shorten, warning
from obscompile.load.schema import UID_MAX
from obscompile.load.thresholds import read_rejected_text, read_thresholds
from obscompile.load.validate import suggest
from obscompile.load.yaml_source import JsonPath, Source
from obscompile.model.location import Location
from obscompile.model.metric import Metric, MetricType
from obscompile.model.panel import Panel, PanelAlert, PanelType, Row
from obscompile.model.scrape import Probe, ScrapeJob
from obscompile.model.service import (
    AlertSettings,
    Dashboard,
    Runtime,
    Service,
    with_runtime_naming,
)


def slug(text: str) -> str:
    """Return an ASCII slug of `text`: lowercase letters, digits and single hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def derive_uid(service: str) -> str:
    """Return a stable Grafana uid for a service name (at most 40 characters)."""
    digest = hashlib.sha256(service.encode()).hexdigest()
    base = slug(service)
    if not base:
        return f"svc-{digest[:12]}"
    if len(base) <= UID_MAX:
        return base
    return base[:27].rstrip("-") + "-" + digest[:12]


def service_key(name: str) -> str:
    """Return the ASCII key used in file and rule-group names, or "" if none derives."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9_-]+", "_", ascii_text).strip("_-")


def _placed_at(produced: Any, location: Location) -> Any:
    """Place each panel, row and metric of a shipped block's result at `location`."""
    if isinstance(produced, Row):
        panels = tuple(_placed_at(panel, location) for panel in produced.panels)
        return attrs.evolve(produced, panels=panels, location=location)
    if isinstance(produced, list | tuple):
        return type(produced)(_placed_at(item, location) for item in produced)
    if isinstance(produced, Metric):
        return attrs.evolve(produced, location=location, locations={})
    if not isinstance(produced, Panel):
        return produced
    thresholds = produced.thresholds
    if thresholds is not None:
        thresholds = attrs.evolve(thresholds, location=location, quantity_locations={})
    return attrs.evolve(
        produced,
        location=location,
        locations={},
        thresholds=thresholds,
        alert=attrs.evolve(produced.alert, location=location, locations={}),
    )


class _Reader:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.diagnostics: list[Diagnostic] = []

    def at(self, path: JsonPath) -> Location:
        return self.source.location(path)

    def key_at(self, path: JsonPath) -> Location:
        return self.source.key_location(path)

    @functools.cached_property
    def lines(self) -> list[str]:
        return self.source.text.splitlines()

    def label_locations(
        self, path: JsonPath, settings: dict[str, Any]
    ) -> dict[str, Location]:
        """Return where `labels` and each `label:<name>` of alert settings are written."""
        labels = settings.get("labels") or {}
        if not labels:
            return {}
        found = {"labels": self.at(path)}
        for name in labels:
            found[f"label:{name}"] = self.key_at((*path, name))
        return found

    def annotation_locations(
        self, path: JsonPath, settings: dict[str, Any]
    ) -> dict[str, Location]:
        """Return where `annotations` and each `annotation:<name>` are written."""
        annotations = settings.get("annotations") or {}
        if not annotations:
            return {}
        found = {"annotations": self.at(path)}
        for name in annotations:
            found[f"annotation:{name}"] = self.key_at((*path, name))
            found[f"annotation-value:{name}"] = self.at((*path, name))
        return found

    def alert_settings_locations(self, alerts: dict[str, Any]) -> dict[str, Location]:
        """Return where the service's `alerts.for`, labels and each label are written."""
        found = self.label_locations(("alerts", "labels"), alerts)
        found.update(self.annotation_locations(("alerts", "annotations"), alerts))
        if "for" in alerts:
            found["for"] = self.at(("alerts", "for"))
        return found

    def locations(self, path: JsonPath, data: dict[str, Any]) -> dict[str, Location]:
        return {key: self.at((*path, key)) for key in data}

    def text_at(self, path: JsonPath, text: str, offset: int) -> Location:
        """Return where character `offset` of the text scalar at `path` is written.

        Where the manifest text does not read as `text`, the result is where the
        scalar's text starts.
        """
        from obscompile.check.positions import text_location

        value_at = self.at(path)
        start = value_at.shifted(self.quote_offset(path))
        sources = {value_at.file: self.source.text}
        return text_location(value_at, text, offset, sources, start)

    def quote_offset(self, path: JsonPath) -> int:
        """Return 1 when the scalar at `path` starts with a quote, so offsets line up."""
        location = self.at(path)
        lines = self.lines
        if 0 < location.line <= len(lines):
            line = lines[location.line - 1]
            if location.column - 1 < len(line) and line[location.column - 1] in "'\"":
                return 1
        return 0

    def service(self) -> Service:
        data = self.source.data
        name = data["service"]
        key = data.get("service_key") or service_key(name)
        if not key:
            self.diagnostics.append(
                error(
                    self.at(("service",)),
                    f'cannot derive an identifier from service "{name}"; '
                    f"set service_key: {slug(name) or 'my-service'}",
                    "manifest/identifier",
                )
            )
            key = f"svc-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
        rows = tuple(
            self.row(row, ("rows", index))
            for index, row in enumerate(data.get("rows") or [])
        )
        dashboard = self.dashboard(data, name) if rows or "dashboard" in data else None
        alerts = data.get("alerts") or {}
        runtime = Runtime(data["runtime"]) if "runtime" in data else None
        # Scrape jobs are read before metrics, so that their diagnostics come first.
        scrape_jobs = self.scrape_jobs(data.get("scrape"))
        metrics = self.metrics(data.get("metrics") or {}) + self.metric_blocks(
            data.get("metric_blocks") or []
        )
        return Service(
            name=key,
            title=data.get("title") or name,
            dashboard=dashboard,
            scrape_jobs=scrape_jobs,
            metrics=with_runtime_naming(metrics, runtime),
            rows=rows,
            runtime=runtime,
            alerts=AlertSettings(
                for_=alerts.get("for"),
                labels=tuple(sorted((alerts.get("labels") or {}).items())),
                annotations=tuple(sorted((alerts.get("annotations") or {}).items())),
                locations=self.alert_settings_locations(alerts),
            ),
            location=self.at(()),
            locations=self.locations((), data),
            declared_name=name,
        )

    def dashboard(self, data: dict[str, Any], name: str) -> Dashboard:
        settings = data.get("dashboard") or {}
        for ignored, reason in (
            ("id", "is assigned by Grafana per instance"),
            ("version", "is assigned by Grafana on every save"),
        ):
            if ignored in settings:
                self.diagnostics.append(
                    warning(
                        self.key_at(("dashboard", ignored)),
                        f"dashboard.{ignored} {reason} and is ignored",
                        "dashboard/ignored-field",
                    )
                )
        # The top-level title also names the service in alert summaries, while the
        # top-level description serves the dashboard alone.
        if (
            "description" in data
            and "description" in settings
            and data["description"] != settings["description"]
        ):
            self.diagnostics.append(
                warning(
                    self.key_at(("description",)),
                    "description is ignored: the dashboard shows dashboard.description; "
                    "remove one of them",
                    "dashboard/ignored-field",
                )
            )
        # The schema has rejected a uid that Grafana does not accept.
        uid = settings.get("uid")
        return Dashboard(
            uid=derive_uid(name) if uid is None else uid,
            title=settings.get("title") or data.get("title") or name,
            description=settings.get("description", data.get("description", "")),
            tags=tuple(settings.get("tags") or ()),
            folder=settings.get("folder", "General"),
            refresh=settings.get("refresh", "1m"),
            time_from=settings.get("time", "now-6h"),
            timezone=settings.get("timezone", "browser"),
            location=self.at(("dashboard",)),
            locations=self.dashboard_locations(settings),
        )

    def dashboard_locations(self, settings: dict[str, Any]) -> dict[str, Location]:
        """Return where each key of `dashboard:` is written, and each tag at `tags.<i>`.

        An empty `title` is left out, because the dashboard then takes the service's.
        """
        found = self.locations(("dashboard",), settings)
        if not settings.get("title"):
            found.pop("title", None)
        for index, _ in enumerate(settings.get("tags") or ()):
            found[f"tags.{index}"] = self.at(("dashboard", "tags", index))
        return found

    def scrape_jobs(self, value: Any) -> tuple[ScrapeJob, ...]:
        if value is None:
            return ()
        if isinstance(value, dict):
            return (self.scrape_job(value, ("scrape",)),)
        return tuple(self.scrape_job(job, ("scrape", i)) for i, job in enumerate(value))

    def scrape_job(self, data: dict[str, Any], path: JsonPath) -> ScrapeJob:
        targets = data.get("targets")
        probe = data.get("probe")
        if targets is None:
            if probe is not None:
                self.diagnostics.append(
                    error(
                        self.at(path),
                        f'probe job "{data["job"]}" needs targets:, the URLs or hosts '
                        "that its exporter probes",
                        "manifest/schema",
                    )
                )
                targets = []
            elif "port" in data:
                targets = [f"{data['job']}:{int(data['port'])}"]
            else:
                self.diagnostics.append(
                    error(
                        self.at(path),
                        f'scrape job "{data["job"]}" needs targets: or port:',
                        "manifest/schema",
                    )
                )
                targets = []
        return ScrapeJob(
            job=data["job"],
            targets=tuple(targets),
            metrics_path=data.get("path", "/metrics" if probe is None else "/probe"),
            interval=data.get("interval"),
            timeout=data.get("timeout"),
            scheme=data.get("scheme", "http"),
            labels=tuple(sorted((data.get("labels") or {}).items())),
            probe=None if probe is None else Probe(probe["exporter"], probe["module"]),
            honor_labels=data.get("honor_labels", False),
            location=self.at(path),
            locations=self.scrape_job_locations(path, data),
        )

    def scrape_job_locations(
        self, path: JsonPath, data: dict[str, Any]
    ) -> dict[str, Location]:
        """Return where each key of a scrape job, and each of its targets, is written.

        Each label's name is at `label:<name>`, and each key of a probe at
        `probe.<key>`.
        """
        found = self.locations(path, data)
        for name in data.get("labels") or {}:
            found[f"label:{name}"] = self.key_at((*path, "labels", name))
        for key in data.get("probe") or {}:
            found[f"probe.{key}"] = self.at((*path, "probe", key))
        for index, _ in enumerate(data.get("targets") or ()):
            found[f"targets.{index}"] = self.at((*path, "targets", index))
        return found

    def metrics(self, data: dict[str, Any]) -> tuple[Metric, ...]:
        metrics = []
        for name, spec in data.items():
            if isinstance(spec, str):
                spec = {"type": spec}
            metrics.append(
                Metric(
                    name=name,
                    type=MetricType(spec["type"]),
                    help=spec.get("help", ""),
                    labels=tuple(spec.get("labels") or ()),
                    buckets=tuple(float(b) for b in spec.get("buckets") or ()),
                    location=self.key_at(("metrics", name)),
                    locations=self.metric_locations(name, spec),
                )
            )
        return tuple(metrics)

    def metric_locations(self, name: str, spec: dict[str, Any]) -> dict[str, Location]:
        """Return where each key of a catalog entry, and each of its items, is written."""
        path = ("metrics", name)
        if path not in self.source.values or (*path, "type") not in self.source.values:
            return {}  # The shorthand `name: counter` has no keys of its own.
        found = self.locations(path, spec)
        for key in ("labels", "buckets"):
            for index, _ in enumerate(spec.get(key) or ()):
                found[f"{key}.{index}"] = self.at((*path, key, index))
        return found

    def row(self, data: dict[str, Any], path: JsonPath) -> Row:
        if "use" in data:
            return self.block_row(data, path)
        panels = tuple(
            self.panel(panel, (*path, "panels", index))
            for index, panel in enumerate(data.get("panels") or [])
        )
        return Row(
            title=data["title"],
            panels=panels,
            collapsed=data.get("collapsed", False),
            location=self.at(path),
        )

    def call_block(self, data: dict[str, Any], path: JsonPath) -> Any:
        """Call the block a `use:` entry names; report problems at their keys.

        A failure inside a project block is reported in the block's code, marked
        with this use. A failure of a shipped block is reported at the `use:` value.
        """
        from obscompile import dsl

        name = data["use"]
        found = dsl.BLOCKS.get(name)
        if found is None:
            self.diagnostics.append(
                error(
                    self.at((*path, "use")),
                    dsl.unknown_block_message(name),
                    "manifest/block",
                )
            )
            return None
        parameters = data.get("with") or {}
        problems = dsl.block_parameter_problems(found, parameters)
        for parameter, message in problems:
            where = (
                self.at(path)
                if parameter is None
                else self.key_at((*path, "with", parameter))
            )
            self.diagnostics.append(error(where, message, "manifest/block"))
        if problems:
            return None
        # The warnings of the dsl calls inside a project block, such as those of a
        # dsl.use() of another block, are placed in the block's code.
        inner, token = dsl.collecting_warnings()
        try:
            with dsl.collecting_parameter_warnings() as warned:
                produced = dsl.call_block(found, parameters, self.at(path))
        except dsl.DSLError as exc:
            parameter = exc.parameter if isinstance(exc, dsl.ParameterError) else None
            if parameter is not None and parameter in parameters:
                # A bad parameter value is reported where the value is written.
                where = self.at((*path, "with", parameter))
                message = f'block "{name}": {exc}'
            elif found.shipped:
                where = self.at((*path, "use"))
                message = f'block "{name}" failed: {exc}'
            else:
                where, message = exc.location, str(exc)
            self.diagnostics.append(error(where, message, "manifest/block"))
            return None
        finally:
            dsl.stop_collecting_warnings(token)
        self.diagnostics.extend(inner)
        for item in warned:
            # A value given under `with:` gets the warning there.
            where = (
                self.at((*path, "with", item.parameter))
                if item.parameter in parameters
                else self.at((*path, "use"))
            )
            message = f'block "{name}": {item.parameter} {item.message}'
            self.diagnostics.append(warning(where, message, item.check))
        if found.shipped:
            # A shipped block's code is obscompile's, so its results are placed
            # where the block is used.
            produced = _placed_at(produced, self.at(path))
        written = {key: self.at((*path, "with", key)) for key in parameters}
        return dsl.with_arguments(produced, dsl.text_arguments(parameters, written))

    def block_row(self, data: dict[str, Any], path: JsonPath) -> Row:
        location = self.at(path)
        produced = self.call_block(data, path)
        if produced is None:
            return Row(title=data["use"], location=location)
        if not isinstance(produced, Row):
            from obscompile import dsl

            returned = dsl.describe_result(produced)
            fix = (
                "use it under metric_blocks:"
                if returned == "a list of metrics"
                else "return dsl.row(title, panels) from the block"
            )
            self.diagnostics.append(
                error(
                    self.at((*path, "use")),
                    f'block "{data["use"]}" returns {returned}, not a row; {fix}',
                    "manifest/block",
                )
            )
            return Row(title=data["use"], location=location)
        panels = list(produced.panels)
        for index, change in enumerate(data.get("panels") or []):
            change_path = (*path, "panels", index)
            titles = [panel.title for panel in panels]
            if change["title"] in titles:
                at = titles.index(change["title"])
                panels[at] = self.changed_panel(panels[at], change, change_path)
            elif "query" in change:
                panels.append(self.panel(change, change_path))
            else:
                self.diagnostics.append(
                    error(
                        self.at((*path, "panels", index, "title")),
                        f'block "{shorten(data["use"])}" has no panel '
                        f'"{shorten(change["title"])}" to change'
                        f"{suggest(change['title'], titles)}; a new panel needs a query",
                        "manifest/block",
                    )
                )
        return Row(
            title=produced.title,
            panels=tuple(panels),
            collapsed=data.get("collapsed", produced.collapsed),
            location=location,
        )

    def changed_panel(
        self, panel: Panel, change: dict[str, Any], path: JsonPath
    ) -> Panel:
        """Return a block's panel with the keys of a `panels:` entry written over it.

        Each key written here is placed here, and the others stay where the block
        placed them.
        """
        fields = self.panel_fields(change, path)
        locations = {**panel.locations, **fields.pop("locations")}
        # A query written here has none of the block's arguments in it.
        arguments = {} if "query" in change else panel.arguments
        return attrs.evolve(panel, **fields, locations=locations, arguments=arguments)

    def metric_blocks(self, entries: list[dict[str, Any]]) -> tuple[Metric, ...]:
        metrics: list[Metric] = []
        for index, entry in enumerate(entries):
            path = ("metric_blocks", index)
            produced = self.call_block(entry, path)
            if produced is None:
                continue
            if not isinstance(produced, list | tuple) or not all(
                isinstance(m, Metric) for m in produced
            ):
                from obscompile import dsl

                returned = dsl.describe_result(produced)
                fix = (
                    "use it under rows:"
                    if isinstance(produced, Row)
                    else "return a list such as [dsl.gauge(name, help)] from the block"
                )
                self.diagnostics.append(
                    error(
                        self.at((*path, "use")),
                        f'block "{entry["use"]}" returns {returned}, not a list of '
                        f"metrics; {fix}",
                        "manifest/block",
                    )
                )
                continue
            metrics.extend(
                self.placed_buckets(metric, entry.get("with") or {}, path)
                for metric in produced
            )
        return tuple(metrics)

    def placed_buckets(
        self, metric: Metric, parameters: dict[str, Any], path: JsonPath
    ) -> Metric:
        """Place a block's histogram buckets at the `with:` list that gives them.

        A block's metrics are placed at its use. Buckets equal to a list argument
        are that argument, so a finding on a bound points at the bound as written.
        """
        if not metric.buckets or "buckets" in metric.locations:
            return metric
        for name, value in parameters.items():
            if not isinstance(value, list) or len(value) != len(metric.buckets):
                continue
            if not all(
                isinstance(item, int | float)
                and not isinstance(item, bool)
                and item == bound
                for item, bound in zip(value, metric.buckets, strict=True)
            ):
                continue
            where = (*path, "with", name)
            locations = {
                **metric.locations,
                "buckets": self.at(where),
                **{f"buckets.{i}": self.at((*where, i)) for i in range(len(value))},
            }
            return attrs.evolve(metric, locations=locations)
        return metric

    def panel_fields(self, data: dict[str, Any], path: JsonPath) -> dict[str, Any]:
        """Convert the panel keys present in `data` into Panel field values."""
        fields: dict[str, Any] = {}
        simple = {
            "title": "title",
            "query": "query",
            "description": "description",
            "unit": "unit",
            "legend": "legend",
            "capacity": "capacity",
            "stack": "stack",
            "color_mode": "color_mode",
            "decimals": "decimals",
            "min": "min",
            "max": "max",
            "width": "width",
            "height": "height",
            "instant": "instant",
            "record": "record",
        }
        for key, field in simple.items():
            if key in data:
                fields[field] = data[key]
        for key in ("decimals", "width", "height"):
            if key in data:
                # JSON Schema counts 24.0 as the integer 24, which dashboards get.
                fields[key] = int(data[key])
        if "type" in data:
            fields["type"] = PanelType(data["type"])
        if "thresholds" in data:
            thresholds_path = (*path, "thresholds")
            thresholds, problems = read_thresholds(
                data["thresholds"],
                self.at(thresholds_path),
                lambda inner: self.at((*thresholds_path, *inner)),
                lambda inner, text, offset: self.text_at(
                    (*thresholds_path, *inner), text, offset
                ),
            )
            self.diagnostics.extend(problems)
            fields["thresholds"] = thresholds
            if thresholds is None:
                fields["rejected_thresholds"] = read_rejected_text(
                    data["thresholds"],
                    self.at(thresholds_path),
                    lambda inner, text, offset: self.text_at(
                        (*thresholds_path, *inner), text, offset
                    ),
                )
        if "alert" in data:
            fields["alert"] = self.panel_alert(data["alert"], (*path, "alert"))
        locations = self.locations(path, data)
        if "alert" in data:
            # Findings about the alert as a whole point at its key.
            locations["alert_key"] = self.key_at((*path, "alert"))
        if "query" in locations:
            locations["query_quote"] = locations["query"].shifted(
                self.quote_offset((*path, "query"))
            )
        fields["locations"] = locations
        return fields

    def panel_alert(self, alert: Any, alert_path: JsonPath) -> PanelAlert:
        if isinstance(alert, bool):
            return PanelAlert(enabled=alert, location=self.at(alert_path))
        return PanelAlert(
            name=alert.get("name"),
            for_=alert.get("for"),
            summary=alert.get("summary"),
            description=alert.get("description"),
            warning=alert.get("warning", False),
            labels=tuple(sorted((alert.get("labels") or {}).items())),
            annotations=tuple(sorted((alert.get("annotations") or {}).items())),
            location=self.at(alert_path),
            locations={
                **self.locations(alert_path, alert),
                **self.label_locations((*alert_path, "labels"), alert),
                **self.annotation_locations((*alert_path, "annotations"), alert),
            },
        )

    def panel(self, data: dict[str, Any], path: JsonPath) -> Panel:
        fields = self.panel_fields(data, path)
        fields.setdefault("alert", PanelAlert(location=self.at((*path, "alert"))))
        return Panel(location=self.at(path), **fields)


def build_service(source: Source) -> tuple[Service, list[Diagnostic]]:
    """Build a Service from schema-valid manifest data."""
    reader = _Reader(source)
    service = reader.service()
    return service, reader.diagnostics
