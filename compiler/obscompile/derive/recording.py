"""Recording rules: which panel queries are recorded, under which name and expression.

Names follow `level:metric:operations` (see docs/recording-rules.md):

- level: the labels of the result joined by `_`, with `job` first. When every selector
  pins one job, `job` is added to the grouping, which keeps the values the same because
  the label has a single value;
- metric: the metric name without `_total` after rate/increase (without `_bucket` under
  `histogram_quantile`), followed by the values of its label matchers other than `job`;
  a division is `numerator_per_denominator`;
- operations: newest first, joined by `_`: `p95` for a quantile, `ratio` for a division,
  the aggregation unless it is a plain `sum` under other operations, the range
  function with its window (`rate5m`, `increase1h`), and a selector's offset
  (`rate5m_offset1y`). A division whose sides differ in their operations lists
  each side's, joined by `per` (`ratio_per_rate5m` for a gauge's sum over a rate).

A constant factor or divisor at the top of a query (`... * 100`, `... / 3600`) stays
outside the rule, so the rule records the ratio and the alert that reads it applies the
constant in the same position. So does `time()` in an age, `time() - t`, or in a time
left, `t - time()`, where the rule records the timestamp `t`.
"""

from __future__ import annotations

import re

import attrs
import promql_parser as pp

from obscompile import promql, trampoline
from obscompile.derive.expressions import (
    UnsupportedQuery,
    is_vector,
    job_free_function,
    matcher_op,
    number_text,
    pinned_job,
    render,
    render_rule_expr,
    rule_text,
)
from obscompile.derive.matching import job_changes_matching
from obscompile.diagnostics import quoted
from obscompile.model.location import Location
from obscompile.model.service import Service
from obscompile.trampoline import Recursive

RECORD_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LEVEL_PART = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class UnnamedQuery(ValueError):
    """The naming rule has no name for this query shape; the message gives why."""


class PlainSelector(UnnamedQuery):
    """The query is a plain selector: a stored series that needs no recording rule."""


@attrs.frozen
class RecordingRule:
    """One `record:` rule.

    `expr` is the rule's expression. `query` is the raw expression that the rule
    replaces, as the panel wrote it, without the denominator guard and the added `job`.
    `location` is the query of the first panel that the rule records.
    """

    record: str
    expr: str
    query: str
    location: Location | None = attrs.field(default=None, eq=False)


@attrs.frozen
class RecordedQuery:
    """How an alert or a dashboard reads a panel query through a recording rule.

    `scale` is the constant factor kept outside the rule. `scale_first` is True when
    the query wrote it before the recorded part (`100 * x`), False after (`x * 100`),
    and `divides` is True for a divisor (`x / 3600`). `clock` is `age` for
    `time() - x` and `left` for `x - time()`, whose time() is read when the alert is
    evaluated, and None for another query. `complement` is c for `c - x`, such as
    the 1 of a success share `1 - errors / requests`, which the rule leaves out so
    that it records the share of errors.
    """

    rule: RecordingRule
    scale: float | None = None
    scale_first: bool = False
    divides: bool = False
    clock: str | None = None
    complement: float | None = None

    def reader(self, selector: str) -> str:
        """Return the expression that gives the panel's value from the recording."""
        value = selector
        if self.clock == AGE:
            value = f"time() - {selector}"
        elif self.clock == TIME_LEFT:
            value = f"{selector} - time()"
        elif self.complement is not None:
            value = f"{number_text(self.complement)} - {selector}"
        if self.scale is None:
            return value
        if self.clock is not None or self.complement is not None:
            value = f"({value})"
        factor = number_text(self.scale)
        if self.divides:
            return f"{value} / {factor}"
        return f"{factor} * {value}" if self.scale_first else f"{value} * {factor}"


# The kinds of time difference whose timestamp a rule records apart.
AGE = "age"
TIME_LEFT = "left"


def split_scale(node: pp.Expr) -> tuple[pp.Expr, float | None, bool]:
    """Return `(recorded part, factor, factor_first)` for `x * k`, `k * x` or `x`."""
    top = promql.strip_parens(node)
    if isinstance(top, pp.BinaryExpr) and str(top.op) == "*" and top.modifier is None:
        right, left = promql.number_value(top.rhs), promql.number_value(top.lhs)
        if right is not None and left is None:
            return top.lhs, right, False
        if left is not None and right is None:
            return top.rhs, left, True
    return node, None, False


def split_constant(node: pp.Expr) -> tuple[pp.Expr, float | None, bool, bool]:
    """Return `(recorded part, k, k_first, divides)` for `x * k`, `k * x` or `x / k`.

    A query of another shape is `(node, None, False, False)`.
    """
    inner, factor, factor_first = split_scale(node)
    if factor is not None:
        return inner, factor, factor_first, False
    top = promql.strip_parens(node)
    if isinstance(top, pp.BinaryExpr) and str(top.op) == "/" and top.modifier is None:
        divisor = promql.number_value(top.rhs)
        if divisor is not None and promql.number_value(top.lhs) is None:
            return top.lhs, divisor, False, True
    return node, None, False, False


