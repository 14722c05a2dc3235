"""Project configuration (`obscompile.yaml` at the project root).

`obscompile.load.config.load_config` reads and validates the file, and
`docs/configuration.md` describes every key. A project without the file gets
these defaults.
"""

from __future__ import annotations

import attrs

from obscompile.model.location import Location
from obscompile.render.grafana import DEFAULT_SCHEMA_VERSION

DEFAULT_TARGETS = (
    "grafana",
    "prometheus",
    "terraform",
    "kubernetes",
    "mimir",
    "instrumentation",
)

# Targets that read what another target wrote: Terraform loads the dashboard files,
# and the PrometheusRule and Mimir files wrap the Prometheus rule files.
TARGET_REQUIRES = {
    "terraform": "grafana",
    "kubernetes": "prometheus",
    "mimir": "prometheus",
}

DEFAULT_GRAFANA_DASHBOARDS_PATH = "/var/lib/grafana/dashboards/obscompile"


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
    grafana_dashboards_path: str = DEFAULT_GRAFANA_DASHBOARDS_PATH
    terraform_folder_uid_prefix: str = "obs-"
    # Where each key was written in obscompile.yaml, for diagnostics of later stages.
    locations: dict[str, Location] = attrs.field(factory=dict, eq=False)
