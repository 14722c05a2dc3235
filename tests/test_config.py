"""obscompile.yaml: defaults, every key's validation, positioned errors, the build."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from obscompile.cli import main
from obscompile.config import Config
from obscompile.load.config import CONFIG_SCHEMA, load_config
from obscompile.model.location import Location
from obscompile.pipeline import Project, build
from tests.conftest import REPO, write_manifest

MANIFEST = """service: payments
dashboard: {uid: payments, folder: Payments}
scrape: {job: payments, port: 8080}
metrics:
  http_requests_total: {type: counter, labels: [code]}
rows:
  - title: Traffic
    panels:
      - {title: RPS, query: 'sum(rate(http_requests_total{job="payments"}[5m]))'}
"""


def write_config(project: Path, text: str) -> None:
    (project / "obscompile.yaml").write_text(text, encoding="utf-8")


def load(project: Path, text: str) -> tuple[Config, list[str]]:
    write_config(project, text)
    config, diagnostics, _ = load_config(project)
    return config, [str(d) for d in diagnostics]


def test_missing_file_means_defaults(project: Path) -> None:
    config, diagnostics, sources = load_config(project)
    assert config == Config()
    assert diagnostics == []
    assert sources == {}


@pytest.mark.parametrize(
    "text", ["", "\n", "# only a comment\n", "---", "---\n", "--- # only a comment\n"]
)
def test_empty_file_means_defaults(project: Path, text: str) -> None:
    config, diagnostics = load(project, text)
    assert config == Config()
    assert diagnostics == []


def test_repository_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    config, diagnostics, sources = load_config(REPO)
    assert diagnostics == []
    assert ("release", "kube-prometheus-stack") in config.kubernetes_labels
    assert "obscompile.yaml" in sources


def test_every_key_set(project: Path) -> None:
    config, diagnostics = load(
        project,
        """targets: [grafana, terraform]
grafana_url: https://grafana.example.com/
grafana_dashboards_path: /etc/dashboards/
schema_version: 39
alert_for: 0s
evaluation_interval: 30s
scrape_interval: 1m
scrape_timeout: 45s
kubernetes_namespace: observability
kubernetes_labels:
  release: prom
  example.com/team: platform
  empty: ""
mimir_source_tenants: [team-a, "team(b)"]
terraform_folder_uid_prefix: ""
""",
    )
    assert diagnostics == []
    assert config.targets == ("grafana", "terraform")
    assert config.grafana_url == "https://grafana.example.com"
    assert config.grafana_dashboards_path == "/etc/dashboards"
    assert config.schema_version == 39
    assert config.alert_for == "0s"
    assert config.evaluation_interval == "30s"
    assert config.scrape_interval == "1m"
    assert config.scrape_timeout == "45s"
    assert config.kubernetes_namespace == "observability"
    assert config.kubernetes_labels == (
        ("release", "prom"),
        ("example.com/team", "platform"),
        ("empty", ""),
    )
    assert config.mimir_source_tenants == ("team-a", "team(b)")
    assert config.terraform_folder_uid_prefix == ""


def test_url_scheme_in_any_case(project: Path) -> None:
    """URL schemes are case-insensitive, so HTTPS:// is a valid Grafana URL."""
    config, diagnostics = load(project, "grafana_url: HTTPS://Grafana.example.com/\n")
    assert diagnostics == []
    assert config.grafana_url == "HTTPS://Grafana.example.com"


GOOD_GRAFANA_URLS = [
    "http://localhost:3000",
    "https://grafana.example.com/",
    "https://grafana.example.com./grafana/",
    "http://grafana_1:3000",
    "http://127.0.0.1:3000",
    "http://[::1]:3000/",
    "http://[2001:db8::1]",
    "https://example.com:65535/a/b-c_d~e/%C3%A9/x@y:z!$&'()*+,;=",
]


@pytest.mark.parametrize("url", GOOD_GRAFANA_URLS)
def test_valid_grafana_url(project: Path, url: str) -> None:
    config, diagnostics = load(project, f'grafana_url: "{url}"\n')
    assert diagnostics == []
    assert config.grafana_url == url.rstrip("/")


