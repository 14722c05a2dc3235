"""Where findings in blocks and in the values that a block gets are placed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from obscompile.cli import main
from obscompile.diagnostics import Diagnostic, error
from obscompile.model.location import BlockUse, Location
from obscompile.pipeline import Project, build
from obscompile.report import format_github, format_json, format_text
from tests.conftest import write_manifest

# Line 7 has a metric name typo at column 45 (the quote of the query is at 28).
QUEUE_BLOCK = """\
from obscompile import dsl


@dsl.block("queue_row")
def queue_row(job: str, title: str = "Queues"):
    return dsl.row(title, [
        dsl.panel("Depth", 'sum by (queue) (queue_depht)'),
        dsl.panel("Up", f'up{{job="{job}"}}'),
    ])


@dsl.block("outer_row")
def outer_row(job: str):
    return dsl.use("queue_row", job=job)
"""

CATALOG = """\
scrape: {job: api, port: 8080}
metrics:
  queue_depth: {type: gauge, help: Depth, labels: [queue]}
"""

TYPO_MESSAGE = (
    'metric "queue_depht" is not in the catalog of service "api" or of any other '
    'service; did you mean "queue_depth"?'
)


def _write_block(project: Path) -> None:
    (project / "blocks").mkdir()
    (project / "blocks" / "team.py").write_text(QUEUE_BLOCK, encoding="utf-8")


def _write_use(project: Path, block: str, job: str) -> None:
    """Write services/api.yaml, which uses `block` on line 6 with `job` on line 7."""
    write_manifest(
        project,
        "api.yaml",
        "service: api\n"
        + CATALOG
        + f"rows:\n  - use: {block}\n    with: {{job: {job}}}\n",
    )


def _findings(project: Path, check: str) -> list[Diagnostic]:
    result = build(Project.at(project))
    return [d for d in result.diagnostics if d.check == check]


def test_yaml_use_finding_in_block_file(project: Path) -> None:
    _write_block(project)
    _write_use(project, "queue_row", "api")
    (found,) = _findings(project, "promql/unknown-metric")
    assert found.location == Location(
        "blocks/team.py",
        7,
        45,
        BlockUse("queue_row", Location("services/api.yaml", 6, 5)),
    )
    assert found.message == TYPO_MESSAGE
    assert str(found) == (
        f'blocks/team.py:7:45: error: {TYPO_MESSAGE} (in block "queue_row" used at '
        "services/api.yaml:6:5) [promql/unknown-metric]"
    )


def test_python_use_finding_in_block_file(project: Path) -> None:
    _write_block(project)
    write_manifest(
        project,
        "api.py",
        "from obscompile import dsl\n\n"
        "dsl.service(\n"
        '    "api",\n'
        '    scrape=dsl.scrape_job("api", port=8080),\n'
        '    metrics=[dsl.gauge("queue_depth", "Depth", ["queue"])],\n'
        '    rows=[dsl.use("queue_row", job="api")],\n'
        ")\n",
    )
    (found,) = _findings(project, "promql/unknown-metric")
    assert found.location == Location(
        "blocks/team.py",
        7,
        45,
        BlockUse("queue_row", Location("services/api.py", 7, 11)),
    )


def test_each_use_gets_its_finding(project: Path) -> None:
    """A block used by two services gets one finding per use, each naming its use."""
    _write_block(project)
    for name in ("api", "web"):
        write_manifest(
            project,
            f"{name}.yaml",
            f"service: {name}\n"
            + CATALOG.replace("api", name)
            + f"rows:\n  - use: queue_row\n    with: {{job: {name}}}\n",
        )
    found = _findings(project, "promql/unknown-metric")
    assert [str(d.location) for d in found] == ["blocks/team.py:7:45"] * 2
    assert [d.location.uses() for d in found] == [
        [BlockUse("queue_row", Location("services/api.yaml", 6, 5))],
        [BlockUse("queue_row", Location("services/web.yaml", 6, 5))],
    ]


def test_block_inside_block_names_both_uses(project: Path) -> None:
    _write_block(project)
    _write_use(project, "outer_row", "api")
    (found,) = _findings(project, "promql/unknown-metric")
    assert str(found.location) == "blocks/team.py:7:45"
    assert found.location.uses() == [
        BlockUse(
            "queue_row",
            Location(
                "blocks/team.py",
                14,
                12,
                BlockUse("outer_row", Location("services/api.yaml", 6, 5)),
            ),
        ),
        BlockUse("outer_row", Location("services/api.yaml", 6, 5)),
    ]


def test_text_report_shows_use_line(project: Path) -> None:
    _write_block(project)
    _write_use(project, "queue_row", "api")
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"blocks/team.py:7:45: error: {TYPO_MESSAGE} [promql/unknown-metric]\n"
        "          dsl.panel(\"Depth\", 'sum by (queue) (queue_depht)'),\n"
        "                                              ^\n"
        'services/api.yaml:6:5: note: block "queue_row" is used here\n'
        "    - use: queue_row\n"
        "      ^\n"
    )


def test_cached_build_shows_use_line(project: Path) -> None:
    """A build that replays the last one prints the same notes and source lines."""
    _write_block(project)
    _write_use(project, "queue_row", "api")
    outputs = []
    for _ in range(2):
        result = CliRunner().invoke(main, ["build"])
        assert result.exit_code == 1
        outputs.append(re.sub(r" in \d+\.\d+s.*", "", result.stderr))
    assert 'services/api.yaml:6:5: note: block "queue_row" is used here' in outputs[0]
    assert outputs[1] == outputs[0]


BLOCK_USE = BlockUse(
    "inner",
    Location(
        "blocks/outer.py", 2, 12, BlockUse("outer", Location("services/a.yaml", 3, 5))
    ),
)
SOURCES = {
    "blocks/inner.py": "x = 1\nquery = 'up{'\n",
    "blocks/outer.py": "def outer():\n    return dsl.use('inner')\n",
    "services/a.yaml": "service: a\nrows:\n  - use: outer\n",
}
IN_BLOCK = [
    error(Location("blocks/inner.py", 2, 10, BLOCK_USE), "bad query", "promql/syntax")
]


def test_text_format_notes_each_use() -> None:
    assert format_text(IN_BLOCK, SOURCES) == (
        "blocks/inner.py:2:10: error: bad query [promql/syntax]\n"
        "  query = 'up{'\n"
        "           ^\n"
        'blocks/outer.py:2:12: note: block "inner" is used here\n'
        "      return dsl.use('inner')\n"
        "             ^\n"
        'services/a.yaml:3:5: note: block "outer" is used here\n'
        "    - use: outer\n"
        "      ^\n"
    )


def test_json_format_lists_uses() -> None:
    (item,) = json.loads(format_json(IN_BLOCK, SOURCES))
    assert item["file"] == "blocks/inner.py"
    assert item["used_at"] == [
        {"block": "inner", "file": "blocks/outer.py", "line": 2, "column": 12},
        {"block": "outer", "file": "services/a.yaml", "line": 3, "column": 5},
    ]


def test_github_format_names_uses() -> None:
    assert format_github(IN_BLOCK, SOURCES) == (
        "::error file=blocks/inner.py,line=2,col=10,title=promql/syntax::bad query "
        '(in block "inner" used at blocks/outer.py:2:12, in block "outer" used at '
        "services/a.yaml:3:5)\n"
    )


HTTP_SERVICE = """\
service: api
scrape: {job: api, port: 8080}
metric_blocks: [{use: http_metrics}]
rows:
  - use: http_api_health
