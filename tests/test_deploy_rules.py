"""PrometheusRule objects and Mimir namespaces: the rule files' groups, wrapped."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml as pyyaml
from ruamel.yaml import YAML
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from obscompile import pipeline
from obscompile.config import Config
from obscompile.pipeline import EmitContext, Project, build
from obscompile.render.environment import make_environment
from obscompile.render.kubernetes import (
    emit_prometheus_rules,
    object_name,
    object_names,
)
from obscompile.render.mimir import emit_mimir_namespaces
from obscompile.render.rule_files import RuleFileError, parse_rule_file
from obscompile.write.atomic import write_tree
from tests.conftest import REPO

DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)

# A rule file as the prometheus target writes them, with the strings that YAML and
# templates trip over: Go templates, quotes, backslashes, ": ", a multi-line
# expression, and label values that YAML 1.1 reads as booleans or numbers.
PAYMENTS_RULES = r"""groups:
  - name: payments.recording
    interval: 1m
    rules:
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(http_requests_total{job="payments"}[5m]))
      - record: job:http_request_errors_per_requests:ratio_rate5m
        expr: |-
          sum by (job) (rate(http_requests_total{job="payments",code=~"5.."}[5m]))
            / sum by (job) (rate(http_requests_total{job="payments"}[5m]))
  - name: payments.alerts
    interval: 1m
    rules:
      - alert: PaymentsHighErrorRate
        expr: job:http_request_errors_per_requests:ratio_rate5m{job="payments"} >= 0.05
        for: 5m
        keep_firing_for: 1m
        labels:
          severity: critical
          service: payments
          dashboard_uid: payments
          panel_id: "3"
          paged: "yes"
          window: "1:30"
        annotations:
          summary: 'Error rate on {{ $labels.job }}: {{ $value | humanizePercentage }}'
          description: "Panel \"Error Rate\" turns red at 5%: C:\\temp, # not a comment"
          dashboard: "http://localhost:3000/d/payments?viewPanel=3"
          runbook: |
            1. Check the deploys.
            2. Roll back.
"""

CHECKOUT_RULES = """groups:
  - name: checkout-v2.recording
    rules:
      - record: job:checkout_orders:rate5m
        expr: sum by (job) (rate(checkout_orders_total[5m]))
