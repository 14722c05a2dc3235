"""Bad Python services and blocks: one located error, exit 1, no traceback, out/ kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import obscompile.parallel
from obscompile import dsl
from obscompile.cli import main
from obscompile.diagnostics import ProcessExit
from obscompile.load.python_source import imports_obscompile

HEAD = "from obscompile import dsl\n\n"
SCRAPE = 'dsl.service("api", scrape=dsl.scrape_job("api", port=80), rows=[\n'
USE_QUEUE_ROW = "service: api\nrows:\n  - use: queue_row\n    with: {job: api}\n"


def panel_service(arguments: str) -> str:
    """Return a service module whose one panel gets `arguments` on line 4."""
    return (
        HEAD + SCRAPE + f'    dsl.row("R", [dsl.panel("P", "up", {arguments})]),\n])\n'
    )


def queue_row_block(body: str) -> str:
    return HEAD + '@dsl.block("queue_row")\ndef queue_row(job):\n' + body


def write_files(project: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text, encoding="utf-8")


def run_build(project: Path, files: dict[str, str]) -> tuple[int, str]:
    write_files(project, files)
    result = CliRunner().invoke(
        main, ["build", "--project", str(project)], catch_exceptions=False
    )
    return result.exit_code, result.output


def run_build_process(
    project: Path, files: dict[str, str], *arguments: str
) -> tuple[int, str]:
    """Build in a process of its own, which user code may end without ending pytest."""
    write_files(project, files)
    result = subprocess.run(
        [sys.executable, "-m", "obscompile", "build", *arguments],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, result.stderr


def diagnostic_lines(output: str) -> list[str]:
    """Return the lines of errors, warnings and their notes, without source lines."""
    return [
        line
        for line in output.splitlines()
        if ": error: " in line or ": warning: " in line or ": note: " in line
    ]


# Arguments of the wrong type, or values that a manifest may not contain.
SURROGATE_ADVICE = (
    "which UTF-8 cannot encode; decode the bytes that it came from with their own "
    'encoding instead of errors="surrogateescape" [dsl/error]'
)

ARGUMENT_ERRORS = [
    # A text decoded from bytes that are not UTF-8 could be written to no file.
    (
        panel_service('description="ab\\udcff"'),
        "services/api.py:4:52: error: dsl.panel(): description contains the lone "
        f"surrogate U+DCFF at character 3, {SURROGATE_ADVICE}",
    ),
    (
        HEAD + 'dsl.alert(summary="\\ud800")\n',
        "services/api.py:3:19: error: dsl.alert(): summary contains the lone "
        f"surrogate U+D800 at character 1, {SURROGATE_ADVICE}",
    ),
    (
        HEAD + 'dsl.scrape_job("api", port=80, labels={"a\\udcff": "x"})\n',
        "services/api.py:3:1: error: dsl.scrape_job(): labels key contains the lone "
        f"surrogate U+DCFF at character 2, {SURROGATE_ADVICE}",
    ),
    (
        HEAD + 'dsl.service("api", scrape="payments")\n',
        'services/api.py:3:27: error: dsl.service(): scrape must be a scrape job or a list of scrape jobs, not the string "payments" [dsl/error]',
    ),
    (
        HEAD + 'dsl.service("api", rows="abc")\n',
        'services/api.py:3:25: error: dsl.service(): rows must be a list of rows, not the string "abc" [dsl/error]',
    ),
    (
        HEAD + 'dsl.service("api", rows=[dsl.panel("P", "up")])\n',
        "services/api.py:3:26: error: dsl.service(): rows[0] must be a row, not a panel [dsl/error]",
    ),
    (
        HEAD + 'dsl.service("api", metrics={"a": "counter"})\n',
        "services/api.py:3:28: error: dsl.service(): metrics must be a list of metrics, such as [dsl.counter(...)] or dsl.http_metrics(), not a mapping [dsl/error]",
    ),
    (
        HEAD + "from . import _common\n",
        "services/api.py:3:1: error: ImportError: attempted relative import with no known parent package; a module runs on its own, not in a package, so import a helper beside it by its name: import _common [dsl/error]",
    ),
    (
        HEAD + 'dsl.service("api", titel="API")\n',
        "services/api.py:3:20: error: TypeError: service() got an unexpected keyword argument 'titel' (did you mean \"title\"?) [dsl/error]",
    ),
    (
        HEAD + 'dsl.service("api", title=5)\n',
        "services/api.py:3:26: error: dsl.service(): title must be a string, not the integer 5 [dsl/error]",
    ),
    (
        HEAD + 'dsl.service("api", alert_for="1m1m")\n',
        'services/api.py:3:30: error: alert_for "1m1m" is not a Prometheus duration: write units from largest to smallest, each at most once, such as 15s, 5m or 1h30m [dsl/error]',
    ),
    (
        HEAD + 'dsl.service("api", alert_for="293y")\n',
        'services/api.py:3:30: error: alert_for "293y" is longer than Prometheus accepts (about 292 years, 106751d23h47m16s854ms) [dsl/error]',
    ),
    (
        panel_service("decimals=21"),
        "services/api.py:4:49: error: dsl.panel(): decimals must be at most 20, not 21 [dsl/error]",
    ),
    (
        panel_service("max=10**16"),
        "services/api.py:4:44: error: dsl.panel(): max is 10000000000000000, beyond ±9007199254740991, the largest integer that dashboards and Prometheus keep exactly [dsl/error]",
    ),
    (
        panel_service('decimals="x"'),
        'services/api.py:4:49: error: dsl.panel(): decimals must be an integer, not the string "x" [dsl/error]',
    ),
    (
        panel_service('capacity="20"'),
        'services/api.py:4:49: error: dsl.panel(): capacity must be a number, not the string "20" [dsl/error]',
    ),
    (
        panel_service('min=float("nan")'),
        "services/api.py:4:44: error: dsl.panel(): min is nan, which is not a finite number; write a number such as 100 [dsl/error]",
    ),
    (
        panel_service('min="x"'),
        'services/api.py:4:44: error: dsl.panel(): min must be a number, not the string "x" [dsl/error]',
    ),
    (
        panel_service("width=True"),
        "services/api.py:4:46: error: dsl.panel(): width must be an integer, not the boolean True [dsl/error]",
    ),
    (
        panel_service("width=30"),
        "services/api.py:4:46: error: dsl.panel(): width must be at most 24, not 30 [dsl/error]",
    ),
    (
        panel_service("legend=5"),
        "services/api.py:4:47: error: dsl.panel(): legend must be a string, not the integer 5 [dsl/error]",
    ),
    (
        panel_service("description=None"),
        "services/api.py:4:52: error: dsl.panel(): description must be a string, not None [dsl/error]",
    ),
    (
        HEAD + "dsl.row(None)\n",
        "services/api.py:3:9: error: dsl.row(): title must be a string, not None [dsl/error]",
    ),
    (
        HEAD + 'dsl.dashboard("api", "API", tags="prod")\n',
        'services/api.py:3:34: error: dsl.dashboard(): tags must be a list of strings, not the string "prod" [dsl/error]',
    ),
    (
        HEAD + 'dsl.counter("c_total", "C", labels="ab")\n',
        'services/api.py:3:36: error: dsl.counter(): labels must be a list of strings, not the string "ab" [dsl/error]',
    ),
    (
        HEAD + 'dsl.counter("c_total", "C", ["a", 1])\n',
        "services/api.py:3:35: error: dsl.counter(): labels[1] must be a string, not the integer 1 [dsl/error]",
    ),
    (
        HEAD + 'for job in ["a"]:\n    dsl.panel("P", "up", type="stats")\n',
        'services/api.py:4:31: error: panel type "stats" is not one of stat, gauge, timeseries, table, barchart, piechart, heatmap (did you mean "stat"?) [dsl/error]',
    ),
    (
        HEAD + 'if True:\n    dsl.panel("P", "up", type=5)\n',
        "services/api.py:4:31: error: dsl.panel(): type must be one of stat, gauge, timeseries, table, barchart, piechart, heatmap, not the integer 5 [dsl/error]",
    ),
    (
        HEAD + 'dsl.service("' + "a" * 101 + '")\n',
        "services/api.py:3:13: error: name has 101 characters, more than the 100 it may have [dsl/error]",
    ),
    (
        HEAD + 'dsl.service("api", dashboard=dsl.dashboard(refresh="1 minute"))\n',
        'services/api.py:3:52: error: refresh "1 minute" is invalid: write an interval such as 30s, 1m or 1h, "auto", or "" for no refresh [dsl/error]',
    ),
    *(
        # Python's `$` matches before a final line break, so each check rejects one.
        (
            HEAD + call + "\n",
            f"services/api.py:3:{column}: error: {argument} {value} is invalid: it "
            "ends with a line break; remove it [dsl/error]",
        )
        for call, column, argument, value in [
            ('dsl.dashboard(refresh="30s\\n")', 23, "refresh", '"30s\\n"'),
            ('dsl.dashboard(time="now-6h\\n")', 20, "time", '"now-6h\\n"'),
            ('dsl.dashboard(uid="api\\n")', 19, "uid", '"api\\n"'),
            (
                'dsl.counter("requests_total\\n")',
                13,
                "metric name",
                '"requests_total\\n"',
            ),
            ('dsl.scrape_job("api\\n", port=80)', 16, "job", '"api\\n"'),
            (
                'dsl.scrape_job("api", port=80, interval="15s\\n")',
                41,
                "interval",
                '"15s\\n"',
            ),
            ('dsl.alert(name="ApiDown\\n")', 16, "alert name", '"ApiDown\\n"'),
            ('dsl.alert(for_="5m\\n")', 16, "for_", '"5m\\n"'),
            ('dsl.service("api", key="api\\n")', 24, "key", '"api\\n"'),
        ]
    ),
    *(
        # dsl.dashboard() rejects the times that the manifest schema rejects.
        (
            HEAD + f'dsl.dashboard(time="{time}")\n',
            f'services/api.py:3:20: error: time "{time}" is invalid: write a '
            "relative time such as now-6h, now-7d or now-1d/d [dsl/error]",
        )
        for time in ["yesterday", "now-6 hours", "now+1h", "now-1d/q", ""]
    ),
    *(
        # Prometheus reads a bare "0", which the manifest schema's durations reject.
        (
            HEAD + call + "\n",
            f'services/api.py:3:{column}: error: {argument} "0" is invalid: write a '
            "Prometheus duration such as 15s, 5m or 1h30m [dsl/error]",
        )
        for call, column, argument in [
            ('dsl.service("api", alert_for="0")', 30, "alert_for"),
            ('dsl.alert(for_="0")', 16, "for_"),
            ('dsl.scrape_job("api", port=80, interval="0")', 41, "interval"),
            ('dsl.scrape_job("api", port=80, timeout="0")', 40, "timeout"),
        ]
    ),
    (
        HEAD + 'dsl.histogram("latency_seconds", buckets=[])\n',
        "services/api.py:3:42: error: buckets must not be empty [dsl/error]",
    ),
    (
        HEAD + "dsl.http_metrics(buckets=())\n",
        "services/api.py:3:26: error: buckets must not be empty [dsl/error]",
    ),
    (
        HEAD + 'dsl.scrape_job("api", port=80, path=0)\n',
        "services/api.py:3:37: error: dsl.scrape_job(): path must be a string, not the integer 0 [dsl/error]",
    ),
    (
        # As in a manifest, an empty path is kept, and scrape/job rejects it.
        HEAD + 'dsl.service("api", scrape=dsl.scrape_job("api", port=80, path=""))\n',
        'services/api.py:3:27: error: metrics path "" must start with "/"; use "/" [scrape/job]',
    ),
    (
        HEAD + 'dsl.service("api", description=["API"])\n',
        "services/api.py:3:32: error: dsl.service(): description must be a string, not a list [dsl/error]",
    ),
    (
        panel_service(
            'type="stat", thresholds=dsl.thresholds({"steps": [{"value": None}]})'
        ),
        'services/api.py:4:79: error: missing key "color" in thresholds.steps[0]; '
        "thresholds.steps[0].value must be a number or a string, not None [dsl/error]",
    ),
    (
        panel_service('thresholds={"steps": [], "unit": 5, "step": ["red"]}'),
        'services/api.py:4:51: error: unknown key "step" in thresholds (did you mean '
        '"steps"?); thresholds.unit must be a string, not the integer 5; '
        "thresholds.steps must not be empty [dsl/error]",
    ),
    (
        HEAD + 'dsl.thresholds({"mappings": [{"value": "high", "color": "red"}]})\n',
        "services/api.py:3:16: error: thresholds.mappings[0].value must be a number, "
        'not the string "high" [dsl/error]',
    ),
    (
        HEAD + 'dsl.thresholds({"series": {5: "Red"}})\n',
        "services/api.py:3:16: error: thresholds.series key must be a string, not "
        "the integer 5 [dsl/error]",
    ),
    (
        HEAD + 'dsl.servce("api")\n',
        "services/api.py:3:1: error: AttributeError: module 'obscompile.dsl' has no "
        "attribute 'servce' (did you mean \"service\"?) [dsl/error]",
    ),
]

# An item of the wrong type in a list or dict literal of the call is reported at the
# item. Where the source does not show the item, the error is at the argument.
ITEM_ERRORS = [
    (
        HEAD
        + 'base = dsl.row("Traffic", [dsl.panel("Requests", "up")])\n'
        + 'dsl.service("api", rows=[\n'
        + "    dsl.override(\n"
        + "        base,\n"
        + '        {"title": "Request", "unit": "reqps"},\n'
        + "    ),\n"
        + "])\n",
        'services/api.py:7:9: error: dsl.override(): row "Traffic" has no panel '
        '"Request" to change (did you mean "Requests"?); a new panel needs a query '
        "[dsl/error]",
    ),
    (
        HEAD
        + 'base = dsl.row("Traffic", [dsl.panel("Requests", "up")])\n'
        + 'dsl.service("api", rows=[\n'
        + "    dsl.override(\n"
        + "        base,\n"
        + '        {"title": "Requests", "untt": "reqps"},\n'
        + "    ),\n"
        + "])\n",
        "services/api.py:7:39: error: dsl.override(): panels[0] has the unknown panel "
        'field "untt" (did you mean "unit"?) [dsl/error]',
    ),
    (
        HEAD
        + 'base = dsl.row("Traffic", [dsl.panel("Requests", "up")])\n'
        + 'dsl.service("api", rows=[\n'
        + "    dsl.override(\n"
        + "        base,\n"
        + '        {"title": "Errors", "query": "up", "tresholds": "<1 Red"},\n'
        + "    ),\n"
        + "])\n",
        "services/api.py:7:57: error: dsl.override(): panels[0] has the unknown panel "
        'field "tresholds" (did you mean "thresholds"?) [dsl/error]',
    ),
    (
        HEAD
        + 'base = dsl.row("Traffic", [dsl.panel("Requests", "up")])\n'
        + 'dsl.service("api", rows=[dsl.override(base, dsl.panel("A", "up"), 5)])\n',
        "services/api.py:4:67: error: dsl.override(): panels[1] must be a panel or a "
        "mapping, not the integer 5 [dsl/error]",
    ),
    (
        HEAD
        + 'dsl.service("api", rows=[\n'
        + '    dsl.row("Queue", [\n'
        + '        dsl.panel("Depth", "up"),\n'
        + '        {"title": "bad"},\n'
        + "    ]),\n"
        + "])\n",
        "services/api.py:6:9: error: dsl.row(): panels[1] must be a panel, not a mapping [dsl/error]",
    ),
    (
        HEAD
        + "dsl.service(\n"
        + '    "api",\n'
        + "    rows=[\n"
        + '        dsl.row("R"),\n'
        + '        "Queue 2",\n'
        + "    ],\n"
        + ")\n",
        'services/api.py:7:9: error: dsl.service(): rows[1] must be a row, not the string "Queue 2" [dsl/error]',
    ),
    (
        HEAD
        + 'dsl.service("api", metrics=[dsl.http_metrics(), [dsl.gauge("g", "G"), "x"]])\n',
        'services/api.py:3:71: error: dsl.service(): metrics[1][1] must be a metric, not the string "x" [dsl/error]',
    ),
    (
        HEAD + 'dsl.alert(labels={"team": "shop", "tier": 5})\n',
        "services/api.py:3:43: error: dsl.alert(): labels['tier'] must be a string, not the integer 5 [dsl/error]",
    ),
    (
        HEAD + 'dsl.histogram("h_seconds", "H", buckets=[1, float("nan")])\n',
        "services/api.py:3:45: error: dsl.histogram(): buckets[1] is nan, which is not a finite number; write a number such as 100 [dsl/error]",
    ),
    # A list in a variable or a comprehension, or an item after a starred one, is
    # reported at the argument.
    (
        HEAD + 'panels = [dsl.panel("P", "up"), "x"]\ndsl.row("R", panels)\n',
        'services/api.py:4:14: error: dsl.row(): panels[1] must be a panel, not the string "x" [dsl/error]',
    ),
    (
        HEAD + 'dsl.row("R", [title for title in ["x"]])\n',
        'services/api.py:3:14: error: dsl.row(): panels[0] must be a panel, not the string "x" [dsl/error]',
    ),
    (
        HEAD + 'dsl.row("R", [*[dsl.panel("P", "up")], "x"])\n',
        'services/api.py:3:14: error: dsl.row(): panels[1] must be a panel, not the string "x" [dsl/error]',
    ),
    (
        HEAD + 'dsl.alert(labels={**{}, "tier": 5, **{}})\n',
        "services/api.py:3:18: error: dsl.alert(): labels['tier'] must be a string, not the integer 5 [dsl/error]",
    ),
]

# Project blocks that raise, return None or are misused.
BLOCK_ERRORS = [
    (
        {
            "blocks/team.py": queue_row_block(
                '    raise dsl.ParameterError(5, "must be lower case")\n'
            ),
            "services/api.yaml": USE_QUEUE_ROW,
        },
        "blocks/team.py:5:33: error: dsl.ParameterError(): parameter must be the "
        "name of a parameter, not the integer 5 [manifest/block]\n"
        'services/api.yaml:3:5: note: block "queue_row" is used here',
    ),
    (
        {
            "blocks/team.py": HEAD
            + "import functools\n\n"
            + "def row(job, title):\n    return dsl.row(title)\n\n"
            + 'dsl.block("queue_row")(functools.partial(row, title="Q"))\n',
            "services/api.yaml": USE_QUEUE_ROW,
        },
        'blocks/team.py:8:11: error: @dsl.block("queue_row") must decorate a function '
        "defined with def, not a partial; write a def that calls it [dsl/error]\n"
        'services/api.yaml:3:10: error: unknown block "queue_row"; blocks/team.py '
        "fails to load, so it may define it [manifest/block]",
    ),
    (
        {
            "blocks/team.py": HEAD
            + "class Rows:\n"
            + '    def __call__(self, job):\n        return dsl.row("Q")\n\n'
            + 'dsl.block("queue_row")(Rows())\n',
            "services/api.yaml": USE_QUEUE_ROW,
        },
        'blocks/team.py:7:11: error: @dsl.block("queue_row") must decorate a function '
        "defined with def, not a Rows; write a def that calls it [dsl/error]\n"
        'services/api.yaml:3:10: error: unknown block "queue_row"; blocks/team.py '
        "fails to load, so it may define it [manifest/block]",
    ),
    (
        {
            "blocks/team.py": HEAD
            + '@dsl.block("queue_row")\nasync def queue_row(job):\n'
            + '    return dsl.row("Q")\n',
            "services/api.yaml": USE_QUEUE_ROW,
        },
        'blocks/team.py:3:12: error: @dsl.block("queue_row") must decorate a plain '
        "function, not an async one, because the build calls a block and uses what "
        "it returns; write def in place of async def [dsl/error]\n"
        'services/api.yaml:3:10: error: unknown block "queue_row"; blocks/team.py '
        "fails to load, so it may define it [manifest/block]",
    ),
    (
        {
            "blocks/team.py": queue_row_block("    raise SystemExit(0)\n"),
            "services/api.yaml": USE_QUEUE_ROW,
        },
        "blocks/team.py:5:5: error: SystemExit: 0 [manifest/block]\n"
        'services/api.yaml:3:5: note: block "queue_row" is used here',
    ),
    (
        {
            "blocks/team.py": queue_row_block("    raise GeneratorExit\n"),
            "services/api.yaml": USE_QUEUE_ROW,
        },
        "blocks/team.py:5:5: error: GeneratorExit [manifest/block]\n"
        'services/api.yaml:3:5: note: block "queue_row" is used here',
    ),
    (
        {
            "blocks/team.py": queue_row_block(
                "    if job != job.lower():\n"
                '        raise dsl.ParameterError("job", "must be lower case")\n'
            ),
            "services/api.yaml": USE_QUEUE_ROW.replace("job: api", "job: API"),
        },
        'services/api.yaml:4:17: error: block "queue_row": job must be lower case [manifest/block]',
    ),
    (
        {
            "blocks/team.py": queue_row_block(
                '    settings = {}\n    return settings["red"]\n'
            ),
            "services/api.yaml": USE_QUEUE_ROW,
        },
        "blocks/team.py:6:12: error: KeyError: 'red' [manifest/block]\n"
        'services/api.yaml:3:5: note: block "queue_row" is used here',
    ),
    (
        {
            "blocks/team.py": queue_row_block(
                '    return dsl.row("R", [dsl.pannel("P", "up")])\n'
            ),
            "services/api.yaml": USE_QUEUE_ROW,
        },
        "blocks/team.py:5:26: error: AttributeError: module 'obscompile.dsl' has no "
        "attribute 'pannel' (did you mean \"panel\"?) [manifest/block]\n"
        'services/api.yaml:3:5: note: block "queue_row" is used here',
    ),
    (
        {
            "blocks/team.py": queue_row_block(
                '    return dsl.row("R", [dsl.panel("P", "up", thresold=1)])\n'
            ),
            "services/api.yaml": USE_QUEUE_ROW,
        },
        "blocks/team.py:5:47: error: TypeError: panel() got an unexpected keyword "
        "argument 'thresold' (did you mean \"thresholds\"?) [manifest/block]\n"
        'services/api.yaml:3:5: note: block "queue_row" is used here',
    ),
    (
        {
            "blocks/team.py": queue_row_block("    return job.title_case()\n"),
            "services/api.yaml": USE_QUEUE_ROW,
        },
        "blocks/team.py:5:12: error: AttributeError: 'str' object has no attribute "
        "'title_case' [manifest/block]\n"
        'services/api.yaml:3:5: note: block "queue_row" is used here',
    ),
    (
        {
            "blocks/team.py": queue_row_block(
                '    return dsl.row("Q", [\n        dsl.panel("Depth", "up", type="stats"),\n    ])\n'
            ),
            "services/api.yaml": USE_QUEUE_ROW,
        },
        'blocks/team.py:6:39: error: panel type "stats" is not one of stat, gauge, '
        'timeseries, table, barchart, piechart, heatmap (did you mean "stat"?) '
        "[manifest/block]\n"
        'services/api.yaml:3:5: note: block "queue_row" is used here',
    ),
    (
        {
            "services/api.yaml": "service: api\nmetric_blocks:\n  - use: http_api_health\n    with: {job: api}\n"
        },
        'services/api.yaml:3:10: error: block "http_api_health" returns a row, not a '
        "list of metrics; use it under rows: [manifest/block]",
    ),
    (
        {
            "blocks/team.py": queue_row_block('    dsl.row("Q")\n'),
            "services/api.yaml": USE_QUEUE_ROW,
        },
        "blocks/team.py:3:1: error: function queue_row() returned None; a block must "
        "return a row, a list of panels or a list of metrics [manifest/block]\n"
        'services/api.yaml:3:5: note: block "queue_row" is used here',
    ),
    (
        {
            "blocks/team.py": queue_row_block('    dsl.row("Q")\n'),
            "services/api.py": HEAD
            + 'dsl.service("api", rows=[dsl.use("queue_row", job="api")])\n',
        },
        "blocks/team.py:3:1: error: function queue_row() returned None; a block must "
        "return a row, a list of panels or a list of metrics [dsl/error]\n"
        'services/api.py:3:26: note: block "queue_row" is used here',
    ),
    (
        {
            "blocks/team.py": queue_row_block(
                '    settings = {}\n    return settings["red"]\n'
            ),
            "services/api.py": HEAD
            + 'dsl.service("api", rows=[dsl.use("queue_row", job="api")])\n',
        },
        "blocks/team.py:6:12: error: KeyError: 'red' [dsl/error]\n"
        'services/api.py:3:26: note: block "queue_row" is used here',
    ),
    (
        {
            "blocks/team.py": HEAD
            + '@dsl.block("http_metrics")\ndef my_metrics():\n    return []\n',
            "services/api.yaml": "service: api\n",
        },
        'blocks/team.py:3:12: error: block "http_metrics" is already a block shipped with obscompile; give the project block another name [dsl/error]',
    ),
    (
        {
            "blocks/a.py": HEAD
            + '@dsl.block("queue_row")\ndef queue_row():\n    return dsl.row("A")\n',
            "blocks/b.py": HEAD
            + '@dsl.block("queue_row")\ndef queue_row():\n    return dsl.row("B")\n',
            "services/api.yaml": "service: api\n",
        },
        'blocks/b.py:3:12: error: block "queue_row" is already defined in blocks/a.py:3; give one of them another name [dsl/error]',
    ),
    (
        {
            "blocks/team.py": HEAD + 'if True:\n    dsl.panel("P", "up", width=0)\n',
            "services/api.yaml": "service: api\n",
        },
        "blocks/team.py:4:32: error: dsl.panel(): width must be at least 1, not 0 [dsl/error]",
    ),
    (
        {
            "blocks/team.py": queue_row_block(
                '    return dsl.row("Q", [\n'
                '        dsl.panel("Depth", "up"),\n'
                '        {"title": "bad"},\n'
                "    ])\n"
            ),
            "services/api.yaml": USE_QUEUE_ROW,
        },
        "blocks/team.py:7:9: error: dsl.row(): panels[1] must be a panel, not a "
        "mapping [manifest/block]\n"
        'services/api.yaml:3:5: note: block "queue_row" is used here',
    ),
]


# Helper modules beside a service module that raise, with a note at the service's
# line that called into them.
HELPER_ERRORS = [
    (
        {
            "services/_common.py": HEAD
            + 'def thresholds(job):\n    return {"api": "<1 Green"}[job]\n',
            "services/api.py": HEAD
            + "import _common\n"
            + 'dsl.panel("P", "up", thresholds=_common.thresholds("web"))\n',
        },
        "services/_common.py:4:12: error: KeyError: 'web' [dsl/error]\n"
        'services/api.py:4:33: note: function "_common.thresholds" is called here',
    ),
    (
        {
            "services/_common.py": HEAD
            + 'def panels():\n    return [dsl.panel("P", "up", decimals="x")]\n',
            "services/api.py": HEAD
            + "import _common\n\n"
            + 'dsl.service("api", rows=[dsl.row("R", _common.panels())])\n',
        },
        "services/_common.py:4:43: error: dsl.panel(): decimals must be an integer, "
        'not the string "x" [dsl/error]\n'
        'services/api.py:5:39: note: function "_common.panels" is called here',
    ),
    (
        {
            "services/_common.py": HEAD + 'raise ValueError("no settings")\n',
            "services/api.py": HEAD + "import _common\n",
        },
        "services/_common.py:3:1: error: ValueError: no settings [dsl/error]\n"
        'services/api.py:3:1: note: module "_common" is imported here',
    ),
    (
        # Only the service's line gets a note, not the lines between helpers.
        {
            "services/_lib.py": "def ratio(total):\n    return 1 / total\n",
            "services/_common.py": HEAD
            + "import _lib\n\n"
            + "class Panels:\n    def build(self):\n        return _lib.ratio(0)\n",
            "services/api.py": HEAD + "import _common\n_common.Panels().build()\n",
        },
        "services/_lib.py:2:12: error: ZeroDivisionError: division by zero "
        "[dsl/error]\n"
        'services/api.py:4:1: note: function "_common.Panels.build" is called here',
    ),
    (
        # A block that a helper uses gets a note at the helper, and the helper a
        # note at the service.
        {
            "blocks/team.py": queue_row_block("    return {}[job]\n"),
            "services/_common.py": HEAD
            + 'def rows():\n    return [dsl.use("queue_row", job="api")]\n',
            "services/api.py": HEAD
            + "import _common\n"
            + 'dsl.service("api", rows=_common.rows())\n',
        },
        "blocks/team.py:5:12: error: KeyError: 'api' [dsl/error]\n"
        'services/_common.py:4:13: note: block "queue_row" is used here\n'
        'services/api.py:4:25: note: function "_common.rows" is called here',
    ),
    (
        # A helper of a block gets a note at the block's line that called it.
        {
            "blocks/_shared.py": "def owner(job):\n    return {}[job]\n",
            "blocks/team.py": HEAD
            + "import _shared\n\n"
            + '@dsl.block("queue_row")\ndef queue_row(job):\n'
            + '    return dsl.row("Q", [dsl.panel(_shared.owner(job), "up")])\n',
            "services/api.yaml": USE_QUEUE_ROW,
        },
        "blocks/_shared.py:2:12: error: KeyError: 'api' [manifest/block]\n"
        'blocks/team.py:7:36: note: function "_shared.owner" is called here\n'
        'services/api.yaml:3:5: note: block "queue_row" is used here',
    ),
    (
        {
            "blocks/_shared.py": HEAD
            + 'def panel(job):\n    return dsl.panel("P", "up", decimals="x")\n',
            "blocks/team.py": HEAD
            + "import _shared\n\n"
            + '@dsl.block("queue_row")\ndef queue_row(job):\n'
            + '    return dsl.row("Q", [_shared.panel(job)])\n',
            "services/api.py": HEAD
            + 'dsl.service("api", rows=[dsl.use("queue_row", job="api")])\n',
        },
        "blocks/_shared.py:4:42: error: dsl.panel(): decimals must be an integer, "
        'not the string "x" [dsl/error]\n'
        'blocks/team.py:7:26: note: function "_shared.panel" is called here\n'
        'services/api.py:3:26: note: block "queue_row" is used here',
    ),
    (
        # An error of the service's own line needs no note.
        {
            "services/_common.py": HEAD + "RED = 5\n",
            "services/api.py": HEAD + "import _common\n_common.BLUE\n",
        },
        "services/api.py:4:1: error: AttributeError: module '_common' has no "
        "attribute 'BLUE' [dsl/error]",
    ),
]


@pytest.mark.parametrize(
    ("files", "expected"),
    HELPER_ERRORS,
    ids=[
        "function-raises",
        "dsl-argument",
        "module-raises-on-import",
        "helper-of-helper",
        "block-used-by-helper",
        "helper-of-block",
        "helper-of-block-dsl-argument",
        "error-in-service",
    ],
)
def test_helper_errors(project: Path, files: dict[str, str], expected: str) -> None:
    _assert_rejected(project, files, expected)


def test_helper_error_json_names_call(project: Path) -> None:
    """`--format json` lists the service's call into the helper under used_at."""
    write_files(
        project,
        {
            "services/_common.py": HEAD + "def rows():\n    return [][0]\n",
            "services/api.py": HEAD
            + "import _common\n"
            + 'dsl.service("api", rows=_common.rows())\n',
        },
    )
    result = CliRunner().invoke(
        main, ["check", "--project", str(project), "--format", "json"]
    )
    (diagnostic,) = json.loads(result.stdout)
    assert diagnostic["file"] == "services/_common.py"
    assert diagnostic["line"] == 4
    assert diagnostic["used_at"] == [
        {"function": "_common.rows", "file": "services/api.py", "line": 4, "column": 25}
    ]


