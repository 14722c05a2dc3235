"""promql/unknown-label: a matcher or a `by`/`without` names a label the series lack."""

from __future__ import annotations

from collections.abc import Iterator

import promql_parser as pp

from obscompile.check import catalog
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, error, shorten

NAME = "promql/unknown-label"


def _known_list(owner: str, labels: frozenset[str]) -> str:
    if not labels:
        return "; they have no labels" if owner == "their" else "; it has no labels"
    return f"; {owner} labels are " + ", ".join(
        shorten(label) for label in sorted(labels)
    )


def _matcher_problems(context: PanelContext) -> Iterator[Diagnostic]:
    for selector in context.query.of_type(pp.VectorSelector):
        name = catalog.selector_name(selector)
        labels = catalog.selector_labels(context, selector)
        if name is None or labels is None:
            continue
        for matcher in selector.matchers.matchers:
            label = matcher.name
            if label == "__name__" or label in labels:
                continue
            offsets = context.query.matcher_offsets(selector, label)
            offset = offsets[0] if offsets else context.query.offset_of(selector)
            hint = catalog.suggestion(label, labels) or _known_list("its", labels)
            yield error(
                context.query_location(offset),
                f'metric "{shorten(name)}" has no label "{shorten(label)}"{hint}',
                NAME,
            )


def _grouping_problems(context: PanelContext) -> Iterator[Diagnostic]:
    for aggregation in context.query.of_type(pp.AggregateExpr):
        modifier = aggregation.modifier
        if modifier is None:
            continue
        labels = catalog.available_labels(context, aggregation.expr)
        if labels is None:
            continue
        clause = "by" if modifier.type == pp.AggModifierType.By else "without"
        for index, label in enumerate(modifier.labels):
            if label in labels:
                continue
            offset = context.query.grouping_offset(aggregation, label)
            if offset is None:
                offset = context.query.offset_of(aggregation)
            hint = catalog.suggestion(label, labels) or _known_list("their", labels)
            before = f"{aggregation.op} {clause} (" + "".join(
                f"{written}, " for written in modifier.labels[:index]
            )
            grouping = f"{before}{', '.join(modifier.labels[index:])})"
            grouping_shown = shorten(grouping, len(before), len(before) + len(label))
            yield error(
                context.query_location(offset),
                f"{grouping_shown}: the aggregated series have no label "
                f'"{shorten(label)}"{hint}',
                NAME,
            )


@check(NAME, "a label matcher, by or without names a label the series do not have")
def unknown_label(context: PanelContext) -> Iterator[Diagnostic]:
    yield from _matcher_problems(context)
    yield from _grouping_problems(context)
