"""out/terraform/: snapshots, `terraform fmt`, and its structure read back as HCL."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import attrs
import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from obscompile.config import Config
from obscompile.pipeline import Project, build
from obscompile.render.folders import folder_uid, folder_uids
from obscompile.render.hcl import hcl_string, identifier, unique_identifiers
from obscompile.write.atomic import write_tree
from tests.conftest import REPO, write_manifest

UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

# Arguments of the grafana provider's resources (docs/resources/*.md, provider 4.x).
DASHBOARD_ARGUMENTS = {"config_json", "folder", "overwrite", "message", "org_id"}
DASHBOARD_REQUIRED = {"config_json"}
FOLDER_ARGUMENTS = {
    "title",
    "uid",
    "parent_folder_uid",
    "prevent_destroy_if_not_empty",
    "org_id",
}
FOLDER_REQUIRED = {"title"}


class TextSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "txt"


@pytest.fixture
def text_snapshot(snapshot):
    return snapshot.use_extension(TextSnapshot)


# --- A reader for the HCL that obscompile writes -------------------------------------
# It reads the native syntax subset of our templates: blocks with labels, attributes,
# strings with escapes and templates, references, calls and object constructors.

_TOKEN = re.compile(
    r"""
    (?P<newline>\n)
  | (?P<space>[ \t\r]+)
  | (?P<comment>(\#|//)[^\n]*|/\*.*?\*/)
  | (?P<string>"(\\.|[^"\\\n])*")
  | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<number>[0-9]+(\.[0-9]+)?)
  | (?P<punct>[{}\[\]()=,.:])
    """,
    re.VERBOSE | re.DOTALL,
)


@attrs.frozen
class Token:
    kind: str
    text: str
    line: int


def tokenize(text: str) -> list[Token]:
    tokens = []
    position, line = 0, 1
    while position < len(text):
        match = _TOKEN.match(text, position)
        assert match, f"line {line}: cannot read {text[position : position + 20]!r}"
        kind = match.lastgroup
        assert kind is not None
        if kind not in ("space", "comment"):
            tokens.append(Token(kind, match.group(0), line))
        line += match.group(0).count("\n")
        position = match.end()
    tokens.append(Token("newline", "\n", line))
    return tokens


_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def decode_string(literal: str) -> list[tuple[str, str]]:
    """Split an HCL quoted string into text, interpolation and directive parts."""
    body = literal[1:-1]
    parts: list[tuple[str, str]] = []
    text = ""
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            code = body[i + 1]
            if code in _SIMPLE_ESCAPES:
                text += _SIMPLE_ESCAPES[code]
                i += 2
            elif code == "u":
                text += chr(int(body[i + 2 : i + 6], 16))
                i += 6
            elif code == "U":
                text += chr(int(body[i + 2 : i + 10], 16))
                i += 10
            else:
                raise AssertionError(f"invalid escape \\{code} in {literal}")
        elif body.startswith(("$${", "%%{"), i):
            text += body[i + 1 : i + 3]
            i += 3
        elif body.startswith(("${", "%{"), i):
            end = body.index("}", i)
            if text:
                parts.append(("text", text))
                text = ""
            kind = "interpolation" if char == "$" else "directive"
            parts.append((kind, body[i + 2 : end].strip()))
            i = end + 1
        else:
            text += char
            i += 1
    if text or not parts:
        parts.append(("text", text))
    return parts


def string_value(literal: str) -> str:
    """Return the value of a string literal that contains no template."""
    parts = decode_string(literal)
    assert [kind for kind, _ in parts] == ["text"], f"{literal} is a template"
    return parts[0][1]


@attrs.define
class Block:
    type: str
    labels: list[str]
    attributes: dict[str, list[Token]] = attrs.field(factory=dict)
    blocks: list[Block] = attrs.field(factory=list)

    def children(self, type_: str) -> list[Block]:
        return [block for block in self.blocks if block.type == type_]


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[self.index + offset]

    def take(self, kind: str | None = None, text: str | None = None) -> Token:
        token = self.tokens[self.index]
        assert kind is None or token.kind == kind, (
            f"line {token.line}: expected {kind}, got {token.text!r}"
        )
        assert text is None or token.text == text, (
            f"line {token.line}: expected {text!r}, got {token.text!r}"
        )
        self.index += 1
        return token

    def body(self, block: Block, closing: bool) -> Block:
        while self.index < len(self.tokens):
            token = self.peek()
            if token.kind == "newline":
                self.index += 1
            elif closing and token.text == "}":
                self.index += 1
                return block
            elif self.peek(1).text == "=":
                name = self.take("ident").text
                assert name not in block.attributes, (
                    f"line {token.line}: {name} set twice"
                )
                self.take(text="=")
                block.attributes[name] = self.expression()
            else:
                block.blocks.append(self.block())
        assert not closing, "unclosed block"
        return block

    def block(self) -> Block:
        block = Block(self.take("ident").text, [])
        while self.peek().text != "{":
            label = self.take("string").text
            block.labels.append(string_value(label))
        self.take(text="{")
        self.take("newline")
        return self.body(block, closing=True)

    def expression(self) -> list[Token]:
        tokens, depth = [], 0
        while True:
            token = self.take()
            if token.kind == "newline" and depth == 0:
                return tokens
            if token.text in "{[(" and token.kind == "punct":
                depth += 1
            if token.text in "}])" and token.kind == "punct":
                depth -= 1
            tokens.append(token)


def parse_hcl(text: str) -> Block:
    return Parser(text).body(Block("file", []), closing=False)


def as_reference(tokens: list[Token]) -> str:
    text = "".join(token.text for token in tokens)
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)+", text), (
        text
    )
    return text


def as_call(tokens: list[Token]) -> tuple[str, list[tuple[str, str]]]:
    kinds = [token.kind for token in tokens]
    assert kinds == ["ident", "punct", "string", "punct"], tokens
    return tokens[0].text, decode_string(tokens[2].text)


def as_object(tokens: list[Token]) -> dict[str, str]:
    assert tokens[0].text == "{", tokens
    assert tokens[-1].text == "}", tokens
    items: dict[str, str] = {}
    inner = [token for token in tokens[1:-1] if token.kind != "newline"]
    i = 0
    while i < len(inner):
        key = inner[i]
        assert inner[i + 1].text == "=", inner[i + 1]
        j = i + 2
        value = []
        while j < len(inner) and not (
            j + 1 < len(inner) and inner[j + 1].text == "=" and value
        ):
            value.append(inner[j])
            j += 1
        name = string_value(key.text) if key.kind == "string" else key.text
        items[name] = as_reference(value)
        i = j
    return items


def string_literals(block: Block) -> list[str]:
    """Return every quoted string of the attributes, quotes included.

    Block labels are not listed: the parser reads them with string_value, which
    already rejects templates.
    """
    found = []
    for tokens in block.attributes.values():
        found.extend(token.text for token in tokens if token.kind == "string")
    for child in block.blocks:
        found.extend(string_literals(child))
    return found


# --- Builds ---------------------------------------------------------------------------


def build_into(project: Path, out: Path) -> dict[str, str]:
    result = build(Project.at(project, out=out))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    write_tree(out, result.files)
    return result.files


@pytest.fixture(scope="module")
def repo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's services built into a temporary out/ folder."""
    out = tmp_path_factory.mktemp("repo") / "out"
    cwd = Path.cwd()
    os.chdir(REPO)
    try:
        build_into(REPO, out)
    finally:
        os.chdir(cwd)
    return out