"""

RULE_FILES = {
    "prometheus/rules/payments.rules.yml": PAYMENTS_RULES,
    "prometheus/rules/checkout-v2.rules.yml": CHECKOUT_RULES,
}
CONFIGURED = Config(
    kubernetes_namespace="observability",
    kubernetes_labels=(
        ("release", "kube-prometheus-stack"),
        ("example.com/team", "payments"),
    ),
    mimir_source_tenants=("team-a", "team-b"),
)


class TextSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "txt"


@pytest.fixture
def text_snapshot(snapshot):
    return snapshot.use_extension(TextSnapshot)


def load_yaml(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


def emit(config: Config, files: dict[str, str] | None = None) -> dict[str, str]:
    context = EmitContext(
        Project.at(REPO), config, (), make_environment(None), dict(files or RULE_FILES)
    )
    return {**emit_prometheus_rules(context), **emit_mimir_namespaces(context)}


def rule_groups(files: dict[str, str], service: str) -> list[dict[str, Any]]:
    return load_yaml(files[f"prometheus/rules/{service}.rules.yml"])["groups"]


def without_tenants(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in group.items() if k != "source_tenants"} for group in groups
    ]


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found: install the Debian package prometheus "
            "(apt-get install prometheus, version 2.42)"
        )
    return path


def check_rules(
    groups: list[dict[str, Any]], folder: Path
) -> subprocess.CompletedProcess[str]:
    """Write `groups` as a plain rule file and run `promtool check rules` on it."""
    path = folder / "groups.rules.yml"
    path.write_text(
        pyyaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8"
    )
    return subprocess.run(
        [promtool(), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- The emitters on a hand-written rule file ---------------------------------------

OUTPUTS = [
    "kubernetes/checkout-v2.prometheusrule.yaml",
    "kubernetes/payments.prometheusrule.yaml",
    "mimir/checkout-v2.yaml",
    "mimir/payments.yaml",
]


def test_emitted_paths() -> None:
    assert sorted(emit(Config())) == OUTPUTS


def path_id(name: object) -> str:
    return str(name).replace("/", "-")


@pytest.mark.parametrize("name", OUTPUTS, ids=path_id)
@pytest.mark.parametrize("configured", [False, True], ids=["defaults", "configured"])
def test_fixture_snapshot(name: str, configured: bool, text_snapshot) -> None:
    files = emit(CONFIGURED if configured else Config())
    assert files[name] == text_snapshot


@pytest.mark.parametrize(
    "config", [Config(), CONFIGURED], ids=["defaults", "configured"]
)
@pytest.mark.parametrize("service", ["payments", "checkout-v2"])
def test_groups_equal_rule_file(config: Config, service: str) -> None:
    files = emit(config)
    expected = rule_groups(RULE_FILES, service)
    rule = load_yaml(files[f"kubernetes/{service}.prometheusrule.yaml"])
    namespace = load_yaml(files[f"mimir/{service}.yaml"])
    assert rule["spec"]["groups"] == expected
    assert without_tenants(namespace["groups"]) == expected


def test_yaml_11_reads_the_same() -> None:
    # kubectl decodes YAML 1.1 style; PyYAML does too.
    for name, text in emit(CONFIGURED).items():
        assert pyyaml.safe_load(text) == load_yaml(text), name


def test_prometheusrule_metadata() -> None:
    files = emit(CONFIGURED)
    rule = load_yaml(files["kubernetes/payments.prometheusrule.yaml"])
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["kind"] == "PrometheusRule"
    assert rule["metadata"] == {
        "name": "payments-rules",
        "namespace": "observability",
        "labels": {"release": "kube-prometheus-stack", "example.com/team": "payments"},
    }
    assert set(rule) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(rule["spec"]) == {"groups"}


def test_prometheusrule_without_labels() -> None:
    rule = load_yaml(emit(Config())["kubernetes/payments.prometheusrule.yaml"])
    assert rule["metadata"] == {"name": "payments-rules", "namespace": "monitoring"}


def test_mimir_namespace_and_tenants() -> None:
    namespace = load_yaml(emit(CONFIGURED)["mimir/payments.yaml"])
    assert namespace["namespace"] == "payments"
    assert set(namespace) == {"namespace", "groups"}
    for group in namespace["groups"]:
        assert group["source_tenants"] == ["team-a", "team-b"]
        assert list(group).index("source_tenants") < list(group).index("rules")


def test_mimir_header_federation_flags() -> None:
    """The header names every flag that docs/configuration.md lists for Mimir."""
    row = next(
        line
        for line in (REPO / "docs" / "configuration.md").read_text().splitlines()
        if line.startswith("| `mimir_source_tenants`")
    )
    flags = re.findall(r"`(-[a-z.-]+=true)`", row)
    assert len(flags) == 2
    header = emit(CONFIGURED)["mimir/payments.yaml"].split("\nnamespace:")[0]
    for flag in flags:
        assert re.search(rf"(?<![\w.]){re.escape(flag)}", header), flag


def test_mimir_without_tenants() -> None:
    namespace = load_yaml(emit(Config())["mimir/payments.yaml"])
    for group in namespace["groups"]:
        assert "source_tenants" not in group
    assert "source_tenants" not in emit(Config())["mimir/payments.yaml"]


@pytest.mark.parametrize(
    "config", [Config(), CONFIGURED], ids=["defaults", "configured"]
)
def test_promtool_accepts_groups(config: Config, tmp_path: Path) -> None:
    files = emit(config)
    for service in ("payments", "checkout-v2"):
        rule = load_yaml(files[f"kubernetes/{service}.prometheusrule.yaml"])
        namespace = load_yaml(files[f"mimir/{service}.yaml"])
        for groups in (rule["spec"]["groups"], without_tenants(namespace["groups"])):
            result = check_rules(groups, tmp_path)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "SUCCESS" in result.stdout


def test_promtool_rejects_tenants(tmp_path: Path) -> None:
    # source_tenants is Mimir's own field; promtool 2.42 decodes strictly.
    namespace = load_yaml(emit(CONFIGURED)["mimir/payments.yaml"])
    result = check_rules(namespace["groups"], tmp_path)
    assert result.returncode != 0
    assert "source_tenants" in result.stdout + result.stderr


def test_other_files_ignored() -> None:
    files = {
        **RULE_FILES,
        "prometheus/prometheus.yml": "global: {}\n",
        "prometheus/tests/payments.test.yml": "tests: []\n",
        "prometheus/rules/nested/x.rules.yml": "groups: []\n",
    }
    assert sorted(emit(Config(), files)) == OUTPUTS


def test_no_rule_files() -> None:
    assert emit(Config(), {"grafana/dashboards/a.json": "{}"}) == {}


REJECTED = [
    (
        "query-offset",
        "groups:\n  - name: a\n    query_offset: 1m\n    rules: []\n",
        "query_offset",
    ),
    (
        "group-labels",
        "groups:\n  - name: a\n    labels: {team: a}\n    rules: []\n",
        "labels",
    ),
    (
        "rule-field",
        "groups:\n  - name: a\n    rules:\n      - {record: 'a:b', expr: up, extra: 1}\n",
        "extra",
    ),
    ("namespace", "namespace: a\ngroups: []\n", "single key groups"),
    ("not-yaml", "groups: [\n", "invalid YAML"),
    ("no-name", "groups:\n  - rules: []\n", "with a name"),
]


@pytest.mark.parametrize(
    ("text", "fragment"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED]
)
def test_rule_file_rejected(text: str, fragment: str) -> None:
    with pytest.raises(RuleFileError, match=re.escape(fragment)):
        parse_rule_file("prometheus/rules/a.rules.yml", text)


OBJECT_NAMES = [
    ("underscore", "auth_server", "auth-server-rules"),
    ("upper", "Checkout_V2", "checkout-v2-rules"),
    ("dots", "a.b", "a-b-rules"),
    ("edges", "_x_", "x-rules"),
]


@pytest.mark.parametrize(
    ("service", "expected"),
    [c[1:] for c in OBJECT_NAMES],
    ids=[c[0] for c in OBJECT_NAMES],
)
def test_object_name(service: str, expected: str) -> None:
    assert object_name(service) == expected


def test_object_name_without_ascii() -> None:
    name = object_name("Платежи")
    assert DNS1123_SUBDOMAIN.match(name)
    assert name.startswith("svc-")
    assert name.endswith("-rules")


def test_object_name_length() -> None:
    name = object_name("x" * 400)
    assert len(name) <= 253
    assert DNS1123_SUBDOMAIN.match(name)


def test_object_names_clash() -> None:
    names = object_names(["auth_server", "auth-server", "portfolio"])
    assert names["portfolio"] == "portfolio-rules"
    assert names["auth_server"] != names["auth-server"]
    for name in names.values():
        assert DNS1123_SUBDOMAIN.match(name)
        assert name.endswith("-rules")


# --- The repository's build ----------------------------------------------------------


def test_emitter_order() -> None:
    order = [emitter.__name__ for _, emitter in pipeline.EMITTERS]
    targets = [target for target, _ in pipeline.EMITTERS]
    assert order.index("emit_dashboards") < order.index("emit_provisioning")
    assert order.index("emit_dashboards") < order.index("emit_terraform")
    if "prometheus" in targets:
        first_prometheus = targets.index("prometheus")
        assert first_prometheus < targets.index("kubernetes")
        assert first_prometheus < targets.index("mimir")


def _repo_files() -> dict[str, str]:
    cwd = Path.cwd()
    os.chdir(REPO)
    try:
        result = build(Project.at(REPO))
    finally:
        os.chdir(cwd)
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    return result.files


REPO_FILES = _repo_files()
NO_RULES = pytest.param(
    None,
    marks=pytest.mark.skip(reason="the build wrote no prometheus/rules/ files to wrap"),
)


def _wrapped(prefix: str) -> list[Any]:
    names = sorted(name for name in REPO_FILES if name.startswith(prefix))
    return names or [NO_RULES]


@pytest.fixture(scope="module")
def repo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("repo") / "out"
    write_tree(out, REPO_FILES)
    return out


@pytest.mark.parametrize(
    "name", _wrapped("kubernetes/") + _wrapped("mimir/"), ids=path_id
)
def test_repo_snapshot(name: str, repo_out: Path, text_snapshot) -> None:
    assert (repo_out / name).read_text(encoding="utf-8") == text_snapshot


def test_repo_wraps_every_rule_file() -> None:
    services = sorted(
        name.removeprefix("prometheus/rules/").removesuffix(".rules.yml")
        for name in REPO_FILES
        if name.startswith("prometheus/rules/")
    )
    assert sorted(n for n in REPO_FILES if n.startswith("kubernetes/")) == [
        f"kubernetes/{s}.prometheusrule.yaml" for s in services
    ]
    assert sorted(n for n in REPO_FILES if n.startswith("mimir/")) == [
        f"mimir/{s}.yaml" for s in services
    ]


@pytest.mark.parametrize("name", _wrapped("kubernetes/"), ids=path_id)
def test_repo_prometheusrule_groups(name: str, repo_out: Path) -> None:
    service = Path(name).name.removesuffix(".prometheusrule.yaml")
    rule = load_yaml((repo_out / name).read_text())
    assert rule["spec"]["groups"] == rule_groups(REPO_FILES, service)
    assert rule["metadata"]["labels"] == {"release": "kube-prometheus-stack"}
    assert DNS1123_SUBDOMAIN.match(rule["metadata"]["name"])
    assert pyyaml.safe_load((repo_out / name).read_text()) == rule


@pytest.mark.parametrize("name", _wrapped("mimir/"), ids=path_id)
def test_repo_mimir_groups(name: str, repo_out: Path, tmp_path: Path) -> None:
    service = Path(name).stem
    namespace = load_yaml((repo_out / name).read_text())
    assert namespace["namespace"] == service
    assert without_tenants(namespace["groups"]) == rule_groups(REPO_FILES, service)
    result = check_rules(without_tenants(namespace["groups"]), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
