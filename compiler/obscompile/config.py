"""Project configuration (`obscompile.yaml` at the project root)."""

from __future__ import annotations

import attrs

from obscompile.render.grafana import DEFAULT_SCHEMA_VERSION

DEFAULT_TARGETS = (
    "grafana",
    "prometheus",
    "terraform",
    "kubernetes",
    "mimir",
    "instrumentation",
)


@attrs.frozen
class Config:
    """Settings that apply to every service of a project; every field has a default."""

    targets: tuple[str, ...] = DEFAULT_TARGETS
    grafana_url: str = "http://localhost:3000"
    schema_version: int = DEFAULT_SCHEMA_VERSION
    alert_for: str = "5m"
    evaluation_interval: str = "1m"
    scrape_interval: str = "15s"
    scrape_timeout: str = "10s"
    kubernetes_namespace: str = "monitoring"
    kubernetes_labels: tuple[tuple[str, str], ...] = ()
    mimir_source_tenants: tuple[str, ...] = ()
