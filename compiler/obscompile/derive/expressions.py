"""Print PromQL from the parser's syntax tree, rewritten for recording and alert rules.

The printer writes one canonical layout (`sum by (le) (x)`, `a / on (x) b`), with
parentheses only where PromQL's operator precedence needs them, so queries that are the
same expression print as equal text and can be recorded once.
Two rewrites are available while printing:

- `job_grouping`: every aggregation also keeps `job`. Only safe when every selector
  pins the same job with `job="x"`, because then no aggregation splits into more series.
- `guard`: a division whose denominator is a counter rate, an increase or a count gets
  the denominator wrapped as `(denominator > 0)`, so that a window without traffic gives
  no sample instead of NaN. Where the numerator can be non-zero while the denominator
  is 0, as in a gauge over a rate, the division becomes `a / (b > 0) or (a != 0) / b`,
  which gives +Inf or -Inf there, as the panel does, and still no sample for 0/0.
  The guard turns the NaN of 0/0 into a missing sample, which `sum`, `avg`, `count`
  and most other operations treat otherwise than NaN. So a division below such an
  operation keeps the panel's form, and the rule gives NaN where the panel does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import promql_parser as pp

from obscompile import promql, trampoline
from obscompile.gotemplate import go_quote
from obscompile.trampoline import Recursive

_NON_NEGATIVE_FUNCTIONS = frozenset({"rate", "irate", "increase", "count_over_time"})
# Aggregations that give 0 for a group of values that are never negative only where
# every value is 0. `min` is not one of them.
_ZERO_ONLY_FROM_ZEROS = frozenset({"sum", "max", "avg"})
# Aggregations whose result is the same for a NaN input as for a missing one, unless
# every input of the group is NaN. Prometheus 2.42's `min` and `max` take any other
# value of the group over NaN.
_NAN_IGNORING_AGGREGATIONS = frozenset({"min", "max"})
# Functions that map each sample to one sample and NaN to NaN.
_ELEMENTWISE_FUNCTIONS = frozenset(
    {
        "abs",
        "ceil",
        "clamp",
        "clamp_max",
        "clamp_min",
        "exp",
        "floor",
        "label_join",
        "label_replace",
        "ln",
        "log10",
        "log2",
        "round",
        "sgn",
        "sqrt",
    }
)
# Binary operator precedence, lowest first. Every level is left-associative except
# `^`, and unary minus binds like `*`. test_printed_precedence_matches_promtool checks
# the printed forms against promtool.
_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "unless": 2,
    "==": 3,
    "!=": 3,
    "<=": 3,
    "<": 3,
    ">=": 3,
    ">": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
    "atan2": 5,
    "^": 6,
}
# The maximum number of times that a rule's expression may write a part of its query.
# Each division that keeps +Inf and -Inf writes its numerator and its denominator
# twice, so divisions nested in each other's sides multiply the copies: 2 ** N for N.
_MAX_COPIES = 16
_MATCH_OPS = {
    "MatchOp.Equal": "=",
    "MatchOp.NotEqual": "!=",
    "MatchOp.Re": "=~",
    "MatchOp.NotRe": "!~",
}


# The functions whose results carry no labels, so no job, whatever they read.
JOB_FREE_FUNCTIONS = ("vector", "scalar")


class UnsupportedQuery(ValueError):
    """A query uses syntax that the rule generator does not rewrite."""


def number_text(value: float) -> str:
    """Render a number as Prometheus prints a NumberLiteral (`100`, `0.95`, `1e-09`)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def time_modifier_problem(node: pp.Expr) -> str | None:
    """Return why no rule can read `node` at evaluation time, or None if one can.

    A rule is evaluated at the current time, so `@` pins it to another time, and a
    negative offset reads samples from the future, which do not exist yet.
    """
    for part in promql.walk(node):
        if not isinstance(part, pp.VectorSelector | pp.SubqueryExpr):
            continue
        if part.at is not None:
            return "the @ modifier evaluates the query at a fixed time"
        if part.offset is not None and part.offset < timedelta():
            shift = promql.duration_text(-part.offset)
            return (
                f"offset -{shift} reads samples from {shift} after the rule's "
                "evaluation time, which do not exist yet, so the rule would never "
                "see a value"
            )
    return None


