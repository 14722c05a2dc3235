"""Synthesize input series for a many-to-one match, `group_left` or `group_right`.

A query such as `sum by (instance) (rate(x[5m])) * on (instance) group_left (version)
x_build_info` copies the labels of an info metric onto a rate. The side that
`group_left` or `group_right` names as one, here the info metric, gets the value
that leaves the other side's value unchanged: 1 for `*` and `/`, 0 for `+` and `-`.
The many side then gets the value the test needs. The one side carries the many
side's values of the group labels that the match compares, and a value for each
label that the match copies.
"""

from __future__ import annotations

import attrs
import promql_parser as pp

from obscompile.derive.expressions import printed_text
from obscompile.derive.synthesis import (
    HAND_TEST_ADVICE,
    CannotSynthesize,
    Context,
    InputSeries,
    synthesize_call,
)
from obscompile.diagnostics import quoted
from obscompile.trampoline import Recursive

# The value of the one side that leaves the many side's value unchanged, by operator.
_NEUTRAL = {"*": 1.0, "/": 1.0, "+": 0.0, "-": 0.0}


def grouped_series(
    node: pp.BinaryExpr, target: float, context: Context
) -> Recursive[list[InputSeries]]:
    """Return input series that give a many-to-one match the value `target`.

    This is a step of `synthesize`, which runs it with `trampoline.run`.
    """
    modifier = node.modifier
    assert modifier is not None
    one_to_many = "OneToMany" in str(modifier.card)
    keyword = "group_right" if one_to_many else "group_left"
    op = str(node.op)
    # `k / x` and `k - x` with the one side on the left have no neutral value of k.
    if op not in _NEUTRAL or (one_to_many and op in ("/", "-")):
        raise CannotSynthesize(
            f"the query matches its sides with {keyword}, and the test generator "
            "builds input series for such a match only for `*` and `+`, or for `/` "
            f"and `-` with the one side on the right, as in `x / on (...) "
            f"group_left y`. {HAND_TEST_ADVICE}"
        )

    many_node, one_node = (node.rhs, node.lhs) if one_to_many else (node.lhs, node.rhs)
    copied = tuple(modifier.group_labels or ())
    group = dict(context.group)
    many_group = {k: v for k, v in group.items() if k not in copied}
    # The one side carries the group labels that the match compares, and a value for
    # each label that the match copies.
    matching = modifier.matching
    if matching is not None and matching.type == pp.LabelModifierType.Include:
        one_group = {k: v for k, v in many_group.items() if k in matching.labels}
    else:
        ignored = matching.labels if matching is not None else ()
        one_group = {k: v for k, v in many_group.items() if k not in ignored}
    for label in copied:
        one_group[label] = group.get(label, f"{label}-1")

    many_context = attrs.evolve(context, group=tuple(sorted(many_group.items())))
    one_context = attrs.evolve(context, group=tuple(sorted(one_group.items())))
    try:
        one_side = yield synthesize_call(one_node, _NEUTRAL[op], one_context)
    except CannotSynthesize as exc:
        raise CannotSynthesize(
            f"the one side of the {keyword} match, "
            f"`{quoted(printed_text(one_node))}`, needs the value "
            f"{_NEUTRAL[op]:g}, and {exc}"
        ) from None
    many_side = yield synthesize_call(many_node, target, many_context)
    return many_side + one_side