EXIT_ADVICE = (
    "would end the build's process; raise an exception to report an error instead"
)

SERVICE = 'dsl.service("api", scrape=dsl.scrape_job("api", port=80))\n'
# Code that starts a thread that calls `call`, and joins it.
JOINED_THREAD = (
    "import os, threading\n"
    "thread = threading.Thread(target=lambda: {call})\n"
    "thread.start()\n"
    "thread.join()\n"
)
# A thread that ends the process after its module has returned.
LATE_THREAD = (
    "import os, threading, time\n"
    "def later():\n"
    "    time.sleep(0.2)\n"
    "    os._exit(0)\n"
    "threading.Thread(target=later).start()\n"
)

# Modules and blocks that call a function that would end the build's process.
PROCESS_EXITS = [
    (
        {"services/api.py": HEAD + "import os\nos._exit(0)\n"},
        f"services/api.py:4:1: error: os._exit(0) {EXIT_ADVICE} [dsl/error]",
    ),
    (
        {"services/api.py": HEAD + "import os\nos.abort()\n"},
        f"services/api.py:4:1: error: os.abort() {EXIT_ADVICE} [dsl/error]",
    ),
    (
        {"services/api.py": HEAD + 'import os\nos.execv("/bin/true", ["true"])\n'},
        f"services/api.py:4:1: error: os.execv('/bin/true', ...) {EXIT_ADVICE} [dsl/error]",
    ),
    (
        {"services/api.py": HEAD + 'import os\nos.execlp("true", "true")\n'},
        f"services/api.py:4:1: error: os.execlp('true', ...) {EXIT_ADVICE} [dsl/error]",
    ),
    (
        {
            "blocks/team.py": HEAD + "import os\nos._exit(0)\n",
            "services/api.yaml": "service: api\n",
        },
        f"blocks/team.py:4:1: error: os._exit(0) {EXIT_ADVICE} [dsl/error]",
    ),
    (
        {
            "blocks/team.py": queue_row_block("    import os\n    os._exit(0)\n"),
            "services/api.yaml": USE_QUEUE_ROW,
        },
        f"blocks/team.py:6:5: error: os._exit(0) {EXIT_ADVICE} [manifest/block]\n"
        'services/api.yaml:3:5: note: block "queue_row" is used here',
    ),
    (
        {
            "blocks/team.py": queue_row_block("    import os\n    os._exit(3)\n"),
            "services/api.py": HEAD
            + 'dsl.service("api", rows=[dsl.use("queue_row", job="api")])\n',
        },
        f"blocks/team.py:6:5: error: os._exit(3) {EXIT_ADVICE} [dsl/error]\n"
        'services/api.py:3:26: note: block "queue_row" is used here',
    ),
    (
        {"services/api.py": HEAD + SERVICE + JOINED_THREAD.format(call="os._exit(0)")},
        f"services/api.py:5:42: error: os._exit(0) {EXIT_ADVICE} [dsl/error]",
    ),
    (
        {"services/api.py": HEAD + SERVICE + LATE_THREAD},
        f"services/api.py:7:5: error: os._exit(0) {EXIT_ADVICE} [dsl/error]",
    ),
    (
        {
            "blocks/team.py": queue_row_block(
                textwrap.indent(JOINED_THREAD.format(call="os.abort()"), "    ")
                + '    return dsl.row("A")\n'
            ),
            "services/api.yaml": USE_QUEUE_ROW,
        },
        f"blocks/team.py:6:46: error: os.abort() {EXIT_ADVICE} [manifest/block]\n"
        'services/api.yaml:3:5: note: block "queue_row" is used here',
    ),
]