def manifest(service: str, uid: str, folder: str | None) -> str:
    folder_line = "" if folder is None else f", folder: {folder}"
    return f"""service: {service}
dashboard: {{uid: '{uid}'{folder_line}}}
scrape: {{job: {service}, port: 8080}}
metrics:
  http_requests_total: {{type: counter}}
rows:
  - title: Traffic
    panels:
      - {{title: RPS, query: 'sum(rate(http_requests_total[5m]))'}}
"""


# Folder titles that need escaping, the root folder under several spellings, and uids
# whose identifiers clash or start with a digit.
HOSTILE = {
    "quotes.yaml": manifest("quotes", "quotes", "'Team \"A\" \\ C:\\temp'"),
    "template.yaml": manifest(
        "template", "template", "'Cost ${var.x} %{if true}y%{endif} $${z}'"
    ),
    "unicode.yaml": manifest("unicode", "unicode", "'Платежи 💳'"),
    "tab.yaml": manifest("tab", "tab", '"Tab\\there"'),
    "general.yaml": manifest("general", "general", "General"),
    "general-lower.yaml": manifest("general_lower", "general-lower", "' general '"),
    "no-folder.yaml": manifest("no_folder", "no-folder", None),
    "clash-dash.yaml": manifest("clash_dash", "a-b", "Same Slug"),
    "clash-underscore.yaml": manifest("clash_underscore", "a_b", "same-slug"),
    "digit.yaml": manifest("digit", "1st", "Trading Platform"),
}
HOSTILE_TITLES = {
    "quotes": 'Team "A" \\ C:\\temp',
    "template": "Cost ${var.x} %{if true}y%{endif} $${z}",
    "unicode": "Платежи 💳",
    "tab": "Tab\there",
}