def matcher_op(matcher: pp.Matcher) -> str:
    return _MATCH_OPS[str(matcher.op)]


def pinned_job(node: pp.Expr) -> str | None:
    """Return the job that every selector pins with `job="x"`, if there is one.

    A query that calls vector() or scalar() pins none, because their results carry
    no labels. time() does not count, because it is a scalar, which keeps the labels
    of the vector it is combined with, as in `time() - max by (job) (x)`.
    """
    jobs = set()
    selectors = promql.selectors(node)
    if not selectors:
        return None
    for selector in selectors:
        values = [
            value for op, value in promql.matcher_values(selector, "job") if op == "="
        ]
        if not values:
            return None
        jobs.add(values[0])
    if job_free_function(node) is not None:
        return None
    return jobs.pop() if len(jobs) == 1 else None


def job_free_function(node: pp.Expr) -> str | None:
    """Return the first of vector() and scalar() that `node` calls, or None.

    The `vector(c)` of `x or vector(c)` does not count where `x` gives one sample
    without labels, because the query then gives one such sample either way.
    """
    calls = [
        call
        for call in promql.walk(node)
        if isinstance(call, pp.Call) and call.func.name in JOB_FREE_FUNCTIONS
    ]
    if not calls:
        return None
    defaults = [
        promql.strip_parens(part.rhs)
        for part in promql.walk(node)
        if isinstance(part, pp.BinaryExpr) and without_default(part) is not part
    ]
    for call in calls:
        if not any(call is default for default in defaults):
            return str(call.func.name)
    return None


def is_guarded(node: pp.Expr) -> bool:
    """Return True for `x > 0` (in parentheses or not), the guard form itself."""
    node = promql.strip_parens(node)
    return (
        isinstance(node, pp.BinaryExpr)
        and str(node.op) == ">"
        and promql.number_value(node.rhs) == 0
        and not (node.modifier is not None and node.modifier.return_bool)
    )


def is_non_negative(node: pp.Expr) -> bool:
    """Return True when the expression is a counter rate, an increase or a count."""
    node = promql.strip_parens(node)
    while isinstance(node, pp.AggregateExpr):
        if str(node.op) == "count":
            return True
        if str(node.op) not in ("sum", "max", "min", "avg"):
            return False
        node = promql.strip_parens(node.expr)
    if isinstance(node, pp.Call):
        return node.func.name in _NON_NEGATIVE_FUNCTIONS
    return False


def is_positive(node: pp.Expr) -> bool:
    """Return True for a count, which gives no sample rather than 0 for no series."""
    node = promql.strip_parens(node)
    while isinstance(node, pp.AggregateExpr):
        if str(node.op) == "count":
            return True
        if str(node.op) not in ("sum", "max", "min", "avg") or node.param is not None:
            return False
        node = promql.strip_parens(node.expr)
    return isinstance(node, pp.Call) and node.func.name == "count_over_time"


def vanishes_with(numerator: pp.Expr, denominator: pp.Expr) -> bool:
    """Return True when `numerator` is 0 wherever `denominator` is 0.

    That is true where both sides apply one counter function (rate, irate or increase)
    over the same range, and the same aggregations among sum, max and avg, to one
    metric. Every series that the numerator selects must also be one that the
    denominator selects, as in `sum(rate(x{code="500"}[5m])) / sum(rate(x[5m]))`. Each group of
    the numerator is then part of the group of the denominator that it is divided
    by, and a counter's rate is never negative, so a denominator of 0 has only
    zeros in it. A finite constant factor of the numerator keeps it 0.
    """
    numerator = promql.strip_parens(numerator)
    if isinstance(numerator, pp.BinaryExpr) and str(numerator.op) == "*":
        left = promql.number_value(numerator.lhs)
        right = promql.number_value(numerator.rhs)
        factor, numerator = (
            (left, numerator.rhs) if left is not None else (right, numerator.lhs)
        )
        if factor is None or not math.isfinite(factor):
            return False
    return _part_of(numerator, denominator)


