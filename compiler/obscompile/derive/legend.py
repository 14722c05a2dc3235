"""Derive a panel's legend (Grafana legendFormat) from its query's result labels."""

from __future__ import annotations

import re

import promql_parser as pp

from obscompile import promql
from obscompile.model.panel import Panel, PanelType
from obscompile.model.service import Service

# Only a heatmap names its buckets, and its legend is `{{le}}` whatever the query.
_HIDDEN = frozenset({"le"})
# The labels that Prometheus gives every scraped series.
_SCRAPE_LABELS = ("job", "instance")


def result_labels(panel: Panel, service: Service | None = None) -> tuple[str, ...]:
    """Return the labels that tell the query's result series apart.

    A label that the query names, such as in `by (instance)`, counts unless it is
    `job` or `instance` and every selector sets it to one value with `=`. A raw
    selector's series keep every label they were scraped with, so for one these are
    the metric's catalog labels, then `job` and `instance` where the service's scrape
    jobs give the selector more than one value of them.
    """
    try:
        node = promql.parse(panel.query)
    except promql.QueryError:
        return ()
    labels = promql.output_labels(node)
    names = [
        name
        for name in labels.names
        if name not in _SCRAPE_LABELS or _pinned_value(node, name) is None
    ]
    if labels.open and service is not None:
        raw_labels: list[str] = []
        if labels.selector_metric:
            metric = service.metric(labels.selector_metric)
            raw_labels += metric.labels if metric is not None else ()
        if labels.selector is not None:
            raw_labels += scrape_labels_that_vary(labels.selector, service)
        names += [
            label
            for label in raw_labels
            if label not in names and label not in labels.dropped
        ]
    return tuple(name for name in names if name not in _HIDDEN)


def _pinned_value(node: pp.Expr, label: str) -> str | None:
    """Return the one value that every selector sets `label` to with `=`, or None."""
    values = set()
    for selector in promql.selectors(node):
        equal = [
            value for op, value in promql.matcher_values(selector, label) if op == "="
        ]
        if not equal:
            return None
        values.add(equal[0])
    return values.pop() if len(values) == 1 else None


def scrape_labels_that_vary(
    selector: pp.VectorSelector, service: Service
) -> tuple[str, ...]:
    """Return `job` and `instance` where the selector's series have several values.

    The values are those of the service's scrape jobs that the selector's matchers
    admit: a job's name, and its targets unless it sets `instance` itself. The
    targets are the manifest's, also in a local build that replaced them. A job with
    `honor_labels` gives its series the jobs that pushed them.
    """
    job_matchers = promql.matcher_values(selector, "job")
    instance_matchers = promql.matcher_values(selector, "instance")
    jobs = [job for job in service.scrape_jobs if _admits(job_matchers, job.job)]
    instances = set()
    for job in jobs:
        fixed = dict(job.labels).get("instance")
        targets = job.targets if job.manifest_targets is None else job.manifest_targets
        for target in targets if fixed is None else (fixed,):
            if _admits(instance_matchers, target):
                instances.add(target)
    varying = []
    # A job that honours labels keeps the pushed job names, which the manifests do
    # not list, so they vary unless the selector names one.
    pushed = any(job.honor_labels for job in service.scrape_jobs) and not any(
        operator == "=" for operator, _ in job_matchers
    )
    if pushed or len({job.job for job in jobs}) > 1:
        varying.append("job")
    if len(instances) > 1:
        varying.append("instance")
    return tuple(varying)


def _admits(matchers: list[tuple[str, str]], value: str) -> bool:
    """Return True when `value` satisfies every matcher.

    PromQL anchors a regex at both ends, as `re.fullmatch` does. A pattern that
    Python's `re` cannot compile, such as RE2 syntax that it lacks, counts as a match.
    """
    for operator, expected in matchers:
        if operator in ("=", "!="):
            matched = value == expected
        else:
            try:
                matched = promql.compile_regex(expected).fullmatch(value) is not None
            except re.error:
                continue
        positive = operator in ("=", "=~")
        if matched != positive:
            return False
    return True


def panel_legend(panel: Panel, service: Service | None = None) -> str:
    """Return the panel's legendFormat: the manifest's, or `{{a}} {{b}}` from its labels."""
    if panel.legend is not None:
        return panel.legend
    if panel.type is PanelType.HEATMAP:
        # Buckets must be named by their bound, or Grafana sorts them as strings.
        return "{{le}}"
    labels = result_labels(panel, service)
    if not labels:
        return panel.title
    return " ".join("{{" + label + "}}" for label in labels)
