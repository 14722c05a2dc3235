"""promql/histogram-le: histogram_quantile() over series without usable buckets."""

from __future__ import annotations

from collections.abc import Iterator

import promql_parser as pp

from obscompile import promql
from obscompile.check import catalog
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, error, shorten

NAME = "promql/histogram-le"

# Aggregations that keep every label of the series they select.
_LABEL_KEEPING = frozenset({"topk", "bottomk", "limitk", "limit_ratio"})


def _spine(node: pp.Expr) -> Iterator[pp.Expr]:
    """Yield the nodes from `node` down to the bucket selector its value comes from."""
    while True:
        node = promql.strip_parens(node)
        yield node
        if isinstance(node, pp.AggregateExpr | pp.SubqueryExpr | pp.UnaryExpr):
            node = node.expr
        elif isinstance(node, pp.MatrixSelector):
            node = node.vector_selector
        elif isinstance(node, pp.Call):
            vectors = catalog.vector_arguments(node)
            if not vectors or node.func.name == "histogram_quantile":
                return
            node = vectors[0]
        elif isinstance(node, pp.BinaryExpr):
            node = node.rhs if promql.number_value(node.lhs) is not None else node.lhs
        else:
            return


def _dropping_le(aggregation: pp.AggregateExpr) -> tuple[str, str] | None:
    """Return the aggregation as written and a fix, if it drops the `le` label."""
    operator = str(aggregation.op)
    if operator in _LABEL_KEEPING:
        return None
    modifier = aggregation.modifier
    if modifier is None:
        return f"{operator}(...)", f"{operator} by (le)"
    labels = list(modifier.labels)
    if modifier.type == pp.AggModifierType.By:
        if "le" in labels:
            return None
        return f"by ({', '.join(labels)})", f"by ({', '.join([*labels, 'le'])})"
    if "le" not in labels:
        return None
    remaining = [label for label in labels if label != "le"]
    fix = f"without ({', '.join(remaining)})" if remaining else f"{operator} by (le)"
    return f"without ({', '.join(labels)})", fix


def _problems(context: PanelContext, call: pp.Call) -> Iterator[Diagnostic]:
    title = context.panel.title
    for node in _spine(call.args[-1]):
        if isinstance(node, pp.AggregateExpr):
            dropped = _dropping_le(node)
            if dropped is not None:
                written, fix = dropped
                yield error(
                    context.node_location(node),
                    f'panel "{title}": histogram_quantile() gets an aggregation '
                    f'"{shorten(written)}" that drops "le"; the result is always '
                    f'empty. Use "{shorten(fix)}"',
                    NAME,
                )
                return
        if isinstance(node, pp.VectorSelector):
            name = catalog.selector_name(node)
            if name is None or name.endswith("_bucket") or catalog.is_placeholder(name):
                return
            if catalog.is_recorded(name):
                return  # A recorded series may keep le under any name.
            bucket = name.removesuffix("_sum").removesuffix("_count") + "_bucket"
            found = catalog.find_metric(context, bucket)
            fix = f'; use "{shorten(bucket)}"' if found else ""
            yield error(
                context.node_location(node),
                f'panel "{title}": histogram_quantile() needs the _bucket series of a '
                f'histogram, but gets "{shorten(name)}"{fix}',
                NAME,
            )


@check(NAME, "histogram_quantile() over series that lack the le label")
def histogram_le(context: PanelContext) -> Iterator[Diagnostic]:
    for call in context.query.of_type(pp.Call):
        if call.func.name == "histogram_quantile" and len(call.args) == 2:
            yield from _problems(context, call)
