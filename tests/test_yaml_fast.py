"""The fast YAML paths write exactly what ruamel.yaml writes, wherever they return text."""

from __future__ import annotations

import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from obscompile.pipeline import BuildResult
from obscompile.render.environment import _plain_reads_as_string, _yaml_text, toyaml
from obscompile.render.yaml_dump import _fast_scalar, dump_yaml, ruamel_dump_yaml
from obscompile.render.yaml_fast import block_document, string_scalar


def _scalars(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    else:
        yield value


def _yaml_documents(real_build: BuildResult) -> dict[str, Any]:
    loader = YAML(typ="safe")
    return {
        name: loader.load(text)
        for name, text in real_build.files.items()
        if name.endswith((".yml", ".yaml"))
    }


def test_every_built_scalar_matches_ruamel(real_build: BuildResult) -> None:
    seen = set()
    answered = 0
    for document in _yaml_documents(real_build).values():
        for value in _scalars(document):
            key = (type(value), value)
            if key in seen:
                continue
            seen.add(key)
            for block in (False, True):
                assert toyaml(value, 8, block) == _yaml_text(value, 8, block), value
            if isinstance(value, str) and string_scalar(value, _plain_reads_as_string):
                answered += 1
    # The fast path returns text for most strings of real artifacts, or it saves nothing.
    strings = sum(1 for kind, _ in seen if kind is str)
    assert answered > strings * 0.8


def test_every_built_document_dumps_like_ruamel(real_build: BuildResult) -> None:
    documents = _yaml_documents(real_build)
    for name, document in documents.items():
        assert dump_yaml(document) == ruamel_dump_yaml(document), name
        # The files written through `dump_yaml` take the fast path, or it saves nothing.
        if name.startswith(("kubernetes/", "mimir/", "grafana/provisioning/")):
            assert block_document(document, _fast_scalar) is not None, name


# Letters and the characters that YAML gives a meaning to, so that short strings hit
# indicators, quotes, `: `, ` #` and implicit types often.
_ALPHABET = (
    string.ascii_letters[:6]
    + string.digits[:4]
    + " -?:,[]{}#&*!|>'\"%@`._/=~+$(){}\\\t\n"
)
_TRICKY = [
    "",
    " ",
    "yes",
    "No",
    "on",
    "null",
    "~",
    "1e3",
    "0x1F",
    "1:30",
    ".inf",
    "2001-12-14",
    "<<",
    "=",
    "-",
    "- a",
    "-a",
    "?a",
    "? a",
    ":a",
    "a:",
    "a:b",
    "a: b",
    "a #b",
    "a#b",
    "'a'",
    '"a"',
    "a'b",
    "job:http_requests:rate5m",
    'sum by (job) (rate(x{job="a",code=~"5.."}[5m]))',
    "{{ $value | humanizePercentage }}",
    "http://grafana:3000/d/abc?viewPanel=2",
    "0+60x10",
    "1m",
    "é",
    "...",
    "---",
    "..a",
    "a...",
]
_TEXT = st.one_of(st.sampled_from(_TRICKY), st.text(_ALPHABET, max_size=12))


@settings(max_examples=600, deadline=None)
@given(_TEXT, st.booleans())
def test_strings_match_ruamel(text: str, block: bool) -> None:
    assert toyaml(text, 4, block) == _yaml_text(text, 4, block)


_SCALAR = st.one_of(
    _TEXT,
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.floats(allow_nan=False),
    st.none(),
)
_KEYS = st.one_of(st.sampled_from(["name", "expr", "for", "a.b", "x-y"]), _TEXT)
_DATA = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_KEYS, _DATA, max_size=4))
def test_documents_match_ruamel(document: dict[str, Any]) -> None:
    assert dump_yaml(document) == ruamel_dump_yaml(document)


@pytest.mark.parametrize(
    "document",
    [
        {"groups": [{"name": "a", "rules": [{"record": "x:y", "expr": "a\n/\nb"}]}]},
        {"spec": {"groups": [{"name": "a", "rules": []}], "labels": {}}},
        {"items": ["a", 1, True, "yes"]},
    ],
)
def test_layouts_take_the_fast_path(document: dict[str, Any]) -> None:
    assert block_document(document, _fast_scalar) == ruamel_dump_yaml(document)
