"""promql/match-labels: a one-to-one `on (...)` that leaves out a label that varies."""

from __future__ import annotations

from collections.abc import Iterator

import promql_parser as pp

from obscompile import promql
from obscompile.check.context import PanelContext
from obscompile.check.query_text import tokenize
from obscompile.check.registry import check
from obscompile.derive.legend import scrape_labels_that_vary
from obscompile.diagnostics import Diagnostic, warning
from obscompile.model.service import Service

NAME = "promql/match-labels"


def _on_labels(node: pp.Expr) -> tuple[str, ...] | None:
    """Return the labels of a one-to-one `on (...)` of `node`, or None for another node."""
    if not isinstance(node, pp.BinaryExpr) or str(node.op) not in (
        promql.ARITHMETIC_OPERATORS | promql.COMPARISON_OPERATORS
    ):
        return None
    modifier = node.modifier
    matching = modifier.matching if modifier is not None else None
    if (
        modifier is None
        or matching is None
        or matching.type != pp.LabelModifierType.Include
        or "OneToOne" not in str(modifier.card)
        or promql.value_type(node.lhs) != "vector"
        or promql.value_type(node.rhs) != "vector"
    ):
        return None
    return tuple(matching.labels)


def _varying_labels(side: pp.Expr, service: Service) -> set[str]:
    """Return `job` and `instance` where the series of `side` keep several values."""
    labels = promql.output_labels(side)
    varying: set[str] = set()
    for selector in promql.selectors(side):
        varying.update(scrape_labels_that_vary(selector, service))
    if labels.open:
        return varying - set(labels.dropped)
    return varying & set(labels.names)


def _on_offset(context: PanelContext, matched: int) -> int | None:
    """Return where `on` is written, when the query has one such keyword only."""
    found = [t.offset for t in tokenize(context.panel.query) if t.text == "on"]
    return found[0] if matched == 1 and len(found) == 1 else None


@check(NAME, "a one-to-one on (...) that leaves out job or instance, which vary")
def match_labels(context: PanelContext) -> Iterator[Diagnostic]:
    query = context.query
    if query.error is not None:
        return
    matched = [
        (node, on)
        for node in query.of_type(pp.BinaryExpr)
        if (on := _on_labels(node)) is not None
    ]
    for node, on in matched:
        varying = _varying_labels(node.lhs, context.service) | _varying_labels(
            node.rhs, context.service
        )
        missing = [
            label
            for label in ("job", "instance")
            if label in varying and label not in on
        ]
        if not missing:
            continue
        yield warning(
            context.query_location(_on_offset(context, len(matched))),
            f'panel "{context.panel.title}": on ({", ".join(on)}) leaves out '
            f"{' and '.join(missing)}, which the scrape targets give several values, "
            "so several series of one side fall in one match group and Prometheus "
            "rejects the query with a duplicate-series error; match on "
            f"({', '.join([*on, *missing])})",
            NAME,
        )