def split_clock(node: pp.Expr) -> tuple[pp.Expr, str] | None:
    """Return `(x, AGE)` for `time() - x` and `(x, TIME_LEFT)` for `x - time()`.

    `x` is a vector, and another query gives None. A recording of the difference
    would be as old as its last evaluation, so the rule records `x` and the alert
    computes the difference with time().
    """
    top = promql.strip_parens(node)
    if not (
        isinstance(top, pp.BinaryExpr) and str(top.op) == "-" and top.modifier is None
    ):
        return None
    if promql.is_time_call(top.lhs) and promql.value_type(top.rhs) == "vector":
        return top.rhs, AGE
    if promql.is_time_call(top.rhs) and promql.value_type(top.lhs) == "vector":
        return top.lhs, TIME_LEFT
    return None


def split_complement(node: pp.Expr) -> tuple[pp.Expr, float] | None:
    """Return `(x, c)` for `c - x`, where `x` is a vector and `c` a number, or None."""
    top = promql.strip_parens(node)
    if not (
        isinstance(top, pp.BinaryExpr) and str(top.op) == "-" and top.modifier is None
    ):
        return None
    constant = promql.number_value(top.lhs)
    if constant is None or promql.value_type(top.rhs) != "vector":
        return None
    return top.rhs, constant


def split_difference(node: pp.Expr) -> tuple[pp.Expr, str | None, float | None]:
    """Return `(x, clock, c)` for the difference that a rule records `x` of.

    That is `time() - x` or `x - time()`, with `clock` from `split_clock`, or
    `c - x`. Another query gives `(node, None, None)`.
    """
    clock = split_clock(node)
    if clock is not None:
        return clock[0], clock[1], None
    complement = split_complement(node)
    if complement is not None:
        return complement[0], None, complement[1]
    return node, None, None


def recorded_parts(node: pp.Expr) -> tuple[pp.Expr, ...]:
    """Return the parts of a query that a rule records apart from it.

    They are `x` of `x * k`, `k * x` and `x / k`, the timestamp `t` of
    `time() - t` and `t - time()`, and `x` of `c - x`, also under such a constant.
    """
    inner, factor, _, _ = split_constant(node)
    parts = [inner] if factor is not None else []
    part, clock, complement = split_difference(inner)
    if clock is not None or complement is not None:
        parts.append(part)
    return tuple(parts)


def _sanitize(value: str, regex: bool) -> str:
    if regex:
        for token in (".*", ".+", "^", "$"):
            value = value.replace(token, "")
        value = value.replace(".", "x")
    return re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_")


def _qualifiers(selector: pp.VectorSelector) -> list[str]:
    words = []
    for matcher in selector.matchers.matchers:
        if matcher.name in ("job", "__name__"):
            continue
        op = matcher_op(matcher)
        word = _sanitize(matcher.value, regex=op in ("=~", "!~"))
        if not word:
            continue
        words.append(f"not_{word}" if op.startswith("!") else word)
    return words


def _selector_metric(selector: pp.VectorSelector, strip: str | None) -> str:
    name = promql.metric_name(selector)
    if name is None:
        raise UnnamedQuery("a selector without a metric name has no metric part")
    if strip and name.endswith(strip):
        name = name.removesuffix(strip)
    return "_".join([name, *_qualifiers(selector)])


def quantile_text(value: float) -> str:
    """Return `p95` for 0.95, `p50` for 0.5, `p999` for 0.999, `p100` for 1."""
    if value >= 1:
        return "p100"
    digits = repr(value).split(".")[1] if "." in repr(value) else "0"
    return "p" + digits.ljust(2, "0")