# (URL, the error message after `it`): every part of the URL that can be wrong.
BAD_GRAFANA_URLS = [
    ("http//grafana", "has no scheme; start it with http:// or https://"),
    ("ftp://grafana", 'has the scheme "ftp"; use http or https'),
    ("http:/grafana", 'has no "//" after "http:"; write http://HOST'),
    ("http://", "has no host"),
    ("http://:3000", "has no host"),
    ("http://graf:abc", 'has the port "abc", which is not a number'),
    ("http://graf:99999", 'has the port "99999", which is outside 1-65535'),
    ("http://graf:0", 'has the port "0", which is outside 1-65535'),
    ("http://graf:/", 'has a port that is empty; remove the ":" or write a port'),
    ("http://[::1", 'has the host "[::1", which has no closing "]"'),
    (
        "http://[::1]x/",
        'has "x" after the host "[::1]", where only a port may follow',
    ),
    (
        "http://[graf]/",
        'has the host "[graf]", which is not an IPv6 address, the only host that '
        "goes in brackets",
    ),
    (
        "http://[fe80::1%25eth0]/",
        'has the host "[fe80::1%25eth0]", which has a zone index after %, and '
        "browsers open no URL with one; write a host name or an address without zone",
    ),
    (
        "http://::1/",
        'has the IPv6 address "::1" without brackets; write it as "[::1]"',
    ),
    (
        "http://gra%66/",
        'has the host "gra%66", which contains "%", and a host name has only ASCII '
        'letters, digits, "-", "_" and "."',
    ),
    (
        "http://grafé/",
        'has the host "grafé", which contains "é"; write the name as "xn--graf-epa"',
    ),
    ("http://a..b/", 'has the host "a..b", which has an empty label between two dots'),
    (
        "http://-graf/",
        'has the host "-graf", which has the label "-graf", but a label may not start '
        'or end with "-"',
    ),
    (
        "http://256.0.0.1/",
        'has the host "256.0.0.1", which is neither a host name nor an IPv4 address '
        "of four numbers 0-255",
    ),
    (
        f"http://{'a' * 64}/",
        'has the host "' + "a" * 64 + '", which has a label longer than 63 '
        'characters, "aaaaaaaaaaaaaaaaaaaa..."',
    ),
    ("http://graf/a b", 'has the path "/a b", which contains a space'),
    ("http://graf/a|b", 'has the path "/a|b", which contains "|"'),
    (
        "http://graf/é",
        'has the path "/é", which contains "é"; write it percent-encoded as %C3%A9',
    ),
    (
        "http://graf/50%",
        'has the path "/50%", which contains "%", but "%" starts a percent-encoded '
        'byte such as %20; write a "%" itself as %25',
    ),
    (
        "http://graf/#panel",
        'has a fragment, "#panel", and the links of alerts append /d/UID?viewPanel=ID '
        "to the URL",
    ),
]


@pytest.mark.parametrize(("url", "problem"), BAD_GRAFANA_URLS)
def test_invalid_grafana_url(project: Path, url: str, problem: str) -> None:
    config, diagnostics = load(project, f'targets: [grafana]\ngrafana_url: "{url}"\n')
    assert diagnostics == [
        f'obscompile.yaml:2:14: error: grafana_url "{url}" is invalid: it {problem} '
        "[config/value]"
    ]
    assert config == Config()


def test_locations_of_keys(project: Path) -> None:
    config, _ = load(project, "grafana_url: http://g:3000\nalert_for: 10m\n")
    assert config.locations["grafana_url"] == Location("obscompile.yaml", 1, 14)
    assert config.locations["alert_for"] == Location("obscompile.yaml", 2, 12)


def test_short_interval_lowers_timeout(project: Path) -> None:
    config, diagnostics = load(project, "scrape_interval: 5s\n")
    assert diagnostics == []
    assert config.scrape_timeout == "5s"


def test_long_interval_keeps_timeout(project: Path) -> None:
    config, _ = load(project, "scrape_interval: 1m\n")
    assert config.scrape_timeout == "10s"