def _part_of(top: pp.Expr, bottom: pp.Expr) -> bool:
    """Return True when each group of `top` aggregates a part of a group of `bottom`."""
    top, bottom = promql.strip_parens(top), promql.strip_parens(bottom)
    while isinstance(top, pp.AggregateExpr) and isinstance(bottom, pp.AggregateExpr):
        if not (
            str(top.op) == str(bottom.op)
            and str(top.op) in _ZERO_ONLY_FROM_ZEROS
            and top.param is None
            and bottom.param is None
            and _grouping(top) == _grouping(bottom)
        ):
            return False
        top, bottom = promql.strip_parens(top.expr), promql.strip_parens(bottom.expr)
    if not (isinstance(top, pp.Call) and isinstance(bottom, pp.Call)):
        return False
    if (
        top.func.name != bottom.func.name
        or top.func.name not in promql.COUNTER_FUNCTIONS
    ):
        return False
    top_range = promql.strip_parens(top.args[0])
    bottom_range = promql.strip_parens(bottom.args[0])
    return (
        isinstance(top_range, pp.MatrixSelector)
        and isinstance(bottom_range, pp.MatrixSelector)
        and top_range.range == bottom_range.range
        and _selects_part(top_range.vector_selector, bottom_range.vector_selector)
    )


def _grouping(node: pp.AggregateExpr) -> tuple[str, frozenset[str]] | None:
    modifier = node.modifier
    if modifier is None:
        return None
    return str(modifier.type), frozenset(modifier.labels)


def _selects_part(top: pp.VectorSelector, bottom: pp.VectorSelector) -> bool:
    """Return True when every series that `top` selects is one that `bottom` selects.

    Each matcher of `bottom` must be one of `top`, or accept the value that an `=`
    matcher of `top` fixes for its label, as `status=~"completed|failed"` accepts
    the series of `status="completed"`.
    """
    if top.matchers.or_matchers or bottom.matchers.or_matchers:
        return False
    if not top.name or top.name != bottom.name:
        return False
    if top.offset != bottom.offset or top.at is not None or bottom.at is not None:
        return False
    written = {(m.name, matcher_op(m), m.value) for m in top.matchers.matchers}
    fixed = {name: value for name, op, value in written if op == "="}
    for matcher in bottom.matchers.matchers:
        if (matcher.name, matcher_op(matcher), matcher.value) in written:
            continue
        if matcher.name not in fixed or not _accepts(matcher, fixed[matcher.name]):
            return False
    return True


def _accepts(matcher: pp.Matcher, value: str) -> bool:
    """Return True when `matcher` selects a series whose label has `value`."""
    op = matcher_op(matcher)
    if op in ("=", "!="):
        return (value == matcher.value) == (op == "=")
    try:
        pattern = promql.compile_regex(matcher.value)
    except re.error:
        return False
    return (pattern.fullmatch(value) is not None) == (op == "=~")


def may_divide_by_zero(node: pp.BinaryExpr) -> bool:
    """Return True when the numerator of a division can be non-zero over 0.

    Prometheus gives +Inf or -Inf there. A count is never 0, and a part of a
    counter's traffic over the whole (`vanishes_with`) is 0 over 0, so neither can.
    A division with `on`, `ignoring` or a group modifier is not proved.
    """
    if is_positive(node.rhs):
        return False
    return node.modifier is not None or not vanishes_with(node.lhs, node.rhs)