@pytest.fixture(scope="module")
def hostile_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("hostile")
    for name, text in HOSTILE.items():
        write_manifest(project, name, text)
    out = project / "out"
    cwd = Path.cwd()
    os.chdir(project)
    try:
        build_into(project, out)
    finally:
        os.chdir(cwd)
    return out


def read_config(out: Path) -> Block:
    """Parse every .tf file of out/terraform/ into one block."""
    merged = Block("module", [])
    for path in sorted((out / "terraform").glob("*.tf")):
        parsed = parse_hcl(path.read_text(encoding="utf-8"))
        merged.blocks.extend(parsed.blocks)
        assert not parsed.attributes, f"{path.name} has top-level attributes"
    return merged


def resources(config: Block, type_: str) -> dict[str, Block]:
    found = {}
    for block in config.children("resource"):
        if block.labels[0] == type_:
            assert block.labels[1] not in found, (
                f"{type_}.{block.labels[1]} declared twice"
            )
            found[block.labels[1]] = block
    return found


def terraform_files(out: Path) -> list[str]:
    return sorted(path.name for path in (out / "terraform").glob("*.tf"))


def repo_terraform_files() -> list[str]:
    files = build(Project.at(REPO)).files
    return sorted(
        name.removeprefix("terraform/")
        for name in files
        if name.startswith("terraform/")
    )


# --- Tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", repo_terraform_files())
def test_terraform_snapshot(name: str, repo_out: Path, text_snapshot) -> None:
    assert (repo_out / "terraform" / name).read_text(encoding="utf-8") == text_snapshot


def test_terraform_files(repo_out: Path) -> None:
    assert terraform_files(repo_out) == ["dashboards.tf", "main.tf", "outputs.tf"]