def test_unknown_key_suggestion(project: Path) -> None:
    _, diagnostics = load(
        project, "# settings\ntargets: [grafana]\ngrafana_ulr: http://localhost:3000\n"
    )
    assert diagnostics == [
        'obscompile.yaml:3:1: error: unknown key "grafana_ulr" in the configuration '
        '(did you mean "grafana_url"?) [config/schema]'
    ]


def test_unknown_key_without_match(project: Path) -> None:
    _, diagnostics = load(project, "colour: blue\n")
    (message,) = diagnostics
    assert message.startswith(
        'obscompile.yaml:1:1: error: unknown key "colour" in the configuration; '
        "expected one of alert_for, evaluation_interval,"
    )


def test_every_unknown_key_reported(project: Path) -> None:
    _, diagnostics = load(
        project,
        "zzz: 1\nyyy: 2\ngrafana_ulr: http://localhost:3000\n"
        "kubernetes_labels: {release: a}\n",
    )
    by_position = sorted(diagnostics)
    assert [line.split(": error: ")[0] for line in by_position] == [
        "obscompile.yaml:1:1",
        "obscompile.yaml:2:1",
        "obscompile.yaml:3:1",
    ]
    assert 'unknown key "zzz" in the configuration' in by_position[0]
    assert 'unknown key "yyy" in the configuration' in by_position[1]
    assert (
        '"grafana_ulr" in the configuration (did you mean "grafana_url"?)'
        in (by_position[2])
    )


def test_root_must_be_mapping(project: Path) -> None:
    _, diagnostics = load(project, "- grafana\n")
    assert diagnostics == [
        "obscompile.yaml:1:1: error: the configuration must be a mapping, not a list "
        "[config/schema]"
    ]


