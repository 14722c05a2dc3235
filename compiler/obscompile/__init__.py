"""obscompile: compile service manifests into monitoring artifacts.

The Python DSL is re-exported here: `obscompile.service(...)`, `obscompile.panel(...)`
and the rest of `obscompile.dsl`.
"""

__version__ = "0.1.0"

from obscompile.dsl import (  # noqa: E402
    alert,
    block,
    counter,
    dashboard,
    gauge,
    histogram,
    http_metrics,
    metric,
    override,
    panel,
    row,
    scrape_job,
    service,
    thresholds,
    use,
)

__all__ = [
    "alert",
    "block",
    "counter",
    "dashboard",
    "gauge",
    "histogram",
    "http_metrics",
    "metric",
    "override",
    "panel",
    "row",
    "scrape_job",
    "service",
    "thresholds",
    "use",
]