def _assert_rejected(
    project: Path,
    files: dict[str, str],
    expected: str,
    build: Callable[[Path, dict[str, str]], tuple[int, str]] = run_build,
) -> None:
    out = project / "out"
    out.mkdir()
    (out / "kept.txt").write_text("before", encoding="utf-8")
    code, output = build(project, files)
    assert code == 1
    assert "Traceback" not in output
    assert "\n".join(diagnostic_lines(output)) == expected
    assert sorted(p.name for p in out.iterdir()) == ["kept.txt"]
    assert (out / "kept.txt").read_text(encoding="utf-8") == "before"


@pytest.mark.parametrize(("text", "expected"), ARGUMENT_ERRORS)
def test_dsl_argument_errors(project: Path, text: str, expected: str) -> None:
    _assert_rejected(project, {"services/api.py": text}, expected)


@pytest.mark.parametrize(("text", "expected"), ITEM_ERRORS)
def test_dsl_item_errors(project: Path, text: str, expected: str) -> None:
    _assert_rejected(project, {"services/api.py": text}, expected)


@pytest.mark.parametrize(("files", "expected"), BLOCK_ERRORS)
def test_block_errors(project: Path, files: dict[str, str], expected: str) -> None:
    _assert_rejected(project, files, expected)


@pytest.mark.parametrize(
    ("files", "expected"),
    PROCESS_EXITS,
    ids=[
        "os-exit",
        "os-abort",
        "os-execv",
        "os-execlp",
        "block-module",
        "block-in-manifest",
        "block-in-module",
        "joined-thread",
        "thread-after-module",
        "thread-in-block",
    ],
)
def test_process_exit_errors(
    project: Path, files: dict[str, str], expected: str
) -> None:
    _assert_rejected(project, files, expected, run_build_process)