# (name, file text, expected diagnostics): one case or more for every key.
INVALID = [
    (
        "targets-unknown",
        "targets: [grafana, grafna]\n",
        'obscompile.yaml:1:20: error: targets[1] "grafna" is not one of grafana, '
        "prometheus, terraform, kubernetes, mimir, instrumentation "
        '(did you mean "grafana"?) [config/schema]',
    ),
    (
        "targets-duplicate",
        "targets:\n  - prometheus\n  - mimir\n  - mimir\n",
        'obscompile.yaml:4:5: error: targets lists "mimir" twice (first at index 1) '
        "[config/schema]",
    ),
    (
        "targets-empty",
        "targets: []\n",
        "obscompile.yaml:1:10: error: targets must not be empty [config/schema]",
    ),
    (
        "targets-string",
        "targets: grafana\n",
        "obscompile.yaml:1:10: error: targets must be a list, not a string "
        "[config/schema]",
    ),
    (
        "targets-terraform-without-grafana",
        "targets: [prometheus, terraform]\n",
        'obscompile.yaml:1:23: error: target "terraform" needs target "grafana", whose '
        'files it reads; add "grafana" to targets [config/schema]',
    ),
    (
        "targets-kubernetes-without-prometheus",
        "targets: [kubernetes]\n",
        'obscompile.yaml:1:11: error: target "kubernetes" needs target "prometheus", '
        'whose files it reads; add "prometheus" to targets [config/schema]',
    ),
    (
        "targets-mimir-without-prometheus",
        "targets: [grafana, mimir]\n",
        'obscompile.yaml:1:20: error: target "mimir" needs target "prometheus", whose '
        'files it reads; add "prometheus" to targets [config/schema]',
    ),
    (
        "grafana-url-scheme",
        "grafana_url: localhost:3000\n",
        'obscompile.yaml:1:14: error: grafana_url "localhost:3000" is invalid: it has '
        "no scheme; start it with http:// or https:// [config/value]",
    ),
    (
        "grafana-url-query",
        "grafana_url: http://grafana/?orgId=1\n",
        'obscompile.yaml:1:14: error: grafana_url "http://grafana/?orgId=1" is invalid: '
        'it has a query, "?orgId=1", and the links of alerts append '
        "/d/UID?viewPanel=ID to the URL [config/value]",
    ),
    (
        "grafana-url-braces",
        'grafana_url: "http://grafana/{{x"\n',
        'obscompile.yaml:1:14: error: grafana_url "http://grafana/{{x" is invalid: '
        'it has the path "/{{x", which contains "{" [config/value]',
    ),
    (
        "grafana-url-credentials",
        "grafana_url: https://admin:secret@grafana.example.com/\n",
        'obscompile.yaml:1:14: error: grafana_url contains credentials before "@", '
        "which every alert would carry in its dashboard_url to the chat and paging "
        "tools that receive it; give the URL without them [config/value]",
    ),
    (
        "grafana-url-number",
        "grafana_url: 3000\n",
        "obscompile.yaml:1:14: error: grafana_url must be a string, not an integer; "
        "use an http:// or https:// URL without query, fragment or braces (alert "
        "annotations are Go templates) [config/schema]",
    ),
    (
        "dashboards-path-relative",
        "grafana_dashboards_path: dashboards\n",
        'obscompile.yaml:1:26: error: grafana_dashboards_path "dashboards" is invalid: '
        "use an absolute path such as /var/lib/grafana/dashboards [config/schema]",
    ),
    (
        "schema-version-old",
        "schema_version: 16\n",
        "obscompile.yaml:1:17: error: schema_version must be at least 36, not 16 "
        "[config/schema]",
    ),
    (
        "schema-version-new",
        "schema_version: 43\n",
        "obscompile.yaml:1:17: error: schema_version must be at most 42, not 43 "
        "[config/schema]",
    ),
    (
        "schema-version-string",
        "schema_version: '42'\n",
        "obscompile.yaml:1:17: error: schema_version must be an integer, not a string "
        "[config/schema]",
    ),
    (
        "alert-for-words",
        "alert_for: 5 minutes\n",
        'obscompile.yaml:1:12: error: alert_for "5 minutes" is invalid: use a Prometheus '
        "duration such as 30s, 5m or 1h30m [config/schema]",
    ),
    (
        "alert-for-unit-order",
        "alert_for: 30m1h\n",
        'obscompile.yaml:1:12: error: alert_for "30m1h" is invalid: use a Prometheus '
        "duration such as 30s, 5m or 1h30m [config/schema]",
    ),
    (
        "alert-for-empty",
        'alert_for: ""\n',
        'obscompile.yaml:1:12: error: alert_for "" is invalid: use a Prometheus '
        "duration such as 30s, 5m or 1h30m [config/schema]",
    ),
    (
        "evaluation-interval-zero",
        "evaluation_interval: 0s\n",
        "obscompile.yaml:1:22: error: evaluation_interval must be longer than 0s "
        "[config/schema]",
    ),
    (
        "evaluation-interval-number",
        "evaluation_interval: 60\n",
        "obscompile.yaml:1:22: error: evaluation_interval must be a string, not an "
        "integer; use a Prometheus duration such as 30s, 5m or 1h30m [config/schema]",
    ),
    (
        "scrape-interval-zero",
        "scrape_interval: '0'\n",
        "obscompile.yaml:1:18: error: scrape_interval must be longer than 0s "
        "[config/schema]",
    ),
    (
        "schema-version-hundreds-of-digits",
        "schema_version: 1" + "0" * 400 + "\n",
        "obscompile.yaml:1:17: error: schema_version must be at most 42, not a "
        "401-digit number [config/schema]",
    ),
    (
        "alert-for-too-long",
        "alert_for: 293y\n",
        "obscompile.yaml:1:12: error: alert_for 293y is longer than Prometheus accepts "
        "(about 292 years, 106751d23h47m16s854ms) [config/schema]",
    ),
    (
        "scrape-interval-too-long",
        "scrape_interval: 293y\n",
        "obscompile.yaml:1:18: error: scrape_interval 293y is longer than Prometheus "
        "accepts (about 292 years, 106751d23h47m16s854ms) [config/schema]",
    ),
    (
        "scrape-timeout-longer",
        "scrape_interval: 15s\nscrape_timeout: 20s\n",
        "obscompile.yaml:2:17: error: scrape_timeout 20s is longer than scrape_interval "
        "15s; Prometheus rejects a scrape timeout greater than the interval "
        "[config/value]",
    ),
    (
        "scrape-timeout-longer-than-default-interval",
        "scrape_timeout: 1m\n",
        "obscompile.yaml:1:17: error: scrape_timeout 1m is longer than scrape_interval "
        "15s; Prometheus rejects a scrape timeout greater than the interval "
        "[config/value]",
    ),
    (
        "namespace-uppercase",
        "kubernetes_namespace: Monitoring\n",
        'obscompile.yaml:1:23: error: kubernetes_namespace "Monitoring" is invalid: use '
        "at most 63 lowercase ASCII letters, digits and '-', starting and ending with a letter "
        "or digit [config/schema]",
    ),
    (
        "namespace-too-long",
        f"kubernetes_namespace: {'a' * 64}\n",
        f'obscompile.yaml:1:23: error: kubernetes_namespace "{"a" * 64}" is invalid: use '
        "at most 63 lowercase ASCII letters, digits and '-', starting and ending with a letter "
        "or digit [config/schema]",
    ),
    (
        "labels-list",
        "kubernetes_labels: [release]\n",
        "obscompile.yaml:1:20: error: kubernetes_labels must be a mapping, not a list "
        "[config/schema]",
    ),
    (
        "labels-key",
        "kubernetes_labels:\n  release: prom\n  bad key: x\n",
        'obscompile.yaml:3:3: error: kubernetes_labels key "bad key" is invalid: use an '
        "optional DNS subdomain prefix of at most 253 characters and '/', then at most 63 "
        "ASCII letters, digits, '-', '_' and '.', starting and ending with a letter or "
        "digit [config/schema]",
    ),
    (
        "labels-key-prefix-too-long",
        f"kubernetes_labels:\n  {'a' * 254}/team: x\n",
        f'obscompile.yaml:2:3: error: kubernetes_labels key "{"a" * 75}...{"a" * 31}/team" '
        "is invalid: use an optional DNS subdomain prefix of at most 253 characters and "
        "'/', then at most 63 ASCII letters, digits, '-', '_' and '.', starting and "
        "ending with a letter or digit [config/schema]",
    ),
    (
        "labels-value-number",
        "kubernetes_labels:\n  version: 2\n",
        "obscompile.yaml:2:12: error: kubernetes_labels.version must be a string, not an "
        "integer; use at most 63 ASCII letters, digits, '-', '_' and '.', starting and "
        "ending with a letter or digit, or an empty string [config/schema]",
    ),
    (
        "labels-value-syntax",
        "kubernetes_labels:\n  release: -prom\n",
        'obscompile.yaml:2:12: error: kubernetes_labels.release "-prom" is invalid: use '
        "at most 63 ASCII letters, digits, '-', '_' and '.', starting and ending with a letter "
        "or digit, or an empty string [config/schema]",
    ),
    (
        "tenants-space",
        "mimir_source_tenants: [team-a, team b]\n",
        'obscompile.yaml:1:32: error: mimir_source_tenants[1] "team b" is invalid: use '
        "at most 150 of the characters A-Z a-z 0-9 ! - _ . * ' ( ), and neither . nor "
        ".. [config/schema]",
    ),
    (
        "tenants-dot-dot",
        "mimir_source_tenants: ['..']\n",
        'obscompile.yaml:1:24: error: mimir_source_tenants[0] ".." is invalid: use at '
        "most 150 of the characters A-Z a-z 0-9 ! - _ . * ' ( ), and neither . nor .. "
        "[config/schema]",
    ),
    (
        "tenants-too-long",
        f"mimir_source_tenants: [{'t' * 151}]\n",
        # A value over 120 characters is quoted with its middle cut.
        f'obscompile.yaml:1:24: error: mimir_source_tenants[0] "{"t" * 75}...{"t" * 36}" '
        "is invalid: "
        "use at most 150 of the characters A-Z a-z 0-9 ! - _ . * ' ( ), and neither . "
        "nor .. [config/schema]",
    ),
    (
        "tenants-duplicate",
        "mimir_source_tenants: [a, b, a]\n",
        'obscompile.yaml:1:30: error: mimir_source_tenants lists "a" twice (first at '
        "index 0) [config/schema]",
    ),
    (
        "folder-prefix-slash",
        "terraform_folder_uid_prefix: obs/\n",
        'obscompile.yaml:1:30: error: terraform_folder_uid_prefix "obs/" is invalid: use '
        "only ASCII letters, digits, '-' and '_' [config/schema]",
    ),
    (
        "folder-prefix-too-long",
        f"terraform_folder_uid_prefix: {'p' * 28}\n",
        "obscompile.yaml:1:30: error: terraform_folder_uid_prefix must be at most 27 "
        "characters long [config/schema]",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_value(project: Path, text: str, expected: str) -> None:
    config, diagnostics = load(project, text)
    assert diagnostics == [expected]
    assert config == Config()


def test_every_key_has_invalid_case() -> None:
    keys = set(CONFIG_SCHEMA["properties"])
    covered = {
        key
        for _, text, _ in INVALID
        for key in keys
        if re.search(rf"^{key}:", text, re.MULTILINE)
    }
    assert keys - covered == set()


def test_all_schema_errors_in_one_run(project: Path) -> None:
    _, diagnostics = load(
        project, "grafana_ulr: x\nschema_version: 12\nalert_for: soon\n"
    )
    assert [d.split(": error: ")[0] for d in diagnostics] == [
        "obscompile.yaml:1:1",
        "obscompile.yaml:2:17",
        "obscompile.yaml:3:12",
    ]


def test_values_end_with_line_break(project: Path) -> None:
    """Each pattern rejects a final line break, which Python's `$` lets through."""
    _, diagnostics = load(
        project,
        'grafana_url: "http://grafana:3000\\n"\n'
        "grafana_dashboards_path: |\n  /var/lib/grafana/dashboards\n"
        'scrape_interval: "15s\\n"\n'
        'kubernetes_namespace: "monitoring\\n"\n'
        'kubernetes_labels: {"team\\n": "platform\\n"}\n'
        'mimir_source_tenants: ["tenant-1\\n"]\n'
        'terraform_folder_uid_prefix: "obs\\n"\n',
    )
    assert diagnostics == [
        f"obscompile.yaml:{position}: error: {field} {value} is invalid: it ends "
        "with a line break, which a YAML block scalar written | or > keeps; remove "
        "it, or write |- or >- [config/schema]"
        for position, field, value in [
            ("1:14", "grafana_url", '"http://grafana:3000\\n"'),
            ("2:26", "grafana_dashboards_path", '"/var/lib/grafana/dashboards\\n"'),
            ("4:18", "scrape_interval", '"15s\\n"'),
            ("5:23", "kubernetes_namespace", '"monitoring\\n"'),
            ("6:21", "kubernetes_labels key", '"team\\n"'),
            ("6:31", 'kubernetes_labels["team\\n"]', '"platform\\n"'),
            ("7:24", "mimir_source_tenants[0]", '"tenant-1\\n"'),
            ("8:30", "terraform_folder_uid_prefix", '"obs\\n"'),
        ]
    ]


def test_duplicate_key(project: Path) -> None:
    _, diagnostics = load(project, "alert_for: 5m\nalert_for: 10m\n")
    assert diagnostics == [
        'obscompile.yaml:2:1: error: duplicate key "alert_for" (first defined at line 1) '
        "[yaml/duplicate-key]"
    ]


def test_yaml_syntax_error(project: Path) -> None:
    _, diagnostics = load(project, "targets: [grafana\n")
    (message,) = diagnostics
    assert message.startswith("obscompile.yaml:1:18: error: invalid YAML")
    assert message.endswith("[yaml/syntax]")


def test_misnamed_file_warns(project: Path) -> None:
    (project / "obscompile.yml").write_text("grafana_url: http://g\n", encoding="utf-8")
    config, diagnostics, _ = load_config(project)
    assert config == Config()
    assert [str(d) for d in diagnostics] == [
        "obscompile.yml:1:1: warning: obscompile.yml is ignored: obscompile reads its "
        "configuration from obscompile.yaml; rename the file [config/file]"
    ]


def test_build_uses_config(project: Path) -> None:
    write_manifest(project, "payments.yaml", MANIFEST)
    write_config(project, "targets: [grafana]\nschema_version: 39\n")
    result = build(Project.at(project))
    assert result.ok
    assert sorted(result.files) == [
        "grafana/dashboards/payments.json",
        "grafana/provisioning/dashboards.yaml",
    ]
    assert '"schemaVersion": 39' in result.files["grafana/dashboards/payments.json"]


def test_build_stops_on_config_error(project: Path) -> None:
    write_manifest(project, "payments.yaml", MANIFEST)
    write_config(project, "grafana_ulr: http://localhost:3000\n")
    result = build(Project.at(project))
    assert not result.ok
    assert result.files == {}
    assert "obscompile.yaml" in result.sources


def test_build_reports_config_and_manifest_errors(project: Path) -> None:
    write_manifest(project, "payments.yaml", "service: payments\ndashbord: {}\n")
    write_config(project, "alert_for: soon\n")
    result = build(Project.at(project))
    assert [str(d.location) for d in result.diagnostics] == [
        "obscompile.yaml:1:12",
        "services/payments.yaml:2:1",
    ]


def test_cli_config_error(project: Path) -> None:
    write_manifest(project, "payments.yaml", MANIFEST)
    write_config(project, "targets: [grafana]\ngrafana_ulr: http://localhost:3000\n")
    result = CliRunner().invoke(main, ["build", "--project", str(project)])
    lines = result.output.splitlines()
    expected = (
        'obscompile.yaml:2:1: error: unknown key "grafana_ulr" in the configuration '
        '(did you mean "grafana_url"?) [config/schema]'
    )
    assert result.exit_code == 1
    assert expected in lines
    index = lines.index(expected)
    assert lines[index + 1] == "  grafana_ulr: http://localhost:3000"
    assert lines[index + 2] == "  ^"
    assert not (project / "out").exists()
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("targets", "counts"),
    [
        ("[prometheus]", "1 service, 0 dashboards, 0 panels in "),
        ("[grafana, prometheus]", "1 service, 1 dashboard, 1 panel in "),
    ],
)
def test_summary_counts_built_dashboards(
    project: Path, targets: str, counts: str
) -> None:
    """The summary counts the dashboards that the targets write, rebuilt or replayed."""
    write_manifest(project, "payments.yaml", MANIFEST)
    write_config(project, f"targets: {targets}\n")
    for run in ("build", "replay"):
        result = CliRunner().invoke(main, ["build", "--project", str(project)])
        assert result.exit_code == 0, result.output
        assert f"obscompile: {counts}" in result.output, run


def test_docs_list_every_key() -> None:
    text = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| `([a-z_]+)` \| ([^|]+) \|", text, re.MULTILINE)
    }
    assert set(rows) == set(CONFIG_SCHEMA["properties"])
    defaults = Config()
    for key in (
        "grafana_url",
        "grafana_dashboards_path",
        "schema_version",
        "alert_for",
    ):
        assert f"`{getattr(defaults, key)}`" in rows[key], key
    for key in (
        "evaluation_interval",
        "terraform_folder_uid_prefix",
        "kubernetes_namespace",
    ):
        assert f"`{getattr(defaults, key)}`" in rows[key], key
    for target in defaults.targets:
        assert target in rows["targets"]


@pytest.mark.parametrize(
    "targets", ["[prometheus]", "[prometheus, kubernetes, mimir]", "[grafana]"]
)
def test_target_subsets_build(tmp_path: Path, targets: str) -> None:
    shutil.copytree(REPO / "services", tmp_path / "services")
    write_config(tmp_path, f"targets: {targets}\n")
    result = build(Project.at(tmp_path))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    roots = {name.split("/", 1)[0] for name in result.files}
    assert roots == set(targets.strip("[]").split(", "))


@pytest.mark.parametrize(
    ("arguments", "file"),
    [([], "manifest.schema.json"), (["--config"], "config.schema.json")],
)
def test_committed_schema_is_current(arguments: list[str], file: str) -> None:
    """schema/ contains what `obscompile schema` prints, for editors to read."""
    result = CliRunner().invoke(main, ["schema", *arguments])
    assert result.exit_code == 0, result.output
    assert result.output == (REPO / "schema" / file).read_text(encoding="utf-8")
