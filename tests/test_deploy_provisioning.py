"""grafana/provisioning/dashboards.yaml: one file provider per folder, read back."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml as pyyaml
from ruamel.yaml import YAML
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from obscompile.pipeline import Project, build
from obscompile.render.folders import folder_uids
from obscompile.render.provisioning import escape_dollars
from tests.conftest import REPO, write_manifest

PROVISIONING = "grafana/provisioning/dashboards.yaml"
PROVIDER_KEYS = {
    "name",
    "orgId",
    "folder",
    "folderUid",
    "type",
    "disableDeletion",
    "allowUiUpdates",
    "options",
}


class TextSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "txt"


@pytest.fixture
def text_snapshot(snapshot):
    return snapshot.use_extension(TextSnapshot)


def build_files(project: Path) -> dict[str, str]:
    cwd = Path.cwd()
    os.chdir(project)
    try:
        result = build(Project.at(project))
    finally:
        os.chdir(cwd)
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    return result.files


@pytest.fixture(scope="module")
def repo_files() -> dict[str, str]:
    return build_files(REPO)


def providers(text: str) -> list[dict[str, Any]]:
    document = YAML(typ="safe", pure=True).load(text)
    assert document["apiVersion"] == 1
    assert set(document) == {"apiVersion", "providers"}
    return document["providers"]


def listed_directories(text: str) -> dict[str, list[str]]:
    """Read the header comment's list of directories and the dashboard files in each."""
    directories: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if match := re.fullmatch(r"#   (/\S.*)/", line):
            current = match.group(1)
            directories[current] = []
        elif (match := re.fullmatch(r"#     (\S+\.json)", line)) and current:
            directories[current].append(match.group(1))
    return directories


def grafana_interpolate(value: str, env: dict[str, str]) -> str:
    """Expand a provisioning value as Grafana does: `$$` is a literal `$`."""

    def expand(part: str) -> str:
        pattern = r"\$(\{([^}]*)\}|([A-Za-z0-9_]+))"
        return re.sub(pattern, lambda m: env.get(m.group(2) or m.group(3), ""), part)

    return "$".join(expand(part) for part in value.split("$$"))


def manifest(service: str, folder: str | None) -> str:
    folder_line = "" if folder is None else f", folder: {folder}"
    return f"""service: {service}
dashboard: {{uid: {service.replace("_", "-")}{folder_line}}}
scrape: {{job: {service}, port: 8080}}
metrics:
  http_requests_total: {{type: counter}}
rows:
  - title: Traffic
    panels:
      - {{title: RPS, query: 'sum(rate(http_requests_total[5m]))'}}
"""


def test_provisioning_snapshot(repo_files: dict[str, str], text_snapshot) -> None:
    assert repo_files[PROVISIONING] == text_snapshot


def test_repo_provider(repo_files: dict[str, str]) -> None:
    (provider,) = providers(repo_files[PROVISIONING])
    assert provider == {
        "name": "obscompile-obs-trading-platform",
        "orgId": 1,
        "folder": "Trading Platform",
        "folderUid": "obs-trading-platform",
        "type": "file",
        "disableDeletion": False,
        "allowUiUpdates": False,
        "options": {
            "path": "/var/lib/grafana/dashboards/obscompile/obs-trading-platform",
            "foldersFromFilesStructure": False,
        },
    }


def test_repo_lists_every_dashboard(repo_files: dict[str, str]) -> None:
    dashboards = sorted(
        PurePosixPath(name).name
        for name in repo_files
        if name.startswith("grafana/dashboards/")
    )
    listed = listed_directories(repo_files[PROVISIONING])
    assert list(listed) == [
        "/var/lib/grafana/dashboards/obscompile/obs-trading-platform"
    ]
    assert sorted(file for files in listed.values() for file in files) == dashboards


FOLDERS = {
    "payments": "Payments",
    "billing": "Payments",
    "search": "'Search & Discovery'",
    "root": "General",
    "lower_root": "general",
    "default_root": None,
    "costs": "'Costs in $USD ${HOME}'",
}


@pytest.fixture(scope="module")
def folders_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    project = tmp_path_factory.mktemp("folders")
    for service, folder in FOLDERS.items():
        write_manifest(project, f"{service}.yaml", manifest(service, folder))
    (project / "obscompile.yaml").write_text(
        "grafana_dashboards_path: /srv/grafana/dash/\nterraform_folder_uid_prefix: team-\n"
    )
    return build_files(project)


def test_one_provider_per_folder(folders_files: dict[str, str]) -> None:
    entries = providers(folders_files[PROVISIONING])
    folders = [entry["folder"] for entry in entries]
    assert len(entries) == 4
    assert len(set(folders)) == len(folders)
    for entry in entries:
        assert set(entry) <= PROVIDER_KEYS
        assert entry["type"] == "file"
        assert entry["orgId"] == 1
        assert entry["disableDeletion"] is False
        assert entry["allowUiUpdates"] is False
        assert entry["options"]["foldersFromFilesStructure"] is False


