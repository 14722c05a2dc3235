"""Serve one placeholder gauge on each given port of 127.0.0.1, for scrape-only jobs.

Usage: python scrape_only_exporter.py PORT [PORT ...]

The Celery jobs have no metric catalog, so any exposition makes their targets
healthy. The process runs until it is terminated.
"""

from __future__ import annotations

import signal
import sys

import prometheus_client


def main() -> None:
    registry = prometheus_client.CollectorRegistry()
    ready = prometheus_client.Gauge(
        "e2e_scrape_only_exporter_ready",
        "1 while the end-to-end test's placeholder exporter runs",
        registry=registry,
    )
    ready.set(1)
    for port in sys.argv[1:]:
        prometheus_client.start_http_server(
            int(port), addr="127.0.0.1", registry=registry
        )
    print("READY " + " ".join(sys.argv[1:]), flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