# Aggregations whose result has no labels when they group by nothing.
_LABEL_FREE_AGGREGATIONS = frozenset(
    {"sum", "avg", "max", "min", "count", "stddev", "stdvar", "quantile", "group"}
)


def without_default(node: pp.Expr) -> pp.Expr:
    """Return `x` for `x or vector(c)`, where `x` gives one sample without labels.

    `x or vector(0)` shows 0 in place of no data, such as while no request has
    failed. Where `x` has its sample, as in every test group, the query gives `x`,
    so its inputs are those of `x`. Any other node is returned as it is.
    """
    part = promql.strip_parens(node)
    if not isinstance(part, pp.BinaryExpr) or str(part.op) != "or":
        return node
    matching = part.modifier.matching if part.modifier is not None else None
    if matching is not None and list(matching.labels):
        return node
    default = promql.strip_parens(part.rhs)
    if not (
        isinstance(default, pp.Call)
        and default.func.name == "vector"
        and len(default.args) == 1
        and promql.number_value(default.args[0]) is not None
    ):
        return node
    return part.lhs if _label_free(part.lhs) else node


def _label_free(node: pp.Expr) -> bool:
    """Return True where `node` gives at most one sample, without labels."""
    part = promql.strip_parens(node)
    if isinstance(part, pp.AggregateExpr):
        modifier = part.modifier
        grouped = modifier is not None and (
            modifier.type == pp.AggModifierType.Without or list(modifier.labels)
        )
        return str(part.op) in _LABEL_FREE_AGGREGATIONS and not grouped
    if isinstance(part, pp.BinaryExpr) and str(part.op) in ("+", "-", "*", "/"):
        sides = [side for side in (part.lhs, part.rhs) if is_vector(side)]
        return bool(sides) and all(_label_free(side) for side in sides)
    return False


def is_vector(node: pp.Expr) -> bool:
    """Return True unless every operand of `node`'s operations is a number or scalar."""
    # The right side is looked at first: in a chain such as `a + b + c`, which nests
    # to the left, it is an operand, so a vector is found at once.
    pending = [node]
    while pending:
        part = promql.strip_parens(pending.pop())
        if isinstance(part, pp.BinaryExpr):
            pending += (part.lhs, part.rhs)
        elif isinstance(part, pp.UnaryExpr):
            pending.append(part.expr)
        elif not (
            isinstance(part, pp.NumberLiteral | pp.StringLiteral)
            or (isinstance(part, pp.Call) and part.func.name == "scalar")
        ):
            return True
    return False


