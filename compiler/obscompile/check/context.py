"""The contexts that checks receive: the project, the service or panel, the queries."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta

import attrs
import promql_parser as pp

from obscompile import promql
from obscompile.check.alert_index import AlertIndex
from obscompile.check.positions import text_location
from obscompile.check.query_text import (
    QueryText,
    SelectorText,
    query_text,
    tokenize,
)
from obscompile.model.location import Location
from obscompile.model.panel import Panel, Row
from obscompile.model.service import Service

# `promql.substitute_grafana_variables` puts this name where a query has a Grafana
# template variable, so a selector or value with it stands for any value.
GRAFANA_PLACEHOLDER = "grafana_variable"

# Prometheus's own default for the global scrape_interval.
PROMETHEUS_SCRAPE_INTERVAL = timedelta(minutes=1)
# Prometheus's own default for the global scrape_timeout.
PROMETHEUS_SCRAPE_TIMEOUT = timedelta(seconds=10)


@attrs.frozen(eq=False)
class ParsedQuery:
    """A panel query, parsed once, with the text position of each node."""

    text: str
    expr: pp.Expr | None
    error: promql.QueryError | None
    nodes: tuple[pp.Expr, ...]
    layout: QueryText

    @classmethod
    def parse(cls, text: str) -> ParsedQuery:
        try:
            expr = promql.parse(text)
        except promql.QueryError as exc:
            return cls(text, None, exc, (), query_text(text))
        return cls(text, expr, None, tuple(promql.walk(expr)), query_text(text))

    def of_type(self, kind: type) -> list:
        return [node for node in self.nodes if isinstance(node, kind)]

    def _index(self, node: pp.Expr, kind: type) -> int | None:
        for index, candidate in enumerate(self.of_type(kind)):
            if candidate is node:
                return index
        return None

    def selector_text(self, selector: pp.VectorSelector) -> SelectorText | None:
        """Return the text of `selector`, or None if the text and the tree disagree."""
        selectors = self.layout.selectors
        if len(selectors) != len(self.of_type(pp.VectorSelector)):
            return None
        index = self._index(selector, pp.VectorSelector)
        return selectors[index] if index is not None else None

    def offset_of(self, node: pp.Expr) -> int | None:
        """Return where `node` starts in the query text, when that can be found."""
        if isinstance(node, pp.MatrixSelector):
            node = node.vector_selector
        if isinstance(node, pp.VectorSelector):
            found = self.selector_text(node)
            if found is not None:
                return found.offset
            return self.search(node.name) if node.name else None
        for kind, texts in (
            (pp.Call, self.layout.calls),
            (pp.AggregateExpr, self.layout.aggregations),
        ):
            if isinstance(node, kind):
                index = self._index(node, kind)
                if index is not None and len(texts) == len(self.of_type(kind)):
                    return texts[index].offset
        return None

    def matcher_offsets(
        self, selector: pp.VectorSelector, label: str, occurrence: int = 0
    ) -> tuple[int, int] | None:
        """Return the offsets of the name and the value of a `label` matcher.

        `occurrence` counts the selector's `label` matchers from 0, in source order.
        """
        found = self.selector_text(selector)
        if found is None:
            return None
        matchers = [matcher for matcher in found.matchers if matcher.label == label]
        if occurrence >= len(matchers):
            return None
        return matchers[occurrence].label_offset, matchers[occurrence].value_offset

    def range_of(self, matrix: pp.MatrixSelector) -> tuple[str, int] | None:
        """Return the range of `matrix` as written, and the offset of its `[`."""
        found = self.selector_text(matrix.vector_selector)
        if found is None or found.range_text is None or found.range_offset is None:
            return None
        return found.range_text, found.range_offset

    def grouping_offset(self, aggregation: pp.AggregateExpr, label: str) -> int | None:
        index = self._index(aggregation, pp.AggregateExpr)
        texts = self.layout.aggregations
        if index is None or len(texts) != len(self.of_type(pp.AggregateExpr)):
            return None
        for name, offset in texts[index].labels:
            if name == label:
                return offset
        return None

    def search(self, word: str) -> int | None:
        """Return the offset of the first whole-word `word` in the text, if any."""
        start = 0
        while (found := self.text.find(word, start)) >= 0:
            before = self.text[found - 1 : found]
            after = self.text[found + len(word) : found + len(word) + 1]
            if not _is_name_char(before) and not _is_name_char(after):
                return found
            start = found + 1
        return None


def _is_name_char(char: str) -> bool:
    return bool(char) and (char.isalnum() or char in "_:")


@attrs.frozen(eq=False)
class ProjectContext:
    """Every service of the project, the manifest texts and the parsed queries."""

    services: tuple[Service, ...]
    sources: Mapping[str, str] = attrs.field(factory=dict)
    queries: dict[str, ParsedQuery] = attrs.field(factory=dict, repr=False)
    # The global scrape_interval, which applies to jobs that set none.
    scrape_interval: timedelta = PROMETHEUS_SCRAPE_INTERVAL
    # The manifests whose loading reported an error (`LoadResult.failed`). They may
    # declare names that `services` lacks.
    failed_manifests: tuple[str, ...] = ()
    # The global scrape_timeout, which applies to jobs that set none, and what sets
    # it, for messages.
    scrape_timeout: timedelta = PROMETHEUS_SCRAPE_TIMEOUT
    scrape_timeout_origin: str = "Prometheus' default scrape_timeout"
    # The alerts of every service, derived from `services` when first read unless
    # given (see `catalog.alerts_named`).
    alert_index: AlertIndex = attrs.field(
        default=attrs.Factory(
            lambda self: AlertIndex.derived(self.services), takes_self=True
        ),
        repr=False,
    )

    def parse(self, query: str) -> ParsedQuery:
        """Return the parse of `query`, shared by every check and context of the run."""
        if query not in self.queries:
            self.queries[query] = ParsedQuery.parse(query)
        return self.queries[query]

    def for_service(self, service: Service) -> ServiceContext:
        return ServiceContext(
            self.services,
            self.sources,
            self.queries,
            self.scrape_interval,
            self.failed_manifests,
            self.scrape_timeout,
            self.scrape_timeout_origin,
            self.alert_index,
            service=service,
        )

    def locate(self, value_at: Location, text: str, offset: int | None) -> Location:
        """Return where character `offset` of the scalar `text` is in the manifest."""
        return text_location(value_at, text, offset, self.sources)


@attrs.frozen(eq=False)
class ServiceContext(ProjectContext):
    """The context of a check that runs once for each service."""

    service: Service = attrs.field(kw_only=True)

    def panels(self) -> Iterator[tuple[Row, Panel]]:
        for row in self.service.rows:
            for panel in row.panels:
                yield row, panel

    def for_panel(self, row: Row, panel: Panel) -> PanelContext:
        return PanelContext(
            self.services,
            self.sources,
            self.queries,
            self.scrape_interval,
            self.failed_manifests,
            self.scrape_timeout,
            self.scrape_timeout_origin,
            self.alert_index,
            service=self.service,
            row=row,
            panel=panel,
        )


@attrs.frozen(eq=False)
class PanelContext(ServiceContext):
    """The context of a check that runs once for each panel of each service."""

    row: Row = attrs.field(kw_only=True)
    panel: Panel = attrs.field(kw_only=True)

    @property
    def query(self) -> ParsedQuery:
        return self.parse(self.panel.query)

    def query_location(self, offset: int | None = None) -> Location:
        """Return where character `offset` of the query is, or where it starts.

        An offset in a string of the query whose text a block got as an argument is
        placed at that argument, where the text is written.
        """
        value_at = self.panel.location_of("query")
        start = self.panel.locations.get("query_quote", value_at)
        if offset is None:
            return start
        if self.panel.arguments:
            found = self._argument_location(offset)
            if found is not None:
                return found
        return text_location(value_at, self.panel.query, offset, self.sources, start)

    def matcher_value_location(
        self, selector: pp.VectorSelector, label: str, occurrence: int
    ) -> Location:
        """Return where the value of the `occurrence`-th `label` matcher is written.

        Returns the selector's start when the text has no such matcher.
        """
        offsets = self.query.matcher_offsets(selector, label, occurrence)
        offset = offsets[1] if offsets else self.query.offset_of(selector)
        return self.query_location(offset)

    def _argument_location(self, offset: int) -> Location | None:
        """Return where the argument is written that gave the query's string at `offset`.

        The opening and the closing quote are placed at the start of the argument.
        A string with a backslash, which may be an escape sequence, is not matched.
        """
        for token in tokenize(self.panel.query):
            end = token.offset + len(token.text)
            if token.kind != "string" or not token.offset <= offset < end:
                continue
            text = token.text[1:-1]
            written_at = self.panel.arguments.get(text)
            if written_at is None or "\\" in token.text:
                return None
            inner = offset - token.offset - 1
            if not 0 <= inner < len(text):
                return written_at
            return text_location(written_at, text, inner, self.sources)
        return None

    def node_location(self, node: pp.Expr) -> Location:
        return self.query_location(self.query.offset_of(node))
