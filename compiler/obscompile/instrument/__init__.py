"""Client-library metric definitions generated from each service's metric catalog.

`check_instrumentation` returns the problems as diagnostics, and
`render_instrumentation` renders `instrumentation/<service>/metrics.py` for
prometheus_client or `metrics.ts` for prom-client.
"""

from obscompile.instrument.check import check_instrumentation, scrape_port
from obscompile.instrument.generate import render_instrumentation

__all__ = [
    "check_instrumentation",
    "render_instrumentation",
    "scrape_port",
]
