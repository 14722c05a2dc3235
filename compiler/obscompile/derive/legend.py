"""Derive a panel's legend (Grafana legendFormat) from its query's result labels."""

from __future__ import annotations

from obscompile import promql
from obscompile.model.panel import Panel, PanelType
from obscompile.model.service import Service

_HIDDEN = frozenset({"job", "instance", "le"})


def result_labels(panel: Panel, service: Service | None = None) -> tuple[str, ...]:
    """Return the labels that tell the query's result series apart.

    For a raw selector these are the metric's catalog labels, since its series keep
    every label they were scraped with.
    """
    try:
        node = promql.parse(panel.query)
    except promql.QueryError:
        return ()
    labels = promql.output_labels(node)
    names = list(labels.names)
    if labels.open and labels.selector_metric and service is not None:
        metric = service.metric(labels.selector_metric)
        if metric is not None:
            names.extend(label for label in metric.labels if label not in names)
    return tuple(name for name in names if name not in _HIDDEN)


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
