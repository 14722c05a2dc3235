"""The patterns of both JSON Schemas: whole values only, in Python and in editors.

Editors read a JSON Schema `pattern` as an ECMA-262 regular expression, and the
loader reads it with Python's `re`, whose `$` also matches before a final line break.
Every pattern must reject a valid value with a line break appended, in both engines.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from obscompile.load.config import CONFIG_SCHEMA
from obscompile.load.schema import MANIFEST, REFRESH_PATTERN

# One valid value for each field with a pattern, keyed by the field's path without
# the schema's own levels (properties, items, anyOf and allOf branches).
EXAMPLES = {
    "manifest/service_key": "payments-v2",
    "manifest/dashboard/uid": "payments-v2",
    "manifest/scrape/path": "/metrics",
    "manifest/scrape/probe/module": "http_2xx",
    "manifest/scrape/labels/propertyNames": "team",
    "manifest/alerts/labels/propertyNames": "priority",
    "manifest/alerts/annotations/propertyNames": "runbook_url",
    "manifest/rows/panels/alert/labels/propertyNames": "priority",
    "manifest/rows/panels/alert/annotations/propertyNames": "runbook_url",
    "manifest/dashboard/refresh": "30s",
    "manifest/dashboard/time": "now-7d/d",
    "manifest/scrape/job": "billing-worker",
    "manifest/scrape/interval": "1h30m",
    "manifest/scrape/interval/not": "0s",
    "manifest/scrape/timeout": "10s",
    "manifest/scrape/timeout/not": "0m0s",
    "manifest/alerts/for": "5m",
    "manifest/metrics/propertyNames": "http_requests_total",
    "manifest/metrics/labels": "code",
    "manifest/metrics/labels/not": "__code",
    "manifest/rows/panels/alert/name": "PaymentsErrors",
    "manifest/rows/panels/alert/for": "15m",
    "config/grafana_url": "https://grafana.example.com/sub",
    "config/grafana_dashboards_path": "/var/lib/grafana/dashboards",
    "config/alert_for": "0",
    "config/evaluation_interval": "1m",
    "config/evaluation_interval/not": "0",
    "config/scrape_interval": "15s",
    "config/scrape_interval/not": "0s",
    "config/scrape_timeout": "10s",
    "config/scrape_timeout/not": "00ms",
    "config/kubernetes_namespace": "monitoring",
    "config/kubernetes_labels/propertyNames": "example.com/team",
    "config/kubernetes_labels": "platform",
    "config/mimir_source_tenants": "tenant-1",
    "config/terraform_folder_uid_prefix": "obs_",
}

_SCHEMA_LEVELS = re.compile(
    r"/(?:properties|items|additionalProperties|(?:anyOf|allOf)/\d+)"
)


def _patterns(node: Any, pointer: str) -> Iterator[tuple[str, str]]:
    """Yield the JSON pointer and text of every `pattern` under `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield pointer, value
            else:
                yield from _patterns(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _patterns(value, f"{pointer}/{index}")


PATTERNS = [
    (pointer, _SCHEMA_LEVELS.sub("", pointer), pattern)
    for name, schema in (("manifest", MANIFEST), ("config", CONFIG_SCHEMA))
    for pointer, pattern in _patterns(schema, name)
]


def test_every_pattern_has_example() -> None:
    assert {field for _, field, _ in PATTERNS} == set(EXAMPLES)


@pytest.mark.parametrize(
    ("field", "pattern"),
    [(field, pattern) for _, field, pattern in PATTERNS],
    ids=[pointer for pointer, _, _ in PATTERNS],
)
def test_pattern_rejects_final_line_break(field: str, pattern: str) -> None:
    example = EXAMPLES[field]
    assert re.search(pattern, example)
    assert re.search(pattern, example + "\n") is None
    assert re.search(pattern, example + "\n\n") is None


def _ecma262_matches(cases: list[tuple[str, str]]) -> list[bool]:
    """Return whether each (pattern, value) matches in node's ECMA-262 engine.

    Node compiles each pattern with the u flag, as editors do.
    """
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "the schema pattern tests need node on PATH; install Node.js 20 or later",
            pytrace=False,
        )
    script = (
        "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n"
        "const results = cases.map(([pattern, value]) => "
        "new RegExp(pattern, 'u').test(value));\n"
        "process.stdout.write(JSON.stringify(results));\n"
    )
    result = subprocess.run(
        [node, "-e", script],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_patterns_in_ecma262() -> None:
    cases = []
    for _, field, pattern in PATTERNS:
        cases += [(pattern, EXAMPLES[field]), (pattern, EXAMPLES[field] + "\n")]
    results = dict(zip(cases, _ecma262_matches(cases), strict=True))
    assert results == {case: not case[1].endswith("\n") for case in cases}


# Refresh texts that Grafana saves: "", "auto", a count of d, w, M or y
# (gtime.ParseDuration), or a Go duration (time.ParseDuration). The check
# dashboard/refresh judges their value.
GRAFANA_REFRESHES = [
    "",
    "auto",
    "30s",
    "1d",
    "1w",
    "1M",
    "1y",
    "0",
    "+0",
    "-0",
    "1m30s",
    "1h1h",
    "30s1m",
    "1.5h",
    "1.s",
    ".5m",
    "-1m",
    "+1m",
    "500ms",
    "5000000us",
    "5000000\u00b5s",
    "5000000\u03bcs",
    "100ns",
]
# Texts that Grafana fails to parse and replaces with min_refresh_interval.
NOT_GRAFANA_REFRESHES = [
    "30",
    "00",
    "1m30",
    "1.5d",
    "1d12h",
    "12h1d",
    "1W",
    "1mo",
    "AUTO",
    "1 m",
    " 1m",
    ".s",
    "-",
    "+-1m",
    "1e3s",
    "1,5s",
]


@pytest.mark.parametrize("text", GRAFANA_REFRESHES)
def test_refresh_grafana_saves(text: str) -> None:
    assert re.search(REFRESH_PATTERN, text)


@pytest.mark.parametrize("text", NOT_GRAFANA_REFRESHES)
def test_refresh_grafana_replaces(text: str) -> None:
    assert re.search(REFRESH_PATTERN, text) is None


def test_refresh_pattern_in_ecma262() -> None:
    texts = GRAFANA_REFRESHES + NOT_GRAFANA_REFRESHES
    found = _ecma262_matches([(REFRESH_PATTERN, text) for text in texts])
    assert dict(zip(texts, found, strict=True)) == {
        text: text in GRAFANA_REFRESHES for text in texts
    }
