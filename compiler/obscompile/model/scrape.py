"""Prometheus scrape jobs."""

from __future__ import annotations

from typing import Any

import attrs

from obscompile.model.location import UNKNOWN, Location, packed_reduction


@attrs.frozen
class Probe:
    """An exporter that probes targets for Prometheus, such as blackbox_exporter.

    Prometheus scrapes `exporter` (host:port) once per target, passing the target and
    `module` as the URL parameters `target` and `module` of the job's metrics path.
    """

    exporter: str
    module: str


@attrs.frozen
class ScrapeJob:
    """One `scrape_configs` entry: where and how often Prometheus scrapes a service.

    `interval` and `timeout` are Prometheus duration strings (`15s`); None means
    the global setting applies. `manifest_targets` are the manifest's targets where
    a local build (`--target`) replaced them, and None where `targets` are the
    manifest's. A job with a `probe` scrapes the probe's exporter, and its
    `targets` are what the exporter probes, each the `instance` of its series.
    `honor_labels` keeps the `job` and `instance` labels that the scraped series
    carry, as a Pushgateway's series need.
    """

    job: str
    targets: tuple[str, ...]
    metrics_path: str = "/metrics"
    interval: str | None = None
    timeout: str | None = None
    scheme: str = "http"
    labels: tuple[tuple[str, str], ...] = ()
    manifest_targets: tuple[str, ...] | None = None
    probe: Probe | None = None
    honor_labels: bool = False
    location: Location = attrs.field(default=UNKNOWN, eq=False)
    locations: dict[str, Location] = attrs.field(factory=dict, eq=False)

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return packed_reduction(self)