"""


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("    with: {job: apii}\n", "6:17"),
        ("    with:\n      title: Health\n      job: apii\n", "8:12"),
        ('    with:\n      job: "apii"\n', "7:12"),
        ("    with:\n      job: >-\n        apii\n", "7:12"),
    ],
    ids=["flow", "block", "quoted", "folded"],
)
def test_http_block_job_typo_at_value(
    project: Path, written: str, expected: str
) -> None:
    write_manifest(project, "api.yaml", HTTP_SERVICE + written)
    found = _findings(project, "promql/job-matcher")
    assert [str(d) for d in found] == [
        f'services/api.yaml:{expected}: error: job "apii" is not a scrape job of '
        'service "api"; did you mean "api"? [promql/job-matcher]'
    ]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("    with: {buckets: [0.1, 0.05, 1]}\n", "5:27"),
        ("    with:\n      buckets:\n        - 0.1\n        - 0.05\n", "8:11"),
    ],
    ids=["flow", "block"],
)
def test_block_bucket_at_bound(project: Path, written: str, expected: str) -> None:
    """A finding on a bucket that a block argument gives points at the bound."""
    text = HTTP_SERVICE.replace(
        "metric_blocks: [{use: http_metrics}]\n",
        "metric_blocks:\n  - use: http_metrics\n" + written,
    )
    write_manifest(project, "api.yaml", text)
    found = _findings(project, "instrument/buckets")
    assert [str(d.location) for d in found] == [f"services/api.yaml:{expected}"]


def test_project_block_job_typo_at_value(project: Path) -> None:
    _write_block(project)
    _write_use(project, "outer_row", "apx")
    found = _findings(project, "promql/job-matcher")
    assert [str(d.location) for d in found] == ["services/api.yaml:7:17"]
    assert found[0].location.uses() == []


def test_python_block_job_typo_at_argument(project: Path) -> None:
    write_manifest(
        project,
        "api.py",
        "from obscompile import dsl\n\n"
        'dsl.service("api", scrape=dsl.scrape_job("api", port=80), rows=[\n'
        '    dsl.use("http_api_health", job="apii"),\n'
        "])\n",
    )
    found = _findings(project, "promql/job-matcher")
    assert [str(d.location) for d in found] == ["services/api.py:4:36"]


def test_job_regex_typo_at_its_alternative(project: Path) -> None:
    """A finding inside a regex argument is placed at its character in the value."""
    _write_block(project)
    block = project / "blocks" / "team.py"
    block.write_text(QUEUE_BLOCK.replace('up{{job="', 'up{{job=~"'), encoding="utf-8")
    write_manifest(
        project,
        "api.yaml",
        "service: api\n"
        + CATALOG
        + "rows:\n  - use: queue_row\n    with: {job: 'api|apx', title: Q}\n",
    )
    found = _findings(project, "promql/job-matcher")
    assert [str(d.location) for d in found] == ["services/api.yaml:7:22"]


def test_threshold_argument_finding_at_value(project: Path) -> None:
    write_manifest(
        project,
        "api.yaml",
        HTTP_SERVICE
        + "    with:\n      job: api\n"
        + '      request_rate_thresholds: "<5ms Green, >5ms Red"\n',
    )
    found = _findings(project, "thresholds/unit")
    assert [str(d.location) for d in found] == ["services/api.yaml:8:32"]


def test_changed_panel_keeps_block_position(project: Path) -> None:
    """A `panels:` entry places the keys it writes and keeps the block's others."""
    _write_block(project)
    write_manifest(
        project,
        "api.yaml",
        "service: api\n"
        + CATALOG
        + "rows:\n  - use: queue_row\n    with: {job: api}\n"
        + "    panels:\n      - {title: Depth, unit: short}\n",
    )
    (found,) = _findings(project, "promql/unknown-metric")
    assert str(found.location) == "blocks/team.py:7:45"