class Printer:
    """Render a syntax tree as PromQL text, with the optional rewrites above."""

    def __init__(
        self,
        job_grouping: bool = False,
        guard: bool = False,
        extra_matchers: tuple[tuple[str, str], ...] = (),
        sort_matchers: bool = False,
        any_query: bool = False,
    ) -> None:
        self.job_grouping = job_grouping
        self.guard = guard
        self.extra_matchers = extra_matchers
        self.sort_matchers = sort_matchers
        # Print the @ modifier and `or` between matchers, which no rule may have.
        self.any_query = any_query
        # How many times the output writes the text being printed (see
        # `_written_twice`).
        self.copies = 1

    def text(self, node: pp.Expr) -> str:
        printed = self._text(node)
        return printed if isinstance(printed, str) else trampoline.run(printed)

    def _text(self, node: pp.Expr) -> str | Recursive[str]:
        """Return the text of a leaf, or the generator that prints any other node."""
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise UnsupportedQuery(f"cannot print {type(node).__name__} nodes")
        printed: str | Recursive[str] = method(node)
        return printed

    def _NumberLiteral(self, node: pp.NumberLiteral) -> str:
        return number_text(float(node.val))

    def _StringLiteral(self, node: pp.StringLiteral) -> str:
        return go_quote(node.val)

    def _ParenExpr(self, node: pp.ParenExpr) -> str | Recursive[str]:
        # The enclosing node adds the parentheses that precedence needs.
        return self._text(promql.strip_parens(node))

    def _UnaryExpr(self, node: pp.UnaryExpr) -> Recursive[str]:
        # Brackets around each negation of a chain would double its depth against
        # MAX_QUERY_DEPTH, so a chain prints as `- - -x`, which Prometheus 2.42 reads
        # as `-(-(-x))`. A number at the end of a chain stays in brackets, as in
        # `- -(1)`, because Prometheus folds the signs of `- -1` into the number 1,
        # which a second reading would print as `1`.
        negations = 1
        operand = promql.strip_parens(node.expr)
        while isinstance(operand, pp.UnaryExpr):
            negations += 1
            operand = promql.strip_parens(operand.expr)
        if negations == 1:
            grouped = yield self._grouped(node.expr)
        elif isinstance(operand, pp.NumberLiteral):
            grouped = f"({self._NumberLiteral(operand)})"
        else:
            grouped = yield self._grouped(operand)
        return "- " * (negations - 1) + f"-{grouped}"

    def _grouped(self, node: pp.Expr) -> Recursive[str]:
        """Print `node` in parentheses unless it is a single term."""
        inner = promql.strip_parens(node)
        text = yield self._text(inner)
        return (
            f"({text})"
            if _is_signed(inner) or isinstance(inner, pp.BinaryExpr)
            else text
        )

    def _operand(self, node: pp.Expr, op: str, left: bool) -> Recursive[str]:
        """Print one side of a binary `op`, in parentheses where precedence needs them."""
        inner = promql.strip_parens(node)
        text = yield self._text(inner)
        return self._parenthesized(inner, text, op, left)

    def _parenthesized(self, inner: pp.Expr, text: str, op: str, left: bool) -> str:
        """Return `text`, the side `inner` of `op`, where precedence needs it bracketed."""
        if isinstance(inner, pp.BinaryExpr):
            printed = "or" if self._keeps_infinity(inner) else str(inner.op)
            outer, own = _PRECEDENCE[op], _PRECEDENCE[printed]
            # `^` groups from the right, every other operator from the left.
            associates = left != (op == "^")
            bare = own > outer or (own == outer and associates)
            return text if bare else f"({text})"
        if left and op == "^" and _is_signed(inner):
            # `-a ^ b` is `-(a ^ b)`.
            return f"({text})"
        return text

    def _VectorSelector(self, node: pp.VectorSelector) -> str:
        groups = node.matchers.or_matchers
        if groups and not self.any_query:
            raise UnsupportedQuery("selectors with `or` matchers are not supported")
        parts = [
            f"{m.name}{matcher_op(m)}{go_quote(m.value)}"
            for m in node.matchers.matchers
        ]
        text = node.name or ""
        if self.sort_matchers and not text:
            # `{__name__="x"}` selects the same series as `x`, so both print as `x`.
            text = promql.metric_name(node) or ""
            if text:
                parts.remove(f"__name__={go_quote(text)}")
        if self.sort_matchers:
            parts.sort()
        parts += [f"{name}={go_quote(value)}" for name, value in self.extra_matchers]
        matchers = ",".join(parts)
        if groups:
            matchers = " or ".join(
                ",".join(f"{m.name}{matcher_op(m)}{go_quote(m.value)}" for m in group)
                for group in groups
            )
        if matchers or not text:
            text += "{" + matchers + "}"
        return text + self._modifiers(node)

    def _modifiers(self, node: pp.VectorSelector | pp.SubqueryExpr) -> str:
        text = ""
        if node.offset is not None:
            text += f" offset {promql.duration_text(node.offset)}"
        at = node.at
        if at is not None and not self.any_query:
            raise UnsupportedQuery(
                "obscompile derives no rule from a query with the @ modifier"
            )
        if at is not None and at.type == pp.AtModifierType.Start:
            text += " @ start()"
        elif at is not None and at.type == pp.AtModifierType.End:
            text += " @ end()"
        elif at is not None and at.at is not None:
            text += f" @ {at.at.timestamp():.3f}"
        return text

    def _MatrixSelector(self, node: pp.MatrixSelector) -> str:
        selector = node.vector_selector
        plain = self._VectorSelector(selector)
        modifiers = self._modifiers(selector)
        base = plain[: len(plain) - len(modifiers)] if modifiers else plain
        return f"{base}[{promql.duration_text(node.range)}]{modifiers}"

    def _SubqueryExpr(self, node: pp.SubqueryExpr) -> Recursive[str]:
        step = promql.duration_text(node.step) if node.step else ""
        grouped = yield self._grouped(node.expr)
        return (
            f"{grouped}[{promql.duration_text(node.range or timedelta())}:{step}]"
            + self._modifiers(node)
        )

    @contextmanager
    def _unguarded(self, unguarded: bool = True) -> Iterator[None]:
        """Print without the guard while inside the block, where `unguarded` is True.

        A division below an operation that treats NaN otherwise than a missing
        sample keeps the panel's form, so the rule gives NaN where the panel does.
        """
        saved = self.guard
        self.guard = self.guard and not unguarded
        try:
            yield
        finally:
            self.guard = saved

    def _Call(self, node: pp.Call) -> Recursive[str]:
        arguments = []
        with self._unguarded(node.func.name not in _ELEMENTWISE_FUNCTIONS):
            for argument in node.args:
                arguments.append((yield self._text(argument)))
        return f"{node.func.name}({', '.join(arguments)})"

    def _AggregateExpr(self, node: pp.AggregateExpr) -> Recursive[str]:
        op = str(node.op)
        modifier = node.modifier
        grouping = ""
        if modifier is not None and modifier.type == pp.AggModifierType.Without:
            labels = list(modifier.labels)
            if self.job_grouping:
                labels = [label for label in labels if label != "job"]
            grouping = f" without ({self._labels(labels)}) "
        else:
            labels = list(modifier.labels) if modifier is not None else []
            if self.job_grouping and "job" not in labels:
                labels.insert(0, "job")
            if labels:
                grouping = f" by ({self._labels(labels)}) "
        with self._unguarded(op not in _NAN_IGNORING_AGGREGATIONS):
            inner = yield self._text(node.expr)
        if node.param is not None:
            param = yield self._text(node.param)
            inner = f"{param}, {inner}"
        return f"{op}{grouping}({inner})"

    def _labels(self, labels: list[str]) -> str:
        """Return a list of grouping or matching labels, sorted with `sort_matchers`."""
        return ", ".join(sorted(labels) if self.sort_matchers else labels)

    def _BinaryExpr(self, node: pp.BinaryExpr) -> Recursive[str]:
        if self._keeps_infinity(node):
            branches = yield self._infinite_branches(node)
            return " or ".join(branches)
        return " ".join((yield self._binary_parts(node)))

    def infinite_branches(self, node: pp.BinaryExpr) -> tuple[str, str] | None:
        return trampoline.run(self._infinite_branches(node))

    def _infinite_branches(
        self, node: pp.BinaryExpr
    ) -> Recursive[tuple[str, str] | None]:
        """Return the two sides of `a / (b > 0) or (a != 0) / b`, where the guard needs it.

        The first side is the guarded division. The second gives +Inf or -Inf where
        `b` is 0 and `a` is not, as the unguarded query does, and no sample for 0/0.
        Both sides divide with the same modifiers, so their results have the same
        labels, and `or` adds only those of the second side that the first lacks.
        Returns None for a division that needs no such second side.
        """
        if not self._keeps_infinity(node):
            return None
        # Each side is printed once and written twice, so the parts of a side are
        # written twice as often as the division itself.
        numerator = promql.strip_parens(node.lhs)
        denominator = promql.strip_parens(node.rhs)
        with self._written_twice():
            numerator_text = yield self._text(numerator)
            denominator_text = yield self._text(denominator)
        op, operator = str(node.op), self._operator(node)
        return (
            f"{self._parenthesized(numerator, numerator_text, op, left=True)} "
            f"{operator} ({denominator_text} > 0)",
            f"({self._parenthesized(numerator, numerator_text, '!=', left=True)} "
            f"!= 0) {operator} "
            f"{self._parenthesized(denominator, denominator_text, op, left=False)}",
        )

    @contextmanager
    def _written_twice(self) -> Iterator[None]:
        """Count the text printed inside the block as written twice in the output.

        Raises UnsupportedQuery where a part of the query would be written more than
        _MAX_COPIES times, as divisions nested in the numerators of divisions that
        keep +Inf and -Inf make each other's copies.
        """
        saved = self.copies
        self.copies *= 2
        try:
            if self.copies > _MAX_COPIES:
                raise UnsupportedQuery(
                    "the rule would repeat a part of the query more than "
                    f"{_MAX_COPIES} times, once for each branch of each division "
                    "that keeps +Inf and -Inf; write the query with fewer divisions "
                    "inside divisions"
                )
            yield
        finally:
            self.copies = saved

    def _keeps_infinity(self, node: pp.BinaryExpr) -> bool:
        return self.guard and self._needs_guard(node) and may_divide_by_zero(node)

    def binary_parts(self, node: pp.BinaryExpr) -> tuple[str, str, str]:
        """Return the left operand, the operator with its modifiers, and the right."""
        return trampoline.run(self._binary_parts(node))

    def _binary_parts(self, node: pp.BinaryExpr) -> Recursive[tuple[str, str, str]]:
        op = str(node.op)
        with self._unguarded(not _passes_nan(node, left=True)):
            lhs = yield self._operand(node.lhs, op, left=True)
        right = promql.strip_parens(node.rhs)
        with self._unguarded(not _passes_nan(node, left=False)):
            right_text = yield self._text(right)
            rhs = self._parenthesized(right, right_text, op, left=False)
        if self.guard and self._needs_guard(node):
            # The guard is on a division, which passes NaN on, so the side printed
            # above is printed with the same rewrites.
            rhs = f"({right_text} > 0)"
        return lhs, self._operator(node), rhs

    def _operator(self, node: pp.BinaryExpr) -> str:
        """Return the operator of `node` with its modifiers, such as `/ on (job)`."""
        op = str(node.op)
        modifier = node.modifier
        text_modifier = ""
        if modifier is not None:
            if modifier.return_bool:
                text_modifier += " bool"
            matching = modifier.matching
            card = str(modifier.card)
            grouped = "ManyToOne" in card or "OneToMany" in card
            if matching is not None:
                include = matching.type == pp.LabelModifierType.Include
                labels = self._matching_labels(list(matching.labels), include)
                if labels or include or grouped:
                    keyword = "on" if include else "ignoring"
                    text_modifier += f" {keyword} ({self._labels(labels)})"
            if grouped:
                keyword = "group_left" if "ManyToOne" in card else "group_right"
                text_modifier += (
                    f" {keyword} ({self._labels(modifier.group_labels or [])})"
                )
        return op + text_modifier

    def _matching_labels(self, labels: list[str], include: bool) -> list[str]:
        """Return the labels of `on` or `ignoring`, which keep `job` under job grouping.

        Both sides of the match then carry the one pinned job, so matching on it
        changes no pair, and it stays on the result that the rule's name promises.
        """
        if not self.job_grouping:
            return labels
        if include:
            return labels if "job" in labels else ["job", *labels]
        return [label for label in labels if label != "job"]

    @staticmethod
    def _needs_guard(node: pp.BinaryExpr) -> bool:
        return (
            str(node.op) == "/"
            and is_vector(node.lhs)
            and is_vector(node.rhs)
            and not is_guarded(node.rhs)
            and is_non_negative(node.rhs)
        )


