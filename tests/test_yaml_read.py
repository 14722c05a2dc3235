"""`read_yaml` returns what ruamel.yaml's safe loader returns, or raises what it raises."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from obscompile.pipeline import BuildResult
from obscompile.render.yaml_read import _EventReader, load_yaml, read_yaml
from tests.test_yaml_fast import _DATA, _KEYS, _TEXT

VERSIONS = [(1, 1), (1, 2), None]
# Both readers warn alike about YAML 1.1 floats without a dot, such as 1e3.
pytestmark = pytest.mark.filterwarnings(
    "ignore::ruamel.yaml.error.MantissaNoDotYAML1_1Warning"
)


def _stock_load(text: str, version: tuple[int, int] | None) -> Any:
    """Read `text` with ruamel.yaml's own safe loader, without the fixed resolver."""
    loader = YAML(typ="safe")
    loader.version = version
    return loader.load(io.StringIO(text))


def _outcome(read: Any, text: str, version: tuple[int, int] | None) -> Any:
    """Return the data, or the type and message of the error, of one read."""
    try:
        return ("data", read(text, version))
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))


def test_built_files_read_alike(real_build: BuildResult) -> None:
    compared = 0
    for name, text in real_build.files.items():
        if not name.endswith((".yml", ".yaml")):
            continue
        for version in VERSIONS:
            assert read_yaml(text, version) == load_yaml(text, version), name
            compared += 1
    assert compared > 20


def test_built_files_need_no_fallback(real_build: BuildResult) -> None:
    # The rendered rule and test files are plain, so their reads never fall back to
    # the slower loader, or `read_yaml` would save nothing.
    names = [n for n in real_build.files if n.startswith("prometheus/")]
    assert any(n.endswith(".test.yml") for n in names)
    for name in names:
        document = _EventReader(real_build.files[name], (1, 1)).document()
        assert document == load_yaml(real_build.files[name], (1, 1)), name


def _dumped(data: Any, flow: bool | None, width: int) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = flow
    yaml.width = width
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(_KEYS, _DATA, max_size=4),
    st.sampled_from([False, True, None]),
    st.sampled_from([20, 80, 10**6]),
    st.sampled_from(VERSIONS),
)
def test_dumped_data_reads_alike(
    data: dict[str, Any], flow: bool | None, width: int, version: Any
) -> None:
    text = _dumped(data, flow, width)
    assert _outcome(read_yaml, text, version) == _outcome(load_yaml, text, version)


# Pieces of YAML that the event reader leaves to the loader, or that fail to parse,
# between plain ones.
_PIECES = [
    "a: 1\n",
    "b: yes\n",
    "c: 'x'\n",
    'd: "y\\tz"\n',
    "e: |\n  l1\n  l2\n",
    "f: >\n  folded\n  text\n",
    "g: [1, 2.5, ~, true, 0x1F, 1:30, 0o17, 2001-12-14]\n",
    "h: {i: j}\n",
    "k: &anchor 3\n",
    "l: *anchor\n",
    "m: !!str 5\n",
    "<<: {n: 1}\n",
    "a: 2\n",
    "? [complex]\n: key\n",
    "1: numeric key\n",
    "o: =\n",
    "p: -.inf\n",
    "q: 1_000\n",
    "r:\n",
    "s: - x\n",
    "t: [unclosed\n",
    "---\n",
    "...\n",
    "%YAML 1.2\n---\n",
    "# comment\n",
    "  u: indented\n",
    "- item\n",
    "v: 'it''s'\n",
    'w: "\\u00e9"\n',
]


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(_PIECES), _TEXT), max_size=6),
    st.sampled_from(VERSIONS),
)
def test_assembled_text_reads_alike(pieces: list[str], version: Any) -> None:
    text = "".join(pieces)
    assert _outcome(read_yaml, text, version) == _outcome(load_yaml, text, version)
    # The resolver that looks the version up once reads as ruamel.yaml's own does,
    # `%YAML` directives included.
    assert _outcome(load_yaml, text, version) == _outcome(_stock_load, text, version)


@pytest.mark.parametrize(
    "text",
    ["", "# only a comment\n", "a: 1\na: 2\n", "x\n---\ny\n", "[1, [2, {a: b}]]\n"],
)
@pytest.mark.parametrize("version", VERSIONS)
def test_edge_documents_read_alike(text: str, version: Any) -> None:
    assert _outcome(read_yaml, text, version) == _outcome(load_yaml, text, version)
