"""Prometheus scrape jobs."""

from __future__ import annotations

import attrs

from obscompile.model.location import UNKNOWN, Location


@attrs.frozen
class ScrapeJob:
    """One `scrape_configs` entry: where and how often Prometheus scrapes a service.

    `interval` and `timeout` are Prometheus duration strings (`15s`); None means
    the global setting applies. `manifest_targets` are the manifest's targets where
    a local build (`--target`) replaced them, and None where `targets` are the
    manifest's.
    """

    job: str
    targets: tuple[str, ...]
    metrics_path: str = "/metrics"
    interval: str | None = None
    timeout: str | None = None
    scheme: str = "http"
    labels: tuple[tuple[str, str], ...] = ()
    manifest_targets: tuple[str, ...] | None = None
    location: Location = attrs.field(default=UNKNOWN, eq=False)
    locations: dict[str, Location] = attrs.field(factory=dict, eq=False)