def _passes_nan(node: pp.BinaryExpr, left: bool) -> bool:
    """Return True where a NaN on one side of `node` gives what a missing sample does.

    Arithmetic gives NaN for NaN and nothing for nothing, and a comparison without
    `bool` drops both. `and` and `unless` keep or drop the left side's samples by
    whether the right side has one, and `or` adds those of the right side that the
    left side lacks, so a NaN there counts as a sample.
    """
    op = str(node.op)
    if op in promql.ARITHMETIC_OPERATORS:
        return True
    if op in promql.COMPARISON_OPERATORS:
        return not (node.modifier is not None and node.modifier.return_bool)
    if op in ("and", "unless"):
        return left
    return op == "or" and not left


def _is_signed(node: pp.Expr) -> bool:
    """Return True for a negation or a negative number, which print with a `-` first."""
    if isinstance(node, pp.NumberLiteral):
        return float(node.val) < 0
    return isinstance(node, pp.UnaryExpr)


def render(
    node: pp.Expr,
    job_grouping: bool = False,
    guard: bool = False,
    extra_matchers: tuple[tuple[str, str], ...] = (),
    sort_matchers: bool = False,
) -> str:
    """Render `node` as one line of PromQL, applying the requested rewrites.

    `extra_matchers` are added to every selector, which pins one series of a query
    that groups by those labels. `sort_matchers` prints each selector's matchers and
    each list of labels (`by`, `without`, `on`, `ignoring`, `group_left`) in sorted
    order, which makes queries that differ only in those orders print alike.
    """
    return Printer(job_grouping, guard, extra_matchers, sort_matchers).text(node)


