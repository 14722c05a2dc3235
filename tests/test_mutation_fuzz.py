"""Mutated copies of the real manifests never crash the compiler or touch out/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from obscompile.cli import main
from tests.conftest import SERVICES

MANIFESTS = sorted(SERVICES.glob("*.yaml"))
ORIGINALS = {path.name: YAML(typ="safe").load(path.read_text()) for path in MANIFESTS}


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


def _replace(value: Any, path: tuple, new: Any, delete: bool = False) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        if not rest and delete:
            copy.pop(head, None)
            return copy
        copy[head] = _replace(value[head], rest, new, delete)
        return copy
    copy_list = list(value)
    if not rest and delete:
        del copy_list[head]
        return copy_list
    copy_list[head] = _replace(value[head], rest, new, delete)
    return copy_list


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(alphabet="(){}[]\"'`=~!<>,.:|$ ab_12+-*/%", max_size=60),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@st.composite
def mutated_manifest(draw: st.DrawFn) -> tuple[str, Any]:
    name = draw(st.sampled_from(sorted(ORIGINALS)))
    data = ORIGINALS[name]
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["delete", "replace", "promql"]))
        if action == "delete" and path:
            data = _replace(data, path, None, delete=True)
        elif action == "promql":
            queries = [p for p in paths if p and p[-1] == "query"]
            if queries:
                target = draw(st.sampled_from(queries))
                data = _replace(
                    data,
                    target,
                    draw(
                        st.text(
                            alphabet='(){}[]"=~!<>,:|$ abc_le+-*/%0123456789',
                            max_size=80,
                        )
                    ),
                )
        else:
            data = _replace(data, path, draw(SCALARS))
    return name, data


EXAMPLES = 200


@pytest.fixture(scope="module")
def fuzz_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project holding the real manifests; each example builds one of them alone."""
    project = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(SERVICES, project / "all")
    (project / "services").mkdir()
    return project


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_mutations_never_crash(
    fuzz_project: Path, request: pytest.FixtureRequest
) -> None:
    examples = EXAMPLES * (10 if request.config.getoption("--slow") else 1)
    runner = CliRunner()

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
        ],
        database=None,
    )
    @given(mutated_manifest())
    def run(case: tuple[str, Any]) -> None:
        name, data = case
        target = fuzz_project / "services" / name
        original = (SERVICES / name).read_text()
        for other in (fuzz_project / "services").iterdir():
            other.unlink()
        try:
            target.write_text(json.dumps(data, ensure_ascii=False, allow_nan=True))
            result = runner.invoke(
                main, ["build", "--project", str(fuzz_project)], catch_exceptions=False
            )
            assert result.exit_code in (0, 1), result.output
            assert "Traceback" not in result.output
            if result.exit_code == 1:
                assert _tree(fuzz_project / "out") == current_out[0]
            else:
                current_out[0] = _tree(fuzz_project / "out")
        finally:
            target.write_text(original)

    current_out: list[dict[str, bytes]] = [{}]
    run()