def test_thread_exception_is_error(project: Path) -> None:
    """An exception that a module's thread does not catch fails the module."""
    module = HEAD + SERVICE + JOINED_THREAD.format(call='{}["red"]')
    expected = "services/api.py:5:42: error: KeyError: 'red' [dsl/error]"
    _assert_rejected(project, {"services/api.py": module}, expected)


def test_thread_left_running_is_error(project: Path) -> None:
    module = (
        HEAD
        + SERVICE
        + "import threading, time\n"
        + 'threading.Thread(target=time.sleep, args=(30,), name="sleeper").start()\n'
    )
    expected = (
        f'services/api.py:1:1: error: thread "sleeper" still runs '
        f"{dsl.THREAD_END_SECONDS:g} s after the code that started it returned, and a "
        "thread that outlives that code can end the build's process; join every "
        "thread before returning [dsl/error]"
    )
    _assert_rejected(project, {"services/api.py": module}, expected, run_build_process)


def test_process_exit_in_workers(project: Path) -> None:
    """A block that calls os._exit in a worker process is an error at its use."""
    files = {"blocks/team.py": queue_row_block("    import os\n    os._exit(0)\n")}
    names = [f"svc{index:02}" for index in range(obscompile.parallel.MIN_SERVICES)]
    for name in names:
        files[f"services/{name}.yaml"] = USE_QUEUE_ROW.replace("api", name)
    code, output = run_build_process(project, files, "--jobs", "2")
    assert code == 1
    assert "Traceback" not in output
    expected = []
    for name in names:
        expected.append(
            f"blocks/team.py:6:5: error: os._exit(0) {EXIT_ADVICE} [manifest/block]"
        )
        expected.append(
            f'services/{name}.yaml:3:5: note: block "queue_row" is used here'
        )
    assert diagnostic_lines(output) == expected


