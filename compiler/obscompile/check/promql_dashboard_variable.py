"""promql/dashboard-variable: queries that use a variable the dashboard lacks."""

from __future__ import annotations

from collections.abc import Iterator

from obscompile import promql
from obscompile.check import catalog
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, warning

NAME = "promql/dashboard-variable"

# The variables that the built-in dashboard template defines.
# NOTE: a project's own dashboard template may define more; this check does not read it.
DASHBOARD_VARIABLES = frozenset({"datasource"})
# The similarity (difflib's ratio) at which a name is suggested for an unknown one.
# Typos such as `datsource` or `rate_interval` score 0.9 or more. Names that
# dashboards often define for themselves score less and get no suggestion:
# `cluster` scores 0.62 against `__user`, and `database` 0.67 against `datasource`.
SUGGESTION_CUTOFF = 0.75


@check(NAME, "queries that use a dashboard variable the dashboard does not define")
def dashboard_variable(context: PanelContext) -> Iterator[Diagnostic]:
    for name, text, offset in promql.grafana_variables(context.panel.query):
        if name in DASHBOARD_VARIABLES:
            continue
        known = sorted(DASHBOARD_VARIABLES | promql.GRAFANA_GLOBALS)
        close = catalog.closest(name, known, cutoff=SUGGESTION_CUTOFF)
        advice = (
            f'did you mean "${close}"?'
            if close is not None
            else "its variables are $datasource and Grafana's own, such as "
            "$__rate_interval"
        )
        yield warning(
            context.query_location(offset),
            f'panel "{context.panel.title}": the dashboard has no variable {text}, '
            f"so Grafana sends it to Prometheus as written; {advice}",
            NAME,
        )