# A project block that writes its `limit` argument into a threshold text.
LIMIT_BLOCK = """\
from obscompile import dsl


@dsl.block("limit_row")
def limit_row(query: str, limit: object):
    return dsl.row("Limits", [
        dsl.panel("Value", query, thresholds=f"<{limit} Green, >{limit} Red"),
    ])
"""

LIMIT_CATALOG = """\
scrape: {job: api, port: 8080}
metrics:
  queue_depth: {type: gauge, help: Depth}
  http_requests_total: {type: counter, help: Requests, labels: [code]}
"""

DEPTH = "sum(queue_depth)"
# The share of failed requests, whose unit is percentunit (0 to 1).
RATIO = (
    'sum(rate(http_requests_total{code=~"5.."}[5m])) / '
    "sum(rate(http_requests_total[5m]))"
)
DURATION_ON_SHORT = (
    "error: threshold 2s is a duration, but the query's unit is unknown (unit "
    "short); set unit: to the time unit of the query, such as s or ms, if it gives "
    "durations [thresholds/unit]"
)
BARE_ON_RATIO = (
    "warning: threshold 70 is 7000%, because the query gives ratios from 0 to 1 "
    "(unit percentunit); write 70% for 70 percent [thresholds/unit]"
)


def _inline_thresholds(query: str, limit: str) -> tuple[str, str]:
    """Return a manifest whose panel writes `limit` in its thresholds on line 11."""
    text = (
        "service: api\n"
        + LIMIT_CATALOG
        + "rows:\n  - title: Limits\n    panels:\n"
        + f"      - title: Value\n        query: '{query}'\n"
        + f'        thresholds: "<{limit} Green, >{limit} Red"\n'
    )
    return "api.yaml", text