def test_forked_child_may_exit(project: Path) -> None:
    """A child process that a module forks ends by os._exit as usual."""
    module = (
        "import os\nfrom obscompile import dsl\n\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    os._exit(7)\n"
        "_, status = os.waitpid(child, 0)\n"
        "assert os.waitstatus_to_exitcode(status) == 7, status\n"
        'dsl.service("api", scrape=dsl.scrape_job("api", port=80))\n'
    )
    code, output = run_build_process(project, {"services/api.py": module})
    assert code == 0, output
    assert diagnostic_lines(output) == []


def test_process_exit_functions_restored() -> None:
    originals = {name: getattr(os, name) for name in dsl.PROCESS_EXIT_FUNCTIONS}
    with pytest.raises(KeyError), dsl.raise_on_process_exit():
        for name in dsl.PROCESS_EXIT_FUNCTIONS:
            with pytest.raises(ProcessExit):
                getattr(os, name)("/bin/true", "true")
        raise KeyError("red")
    for name, function in originals.items():
        assert getattr(os, name) is function, name


def test_process_exit_functions_restored_after_build(project: Path) -> None:
    originals = {name: getattr(os, name) for name in dsl.PROCESS_EXIT_FUNCTIONS}
    files = {
        "blocks/team.py": queue_row_block('    raise KeyError("red")\n'),
        "services/api.py": HEAD
        + 'dsl.service("api", rows=[dsl.use("queue_row", job="api")])\n',
    }
    code, _ = run_build(project, files)
    assert code == 1
    for name, function in originals.items():
        assert getattr(os, name) is function, name


