"""Find the vector matches that a recording rule's added `job` would change.

A recording rule of a query whose selectors all pin one job adds `job` to each
aggregation and to each `on (...)`, and drops it from each `without (...)` and
`ignoring (...)` (see `expressions.Printer`). Every series of the rule then carries
the one job. That keeps every value only where, at each binary operation that
compares `job`, the query's series of both sides all carry it or all lack it. Where
one side carries `job` and the other does not, as in
`sum by (instance) (a{job="x"}) / b{job="x"}`, the query's sides never match but the
rule's do, so an alert on the rule would fire while the panel shows no value.
"""

from __future__ import annotations

import enum
import re

import attrs
import promql_parser as pp

from obscompile import promql, trampoline
from obscompile.derive.expressions import matcher_op
from obscompile.trampoline import Recursive


class Presence(enum.Enum):
    """Whether the series of an expression carry a label."""

    ALWAYS = "always"
    NEVER = "never"
    SOMETIMES = "sometimes"


# Aggregations that return some of their input series, labels unchanged.
_SELECTING_AGGREGATIONS = frozenset({"topk", "bottomk", "limitk", "limit_ratio"})
_LABEL_FUNCTIONS = frozenset({"label_replace", "label_join"})


@attrs.frozen
class UnmatchedOperation:
    """A binary operation whose two sides never match.

    `operation` is the operation's node in the parsed query, and `message` gives
    the reason and what to write instead.
    """

    operation: pp.BinaryExpr
    message: str


# The presence of `job` in the series of each part of one syntax tree, by the id of the
# part and whether the tree is read as a recording rule prints it. The tree keeps its
# parts, and so their ids, while it is in use.
Known = dict[tuple[int, bool], Presence]


def job_presence(
    node: pp.Expr, rewritten: bool = False, known: Known | None = None
) -> Presence:
    """Return whether the series of `node` carry `job`.

    With `rewritten`, the result describes the expression as a recording rule prints
    it, with `job` added to every aggregation and every `on (...)`. Calls for the
    parts of one tree that pass the same `known` work out each part once.
    """
    return trampoline.run(
        _job_presence(node, rewritten, {} if known is None else known)
    )


def _job_presence(node: pp.Expr, rewritten: bool, known: Known) -> Recursive[Presence]:
    key = (id(node), rewritten)
    found = known.get(key)
    if found is None:
        found = known[key] = yield _presence_of(node, rewritten, known)
    return found


def _presence_of(node: pp.Expr, rewritten: bool, known: Known) -> Recursive[Presence]:
    node = promql.strip_parens(node)
    if isinstance(node, pp.MatrixSelector):
        node = node.vector_selector
    if isinstance(node, pp.VectorSelector):
        return _selector_presence(node)
    if isinstance(node, pp.SubqueryExpr | pp.UnaryExpr):
        return (yield _job_presence(node.expr, rewritten, known))
    if isinstance(node, pp.AggregateExpr):
        return (yield _aggregation_presence(node, rewritten, known))
    if isinstance(node, pp.Call):
        return (yield _call_presence(node, rewritten, known))
    if isinstance(node, pp.BinaryExpr):
        return (yield _binary_presence(node, rewritten, known))
    return Presence.NEVER


def _selector_presence(selector: pp.VectorSelector) -> Presence:
    """Return whether the series that `selector` selects carry `job`.

    A matcher that the empty value fails, such as `job="x"` or `job!=""`, makes every
    selected series carry `job`, and `job=""` makes none do.
    """
    for matcher in selector.matchers.matchers:
        if matcher.name != "job":
            continue
        operator = matcher_op(matcher)
        if operator == "=":
            return Presence.ALWAYS if matcher.value else Presence.NEVER
        if operator == "!=" and not matcher.value:
            return Presence.ALWAYS
        empty = _matches_empty(matcher.value) if operator in ("=~", "!~") else None
        if empty is not None and empty == (operator == "!~"):
            return Presence.ALWAYS
    return Presence.SOMETIMES


def _matches_empty(pattern: str) -> bool | None:
    """Return whether the anchored regex `pattern` matches "", or None if unknown."""
    try:
        return promql.compile_regex(pattern).fullmatch("") is not None
    except re.error:
        # Go's RE2 accepts a few patterns that Python's `re` rejects.
        return None


