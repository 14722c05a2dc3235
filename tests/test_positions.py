# ruff: noqa: E501 -- each case of STYLE_CASES keeps its manifest on one line.
"""`text_location` finds each character of a scalar in every YAML style it is written in."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    PlainScalarString,
    SingleQuotedScalarString,
)

from obscompile.check.positions import text_location
from obscompile.load.yaml_source import parse_yaml
from obscompile.model.location import Location

FILE = "payments.yaml"


def _locate(manifest: str, word: str) -> str:
    """Return "line:column" of the first `word` in the value of `query`, or of its end."""
    source, diagnostics = parse_yaml(manifest, FILE)
    assert diagnostics == []
    assert source is not None
    text = source.data["query"]
    offset = text.index(word) if word else len(text)
    found = text_location(source.values[("query",)], text, offset, {FILE: manifest})
    return f"{found.line}:{found.column}"


# Each case: a manifest, a word of its query, and where the word is written. An
# empty word stands for the end of the query.
STYLE_CASES = {
    "plain": ("query: rate(x[5m]) / y\n", "y", "1:22"),
    "plain-two-lines": ("query: sum(rate(x[5m]))\n  / sum(rate(y[300]))\n", "300", "2:16"),
    "plain-empty-lines": ("query: sum(x)\n\n\n    / y\n", "y", "4:7"),
    "single-quoted-quotes": ("query: 'x{a=''b''} / y'\n", "y", "1:22"),
    "single-quoted-two-lines": ("query: 'sum(x)   \n   / y'\n", "y", "2:6"),
    "double-quoted-quotes": ('query: "x{a=\\"b\\"} / y"\n', "y", "1:22"),
    "double-quoted-tab": ('query: "x\\t/ y"\n', "y", "1:14"),
    "double-quoted-unicode": ('query: "x{a=\\u00e9} / y"\n', "y", "1:23"),
    "double-quoted-two-lines": ('query: "sum(x)\n  / y"\n', "y", "2:5"),
    "double-quoted-escaped-break": ('query: "sum(x) \\\n  / y"\n', "y", "2:5"),
    "literal": ("query: |-\n  sum(x)\n    / y[300]\n", "300", "3:9"),
    "literal-indentation-indicator": ("query: |2-\n     sum(x)\n    / y[300]\n", "300", "3:9"),
    "folded": ("query: >-\n  sum(x)\n  / y[300]\n", "300", "3:7"),
    "folded-more-indented": ("query: >-\n  sum(x)\n\n    / y\n  or z[300]\n", "300", "5:8"),
    "tagged": ("query: !!str >-\n  sum(x)\n  / y[300]\n", "300", "3:7"),
    "tag-alone": ("query: &q !!str\n  sum(x) / y[300]\n", "300", "2:14"),
    "flow-mapping": ("{title: A, query: sum(x)\n  / y, unit: s}\n", "y", "2:5"),
    "crlf-line-breaks": ("query: sum(x)\r\n  / y[300]\r\n", "300", "2:7"),
    "end-after-escape": ('query: "sum(x\\t"\n', "", "1:16"),
    "end-of-block": ("query: |-\n  sum(x\n  y\n", "", "3:4"),
}  # fmt: skip


@pytest.mark.parametrize(
    ("manifest", "word", "expected"), list(STYLE_CASES.values()), ids=list(STYLE_CASES)
)
def test_text_location_styles(manifest: str, word: str, expected: str) -> None:
    assert _locate(manifest, word) == expected


def test_folded_break_points_at_line_end() -> None:
    # A line break that reads as a space is written as the break itself.
    manifest = "query: >-\n  sum(x)\n  / y\n"
    assert _locate(manifest, " ") == "2:9"


def test_unconfirmed_text_falls_back() -> None:
    # The manifest text no longer contains the value, so only its start is known.
    value_at = Location(FILE, 1, 8)
    start = value_at.shifted(1)
    sources = {FILE: "query: 'other text'\n"}
    assert text_location(value_at, "sum(x) / y", 9, sources, start) == start


STYLES = [
    PlainScalarString,
    SingleQuotedScalarString,
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
]
# Query-like words, and characters that each style writes differently.
_PIECES = st.sampled_from(
    ["sum(", "rate(x[5m])", ")", " / ", "{a=", '"b"', "'c'", "\\", "\t", "é", "#", ":"]
    + ["  ", " ", "\n", "\n\n", "\n  ", "   \n"]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(_PIECES, min_size=1, max_size=30),
    style=st.sampled_from(STYLES),
    width=st.integers(min_value=8, max_value=60),
    nested=st.booleans(),
)
def test_emitted_scalars_located(
    pieces: list[str], style: type, width: int, nested: bool
) -> None:
    """Each character of a value that ruamel.yaml writes is found where it is written."""
    text = "".join(pieces)
    document = {"query": style(text)}
    path: tuple[str | int, ...] = ("query",)
    if nested:
        document = {"rows": [{"title": "A", "query": style(text)}]}
        path = ("rows", 0, "query")
    writer = YAML()
    writer.width = width
    stream = io.StringIO()
    writer.dump(document, stream)
    manifest = stream.getvalue()

    source, _ = parse_yaml(manifest, FILE)
    # ruamel.yaml writes a tab that starts a block scalar's line, which it then
    # rejects as indentation.
    assume(source is not None)
    assert source is not None
    # ruamel.yaml does not always write a value that reads back the same, such as a
    # folded one that ends in a space, so the value read is the one located.
    value = source.data
    for key in path:
        value = value[key]
    text = value

    value_at = source.values[path]
    lines = manifest.splitlines()
    sources = {FILE: manifest}
    located = [
        text_location(value_at, text, offset, sources) for offset in range(len(text))
    ]
    assert located == sorted(located)

    characters = [
        (char, found)
        for char, found in zip(text, located, strict=True)
        # A line break that reads as a space or a line feed has no character.
        if char not in " \n"
    ]
    for char, found in characters:
        written = lines[found.line - 1][found.column - 1]
        assert written in (char, "\\", "'"), (char, found)
    distinct = {found for _, found in characters}
    assert len(distinct) == len(characters)


# A line indented more than the deepest manifest, so the pure-Python parser reads the
# document in place of the C parser.
_DEEP_COMMENT = " " * 200 + "# indented\n"
ALIASED = """\
panels:
  - &p
    title: P
    query: q
  - *p
