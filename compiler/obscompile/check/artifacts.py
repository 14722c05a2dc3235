"""Checks across the rendered artifacts: rules against dashboards and scrape jobs.

These run after rendering, on the files a build would write, because they compare
artifacts with each other: every alert's dashboard link must name a panel that
exists, every recording rule must be read by something, and every job a query
names must be scraped. A finding is reported at the manifest line of the panel
or service it comes from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ruamel.yaml import YAML

from obscompile import promql
from obscompile.diagnostics import Diagnostic, error, warning
from obscompile.model.location import Location
from obscompile.model.service import Service

_VIEW_PANEL = re.compile(r"/d/(?P<uid>[A-Za-z0-9_-]+)\?viewPanel=(?P<id>\d+)$")


def _yaml(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


def _dashboard_panels(files: Mapping[str, str]) -> dict[str, set[int]]:
    panels: dict[str, set[int]] = {}
    for name, text in files.items():
        if not (name.startswith("grafana/dashboards/") and name.endswith(".json")):
            continue
        document = json.loads(text)
        ids = set()
        for panel in document.get("panels", []):
            if panel.get("type") != "row":
                ids.add(panel["id"])
            ids.update(child["id"] for child in panel.get("panels", []))
        panels[document["uid"]] = ids
    return panels


def _rules(files: Mapping[str, str]) -> Iterator[tuple[str, dict]]:
    for name, text in sorted(files.items()):
        if name.startswith("prometheus/rules/") and name.endswith(".yml"):
            document = _yaml(text) or {}
            for group in document.get("groups", []):
                for rule in group.get("rules", []):
                    yield name, rule


def _metric_names(expr: str) -> list[str]:
    try:
        return promql.metric_names(promql.parse(expr))
    except promql.QueryError:
        return []


def _job_values(expr: str) -> list[str]:
    try:
        node = promql.parse(expr)
    except promql.QueryError:
        return []
    values = []
    for selector in promql.selectors(node):
        for operator, value in promql.matcher_values(selector, "job"):
            if operator == "=":
                values.append(value)
    return values


_BY_JOB_ONLY = re.compile(r" by \(job\)")
_BY_JOB_FIRST = re.compile(r"(by \()job, ")
_BY_JOB_LATER = re.compile(r"(by \([^)]*), job\b")


def canonical(expr: str, drop_job_grouping: bool = False) -> str | None:
    """Return the parser's canonical text of a query, optionally without `by (job)`.

    Recording rules may add `job` to an aggregation that already filters on one
    job; dropping it lets such a rule match the panel query it records.
    """
    try:
        text = str(promql.parse(expr))
    except promql.QueryError:
        return None
    if drop_job_grouping:
        text = _BY_JOB_ONLY.sub("", text)
        text = _BY_JOB_FIRST.sub(r"\1", text)
        text = _BY_JOB_LATER.sub(r"\1", text)
        text = str(promql.parse(text)) if text else text
    return text


def _service_for_rule(rule_file: str, services: Sequence[Service]) -> Service | None:
    stem = rule_file.rsplit("/", 1)[-1].removesuffix(".rules.yml")
    return next((s for s in services if s.name == stem), None)


def _panel_locations(service: Service) -> dict[str, Location]:
    """Return where each dashboard panel of `service` was written, keyed by panel id."""
    from obscompile.render.grafana import dashboard_rows

    return {
        str(view.id): view.panel.location
        for row in dashboard_rows(service)
        for view in row.panels
    }


def check_artifacts(
    services: Sequence[Service], files: Mapping[str, str]
) -> list[Diagnostic]:
    """Compare rules with dashboards and scrape jobs; return what does not line up."""
    diagnostics: list[Diagnostic] = []
    panels = _dashboard_panels(files)
    rules = list(_rules(files))
    scraped = set()
    config = files.get("prometheus/prometheus.yml")
    if config is not None:
        document = _yaml(config) or {}
        scraped = {job["job_name"] for job in document.get("scrape_configs", [])}

    read: set[str] = set()
    for _, rule in rules:
        read.update(_metric_names(rule["expr"]))
    panel_queries = {panel.query for service in services for panel in service.panels}
    for query in panel_queries:
        read.update(_metric_names(query))
    recorded_panels = {canonical(query) for query in panel_queries} - {None}

    # Panel positions are laid out once per service, not once per alert.
    layouts: dict[str, dict[str, Location]] = {}
    for rule_file, rule in rules:
        service = _service_for_rule(rule_file, services)
        if "alert" in rule:
            annotations = rule.get("annotations") or {}
            uid = annotations.get("dashboard_uid")
            panel_id = annotations.get("panel_id")
            if service is None:
                where = Location("<generated>", 1, 1)
            else:
                if service.name not in layouts:
                    layouts[service.name] = _panel_locations(service)
                where = layouts[service.name].get(str(panel_id), service.location)
            if uid is None or panel_id is None:
                continue
            if (
                uid not in panels
                or not str(panel_id).isdigit()
                or int(panel_id) not in panels[uid]
            ):
                diagnostics.append(
                    error(
                        where,
                        f'alert "{rule["alert"]}" links to panel {panel_id} of dashboard '
                        f'"{uid}", which does not exist',
                        "artifacts/alert-link",
                    )
                )
                continue
            url = annotations.get("dashboard_url", "")
            match = _VIEW_PANEL.search(url)
            if url and (
                match is None or (match["uid"], match["id"]) != (uid, str(panel_id))
            ):
                diagnostics.append(
                    error(
                        where,
                        f'alert "{rule["alert"]}" has dashboard_url {url}, which does not '
                        f"point at /d/{uid}?viewPanel={panel_id}",
                        "artifacts/alert-link",
                    )
                )
        elif (
            "record" in rule
            and rule["record"] not in read
            and canonical(rule["expr"], drop_job_grouping=True) not in recorded_panels
        ):
            diagnostics.append(
                warning(
                    service.location if service else Location(rule_file, 1, 1),
                    f'recording rule "{rule["record"]}" is not read by any alert, rule '
                    "or panel",
                    "artifacts/unused-recording",
                )
            )

    if config is not None:
        # A service without scrape jobs is scraped by a configuration obscompile does
        # not write, so its jobs cannot be checked here.
        for service in services:
            if not service.scrape_jobs:
                continue
            for panel in service.panels:
                for job in _job_values(panel.query):
                    if job not in scraped:
                        diagnostics.append(
                            error(
                                panel.location_of("query"),
                                f'panel "{panel.title}" queries job "{job}", which no scrape '
                                "job in prometheus.yml collects",
                                "artifacts/unscraped-job",
                            )
                        )
        for rule_file, rule in rules:
            service = _service_for_rule(rule_file, services)
            if service is not None and not service.scrape_jobs:
                continue
            for job in _job_values(rule["expr"]):
                if job not in scraped:
                    name = rule.get("alert") or rule.get("record")
                    diagnostics.append(
                        error(
                            service.location if service else Location(rule_file, 1, 1),
                            f'rule "{name}" reads job "{job}", which no scrape job collects',
                            "artifacts/unscraped-job",
                        )
                    )
    return diagnostics