def printed_text(node: pp.Expr) -> str:
    """Return `render(node)`, or for a query that no rule may have, its text.

    The @ modifier and `or` between matchers are printed too, which `render`
    rejects. promql-parser's own text is no replacement: it writes the regex
    `5\\d` with one backslash, which Prometheus rejects, and it calls back into
    Python for each level of the tree, so a deep tree passes Python's recursion limit.
    """
    return Printer(any_query=True).text(node)


def rule_text(text: str) -> str:
    """Return `text`, the expression of a rule; raise UnsupportedQuery if too deep.

    The guard can print a division twice, so a rule's expression may nest deeper
    than the query it comes from, and deeper than promql.MAX_QUERY_DEPTH, which
    every later reading of the rule would reject.
    """
    problem = promql.depth_problem(text)
    if problem is not None:
        raise UnsupportedQuery(
            f"the rule's expression would nest {problem.depth} levels deep, and "
            f"obscompile reads at most {promql.MAX_QUERY_DEPTH}; group the query's "
            "operators in parentheses, as in (a or b) or (c or d)"
        )
    return text


def render_rule_expr(
    node: pp.Expr, job_grouping: bool = False, guard: bool = False
) -> str:
    """Render a rule expression; a top-level division goes on three lines.

    `sum(a)\\n/\\n(sum(b) > 0)` reads as numerator over denominator, and the rule file
    then holds it as a block scalar. A division that keeps +Inf and -Inf is its two
    divisions with `or` on the line between them. Raises UnsupportedQuery for an
    expression that `rule_text` rejects.
    """
    printer = Printer(job_grouping=job_grouping, guard=guard)
    top = promql.strip_parens(node)
    if (
        isinstance(top, pp.BinaryExpr)
        and str(top.op) == "/"
        and top.modifier is None
        and is_vector(top.lhs)
        and is_vector(top.rhs)
    ):
        branches = printer.infinite_branches(top)
        if branches is not None:
            return rule_text("\nor\n".join(branches))
        lhs, operator, rhs = printer.binary_parts(top)
        return rule_text(f"{lhs}\n{operator}\n{rhs}")
    return rule_text(printer.text(node))