BASE_EXCEPTION = "class Stop(BaseException):\n    pass\n\n"
BROKEN_MESSAGE = (
    "class Broken(TypeError):\n"
    "    def __str__(self):\n"
    '        raise ValueError("no message")\n\n'
)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"services/api.py": HEAD + BASE_EXCEPTION + 'raise Stop("halt")\n'},
            "services/api.py:6:1: error: Stop: halt [dsl/error]",
        ),
        (
            {
                "blocks/team.py": HEAD
                + BASE_EXCEPTION
                + '@dsl.block("queue_row")\ndef queue_row(job):\n    raise Stop()\n',
                "services/api.yaml": USE_QUEUE_ROW,
            },
            "blocks/team.py:8:5: error: Stop [manifest/block]\n"
            'services/api.yaml:3:5: note: block "queue_row" is used here',
        ),
        (
            {"services/api.py": HEAD + BROKEN_MESSAGE + "raise Broken()\n"},
            "services/api.py:7:1: error: Broken: (its __str__ method raised "
            "ValueError) [dsl/error]",
        ),
        (
            {
                "blocks/team.py": HEAD
                + BROKEN_MESSAGE
                + '@dsl.block("queue_row")\ndef queue_row(job):\n    raise Broken()\n',
                "services/api.yaml": USE_QUEUE_ROW,
            },
            "blocks/team.py:9:5: error: Broken: (its __str__ method raised "
            "ValueError) [manifest/block]\n"
            'services/api.yaml:3:5: note: block "queue_row" is used here',
        ),
    ],
    ids=[
        "base-exception",
        "base-exception-in-block",
        "broken-str",
        "broken-str-in-block",
    ],
)
def test_unusual_exceptions_are_errors(
    project: Path, files: dict[str, str], expected: str
) -> None:
    _assert_rejected(project, files, expected)


@pytest.mark.parametrize(
    "statement",
    [
        "sys.setrecursionlimit(40)",
        "sys.stdout.close()",
        "sys.stderr.close()",
        "sys.stderr = None",
    ],
)
def test_module_cannot_break_build_output(project: Path, statement: str) -> None:
    """A module that changes the interpreter for itself leaves the build's report whole."""
    module = HEAD + "import sys\n" + SCRAPE + "])\n" + statement + "\n"
    files = {"services/api.py": module, "services/web.yaml": "service: web\n"}
    code, output = run_build_process(project, files)
    assert code == 0, output
    assert "Traceback" not in output
    assert output.startswith("obscompile: 2 services"), output


def test_module_signal_handlers_restored(project: Path) -> None:
    before = signal.getsignal(signal.SIGINT)
    module = HEAD + "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    files = {"services/api.py": module, "services/web.yaml": "service: web\n"}
    code, output = run_build(project, files)
    assert code == 0, output
    assert signal.getsignal(signal.SIGINT) is before


def test_block_error_shows_source_line(project: Path) -> None:
    files = {
        "blocks/team.py": HEAD + 'if True:\n    dsl.panel("P", "up", width=0)\n',
        "services/api.yaml": "service: api\n",
    }
    _, output = run_build(project, files)
    lines = output.splitlines()
    assert lines[1] == '      dsl.panel("P", "up", width=0)'
    assert lines[2] == "  " + " " * 31 + "^"