def _term(node: pp.Expr, strip: str | None = None) -> Recursive[tuple[str, list[str]]]:
    """Return `(metric part, operations)` for one side of a query."""
    node = promql.strip_parens(node)
    if isinstance(node, pp.VectorSelector):
        return _selector_metric(node, strip), _offset_operations(node)
    if isinstance(node, pp.AggregateExpr):
        if node.param is not None:
            raise UnnamedQuery(
                f"{node.op}() takes a parameter that the name cannot show"
            )
        metric, ops = yield _term(node.expr, strip)
        return metric, [str(node.op), *ops]
    if isinstance(node, pp.Call):
        name = node.func.name
        if name == "histogram_quantile":
            quantile = promql.number_value(node.args[0])
            if quantile is None:
                raise UnnamedQuery("histogram_quantile() needs a constant quantile")
            metric, ops = yield _term(node.args[1], strip="_bucket")
            return metric, [quantile_text(quantile), *ops]
        if name in promql.RANGE_FUNCTIONS or name.endswith("_over_time"):
            matrix = promql.strip_parens(node.args[-1])
            if not isinstance(matrix, pp.MatrixSelector):
                raise UnnamedQuery(f"{name}() over a subquery is not named")
            suffix = (
                "_total"
                if name in promql.COUNTER_FUNCTIONS and strip is None
                else strip
            )
            metric = _selector_metric(matrix.vector_selector, suffix)
            operation = name.replace("_", "") + promql.duration_text(matrix.range)
            return metric, [operation, *_offset_operations(matrix.vector_selector)]
        raise UnnamedQuery(f"{name}() is not part of the naming rule")
    if (
        isinstance(node, pp.BinaryExpr)
        and str(node.op) == "/"
        and is_vector(node.lhs)
        and is_vector(node.rhs)
    ):
        numerator, ops = yield _term(node.lhs, strip)
        denominator, denominator_ops = yield _term(node.rhs, strip)
        if _offsets(ops) != _offsets(denominator_ops):
            raise UnnamedQuery(
                "the two sides of the division have different offsets, "
                "which the name cannot show"
            )
        return f"{numerator}_per_{denominator}", _ratio_operations(ops, denominator_ops)
    if (
        isinstance(node, pp.BinaryExpr)
        and str(node.op) == ">"
        and promql.number_value(node.rhs) == 0
    ):
        # A denominator that the query already guards is named as the guarded part.
        return (yield _term(node.lhs, strip))
    raise UnnamedQuery(f"{_kind(node)} is not part of the naming rule")


# The names of binary operations in the naming rule's messages.
_OPERATIONS = {
    "+": "an addition",
    "-": "a subtraction",
    "*": "a multiplication",
    "/": "a division",
    "%": "a modulo",
    "^": "a power",
    "and": "an and",
    "or": "an or",
    "unless": "an unless",
    "atan2": "an atan2",
}


def _kind(node: pp.Expr) -> str:
    """Return what a query of `node` is, in the words of PromQL's documentation."""
    if isinstance(node, pp.BinaryExpr):
        operation = str(node.op)
        return _OPERATIONS.get(operation, f"a comparison ({operation})")
    kinds = {
        pp.NumberLiteral: "a number",
        pp.StringLiteral: "a string",
        pp.UnaryExpr: "a negation",
        pp.SubqueryExpr: "a subquery",
        pp.MatrixSelector: "a range vector",
    }
    for kind, text in kinds.items():
        if isinstance(node, kind):
            return text
    return "this query"


def _offset_operations(selector: pp.VectorSelector) -> list[str]:
    """Return `["offset1y"]` for a selector with `offset 1y`, else an empty list."""
    if selector.offset is None:
        return []
    return ["offset" + promql.duration_text(selector.offset)]


def _ratio_operations(numerator: list[str], denominator: list[str]) -> list[str]:
    """Return the operations of a division, `ratio` first.

    The division comes after each side's operations, so a plain `sum` of a side is
    left out. Where both sides then read alike, as for a rate over a rate, or the
    denominator has none left, as for a rate over a gauge's sum, the numerator's
    operations follow `ratio` (`ratio_rate5m`). Otherwise each side's
    follow, joined by `per` as the metric part joins the sides: a gauge's sum over
    a rate gives `ratio_per_rate5m`, and a rate over a gauge's maximum
    `ratio_rate5m_per_max`.
    """
    numerator_text = "_".join(op for op in numerator if op != "sum")
    denominator_text = "_".join(op for op in denominator if op != "sum")
    if numerator_text == denominator_text or not denominator_text:
        return ["ratio", *numerator]
    sides = [numerator_text, "per", denominator_text]
    return ["ratio", "_".join(side for side in sides if side)]


def _offsets(ops: list[str]) -> list[str]:
    return [op for op in ops if op.startswith("offset")]


def _operations(ops: list[str]) -> str:
    # A plain `sum` is left out when an operation other than an offset follows.
    if len(ops) > len(_offsets(ops)) + 1:
        ops = [op for op in ops if op != "sum"]
    return "_".join(ops)


def level_labels(node: pp.Expr, service: Service | None) -> tuple[str, ...]:
    """Return the labels of the recorded series, `job` first when the query pins one."""
    labels = promql.output_labels(node)
    names = list(labels.names)
    if labels.open:
        metric = (
            service.metric(labels.selector_metric)
            if service and labels.selector_metric
            else None
        )
        if metric is None:
            raise UnnamedQuery(
                "the query keeps every label of a metric that the catalog lacks"
            )
        # `without (x)` and one-to-one `ignoring (x)` take x from the series.
        kept = ["job", "instance", *(label for label in metric.labels if label != "le")]
        names = [label for label in kept if label not in labels.dropped]
    elif pinned_job(node) is not None and "job" not in names:
        names.insert(0, "job")
    elif "job" in names:
        names.remove("job")
        names.insert(0, "job")
    if not names:
        function = job_free_function(node)
        if function is not None:
            raise UnnamedQuery(
                f"the query's result has no labels, and the {function}() in it "
                "leaves the recorded series without a job label to name it by"
            )
        raise UnnamedQuery(
            "the query aggregates every series of every job into one; "
            'filter on one job (job="x") or group by labels'
        )
    return tuple(names)


