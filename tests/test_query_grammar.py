"""`first_unexpected` stops at the token where promtool 2.42 reports a parse error."""

from __future__ import annotations

import promql_parser as pp
import pytest

from obscompile.check.query_grammar import first_unexpected

# Each query with the 1-based column that `promtool check rules` (2.42) reports for
# it, and the message here. promtool places the last two at column 1.
REJECTED = [
    ("rate(x[5m] smoothed)", 12, 'unexpected identifier "smoothed" in function call'),
    ("x offset step()", 10, 'unexpected identifier "step" in offset, expected duration'),
    ("sum by (job) (x) by (job)", 18, 'unexpected keyword "by"'),
    ("sum(x) without (job) by (a)", 22, 'unexpected keyword "by"'),
    ("sum(rate(x[5m])) by (job) without (a)", 27, 'unexpected keyword "without"'),
    ("x @ foo()", 5, 'unexpected identifier "foo" in @, expected timestamp'),
    ("sum(x) foo", 8, 'unexpected identifier "foo"'),
    ("x +", 4, "unexpected end of input"),
    ("sum(x) by", 10, 'unexpected end of input in grouping opts, expected "("'),
    ('x{a="b" c}', 9, 'unexpected identifier "c" in label matching, expected "," or "}"'),
    ("x{a=}", 5, 'unexpected "}" in label matching, expected string'),
    ("sum(x) by (a) (y)", 15, 'unexpected "("'),
    ("x + on(a) group_left y z", 24, 'unexpected identifier "z"'),
    ("sum without(a)", 15, "unexpected end of input in aggregation"),
    ("rate(x[5m]) @ end()", 13, "@ modifier must be preceded by"),
    ("x offset 1m offset 2m", 13, "offset may not be set multiple times"),
]  # fmt: skip

ACCEPTED = [
    "(x)[5m:1m] offset 5m",
    "x[5m] offset 1m @ 100",
    'x{a="b",}',
    "sum by (a,) (x)",
    "x == bool y",
    "x + on(a) group_left(b) y",
    "topk(3, x) by (a)",
    "-x offset -1m",
    "x[5m:] offset 1m @ start()",
    'rate(x{job=~"a|b"}[5m]) / on() group_left sum(y)',
    'sum(rate(x{job="$job"}[$__rate_interval]))',
]


@pytest.mark.parametrize(("query", "column", "message"), REJECTED)
def test_rejected_query_located(query: str, column: int, message: str) -> None:
    with pytest.raises(ValueError):
        pp.parse(query)
    found = first_unexpected(query)
    assert found is not None
    assert found.offset + 1 == column
    assert found.message.startswith(message)


@pytest.mark.parametrize("query", ACCEPTED)
def test_valid_query_accepted(query: str) -> None:
    assert first_unexpected(query) is None