def test_module_without_service_warns(project: Path) -> None:
    code, output = run_build(
        project,
        {
            "services/api.py": HEAD + 'x = dsl.panel("P", "up")\n',
            "services/web.yaml": "service: web\n",
        },
    )
    assert code == 0
    assert diagnostic_lines(output) == [
        "services/api.py:1:1: warning: module declares no service; call dsl.service(...) to declare one [dsl/no-service]"
    ]


def test_module_without_obscompile_import_not_run(project: Path) -> None:
    marker = project / "ran.txt"
    script = (
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "import obscompile\n"
    )
    files = {"services/cleanup.py": script, "services/web.yaml": "service: web\n"}
    code, output = run_build(project, files)
    assert code == 0
    assert not marker.exists()
    assert diagnostic_lines(output) == [
        "services/cleanup.py:1:1: warning: module does not import obscompile at its "
        "top, so it was not run; a module starts with `from obscompile import dsl` "
        "and declares services with dsl.service(...) [dsl/not-run]"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("import obscompile.dsl\n", True),
        ("from obscompile import dsl\n", True),
        (
            '"""Doc."""\nfrom __future__ import annotations\nimport os\nimport obscompile\n',
            True,
        ),
        ("def f():\n    from obscompile.dsl import panel\n", False),
        ("if False:\n    import obscompile\n", False),
        ("open('x', 'w'); import obscompile\n", False),
        ("import os\nfrom . import obscompile\n", False),
        ("import obscompiler\n", False),
        ("def f(:\n", None),
    ],
)
def test_imports_obscompile(tmp_path: Path, text: str, expected: bool | None) -> None:
    path = tmp_path / "module.py"
    path.write_text(text, encoding="utf-8")
    assert imports_obscompile(path) is expected


def test_block_with_keyword_options(project: Path) -> None:
    block = (
        HEAD
        + '@dsl.block("queue_row")\ndef queue_row(job, **options):\n'
        + '    title = options.get("title", "Q")\n'
        + '    return dsl.row(title, [dsl.panel("P", f\'up{{job="{job}"}}\')])\n'
    )
    manifest = (
        "service: api\nscrape: {job: api, port: 80}\nrows:\n"
        "  - use: queue_row\n    with: {job: api, title: Queues}\n"
    )
    code, output = run_build(
        project, {"blocks/team.py": block, "services/api.yaml": manifest}
    )
    assert code == 0, output
    assert diagnostic_lines(output) == []


def test_block_options_not_required() -> None:
    found = dsl.Block("options", lambda job, **options: None)
    assert found.required == ["job"]
    assert dsl.block_parameter_problem(found, {"job": "a", "other": 1}) is None
    assert (
        dsl.block_parameter_problem(found, {"other": 1})
        == 'block "options" needs parameter "job"'
    )