def _terraform_fmt_check(folder: Path) -> subprocess.CompletedProcess[str]:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed; `terraform fmt -check` cannot run")
    env = {**os.environ, "CHECKPOINT_DISABLE": "1"}
    return subprocess.run(
        [terraform, "fmt", "-check", "-diff", "-no-color", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_terraform_fmt_repo(repo_out: Path) -> None:
    result = _terraform_fmt_check(repo_out / "terraform")
    assert result.returncode == 0, result.stdout + result.stderr


def test_terraform_fmt_hostile(hostile_out: Path) -> None:
    result = _terraform_fmt_check(hostile_out / "terraform")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("which", ["repo", "hostile"])
def test_dashboards_referenced_once(which: str, request: pytest.FixtureRequest) -> None:
    out: Path = request.getfixturevalue(f"{which}_out")
    dashboard_files = sorted(
        p.name for p in (out / "grafana" / "dashboards").glob("*.json")
    )
    referenced = []
    for block in resources(read_config(out), "grafana_dashboard").values():
        function, parts = as_call(block.attributes["config_json"])
        assert function == "file"
        assert parts[0] == ("interpolation", "path.module")
        assert len(parts) == 2
        kind, path = parts[1]
        assert kind == "text"
        assert path.startswith("/../grafana/dashboards/")
        assert (out / "terraform" / path.removeprefix("/")).resolve().is_file()
        referenced.append(Path(path).name)
    assert sorted(referenced) == dashboard_files
    assert len(dashboard_files) > 0


@pytest.mark.parametrize("which", ["repo", "hostile"])
def test_no_terraform_templates(which: str, request: pytest.FixtureRequest) -> None:
    out: Path = request.getfixturevalue(f"{which}_out")
    literals = string_literals(read_config(out))
    assert literals
    for literal in literals:
        for kind, text in decode_string(literal):
            assert kind != "directive", literal
            if kind == "interpolation":
                assert text == "path.module", literal


def test_dashboard_json_keeps_grafana_variables(repo_out: Path) -> None:
    texts = [
        p.read_text() for p in (repo_out / "grafana" / "dashboards").glob("*.json")
    ]
    assert any("${datasource}" in text for text in texts)
    for path in (repo_out / "terraform").glob("*.tf"):
        assert "datasource" not in path.read_text()


@pytest.mark.parametrize("which", ["repo", "hostile"])
def test_resource_arguments(which: str, request: pytest.FixtureRequest) -> None:
    config = read_config(request.getfixturevalue(f"{which}_out"))
    for name, block in resources(config, "grafana_dashboard").items():
        assert set(block.attributes) <= DASHBOARD_ARGUMENTS, name
        assert set(block.attributes) >= DASHBOARD_REQUIRED, name
        assert block.blocks == [], name
        assert "".join(t.text for t in block.attributes["overwrite"]) == "true"
        assert (
            string_value(block.attributes["message"][0].text) == "Managed by obscompile"
        )
    for name, block in resources(config, "grafana_folder").items():
        assert set(block.attributes) <= FOLDER_ARGUMENTS, name
        assert set(block.attributes) >= FOLDER_REQUIRED, name
        assert block.blocks == [], name


@pytest.mark.parametrize("which", ["repo", "hostile"])
def test_identifiers_and_uids(which: str, request: pytest.FixtureRequest) -> None:
    config = read_config(request.getfixturevalue(f"{which}_out"))
    folders = resources(config, "grafana_folder")
    dashboards = resources(config, "grafana_dashboard")
    for name in [*folders, *dashboards]:
        assert IDENTIFIER.match(name), name
    uids = [string_value(block.attributes["uid"][0].text) for block in folders.values()]
    titles = [
        string_value(block.attributes["title"][0].text) for block in folders.values()
    ]
    for uid in uids:
        assert UID.match(uid), uid
    assert len(set(uids)) == len(uids)
    assert len(set(titles)) == len(titles)
    for title in titles:
        assert title.strip().casefold() != "general"


@pytest.mark.parametrize("which", ["repo", "hostile"])
def test_folder_references(which: str, request: pytest.FixtureRequest) -> None:
    config = read_config(request.getfixturevalue(f"{which}_out"))
    folders = resources(config, "grafana_folder")
    for name, block in resources(config, "grafana_dashboard").items():
        if "folder" not in block.attributes:
            continue
        kind, folder, attribute = as_reference(block.attributes["folder"]).split(".")
        assert kind == "grafana_folder", name
        assert folder in folders, name
        assert attribute == "uid", name


def test_repo_folder(repo_out: Path) -> None:
    config = read_config(repo_out)
    (folder,) = resources(config, "grafana_folder").values()
    assert string_value(folder.attributes["title"][0].text) == "Trading Platform"
    assert string_value(folder.attributes["uid"][0].text) == "obs-trading-platform"
    for block in resources(config, "grafana_dashboard").values():
        assert as_reference(block.attributes["folder"]) == (
            f"grafana_folder.{folder.labels[1]}.uid"
        )


def test_hostile_titles_survive(hostile_out: Path) -> None:
    config = read_config(hostile_out)
    folders = {
        string_value(block.attributes["title"][0].text): block
        for block in resources(config, "grafana_folder").values()
    }
    for title in HOSTILE_TITLES.values():
        assert title in folders
    dashboards = resources(config, "grafana_dashboard")
    for uid in ("general", "general-lower", "no-folder"):
        assert "folder" not in dashboards[identifier(uid, "dashboard")].attributes, uid
    assert len([name for name in dashboards if name.startswith("a_b_")]) == 2
    assert "dashboard_1st" in dashboards


def test_clashing_slugs_get_distinct_uids(hostile_out: Path) -> None:
    config = read_config(hostile_out)
    uids = {
        string_value(block.attributes["title"][0].text): string_value(
            block.attributes["uid"][0].text
        )
        for block in resources(config, "grafana_folder").values()
    }
    assert uids["Same Slug"] != uids["same-slug"]


def test_provider_and_variables(repo_out: Path) -> None:
    config = read_config(repo_out)
    (terraform,) = config.children("terraform")
    (required,) = terraform.children("required_providers")
    grafana = required.attributes["grafana"]
    text = "".join(t.text for t in grafana)
    assert '"grafana/grafana"' in text
    assert '">= 3.0.0, < 5.0.0"' in text
    (provider,) = config.children("provider")
    assert provider.labels == ["grafana"]
    assert as_reference(provider.attributes["url"]) == "var.grafana_url"
    assert as_reference(provider.attributes["auth"]) == "var.grafana_auth"
    variables = {block.labels[0]: block for block in config.children("variable")}
    assert set(variables) == {"grafana_url", "grafana_auth"}
    for block in variables.values():
        # A null default lets the provider fall back to GRAFANA_URL / GRAFANA_AUTH.
        assert "".join(t.text for t in block.attributes["default"]) == "null"
    assert (
        "".join(t.text for t in variables["grafana_auth"].attributes["sensitive"])
        == "true"
    )
    assert "sensitive" not in variables["grafana_url"].attributes
    main_tf = (repo_out / "terraform" / "main.tf").read_text()
    assert "GRAFANA_URL" in main_tf
    assert "GRAFANA_AUTH" in main_tf


@pytest.mark.parametrize("which", ["repo", "hostile"])
def test_output_urls(which: str, request: pytest.FixtureRequest) -> None:
    config = read_config(request.getfixturevalue(f"{which}_out"))
    dashboards = resources(config, "grafana_dashboard")
    (output,) = config.children("output")
    urls = as_object(output.attributes["value"])
    expected = {}
    for name, block in dashboards.items():
        _, parts = as_call(block.attributes["config_json"])
        uid = Path(parts[1][1]).stem
        expected[uid] = f"grafana_dashboard.{name}.url"
    assert urls == expected


def test_no_dashboards(project: Path) -> None:
    write_manifest(
        project, "celery.yaml", "service: celery\nscrape: {job: celery, port: 9540}\n"
    )
    out = project / "out"
    files = build_into(project, out)
    assert "grafana/provisioning/dashboards.yaml" not in files
    config = read_config(out)
    assert resources(config, "grafana_dashboard") == {}
    (output,) = config.children("output")
    assert "".join(t.text for t in output.attributes["value"]) == "{}"
    result = _terraform_fmt_check(out / "terraform")
    assert result.returncode == 0, result.stdout + result.stderr


def test_build_is_deterministic(repo_out: Path, tmp_path: Path) -> None:
    again = tmp_path / "out"
    cwd = Path.cwd()
    os.chdir(REPO)
    try:
        build_into(REPO, again)
    finally:
        os.chdir(cwd)
    for name in terraform_files(repo_out):
        assert (again / "terraform" / name).read_bytes() == (
            repo_out / "terraform" / name
        ).read_bytes()


HCL_STRINGS = [
    ("plain", "Trading Platform", '"Trading Platform"'),
    ("quote", 'say "hi"', r'"say \"hi\""'),
    ("backslash", "C:\\temp", r'"C:\\temp"'),
    ("interpolation", "${datasource}", '"$${datasource}"'),
    ("directive", "%{if x}", '"%%{if x}"'),
    ("escaped-interpolation", "$${x}", '"$$${x}"'),
    ("lone-sigils", "100% $5 {x}", '"100% $5 {x}"'),
    ("newline", "a\nb\r\tc", r'"a\nb\r\tc"'),
    ("control", "bell\x07", r'"bell\u0007"'),
    ("unicode", "Платежи 💳", '"Платежи 💳"'),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in HCL_STRINGS], ids=[c[0] for c in HCL_STRINGS]
)
def test_hcl_string(text: str, expected: str) -> None:
    assert hcl_string(text) == expected
    assert string_value(expected) == text


def test_hcl_strings_in_terraform(tmp_path: Path) -> None:
    # `terraform console` evaluates a configuration without providers offline.
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed; `terraform console` cannot run")
    texts = [text for _, text, _ in HCL_STRINGS]
    lines = [f"  v{i} = {hcl_string(text)}" for i, text in enumerate(texts)]
    (tmp_path / "main.tf").write_text("locals {\n" + "\n".join(lines) + "\n}\n")
    names = ", ".join(f"local.v{i}" for i in range(len(texts)))
    result = subprocess.run(
        [terraform, "console", "-no-color"],
        input=f"jsonencode([{names}])\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "CHECKPOINT_DISABLE": "1"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip().splitlines()[-1]
    assert json.loads(json.loads(printed)) == texts


def test_hcl_string_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        hcl_string(3)


IDENTIFIERS = [
    ("dashes", "auth-server-dashboard", "auth_server_dashboard"),
    ("digit", "1st", "dashboard_1st"),
    ("symbols", "a.b/c", "a_b_c"),
    ("empty", "---", "dashboard"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in IDENTIFIERS], ids=[c[0] for c in IDENTIFIERS]
)
def test_identifier(text: str, expected: str) -> None:
    assert identifier(text, "dashboard") == expected


def test_unique_identifiers_hash_clashes() -> None:
    names = unique_identifiers(["a-b", "a_b", "c"], "dashboard")
    assert names["c"] == "c"
    assert names["a-b"] != names["a_b"]
    assert names["a-b"].startswith("a_b_")
    assert unique_identifiers(["a_b", "a-b", "c"], "dashboard") == names


def test_folder_uid_examples() -> None:
    assert folder_uid("Trading Platform", "obs-") == "obs-trading-platform"
    assert folder_uid("  Trading Platform ", "obs-") == "obs-trading-platform"
    assert folder_uid("Trading Platform", "") == "trading-platform"


def test_folder_uid_without_slug() -> None:
    uid = folder_uid("Платежи 💳", "obs-")
    assert UID.match(uid)
    assert uid.startswith("obs-")
    assert len(uid) == len("obs-") + 12


def test_folder_uid_long_title() -> None:
    title = "Checkout service for the European Union region, primary"
    uid = folder_uid(title, "obs-")
    assert len(uid) == 40
    assert UID.match(uid)
    assert uid.startswith("obs-checkout-service-for-t")
    assert folder_uid(title, "obs-") == uid


def test_folder_uid_long_prefix_survives() -> None:
    prefix = "p" * 27
    uid = folder_uid("Some rather long folder title", prefix)
    assert uid.startswith(prefix)
    assert len(uid) <= 40


def test_folder_uids_clash() -> None:
    uids = folder_uids({"Same Slug", "same-slug", "Other"}, "obs-")
    assert uids["Other"] == "obs-other"
    assert uids["Same Slug"] != uids["same-slug"]
    for uid in uids.values():
        assert UID.match(uid)


def test_folder_prefix_from_config(project: Path) -> None:
    (project / "obscompile.yaml").write_text("terraform_folder_uid_prefix: team_\n")
    write_manifest(project, "a.yaml", manifest("a", "a", "Trading Platform"))
    files = build_into(project, project / "out")
    assert 'uid   = "team_trading-platform"' in files["terraform/dashboards.tf"]


def test_config_default_prefix() -> None:
    assert Config().terraform_folder_uid_prefix == "obs-"
