"""obscompile: compile service manifests into monitoring artifacts.

The Python DSL is re-exported here: `obscompile.service(...)`, `obscompile.panel(...)`
and the rest of `obscompile.dsl`.
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from obscompile.dsl import (
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
        probe,
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
    "probe",
    "row",
    "scrape_job",
    "service",
    "thresholds",
    "use",
]


def __getattr__(name: str) -> object:
    # The DSL is imported when a name of it is first read, so that the command line
    # starts without loading the whole compiler.
    if name in __all__:
        from obscompile import dsl

        return getattr(dsl, name)
    raise AttributeError(f"module 'obscompile' has no attribute {name!r}")