def test_block_system_exit_in_workers(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block that calls SystemExit in a worker process is an error, not a hang."""
    monkeypatch.setattr(obscompile.parallel, "MIN_SERVICES", 2)
    files = {"blocks/team.py": queue_row_block("    raise SystemExit(0)\n")}
    for name in ("api", "web", "jobs"):
        files[f"services/{name}.yaml"] = USE_QUEUE_ROW.replace("api", name)
    (project / "services").mkdir(exist_ok=True)
    code, output = run_build(project, files)
    assert code == 1
    expected = []
    for name in ("api", "jobs", "web"):
        expected.append("blocks/team.py:5:5: error: SystemExit: 0 [manifest/block]")
        expected.append(
            f'services/{name}.yaml:3:5: note: block "queue_row" is used here'
        )
    assert diagnostic_lines(output) == expected


@pytest.mark.parametrize(
    ("ending", "message"),
    [
        (
            "raise SystemExit(4)",
            "task {at} raised SystemExit(4) in a worker process; rerun with --jobs 1 "
            "to see where",
        ),
        (
            "raise KeyboardInterrupt",
            "task {at} raised KeyboardInterrupt in a worker process; rerun with "
            "--jobs 1 to see where",
        ),
        (
            "import os; os._exit(1)",
            "a worker process ended before it finished its task; rerun with --jobs 1 "
            "to see why",
        ),
    ],
    ids=["system-exit", "keyboard-interrupt", "os-exit"],
)
# A worker that ends at its first task of many breaks the pool while the later
# tasks are still submitted.
@pytest.mark.parametrize(("at", "count"), [(3, 20), (0, 20000)], ids=["late", "first"])
def test_worker_end_is_an_exception(
    ending: str, message: str, at: int, count: int
) -> None:
    """A task that would end its worker process raises in the build's process."""
    code = (
        "from obscompile.parallel import WorkerExit, map_in_workers\n"
        "def task(index):\n"
        f"    if index == {at}:\n"
        f"        {ending}\n"
        "    return index\n"
        "try:\n"
        f"    map_in_workers(task, {count}, 2)\n"
        "except WorkerExit as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == message.format(at=at) + "\n"


def test_module_cannot_move_out(project: Path) -> None:
    """A module that changes the working folder does not change where out/ goes."""
    module = (
        "import os\nfrom obscompile import dsl\n\nos.chdir('services')\n"
        'dsl.service("api", scrape=dsl.scrape_job("api", port=80))\n'
    )
    (project / "services" / "api.py").write_text(module, encoding="utf-8")
    # The project is the working folder, given relatively as by default.
    result = CliRunner().invoke(main, ["build"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (project / "out" / "prometheus" / "prometheus.yml").is_file()
    assert not (project / "services" / "out").exists()


def test_project_block_parameter_error_in_python(project: Path) -> None:
    """A project block's ParameterError points at the argument of dsl.use()."""
    files = {
        "blocks/team.py": queue_row_block(
            '    raise dsl.ParameterError("job", "must be lower case")\n'
        ),
        "services/api.py": HEAD
        + 'dsl.service("api", rows=[dsl.use("queue_row", job="API")])\n',
    }
    code, output = run_build(project, files)
    assert code == 1
    assert diagnostic_lines(output) == [
        "services/api.py:3:51: error: job must be lower case [dsl/error]"
    ]


def test_block_module_not_run_names_blocks(project: Path) -> None:
    files = {
        "blocks/helper.py": "import os\n",
        "services/web.yaml": "service: web\n",
    }
    code, output = run_build(project, files)
    assert code == 0, output
    assert diagnostic_lines(output) == [
        "blocks/helper.py:1:1: warning: module does not import obscompile at its top, "
        "so it was not run; a module starts with `from obscompile import dsl` and "
        "declares blocks with @dsl.block(...) [dsl/not-run]"
    ]


def test_block_unknown_parameter_in_python(project: Path) -> None:
    """A misspelt parameter of dsl.use() is reported at its argument."""
    files = {
        "blocks/team.py": queue_row_block('    return dsl.row("Queue")\n'),
        "services/api.py": HEAD
        + 'dsl.service("api", rows=[dsl.use("queue_row", job="api", jbo="x")])\n',
    }
    code, output = run_build(project, files)
    assert code == 1
    assert diagnostic_lines(output) == [
        'services/api.py:3:62: error: block "queue_row" has no parameter "jbo" '
        '(did you mean "job"?) [dsl/error]'
    ]


NESTED_BLOCKS = HEAD + (
    '@dsl.block("inner")\n'
    "def inner(job, limit=5):\n"
    "    if limit <= 0:\n"
    '        raise dsl.ParameterError("limit", "must be above 0")\n'
    '    return dsl.row("Inner")\n'
    "\n"
    '@dsl.block("outer")\n'
    "def outer(job, size=3):\n"
    '    return dsl.use("inner", job=job, limit=size - 3)\n'
)


@pytest.mark.parametrize(
    "service",
    [
        'dsl.service("api", rows=[dsl.use("outer", job="api")])\n',
        'dsl.service("api", rows=[dsl.use("outer", job="api", size=3)])\n',
    ],
    ids=["default", "argument"],
)
def test_nested_block_parameter_error_in_python(project: Path, service: str) -> None:
    """A ParameterError of a block that another block uses stays at that use."""
    files = {"blocks/team.py": NESTED_BLOCKS, "services/api.py": HEAD + service}
    code, output = run_build(project, files)
    assert code == 1
    assert diagnostic_lines(output) == [
        "blocks/team.py:11:44: error: limit must be above 0 [dsl/error]",
        'services/api.py:3:26: note: block "outer" is used here',
    ]


def test_nested_block_parameter_error_in_yaml(project: Path) -> None:
    files = {
        "blocks/team.py": NESTED_BLOCKS,
        "services/api.yaml": "service: api\nrows:\n  - use: outer\n    with: {job: api}\n",
    }
    code, output = run_build(project, files)
    assert code == 1
    assert diagnostic_lines(output) == [
        "blocks/team.py:11:44: error: limit must be above 0 [manifest/block]",
        'services/api.yaml:3:5: note: block "outer" is used here',
    ]


WRONG_RESULTS = HEAD + (
    '@dsl.block("panels")\n'
    "def panels():\n"
    '    return [dsl.panel("Up", "up")]\n'
    "\n"
    '@dsl.block("mapping")\n'
    "def mapping():\n"
    '    return {"title": "Up"}\n'
    "\n"
    '@dsl.block("worker_metrics")\n'
    "def worker_metrics():\n"
    '    return [dsl.gauge("worker_jobs")]\n'
)


@pytest.mark.parametrize(
    ("section", "name", "expected"),
    [
        (
            "rows",
            "panels",
            'block "panels" returns a list of panels, not a row; return '
            "dsl.row(title, panels) from the block",
        ),
        (
            "rows",
            "mapping",
            'block "mapping" returns a mapping, not a row; return '
            "dsl.row(title, panels) from the block",
        ),
        (
            "rows",
            "worker_metrics",
            'block "worker_metrics" returns a list of metrics, not a row; use it '
            "under metric_blocks:",
        ),
        (
            "metric_blocks",
            "panels",
            'block "panels" returns a list of panels, not a list of metrics; return '
            "a list such as [dsl.gauge(name, help)] from the block",
        ),
    ],
    ids=["panels-in-rows", "mapping-in-rows", "metrics-in-rows", "panels-in-metrics"],
)
def test_block_result_of_wrong_kind(
    project: Path, section: str, name: str, expected: str
) -> None:
    """A block that returns the wrong kind of value gets an error that names both."""
    files = {
        "blocks/team.py": WRONG_RESULTS,
        "services/api.yaml": f"service: api\n{section}:\n  - use: {name}\n",
    }
    code, output = run_build(project, files)
    assert code == 1
    assert diagnostic_lines(output) == [
        f"services/api.yaml:3:10: error: {expected} [manifest/block]"
    ]


ACCUMULATING_BLOCK = HEAD + (
    '@dsl.block("jobs_row")\n'
    "def jobs_row(job, seen=[]):\n"
    "    seen.append(job)\n"
    '    return dsl.row("Jobs", [dsl.panel(f"Up {j}", "up") for j in seen])\n'
)
CHANGED_DEFAULT = (
    'warning: block "jobs_row" changed the default value of its parameter "seen", '
    "so each use gets what the uses before it left, and a rebuild of one service "
    "differs from a full build; default to None and create the value in the "
    "function [dsl/block-default]"
)


def test_block_changing_its_default_warns(project: Path) -> None:
    """A block that changes a mutable default is warned about at each use."""
    files = {
        "blocks/team.py": ACCUMULATING_BLOCK,
        "services/a.yaml": "service: a\nrows:\n  - use: jobs_row\n    with: {job: a}\n",
        "services/b.py": HEAD
        + 'dsl.service("b", rows=[dsl.use("jobs_row", job="b")])\n',
    }
    code, output = run_build(project, files)
    assert code == 0, output
    assert diagnostic_lines(output) == [
        f"blocks/team.py:3:1: {CHANGED_DEFAULT}",
        'services/a.yaml:3:5: note: block "jobs_row" is used here',
        f"blocks/team.py:3:1: {CHANGED_DEFAULT}",
        'services/b.py:3:24: note: block "jobs_row" is used here',
    ]


def test_block_keeping_its_default_is_quiet(project: Path) -> None:
    files = {
        "blocks/team.py": HEAD
        + '@dsl.block("jobs_row")\n'
        + "def jobs_row(job, extra=[]):\n"
        + '    return dsl.row("Jobs", [dsl.panel(f"Up {job}", "up"), *extra])\n',
        "services/a.yaml": "service: a\nrows:\n  - use: jobs_row\n    with: {job: a}\n",
    }
    code, output = run_build(project, files)
    assert code == 0, output
    assert diagnostic_lines(output) == []


def test_block_default_that_cannot_be_copied(project: Path) -> None:
    """A default whose copy raises is not compared, and the block runs as written."""
    files = {
        "blocks/team.py": HEAD
        + "class Odd(list):\n"
        + "    def __deepcopy__(self, memo):\n"
        + '        raise ValueError("no copies")\n\n'
        + '@dsl.block("jobs_row")\n'
        + "def jobs_row(job, seen=Odd()):\n"
        + "    seen.append(job)\n"
        + '    return dsl.row("Jobs", [dsl.panel(f"Up {job}", "up")])\n',
        "services/a.yaml": "service: a\nrows:\n  - use: jobs_row\n    with: {job: a}\n",
    }
    code, output = run_build(project, files)
    assert code == 0, output
    assert "Traceback" not in output
    assert diagnostic_lines(output) == []


RECURSIVE_BLOCKS = HEAD + (
    '@dsl.block("queue_row")\n'
    "def queue_row(job, depth=0):\n"
    "    if depth == 3:\n"
    '        return dsl.row("Q")\n'
    '    return dsl.use("queue_row", job=job, depth=depth + 1)\n'
    "\n"
    '@dsl.block("loop_row")\n'
    "def loop_row(job):\n"
    '    return dsl.use("loop_row", job=job)\n'
)


def test_block_using_itself_with_same_parameters(project: Path) -> None:
    """A block that uses itself with the same parameters is one short error."""
    files = {
        "blocks/team.py": RECURSIVE_BLOCKS,
        "services/api.yaml": "service: api\nrows:\n  - use: loop_row\n    with: {job: api}\n",
    }
    code, output = run_build(project, files)
    assert code == 1
    assert diagnostic_lines(output) == [
        'blocks/team.py:11:12: error: block "loop_row" uses itself with the same '
        "parameters, so it would never return; change a parameter on each use and "
        "stop at a base case [manifest/block]",
        'services/api.yaml:3:5: note: block "loop_row" is used here',
    ]


def test_block_using_itself_to_a_base_case(project: Path) -> None:
    files = {"blocks/team.py": RECURSIVE_BLOCKS, "services/api.yaml": USE_QUEUE_ROW}
    code, output = run_build(project, files)
    assert code == 0, output
    assert diagnostic_lines(output) == []
