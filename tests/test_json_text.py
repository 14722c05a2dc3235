"""The indented JSON writer gives the text of `json.dumps` with indent 2 and sorted keys."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obscompile.pipeline import BuildResult
from obscompile.render.json_text import indented_json

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=40,
)


def _standard(value: object, ensure_ascii: bool) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=ensure_ascii)


@given(value=JSON_VALUES, ensure_ascii=st.booleans())
def test_generated_values_match_json_dumps(value: object, ensure_ascii: bool) -> None:
    assert indented_json(value, ensure_ascii) == _standard(value, ensure_ascii)


@pytest.mark.parametrize(
    "value",
    [
        {},
        [],
        {"b": [], "a": {}},
        [float("nan"), float("inf"), -float("inf"), -0.0, 1e21, 1e-7],
        {"é": 'ü\u2028\x00"\\'},
        [True, False, None, 0, -1, 2**70],
    ],
    ids=["empty-object", "empty-array", "empty-members", "floats", "escapes", "atoms"],
)
def test_edge_values_match_json_dumps(value: object) -> None:
    for ensure_ascii in (True, False):
        assert indented_json(value, ensure_ascii) == _standard(value, ensure_ascii)


def test_built_dashboards_match_json_dumps(real_build: BuildResult) -> None:
    dashboards = {
        name: text
        for name, text in real_build.files.items()
        if name.startswith("grafana/dashboards/")
    }
    assert len(dashboards) >= 4
    for text in dashboards.values():
        document = json.loads(text)
        expected = _standard(document, ensure_ascii=False) + "\n"
        assert indented_json(document, ensure_ascii=False) + "\n" == expected


def test_other_types_are_rejected() -> None:
    with pytest.raises(TypeError, match="tuple is not a JSON value"):
        indented_json((1, 2))