def record_name(node: pp.Expr, service: Service | None = None) -> str:
    """Return the `level:metric:operations` name of a query; raise UnnamedQuery."""
    names = level_labels(node, service)
    if not all(_LEVEL_PART.match(name) for name in names):
        raise UnnamedQuery("a label of the result is not a valid label name")
    metric, ops = trampoline.run(_term(node))
    operations = _operations(ops)
    if not operations:
        raise UnnamedQuery("a plain selector is already a stored series")
    name = f"{'_'.join(names)}:{metric}:{operations}"
    if not RECORD_NAME.match(name) or len(name.split(":")) != 3:
        raise UnnamedQuery(
            f"the derived name {quoted(repr(name))} is not a valid metric name"
        )
    return name


def plan_query(query: str, service: Service | None = None) -> RecordedQuery:
    """Return the recording rule that stands for `query`, or raise UnnamedQuery."""
    try:
        node = promql.parse(query)
    except promql.QueryError as exc:
        raise UnnamedQuery(f"the query does not parse: {exc}") from None
    recorded, scale, scale_first, divides = split_constant(node)
    recorded, clock, complement = split_difference(recorded)
    if isinstance(promql.strip_parens(recorded), pp.VectorSelector):
        raise PlainSelector("a plain selector is already a stored series")
    name = record_name(recorded, service)
    job_grouping = pinned_job(recorded) is not None
    changed = job_changes_matching(recorded) if job_grouping else None
    if changed is not None:
        raise UnnamedQuery(
            'a recording rule adds job to each aggregation and each "on (...)", '
            f'which changes the series that "{changed.op}" matches, because not '
            "every series of its two sides carries job"
        )
    try:
        expr = render_rule_expr(recorded, job_grouping=job_grouping, guard=True)
        raw = rule_text(render(recorded))
    except UnsupportedQuery as exc:
        raise UnnamedQuery(str(exc)) from None
    return RecordedQuery(
        RecordingRule(name, expr, raw),
        scale,
        scale_first,
        divides,
        clock,
        complement,
    )


def uses_histogram_quantile(query: str) -> bool:
    try:
        node = promql.parse(query)
    except promql.QueryError:
        return False
    return any(
        isinstance(n, pp.Call) and n.func.name == "histogram_quantile"
        for n in promql.walk(node)
    )


def _expression_key(expr: str) -> str:
    """Return one text for every spelling of the expression `expr`.

    Printing drops redundant parentheses and normalizes spacing and the place of
    `by`. The key also sorts each selector's matchers and each list of grouping or
    matching labels, whose order does not change the result.
    """
    return render(promql.parse(expr), sort_matchers=True)


def deduplicate(
    rules: list[RecordingRule],
) -> tuple[list[RecordingRule], dict[str, str]]:
    """Record each expression once and give distinct ones distinct names.

    Returns the rules in first-seen order and a map from each rule's expression to
    the name finally used. Of the spellings of one expression (matchers in another
    order), the one whose text sorts first is recorded. When distinct expressions
    derive the same name, the one whose text sorts first keeps it and the others get
    `_2`, `_3`, ... after the metric part, so the names do not depend on the order of
    the panels.
    """
    spellings: dict[str, list[RecordingRule]] = {}
    for rule in rules:
        spellings.setdefault(_expression_key(rule.expr), []).append(rule)
    distinct = [
        attrs.evolve(min(group, key=lambda rule: rule.expr), location=group[0].location)
        for group in spellings.values()
    ]
    claims: dict[str, list[str]] = {}
    for rule in distinct:
        claims.setdefault(rule.record, []).append(rule.expr)
    used_names = set(claims)
    final: dict[str, str] = {}
    for name, exprs in claims.items():
        first, *others = sorted(exprs)
        final[first] = name
        level, metric, ops = name.split(":")
        number = 2
        for expr in others:
            while f"{level}:{metric}_{number}:{ops}" in used_names:
                number += 1
            suffixed = f"{level}:{metric}_{number}:{ops}"
            used_names.add(suffixed)
            final[expr] = suffixed
    renamed = {
        rule.expr: final[chosen.expr]
        for chosen, group in zip(distinct, spellings.values(), strict=True)
        for rule in group
    }
    recorded = [attrs.evolve(rule, record=final[rule.expr]) for rule in distinct]
    return recorded, renamed
