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
from obscompile.load.schema import MANIFEST

# One valid value for each field with a pattern, keyed by the field's path without
# the schema's own levels (properties, items, anyOf branches).
EXAMPLES = {
    "manifest/service_key": "payments-v2",
    "manifest/dashboard/refresh": "30s",
    "manifest/dashboard/time": "now-7d/d",
    "manifest/scrape/job": "billing-worker",
    "manifest/scrape/interval": "1h30m",
    "manifest/scrape/timeout": "10s",
    "manifest/alerts/for": "5m",
    "manifest/metrics/propertyNames": "http_requests_total",
    "manifest/metrics/labels": "code",
    "manifest/rows/panels/alert/name": "PaymentsErrors",
    "manifest/rows/panels/alert/for": "15m",
    "config/grafana_url": "https://grafana.example.com/sub",
    "config/grafana_dashboards_path": "/var/lib/grafana/dashboards",
    "config/alert_for": "0",
    "config/evaluation_interval": "1m",
    "config/scrape_interval": "15s",
    "config/scrape_timeout": "10s",
    "config/kubernetes_namespace": "monitoring",
    "config/kubernetes_labels/propertyNames": "example.com/team",
    "config/kubernetes_labels": "platform",
    "config/mimir_source_tenants": "tenant-1",
    "config/terraform_folder_uid_prefix": "obs_",
}

_SCHEMA_LEVELS = re.compile(r"/(?:properties|items|additionalProperties|anyOf/\d+)")


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


def test_patterns_in_ecma262() -> None:
    """Node compiles each pattern as editors do, with the u flag, and agrees."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "the schema pattern test needs node on PATH; install Node.js 20 or later",
            pytrace=False,
        )
    cases = [[pattern, EXAMPLES[field]] for _, field, pattern in PATTERNS]
    script = (
        "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n"
        "const results = cases.map(([pattern, value]) => {\n"
        "  const expression = new RegExp(pattern, 'u');\n"
        "  return [expression.test(value), expression.test(value + '\\n')];\n"
        "});\n"
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
    pointers = [pointer for pointer, _, _ in PATTERNS]
    results = dict(zip(pointers, json.loads(result.stdout), strict=True))
    assert results == {pointer: [True, False] for pointer, _, _ in PATTERNS}