def _aggregation_presence(
    node: pp.AggregateExpr, rewritten: bool, known: Known
) -> Recursive[Presence]:
    operator = str(node.op)
    inner = yield _job_presence(node.expr, rewritten, known)
    if operator in _SELECTING_AGGREGATIONS:
        return inner
    if operator == "count_values":
        label = promql.strip_parens(node.param) if node.param is not None else None
        if isinstance(label, pp.StringLiteral) and label.val == "job":
            return Presence.ALWAYS
    if rewritten:
        # The rule groups by `job` too, and drops it from a `without (...)`.
        return inner
    modifier = node.modifier
    if modifier is None:
        return Presence.NEVER
    listed = "job" in modifier.labels
    if modifier.type == pp.AggModifierType.By:
        return inner if listed else Presence.NEVER
    return Presence.NEVER if listed else inner


def _call_presence(node: pp.Call, rewritten: bool, known: Known) -> Recursive[Presence]:
    name = node.func.name
    if name in ("vector", "time", "scalar"):
        return Presence.NEVER
    if name in ("absent", "absent_over_time"):
        labels = promql.output_labels(node).names
        return Presence.ALWAYS if "job" in labels else Presence.NEVER
    vectors = [
        argument
        for argument in node.args
        if promql.value_type(argument) in ("vector", "matrix")
    ]
    if not vectors:
        return Presence.NEVER
    inner = yield _job_presence(vectors[0], rewritten, known)
    if name in _LABEL_FUNCTIONS:
        strings = promql.string_arguments(node)
        if not strings:
            return Presence.SOMETIMES
        if strings[0] == "job":
            # label_replace(v, "job", "", "", "") removes job; any other
            # replacement may set it to a value or to nothing.
            result = promql.output_labels(node)
            removed = "job" not in result.names and (
                not result.open or "job" in result.dropped
            )
            return Presence.NEVER if removed else Presence.SOMETIMES
    return inner


def _binary_presence(
    node: pp.BinaryExpr, rewritten: bool, known: Known
) -> Recursive[Presence]:
    left_scalar = promql.value_type(node.lhs) == "scalar"
    right_scalar = promql.value_type(node.rhs) == "scalar"
    if left_scalar and right_scalar:
        return Presence.NEVER
    if left_scalar:
        return (yield _job_presence(node.rhs, rewritten, known))
    if right_scalar:
        return (yield _job_presence(node.lhs, rewritten, known))

    left = yield _job_presence(node.lhs, rewritten, known)
    right = yield _job_presence(node.rhs, rewritten, known)
    operator = str(node.op)
    if operator in ("and", "unless"):
        return left
    if operator == "or":
        return left if left == right else Presence.SOMETIMES

    modifier = node.modifier
    card = str(modifier.card) if modifier is not None else "OneToOne"
    matching = modifier.matching if modifier is not None else None
    if "ManyToOne" in card or "OneToMany" in card:
        # The result keeps the labels of the `group_left`/`group_right` side, and
        # takes the listed labels from the other side.
        base, other = (left, right) if "ManyToOne" in card else (right, left)
        listed = modifier is not None and "job" in (modifier.group_labels or ())
        return other if listed else base

    if matching is None or rewritten:
        return left
    listed = "job" in matching.labels
    if matching.type == pp.LabelModifierType.Include:
        # One to one, `on (...)` keeps only its own labels on the result.
        return left if listed else Presence.NEVER
    return Presence.NEVER if listed else left


def compares_job(node: pp.BinaryExpr) -> bool:
    """Return True when the vector matching of `node` compares the `job` label."""
    modifier = node.modifier
    matching = modifier.matching if modifier is not None else None
    if matching is None:
        return True
    listed = "job" in matching.labels
    return listed if matching.type == pp.LabelModifierType.Include else not listed


def _vector_operations(node: pp.Expr) -> list[pp.BinaryExpr]:
    """Return the binary operations of `node` that match two vectors.

    An operation comes after the operations inside its sides, so that the first
    one whose matching changes is where the change starts.
    """
    found = []
    # Each part with whether the operations inside it are already in `found`.
    pending = [(node, False)]
    while pending:
        part, inside_found = pending.pop()
        if not inside_found:
            pending.append((part, True))
            pending += [(child, False) for child in reversed(promql.children(part))]
        elif (
            isinstance(part, pp.BinaryExpr)
            and promql.value_type(part.lhs) == "vector"
            and promql.value_type(part.rhs) == "vector"
        ):
            found.append(part)
    return found