def test_provider_names_unique(folders_files: dict[str, str]) -> None:
    names = [entry["name"] for entry in providers(folders_files[PROVISIONING])]
    assert len(set(names)) == len(names)


def test_provider_paths_are_siblings(folders_files: dict[str, str]) -> None:
    paths = [
        entry["options"]["path"] for entry in providers(folders_files[PROVISIONING])
    ]
    assert len(set(paths)) == len(paths)
    for path in paths:
        assert PurePosixPath(path).parent == PurePosixPath("/srv/grafana/dash")
    for a in paths:
        for b in paths:
            assert a == b or not b.startswith(a + "/")


def test_general_folder_is_root(folders_files: dict[str, str]) -> None:
    (general,) = [
        e for e in providers(folders_files[PROVISIONING]) if e["folder"] == ""
    ]
    assert "folderUid" not in general
    assert general["options"]["path"] == "/srv/grafana/dash/general"
    listed = listed_directories(folders_files[PROVISIONING])
    assert listed["/srv/grafana/dash/general"] == [
        "default-root.json",
        "lower-root.json",
        "root.json",
    ]


def test_root_directory_not_shared(tmp_path: Path) -> None:
    # Without a prefix, "Général" has the slug of the root folder's directory.
    write_manifest(tmp_path, "root.yaml", manifest("root", "General"))
    write_manifest(tmp_path, "accented.yaml", manifest("accented", "Général"))
    (tmp_path / "obscompile.yaml").write_text('terraform_folder_uid_prefix: ""\n')
    entries = providers(build_files(tmp_path)[PROVISIONING])
    names = [entry["name"] for entry in entries]
    paths = [entry["options"]["path"] for entry in entries]
    (accented,) = [entry for entry in entries if entry["folder"] == "Général"]
    assert len(entries) == 2
    assert len(set(names)) == 2
    assert len(set(paths)) == 2
    assert accented["folderUid"] != "general"


def test_folder_uids_match_terraform(folders_files: dict[str, str]) -> None:
    entries = [e for e in providers(folders_files[PROVISIONING]) if e["folder"]]
    titles = {grafana_interpolate(e["folder"], {}) for e in entries}
    expected = folder_uids(titles, "team-")
    for entry in entries:
        title = grafana_interpolate(entry["folder"], {})
        assert entry["folderUid"] == expected[title]
        assert (
            f'uid   = "{expected[title]}"' in folders_files["terraform/dashboards.tf"]
        )


def test_dollar_signs_stay_literal(folders_files: dict[str, str]) -> None:
    text = folders_files[PROVISIONING]
    entries = providers(text)
    env = {"HOME": "/root", "USD": "expanded"}
    titles = {grafana_interpolate(entry["folder"], env) for entry in entries}
    assert "Costs in $USD ${HOME}" in titles
    assert "a literal $ is written $$" in text


def test_listed_files_cover_dashboards(folders_files: dict[str, str]) -> None:
    dashboards = sorted(
        PurePosixPath(name).name
        for name in folders_files
        if name.startswith("grafana/dashboards/")
    )
    listed = listed_directories(folders_files[PROVISIONING])
    paths = {
        entry["options"]["path"] for entry in providers(folders_files[PROVISIONING])
    }
    assert set(listed) == paths
    assert sorted(file for files in listed.values() for file in files) == dashboards
    (payments,) = [
        e for e in providers(folders_files[PROVISIONING]) if e["folder"] == "Payments"
    ]
    assert listed[payments["options"]["path"]] == ["billing.json", "payments.json"]


def test_yaml_11_reads_the_same(folders_files: dict[str, str]) -> None:
    text = folders_files[PROVISIONING]
    assert pyyaml.safe_load(text) == YAML(typ="safe", pure=True).load(text)


def test_repo_file_has_no_dollar_note(repo_files: dict[str, str]) -> None:
    assert "$" not in repo_files[PROVISIONING]


ESCAPES = [
    ("plain", "Payments", "Payments"),
    ("variable", "$HOME", "$$HOME"),
    ("braces", "${HOME}", "$${HOME}"),
    ("doubled", "$$", "$$$$"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in ESCAPES], ids=[c[0] for c in ESCAPES]
)
def test_escape_dollars(text: str, expected: str) -> None:
    assert escape_dollars(text) == expected
    assert grafana_interpolate(expected, {"HOME": "/root"}) == text


def test_escape_dollars_nested() -> None:
    assert escape_dollars({"a": ["$x", 1, False], "b": {"c": "$"}}) == {
        "a": ["$$x", 1, False],
        "b": {"c": "$$"},
    }