def _yaml_argument(query: str, limit: str) -> tuple[str, str]:
    """Return a manifest that passes `limit` to limit_row on line 10."""
    text = (
        "service: api\n"
        + LIMIT_CATALOG
        + "rows:\n  - use: limit_row\n    with:\n"
        + f"      query: '{query}'\n      limit: {limit}\n"
    )
    return "api.yaml", text


def _python_argument(query: str, limit: str) -> tuple[str, str]:
    """Return a Python manifest that passes `limit` to limit_row on line 9."""
    text = (
        "from obscompile import dsl\n\n"
        "dsl.service(\n"
        '    "api",\n'
        '    scrape=dsl.scrape_job("api", port=8080),\n'
        '    metrics=[dsl.gauge("queue_depth"), '
        'dsl.counter("http_requests", labels=["code"])],\n'
        "    rows=[dsl.use(\n"
        f"        'limit_row', query='{query}',\n"
        f"        limit={limit})],\n"
        ")\n"
    )
    return "api.py", text


@pytest.mark.parametrize(
    ("manifest", "query", "limit", "expected"),
    [
        (
            _inline_thresholds,
            DEPTH,
            "2s",
            f"services/api.yaml:11:34: {DURATION_ON_SHORT}",
        ),
        (_yaml_argument, DEPTH, "2s", f"services/api.yaml:10:14: {DURATION_ON_SHORT}"),
        (
            _yaml_argument,
            DEPTH,
            '"2s"',
            f"services/api.yaml:10:14: {DURATION_ON_SHORT}",
        ),
        (_python_argument, DEPTH, '"2s"', f"services/api.py:9:15: {DURATION_ON_SHORT}"),
        (_inline_thresholds, RATIO, "70", f"services/api.yaml:11:23: {BARE_ON_RATIO}"),
        (_yaml_argument, RATIO, "70", f"services/api.yaml:10:14: {BARE_ON_RATIO}"),
        (_python_argument, RATIO, "70", f"services/api.py:9:15: {BARE_ON_RATIO}"),
    ],
    ids=[
        "duration-in-text",
        "duration-argument",
        "quoted-duration-argument",
        "python-duration-argument",
        "bare-number-in-text",
        "bare-number-argument",
        "python-bare-number-argument",
    ],
)
def test_threshold_unit_at_bound(
    project: Path,
    manifest: Callable[[str, str], tuple[str, str]],
    query: str,
    limit: str,
    expected: str,
) -> None:
    """thresholds/unit is at the bound, in the text or at the argument that wrote it."""
    (project / "blocks").mkdir()
    (project / "blocks" / "limits.py").write_text(LIMIT_BLOCK, encoding="utf-8")
    write_manifest(project, *manifest(query, limit))
    found = _findings(project, "thresholds/unit")
    assert [str(d) for d in found] == [expected]
    assert found[0].location.uses() == []
