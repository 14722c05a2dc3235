"""dashboard/heatmap-buckets: a heatmap whose query is not buckets grouped by le."""

from __future__ import annotations

from collections.abc import Iterator

import promql_parser as pp

from obscompile import promql
from obscompile.check import catalog
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, error
from obscompile.model.panel import PanelType

NAME = "dashboard/heatmap-buckets"


def _is_bucket_query(expr: pp.Expr) -> bool:
    nodes = list(promql.walk(expr))
    if any(
        isinstance(n, pp.Call) and n.func.name == "histogram_quantile" for n in nodes
    ):
        return False
    for selector in (n for n in nodes if isinstance(n, pp.VectorSelector)):
        name = catalog.selector_name(selector) or ""
        if not (name.endswith("_bucket") or catalog.is_placeholder(name)):
            return False
    labels = promql.output_labels(expr)
    return "le" in labels.names and not labels.open


@check(NAME, "a heatmap panel whose query is not bucket series grouped by le")
def heatmap_buckets(context: PanelContext) -> Iterator[Diagnostic]:
    expr = context.query.expr
    if context.panel.type is not PanelType.HEATMAP or expr is None:
        return
    if not _is_bucket_query(expr):
        yield error(
            context.query_location(),
            "heatmap panels need bucket series grouped by le",
            NAME,
        )