def job_changes_matching(node: pp.Expr) -> pp.BinaryExpr | None:
    """Return the first operation whose matching a recording rule of `node` changes.

    The rule adds `job` only where every selector pins one job (see
    `expressions.pinned_job`), so the result matters only for such a query.
    """
    known: Known = {}
    for operation in _vector_operations(node):
        left = job_presence(operation.lhs, known=known)
        right = job_presence(operation.rhs, known=known)
        rule_left = job_presence(operation.lhs, rewritten=True, known=known)
        rule_right = job_presence(operation.rhs, rewritten=True, known=known)
        query_keeps = not compares_job(operation) or _agree(left, right)
        if not (query_keeps and _agree(rule_left, rule_right)):
            return operation
    return None


def _agree(left: Presence, right: Presence) -> bool:
    """Return True when `job` is no reason for two series of the sides to differ."""
    return left == right and left is not Presence.SOMETIMES


def never_matching(node: pp.Expr, job: str | None) -> UnmatchedOperation | None:
    """Return the first operation of `node` whose sides never match, because of `job`.

    That is an operation that compares `job`, where every series of one side
    carries it and no series of the other does. `or` is left out, because giving the
    series of both sides is what it is for. `job` is the one job that every selector
    pins, if any, whose recording rule would make the sides match.
    """
    known: Known = {}
    for operation in _vector_operations(node):
        if str(operation.op) == "or":
            continue
        left = job_presence(operation.lhs, known=known)
        right = job_presence(operation.rhs, known=known)
        if compares_job(operation) and {left, right} == {
            Presence.ALWAYS,
            Presence.NEVER,
        }:
            message = _never_matching_text(operation, left is Presence.NEVER, job)
            return UnmatchedOperation(operation, message)
    return None


# The results of operations whose sides never match, other than "no series".
_UNMATCHED_RESULTS = {"unless": "removes no series of the left side"}


def _never_matching_text(
    operation: pp.BinaryExpr, left_lacks_job: bool, job: str | None
) -> str:
    operator = str(operation.op)
    without_job, with_job = ("left", "right") if left_lacks_job else ("right", "left")
    carried = f'job="{job}"' if job else "a job label"
    text = (
        f'the two sides of "{operator}" never match, because the series of the '
        f"{with_job} side carry {carried}, those of the {without_job} side carry no "
        f'job, and "{operator}" compares {_compared(operation)}, so it '
        f"{_UNMATCHED_RESULTS.get(operator, 'gives no series')}"
    )
    if job:
        text += (
            ". A recording rule adds job to each aggregation, which would make the "
            "sides match, so its alert would disagree with the panel"
        )
    return f"{text}; {_advice(operation, without_job, with_job)}"


def _compared(operation: pp.BinaryExpr) -> str:
    modifier = operation.modifier
    matching = modifier.matching if modifier is not None else None
    if matching is None:
        return "every label"
    labels = ", ".join(matching.labels)
    if matching.type == pp.LabelModifierType.Include:
        return f"the labels of on ({labels})"
    return f"every label but those of ignoring ({labels})"


def _advice(operation: pp.BinaryExpr, without_job: str, with_job: str) -> str:
    """Return what to write so that the sides match where the query means them to."""
    operator = str(operation.op)
    side = operation.lhs if without_job == "left" else operation.rhs
    labels = promql.output_labels(side)
    modifier = operation.modifier
    matching = modifier.matching if modifier is not None else None
    grouping = _group_text(operation)
    if matching is not None and matching.type == pp.LabelModifierType.Exclude:
        listed = ", ".join([*matching.labels, "job"])
        return f'write "{operator} ignoring ({listed}){grouping}"'
    if matching is not None:
        listed = ", ".join(label for label in matching.labels if label != "job")
        return f'write "{operator} on ({listed}){grouping}"'
    if labels.open:
        return f'write "{operator} ignoring (job)"'
    listed = ", ".join(labels.names)
    by = f" by ({listed})" if listed else ""
    return (
        f'write "{operator} on ({listed})", or "{_aggregation_name(side)}{by} (...)" '
        f"around the {with_job} side too"
    )


def _group_text(operation: pp.BinaryExpr) -> str:
    modifier = operation.modifier
    if modifier is None:
        return ""
    card = str(modifier.card)
    if "ManyToOne" in card or "OneToMany" in card:
        keyword = "group_left" if "ManyToOne" in card else "group_right"
        labels = ", ".join(modifier.group_labels or ())
        return f" {keyword} ({labels})" if labels else f" {keyword}"
    return ""


def _aggregation_name(side: pp.Expr) -> str:
    """Return the aggregation at the top of `side`, or `sum` where it has none."""
    top = promql.strip_parens(side)
    if isinstance(top, pp.AggregateExpr):
        return str(top.op)
    return "sum"