labels: [&l x, *l]
"""


@pytest.mark.parametrize("deep", [False, True], ids=["c-parser", "pure-parser"])
def test_alias_values_located_at_alias(deep: bool) -> None:
    source, diagnostics = parse_yaml(ALIASED + (_DEEP_COMMENT if deep else ""), FILE)
    assert diagnostics == []
    assert source is not None
    assert source.data["panels"][1] == {"title": "P", "query": "q"}
    assert str(source.location(("panels", 0, "title"))) == f"{FILE}:3:12"
    assert str(source.location(("panels", 1))) == f"{FILE}:5:5"
    assert str(source.location(("panels", 1, "title"))) == f"{FILE}:5:5"
    assert str(source.key_location(("panels", 1, "query"))) == f"{FILE}:5:5"
    assert str(source.location(("labels", 0))) == f"{FILE}:6:10"
    assert str(source.location(("labels", 1))) == f"{FILE}:6:16"


def test_alias_key_located_at_alias() -> None:
    source, diagnostics = parse_yaml("a: &k key\nb: {*k : 1}\n", FILE)
    assert diagnostics == []
    assert source is not None
    assert source.data["b"] == {"key": 1}
    assert str(source.key_location(("b", "key"))) == f"{FILE}:2:5"


def test_anchor_text_reported_once() -> None:
    """A problem in an anchor's text is reported where it is written, not per alias."""
    source, diagnostics = parse_yaml("a: &y yes\nb: *y\nc: *y\n", FILE)
    assert source is not None
    assert [str(d.location) for d in diagnostics] == [f"{FILE}:1:4"]
    assert diagnostics[0].check == "yaml/ambiguous-scalar"
