# ruff: noqa: E501 -- manifest texts keep each PromQL query on one line, as manifests do.
"""Tables of cases for each check, run through the real loader so positions are real.

Each case is a small manifest and the exact diagnostics that every check together
reports for it. Most cases extend HEADER, a 14-line manifest for service "payments",
so the first line of a case's panel is line 15 and a query written as
`        query: '...'` starts at column 17. Each table's output, with source lines and
carets, is also compared with a snapshot under __snapshots__/test_checks/.
"""

from __future__ import annotations

import sys
import textwrap
import warnings
import zoneinfo
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from obscompile.cache import LazyCatalog
from obscompile.check import (
    dashboard_timezone,
    project_metric_types,
    registered_checks,
    run_checks,
)
from obscompile.check.catalog import exported_series
from obscompile.check.context import ProjectContext
from obscompile.load.project import load_project
from obscompile.model.location import Location
from obscompile.model.metric import Metric, MetricType, SeriesNaming
from obscompile.model.service import Service
from obscompile.pipeline import BuildResult, Project, build
from obscompile.report import format_text

REPOSITORY = Path(__file__).resolve().parents[1]

HEADER = """\
service: payments
scrape: {job: payments, port: 8080, interval: 15s}
metrics:
  http_requests_total:
    type: counter
    labels: [code, method]
  http_request_duration_seconds:
    type: histogram
    labels: [method]
  queue_depth: gauge
  rpc_duration_seconds: summary
rows:
  - title: Main
    panels:
"""


def panels(
    text: str, header: str = HEADER, name: str = "payments.yaml"
) -> dict[str, str]:
    """Return a project of one manifest: `header`, then the panels in `text`."""
    body = textwrap.indent(textwrap.dedent(text).strip("\n"), "      ")
    return {name: header + body + "\n"}


def manifest(text: str, name: str = "payments.yaml") -> dict[str, str]:
    return {name: textwrap.dedent(text).lstrip("\n")}


def runtime_panels(text: str, runtime: str) -> dict[str, str]:
    """Return `panels(text)` for a service with `runtime`, whose panels start on line 16."""
    header = HEADER.replace(
        "service: payments\n", f"service: payments\nruntime: {runtime}\n"
    )
    return panels(text, header)


@attrs.frozen
class Case:
    id: str
    files: dict[str, str]
    expected: list[str]


def load(tmp_path: Path, files: dict[str, str]):
    folder = tmp_path / "services"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return load_project(Path("services"))


def run_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Case
) -> tuple[list[str], str]:
    """Load the manifests of `case` and run every check; return lines and report."""
    monkeypatch.chdir(tmp_path)
    loaded = load(tmp_path, case.files)
    assert [str(d) for d in loaded.diagnostics] == []
    diagnostics = run_checks(loaded.services, sources=loaded.sources)
    return [str(d) for d in diagnostics], format_text(diagnostics, loaded.sources)


E = "services/payments.yaml"


def python_module(name: str, body: str) -> dict[str, str]:
    """Return a project of one Python module that imports dsl and runs `body`.

    The manifest schema does not see the values of the Python DSL, so the checks
    report what the schema rejects in a manifest. Each case names its own module,
    because linecache, which finds the positions of DSL calls, may keep the lines of
    an earlier file of the same name, size and modification time.
    """
    return {f"{name}.py": "from obscompile import dsl\n\n" + textwrap.dedent(body)}


def alert_label_module(name: str, labels: str) -> dict[str, str]:
    """Return `python_module` of a service whose one alert gets the labels `labels`.

    The alert is the dsl.alert() call at line 14, column 27.
    """
    return python_module(
        name,
        f"""
        dsl.service(
            "payments",
            rows=[
                dsl.row(
                    "A",
                    [
                        dsl.panel(
                            "Error ratio",
                            "sum(rate(http_requests_total[5m]))",
                            thresholds="<1 Green, >1 Red",
                            alert=dsl.alert(labels={labels}),
                        )
                    ],
                )
            ],
        )
        """,
    )


SYNTAX = [
    Case(
        "unclosed-parenthesis",
        panels("""
            - title: RPS
              query: 'sum(rate(http_requests_total[5m])'
        """),
        [
            f"{E}:16:20: error: invalid PromQL query: unclosed left parenthesis "
            "[promql/syntax]"
        ],
    ),
    Case(
        # The parser names the character but not where it is, and the same
        # character is written earlier in each query.
        "unexpected-character-after-same-one",
        panels("""
            - title: Ratio
              query: 'sum(rate(http_requests_total[5m])) / sum(rate(http_requests_total[5m)))'
            - title: RPS
              query: 'rate(http_requests_total[5m])) + 1'
        """),
        [
            f"{E}:16:85: error: invalid PromQL query: unexpected character inside "
            "brackets: ')' [promql/syntax]",
            f"{E}:18:46: error: invalid PromQL query: unexpected right parenthesis "
            "')' [promql/syntax]",
        ],
    ),
    Case(
        # The bracket inside a range is not the first one of its kind in the query.
        "bracket-inside-range",
        panels("""
            - title: RPS
              query: 'sum(rate(http_requests_total[5m[1m]]))'
        """),
        [
            f"{E}:16:48: error: invalid PromQL query: unexpected left brace '[' "
            "inside brackets [promql/syntax]"
        ],
    ),
    Case(
        # The lexer writes a no-break space as \u{a0}, not as the character.
        "unexpected-no-break-space",
        panels("""
            - title: RPS
              query: 'sum(rate(http_requests_total[5m]))\u00a0* 100'
        """),
        [
            f"{E}:16:51: error: invalid PromQL query: unexpected character: "
            "'\\u{a0}' [promql/syntax]"
        ],
    ),
    Case(
        "bad-duration-after-escapes",
        panels(r"""
            - title: RPS
              query: "sum(rate(http_requests_total{code=\"5..\"}[5mm]))"
        """),
        [
            f"{E}:16:60: error: invalid PromQL query: bad number or duration syntax: 5mm "
            "[promql/syntax]"
        ],
    ),
    Case(
        "range-longer-than-prometheus-reads",
        panels("""
            - title: RPS
              query: 'sum(rate(http_requests_total[293y]))'
        """),
        [
            f"{E}:16:46: error: invalid PromQL query: 293y is longer than Prometheus "
            "accepts (about 292 years, 106751d23h47m16s854ms) [promql/syntax]"
        ],
    ),
    Case(
        "timestamp-out-of-range",
        panels("""
            - title: RPS
              query: 'sum(rate(http_requests_total[5m] @ 1e300))'
        """),
        [
            f"{E}:16:50: error: invalid PromQL query: the @ timestamp 1e300 is out "
            "of the range Prometheus accepts, about ±9.2e15 seconds (292 million "
            "years) from 1970 [promql/syntax]"
        ],
    ),
    Case(
        # Prometheus reads a negative timestamp as a time before 1970.
        "negative-timestamp",
        panels("""
            - title: Before 1970
              query: 'sum(rate(http_requests_total{method="a@1e300"}[5m] @ -1))'
        """),
        [],
    ),
    Case(
        "grafana-variables-parse",
        panels("""
            - title: RPS
              query: 'sum(rate(http_requests_total{job="$job"}[$__rate_interval]))'
        """),
        [
            f'{E}:16:51: warning: panel "RPS": the dashboard has no variable $job, so '
            "Grafana sends it to Prometheus as written; its variables are $datasource "
            "and Grafana's own, such as $__rate_interval [promql/dashboard-variable]"
        ],
    ),
    Case(
        "duration-without-unit",
        panels("""
            - title: RPS
              query: 'sum(rate(http_requests_total[300]))'
        """),
        [
            f"{E}:16:46: error: invalid PromQL query: the duration 300 has no unit, "
            "which Prometheus 2.42 requires; write 300s [promql/syntax]"
        ],
    ),
    Case(
        "offset-and-subquery-without-unit",
        panels("""
            - title: Depth
              query: 'max_over_time(queue_depth[1h:60]) - queue_depth offset 300'
        """),
        [
            f"{E}:16:46: error: invalid PromQL query: the duration 60 has no unit, "
            "which Prometheus 2.42 requires; write 60s [promql/syntax]",
            f"{E}:16:72: error: invalid PromQL query: the duration 300 has no unit, "
            "which Prometheus 2.42 requires; write 300s [promql/syntax]",
        ],
    ),
    Case(
        "quoted-names",
        panels("""
            - title: RPS
              query: 'sum(rate({"http_requests_total", "code"="200"}[5m]))'
        """),
        [
            f"{E}:16:27: error: invalid PromQL query: Prometheus 2.42 reads no quoted "
            "metric or label names (Prometheus 3.0 added them); write the name "
            "without quotes, with only ASCII letters, digits, _ and : [promql/syntax]",
            f"{E}:16:50: error: invalid PromQL query: Prometheus 2.42 reads no quoted "
            "metric or label names (Prometheus 3.0 added them); write the name "
            "without quotes, with only ASCII letters, digits, _ and : [promql/syntax]",
        ],
    ),
    Case(
        "misspelt-function",
        panels("""
            - title: RPS
              query: 'summ(rate(http_requests_total[5m]))'
            - title: Rate
              query: 'sum(rat(http_requests_total[5m]))'
            - title: Errors
              query: 'Rate(http_requests_total[5m])'
        """),
        [
            f"{E}:16:17: error: invalid PromQL query: unknown function with name "
            "'summ' (did you mean \"sum\"?) [promql/syntax]",
            f"{E}:18:21: error: invalid PromQL query: unknown function with name "
            "'rat' (did you mean \"rate\"?) [promql/syntax]",
            f"{E}:20:17: error: invalid PromQL query: unknown function with name "
            "'Rate' (did you mean \"rate\"?) [promql/syntax]",
        ],
    ),
    Case(
        # The parser places the error at the first "rat", which is a metric name.
        "misspelt-function-after-metric-of-its-name",
        panels("""
            - title: RPS
              query: 'rat + rat(http_requests_total[5m])'
        """),
        [
            f"{E}:16:23: error: invalid PromQL query: unknown function with name "
            "'rat' (did you mean \"rate\"?) [promql/syntax]",
        ],
    ),
    Case(
        # `summ by` reads as a metric followed by a keyword.
        "misspelt-aggregation-before-grouping",
        panels("""
            - title: RPS
              query: 'summ by (job) (rate(http_requests_total[5m]))'
            - title: Mean
              query: 'avgg without (job) (rate(http_requests_total[5m]))'
            - title: Other
              query: 'foo by (job) (rate(http_requests_total[5m]))'
        """),
        [
            f'{E}:16:17: error: invalid PromQL query: unexpected keyword "by" after '
            '"summ", which is not an aggregation (did you mean "sum"?) '
            "[promql/syntax]",
            f'{E}:18:17: error: invalid PromQL query: unexpected keyword "without" '
            'after "avgg", which is not an aggregation (did you mean "avg"?) '
            "[promql/syntax]",
            f'{E}:20:21: error: invalid PromQL query: unexpected keyword "by" '
            "[promql/syntax]",
        ],
    ),
    Case(
        "unknown-function-close-to-none",
        panels("""
            - title: RPS
              query: 'foo(http_requests_total)'
        """),
        [
            f"{E}:16:17: error: invalid PromQL query: unknown function with name "
            "'foo' [promql/syntax]",
        ],
    ),
    Case(
        "later-function-and-aggregation",
        panels("""
            - title: Depth
              query: 'limitk(2, sort_by_label(queue_depth, "job"))'
        """),
        [
            f"{E}:16:17: error: invalid PromQL query: Prometheus 2.42 has no "
            "aggregation limitk, which a later version added [promql/syntax]",
            f"{E}:16:27: error: invalid PromQL query: Prometheus 2.42 has no function "
            "sort_by_label, which a later version added [promql/syntax]",
        ],
    ),
    Case(
        "duration-as-number",
        panels("""
            - title: Depth
              query: 'max(queue_depth offset 5m) > 5m'
        """),
        [
            f"{E}:16:46: error: invalid PromQL query: Prometheus 2.42 reads the "
            "duration 5m only in a range, a subquery or after offset, not as a "
            "number; write the number of seconds [promql/syntax]"
        ],
    ),
    Case(
        "zero-duration",
        panels("""
            - title: Depth
              query: 'max(queue_depth offset 0s)'
        """),
        [
            f"{E}:16:40: error: invalid PromQL query: duration must be greater than 0 "
            "[promql/syntax]"
        ],
    ),
    Case(
        "plain-query-cut-at-comment",
        panels("""
            - title: RPS
              query: sum(rate(http_requests_total{code=~".* #x"}[5m]))
            - title: Commented
              query: sum(rate(http_requests_total[5m]))  # a comment
        """),
        [
            f"{E}:16:16: error: invalid PromQL query: unterminated quoted string \"; YAML reads ' #' as the start of a comment, so the query ends before it: quote the query [promql/syntax]",
        ],
    ),
    Case(
        "holt-winters",
        panels("""
            - title: Depth
              query: 'holt_winters(queue_depth[1h], 0.5, 0.5)'
        """),
        [
            f"{E}:16:17: error: invalid PromQL query: obscompile cannot read "
            "holt_winters: its PromQL parser follows Prometheus 3, which renamed it "
            "double_exponential_smoothing, a name that Prometheus 2.42 does not have "
            "[promql/syntax]"
        ],
    ),
    Case(
        "quoted-grouping-labels",
        panels("""
            - title: RPS
              query: 'sum by ("code") (rate(http_requests_total[5m]))'
        """),
        [
            f"{E}:16:25: error: invalid PromQL query: Prometheus 2.42 reads no quoted "
            "metric or label names (Prometheus 3.0 added them); write the name "
            "without quotes, with only ASCII letters, digits, _ and : [promql/syntax]"
        ],
    ),
    Case(
        "durations-that-2.42-reads",
        panels("""
            - title: Depth
              query: 'max_over_time(queue_depth[1h30m:15s] offset -5m) + label_replace(queue_depth, "a", "$1", "job", "(.*)")'
        """),
        [],
    ),
    Case(
        # The parser names no cause for these, so the first token that the grammar
        # cannot accept is reported.
        "unexpected-word-after-range",
        panels("""
            - title: Smoothed
              query: 'rate(http_requests_total[5m] smoothed)'
            - title: Anchored
              query: 'rate(http_requests_total[5m] anchored)'
        """),
        [
            f'{E}:16:46: error: invalid PromQL query: unexpected identifier "smoothed" '
            'in function call, expected "," or ")" [promql/syntax]',
            f'{E}:18:46: error: invalid PromQL query: unexpected identifier "anchored" '
            'in function call, expected "," or ")" [promql/syntax]',
        ],
    ),
    Case(
        "offset-without-duration",
        panels("""
            - title: Depth
              query: 'queue_depth offset step()'
        """),
        [
            f'{E}:16:36: error: invalid PromQL query: unexpected identifier "step" in '
            "offset, expected duration [promql/syntax]"
        ],
    ),
    Case(
        "grouping-twice",
        panels("""
            - title: By job
              query: 'sum by (job) (queue_depth) by (job)'
            - title: Without job
              query: 'sum(queue_depth) without (job) by (method)'
        """),
        [
            f'{E}:16:44: error: invalid PromQL query: unexpected keyword "by" '
            "[promql/syntax]",
            f'{E}:18:48: error: invalid PromQL query: unexpected keyword "by" '
            "[promql/syntax]",
        ],
    ),
    Case(
        "end-of-input",
        panels("""
            - title: Depth
              query: 'sum(queue_depth) +'
        """),
        [
            f"{E}:16:35: error: invalid PromQL query: unexpected end of input "
            "[promql/syntax]"
        ],
    ),
    Case(
        # The parser places these at the start of the query.
        "misplaced-and-repeated-modifiers",
        panels("""
            - title: RPS
              query: 'rate(http_requests_total[5m]) @ end()'
            - title: Depth
              query: 'queue_depth offset 1m offset 2m'
        """),
        [
            f"{E}:16:47: error: invalid PromQL query: @ modifier must be preceded by "
            "an instant vector selector, a range vector selector or a subquery "
            "[promql/syntax]",
            f"{E}:18:39: error: invalid PromQL query: offset may not be set "
            "multiple times [promql/syntax]",
        ],
    ),
    Case(
        "line-of-folded-block",
        panels("""
            - title: Ratio
              query: >-
                sum(rate(http_requests_total{code=~"5.."}[5m]))
                  / sum(rate(http_requests_total[300]))
        """),
        [
            f"{E}:18:44: error: invalid PromQL query: the duration 300 has no unit, "
            "which Prometheus 2.42 requires; write 300s [promql/syntax]"
        ],
    ),
]


def with_overview(
    panel_lines: list[str], others: dict[str, str] | None = None
) -> dict[str, str]:
    """Return payments (HEADER), `others` and a catalog-less overview of `panel_lines`.

    The overview's first panel is on its line 6.
    """
    body = "".join(f"      - {line}\n" for line in panel_lines)
    text = "service: overview\ndashboard: {uid: overview}\nrows:\n"
    text += "  - title: Fleet\n    panels:\n" + body
    return {
        **panels("""
            - title: RPS
              query: 'sum(rate(http_requests_total[5m]))'
        """),
        **(others or {}),
        "overview.yaml": text,
    }


UNKNOWN_METRIC = [
    Case(
        "typo-suggests-closest",
        panels("""
            - title: RPS
              query: 'sum(rate(http_request_total[5m]))'
        """),
        [
            f'{E}:16:26: error: metric "http_request_total" is not in the catalog of '
            'service "payments" or of any other service; did you mean '
            '"http_requests_total"? '
            "[promql/unknown-metric]"
        ],
    ),
    Case(
        "summary-buckets",
        panels("""
            - title: RPC p90
              query: 'histogram_quantile(0.9, sum by (le) (rate(rpc_duration_seconds_bucket{job="payments"}[5m])))'
            - title: RPC p99
              query: 'histogram_quantile(0.99, sum by (le) (rate(rpc_duration_seconds_bucket[5m])))'
        """),
        [
            f'{E}:16:59: error: metric "rpc_duration_seconds_bucket" is not in the '
            'catalog of service "payments", which declares "rpc_duration_seconds" as '
            "a summary, and a summary has no buckets; read one of its quantiles, such "
            'as rpc_duration_seconds{quantile="0.9"}, or declare '
            '"rpc_duration_seconds" as a histogram [promql/unknown-metric]',
            f'{E}:18:60: error: metric "rpc_duration_seconds_bucket" is not in the '
            'catalog of service "payments", which declares "rpc_duration_seconds" as '
            "a summary, and a summary has no buckets; read one of its quantiles, such "
            'as rpc_duration_seconds{quantile="0.9"}, or declare '
            '"rpc_duration_seconds" as a histogram [promql/unknown-metric]',
        ],
    ),
    Case(
        "name-matcher",
        panels("""
            - title: RPS
              query: 'sum(rate({__name__="http_request_totl"}[5m]))'
        """),
        [
            f'{E}:16:26: error: metric "http_request_totl" is not in the catalog of '
            'service "payments" or of any other service; did you mean '
            '"http_requests_total"? '
            "[promql/unknown-metric]"
        ],
    ),
    Case(
        "nothing-close",
        panels("""
            - title: Orders
              query: 'orders_open'
        """),
        [
            f'{E}:16:17: error: metric "orders_open" is not in the catalog of service '
            '"payments" or of any other service; declare it under metrics: '
            "[promql/unknown-metric]"
        ],
    ),
    Case(
        "histogram-base-name",
        panels("""
            - title: Latency
              query: 'rate(http_request_duration_seconds[5m])'
        """),
        [
            f'{E}:16:22: error: metric "http_request_duration_seconds" is a histogram, '
            "whose series are http_request_duration_seconds_bucket, "
            "http_request_duration_seconds_sum, http_request_duration_seconds_count "
            "[promql/unknown-metric]"
        ],
    ),
    Case(
        "client-library-metrics-are-known",
        panels("""
            - title: CPU
              query: 'rate(process_cpu_seconds_total[5m]) + up + scrape_duration_seconds'
        """),
        [],
    ),
    Case(
        "second-occurrence-is-located",
        panels("""
            - title: Ratio
              query: 'sum(rate(http_requests_total[5m])) / sum(rate(http_requests_totals[5m]))'
        """),
        [
            f'{E}:16:63: error: metric "http_requests_totals" is not in the catalog of '
            'service "payments" or of any other service; did you mean '
            '"http_requests_total"? '
            "[promql/unknown-metric]"
        ],
    ),
    Case(
        "line-of-plain-scalar",
        panels("""
            - title: Ratio
              query: sum(rate(http_requests_total[5m]))
                / sum(rate(http_requests_totl[5m]))
        """),
        [
            f'{E}:17:22: error: metric "http_requests_totl" is not in the catalog of '
            'service "payments" or of any other service; did you mean '
            '"http_requests_total"? '
            "[promql/unknown-metric]"
        ],
    ),
    Case(
        "line-of-double-quoted-scalar",
        panels("""
            - title: Ratio
              query: "sum(rate(http_requests_total{code=\\"500\\"}[5m]))
                / sum(rate(http_requests_totl[5m]))"
        """),
        [
            f'{E}:17:22: error: metric "http_requests_totl" is not in the catalog of '
            'service "payments" or of any other service; did you mean '
            '"http_requests_total"? '
            "[promql/unknown-metric]"
        ],
    ),
    Case(
        "line-of-literal-block",
        panels("""
            - title: Ratio
              query: |-
                sum(rate(http_requests_total{code=~"5.."}[5m]))
                  / sum(rate(http_requests_totl[5m]))
        """),
        [
            f'{E}:18:24: error: metric "http_requests_totl" is not in the catalog of '
            'service "payments" or of any other service; did you mean '
            '"http_requests_total"? '
            "[promql/unknown-metric]"
        ],
    ),
    Case(
        # Both names are as close to the typo; the service's own one is suggested.
        "own-name-suggested-first",
        {
            **manifest("""
                service: payments
                scrape: {job: payments, port: 8080}
                metrics:
                  svc_0002_tokens_total: {type: counter}
                dashboard: {uid: payments}
                rows:
                  - title: Tokens
                    panels:
                      - {title: Tokens, query: 'svc_0001_tokens_total'}
            """),
            **manifest(
                """
                service: ledger
                scrape: {job: ledger, port: 8081}
                metrics:
                  svc_0020_tokens_total: {type: counter}
                """,
                "ledger.yaml",
            ),
        },
        [
            f'{E}:9:33: error: metric "svc_0001_tokens_total" is not in the catalog '
            'of service "payments" or of any other service; did you mean '
            '"svc_0002_tokens_total"? [promql/unknown-metric]'
        ],
    ),
    Case(
        # A service without a catalog gets a warning for a name close to a declared
        # series, and none for an exporter's metric that no catalog declares.
        "no-catalog-typo-warns",
        with_overview(
            [
                "{title: RPS, query: 'sum(rate(http_request_total[5m]))'}",
                "{title: CPU, query: 'sum(rate(node_cpu_seconds_total[5m]))'}",
                "{title: Memory, query: 'sum(container_memory_rss)'}",
            ]
        ),
        [
            'services/overview.yaml:6:39: warning: metric "http_request_total" is not '
            'in any catalog; did you mean "http_requests_total"? Service "overview" '
            "declares no metrics, so only names close to a declared one are reported "
            "[promql/unknown-metric]"
        ],
    ),
    Case(
        "no-catalog-histogram-base-name",
        with_overview(["{title: Slow, query: 'http_request_duration_seconds'}"]),
        [
            "services/overview.yaml:6:31: warning: metric "
            '"http_request_duration_seconds" is a histogram, whose series are '
            "http_request_duration_seconds_bucket, http_request_duration_seconds_sum, "
            "http_request_duration_seconds_count [promql/unknown-metric]"
        ],
    ),
    Case(
        # A job's services declare what it exports, so a service without a catalog
        # may chart only their metrics of that job: here a name renamed away.
        "no-catalog-job-of-catalog",
        with_overview(
            [
                "{title: A, query: 'sum(rate(orders_placed_total{job=\"payments\"}[5m]))'}",
                "{title: B, query: 'sum(rate(http_request_total{job=\"payments\"}[5m]))'}",
                '{title: C, query: \'up{job="payments"} + go_goroutines{job="payments"}\'}',
                "{title: D, query: 'sum(rate(node_cpu_seconds_total{job=\"node\"}[5m]))'}",
            ],
            manifest(
                """
                service: node
                scrape: {job: node, port: 9100}
                """,
                "node.yaml",
            ),
        ),
        [
            'services/overview.yaml:6:37: error: metric "orders_placed_total" is not in the '
            'catalog of service "payments", which scrapes job "payments" '
            "[promql/unknown-metric]",
            'services/overview.yaml:7:37: error: metric "http_request_total" is not in '
            'the catalog of service "payments", which scrapes job "payments"; did you '
            'mean "http_requests_total"? [promql/unknown-metric]',
        ],
    ),
]

UNKNOWN_METRIC += [
    Case(
        "service-declared-twice",
        {
            name: textwrap.dedent("""\
                service: shop
                scrape: {job: shop, port: 80}
                metrics:
                  orders_total: counter
                rows:
                  - title: R
                    panels:
                      - {title: A, query: 'sum(rate(order_total{job="shop"}[5m]))'}
            """)
            for name in ("a.yaml", "b.yaml")
        },
        [
            'services/a.yaml:1:10: error: service "shop" is also defined in services/b.yaml:1:10 [project/duplicate-service]',
            'services/a.yaml:2:15: error: scrape job "shop" is also defined in services/b.yaml:2:15 [project/duplicate-job]',
            'services/a.yaml:8:37: error: metric "order_total" is not in the catalog of service "shop", which scrapes job "shop"; did you mean "orders_total"? [promql/unknown-metric]',
            'services/b.yaml:1:10: error: service "shop" is also defined in services/a.yaml:1:10 [project/duplicate-service]',
            'services/b.yaml:2:15: error: scrape job "shop" is also defined in services/a.yaml:2:15 [project/duplicate-job]',
            'services/b.yaml:8:37: error: metric "order_total" is not in the catalog of service "shop", which scrapes job "shop"; did you mean "orders_total"? [promql/unknown-metric]',
        ],
    ),
    Case(
        # A probe job's series are the exporter's, which no catalog declares.
        "probe-job-series",
        manifest(
            """
            service: shop
            runtime: python
            scrape:
              - {job: shop, port: 8000}
              - job: blackbox
                probe: {exporter: 'blackbox:9115', module: http_2xx}
                targets: ['https://shop.example/health']
            metrics:
              orders: counter
            rows:
              - title: R
                panels:
                  - {title: A, query: 'min(probe_success{job="blackbox"})'}
                  - {title: B, query: 'max(probe_success{job="shop"})'}
        """,
            "shop.yaml",
        ),
        [
            'services/shop.yaml:14:32: error: metric "probe_success" is not in the '
            'catalog of service "shop", which scrapes job "shop" [promql/unknown-metric]',
        ],
    ),
    Case(
        # A service without a runtime may use any client library, such as an
        # exporter's, so a counter or info metric is read under its declared name
        # or the suffixed one. An info metric named `..._info` gets no second suffix.
        "declared-name-of-exposed-series",
        manifest(
            """
            service: shop
            scrape: {job: shop, port: 80}
            metrics:
              orders: counter
              refunds: counter
              build: info
              release: info
              node_uname_info: info
              latency_seconds: histogram
            rows:
              - title: R
                panels:
                  - {title: A, query: 'sum(rate(orders{job="shop"}[5m]))'}
                  - {title: B, query: 'sum(rate(refunds_total{job="shop"}[5m]))'}
                  - {title: C, query: 'max(build{job="shop"}) + max(release_info{job="shop"})'}
                  - {title: D, query: 'max(node_uname_info{job="shop"})'}
                  - {title: E, query: 'max(node_uname_info_info{job="shop"})'}
                  - {title: F, query: 'sum(rate(latency_seconds{job="shop"}[5m]))'}
        """,
            "shop.yaml",
        ),
        [
            'services/shop.yaml:17:32: error: metric "node_uname_info_info" is not in the catalog of service "shop", which scrapes job "shop"; did you mean "node_uname_info"? [promql/unknown-metric]',
            'services/shop.yaml:18:37: error: metric "latency_seconds" is a histogram of the catalog of service "shop", which the client libraries expose as "latency_seconds_bucket", "latency_seconds_sum", "latency_seconds_count"; query one of them [promql/unknown-metric]',
        ],
    ),
    Case(
        # obscompile instruments a service with a runtime, whose client library
        # exposes a counter only as `..._total` and an info metric as `..._info`.
        "declared-name-of-exposed-series-runtime",
        manifest(
            """
            service: shop
            runtime: python
            scrape: {job: shop, port: 8000}
            metrics:
              orders: counter
              build: info
              node_uname_info: info
            rows:
              - title: R
                panels:
                  - {title: A, query: 'sum(rate(orders{job="shop"}[5m]))'}
                  - {title: B, query: 'max(build{job="shop"})'}
                  - {title: C, query: 'max(node_uname_info{job="shop"})'}
        """,
            "shop.yaml",
        ),
        [
            'services/shop.yaml:11:37: error: metric "orders" is a counter of the catalog of service "shop", which the client libraries expose as "orders_total"; query "orders_total" [promql/unknown-metric]',
            'services/shop.yaml:12:32: error: metric "build" is an info of the catalog of service "shop", which the client libraries expose as "build_info"; query "build_info" [promql/unknown-metric]',
            'services/shop.yaml:13:32: error: metric "node_uname_info" is an info of the catalog of service "shop", which the client libraries expose as "node_uname_info_info"; query "node_uname_info_info" [promql/unknown-metric]',
        ],
    ),
    Case(
        # prometheus_client's Summary exposes _count, _sum and _created, and no
        # quantile series, so the panel and the alert it derives would see nothing.
        "python-summary-has-no-quantiles",
        runtime_panels(
            """
            - title: RPC p99
              query: 'max(rpc_duration_seconds{job="payments",quantile="0.99"})'
              thresholds: "<500ms Green, >=500ms Red"
            - title: RPC p50
              query: 'rpc_duration_seconds{quantile="0.5"}'
            - title: RPC rate
              query: 'sum(rate(rpc_duration_seconds_count[5m])) + max(rpc_duration_seconds_created)'
            """,
            "python",
        ),
        [
            f'{E}:17:21: error: summary "rpc_duration_seconds" has no series "rpc_duration_seconds", because prometheus_client (runtime python) exposes a Summary only as rpc_duration_seconds_count, rpc_duration_seconds_sum and rpc_duration_seconds_created, without quantiles; declare "rpc_duration_seconds" as a histogram and query histogram_quantile(0.99, sum by (le) (rate(rpc_duration_seconds_bucket[5m]))) [promql/unknown-metric]',
            f'{E}:20:17: error: summary "rpc_duration_seconds" has no series "rpc_duration_seconds", because prometheus_client (runtime python) exposes a Summary only as rpc_duration_seconds_count, rpc_duration_seconds_sum and rpc_duration_seconds_created, without quantiles; declare "rpc_duration_seconds" as a histogram and query histogram_quantile(0.5, sum by (le) (rate(rpc_duration_seconds_bucket[5m]))) [promql/unknown-metric]',
        ],
    ),
    Case(
        "python-summary-of-other-service",
        {
            **manifest(
                "service: ledger\nruntime: python\nscrape: {job: ledger, port: 8080}\n"
                "metrics:\n  ledger_write_seconds: summary\n",
                "ledger.yaml",
            ),
            **manifest("""
                service: payments
                dashboard: {uid: payments}
                metrics:
                  queue_depth: gauge
                rows:
                  - title: Writes
                    panels:
                      - {title: By job, query: 'max(ledger_write_seconds{job="ledger",quantile="0.9"})'}
                      - {title: Any job, query: 'max(ledger_write_seconds)'}
            """),
        },
        [
            f'{E}:8:37: error: summary "ledger_write_seconds" has no series "ledger_write_seconds", because prometheus_client (runtime python) exposes a Summary only as ledger_write_seconds_count, ledger_write_seconds_sum and ledger_write_seconds_created, without quantiles; declare "ledger_write_seconds" as a histogram and query histogram_quantile(0.9, sum by (le) (rate(ledger_write_seconds_bucket[5m]))) [promql/unknown-metric]',
            f'{E}:9:38: error: summary "ledger_write_seconds" has no series "ledger_write_seconds", because prometheus_client (runtime python) exposes a Summary only as ledger_write_seconds_count, ledger_write_seconds_sum and ledger_write_seconds_created, without quantiles; declare "ledger_write_seconds" as a histogram and query histogram_quantile(0.99, sum by (le) (rate(ledger_write_seconds_bucket[5m]))) [promql/unknown-metric]',
        ],
    ),
    Case(
        # Neither buckets nor quantiles: a Python summary has only _sum and _count.
        "python-summary-buckets",
        runtime_panels(
            """
            - title: RPC p90
              query: 'histogram_quantile(0.9, sum by (le) (rate(rpc_duration_seconds_bucket{job="payments"}[5m])))'
            - title: RPC p99
              query: 'histogram_quantile(0.99, sum by (le) (rate(rpc_duration_seconds_bucket[5m])))'
            """,
            "python",
        ),
        [
            f'{E}:17:59: error: metric "rpc_duration_seconds_bucket" is not in the catalog of service "payments", which declares "rpc_duration_seconds" as a summary, and a summary has no buckets; declare "rpc_duration_seconds" as a histogram [promql/unknown-metric]',
            f'{E}:19:60: error: metric "rpc_duration_seconds_bucket" is not in the catalog of service "payments", which declares "rpc_duration_seconds" as a summary, and a summary has no buckets; declare "rpc_duration_seconds" as a histogram [promql/unknown-metric]',
        ],
    ),
    Case(
        # prom-client exports no _created series, for counters, histograms or summaries.
        "nodejs-created",
        runtime_panels(
            """
            - title: Started
              query: 'max(http_requests_created{job="payments"})'
            - title: Summary and histogram started
              query: 'max(rpc_duration_seconds_created) + max(http_request_duration_seconds_created)'
            - title: Process start
              query: 'max(process_start_time_seconds{job="payments"})'
            """,
            "nodejs",
        ),
        [
            f'{E}:17:21: error: counter "http_requests_total" has no series "http_requests_created", because prom-client (runtime nodejs) exports no _created series; query process_start_time_seconds for the time the process started [promql/unknown-metric]',
            f'{E}:19:21: error: summary "rpc_duration_seconds" has no series "rpc_duration_seconds_created", because prom-client (runtime nodejs) exports no _created series; query process_start_time_seconds for the time the process started [promql/unknown-metric]',
            f'{E}:19:57: error: histogram "http_request_duration_seconds" has no series "http_request_duration_seconds_created", because prom-client (runtime nodejs) exports no _created series; query process_start_time_seconds for the time the process started [promql/unknown-metric]',
        ],
    ),
    Case(
        # prometheus_client strips _total from a counter's name for its _created
        # series, and keeps it in a histogram's.
        "python-created",
        manifest("""
            service: payments
            runtime: python
            scrape: {job: payments, port: 8080}
            metrics:
              jobs_total: counter
              batches_total: histogram
              rpc_duration_seconds: summary
            rows:
              - title: Main
                panels:
                  - {title: A, query: 'max(jobs_created{job="payments"}) + max(batches_total_created) + max(rpc_duration_seconds_created)'}
                  - {title: B, query: 'max(batches_created{job="payments"})'}
        """),
        [
            f'{E}:12:32: error: metric "batches_created" is not in the catalog of service "payments", which scrapes job "payments" [promql/unknown-metric]',
        ],
    ),
]

UNKNOWN_LABEL = [
    Case(
        "grouping-after-sum-without-labels",
        panels("""
            - title: Total
              query: 'max by (method) (sum(rate(http_requests_total[5m])))'
        """),
        [
            f"{E}:16:25: error: max by (method): the aggregated series have no label "
            '"method"; they have no labels [promql/unknown-label]'
        ],
    ),
    Case(
        "grouping-over-scalar-operation",
        panels("""
            - title: Age
              query: 'max by (code) (time() - http_requests_total{job="payments"})'
        """),
        [],
    ),
    Case(
        "after-tab-escape",
        panels(r"""
            - title: Errors
              query: "sum(rate(http_requests_total[5m]))\t/ sum(rate(http_requests_total{cod=\"5..\"}[5m]))"
        """),
        [
            f'{E}:16:84: error: metric "http_requests_total" has no label "cod"; '
            'did you mean "code"? [promql/unknown-label]'
        ],
    ),
    Case(
        "matcher-typo",
        panels("""
            - title: Errors
              query: 'sum(rate(http_requests_total{cod="5.."}[5m]))'
        """),
        [
            f'{E}:16:46: error: metric "http_requests_total" has no label "cod"; '
            'did you mean "code"? [promql/unknown-label]'
        ],
    ),
    Case(
        "le-only-on-buckets",
        panels("""
            - title: Slow
              query: 'rate(http_request_duration_seconds_count{le="0.5"}[5m])'
        """),
        [
            f'{E}:16:58: error: metric "http_request_duration_seconds_count" has no '
            'label "le"; its labels are instance, job, method [promql/unknown-label]'
        ],
    ),
    Case(
        "by-typo",
        panels("""
            - title: By method
              query: 'sum by (methd) (rate(http_requests_total[5m]))'
        """),
        [
            f"{E}:16:25: error: sum by (methd): the aggregated series have no label "
            '"methd"; did you mean "method"? [promql/unknown-label]'
        ],
    ),
    Case(
        "without-lists-labels",
        panels("""
            - title: Without
              query: 'sum without (le) (rate(http_requests_total[5m]))'
        """),
        [
            f"{E}:16:30: error: sum without (le): the aggregated series have no label "
            '"le"; their labels are code, instance, job, method [promql/unknown-label]'
        ],
    ),
    Case(
        "always-known-labels",
        panels("""
            - title: Known
              query: |-
                sum by (job, instance, le) (rate(http_request_duration_seconds_bucket{le="+Inf"}[5m]))
                + on (job) group_left max by (job) (rpc_duration_seconds{quantile="0.99"})
        """),
        [],
    ),
    Case(
        "label-replace-adds-label",
        panels("""
            - title: Route
              query: 'sum by (route) (label_replace(rate(http_requests_total[5m]), "route", "$1", "method", "(.*)"))'
        """),
        [],
    ),
    Case(
        "scrape-job-labels",
        manifest("""
            service: payments
            scrape: {job: payments, port: 8080, labels: {team: core}}
            metrics:
              http_requests_total: counter
            rows:
              - title: Main
                panels:
                  - title: By team
                    query: 'sum by (team) (rate(http_requests_total{team="core"}[5m]))'
        """),
        [],
    ),
]

RATE_COUNTER = [
    Case(
        "catalog-gauge",
        panels("""
            - title: Queue drain
              query: 'rate(queue_depth{job="payments"}[5m])'
        """),
        [
            f'{E}:16:22: error: rate() applied to "queue_depth", which the catalog '
            "declares as a gauge; use deriv() or delta() for gauges "
            "[promql/rate-counter]"
        ],
    ),
    Case(
        "suffix-without-catalog",
        manifest("""
            service: payments
            scrape: {job: payments, port: 8080, path: /metrics, interval: 1m}
            rows:
              - title: Traffic
                panels:
                  - {title: Queue drain, type: timeseries, query: 'rate(queue_depth{job="payments"}[5m])'}
        """),
        [
            f'{E}:6:61: warning: rate() applied to "queue_depth", which does not look '
            "like a counter (no _total/_count/_sum/_bucket suffix); use deriv() or "
            "delta() for gauges [promql/rate-counter]"
        ],
    ),
    Case(
        "rate-of-sum",
        panels("""
            - title: Chained
              query: 'rate(sum(http_requests_total)[5m:])'
        """),
        [
            f"{E}:16:17: error: rate() over sum(...) misses counter resets, "
            "which sum() hides; apply rate() first: sum(rate(...)) "
            "[promql/rate-counter]"
        ],
    ),
    Case(
        "summary-quantiles",
        panels("""
            - title: RPC
              query: 'increase(rpc_duration_seconds[5m])'
        """),
        [
            f'{E}:16:26: error: increase() applied to "rpc_duration_seconds", '
            "which the catalog declares as the quantiles of a summary; apply increase() to "
            "rpc_duration_seconds_sum and rpc_duration_seconds_count instead "
            "[promql/rate-counter]"
        ],
    ),
    Case(
        "created-series",
        panels("""
            - title: Created
              query: |-
                rate(http_requests_created[5m])
                + increase(http_request_duration_seconds_created[1h])
                + irate(rpc_duration_seconds_created[1m])
        """),
        [
            f'{E}:17:16: error: rate() applied to "http_requests_created", which the '
            "catalog declares as the creation time of http_requests_total, a time "
            "that changes only when the process starts; apply rate() to "
            "http_requests_total instead [promql/rate-counter]",
            f"{E}:18:22: error: increase() applied to "
            '"http_request_duration_seconds_created", which the catalog declares as '
            "the creation time of http_request_duration_seconds, a time that changes "
            "only when the process starts; apply increase() to "
            "http_request_duration_seconds_count instead [promql/rate-counter]",
            f'{E}:19:19: error: irate() applied to "rpc_duration_seconds_created", '
            "which the catalog declares as the creation time of rpc_duration_seconds, "
            "a time that changes only when the process starts; apply irate() to "
            "rpc_duration_seconds_count instead [promql/rate-counter]",
        ],
    ),
    Case(
        "counter-series",
        panels("""
            - title: RPC rate
              query: |-
                rate(rpc_duration_seconds_sum[5m]) / rate(rpc_duration_seconds_count[5m])
                + irate(http_requests_total[1m])
        """),
        [],
    ),
]

HISTOGRAM_LE = [
    Case(
        "by-without-le",
        manifest("""
            service: payments
            rows:
              - title: Latency
                panels:
                  - title: p99 latency
                    type: timeseries
                    query: histogram_quantile(0.99, sum by (job) (rate(http_request_duration_seconds_bucket{job="payments"}[5m])))
                    thresholds: "<0.3s Green, 0.3-1s Yellow, >1s Red"
        """),
        [
            f'{E}:7:41: error: panel "p99 latency": histogram_quantile() gets an '
            'aggregation "by (job)" that drops "le"; the result is always empty. '
            'Use "by (job, le)" [promql/histogram-le]'
        ],
    ),
    Case(
        "without-le",
        panels("""
            - title: p99
              query: 'histogram_quantile(0.99, sum without (le, method) (rate(http_request_duration_seconds_bucket[5m])))'
        """),
        [
            f'{E}:16:42: error: panel "p99": histogram_quantile() gets an aggregation '
            '"without (le, method)" that drops "le"; the result is always empty. '
            'Use "without (method)" [promql/histogram-le]'
        ],
    ),
    Case(
        "bare-sum",
        panels("""
            - title: p99
              query: '1000 * histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket[5m])))'
        """),
        [
            f'{E}:16:49: error: panel "p99": histogram_quantile() gets an aggregation '
            '"sum(...)" that drops "le"; the result is always empty. Use "sum by (le)" '
            "[promql/histogram-le]"
        ],
    ),
    Case(
        "not-buckets",
        panels("""
            - title: p99
              query: 'histogram_quantile(0.99, rate(http_request_duration_seconds_sum[5m]))'
        """),
        [
            f'{E}:16:47: error: panel "p99": histogram_quantile() needs the _bucket '
            'series of a histogram, but gets "http_request_duration_seconds_sum"; use '
            '"http_request_duration_seconds_bucket" [promql/histogram-le]'
        ],
    ),
    Case(
        "le-kept",
        panels("""
            - title: p99
              query: |-
                histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket[5m])) by (le))
                + histogram_quantile(0.5, sum by (method, le) (rate(http_request_duration_seconds_bucket[5m])))
        """),
        [],
    ),
]

JOB_MATCHER = [
    Case(
        # Both jobs are as close to the typo; the first in project order is suggested.
        "first-of-equal-jobs-suggested",
        {
            **manifest(
                "service: ledger\nscrape: {job: svc_0002, port: 8080}\n", "ledger.yaml"
            ),
            **manifest(
                "service: orders\nscrape: {job: svc_0020, port: 8081}\n", "orders.yaml"
            ),
            **manifest("""
                service: payments
                dashboard: {uid: payments}
                rows:
                  - title: Up
                    panels:
                      - {title: Up, query: 'up{job="svc_0001"}'}
            """),
        },
        [
            f'{E}:6:36: error: job "svc_0001" is not a scrape job of the project; '
            'did you mean "svc_0002"? [promql/job-matcher]'
        ],
    ),
    Case(
        "typo",
        panels("""
            - title: Up
              query: 'up{job="payment"}'
        """),
        [
            f'{E}:16:24: error: job "payment" is not a scrape job of service '
            '"payments"; did you mean "payments"? [promql/job-matcher]'
        ],
    ),
    Case(
        "regex-matching-nothing",
        panels("""
            - title: Up
              query: 'up{job=~"orders.*"}'
        """),
        [
            f'{E}:16:25: error: job regex "orders.*" matches none of the scrape '
            'jobs of service "payments" (payments) [promql/job-matcher]'
        ],
    ),
    Case(
        "other-job-suggests-own",
        panels("""
            - title: Up
              query: 'up{job="auth_server"}'
        """),
        [
            f'{E}:16:24: error: job "auth_server" is not a scrape job of service '
            '"payments"; use job="payments" [promql/job-matcher]'
        ],
    ),
    Case(
        "line-of-single-quoted-scalar",
        panels("""
            - title: Up
              query: 'up{job="payments"}
                + up{job=''payment''}'
        """),
        [
            f'{E}:17:20: error: job "payment" is not a scrape job of service '
            '"payments"; did you mean "payments"? [promql/job-matcher]'
        ],
    ),
    Case(
        "regex-variable-and-negation",
        panels("""
            - title: Up
              query: 'up{job=~"pay.*"} + up{job="$job"} + up{job!="orders"}'
        """),
        [
            f'{E}:16:44: warning: panel "Up": the dashboard has no variable $job, so '
            "Grafana sends it to Prometheus as written; its variables are $datasource "
            "and Grafana's own, such as $__rate_interval [promql/dashboard-variable]"
        ],
    ),
]

JOBS_HEADER = """\
service: payments
scrape:
  - {job: payments, port: 8080}
  - {job: postgres, port: 9187}
  - {job: redis, port: 9121}
  - {job: api.v2, port: 9122}
rows:
  - title: Up
    panels:
"""


def job_panel(query: str) -> dict[str, str]:
    """Return a project of one service with four scrape jobs and a panel, line 10.

    The query starts at column 29.
    """
    return {"payments.yaml": JOBS_HEADER + f"      - {{title: Up, query: '{query}'}}\n"}


JOB_ALTERNATIVES = [
    Case(
        "typo-among-known-jobs",
        job_panel('up{job=~"postgres|reddis"}'),
        [
            f'{E}:10:47: error: job "reddis" in regex "postgres|reddis" is not a '
            'scrape job of service "payments"; did you mean "redis"? '
            "[promql/job-matcher]"
        ],
    ),
    Case(
        "every-alternative-unknown",
        job_panel('up{job=~"pg|rds"}'),
        [
            f'{E}:10:38: error: job "pg" in regex "pg|rds" is not a scrape job of '
            'service "payments"; the scrape jobs are payments, postgres, redis, '
            "api.v2 [promql/job-matcher]",
            f'{E}:10:41: error: job "rds" in regex "pg|rds" is not a scrape job of '
            'service "payments"; did you mean "redis"? [promql/job-matcher]',
        ],
    ),
    Case(
        # A dot in a regex matches any character, so "api.v2" matches the job api.v2.
        "dotted-job-names",
        job_panel('up{job=~"api.v2|api.v3"}'),
        [
            f'{E}:10:45: error: job "api.v3" in regex "api.v2|api.v3" is not a '
            'scrape job of service "payments"; did you mean "api.v2"? '
            "[promql/job-matcher]"
        ],
    ),
    Case(
        "backtick-string-and-second-matcher",
        job_panel('up{job!="redis", job=~`redis|postgress`}'),
        [
            f'{E}:10:58: error: job "postgress" in regex "redis|postgress" is not a '
            'scrape job of service "payments"; did you mean "postgres"? '
            "[promql/job-matcher]"
        ],
    ),
    Case(
        # The variable may stand for any job, but the literal alternative does not.
        "variable-beside-typo",
        job_panel('up{job=~"$job|reddis"} + up{job=~"$job"}'),
        [
            f'{E}:10:38: warning: panel "Up": the dashboard has no variable $job, so '
            "Grafana sends it to Prometheus as written; its variables are $datasource "
            "and Grafana's own, such as $__rate_interval [promql/dashboard-variable]",
            f'{E}:10:43: error: job "reddis" in regex "$job|reddis" is not a scrape '
            'job of service "payments"; did you mean "redis"? [promql/job-matcher]',
            f'{E}:10:63: warning: panel "Up": the dashboard has no variable $job, so '
            "Grafana sends it to Prometheus as written; its variables are $datasource "
            "and Grafana's own, such as $__rate_interval [promql/dashboard-variable]",
        ],
    ),
    Case(
        # With other regex syntax, the whole regex is checked, and it matches postgres.
        "other-regex-syntax",
        job_panel(
            'up{job=~"post.*|reddis"} + up{job=~"(postgres|reddis)"} + up{job!~"reddis|pg"}'
        ),
        [],
    ),
    Case(
        "known-jobs",
        job_panel('up{job=~"postgres|redis|payments"} + up{job=~"api.v2"}'),
        [],
    ),
    Case(
        # A service without scrape jobs may chart those of every service.
        "alternatives-of-project-jobs",
        {
            **manifest(
                "service: ledger\nscrape: {job: ledger, port: 8080}\n", "ledger.yaml"
            ),
            **manifest(
                "service: orders\nscrape: {job: orders, port: 8081}\n", "orders.yaml"
            ),
            **manifest("""
                service: payments
                dashboard: {uid: payments}
                rows:
                  - title: Up
                    panels:
                      - {title: Up, query: 'up{job=~"ledger|ordrs"}'}
            """),
        },
        [
            f'{E}:6:45: error: job "ordrs" in regex "ledger|ordrs" is not a scrape '
            'job of the project; did you mean "orders"? [promql/job-matcher]'
        ],
    ),
]

RATE_WINDOW = [
    Case(
        "shorter-than-two-intervals",
        manifest("""
            service: payments
            scrape: {job: payments, port: 8080, path: /metrics, interval: 1m}
            metrics:
              http_requests_total: counter
            rows:
              - title: Traffic
                panels:
                  - {title: RPS, type: timeseries, query: 'sum(rate(http_requests_total{job="payments"}[1m]))'}
        """),
        [
            f"{E}:8:92: error: rate window [1m] is shorter than 2 × scrape interval "
            "(1m); use at least [2m] (4 × interval, [4m], recommended), or "
            "[$__rate_interval] on a dashboard [promql/rate-window]"
        ],
    ),
    Case(
        "alerting-panel",
        panels("""
            - title: Errors
              query: 'sum(rate(http_requests_total{code=~"5.."}[20s]))'
              thresholds: "<1 Green, >1 Red"
        """),
        [
            f"{E}:16:58: error: rate window [20s] is shorter than 2 × scrape interval "
            "(15s); use at least [30s] (4 × interval, [1m], recommended) "
            "[promql/rate-window]"
        ],
    ),
    Case(
        "default-interval",
        manifest("""
            service: payments
            scrape: {job: payments, port: 8080}
            metrics:
              http_requests_total: counter
            rows:
              - title: Traffic
                panels:
                  - title: RPS
                    query: 'deriv(http_requests_total[90s])'
        """),
        [
            f"{E}:9:42: error: deriv window [90s] is shorter than 2 × scrape interval "
            "(1m); use at least [2m] (4 × interval, [4m], recommended), or "
            "[$__rate_interval] on a dashboard [promql/rate-window]"
        ],
    ),
    Case(
        "line-of-literal-block",
        panels("""
            - title: Errors
              query: |
                sum(rate(http_requests_total{code=~"5.."}[5m]))
                  / sum(rate(http_requests_total[20s]))
        """),
        [
            f"{E}:18:43: error: rate window [20s] is shorter than 2 × scrape interval "
            "(15s); use at least [30s] (4 × interval, [1m], recommended), or "
            "[$__rate_interval] on a dashboard [promql/rate-window]"
        ],
    ),
    Case(
        "long-enough-or-grafana",
        panels("""
            - title: RPS
              query: 'rate(http_requests_total[30s]) + rate(http_requests_total[$__rate_interval])'
        """),
        [],
    ),
    Case(
        # Grafana's step between points, which a rule reads as 5m like
        # $__rate_interval, and which averages over time may use.
        "grafana-step",
        panels("""
            - title: RPS
              query: 'sum(rate(http_requests_total[$__interval])) + sum(increase(http_requests_total[${__interval}]))'
              thresholds: "<1 Green, >1 Red"
            - title: Depth
              query: 'avg_over_time(queue_depth[$__interval])'
        """),
        [
            f"{E}:16:45: warning: rate window [$__interval] is the step that Grafana "
            "picks from the time range and the panel's width, such as 20s for 6h on a "
            "panel 1000 pixels wide, and less for a shorter range, but rate needs two "
            "samples in it, so at least 2 × scrape interval (15s); use "
            "[$__rate_interval], which Grafana keeps at least 4 × the scrape interval "
            "of the data source [promql/rate-window]",
            f"{E}:16:95: warning: increase window [${{__interval}}] is the step that "
            "Grafana picks from the time range and the panel's width, such as 20s for "
            "6h on a panel 1000 pixels wide, and less for a shorter range, but "
            "increase needs two samples in it, so at least 2 × scrape interval (15s); "
            "use [$__rate_interval], which Grafana keeps at least 4 × the scrape "
            "interval of the data source [promql/rate-window]",
        ],
    ),
]

HEATMAP_BUCKETS = [
    Case(
        "buckets-by-le",
        panels("""
            - title: Latency heatmap
              type: heatmap
              unit: s
              query: 'sum by (le) (rate(http_request_duration_seconds_bucket{job="payments"}[$__rate_interval]))'
        """),
        [],
    ),
    Case(
        "quantile",
        panels("""
            - title: Latency heatmap
              type: heatmap
              query: 'histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))'
        """),
        [
            f"{E}:17:17: error: heatmap panels need bucket series grouped by le "
            "[dashboard/heatmap-buckets]"
        ],
    ),
    Case(
        "not-grouped-by-le",
        panels("""
            - title: Requests heatmap
              type: heatmap
              query: 'sum by (method) (rate(http_requests_total[5m]))'
        """),
        [
            f"{E}:17:17: error: heatmap panels need bucket series grouped by le "
            "[dashboard/heatmap-buckets]"
        ],
    ),
]


def bucketed(text: str) -> dict[str, str]:
    """Return `panels(text)` with buckets of 0.05 to 1 s on the latency histogram."""
    files = panels(text)
    files["payments.yaml"] = files["payments.yaml"].replace(
        "    labels: [method]\n",
        "    labels: [method]\n    buckets: [0.05, 0.1, 0.5, 1]\n",
        1,
    )
    return files


P95 = "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"

# The reasons that thresholds/histogram-range gives, for the buckets of `bucketed`.
ABOVE_ONE_SECOND = (
    "the largest value of this query: histogram_quantile returns the largest finite "
    "bucket of http_request_duration_seconds, 1, where the quantile falls in the +Inf "
    "bucket, and never more."
)
BELOW_FIRST_BUCKET = (
    "lies below 47.5ms, the smallest value of this query: histogram_quantile "
    "interpolates from 0 in the first bucket, so it returns no less than 0.95 of the "
    "first bucket of http_request_duration_seconds, 0.05."
)

HISTOGRAM_RANGE = [
    Case(
        # 0.9 times 0.05 times 1000 is 45.00000000000001 in binary floats.
        "smallest-value-rounded",
        bucketed(f"""
            - title: Latency
              query: '{P95.replace("0.95", "0.9")} * 1000'
              thresholds: "<40ms Green, 40-200ms Yellow, >200ms Red"
        """),
        [
            f"{E}:18:35: warning: threshold 40ms (yellow) lies below 45ms, the "
            "smallest value of this query: histogram_quantile interpolates from 0 in "
            "the first bucket, so it returns no less than 0.9 of the first bucket of "
            "http_request_duration_seconds, 0.05, times 1000. Every value lies above "
            "the threshold while observations arrive; add a bucket below 0.0444 to "
            "http_request_duration_seconds, or raise the threshold above 45ms "
            "[thresholds/histogram-range]"
        ],
    ),
    Case(
        # `>= 1` fires where the quantile falls in the +Inf bucket, which returns 1.
        "within-buckets",
        bucketed(f"""
            - title: Latency
              query: '{P95}'
              thresholds: "<47.5ms Green, 47.5ms-1s Yellow, >=1s Red"
        """),
        [],
    ),
    Case(
        # No alert is derived from the yellow band, so its bound is a warning.
        "below-first-bucket",
        bucketed(f"""
            - title: Latency
              query: '{P95}'
              thresholds: "<10ms Green, 10-200ms Yellow, >200ms Red"
        """),
        [
            f"{E}:18:35: warning: threshold 10ms (yellow) {BELOW_FIRST_BUCKET} Every "
            "value lies above the threshold while observations arrive; add a bucket "
            "below 0.0105 to http_request_duration_seconds, or raise the threshold "
            "above 47.5ms [thresholds/histogram-range]"
        ],
    ),
    Case(
        "above-largest-bucket",
        bucketed(f"""
            - title: Latency
              query: '{P95}'
              thresholds: "<500ms Green, 500ms-2s Yellow, >2s Red"
        """),
        [
            f"{E}:18:54: error: threshold 2s lies above 1s, {ABOVE_ONE_SECOND} So "
            "alert PaymentsLatencyCritical (value >= 2) never fires; add a bucket of "
            "at least 2 to http_request_duration_seconds, or lower the threshold to "
            "1s or below [thresholds/histogram-range]"
        ],
    ),
    Case(
        "above-largest-bucket-without-alert",
        bucketed(f"""
            - title: Latency
              query: '{P95}'
              thresholds: "<500ms Green, 500ms-2s Yellow, >2s Red"
              alert: false
        """),
        [
            f"{E}:18:54: warning: threshold 2s (red) lies above 1s, {ABOVE_ONE_SECOND} "
            "No value reaches the threshold; add a bucket of at least 2 to "
            "http_request_duration_seconds, or lower the threshold to 1s or below "
            "[thresholds/histogram-range]"
        ],
    ),
    Case(
        # `> 1` never fires, because no value lies above the largest bucket.
        "above-largest-bucket-exclusive",
        bucketed(f"""
            - title: Latency
              query: '{P95}'
              thresholds: "<=1s Green, >1s Red"
        """),
        [
            f"{E}:18:35: error: threshold 1s is {ABOVE_ONE_SECOND} So alert "
            "PaymentsLatencyCritical (value > 1) never fires; add a bucket above 1 "
            "to http_request_duration_seconds, or lower the threshold below 1s "
            "[thresholds/histogram-range]"
        ],
    ),
    Case(
        "red-below-largest-bucket",
        bucketed(f"""
            - title: Latency
              query: '{P95}'
              thresholds: "<2s Red, >=2s Green"
        """),
        [
            f"{E}:18:33: error: threshold 2s lies above 1s, {ABOVE_ONE_SECOND} So "
            "alert PaymentsLatencyCritical (value < 2) always fires while "
            "observations arrive; add a bucket of at least 2 to "
            "http_request_duration_seconds, or lower the threshold to 1s or below "
            "[thresholds/histogram-range]"
        ],
    ),
    Case(
        "red-above-first-bucket",
        bucketed(f"""
            - title: Latency
              query: '{P95}'
              thresholds: "<10ms Green, >=10ms Red"
        """),
        [
            f"{E}:18:37: error: threshold 10ms {BELOW_FIRST_BUCKET} So alert "
            "PaymentsLatencyCritical (value >= 0.01) always fires while observations "
            "arrive; add a bucket below 0.0105 to http_request_duration_seconds, or "
            "raise the threshold above 47.5ms [thresholds/histogram-range]"
        ],
    ),
    Case(
        # A mapping gives `<=10ms` its own colour, so the alert compares with `<=`.
        "red-at-most-first-bucket",
        bucketed(f"""
            - title: Latency
              query: '{P95}'
              thresholds: "<=10ms Red, >10ms Green"
        """),
        [
            f"{E}:18:35: error: threshold 10ms {BELOW_FIRST_BUCKET} So alert "
            "PaymentsLatencyCritical (value <= 0.01) never fires; add a bucket of at "
            "most 0.0105 to http_request_duration_seconds, or raise the threshold to "
            "47.5ms or above [thresholds/histogram-range]"
        ],
    ),
    Case(
        # alert.warning derives an alert from the yellow band too.
        "yellow-alert-above-largest-bucket",
        bucketed(f"""
            - title: Latency
              query: '{P95}'
              thresholds: "<2s Green, 2s-3s Yellow, >3s Red"
              alert: {{warning: true}}
        """),
        [
            f"{E}:18:33: error: threshold 2s lies above 1s, {ABOVE_ONE_SECOND} So "
            "alert PaymentsLatencyWarning (value >= 2 and value < 3) never fires; "
            "add a bucket of at least 2 to http_request_duration_seconds, or lower "
            "the threshold to 1s or below [thresholds/histogram-range]",
            f"{E}:18:48: error: threshold 3s lies above 1s, {ABOVE_ONE_SECOND} So "
            "alert PaymentsLatencyCritical (value >= 3) never fires; add a bucket of "
            "at least 3 to http_request_duration_seconds, or lower the threshold to "
            "1s or below [thresholds/histogram-range]",
        ],
    ),
    Case(
        # Bare numbers are seconds on a query in seconds, though they mean ms here.
        "milliseconds-read-as-seconds",
        manifest("""
            service: edge-api
            scrape: {job: edge-api, port: 8080}
            metrics:
              http_request_duration_seconds:
                type: histogram
                buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
            rows:
              - title: Latency
                panels:
                  - title: P95 Latency
                    query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{job="edge-api"}[5m])))'
                    thresholds: "<250 Green, 250-750 Yellow, >750 Red"
            """),
        [
            "services/payments.yaml:12:34: warning: threshold 250s (yellow) lies "
            "above 5s, the largest value of this query: histogram_quantile returns "
            "the largest finite bucket of http_request_duration_seconds, 5, where the "
            "quantile falls in the +Inf bucket, and never more. No value reaches the "
            "threshold; add a bucket of at least 250 to "
            "http_request_duration_seconds, lower the threshold to 5s or below, or "
            "write 250ms if the threshold is in milliseconds (a bare number is in the "
            "panel's unit, s) [thresholds/histogram-range]",
            "services/payments.yaml:12:51: error: threshold 750s lies above 5s, the "
            "largest value of this query: histogram_quantile returns the largest "
            "finite bucket of http_request_duration_seconds, 5, where the quantile "
            "falls in the +Inf bucket, and never more. So alert "
            "EdgeApiP95LatencyCritical (value >= 750) never fires; add a bucket of "
            "at least 750 to http_request_duration_seconds, lower the threshold to "
            "5s or below, or write 750ms if the threshold is in milliseconds (a bare "
            "number is in the panel's unit, s) [thresholds/histogram-range]",
        ],
    ),
    Case(
        "scaled-to-milliseconds",
        bucketed(f"""
            - title: Latency
              unit: ms
              query: '{P95} * 1000'
              thresholds: "<10 Green, 10-1500 Yellow, >1500 Red"
        """),
        [
            f"{E}:19:33: warning: threshold 10ms (yellow) lies below 47.5ms, the "
            "smallest value of this query: histogram_quantile interpolates from 0 in "
            "the first bucket, so it returns no less than 0.95 of the first bucket of "
            "http_request_duration_seconds, 0.05, times 1000. Every value lies above "
            "the threshold while observations arrive; add a bucket below 0.0105 to "
            "http_request_duration_seconds, or raise the threshold above 47.5ms "
            "[thresholds/histogram-range]",
            f"{E}:19:50: error: threshold 1.5s lies above 1s, the largest "
            "value of this query: histogram_quantile returns the largest finite "
            "bucket of http_request_duration_seconds, 1, times 1000, where the "
            "quantile falls in the +Inf bucket, and never more. So alert "
            "PaymentsLatencyCritical (value >= 1500) never fires; add a bucket of at "
            "least 1.5 to http_request_duration_seconds, or lower the threshold to "
            "1s or below [thresholds/histogram-range]",
        ],
    ),
    Case(
        "median-reaches-half-the-first-bucket",
        bucketed("""
            - title: Latency
              query: 'histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))'
              thresholds: "<25ms Green, >=25ms Red"
        """),
        [],
    ),
    Case(
        # Each finding is at its own bound, not at the text that contains both.
        "two-bounds-above-largest-bucket",
        bucketed(f"""
            - title: Latency
              query: '{P95}'
              thresholds: "<300 Green, 300-1000 Yellow, >1000 Red"
        """),
        [
            f"{E}:18:34: warning: threshold 5m (yellow) lies above 1s, "
            f"{ABOVE_ONE_SECOND} No value reaches the threshold; add a bucket of at "
            "least 300 to http_request_duration_seconds, lower the threshold to 1s or "
            "below, or write 300ms if the threshold is in milliseconds (a bare number "
            "is in the panel's unit, s) [thresholds/histogram-range]",
            f"{E}:18:52: error: threshold 1000s lies above 1s, {ABOVE_ONE_SECOND} "
            "So alert PaymentsLatencyCritical (value >= 1000) never fires; add a "
            "bucket of at least 1000 to http_request_duration_seconds, lower the "
            "threshold to 1s or below, or write 1000ms if the threshold is in "
            "milliseconds (a bare number is in the panel's unit, s) "
            "[thresholds/histogram-range]",
        ],
    ),
    Case(
        "per-series-bounds",
        bucketed("""
            - title: Latency
              query: 'histogram_quantile(0.95, sum by (le, method) (rate(http_request_duration_seconds_bucket[5m])))'
              legend: '{{method}}'
              thresholds: "GET <2s, POST <10ms"
        """),
        [
            f"{E}:19:27: error: threshold 2s lies above 1s, {ABOVE_ONE_SECOND} So "
            "alert PaymentsLatencyGETCritical (value >= 2) never fires; add a bucket "
            "of at least 2 to http_request_duration_seconds, or lower the threshold "
            "to 1s or below [thresholds/histogram-range]",
            f"{E}:19:37: error: threshold 10ms {BELOW_FIRST_BUCKET} So alert "
            "PaymentsLatencyPOSTCritical (value >= 0.01) always fires while "
            "observations arrive; add a bucket below 0.0105 to "
            "http_request_duration_seconds, or raise the threshold above 47.5ms "
            "[thresholds/histogram-range]",
        ],
    ),
    Case(
        # A folded scalar moves the bounds to lines of their own.
        "bound-on-folded-line",
        bucketed(f"""
            - title: Latency
              query: '{P95}'
              thresholds: >-
                <500ms Green,
                500ms-2s Yellow,
                >2s Red
        """),
        [
            f"{E}:21:12: error: threshold 2s lies above 1s, {ABOVE_ONE_SECOND} So "
            "alert PaymentsLatencyCritical (value >= 2) never fires; add a bucket of "
            "at least 2 to http_request_duration_seconds, or lower the threshold to "
            "1s or below [thresholds/histogram-range]",
        ],
    ),
    Case(
        # Each finding is at the value of its step.
        "structured-steps",
        bucketed(f"""
            - title: Latency
              query: '{P95}'
              thresholds:
                unit: ms
                steps: [green, {{value: 10, color: yellow}}, {{value: "2000", color: red}}]
        """),
        [
            f"{E}:20:34: warning: threshold 10ms (yellow) {BELOW_FIRST_BUCKET} Every "
            "value lies above the threshold while observations arrive; add a bucket "
            "below 0.0105 to http_request_duration_seconds, or raise the threshold "
            "above 47.5ms [thresholds/histogram-range]",
            f"{E}:20:63: error: threshold 2s lies above 1s, {ABOVE_ONE_SECOND} So "
            "alert PaymentsLatencyCritical (value >= 2) never fires; add a bucket of "
            "at least 2 to http_request_duration_seconds, or lower the threshold to "
            "1s or below [thresholds/histogram-range]",
        ],
    ),
]

RANGE = [
    Case(
        "min-above-max",
        panels("""
            - title: Latency
              unit: s
              min: 50
              max: 10
              query: 'rate(http_request_duration_seconds_sum[5m])'
        """),
        [
            f"{E}:18:14: error: max 10 is not above min 50, so Grafana has no range to "
            "draw; swap them or remove one [dashboard/range]"
        ],
    ),
    Case(
        "min-below-max",
        panels("""
            - title: Latency
              unit: s
              min: 0
              max: 10
              query: 'rate(http_request_duration_seconds_sum[5m])'
        """),
        [],
    ),
]

UNIT = [
    Case(
        "word-for-an-id",
        panels("""
            - title: Latency
              unit: seconds
              query: 'rate(http_request_duration_seconds_sum[5m])'
        """),
        [
            f'{E}:16:15: error: unit "seconds" is not a Grafana unit id; did you mean '
            '"s" (Time: seconds (s))? [dashboard/unit]'
        ],
    ),
    Case(
        "micro-written-in-ascii",
        panels("""
            - title: Latency
              unit: us
              query: 'rate(http_request_duration_seconds_sum[5m]) * 1e6'
        """),
        [
            f'{E}:16:15: error: unit "us" is not a Grafana unit id; did you mean '
            '"\u00b5s" (Time: microseconds (\u00b5s))? [dashboard/unit]'
        ],
    ),
    Case(
        "nothing-close",
        panels("""
            - title: Jobs
              unit: widgets
              query: 'queue_depth'
        """),
        [
            f'{E}:16:15: error: unit "widgets" is not a Grafana unit id; use an id '
            'such as "s", "percentunit" or "reqps", or a custom unit such as '
            '"suffix: jobs" '
            "[dashboard/unit]"
        ],
    ),
    Case(
        "ids-and-custom-units",
        panels("""
            - {title: A, unit: percentunit, query: 'queue_depth'}
            - {title: B, unit: reqps, query: 'queue_depth'}
            - {title: C, unit: "suffix: jobs", query: 'queue_depth'}
            - {title: D, unit: "currency:CHF", query: 'queue_depth'}
        """),
        [],
    ),
]

_FLOAT64 = (
    "is not exactly a float64, which holds the integers up to 2^53 and 15 to 17 "
    "significant digits"
)


def _threshold_rounded(written: str, read_as: str) -> str:
    return (
        f"warning: threshold {written} {_FLOAT64}, so Prometheus and Grafana both "
        f"read it as {read_as}, the value that the dashboard, the alert rules and the "
        f"generated tests use; write {read_as} [thresholds/precision]"
    )


def _query_number_rounded(written: str, read_as: str) -> str:
    return (
        f"warning: number {written} {_FLOAT64}, so Prometheus reads it as {read_as}, "
        f"and the rules derived from the query write {read_as}; write {read_as} "
        "[promql/precision]"
    )


THRESHOLDS_PRECISION = [
    Case(
        "integers-above-2-53",
        panels("""
            - title: Depth
              query: 'sum(queue_depth)'
              thresholds: "<9007199254740993 Green, 9007199254740993-18014398509481985 Yellow, >=18014398509481985 Red"
        """),
        [
            f"{E}:17:23: {_threshold_rounded('9007199254740993', '9007199254740992')}",
            f"{E}:17:47: {_threshold_rounded('9007199254740993', '9007199254740992')}",
            f"{E}:17:64: {_threshold_rounded('18014398509481985', '18014398509481984')}",
            f"{E}:17:92: {_threshold_rounded('18014398509481985', '18014398509481984')}",
        ],
    ),
    Case(
        # Decimals that a double's shortest text writes as they are, and integers
        # that are doubles, such as 2^53 and 2^63 - 1024, read as written.
        "numbers-a-double-holds",
        panels("""
            - title: Depth
              query: 'sum(queue_depth)'
              thresholds: "<0.1 Green, 0.1-9007199254740992 Yellow, >=9007199254740992 Red"
            - title: Big
              query: 'sum(queue_depth)'
              thresholds: "<1.50e300 Green, >=1.50e300 Red"
            - title: Largest
              query: 'sum(queue_depth)'
              thresholds: "<9223372036854774784 Green, >=9223372036854774784 Red"
        """),
        [],
    ),
    Case(
        "decimal-digits-and-units",
        panels("""
            - title: Latency
              unit: s
              query: 'max(rpc_duration_seconds)'
              thresholds: "<0.12345678901234567891s Green, >=0.12345678901234567891s Red"
            - title: Slow
              unit: s
              query: 'max(rpc_duration_seconds)'
              thresholds: "<9007199254740993ms Green, >=9007199254740993ms Red"
            - title: Share
              unit: percent
              query: 'sum by (code) (rate(http_requests_total[5m]))'
              legend: '{{code}}'
              thresholds: "a <1.0000000000000000001%, b <5%"
        """),
        [
            f"{E}:18:23: "
            + _threshold_rounded("0.12345678901234567891s", "0.12345678901234568s"),
            f"{E}:18:56: "
            + _threshold_rounded("0.12345678901234567891s", "0.12345678901234568s"),
            f"{E}:22:23: "
            + _threshold_rounded("9007199254740993ms", "9007199254740992ms"),
            f"{E}:22:51: "
            + _threshold_rounded("9007199254740993ms", "9007199254740992ms"),
            f"{E}:27:25: " + _threshold_rounded("1.0000000000000000001%", "1%"),
        ],
    ),
]

QUERY_PRECISION = [
    Case(
        "query-numbers",
        panels("""
            - title: Depth
              query: 'sum(queue_depth) * 0.12345678901234567891 > 9007199254740993'
            - title: Exact
              query: 'sum(queue_depth) * 0.1 + 1e300 - 9007199254740992 + 0x10'
        """),
        [
            f"{E}:16:36: "
            + _query_number_rounded("0.12345678901234567891", "0.12345678901234568"),
            f"{E}:16:61: "
            + _query_number_rounded("9007199254740993", "9007199254740992"),
        ],
    ),
]

THRESHOLDS_UNIT = [
    Case(
        "percent-of-unknown-scale",
        panels("""
            - title: Depth
              query: 'queue_depth'
              thresholds: "<80% Green, >=80% Red"
        """),
        [
            f"{E}:17:36: error: threshold 80% is a percentage, but the query's unit "
            "is unknown (unit short); set unit: percent if the query gives "
            "percentages from 0 to 100, or percentunit if it gives ratios from 0 "
            "to 1 [thresholds/unit]"
        ],
    ),
    Case(
        "duration-on-explicit-unit",
        panels("""
            - title: Depth
              unit: short
              query: 'sum(rate(http_requests_total[5m'
              thresholds: "<2s Green, >2s Red"
        """),
        [
            f"{E}:17:45: error: invalid PromQL query: unexpected end of input inside "
            "brackets [promql/syntax]",
            f"{E}:18:34: error: threshold 2s is a duration, but the panel's unit is "
            "short; set unit: to the time unit of the query, such as s or ms, if it "
            "gives durations [thresholds/unit]",
        ],
    ),
    Case(
        "duration-in-folded-text",
        panels("""
            - title: Depth
              query: 'sum(queue_depth)'
              thresholds: >-
                <1ms Green,
                1-5ms Yellow, >5ms Red
        """),
        [
            f"{E}:19:11: error: threshold 1ms is a duration, but the query's unit "
            "is unknown (unit short); set unit: to the time unit of the query, such "
            "as s or ms, if it gives durations [thresholds/unit]",
        ],
    ),
    Case(
        "duration-after-escape",
        panels("""
            - title: Depth
              query: 'sum(queue_depth)'
              thresholds: "\\x3c1h Green, 1h-3h Yellow, >3h Red"
        """),
        [
            f"{E}:17:36: error: threshold 1h is a duration, but the query's unit "
            "is unknown (unit short); set unit: to the time unit of the query, such "
            "as s or ms, if it gives durations [thresholds/unit]",
        ],
    ),
    Case(
        "query-that-does-not-parse",
        panels("""
            - title: Errors
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]) * 100'
              thresholds: "<1% Green, 1-5% Yellow, >5% Red"
        """),
        [
            f"{E}:16:70: error: invalid PromQL query: unclosed left parenthesis "
            "[promql/syntax]"
        ],
    ),
    Case(
        "bare-numbers-above-one-on-ratio",
        panels("""
            - title: Errors
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
              thresholds: "<70 Green, 70-90 Yellow, >90 Red"
        """),
        [
            f"{E}:17:23: warning: threshold 70 is 7000%, because the query gives "
            "ratios from 0 to 1 (unit percentunit); write 70% for 70 percent "
            "[thresholds/unit]",
            f"{E}:17:36: warning: threshold 90 is 9000%, because the query gives "
            "ratios from 0 to 1 (unit percentunit); write 90% for 90 percent "
            "[thresholds/unit]",
        ],
    ),
    Case(
        "fractions-and-percentages-on-ratio",
        panels("""
            - title: Errors
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
              thresholds: "<0.01 Green, 0.01-0.05 Yellow, >0.05 Red"
            - title: Errors in percent
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
              thresholds: "<1% Green, 1-5% Yellow, >5% Red"
            - title: Errors times 100
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) * 100'
              thresholds: "<1 Green, 1-5 Yellow, >5 Red"
        """),
        [],
    ),
    Case(
        "percent-on-scaled-mean",
        panels("""
            - title: Mean
              query: '100 * sum(http_request_duration_seconds_sum) / count(http_request_duration_seconds_sum)'
              thresholds: "<80% Green, >=80% Red"
        """),
        [
            f"{E}:17:36: error: threshold 80% is a percentage, but the query's unit "
            "is unknown (unit short); set unit: percent if the query gives "
            "percentages from 0 to 100, or percentunit if it gives ratios from 0 "
            "to 1 [thresholds/unit]"
        ],
    ),
    Case(
        "bare-upper-bound-on-ratio",
        panels("""
            - title: Errors
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
              thresholds: "<70 Green, 70%-90% Yellow, >90% Red"
        """),
        [
            f"{E}:17:23: warning: threshold 70 is 7000%, because the query gives "
            "ratios from 0 to 1 (unit percentunit); write 70% for 70 percent "
            "[thresholds/unit]",
        ],
    ),
    Case(
        "bare-bounds-of-range-on-ratio",
        panels("""
            - title: Errors
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
              thresholds: "<0.5 Green, 0.5-80 Yellow, >80% Red"
        """),
        [
            f"{E}:17:38: warning: threshold 80 is 8000%, because the query gives "
            "ratios from 0 to 1 (unit percentunit); write 80% for 80 percent "
            "[thresholds/unit]",
        ],
    ),
    Case(
        "query-on-unknown-metric",
        panels("""
            - title: Errors
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_request_total[5m])) * 100'
              thresholds: "<1% Green, 1-5% Yellow, >5% Red"
        """),
        [
            f'{E}:16:76: error: metric "http_request_total" is not in the catalog of '
            'service "payments" or of any other service; did you mean '
            '"http_requests_total"? '
            "[promql/unknown-metric]"
        ],
    ),
    Case(
        # The error is at the value of the step, inside its quotes.
        "duration-step-on-short",
        panels("""
            - title: Depth
              query: 'sum(queue_depth)'
              thresholds:
                steps:
                  - green
                  - {color: yellow, value: 1}
                  - {color: red, value: "2s"}
        """),
        [
            f"{E}:21:36: error: threshold 2s is a duration, but the query's unit "
            "is unknown (unit short); set unit: to the time unit of the query, such "
            "as s or ms, if it gives durations [thresholds/unit]",
        ],
    ),
    Case(
        # A bare step value takes the unit of `unit:`.
        "step-in-unit-of-steps",
        panels("""
            - title: Depth
              query: 'sum(queue_depth)'
              thresholds:
                unit: ms
                steps:
                  - green
                  - color: red
                    value: 100
        """),
        [
            f"{E}:22:22: error: threshold 100ms is a duration, but the query's unit "
            "is unknown (unit short); set unit: to the time unit of the query, such "
            "as s or ms, if it gives durations [thresholds/unit]",
        ],
    ),
]

SERIES_LEGEND = [
    Case(
        "legend-without-label",
        panels("""
            - title: Latency
              unit: s
              legend: Latency
              query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{job="payments"}[5m])))'
              thresholds: "AngelOne <2s, News <5s"
        """),
        [
            f"{E}:19:21: error: per-series thresholds need legend to render the series "
            "name (e.g. '{{label}}') [dashboard/series-legend]"
        ],
    ),
    Case(
        "name-the-legend-cannot-render",
        panels("""
            - title: Latency
              unit: s
              legend: 'p95 {{method}}'
              query: 'histogram_quantile(0.95, sum by (le, method) (rate(http_request_duration_seconds_bucket{job="payments"}[5m])))'
              thresholds: "GET <2s, p95 POST <5s"
        """),
        [
            f'{E}:19:22: error: legend "p95 {{{{method}}}}" cannot render the series name '
            '"GET", so its threshold matches no series; write the name as the legend '
            'renders it, such as "p95 GET" [dashboard/series-legend]'
        ],
    ),
    Case(
        # The error is at the name at fault, wherever the text writes it.
        "second-name-the-legend-cannot-render",
        panels("""
            - title: Latency
              unit: s
              legend: 'p95 {{method}}'
              query: 'histogram_quantile(0.95, sum by (le, method) (rate(http_request_duration_seconds_bucket{job="payments"}[5m])))'
              thresholds: "p95 GET <2s,  POST <5s"
        """),
        [
            f'{E}:19:36: error: legend "p95 {{{{method}}}}" cannot render the series name '
            '"POST", so its threshold matches no series; write the name as the legend '
            'renders it, such as "p95 POST" [dashboard/series-legend]'
        ],
    ),
    Case(
        # A threshold text reads `method=GET <2s` as a mapping, so the name goes
        # into the structured form.
        "name-a-text-cannot-hold",
        panels("""
            - title: Latency
              unit: s
              legend: 'method={{method}}'
              query: 'histogram_quantile(0.95, sum by (le, method) (rate(http_request_duration_seconds_bucket{job="payments"}[5m])))'
              thresholds: "GET <2s"
        """),
        [
            f'{E}:19:22: error: legend "method={{{{method}}}}" cannot render the series '
            'name "GET", so its threshold matches no series; the legend renders names '
            'such as "method=GET", which a threshold text cannot hold, so write them as '
            'keys of the structured form: thresholds: {series: {"method=GET": '
            '"<2s Green"}} [dashboard/series-legend]'
        ],
    ),
    Case(
        # Series {method="a", code="b-c"} and {method="a-b", code="c"} both render
        # "a-b-c", and the panel colours both, but an alert can select only one.
        "name-two-sets-of-values-render",
        panels("""
            - title: Requests
              query: 'sum by (method, code) (rate(http_requests_total{job="payments"}[5m]))'
              legend: '{{method}}-{{code}}'
              thresholds: "a-b-c <10"
        """),
        [
            f'{E}:18:22: error: legend "{{{{method}}}}-{{{{code}}}}" renders the series '
            'name "a-b-c" from more than one set of label values, such as '
            '{method="a", code="b-c"} and {method="a-b", code="c"}, so its alert '
            "cannot select the series that the panel colours; write a legend whose "
            "text between labels the label values do not contain "
            "[dashboard/series-legend]"
        ],
    ),
    Case(
        # Without alerts, the override alone colours every series of the name.
        "name-two-sets-of-values-render-without-alert",
        panels("""
            - title: Requests
              query: 'sum by (method, code) (rate(http_requests_total{job="payments"}[5m]))'
              legend: '{{method}}-{{code}}'
              thresholds: "a-b-c <10"
              alert: false
        """),
        [],
    ),
]

HEATMAP_THRESHOLDS = (
    "thresholds have no effect on a heatmap panel, because Grafana colours heatmap "
    "cells by a colour scheme, and an alert would compare each bucket's rate or count "
    "with the bounds; remove thresholds, and set latency bounds on a "
    "histogram_quantile panel over the same buckets, such as a timeseries of the p95 "
    "[thresholds/panel-type]"
)
PIECHART_THRESHOLDS = (
    "thresholds have no effect on a piechart panel, because Grafana's pie chart "
    "colours each slice by series and ignores thresholds, so an alert would fire "
    "while no slice turns red; remove thresholds, or use a stat, gauge or barchart "
    "panel, which colour each value by them [thresholds/panel-type]"
)


def counter_panel(
    query: str, thresholds: str = "<100 Green, >=100 Red", extra: str = ""
) -> dict[str, str]:
    """Return `panels` of one panel "Jobs" whose query starts at line 16, column 17."""
    text = f"- title: Jobs\n  query: '{query}'\n  thresholds: \"{thresholds}\"\n"
    return panels(text + textwrap.indent(extra, "  "))


def raw_counter_warning(
    column: int,
    series: str,
    alerting: bool = True,
    recorded: str | None = None,
    written: str | None = None,
) -> str:
    """Return the thresholds/raw-counter warning of panel "Jobs" at line 16.

    `written` is the selector that the suggestion wraps, by default `series`.
    """
    written = written or series
    value = f'the raw value of counter "{series}"'
    if recorded is not None:
        value += f' through recording rule "{recorded}"'
    effect = (
        "So the alert fires after each restart, or never stops once the count "
        "passes its bound."
        if alerting
        else "So the panel's colour follows restarts instead of traffic."
    )
    return (
        f'{E}:16:{column}: warning: the thresholds of panel "Jobs" compare {value}, '
        f"a count that starts again at 0 each time its process restarts. {effect} "
        f"Write rate({written}[5m]) or increase({written}[1h]) instead "
        "[thresholds/raw-counter]"
    )


def earlier_value_warning(column: int, series: str, window: str) -> str:
    """Return the thresholds/raw-counter warning of a counter minus its earlier value."""
    return (
        f'{E}:16:{column}: warning: the thresholds of panel "Jobs" compare "{series}" '
        f"minus its value {window} earlier, which is less than the increase, and "
        f"often below 0, for {window} after each restart of its process. Write "
        f"increase({series}[{window}]) instead, which counts across restarts "
        "[thresholds/raw-counter]"
    )


INFO_HEADER = HEADER.replace(
    "  queue_depth: gauge\n",
    "  queue_depth: gauge\n  payments_build: {type: info, labels: [version]}\n",
)

RECORDED_COUNTER = """
    - title: Jobs
      query: 'job:http_requests_total:sum{job="payments"}'
      thresholds: "<100 Green, >=100 Red"
    - title: Recorded
      query: 'sum(http_requests_total{job="payments"})'
      record: true
"""

RECORDED_RATE = """
    - title: Jobs
      query: 'job:http_requests:rate5m{job="payments"}'
      thresholds: "<100 Green, >=100 Red"
    - title: Recorded
      query: 'sum(rate(http_requests_total{job="payments"}[5m]))'
      record: true
"""

LATENCY_MS = (
    "histogram_quantile(0.99, sum by (le) "
    '(rate(http_request_duration_seconds_bucket{job="payments"}[5m]))) * 1000'
)


def latency_panel(alert: str, unit: str = "ms", title: str = "Latency") -> str:
    """Return a panel of p99 latency in `unit`, red from 500 ms, with `alert`."""
    return f"""
    - title: {title}
      query: '{LATENCY_MS}'
      unit: {unit}
      thresholds: "<500ms Green, >=500ms Red"
      alert: {alert}
"""


def value_format_warning(
    line: int, column: int, what: str, function: str, unit: str, tail: str
) -> str:
    """Return the alert/value-format warning of panel "Latency"."""
    reads = {
        "humanizeDuration": "seconds",
        "humanizePercentage": "a ratio from 0 to 1",
        "humanize1024": "a count of bytes or bits",
    }[function]
    return (
        f'{E}:{line}:{column}: warning: {what} of panel "Latency" passes $value to '
        f"{function}, which reads {reads}, but the panel's values are in {unit}"
        f"{tail} [alert/value-format]"
    )


MS_TAIL = ', so 500ms reads as 8m 20s; write {{ printf "%.2f" $value }}ms instead'

VALUE_FORMAT = [
    Case(
        "duration-of-ms",
        panels(latency_panel("{summary: 'p99 {{ $value | humanizeDuration }}'}")),
        [
            value_format_warning(
                19, 43, "the alert summary", "humanizeDuration", "ms", MS_TAIL
            )
        ],
    ),
    Case(
        "function-first",
        panels(latency_panel("{description: 'p99 {{ humanizeDuration .Value }}'}")),
        [
            value_format_warning(
                19, 38, "the alert description", "humanizeDuration", "ms", MS_TAIL
            )
        ],
    ),
    Case(
        "percentage-of-percent",
        panels(
            """
            - title: Latency
              query: 'queue_depth{job="payments"} / 10'
              unit: percent
              thresholds: "<80% Green, >=80% Red"
              alert: {annotations: {fill: '{{ $value | humanizePercentage }}'}}
            """
        ),
        [
            value_format_warning(
                19,
                50,
                'alert annotation "fill"',
                "humanizePercentage",
                "percent",
                ', so 5% reads as 500%; write {{ printf "%.2f" $value }}% instead',
            )
        ],
    ),
    Case(
        "bytes-prefix-of-gbytes",
        panels(
            """
            - title: Latency
              query: 'queue_depth{job="payments"}'
              unit: gbytes
              thresholds: "<80 Green, >=80 Red"
              alert: {summary: '{{ $value | humanize1024 }}B'}
            """
        ),
        [
            value_format_warning(
                19,
                39,
                "the alert summary",
                "humanize1024",
                "gbytes",
                '; write {{ printf "%.2f" $value }} GiB instead',
            )
        ],
    ),
    Case(
        "duration-of-seconds",
        panels(
            latency_panel(
                "{summary: 'p99 {{ $value | humanizeDuration }}'}", unit="s"
            ).replace(" * 1000", "")
        ),
        [],
    ),
    Case(
        "unit-without-scale",
        panels(
            """
            - title: Latency
              query: 'queue_depth{job="payments"}'
              thresholds: "<80 Green, >=80 Red"
              alert: {summary: '{{ $value | humanizeDuration }}'}
            """
        ),
        [],
    ),
    Case(
        "no-alert",
        panels(
            latency_panel("false"),
            header=HEADER.replace(
                "rows:\n",
                "alerts:\n  annotations:\n"
                "    value: '{{ $value | humanizeDuration }}'\nrows:\n",
            ),
        ),
        [],
    ),
    Case(
        "service-annotation-once",
        panels(
            latency_panel("{}") + latency_panel("{}", title="Latency 2"),
            header=HEADER.replace(
                "rows:\n",
                "alerts:\n  annotations:\n"
                "    value: '{{ $value | humanizeDuration }}'\nrows:\n",
            ),
        ),
        [
            value_format_warning(
                14, 25, 'alert annotation "value"', "humanizeDuration", "ms", MS_TAIL
            )
        ],
    ),
]


def bar_panel(query: str, panel_type: str = "barchart") -> dict[str, str]:
    """Return a project of one panel "Bars" of `panel_type` with `query`."""
    return panels(
        f"""
        - title: Bars
          type: {panel_type}
          query: '{query}'
        """
    )


BARCHART_LABELS = [
    Case(
        "two-labels",
        bar_panel(
            'sum by (code, method) (rate(http_requests_total{job="payments"}[5m]))'
        ),
        [
            f'{E}:17:17: warning: bar chart "Bars" names each bar by the label code '
            "alone, but its series also differ in method, so several bars share one "
            "name; aggregate to one label, such as sum by (code) (...), or make the "
            "panel type: table [dashboard/barchart-labels]"
        ],
    ),
    Case(
        "raw-selector",
        bar_panel('http_requests_total{job="payments"}'),
        [
            f'{E}:17:17: warning: bar chart "Bars" names each bar by the label code '
            "alone, but its series also differ in method, so several bars share one "
            "name; aggregate to one label, such as sum by (code) (...), or make the "
            "panel type: table [dashboard/barchart-labels]"
        ],
    ),
    Case(
        "one-label",
        bar_panel('sum by (code) (rate(http_requests_total{job="payments"}[5m]))'),
        [],
    ),
    Case(
        "timeseries",
        bar_panel(
            'sum by (code, method) (rate(http_requests_total{job="payments"}[5m]))',
            "timeseries",
        ),
        [],
    ),
]

WINDOW_FUNCTIONS = (
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "resets",
    "changes",
)

RAW_COUNTER = [
    Case(
        "selector-with-alert",
        counter_panel('http_requests_total{job="payments"}', "<1 Red, >=1 Green"),
        [
            raw_counter_warning(
                17, "http_requests_total", written='http_requests_total{job="payments"}'
            )
        ],
    ),
    Case(
        "selector-without-alert",
        counter_panel("http_requests_total", extra="alert: false"),
        [raw_counter_warning(17, "http_requests_total", alerting=False)],
    ),
    Case(
        "no-alerted-colour",
        counter_panel("http_requests_total", "<100 Green, >=100 Yellow"),
        [raw_counter_warning(17, "http_requests_total", alerting=False)],
    ),
    Case(
        "yellow-warning-alert",
        counter_panel(
            "http_requests_total",
            "<100 Green, >=100 Yellow",
            "alert: {warning: true}",
        ),
        [raw_counter_warning(17, "http_requests_total")],
    ),
    Case(
        "value-mapping",
        counter_panel("http_requests_total", "0=Red"),
        [raw_counter_warning(17, "http_requests_total")],
    ),
    Case(
        "sum",
        counter_panel("sum(http_requests_total)"),
        [raw_counter_warning(21, "http_requests_total")],
    ),
    Case(
        "sum-by",
        counter_panel("sum by (code) (http_requests_total)"),
        [raw_counter_warning(32, "http_requests_total")],
    ),
    Case(
        "max-of-several",
        counter_panel("max(topk(3, http_requests_total))"),
        [raw_counter_warning(29, "http_requests_total")],
    ),
    Case(
        "divided-by-constant",
        counter_panel("http_requests_total / 60"),
        [raw_counter_warning(17, "http_requests_total")],
    ),
    Case(
        "constant-first",
        counter_panel("100 * sum(http_requests_total)"),
        [raw_counter_warning(27, "http_requests_total")],
    ),
    Case(
        "negated",
        counter_panel("-http_requests_total"),
        [raw_counter_warning(18, "http_requests_total")],
    ),
    Case(
        "offset",
        counter_panel("sum(http_requests_total offset 1h)"),
        [raw_counter_warning(21, "http_requests_total")],
    ),
    # The offset stays out of the suggestion, where it would sit inside the range.
    Case(
        "offset-with-matcher",
        counter_panel('sum(http_requests_total{job="payments"} offset 1h)'),
        [raw_counter_warning(21, "http_requests_total")],
    ),
    Case(
        "max-over-time",
        counter_panel("max_over_time(http_requests_total[5m])"),
        [raw_counter_warning(31, "http_requests_total")],
    ),
    Case(
        "quantile-over-time",
        counter_panel("quantile_over_time(0.9, http_requests_total[1h])"),
        [raw_counter_warning(41, "http_requests_total")],
    ),
    Case(
        "subquery",
        counter_panel("max_over_time(sum(http_requests_total)[1h:5m])"),
        [raw_counter_warning(35, "http_requests_total")],
    ),
    Case(
        "predict-linear",
        counter_panel("predict_linear(http_requests_total[1h], 3600)"),
        [raw_counter_warning(32, "http_requests_total")],
    ),
    Case(
        "label-replace",
        counter_panel(
            'label_replace(http_requests_total, "status", "$1", "code", "(.*)")'
        ),
        [raw_counter_warning(31, "http_requests_total")],
    ),
    Case(
        "filter-comparison",
        counter_panel("http_requests_total > 1000"),
        [raw_counter_warning(17, "http_requests_total")],
    ),
    Case(
        "scalar-first-comparison",
        counter_panel("1000 < http_requests_total"),
        [raw_counter_warning(24, "http_requests_total")],
    ),
    Case(
        "or-default",
        counter_panel("sum(http_requests_total) or vector(0)"),
        [raw_counter_warning(21, "http_requests_total")],
    ),
    Case(
        "and-filter",
        counter_panel("http_requests_total and queue_depth > 0"),
        [raw_counter_warning(17, "http_requests_total")],
    ),
    Case(
        "histogram-count",
        counter_panel("http_request_duration_seconds_count"),
        [raw_counter_warning(17, "http_request_duration_seconds_count")],
    ),
    Case(
        "histogram-sum",
        counter_panel("sum(http_request_duration_seconds_sum)"),
        [raw_counter_warning(21, "http_request_duration_seconds_sum")],
    ),
    Case(
        "histogram-bucket",
        counter_panel('sum(http_request_duration_seconds_bucket{le="+Inf"})'),
        [
            raw_counter_warning(
                21,
                "http_request_duration_seconds_bucket",
                written='http_request_duration_seconds_bucket{le="+Inf"}',
            )
        ],
    ),
    Case(
        "summary-count",
        counter_panel("rpc_duration_seconds_count"),
        [raw_counter_warning(17, "rpc_duration_seconds_count")],
    ),
    Case(
        "summary-sum",
        counter_panel("rpc_duration_seconds_sum"),
        [raw_counter_warning(17, "rpc_duration_seconds_sum")],
    ),
    Case(
        "sum-of-counters",
        counter_panel("sum(http_requests_total) + sum(rpc_duration_seconds_count)"),
        [raw_counter_warning(21, "http_requests_total")],
    ),
    Case(
        "counter-minus-its-part",
        counter_panel(
            'sum(http_requests_total) - sum(http_requests_total{code=~"5.."})'
        ),
        [raw_counter_warning(21, "http_requests_total")],
    ),
    Case(
        "minus-offset",
        counter_panel("http_requests_total - http_requests_total offset 1h"),
        [earlier_value_warning(17, "http_requests_total", "1h")],
    ),
    Case(
        "sums-minus-offset",
        counter_panel(
            "(sum(http_requests_total) - sum(http_requests_total offset 1d)) / 24"
        ),
        [earlier_value_warning(22, "http_requests_total", "1d")],
    ),
    Case(
        "info-join",
        panels(
            """
            - title: Jobs
              query: 'http_requests_total * on (instance) group_left (version) payments_build_info'
              thresholds: "<100 Green, >=100 Red"
            """,
            INFO_HEADER,
        ),
        [
            raw_counter_warning(17, "http_requests_total").replace(
                f"{E}:16:", f"{E}:17:"
            )
        ],
    ),
    Case(
        "recording-rule",
        panels(RECORDED_COUNTER),
        [
            raw_counter_warning(
                17, "http_requests_total", recorded="job:http_requests_total:sum"
            )
        ],
    ),
    Case("recorded-rate", panels(RECORDED_RATE), []),
    Case(
        "window-functions",
        panels(
            "".join(
                f"""
                - title: {function}
                  query: '{function}(http_requests_total[5m])'
                  thresholds: "<100 Green, >=100 Red"
                """
                for function in WINDOW_FUNCTIONS
            )
        ),
        [],
    ),
    Case("sum-of-rates", counter_panel("sum(rate(http_requests_total[5m])) * 60"), []),
    Case("rate-of-subquery", counter_panel("rate(http_requests_total[5m:1m])"), []),
    Case(
        "bool-comparison",
        counter_panel("http_requests_total > bool 0", "0 Red, >0 Green"),
        [],
    ),
    Case("count", counter_panel("count(http_requests_total)"), []),
    Case(
        "count-over-time", counter_panel("count_over_time(http_requests_total[5m])"), []
    ),
    Case(
        "timestamp",
        counter_panel("time() - max(timestamp(http_requests_total))"),
        [],
    ),
    Case(
        "absent",
        counter_panel('absent(http_requests_total{job="payments"})', "0 Green, >0 Red"),
        [],
    ),
    Case(
        "ratio-of-counters",
        counter_panel(
            'sum(http_requests_total{code=~"5.."}) / sum(http_requests_total)',
            "<0.01 Green, >=0.01 Red",
        ),
        [],
    ),
    Case(
        "difference-of-counters",
        counter_panel(
            "sum(http_requests_total) - sum(http_request_duration_seconds_count)"
        ),
        [],
    ),
    Case(
        "histogram-quantile",
        counter_panel(
            "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
            "<1s Green, >=1s Red",
        ),
        [],
    ),
    Case("gauge", counter_panel("sum(queue_depth)"), []),
    Case(
        "created-series",
        counter_panel("time() - http_requests_created", "<1h Green, >=1h Red"),
        [],
    ),
    Case("not-in-catalog", counter_panel("process_cpu_seconds_total"), []),
    Case("one-colour", counter_panel("http_requests_total", "Green"), []),
    Case(
        "no-thresholds",
        panels("""
            - title: Jobs
              query: 'sum(http_requests_total)'
        """),
        [],
    ),
]


def per_series_error(panel_type: str) -> str:
    """Return the error for per-series thresholds GET and POST on `panel_type`."""
    return (
        f"per-series thresholds have no effect on a {panel_type} panel, because its "
        "query returns a table with a row per series, and Grafana matches the "
        'overrides for "GET", "POST" on column names; write one set of bands for all '
        "rows, or use a stat, gauge or timeseries panel [thresholds/panel-type]"
    )


PANEL_TYPE = [
    Case(
        "heatmap",
        panels("""
            - title: Latency heatmap
              type: heatmap
              query: 'sum by (le) (rate(http_request_duration_seconds_bucket{job="payments"}[5m]))'
              thresholds: "<300ms Green, 300ms-1s Yellow, >1s Red"
        """),
        [f"{E}:18:21: error: {HEATMAP_THRESHOLDS}"],
    ),
    Case(
        # The error sits where a structured thresholds value starts.
        "heatmap-structured",
        panels("""
            - title: Latency heatmap
              type: heatmap
              query: 'sum by (le) (rate(http_request_duration_seconds_bucket{job="payments"}[5m]))'
              thresholds:
                steps: [green, {value: 1, color: red}]
        """),
        [f"{E}:19:11: error: {HEATMAP_THRESHOLDS}"],
    ),
    Case(
        # A value mapping alone is thresholds too, and the pie chart ignores it.
        "piechart",
        panels("""
            - title: Requests by method
              type: piechart
              query: 'sum by (method) (rate(http_requests_total[5m]))'
              thresholds: "<50 Green, >=50 Red"
            - title: Depth share
              type: piechart
              query: 'queue_depth'
              thresholds: "0=Red"
        """),
        [
            f"{E}:18:21: error: {PIECHART_THRESHOLDS}",
            f"{E}:22:21: error: {PIECHART_THRESHOLDS}",
        ],
    ),
    Case(
        # No legend makes a table-format series a field, so dashboard/series-legend
        # gives no advice about this one.
        "table-per-series",
        panels("""
            - title: Requests by method
              type: table
              legend: Requests
              query: 'sum by (method) (rate(http_requests_total[5m]))'
              thresholds: "GET <50, POST <200"
        """),
        [f"{E}:19:21: error: {per_series_error('table')}"],
    ),
    Case(
        "barchart-per-series",
        panels("""
            - title: Requests by method
              type: barchart
              legend: '{{method}}'
              query: 'sum by (method) (rate(http_requests_total[5m]))'
              thresholds: "GET <50, POST <200"
        """),
        [f"{E}:19:21: error: {per_series_error('barchart')}"],
    ),
    Case(
        "one-set-of-bands-for-every-row",
        panels("""
            - title: Requests table
              type: table
              query: 'sum by (method) (rate(http_requests_total[5m]))'
              thresholds: "<50 Green, 50-200 Yellow, >200 Red"
            - title: Requests bars
              type: barchart
              query: 'sum by (method) (rate(http_requests_total[5m]))'
              thresholds: "<50 Green, >=50 Red"
            - title: Requests by method
              query: 'sum by (method) (rate(http_requests_total[5m]))'
              legend: '{{method}}'
              thresholds: "GET <50, POST <200"
        """),
        [],
    ),
]

LEGEND_LABEL = [
    Case(
        "misspelt-label",
        panels("""
            - title: Depth
              query: 'sum by (method) (rate(http_requests_total{job="payments"}[5m]))'
              legend: 'requests {{ methd }}'
        """),
        [
            f'{E}:17:27: warning: legend names the label "methd", which the series of '
            "the query do not have, so Grafana shows it as empty; did you mean "
            '"method"? [dashboard/legend-label]'
        ],
    ),
    Case(
        "label-aggregated-away",
        panels("""
            - title: Depth
              query: 'sum(queue_depth{job="payments"})'
              legend: |-
                depth of
                {{instance}}
        """),
        [
            f'{E}:19:11: warning: legend names the label "instance", which the series '
            "of the query do not have, so Grafana shows it as empty; they have no "
            "labels [dashboard/legend-label]"
        ],
    ),
    Case(
        "labels-of-the-series",
        panels("""
            - title: Depth
              query: 'queue_depth{job="payments"}'
              legend: '{{job}} {{instance}} {{__name__}}'
            - title: p95
              query: 'histogram_quantile(0.95, sum by (le, method) (rate(http_request_duration_seconds_bucket[5m])))'
              legend: '{{method}}'
        """),
        [],
    ),
    Case(
        "scalar-side-keeps-labels",
        panels("""
            - title: Age
              query: 'time() - max by (method) (http_requests_total{job="payments"})'
              legend: '{{method}}'
            - title: Share
              query: 'sum by (code) (rate(http_requests_total[5m])) / scalar(sum(rate(http_requests_total[5m])))'
              legend: '{{code}}'
            - title: Scaled
              query: 'scalar(max(queue_depth)) * sum by (method) (rate(http_requests_total[5m]))'
              legend: '{{method}}'
        """),
        [],
    ),
]


def test_legend_label_of_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The series of absent() has only the labels that its selector sets with =."""
    case = Case(
        "absent-labels",
        panels("""
            - title: Missing
              query: 'absent(queue_depth{job="payments",instance=~"a.*"})'
              legend: '{{job}} {{instance}}'
            - title: Missing over time
              query: 'absent_over_time(queue_depth{job="payments"}[5m])'
              legend: '{{job}}'
        """),
        [],
    )
    lines, _ = run_case(tmp_path, monkeypatch, case)
    assert lines == [
        f'{E}:17:26: warning: legend names the label "instance", which the series '
        "of the query do not have, so Grafana shows it as empty; their labels are "
        "job [dashboard/legend-label]"
    ]


DUPLICATE_PANEL_TITLE = [
    Case(
        "same-row",
        panels("""
            - {title: RPS, query: 'queue_depth'}
            - {title: RPS, query: 'queue_depth'}
        """),
        [
            f'{E}:16:17: error: panel "RPS" is already defined in row "Main" at '
            f"{E}:15:17 [dashboard/duplicate-panel-title]"
        ],
    ),
    Case(
        "alias-repeats-panel",
        panels("""
            - &rps {title: RPS, query: 'queue_depth'}
            - *rps
        """),
        [
            f'{E}:16:9: error: panel "RPS" is already defined in row "Main" at '
            f"{E}:15:22 [dashboard/duplicate-panel-title]"
        ],
    ),
    Case(
        "different-rows",
        manifest("""
            service: payments
            rows:
              - title: Traffic
                panels:
                  - {title: RPS, query: 'sum(rate(http_requests_total[5m]))'}
              - title: Errors
                panels:
                  - {title: RPS, query: 'sum(rate(http_requests_total{code=~"5.."}[5m]))'}
        """),
        [],
    ),
]

# Grafana's database keeps a dashboard title or folder of at most 189 characters
# and a tag of at most 50, counted in characters: "é" takes two bytes in UTF-8 and
# "📈" four.
LONG_TITLE = "Payments " + "x" * 181
LONG_TAG = "team-" + "y" * 46


def _dashboard_case(top: str, dashboard: str) -> dict[str, str]:
    """Return a project of one manifest with these top-level and dashboard keys."""
    return {
        "payments.yaml": f"service: payments\n{top}dashboard:\n{dashboard}rows: []\n"
    }


TOO_LONG = (
    "has {count} characters, more than the {limit} of the {column} column in "
    "Grafana's database, so Grafana fails to {action} on MySQL and PostgreSQL; "
    "shorten it to at most {limit} characters [dashboard/too-long]"
)
TITLE_TOO_LONG = "error: dashboard title " + TOO_LONG.format(
    count=190, limit=189, column="dashboard.title", action="save the dashboard"
)
TAG_TOO_LONG = f'error: tag "{LONG_TAG}" ' + TOO_LONG.format(
    count=51, limit=50, column="dashboard_tag.term", action="save the dashboard"
)
FOLDER_TOO_LONG = "error: folder title " + TOO_LONG.format(
    count=190, limit=189, column="folder.title", action="create the folder"
)

DASHBOARD_TOO_LONG = [
    Case(
        "title",
        _dashboard_case("", f"  title: {LONG_TITLE}\n"),
        [f"{E}:3:10: {TITLE_TOO_LONG}"],
    ),
    Case(
        "service-title",
        _dashboard_case(f"title: {LONG_TITLE}\n", "  folder: Payments\n"),
        [f"{E}:2:8: {TITLE_TOO_LONG}"],
    ),
    Case(
        "empty-dashboard-title",
        _dashboard_case(f"title: {LONG_TITLE}\n", '  title: ""\n'),
        [f"{E}:2:8: {TITLE_TOO_LONG}"],
    ),
    Case(
        "service-title-beside-dashboard-title",
        _dashboard_case(f"title: {LONG_TITLE}\n", "  title: Payments\n"),
        [],
    ),
    Case(
        "limits-count-characters",
        _dashboard_case(
            "",
            f"  title: {'é' * 189}\n  tags: [{'📈' * 50}]\n  folder: {'ü' * 189}\n",
        ),
        [],
    ),
    Case(
        "title-trimmed-by-grafana",
        _dashboard_case("", f'  title: "  {"x" * 189}\\t"\n'),
        [],
    ),
    Case(
        "python-tags-and-folder",
        {
            "payments.py": (
                "from obscompile import dsl\n\n"
                "dsl.service(\n"
                '    "payments",\n'
                f"    dashboard=dsl.dashboard(tags=[{LONG_TAG!r}], folder={LONG_TITLE!r}),\n"
                ")\n"
            )
        },
        [
            f"services/payments.py:5:34: {TAG_TOO_LONG}",
            f"services/payments.py:5:98: {FOLDER_TOO_LONG}",
        ],
    ),
    Case(
        "folder",
        _dashboard_case("", f"  folder: {LONG_TITLE}\n"),
        [f"{E}:3:11: {FOLDER_TOO_LONG}"],
    ),
]


def _timezone_error(name: str, close: str | None = None) -> str:
    """Return the dashboard/timezone error for `name`, suggesting `close` if given."""
    hint = f' (did you mean "{close}"?)' if close else ""
    return (
        f'error: dashboard.timezone "{name}" is not a zone of the IANA time zone '
        f'database{hint}; write "browser", "utc", an IANA time zone such as '
        'Europe/Berlin, or "" for the viewer\'s own preference [dashboard/timezone]'
    )


DASHBOARD_TIMEZONE = [
    Case(
        "typo",
        _dashboard_case("", "  timezone: Europe/Berln\n"),
        [f"{E}:3:13: " + _timezone_error("Europe/Berln", "Europe/Berlin")],
    ),
    Case(
        "wrong-case",
        _dashboard_case("", "  timezone: europe/berlin\n"),
        [f"{E}:3:13: " + _timezone_error("europe/berlin", "Europe/Berlin")],
    ),
    Case(
        "grafana-name-in-capitals",
        _dashboard_case("", "  timezone: Browser\n"),
        [f"{E}:3:13: " + _timezone_error("Browser", "browser")],
    ),
    Case(
        "no-close-zone",
        _dashboard_case("", "  timezone: mars\n"),
        [f"{E}:3:13: {_timezone_error('mars')}"],
    ),
    Case(
        # Grafana reads "" as the viewer's time zone preference.
        "viewer-default",
        _dashboard_case("", '  timezone: ""\n'),
        [],
    ),
    Case(
        "blank",
        _dashboard_case("", '  timezone: " "\n'),
        [f"{E}:3:13: {_timezone_error(' ')}"],
    ),
    Case(
        # Some systems add the machine's own zone as a file beside the database.
        "machine-zone",
        _dashboard_case("", "  timezone: localtime\n"),
        [f"{E}:3:13: {_timezone_error('localtime')}"],
    ),
    Case(
        "grafana-names-and-iana-zones",
        {
            f"{zone.replace('/', '-').lower()}.yaml": (
                f"service: svc{index}\ndashboard: {{timezone: {zone}}}\nrows: []\n"
            )
            for index, zone in enumerate(
                (
                    "browser",
                    "utc",
                    "UTC",
                    "Europe/Berlin",
                    "America/Argentina/Buenos_Aires",
                    "America/Port-au-Prince",
                    "Etc/GMT+5",
                    "US/Eastern",
                )
            )
        },
        [],
    ),
    Case(
        "python",
        {
            "payments.py": (
                "from obscompile import dsl\n\n"
                'dsl.service("payments", dashboard=dsl.dashboard(timezone="Asia/Tokio"))\n'
            )
        },
        ["services/payments.py:3:58: " + _timezone_error("Asia/Tokio", "Asia/Tokyo")],
    ),
]


def _refresh_projects(*refreshes: str) -> dict[str, str]:
    """Return a project of one service for each dashboard refresh in `refreshes`."""
    return {
        f"svc{index}.yaml": (
            f'service: svc{index}\ndashboard: {{refresh: "{refresh}"}}\nrows: []\n'
        )
        for index, refresh in enumerate(refreshes)
    }


def _refresh_too_short(refresh: str) -> str:
    return (
        f'warning: dashboard.refresh "{refresh}" is shorter than 5s, Grafana\'s '
        "default min_refresh_interval, so Grafana saves the dashboard with refresh "
        '5s instead; write 5s or longer, or "" for no refresh [dashboard/refresh]'
    )


def _refresh_too_long(refresh: str) -> str:
    return (
        f'error: dashboard.refresh "{refresh}" is longer than the longest duration '
        "that Grafana can represent (about 292 years, 106751d23h47m16s854ms); write "
        "an interval such as 1m or 1h [dashboard/refresh]"
    )


def _refresh_beyond_timer(refresh: str) -> str:
    return (
        f'error: dashboard.refresh "{refresh}" is longer than about 24.8 days '
        "(2^31 - 1 ms), the longest delay of a browser timer, so Grafana's dashboard "
        'page refreshes far too often; write 24d or shorter, or "" for no refresh '
        "[dashboard/refresh]"
    )


def _refresh_misread(refresh: str, reading: str | None, suggestion: str) -> str:
    consequence = f"reads it as {reading}" if reading else "cannot read it"
    return (
        f'error: dashboard.refresh "{refresh}" is not a whole number and one unit, '
        f"so Grafana saves it but its dashboard page {consequence}; write "
        f"{suggestion} [dashboard/refresh]"
    )


_LONGEST_IN_EACH_UNIT = [
    "9223372036s",
    "153722867m",
    "2562047h",
    "106751d",
    "15250w",
    "3507M",
    "292y",
    "9223372036854775807ns",
]
_BEYOND_LONGEST_IN_EACH_UNIT = [
    "9223372037s",
    "153722868m",
    "2562048h",
    "9" * 30 + "d",
    "15251w",
    "3508M",
    "293y",
    "9223372036854775808ns",
    "2562047h47m16.854775808s",
]
_SHORTER_GO_DURATIONS = ["100ms", "4.999s", "1.s", "0", "-0", "-1m", "4999999999ns"]

DASHBOARD_REFRESH = [
    Case(
        "shorter-than-grafana-minimum",
        _dashboard_case("", "  refresh: 1s\n"),
        [f"{E}:3:12: {_refresh_too_short('1s')}"],
    ),
    Case(
        "zero",
        _dashboard_case("", "  refresh: 0s\n"),
        [f"{E}:3:12: {_refresh_too_short('0s')}"],
    ),
    Case(
        "at-and-below-minimum",
        _refresh_projects("4s", "5s", "0005s", "0m", "1m", "1h", "1d", ""),
        [
            f"services/svc0.yaml:2:22: {_refresh_too_short('4s')}",
            f"services/svc3.yaml:2:22: {_refresh_too_short('0m')}",
        ],
    ),
    Case(
        # Go's time.ParseDuration rejects more than 2**63 - 1 nanoseconds, and
        # Grafana's own parser of days, weeks, months and years wraps around past
        # them. Below that, each is still longer than a browser timer's delay.
        "longest-grafana-represents",
        _refresh_projects(*_LONGEST_IN_EACH_UNIT, "106752d"),
        [
            f"services/svc{index}.yaml:2:22: {_refresh_beyond_timer(refresh)}"
            for index, refresh in enumerate(_LONGEST_IN_EACH_UNIT)
        ]
        + [f"services/svc8.yaml:2:22: {_refresh_too_long('106752d')}"],
    ),
    Case(
        "beyond-longest-in-each-unit",
        _refresh_projects(*_BEYOND_LONGEST_IN_EACH_UNIT),
        [
            f"services/svc{index}.yaml:2:22: {_refresh_too_long(refresh)}"
            for index, refresh in enumerate(_BEYOND_LONGEST_IN_EACH_UNIT)
        ],
    ),
    Case(
        # Grafana saves "auto" from version 11.0 on, and "" turns the refresh off.
        "grafana-units-and-auto",
        _refresh_projects("auto", "", "1w", "3w", "1d", "24d", "4w", "25d", "1M", "1y"),
        [
            f"services/svc{index}.yaml:2:22: {_refresh_beyond_timer(refresh)}"
            for index, refresh in [(6, "4w"), (7, "25d"), (8, "1M"), (9, "1y")]
        ],
    ),
    Case(
        # A browser timer keeps 2**31 - 1 ms, which is 596h31m23.647s.
        "browser-timer-limit",
        _refresh_projects(
            "2147483647ms", "2147483648ms", "596h31m23.647s", "596h31m23.648s"
        ),
        [
            f"services/svc1.yaml:2:22: {_refresh_beyond_timer('2147483648ms')}",
            "services/svc2.yaml:2:22: "
            + _refresh_misread("596h31m23.647s", "596h", "2147483647ms"),
            f"services/svc3.yaml:2:22: {_refresh_beyond_timer('596h31m23.648s')}",
        ],
    ),
    Case(
        # Go durations that Grafana saves, but whose leading whole number and unit
        # are all that the dashboard page reads.
        "go-durations-the-page-misreads",
        _refresh_projects(
            "90s",
            "5000ms",
            "1m30s",
            "1.5h",
            "0h30m",
            "+1m",
            ".5m",
            "5000000us",
            "5000000\u00b5s",
            "1h0.0000001s",
        ),
        [
            f"services/svc{index}.yaml:2:22: {_refresh_misread(*expected)}"
            for index, expected in [
                (2, ("1m30s", "1m", "90s")),
                (3, ("1.5h", "1h", "90m")),
                (4, ("0h30m", "0h", "30m")),
                (5, ("+1m", None, "1m")),
                (6, (".5m", None, "30s")),
                (7, ("5000000us", None, "5s")),
                (8, ("5000000\u00b5s", None, "5s")),
                (9, ("1h0.0000001s", "1h", "1h")),
            ]
        ],
    ),
    Case(
        # Python's int() reads at most 4300 digits, and messages quote the start and
        # the end of a long text.
        "thousands-of-digits",
        _refresh_projects(
            "9" * 5000 + "s",
            "9" * 5000 + "d",
            "1." + "0" * 5000 + "1s",
            "0" * 5000 + "1m",
        ),
        [
            "services/svc0.yaml:2:22: "
            + _refresh_too_long("9" * 75 + "..." + "9" * 35 + "s"),
            "services/svc1.yaml:2:22: "
            + _refresh_too_long("9" * 75 + "..." + "9" * 35 + "d"),
            "services/svc2.yaml:2:22: "
            + _refresh_too_short("1." + "0" * 73 + "..." + "0" * 34 + "1s"),
        ],
    ),
    Case(
        # Grafana saves 5s in place of a shorter or negative Go duration.
        "go-durations-shorter-than-minimum",
        _refresh_projects(*_SHORTER_GO_DURATIONS),
        [
            f"services/svc{index}.yaml:2:22: {_refresh_too_short(refresh)}"
            for index, refresh in enumerate(_SHORTER_GO_DURATIONS)
        ],
    ),
    Case(
        "python",
        {
            "payments.py": (
                "from obscompile import dsl\n\n"
                'dsl.service("payments", dashboard=dsl.dashboard(refresh="2s"))\n'
            )
        },
        [f"services/payments.py:3:57: {_refresh_too_short('2s')}"],
    ),
    Case(
        "python-compound-duration",
        {
            "payments.py": (
                "from obscompile import dsl\n\n"
                'dsl.service("payments", dashboard=dsl.dashboard(refresh="1m30s"))\n'
            )
        },
        [f"services/payments.py:3:57: {_refresh_misread('1m30s', '1m', '90s')}"],
    ),
]


def _time_projects(*times: str) -> dict[str, str]:
    """Return a project of one service for each dashboard time in `times`."""
    return {
        f"svc{index}.yaml": (
            f'service: svc{index}\ndashboard: {{time: "{time}"}}\nrows: []\n'
        )
        for index, time in enumerate(times)
    }


_TIME_FORM = (
    "dashboard.time takes now, or now- and a count of at most 9 digits with one of "
    "the units s, m, h, d, w, M or y, optionally rounded with /d or another unit, "
    "such as now-6h, now-7d or now-1d/d [dashboard/time]"
)


def _time_digits(time: str, digits: int) -> str:
    return (
        f'error: dashboard.time "{time}" has a count of {digits} digits, and Grafana '
        f"reads no time from a count of more than 9; {_TIME_FORM}"
    )


def _time_too_far(time: str, longest: str) -> str:
    return (
        f'error: dashboard.time "{time}" reaches further back than 100,000,000 days '
        "before 1970-01-01, the earliest date of JavaScript, so Grafana computes an "
        f"invalid start of the time range; write at most {longest}, or a shorter "
        "time such as now-30d [dashboard/time]"
    )


# The longest count of each unit that moment subtracts from 1970-01-01 to a date
# that a JavaScript Date holds. A count of s, m or h reaches that far only with more
# than 9 digits.
_LONGEST_TIME_IN_EACH_UNIT = [
    "now-999999999s",
    "now-999999999m",
    "now-999999999h",
    "now-100000000d",
    "now-14285714w",
    "now-3285488M",
    "now-273790y",
]
_BEYOND_LONGEST_TIME = [
    ("now-100000001d", "now-100000000d"),
    ("now-14285715w", "now-14285714w"),
    ("now-3285489M", "now-3285488M"),
    ("now-273791y/y", "now-273790y"),
]

DASHBOARD_TIME = [
    Case(
        "usual-times",
        _time_projects("now", "now-6h", "now-7d", "now-1d/d", "now/w", "now-90s"),
        [],
    ),
    Case(
        "longest-in-each-unit",
        _time_projects(*_LONGEST_TIME_IN_EACH_UNIT),
        [],
    ),
    Case(
        "beyond-longest-in-each-unit",
        _time_projects(*(time for time, _ in _BEYOND_LONGEST_TIME)),
        [
            f"services/svc{index}.yaml:2:19: {_time_too_far(time, longest)}"
            for index, (time, longest) in enumerate(_BEYOND_LONGEST_TIME)
        ],
    ),
    Case(
        # Grafana's parseDateMath stops at the tenth digit, leading zeros included.
        "ten-digits",
        _time_projects("now-1000000000s", "now-0000000001h", "now-000000001h"),
        [
            f"services/svc0.yaml:2:19: {_time_digits('now-1000000000s', 10)}",
            f"services/svc1.yaml:2:19: {_time_digits('now-0000000001h', 10)}",
        ],
    ),
    Case(
        "thousands-of-digits",
        _time_projects("now-" + "9" * 5000 + "h", "now-" + "1" * 5000 + "d/d"),
        [
            "services/svc0.yaml:2:19: "
            + _time_digits("now-" + "9" * 71 + "..." + "9" * 35 + "h", 5000),
            "services/svc1.yaml:2:19: "
            + _time_digits("now-" + "1" * 71 + "..." + "1" * 33 + "d/d", 5000),
        ],
    ),
    Case(
        "python",
        {
            "payments.py": (
                "from obscompile import dsl\n\n"
                'dsl.service("payments", dashboard=dsl.dashboard(time="now-20000000w"))\n'
            )
        },
        [
            "services/payments.py:3:54: "
            + _time_too_far("now-20000000w", "now-14285714w")
        ],
    ),
]

PROJECT = [
    Case(
        "service-differs-in-case",
        {
            "payments.yaml": "service: payments\n",
            "payments-v2.yaml": "service: Payments\n",
        },
        [
            'services/payments-v2.yaml:1:10: error: service "Payments" differs only in '
            'case from "payments" in services/payments.yaml:1:10, and their files '
            "collide on case-insensitive file systems [project/duplicate-service]",
            'services/payments.yaml:1:10: error: service "payments" differs only in '
            'case from "Payments" in services/payments-v2.yaml:1:10, and their files '
            "collide on case-insensitive file systems [project/duplicate-service]",
        ],
    ),
    Case(
        # The message quotes each name as its manifest writes it, not the key.
        "service-same-key",
        {
            "a.yaml": "service: Pay Ments!\n",
            "b.yaml": "service: Pay_Ments\n",
        },
        [
            'services/a.yaml:1:10: error: service "Pay Ments!" resolves to the same '
            'service as "Pay_Ments" in services/b.yaml:1:10, because both have the '
            'service key "Pay_Ments", which names the service\'s files; rename one of '
            "them [project/duplicate-service]",
            'services/b.yaml:1:10: error: service "Pay_Ments" resolves to the same '
            'service as "Pay Ments!" in services/a.yaml:1:10, because both have the '
            'service key "Pay_Ments", which names the service\'s files; rename one of '
            "them [project/duplicate-service]",
        ],
    ),
    Case(
        "service-keys-differ-in-case",
        {
            "a.yaml": "service: Pay Ments!\n",
            "b.yaml": "service: pay_ments\n",
        },
        [
            'services/a.yaml:1:10: error: service "Pay Ments!" resolves to the same '
            'service as "pay_ments" in services/b.yaml:1:10, because their service '
            'keys "Pay_Ments" and "pay_ments" differ only in case, and their files '
            "collide on case-insensitive file systems [project/duplicate-service]",
            'services/b.yaml:1:10: error: service "pay_ments" resolves to the same '
            'service as "Pay Ments!" in services/a.yaml:1:10, because their service '
            'keys "pay_ments" and "Pay_Ments" differ only in case, and their files '
            "collide on case-insensitive file systems [project/duplicate-service]",
        ],
    ),
    Case(
        # A service_key is what the manifest writes at the reported position.
        "service-key-written",
        {
            "a.yaml": "service: Payments API\nservice_key: payments\n",
            "b.yaml": "service: payments!\n",
        },
        [
            'services/a.yaml:2:14: error: service "payments" resolves to the same '
            'service as "payments!" in services/b.yaml:1:10, because both have the '
            'service key "payments", which names the service\'s files; rename one of '
            "them [project/duplicate-service]",
            'services/b.yaml:1:10: error: service "payments!" resolves to the same '
            'service as "payments" in services/a.yaml:2:14, because both have the '
            'service key "payments", which names the service\'s files; rename one of '
            "them [project/duplicate-service]",
        ],
    ),
    Case(
        "duplicate-service",
        {
            "payments.yaml": "service: payments\n",
            "payments-v2.yaml": "service: payments\n",
        },
        [
            'services/payments-v2.yaml:1:10: error: service "payments" is also '
            "defined in services/payments.yaml:1:10 [project/duplicate-service]",
            'services/payments.yaml:1:10: error: service "payments" is also '
            "defined in services/payments-v2.yaml:1:10 [project/duplicate-service]",
        ],
    ),
    Case(
        "duplicate-job-and-timeout",
        {
            "payments.yaml": (
                "service: payments\n"
                "scrape: {job: payments, port: 8080, path: /metrics, interval: 15s, "
                "timeout: 30s}\n"
            ),
            "payments-admin.yaml": (
                "service: payments-admin\n"
                "scrape: {job: payments, port: 9090, path: /actuator/prometheus}\n"
            ),
        },
        [
            'services/payments-admin.yaml:2:15: error: scrape job "payments" is also '
            "defined in services/payments.yaml:2:15 [project/duplicate-job]",
            'services/payments.yaml:2:15: error: scrape job "payments" is also '
            "defined in services/payments-admin.yaml:2:15 [project/duplicate-job]",
            "services/payments.yaml:2:77: error: scrape timeout 30s is longer than "
            "interval 15s, which Prometheus rejects; set the timeout to at most 15s, "
            "or lengthen the interval [scrape/job]",
        ],
    ),
    Case(
        "duplicate-uid",
        {
            "orders.yaml": "service: orders\ndashboard: {uid: shop}\n",
            "payments.yaml": "service: payments\ndashboard: {uid: Shop}\n",
            "refunds.yaml": "service: refunds\ndashboard: {uid: shop}\n",
        },
        [
            # The first definition is paired with each later one.
            'services/orders.yaml:2:18: error: dashboard uid "shop" differs only in '
            f'case from "Shop" in {E}:2:18, and their files collide on '
            "case-insensitive file systems [project/duplicate-uid]",
            'services/orders.yaml:2:18: error: dashboard uid "shop" is also defined '
            "in services/refunds.yaml:2:18 [project/duplicate-uid]",
            f'{E}:2:18: error: dashboard uid "Shop" differs only in case from "shop" '
            "in services/orders.yaml:2:18, and their files collide on case-insensitive "
            "file systems [project/duplicate-uid]",
            'services/refunds.yaml:2:18: error: dashboard uid "shop" is also '
            "defined in services/orders.yaml:2:18 [project/duplicate-uid]",
        ],
    ),
    Case(
        "derived-uid",
        {
            "orders.yaml": "service: orders\ndashboard: {uid: payments}\n",
            "payments.yaml": "service: payments\ndashboard: {title: Payments}\n",
        },
        [
            'services/orders.yaml:2:18: error: dashboard uid "payments" is also the '
            f"uid derived from the service name in {E}:1:10 [project/duplicate-uid]",
            f'{E}:1:10: error: dashboard uid "payments" (derived from the service '
            "name) is also defined in services/orders.yaml:2:18; set another uid for "
            "this dashboard with dashboard.uid [project/duplicate-uid]",
        ],
    ),
    Case(
        # The same type under the same name is one metric that two services export.
        "metric-type-conflict",
        {
            "billing.yaml": (
                "service: billing\n"
                "metrics:\n"
                "  jobs_total: counter\n"
                "  batch_seconds: histogram\n"
            ),
            "payments.yaml": (
                "service: payments\n"
                "metrics:\n"
                "  jobs_total: gauge\n"
                "  batch_seconds_count: gauge\n"
                "  batch_seconds: histogram\n"
            ),
            "refunds.yaml": "service: refunds\nmetrics:\n  jobs_total: counter\n",
        },
        [
            # Each of the two declarations is reported, naming the other.
            'services/billing.yaml:3:3: warning: counter "jobs_total" exports the '
            'series "jobs_total", which gauge "jobs_total" of service "payments" '
            "exports too (services/payments.yaml:3:3); Prometheus keeps both under "
            "that one name, and the queries of services that declare neither are "
            "checked against the counter unless their job matcher names a job of "
            'service "payments" [project/metric-type-conflict]',
            'services/billing.yaml:4:3: warning: histogram "batch_seconds" exports '
            'the series "batch_seconds_count", which gauge "batch_seconds_count" of '
            'service "payments" exports too (services/payments.yaml:4:3); Prometheus '
            "keeps both under that one name, and the queries of services that declare "
            "neither are checked against the histogram unless their job matcher names "
            'a job of service "payments" [project/metric-type-conflict]',
            f'{E}:3:3: warning: gauge "jobs_total" exports the series "jobs_total", '
            'which counter "jobs_total" of service "billing" exports too '
            "(services/billing.yaml:3:3); Prometheus keeps both under that one name, "
            "and the queries of services that declare neither are checked against "
            'the counter unless their job matcher names a job of service "payments" '
            "[project/metric-type-conflict]",
            f'{E}:4:3: warning: gauge "batch_seconds_count" exports the series '
            '"batch_seconds_count", which histogram "batch_seconds" of service '
            '"billing" exports too (services/billing.yaml:4:3); Prometheus keeps both '
            "under that one name, and the queries of services that declare neither "
            "are checked against the histogram unless their job matcher names a job "
            'of service "payments" [project/metric-type-conflict]',
        ],
    ),
    Case(
        # Without a runtime, counter `jobs` exports the series `jobs` too, which the
        # gauge of service queue exports. Info metric `build` of a service with a
        # runtime and `build_info` of an exporter both export `build_info`, as one
        # metric, so they do not conflict.
        "metric-type-conflict-declared-name",
        {
            "exporter.yaml": (
                "service: exporter\nmetrics:\n  jobs: counter\n  build_info: info\n"
            ),
            "queue.yaml": "service: queue\nmetrics:\n  jobs: gauge\n",
            "worker.yaml": (
                "service: worker\n"
                "runtime: python\n"
                "scrape: {job: worker, port: 8000}\n"
                "metrics:\n"
                "  jobs: counter\n"
                "  build: info\n"
            ),
        },
        [
            'services/exporter.yaml:3:3: warning: counter "jobs" exports the series '
            '"jobs", which gauge "jobs" of service "queue" exports too '
            "(services/queue.yaml:3:3); Prometheus keeps both under that one name, "
            "and the queries of services that declare neither are checked against "
            'the counter unless their job matcher names a job of service "queue" '
            "[project/metric-type-conflict]",
            'services/queue.yaml:3:3: warning: gauge "jobs" exports the series "jobs", '
            'which counter "jobs" of service "exporter" exports too '
            "(services/exporter.yaml:3:3); Prometheus keeps both under that one name, "
            "and the queries of services that declare neither are checked against "
            'the counter unless their job matcher names a job of service "queue" '
            "[project/metric-type-conflict]",
        ],
    ),
]

SCRAPE_JOB = [
    Case(
        "probe-job",
        manifest(
            "service: probes\n"
            "scrape:\n"
            "  job: blackbox\n"
            "  port: 9115\n"
            "  probe: {exporter: 'http://blackbox:9115', module: http_2xx}\n"
            "  targets: ['https://a.example/health', 'b c']\n"
        ),
        [
            f'{E}:4:9: error: probe job "blackbox" scrapes its exporter at '
            "http://blackbox:9115, so port: does not apply; remove it [scrape/job]",
            f'{E}:5:21: error: probe exporter: target "http://blackbox:9115" is not '
            "host:port; set scheme: and path: separately [scrape/job]",
            f"{E}:6:41: error: probe target 'b c' is empty or contains a blank or an "
            "invisible character; write the URL or host that the exporter probes "
            "[scrape/job]",
        ],
    ),
    Case(
        "probe-targets",
        manifest(
            "service: probes\n"
            "scrape:\n"
            "  - job: bb\n"
            "    probe: {exporter: 'bb:9115', module: http_2xx}\n"
            "    targets: ['https://ok.example/', 'https://admin:pw@intra.example/']\n"
            "    labels: {instance: x}\n"
            "  - job: empty\n"
            "    probe: {exporter: 'bb:9115', module: http_2xx}\n"
            "    targets: []\n"
        ),
        [
            f'{E}:5:38: error: probe target contains credentials before "@", which '
            "would reach the instance label, every legend and alert summary; give the "
            "target without them and the credentials in the exporter's module "
            "[scrape/job]",
            f'{E}:6:14: error: scrape label "instance" of probe job "bb" is replaced '
            "by each target, which the relabelling sets as the instance; remove it "
            "[scrape/job]",
            f'{E}:9:14: warning: probe job "empty" has no targets, so the exporter '
            "probes nothing and its panels stay empty; list the URLs or hosts to probe "
            "[scrape/job]",
        ],
    ),
    Case(
        "target-hosts",
        manifest(
            "service: payments\n"
            "scrape:\n"
            "  job: payments\n"
            "  targets:\n"
            "    - ok_host:80\n"
            "    - 10.0.0.1:80\n"
            "    - payments.example.com.:80\n"
            "    - payments\n"
            "    - user@payments:80\n"
            "    - 'pay?ments:80'\n"
            "    - 'paymënts:80'\n"
            "    - -payments:80\n"
            "    - payments..example:80\n"
            "    - 999.0.0.1:80\n"
            "    - 'payments:'\n"
        ),
        [
            f'{E}:9:7: error: target "user@payments:80" contains credentials before '
            '"@", which would reach the instance label of every series; give the '
            "target without them [scrape/job]",
            f'{E}:10:7: error: target "pay?ments:80" has host "pay?ments", which '
            'contains "?", and a host name has only ASCII letters, digits, "-", "_" '
            'and "." [scrape/job]',
            f'{E}:11:7: error: target "paymënts:80" has host "paymënts", which '
            'contains "ë"; write the name as "xn--paymnts-uya" [scrape/job]',
            f'{E}:12:7: error: target "-payments:80" has host "-payments", which has '
            'the label "-payments", but a label may not start or end with "-" '
            "[scrape/job]",
            f'{E}:13:7: error: target "payments..example:80" has host '
            '"payments..example", which has an empty label between two dots '
            "[scrape/job]",
            f'{E}:14:7: error: target "999.0.0.1:80" has host "999.0.0.1", which is '
            "neither a host name nor an IPv4 address of four numbers 0-255 "
            "[scrape/job]",
            f'{E}:15:7: error: target "payments:" has an empty port; remove the ":" '
            "or write a port [scrape/job]",
        ],
    ),
    Case(
        "job-as-host",
        manifest(
            "service: payments\n"
            "scrape:\n"
            "  - {job: payments., port: 8080}\n"
            "  - {job: pay..ments, port: 8080}\n"
            "  - {job: payments-, port: 8080}\n"
        ),
        [
            f'{E}:4:11: error: job "pay..ments" gives the target pay..ments:8080 with '
            "port:, and its host has an empty label between two dots; list targets: "
            "or rename the job [scrape/job]",
            f'{E}:5:11: error: job "payments-" gives the target payments-:8080 with '
            'port:, and its host has the label "payments-", but a label may not start '
            'or end with "-"; list targets: or rename the job [scrape/job]',
        ],
    ),
    Case(
        "probe-target-syntax",
        manifest(
            "service: probes\n"
            "scrape:\n"
            "  job: bb\n"
            "  probe: {exporter: 'bb..example:9115', module: icmp}\n"
            "  targets:\n"
            "    - https://ok.example:8443/health?deep=1#top\n"
            "    - ok.example/health\n"
            "    - ok.example\n"
            "    - 10.0.0.1:53\n"
            "    - '::1'\n"
            "    - 'http://[fe80::1%25eth0]/'\n"
            "    - ftp://files.example/\n"
            "    - 'http://[::1'\n"
            "    - http://ok.example:99999/\n"
            "    - ok.example:http\n"
            "    - 'ok.example/a%zz'\n"
        ),
        [
            f'{E}:4:21: error: probe exporter: target "bb..example:9115" has host '
            '"bb..example", which has an empty label between two dots [scrape/job]',
            f'{E}:12:7: error: probe target "ftp://files.example/" is invalid: it has '
            'the scheme "ftp"; use http or https [scrape/job]',
            f'{E}:13:7: error: probe target "http://[::1" is invalid: it has the host '
            '"[::1", which has no closing "]" [scrape/job]',
            f'{E}:14:7: error: probe target "http://ok.example:99999/" is invalid: it '
            'has the port "99999", which is outside 1-65535 [scrape/job]',
            f'{E}:15:7: error: probe target "ok.example:http" has port "http", which '
            "is not a number [scrape/job]",
            f'{E}:16:7: error: probe target "ok.example/a%zz" is invalid: it has the '
            'path "/a%zz", which contains "%zz", but "%" starts a percent-encoded '
            'byte such as %20; write a "%" itself as %25 [scrape/job]',
        ],
    ),
    Case(
        "repeated-target-and-empty-label",
        manifest(
            "service: payments\n"
            "scrape: {job: payments, targets: ['a:1', 'a:1'], labels: {team: ''}}\n"
        ),
        [
            f'{E}:2:34: warning: scrape job "payments" lists a:1 more than once, and '
            "Prometheus treats the repeats as one target; remove them [scrape/job]",
            f'{E}:2:59: warning: scrape label "team" is empty, and Prometheus drops '
            "empty labels; give it a value or remove it [scrape/job]",
        ],
    ),
    Case(
        "shared-instance-and-ignored-port",
        manifest(
            "service: payments\n"
            "scrape: {job: payments, targets: ['a:1', 'a:2'], port: 80, "
            "labels: {instance: x}}\n"
        ),
        [
            f'{E}:2:56: warning: scrape job "payments" gives both targets: and port:, '
            "and port: is ignored; remove one [scrape/job]",
            f'{E}:2:69: error: scrape label "instance" gives all 2 targets of job '
            '"payments" the same instance, so their series collide; set it per target '
            "in separate jobs, or leave it out [scrape/job]",
        ],
    ),
    Case(
        "no-targets",
        manifest("service: payments\nscrape: {job: payments, targets: []}\n"),
        [
            f'{E}:2:34: warning: scrape job "payments" has no targets, so Prometheus '
            "scrapes nothing for it and its panels stay empty; list host:port targets "
            "[scrape/job]"
        ],
    ),
    Case(
        "probe-module-blank",
        python_module(
            "probe_module_blank",
            """
            dsl.service(
                "probes",
                scrape=dsl.scrape_job(
                    "bb", targets=["a"], probe=dsl.probe("bb:9115", "http 2xx")
                ),
            )
        """,
        ),
        [
            'services/probe_module_blank.py:6:12: error: probe module "http 2xx" must be a module name of the '
            "exporter, such as http_2xx, without blanks or control characters "
            "[scrape/job]",
        ],
    ),
    Case(
        "reserved-and-invalid-labels",
        python_module(
            "reserved_and_invalid_labels",
            """
            dsl.service(
                "payments",
                scrape=dsl.scrape_job(
                    "payments", port=8080, labels={"job": "other", "bad-name": "x"}
                ),
            )
        """,
        ),
        [
            'services/reserved_and_invalid_labels.py:6:12: error: scrape label "job" replaces the scrape job\'s name, so '
            'queries that select job="payments" find nothing; use another label name '
            "[scrape/job]",
            'services/reserved_and_invalid_labels.py:6:12: error: scrape label name "bad-name" is invalid: Prometheus '
            'accepts names of ASCII letters, digits and "_" that do not start with a digit '
            'or "__" [scrape/job]',
        ],
    ),
    Case(
        "path-with-query",
        python_module(
            "path_with_query",
            """
            dsl.service(
                "payments", scrape=dsl.scrape_job("payments", port=8080, path="/m?x=1")
            )
        """,
        ),
        [
            'services/path_with_query.py:5:24: error: metrics path "/m?x=1" has a query or fragment, which '
            "Prometheus escapes into the path and the target then answers 404; give "
            "the path alone [scrape/job]"
        ],
    ),
    Case(
        "zero-interval",
        python_module(
            "zero_interval",
            """
            dsl.service(
                "payments", scrape=dsl.scrape_job("payments", port=8080, interval="0s")
            )
        """,
        ),
        [
            'services/zero_interval.py:5:24: error: scrape interval "0s" must be longer than 0s; leave it out '
            "to use the global setting [scrape/job]"
        ],
    ),
    Case(
        "port-out-of-range",
        python_module(
            "port_out_of_range",
            """
            dsl.service("payments", scrape=dsl.scrape_job("payments", port=80800))
        """,
        ),
        [
            "services/port_out_of_range.py:4:64: error: port 80800 is outside 1-65535 [scrape/job]"
        ],
    ),
    Case(
        "targets",
        manifest("""
            service: payments
            scrape:
              job: payments
              targets: ['payments:80800', ':9090', 'http://payments:80/metrics', 'payments:web', 'payments', '[::1]:9090']
        """),
        [
            f'{E}:4:13: error: target "payments:80800" has port 80800, outside 1-65535 '
            "[scrape/job]",
            f'{E}:4:31: error: target ":9090" has no host [scrape/job]',
            f'{E}:4:40: error: target "http://payments:80/metrics" is not host:port; '
            "set scheme: and path: separately [scrape/job]",
            f'{E}:4:70: error: target "payments:web" has port "web", which is not a '
            "number [scrape/job]",
        ],
    ),
    Case(
        "bracketed-hosts",
        manifest("""
            service: payments
            scrape:
              job: payments
              targets: ['[zz]:9090', '[]:9090', '[fe80::1%eth0]:9090', '[::ffff:10.0.0.1]:9090']
        """),
        [
            f'{E}:4:13: error: target "[zz]:9090" has host "[zz]", but only an IPv6 '
            "address goes in brackets [scrape/job]",
            f'{E}:4:26: error: target "[]:9090" has host "[]", but only an IPv6 '
            "address goes in brackets [scrape/job]",
        ],
    ),
    Case(
        "unbracketed-ipv6-hosts",
        manifest("""
            service: payments
            scrape:
              job: payments
              targets: ['[::1', '[::1:9090', '::1:9090', '::1', '::1]:9090', 'fe80::2:80']
        """),
        [
            f'{E}:4:13: error: target "[::1" is missing the "]" that closes its IPv6 '
            'address; write the address in brackets, such as "[::1]:9090" '
            "[scrape/job]",
            f'{E}:4:21: error: target "[::1:9090" is missing the "]" that closes its '
            'IPv6 address; write the address in brackets, such as "[::1]:9090" '
            "[scrape/job]",
            f'{E}:4:34: error: target "::1:9090" has the IPv6 address "::1" without '
            'brackets; write it as "[::1]:9090" [scrape/job]',
            f'{E}:4:46: error: target "::1" is an IPv6 address without brackets; '
            'write it as "[::1]" or with a port, as "[::1]:9090" [scrape/job]',
            f'{E}:4:53: error: target "::1]:9090" has a "]" without the "[" that opens '
            'an IPv6 address; write the address in brackets, such as "[::1]:9090" '
            "[scrape/job]",
            f'{E}:4:66: error: target "fe80::2:80" has the IPv6 address "fe80::2" '
            'without brackets; write it as "[fe80::2]:80" [scrape/job]',
        ],
    ),
    Case(
        "path-without-slash",
        python_module(
            "path_without_slash",
            """
            dsl.service(
                "payments", scrape=dsl.scrape_job("payments", port=8080, path="metrics")
            )
        """,
        ),
        [
            'services/path_without_slash.py:5:24: error: metrics path "metrics" must start with "/"; use '
            '"/metrics" [scrape/job]'
        ],
    ),
    Case(
        "timeout-over-default-interval",
        manifest(
            "service: payments\nscrape: {job: payments, port: 8080, timeout: 2m}\n"
        ),
        [
            f"{E}:2:46: error: scrape timeout 2m is longer than interval 1m (the "
            "default), which Prometheus rejects; set the timeout to at most 1m, or "
            "lengthen the interval [scrape/job]"
        ],
    ),
]

ALERT_TEMPLATE = [
    Case(
        "annotations",
        manifest(
            "service: payments\n"
            "scrape: {job: payments, port: 8080}\n"
            "alerts:\n"
            "  annotations: {runbook_url: '{{ $labels.job'}\n"
            "rows:\n"
            "  - title: A\n"
            "    panels:\n"
            "      - title: Queue\n"
            "        query: 'sum(payments_queue_depth{job=\"payments\"})'\n"
            "        thresholds: '<100 Green, >=100 Red'\n"
            "        alert:\n"
            "          annotations:\n"
            "            runbook: '{{ $value | humanise }}'\n"
        ),
        [
            f'{E}:4:45: error: alert annotation "runbook_url" is not a valid Go '
            "template: unclosed action [alert/template]",
            f'{E}:13:35: error: alert annotation "runbook" is not a valid Go '
            'template: function "humanise" not defined; did you mean "humanize"? '
            "[alert/template]",
        ],
    ),
    Case(
        "annotation-names",
        python_module(
            "annotation_names",
            """
            dsl.service(
                "payments",
                alert_annotations={"panel_id": "7"},
                rows=[
                    dsl.row(
                        "A",
                        [
                            dsl.panel(
                                "Queue",
                                'sum(payments_queue_depth{job="payments"})',
                                thresholds="<100 Green, >=100 Red",
                                alert=dsl.alert(
                                    annotations={"summary": "Queue full", "bad-name": "x"}
                                ),
                            )
                        ],
                    )
                ],
            )
        """,
        ),
        [
            'services/annotation_names.py:4:1: error: alert annotation "panel_id" is set from the panel\'s '
            "id, so this value would be lost; use another name [alert/label]",
            'services/annotation_names.py:15:27: error: alert annotation "summary" is set from the summary: '
            "key of the panel's alert, so this value would be lost; write it as "
            "summary: under the panel's alert: [alert/label]",
            'services/annotation_names.py:15:27: error: alert annotation name "bad-name" is invalid: '
            'Prometheus accepts names of ASCII letters, digits and "_" that do not '
            'start with a digit or "__" [alert/label]',
        ],
    ),
    Case(
        "unexpected-brace",
        panels("""
            - title: Error ratio
              query: 'sum by (instance) (rate(http_requests_total{code=~"5.."}[5m]))'
              thresholds: "<1 Green, >1 Red"
              alert:
                summary: '{{ $labels.instance } down'
        """),
        [
            f"{E}:19:41: error: alert summary is not a valid Go template: unexpected "
            '"}" in operand [alert/template]'
        ],
    ),
    Case(
        "undefined-function",
        panels("""
            - title: Error ratio
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m]))'
              thresholds: "<1 Green, >1 Red"
              alert:
                description: '{{ $value | humanizePercentag }} of requests fail'
        """),
        [
            f"{E}:19:37: error: alert description is not a valid Go template: function "
            '"humanizePercentag" not defined; did you mean "humanizePercentage"? '
            "[alert/template]"
        ],
    ),
    Case(
        "undefined-variable",
        panels("""
            - title: Error ratio
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m]))'
              thresholds: "<1 Green, >1 Red"
              alert:
                summary: '{{ $valu }} on {{ $labels.job }}'
                description: '{{ $x }}'
        """),
        [
            f"{E}:19:24: error: alert summary is not a valid Go template: undefined "
            'variable "$valu"; did you mean "$value"? [alert/template]',
            f"{E}:20:28: error: alert description is not a valid Go template: "
            'undefined variable "$x" [alert/template]',
        ],
    ),
    Case(
        # Go finds a field only when it executes the template, which promtool's
        # check does not do.
        "unknown-field",
        panels("""
            - title: Error ratio
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m]))'
              thresholds: "<1 Green, >1 Red"
              alert:
                summary: '{{ .Value }} is {{ .value }} or {{ humanize .Val }}'
        """),
        [
            f"{E}:19:41: error: alert summary reads .value, but the data of a "
            "Prometheus alert template has only the fields .Labels, .ExternalLabels, "
            ".ExternalURL and .Value, so Prometheus writes an error in place of the "
            "text; write $value for the value and $labels.name for a label "
            "[alert/template]",
            f"{E}:19:66: error: alert summary reads .Val, but the data of a "
            "Prometheus alert template has only the fields .Labels, .ExternalLabels, "
            ".ExternalURL and .Value, so Prometheus writes an error in place of the "
            "text; write $value for the value and $labels.name for a label "
            "[alert/template]",
        ],
    ),
    Case(
        "templated-label",
        panels("""
            - title: Error ratio
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m]))'
              thresholds: "<1 Green, >1 Red"
              alert:
                labels: {value: '{{ $value }}'}
        """),
        [
            f'{E}:19:19: error: alert label "value" is a template ("{{{{ $value }}}}"), '
            "but the labels of an alert must stay the same between evaluations; move "
            "the text to the summary or description [alert/template]"
        ],
    ),
    Case(
        "invalid-label-names",
        alert_label_module(
            "invalid_label_names",
            '{"bad-name": "x", "__name__": "w", "alertname": "z"}',
        ),
        [
            'services/invalid_label_names.py:14:27: error: alert label "alertname" is replaced by Prometheus with '
            "the name of the alert; remove it [alert/label]",
            'services/invalid_label_names.py:14:27: error: alert label name "__name__" is invalid: Prometheus '
            'accepts names of ASCII letters, digits and "_" that do not start with a digit '
            'or "__" [alert/label]',
            'services/invalid_label_names.py:14:27: error: alert label name "bad-name" is invalid: Prometheus '
            'accepts names of ASCII letters, digits and "_" that do not start with a digit '
            'or "__" [alert/label]',
        ],
    ),
    Case(
        "derived-label",
        alert_label_module("derived_label", '{"severity": "page", "team": ""}'),
        [
            'services/derived_label.py:14:27: error: alert label "severity" is set from the colour of the '
            "band (critical for red, warning for yellow), so this value would be lost; "
            'route on another label, such as "priority" [alert/label]',
            'services/derived_label.py:14:27: error: alert label "team" is empty, and Prometheus drops empty '
            "labels; give it a value or remove it [alert/label]",
        ],
    ),
    Case(
        "service-label",
        python_module(
            "service_label",
            """
            dsl.service(
                "payments", alert_labels={"team": "payments", "severity": "page"}
            )
        """,
        ),
        [
            'services/service_label.py:4:1: error: alert label "severity" is set from the colour of the '
            "band (critical for red, warning for yellow), so this value would be lost; "
            'route on another label, such as "priority" [alert/label]',
        ],
    ),
    Case(
        "valid-templates",
        panels("""
            - title: Error ratio
              query: 'sum by (instance) (rate(http_requests_total{code=~"5.."}[5m]))'
              thresholds: "<1 Green, >1 Red"
              alert:
                summary: 'High error ratio on {{ $labels.instance }}: {{ $value | humanizePercentage }}'
                description: '{{ if gt $value 0.5 }}most{{ else }}some{{ end }} requests fail'
                labels: {team: payments}
        """),
        [],
    ),
]

SHOP = manifest(
    """
    service: shop
    scrape: {job: shop, port: 8082}
    metrics:
      http_requests_total: {type: counter, labels: [route]}
    """,
    "shop.yaml",
)


def overview(query: str, shop: dict[str, str] = SHOP) -> dict[str, str]:
    """Return payments (HEADER), shop and a catalog-less overview charting `query`."""
    return with_overview([f"{{title: RPS, query: '{query}'}}"], shop)


# Two services declare http_requests_total with different labels. A query of
# another service reads the declaration of the job it selects, or else all of them.
# Shop declares payments' counter http_requests_total as a gauge.
SHOP_GAUGE = manifest(
    """
    service: shop
    scrape: {job: shop, port: 8082}
    metrics:
      http_requests_total: gauge
    """,
    "shop.yaml",
)

SHOP_ORDERS = manifest(
    """
    service: shop
    scrape: {job: shop, port: 8082}
    metrics:
      orders_total: {type: counter, labels: [route]}
    """,
    "shop.yaml",
)

CONFLICT = (
    'services/shop.yaml:4:3: warning: gauge "http_requests_total" exports the series '
    '"http_requests_total", which counter "http_requests_total" of service "payments" '
    "exports too (services/payments.yaml:4:3); Prometheus keeps both under that one "
    "name, and the queries of services that declare neither are checked against the "
    'counter unless their job matcher names a job of service "shop" '
    "[project/metric-type-conflict]"
)
CONFLICT_AT_PAYMENTS = (
    'services/payments.yaml:4:3: warning: counter "http_requests_total" exports the '
    'series "http_requests_total", which gauge "http_requests_total" of service "shop" '
    "exports too (services/shop.yaml:4:3); Prometheus keeps both under that one "
    "name, and the queries of services that declare neither are checked against the "
    'counter unless their job matcher names a job of service "shop" '
    "[project/metric-type-conflict]"
)

SHARED_LABELS = [
    Case(
        "job-selects-declaration",
        overview('sum by (route) (rate(http_requests_total{job="shop"}[5m]))'),
        [],
    ),
    Case(
        "other-job-lacks-label",
        overview('sum by (route) (rate(http_requests_total{job="payments"}[5m]))'),
        [
            "services/overview.yaml:6:38: error: sum by (route): the aggregated "
            'series have no label "route"; their labels are code, instance, job, '
            "method [promql/unknown-label]"
        ],
    ),
    Case(
        "every-declaration-without-job",
        overview("sum by (route, method) (rate(http_requests_total[5m]))"),
        [],
    ),
    Case(
        "job-selects-type",
        overview('rate(http_requests_total{job="payments"}[5m])', SHOP_GAUGE),
        [CONFLICT_AT_PAYMENTS, CONFLICT],
    ),
    Case(
        "other-job-selects-type",
        overview('rate(http_requests_total{job="shop"}[5m])', SHOP_GAUGE),
        [
            'services/overview.yaml:6:35: error: rate() applied to "http_requests_total", '
            'which the catalog of service "shop" declares as a gauge; use deriv() '
            "or delta() for gauges [promql/rate-counter]",
            CONFLICT_AT_PAYMENTS,
            CONFLICT,
        ],
    ),
    Case(
        # Job shop's catalog lacks the metric, so payments' declaration, whose series
        # have no label route, does not apply either.
        "job-catalog-lacks-metric",
        overview(
            'sum by (route) (rate(http_requests_total{job="shop"}[5m]))', SHOP_ORDERS
        ),
        [
            'services/overview.yaml:6:51: error: metric "http_requests_total" is not '
            'in the catalog of service "shop", which scrapes job "shop" '
            "[promql/unknown-metric]"
        ],
    ),
    Case(
        "label-in-no-declaration",
        overview('rate(http_requests_total{rout="/cart"}[5m])'),
        [
            'services/overview.yaml:6:55: error: metric "http_requests_total" has '
            'no label "rout"; did you mean "route"? [promql/unknown-label]'
        ],
    ),
]

QUANTILE = [
    Case(
        "percent-written-as-quantile",
        panels("""
            - title: p95
              query: 'histogram_quantile(95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))'
        """),
        [
            f'{E}:16:36: error: panel "p95": histogram_quantile() takes a quantile from 0 to 1, and gives +Inf for 95; for the 95th percentile write 0.95 [promql/quantile]',
        ],
    ),
    Case(
        "aggregation-and-over-time",
        panels("""
            - title: Spread
              query: 'quantile(1.5, queue_depth) - quantile_over_time(-0.5, queue_depth[5m])'
        """),
        [
            f'{E}:16:26: error: panel "Spread": quantile() takes a quantile from 0 to 1, and gives +Inf for 1.5 [promql/quantile]',
            f'{E}:16:65: error: panel "Spread": quantile_over_time() takes a quantile from 0 to 1, and gives -Inf for -0.5 [promql/quantile]',
        ],
    ),
    Case(
        "grouped-aggregation",
        panels("""
            - title: Spread
              query: 'quantile by (code) (99.9, rate(http_requests_total[5m]))'
        """),
        [
            f'{E}:16:17: error: panel "Spread": quantile() takes a quantile from 0 to 1, and gives +Inf for 99.9; for the 99.9th percentile write 0.999 [promql/quantile]',
        ],
    ),
    Case(
        "bounds-and-computed",
        panels("""
            - title: Spread
              query: 'quantile(0, queue_depth) + quantile(1, queue_depth) + quantile(scalar(queue_depth), queue_depth)'
        """),
        [],
    ),
    Case(
        # Prometheus 2.42 returns NaN for a NaN quantile before it compares it.
        "nan-quantile",
        panels("""
            - title: Spread
              query: 'quantile_over_time(NaN, queue_depth[5m])'
        """),
        [
            f'{E}:16:36: error: panel "Spread": quantile_over_time() takes a quantile from 0 to 1, and gives NaN for NaN [promql/quantile]',
        ],
    ),
    Case(
        # promtool 2.42 fails these with "Scalar value NaN overflows int64".
        "topk-count-beyond-int64",
        panels("""
            - title: Top
              query: 'topk(NaN, queue_depth) or bottomk(-1e19, queue_depth)'
        """),
        [
            f'{E}:16:22: error: panel "Top": topk() keeps a whole number of series, and Prometheus 2.42 fails every evaluation of the query for NaN, which is no 64-bit integer; write a count such as 5 [promql/topk]',
            f'{E}:16:51: error: panel "Top": bottomk() keeps a whole number of series, and Prometheus 2.42 fails every evaluation of the query for -10000000000000000000, which is no 64-bit integer; write a count such as 5 [promql/topk]',
        ],
    ),
    Case(
        # The bounds of Prometheus' convertibleToInt64: the largest double below
        # 2**63, and -2**63.
        "topk-count-bounds",
        panels("""
            - title: Top
              query: 'topk(9223372036854774784, queue_depth) or bottomk(-9223372036854775808, queue_depth)'
        """),
        [],
    ),
]

SUMMARY_AGGREGATION = [
    Case(
        "avg-of-quantile",
        panels("""
            - title: RPC
              query: 'avg(rpc_duration_seconds{quantile="0.99"})'
        """),
        [
            f'{E}:16:17: warning: panel "RPC": avg() of the 0.99 quantiles of summary '
            '"rpc_duration_seconds" is not the 0.99 quantile of all its observations, '
            "because each process computes its own quantiles, and quantiles cannot be "
            "averaged; chart the series of each process, or their max() as an upper "
            "bound, or declare a histogram and use histogram_quantile() "
            "[promql/summary-aggregation]"
        ],
    ),
    Case(
        "scaled-sum-by-job",
        panels("""
            - title: RPC
              query: 'sum by (job) (rpc_duration_seconds{quantile="0.9"}) * 1000'
        """),
        [
            f'{E}:16:17: warning: panel "RPC": sum() of the 0.9 quantiles of summary '
            '"rpc_duration_seconds" is not the 0.9 quantile of all its observations, '
            "because each process computes its own quantiles, and quantiles cannot be "
            "added; chart the series of each process, or their max() as an upper "
            "bound, or declare a histogram and use histogram_quantile() "
            "[promql/summary-aggregation]"
        ],
    ),
    Case(
        # The maximum per instance is still a quantile, which avg() then combines.
        "avg-over-max-per-instance",
        panels("""
            - title: RPC
              query: 'max(avg(max by (instance) (1000 * rpc_duration_seconds)))'
        """),
        [
            f'{E}:16:21: warning: panel "RPC": avg() of the quantiles of summary '
            '"rpc_duration_seconds" is not a quantile of all its observations, '
            "because each process computes its own quantiles, and quantiles cannot be "
            "averaged; chart the series of each process, or their max() as an upper "
            "bound, or declare a histogram and use histogram_quantile() "
            "[promql/summary-aggregation]"
        ],
    ),
    Case(
        "summary-of-other-service",
        {
            **manifest(
                "service: ledger\nscrape: {job: ledger, port: 8080}\n"
                "metrics:\n  ledger_write_seconds: summary\n",
                "ledger.yaml",
            ),
            **manifest("""
                service: payments
                dashboard: {uid: payments}
                rows:
                  - title: Writes
                    panels:
                      - {title: p50, query: 'sum(ledger_write_seconds{job="ledger",quantile="0.5"})'}
            """),
        },
        [
            f'{E}:6:30: warning: panel "p50": sum() of the 0.5 quantiles of summary '
            '"ledger_write_seconds" is not the 0.5 quantile of all its observations, '
            "because each process computes its own quantiles, and quantiles cannot be "
            "added; chart the series of each process, or their max() as an upper "
            "bound, or declare a histogram and use histogram_quantile() "
            "[promql/summary-aggregation]"
        ],
    ),
    Case(
        # max() and min() bound the quantile of all observations, count() reads no
        # quantile, and the _sum and _count series are counters.
        "bounds-counts-and-counters",
        panels("""
            - title: RPC
              query: |-
                max(rpc_duration_seconds{quantile="0.99"}) + min(rpc_duration_seconds{quantile="0.99"})
                + count(rpc_duration_seconds) + stddev(rpc_duration_seconds{quantile="0.99"})
                + sum(rate(rpc_duration_seconds_sum[5m])) / sum(rate(rpc_duration_seconds_count[5m]))
        """),
        [],
    ),
    Case(
        # Grouping by every label of the summary's series leaves one series a group.
        "grouping-by-every-label",
        panels("""
            - title: RPC
              query: 'sum by (job, instance, quantile) (rpc_duration_seconds) + avg(queue_depth)'
        """),
        [],
    ),
    Case(
        # A job's target labels, such as region, have one value per job, and a label
        # set with `=` has one value, so these groupings combine no two series.
        "grouping-by-job-and-its-targets",
        manifest("""
            service: payments
            dashboard: {uid: payments}
            scrape:
              job: payments
              targets: ['a:8080', 'b:8080']
              labels: {region: eu}
            metrics:
              rpc_duration_seconds: {type: summary, labels: [method]}
            rows:
              - title: Main
                panels:
                  - {title: By job, query: 'sum by (job, instance, method, quantile) (rpc_duration_seconds)'}
                  - {title: Set job, query: 'sum by (instance, method, quantile) (rpc_duration_seconds{job="payments"})'}
                  - {title: Without region, query: 'avg without (region) (rpc_duration_seconds)'}
                  - {title: One series, query: 'sum(rpc_duration_seconds{job="payments",instance="a:8080",method="get",quantile="0.5"})'}
        """),
        [],
    ),
    Case(
        # label_replace() gives instance the values of method, so the `=` on instance
        # no longer keeps one series a group.
        "set-label-rewritten",
        manifest("""
            service: payments
            dashboard: {uid: payments}
            scrape: {job: payments, targets: ['a:8080', 'b:8080']}
            metrics:
              rpc_duration_seconds: {type: summary, labels: [method]}
            rows:
              - title: Main
                panels:
                  - {title: RPC, query: 'sum by (job, quantile) (label_replace(rpc_duration_seconds{instance="a:8080"}, "instance", "$1", "method", "(.*)"))'}
        """),
        [
            f'{E}:9:30: warning: panel "RPC": sum() of the quantiles of summary '
            '"rpc_duration_seconds" is not a quantile of all its observations, '
            "because each process computes its own quantiles, and quantiles cannot be "
            "added; chart the series of each process, or their max() as an upper "
            "bound, or declare a histogram and use histogram_quantile() "
            "[promql/summary-aggregation]"
        ],
    ),
]

SUMMARY_QUANTILE = [
    Case(
        # prom-client exposes the quantiles that metrics.ts sets, and no others.
        "nodejs-quantile-not-exposed",
        runtime_panels(
            """
            - title: RPC p75
              query: 'max(rpc_duration_seconds{job="payments",quantile="0.75"})'
            - title: RPC p99
              query: 'max(rpc_duration_seconds{quantile="0.990"})'
            - title: RPC p7x
              query: 'max(rpc_duration_seconds{quantile=~"0[.]7.*"})'
            - title: RPC p99 by name
              query: 'max(rpc_duration_seconds{quantile="p99"})'
            """,
            "nodejs",
        ),
        [
            f'{E}:17:66: error: summary "rpc_duration_seconds" has no quantile "0.75", because prom-client (runtime nodejs) exposes only the quantiles 0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999; use one of them, or declare "rpc_duration_seconds" as a histogram and query histogram_quantile(0.75, sum by (le) (rate(rpc_duration_seconds_bucket[5m]))) [promql/summary-quantile]',
            f'{E}:19:51: error: summary "rpc_duration_seconds" has no quantile "0.990", because prom-client (runtime nodejs) exposes only the quantiles 0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999; write quantile="0.99", the text that prom-client exposes [promql/summary-quantile]',
            f'{E}:21:52: error: summary "rpc_duration_seconds" has no quantile that the regex "0[.]7.*" matches, because prom-client (runtime nodejs) exposes only the quantiles 0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999; match one of them, or declare "rpc_duration_seconds" as a histogram and query histogram_quantile(0.99, sum by (le) (rate(rpc_duration_seconds_bucket[5m]))) [promql/summary-quantile]',
            f'{E}:23:51: error: summary "rpc_duration_seconds" has no quantile "p99", because prom-client (runtime nodejs) exposes only the quantiles 0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999; use one of them, or declare "rpc_duration_seconds" as a histogram and query histogram_quantile(0.99, sum by (le) (rate(rpc_duration_seconds_bucket[5m]))) [promql/summary-quantile]',
        ],
    ),
    Case(
        "nodejs-quantiles-exposed",
        runtime_panels(
            """
            - title: RPC
              query: |-
                max(rpc_duration_seconds{quantile="0.01"}) + max(rpc_duration_seconds{quantile="0.999"})
                + max(rpc_duration_seconds{quantile=~"0.9|0.99|0.75"}) + max(rpc_duration_seconds{quantile!="0.75"})
                + max(rpc_duration_seconds{quantile!~"0.5"}) + max(rpc_duration_seconds)
            """,
            "nodejs",
        ),
        [],
    ),
    Case(
        # A service without a runtime may use any library, with any quantiles.
        "any-quantile-without-runtime",
        panels("""
            - title: RPC p75
              query: 'max(rpc_duration_seconds{job="payments",quantile="0.75"})'
        """),
        [],
    ),
    Case(
        "nodejs-summary-of-other-service",
        {
            **manifest(
                "service: ledger\nruntime: nodejs\nscrape: {job: ledger, port: 8080}\n"
                "metrics:\n  ledger_write_seconds: summary\n",
                "ledger.yaml",
            ),
            **manifest("""
                service: payments
                dashboard: {uid: payments}
                rows:
                  - title: Writes
                    panels:
                      - {title: p75, query: 'max(ledger_write_seconds{job="ledger",quantile="0.75"})'}
            """),
        },
        [
            f'{E}:6:77: error: summary "ledger_write_seconds" has no quantile "0.75", because prom-client (runtime nodejs) exposes only the quantiles 0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999; use one of them, or declare "ledger_write_seconds" as a histogram and query histogram_quantile(0.75, sum by (le) (rate(ledger_write_seconds_bucket[5m]))) [promql/summary-quantile]',
        ],
    ),
]


def bucket_panels(text: str, runtime: str | None) -> dict[str, str]:
    """Return `panels(text)` with buckets on the histogram, and `runtime` if not None.

    The buckets are 0.00001, 0.1, 1, 2.5 and 100000000. The panels start on line 17
    with a runtime and on line 16 without.
    """
    header = HEADER.replace(
        "    labels: [method]\n",
        "    labels: [method]\n    buckets: [0.00001, 0.1, 1, 2.5, 100000000]\n",
    )
    if runtime is not None:
        header = header.replace(
            "service: payments\n", f"service: payments\nruntime: {runtime}\n"
        )
    return panels(text, header)


PYTHON_BOUNDS = "prometheus_client (runtime python) exposes only the bounds 1e-05, 0.1, 1.0, 2.5, 1e+08, +Inf"
NODEJS_BOUNDS = "prom-client (runtime nodejs) exposes only the bounds 0.00001, 0.1, 1, 2.5, 100000000, +Inf"
ANY_BOUNDS = "its bounds are 1e-5, 0.1, 1, 2.5, 100000000 and +Inf"
BOTH_SPELLINGS = 'as the service\'s client library writes it (le="1" in the text format of Go\'s client_golang and of prom-client, le="1.0" in OpenMetrics and prometheus_client)'

BUCKET_BOUND = [
    Case(
        # prometheus_client writes the bound 1 as "1.0", so `le="1"` selects nothing.
        "python-spelling",
        bucket_panels(
            """
            - title: Fast
              query: 'sum(rate(http_request_duration_seconds_bucket{job="payments",le="1"}[5m]))'
            - title: Slow
              query: 'sum(rate(http_request_duration_seconds_bucket{le!="1"}[5m]))'
            - title: Tiny
              query: 'sum(rate(http_request_duration_seconds_bucket{le="0.00001"}[5m]))'
            - title: Huge
              query: 'sum(rate(http_request_duration_seconds_bucket{le="100000000"}[5m]))'
            - title: All
              query: 'sum(rate(http_request_duration_seconds_bucket{le="Inf"}[5m]))'
            """,
            "python",
        ),
        [
            f'{E}:18:81: error: le="1" selects no bucket of histogram "http_request_duration_seconds", because {PYTHON_BOUNDS}; write le="1.0", the text that prometheus_client exposes [promql/bucket-bound]',
            f'{E}:20:67: error: le!="1" excludes no bucket of histogram "http_request_duration_seconds", because {PYTHON_BOUNDS}; write le!="1.0", the text that prometheus_client exposes [promql/bucket-bound]',
            f'{E}:22:66: error: le="0.00001" selects no bucket of histogram "http_request_duration_seconds", because {PYTHON_BOUNDS}; write le="1e-05", the text that prometheus_client exposes [promql/bucket-bound]',
            f'{E}:24:66: error: le="100000000" selects no bucket of histogram "http_request_duration_seconds", because {PYTHON_BOUNDS}; write le="1e+08", the text that prometheus_client exposes [promql/bucket-bound]',
            f'{E}:26:66: error: le="Inf" selects no bucket of histogram "http_request_duration_seconds", because {PYTHON_BOUNDS}; write le="+Inf", the text that prometheus_client exposes [promql/bucket-bound]',
        ],
    ),
    Case(
        "python-bound-not-declared",
        bucket_panels(
            r"""
            - title: Fast
              query: 'sum(rate(http_request_duration_seconds_bucket{le="0.3"}[5m]))'
            - title: Regex
              query: 'sum(rate(http_request_duration_seconds_bucket{le=~"1|2\\.5.+"}[5m]))'
            - title: Not regex
              query: 'sum(rate(http_request_duration_seconds_bucket{le!~"0\\.3"}[5m]))'
            - title: Empty
              query: 'sum(rate(http_request_duration_seconds_bucket{le=""}[5m]))'
            """,
            "python",
        ),
        [
            f'{E}:18:66: error: le="0.3" selects no bucket of histogram "http_request_duration_seconds", because {PYTHON_BOUNDS}; use one of them, or add 0.3 to the buckets of "http_request_duration_seconds" [promql/bucket-bound]',
            f'{E}:20:67: error: le=~"1|2\\\\.5.+" selects no bucket of histogram "http_request_duration_seconds", because {PYTHON_BOUNDS}; match one of them [promql/bucket-bound]',
            f'{E}:22:67: error: le!~"0\\\\.3" excludes no bucket of histogram "http_request_duration_seconds", because {PYTHON_BOUNDS}; match one of them [promql/bucket-bound]',
            f'{E}:24:66: error: le="" selects no bucket of histogram "http_request_duration_seconds", because {PYTHON_BOUNDS}; use one of them [promql/bucket-bound]',
        ],
    ),
    Case(
        "python-exposed-bounds",
        bucket_panels(
            r"""
            - title: Buckets
              query: |-
                sum(rate(http_request_duration_seconds_bucket{le="1.0"}[5m]))
                + sum(rate(http_request_duration_seconds_bucket{le="1e-05"}[5m]))
                + sum(rate(http_request_duration_seconds_bucket{le="1e+08"}[5m]))
                + sum(rate(http_request_duration_seconds_bucket{le="+Inf"}[5m]))
                + sum(rate(http_request_duration_seconds_bucket{le!="0.1"}[5m]))
                + sum(rate(http_request_duration_seconds_bucket{le=~"1\\.0|0\\.3"}[5m]))
                + sum(rate(http_request_duration_seconds_bucket{le!~"\\+Inf"}[5m]))
                + sum(rate(http_request_duration_seconds_bucket{le="$bound"}[5m]))
                + histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket{le!="+Inf"}[5m])))
            """,
            "python",
        ),
        [
            f'{E}:26:63: warning: panel "Buckets": the dashboard has no variable $bound, so Grafana sends it to Prometheus as written; its variables are $datasource and Grafana\'s own, such as $__rate_interval [promql/dashboard-variable]',
        ],
    ),
    Case(
        # prom-client writes a bound as JavaScript's String(number) does.
        "nodejs-spelling",
        bucket_panels(
            """
            - title: Fast
              query: 'sum(rate(http_request_duration_seconds_bucket{le="1.0"}[5m]))'
            - title: Tiny
              query: 'sum(rate(http_request_duration_seconds_bucket{le="1e-05"}[5m]))'
            - title: Between
              query: 'sum(rate(http_request_duration_seconds_bucket{le="0.3"}[5m]))'
            - title: Exposed
              query: |-
                sum(rate(http_request_duration_seconds_bucket{le="1"}[5m]))
                + sum(rate(http_request_duration_seconds_bucket{le="0.00001"}[5m]))
                + sum(rate(http_request_duration_seconds_bucket{le="100000000"}[5m]))
                + sum(rate(http_request_duration_seconds_bucket{le="+Inf"}[5m]))
            """,
            "nodejs",
        ),
        [
            f'{E}:18:66: error: le="1.0" selects no bucket of histogram "http_request_duration_seconds", because {NODEJS_BOUNDS}; write le="1", the text that prom-client exposes [promql/bucket-bound]',
            f'{E}:20:66: error: le="1e-05" selects no bucket of histogram "http_request_duration_seconds", because {NODEJS_BOUNDS}; write le="0.00001", the text that prom-client exposes [promql/bucket-bound]',
            f'{E}:22:66: error: le="0.3" selects no bucket of histogram "http_request_duration_seconds", because {NODEJS_BOUNDS}; use one of them, or add 0.3 to the buckets of "http_request_duration_seconds" [promql/bucket-bound]',
        ],
    ),
    Case(
        # A service without a runtime may use any library, so any text of a bound
        # passes, but a number that is no bound does not.
        "any-spelling-without-runtime",
        bucket_panels(
            """
            - title: Exposed
              query: |-
                sum(rate(http_request_duration_seconds_bucket{le="1"}[5m]))
                + sum(rate(http_request_duration_seconds_bucket{le="1.0"}[5m]))
                + sum(rate(http_request_duration_seconds_bucket{le="1e-05"}[5m]))
                + sum(rate(http_request_duration_seconds_bucket{le="0.00001"}[5m]))
                + sum(rate(http_request_duration_seconds_bucket{le="1e+08"}[5m]))
                + sum(rate(http_request_duration_seconds_bucket{le=~"1[.]0|9"}[5m]))
            - title: Between
              query: 'sum(rate(http_request_duration_seconds_bucket{le="0.3"}[5m]))'
            - title: Regex
              query: 'sum(rate(http_request_duration_seconds_bucket{le=~"0[.]3"}[5m]))'
            - title: All
              query: 'sum(rate(http_request_duration_seconds_bucket{le="inf"}[5m]))'
            """,
            None,
        ),
        [
            f'{E}:25:66: error: le="0.3" selects no bucket of histogram "http_request_duration_seconds", because {ANY_BOUNDS}; use one of them {BOTH_SPELLINGS}, or add 0.3 to the buckets of "http_request_duration_seconds" [promql/bucket-bound]',
            f'{E}:27:67: error: le=~"0[.]3" selects no bucket of histogram "http_request_duration_seconds", because {ANY_BOUNDS}; match one of them {BOTH_SPELLINGS} [promql/bucket-bound]',
            f'{E}:29:66: error: le="inf" selects no bucket of histogram "http_request_duration_seconds", because {ANY_BOUNDS}; write le="+Inf", the text of every client library [promql/bucket-bound]',
        ],
    ),
    Case(
        # Without buckets in the catalog the bounds are the library's defaults, which
        # the check does not know.
        "no-buckets-in-catalog",
        runtime_panels(
            """
            - title: Fast
              query: 'sum(rate(http_request_duration_seconds_bucket{le="0.3"}[5m]))'
            """,
            "python",
        ),
        [],
    ),
    Case(
        "histogram-of-other-service",
        {
            **manifest(
                "service: ledger\nruntime: python\nscrape: {job: ledger, port: 8080}\n"
                "metrics:\n  ledger_write_seconds: {type: histogram, buckets: [0.5, 1]}\n",
                "ledger.yaml",
            ),
            **manifest("""
                service: payments
                dashboard: {uid: payments}
                rows:
                  - title: Writes
                    panels:
                      - {title: Fast, query: 'sum(rate(ledger_write_seconds_bucket{job="ledger",le="1"}[5m]))'}
            """),
        },
        [
            f'{E}:6:84: error: le="1" selects no bucket of histogram "ledger_write_seconds", because prometheus_client (runtime python) exposes only the bounds 0.5, 1.0, +Inf; write le="1.0", the text that prometheus_client exposes [promql/bucket-bound]',
        ],
    ),
]


RESULT_TYPE = [
    Case(
        "range-vector",
        panels("""
            - title: Depth
              query: 'queue_depth[5m]'
        """),
        [
            f'{E}:16:17: error: panel "Depth": the query returns a range vector, which Grafana cannot chart and a rule cannot compare; wrap it in a function of the range, such as rate(...) or max_over_time(...) [promql/result-type]',
        ],
    ),
    Case(
        "subquery-in-parentheses",
        panels("""
            - title: Depth
              query: '(max(queue_depth)[1h:1m])'
        """),
        [
            f'{E}:16:17: error: panel "Depth": the query returns a range vector, which Grafana cannot chart and a rule cannot compare; wrap it in a function of the range, such as rate(...) or max_over_time(...) [promql/result-type]',
        ],
    ),
    Case(
        "string",
        panels("""
            - title: Depth
              query: '"queue_depth"'
        """),
        [
            f'{E}:16:17: error: panel "Depth": the query returns a string, which Grafana cannot chart and a rule cannot compare [promql/result-type]',
        ],
    ),
    Case(
        "scalar-and-vector",
        panels("""
            - title: Now
              query: 'time() - max(queue_depth) > bool 5'
        """),
        [],
    ),
]

DASHBOARD_VARIABLE = [
    Case(
        "variable-the-dashboard-lacks",
        panels("""
            - title: RPS
              query: 'sum(rate(http_requests_total{code="$code", method=~"${method:regex}"}[$__rate_interval]))'
        """),
        [
            f'{E}:16:52: warning: panel "RPS": the dashboard has no variable $code, so Grafana sends it to Prometheus as written; its variables are $datasource and Grafana\'s own, such as $__rate_interval [promql/dashboard-variable]',
            f'{E}:16:69: warning: panel "RPS": the dashboard has no variable ${{method:regex}}, so Grafana sends it to Prometheus as written; its variables are $datasource and Grafana\'s own, such as $__rate_interval [promql/dashboard-variable]',
        ],
    ),
    Case(
        "variable-as-window-and-offset",
        panels("""
            - title: RPS
              query: 'sum(rate(http_requests_total[$window] offset $shift))'
        """),
        [
            f'{E}:16:46: warning: panel "RPS": the dashboard has no variable $window, so Grafana sends it to Prometheus as written; its variables are $datasource and Grafana\'s own, such as $__rate_interval [promql/dashboard-variable]',
            f'{E}:16:62: warning: panel "RPS": the dashboard has no variable $shift, so Grafana sends it to Prometheus as written; its variables are $datasource and Grafana\'s own, such as $__rate_interval [promql/dashboard-variable]',
        ],
    ),
    Case(
        "grafana-variables",
        panels("""
            - title: RPS
              query: 'sum(increase(http_requests_total[$__range])) / $__range_s'
        """),
        [],
    ),
    Case(
        "misspelt-grafana-variable",
        panels("""
            - title: RPS
              query: 'sum(rate(http_requests_total[$__rate_interva])) or on() ${datsource}'
        """),
        [
            f'{E}:16:46: warning: panel "RPS": the dashboard has no variable $__rate_interva, so Grafana sends it to Prometheus as written; did you mean "$__rate_interval"? [promql/dashboard-variable]',
            f'{E}:16:73: warning: panel "RPS": the dashboard has no variable ${{datsource}}, so Grafana sends it to Prometheus as written; did you mean "$datasource"? [promql/dashboard-variable]',
        ],
    ),
    Case(
        "own-variable-unlike-grafana-ones",
        panels("""
            - title: RPS
              query: 'sum(rate(http_requests_total{method="$cluster"}[5m])) or on() $database'
        """),
        [
            f'{E}:16:54: warning: panel "RPS": the dashboard has no variable $cluster, so Grafana sends it to Prometheus as written; its variables are $datasource and Grafana\'s own, such as $__rate_interval [promql/dashboard-variable]',
            f'{E}:16:79: warning: panel "RPS": the dashboard has no variable $database, so Grafana sends it to Prometheus as written; its variables are $datasource and Grafana\'s own, such as $__rate_interval [promql/dashboard-variable]',
        ],
    ),
]

NAME_CLASH = [
    Case(
        "kubernetes-terraform-and-folder",
        {
            **manifest(
                "service: api_gateway\ndashboard: {folder: Team A}\nrows: []\n",
                "a.yaml",
            ),
            **manifest(
                "service: api-gateway\ndashboard: {folder: team-a, uid: gw-b}\nrows: []\n",
                "b.yaml",
            ),
            **manifest(
                "service: c\ndashboard: {folder: TEAM A, uid: gw_b}\nrows: []\n",
                "c.yaml",
            ),
        },
        [
            # Each name is paired with the first that derives its name, at both.
            'services/a.yaml:1:10: warning: service name "api_gateway" gets the Kubernetes object name "api-gateway-rules" of "api-gateway" in services/b.yaml:1:10, so both get names with a hash, which change when either is added or removed; rename one of them [project/name-clash]',
            'services/a.yaml:2:21: warning: folder "Team A" gets the folder uid of "TEAM A" in services/c.yaml:2:21, so both get names with a hash, which change when either is added or removed; rename one of them [project/name-clash]',
            'services/a.yaml:2:21: warning: folder "Team A" gets the folder uid of "team-a" in services/b.yaml:2:21, so both get names with a hash, which change when either is added or removed; rename one of them [project/name-clash]',
            'services/b.yaml:1:10: warning: service name "api-gateway" gets the Kubernetes object name "api-gateway-rules" of "api_gateway" in services/a.yaml:1:10, so both get names with a hash, which change when either is added or removed; rename one of them [project/name-clash]',
            'services/b.yaml:2:21: warning: folder "team-a" gets the folder uid of "Team A" in services/a.yaml:2:21, so both get names with a hash, which change when either is added or removed; rename one of them [project/name-clash]',
            'services/b.yaml:2:34: warning: dashboard uid "gw-b" gets the Terraform identifier "gw_b" of "gw_b" in services/c.yaml:2:34, so both get names with a hash, which change when either is added or removed; rename one of them [project/name-clash]',
            'services/c.yaml:2:21: warning: folder "TEAM A" gets the folder uid of "Team A" in services/a.yaml:2:21, so both get names with a hash, which change when either is added or removed; rename one of them [project/name-clash]',
            'services/c.yaml:2:34: warning: dashboard uid "gw_b" gets the Terraform identifier "gw_b" of "gw-b" in services/b.yaml:2:34, so both get names with a hash, which change when either is added or removed; rename one of them [project/name-clash]',
        ],
    ),
    Case(
        "service-names-as-written",
        {
            **manifest("service: Pay Ments!\nrows: []\n", "a.yaml"),
            **manifest("service: pay-ments\nrows: []\n", "b.yaml"),
        },
        [
            'services/a.yaml:1:10: warning: service name "Pay Ments!" gets the Kubernetes object name "pay-ments-rules" of "pay-ments" in services/b.yaml:1:10, so both get names with a hash, which change when either is added or removed; rename one of them [project/name-clash]',
            'services/b.yaml:1:10: warning: service name "pay-ments" gets the Kubernetes object name "pay-ments-rules" of "Pay Ments!" in services/a.yaml:1:10, so both get names with a hash, which change when either is added or removed; rename one of them [project/name-clash]',
        ],
    ),
    Case(
        "root-folder-titles",
        {
            **manifest(
                "service: a\ndashboard: {folder: General}\nrows: []\n", "a.yaml"
            ),
            **manifest(
                "service: b\ndashboard: {folder: general}\nrows: []\n", "b.yaml"
            ),
            **manifest(
                "service: c\ndashboard: {folder: Général}\nrows: []\n", "c.yaml"
            ),
        },
        [],
    ),
    Case(
        "distinct-names",
        {
            **manifest(
                "service: api\ndashboard: {folder: Team A}\nrows: []\n", "a.yaml"
            ),
            **manifest(
                "service: api2\ndashboard: {folder: Team A}\nrows: []\n", "b.yaml"
            ),
        },
        [],
    ),
]

UNIT_SCALE = [
    Case(
        "time-units-on-other-scales",
        panels("""
            - title: P95
              unit: ms
              query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))'
            - title: Age
              unit: h
              query: 'time() - max(http_request_duration_seconds_count)'
        """),
        [
            f'{E}:16:15: warning: unit "ms" reads the values as ms, but the query gives s, so Grafana shows 2 s as 2 ms; set unit: s, or multiply the query by 1000 [dashboard/unit-scale]',
            f'{E}:19:15: warning: unit "h" reads the values as h, but the query gives s, so Grafana shows 3600 s as 3600 h; set unit: s, or divide the query by 3600 [dashboard/unit-scale]',
        ],
    ),
    Case(
        # Grafana's duration and clock formats read values in ms or s, and the
        # advice keeps the kind of format where one reads the query's unit.
        "duration-formats-on-other-scales",
        panels("""
            - title: P95
              unit: dtdurationms
              query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))'
            - title: P95 in ms
              unit: clocks
              query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) * 1000'
            - title: Age
              unit: timeticks
              query: 'time() - max(http_request_duration_seconds_count)'
            - title: Age as clock
              unit: dthms
              query: 'time() - max(http_request_duration_seconds_count)'
        """),
        [
            f'{E}:16:15: warning: unit "dtdurationms" reads the values as ms, but the query gives s, so Grafana shows 2 s as 2 ms; set unit: dtdurations, or multiply the query by 1000 [dashboard/unit-scale]',
            f'{E}:19:15: warning: unit "clocks" reads the values as s, but the query gives ms, so Grafana shows 3600 ms as 3600 s; set unit: clockms, or divide the query by 1000 [dashboard/unit-scale]',
            f'{E}:22:15: warning: unit "timeticks" reads the values as hundredths of a second, but the query gives s, so Grafana shows 2 s as 2 hundredths of a second; set unit: s, or multiply the query by 100 [dashboard/unit-scale]',
        ],
    ),
    Case(
        "percent-units-swapped",
        panels("""
            - title: Errors
              unit: percent
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
            - title: Errors in percent
              unit: percentunit
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) * 100'
        """),
        [
            f'{E}:16:15: warning: unit "percent" reads the values as percentages from 0 to 100, but the query gives ratios from 0 to 1; set unit: percentunit, or multiply the query by 100 [dashboard/unit-scale]',
            f'{E}:19:15: warning: unit "percentunit" reads the values as ratios from 0 to 1, but the query gives percentages from 0 to 100; set unit: percent, or divide the query by 100 [dashboard/unit-scale]',
        ],
    ),
    Case(
        # Each alert compares the ratio with the number that the panel reads as a
        # percentage, so it fires 100 times too late. Bare numbers need their unit
        # once the panel reads ratios. No alert is derived from the third panel.
        "percent-on-ratio-with-alerts",
        panels("""
            - title: Errors
              unit: percent
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
              thresholds: "<1% Green, 1-2% Yellow, >2% Red"
            - title: Errors noted
              unit: percent
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
              thresholds: "<1 Green, 1-2 Yellow, >2 Red"
              alert: {warning: true}
            - title: Errors shown
              unit: percent
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
              thresholds: "<1% Green, 1-2% Yellow, >2% Red"
              alert: false
        """),
        [
            f'{E}:18:47: error: threshold 2% (red): alert PaymentsErrorsCritical fires for values at or above 200%, not at or above 2% as the panel shows, because unit "percent" reads the values as percentages from 0 to 100, but the query gives ratios from 0 to 1; set unit: percentunit, or multiply the query by 100 [dashboard/unit-scale]',
            f'{E}:22:32: error: threshold 1 (yellow): alert PaymentsErrorsNotedWarning fires for values at or above 100% and below 200%, not at or above 1% and below 2% as the panel shows, because unit "percent" reads the values as percentages from 0 to 100, but the query gives ratios from 0 to 1; set unit: percentunit and write the threshold as 1%, or multiply the query by 100 [dashboard/unit-scale]',
            f'{E}:22:45: error: threshold 2 (red): alert PaymentsErrorsNotedCritical fires for values at or above 200%, not at or above 2% as the panel shows, because unit "percent" reads the values as percentages from 0 to 100, but the query gives ratios from 0 to 1; set unit: percentunit and write the threshold as 2%, or multiply the query by 100 [dashboard/unit-scale]',
            f'{E}:25:15: warning: unit "percent" reads the values as percentages from 0 to 100, but the query gives ratios from 0 to 1; set unit: percentunit, or multiply the query by 100 [dashboard/unit-scale]',
        ],
    ),
    Case(
        # The unit of `deriv` is a guess, so its alert may be right.
        "milliseconds-on-seconds-with-alerts",
        panels("""
            - title: P95
              unit: ms
              query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))'
              thresholds: "<250 Green, 250-750 Yellow, >750 Red"
            - title: P95 share
              unit: percent
              query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))'
              thresholds: "<90% Green, >=90% Red"
            - title: Growth
              unit: ms
              query: 'deriv(http_request_duration_seconds_sum[5m])'
              thresholds: "<250 Green, >=250 Red"
        """),
        [
            f'{E}:18:51: error: threshold 750 (red): alert PaymentsP95Critical fires for values at or above 750s, not at or above 750ms as the panel shows, because unit "ms" reads the values as ms, but the query gives s, so Grafana shows 2 s as 2 ms; set unit: s and write the threshold as 750ms, or multiply the query by 1000 [dashboard/unit-scale]',
            f'{E}:22:36: error: threshold 90% (red): alert PaymentsP95ShareCritical fires for values at or above 90s, not at or above 90% as the panel shows, because unit "percent" shows the values as percentages, but the query gives durations (unit s); set unit: s [dashboard/unit-scale]',
            f'{E}:24:15: warning: unit "ms" reads the values as ms, but the query gives s, so Grafana shows 2 s as 2 ms; set unit: s, or multiply the query by 1000 [dashboard/unit-scale]',
        ],
    ),
    Case(
        "units-that-fit-the-query",
        panels("""
            - title: P95
              unit: ms
              query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) * 1000'
            - title: Errors
              unit: percent
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) * 100'
            - title: Depth
              unit: h
              query: 'max(queue_depth)'
            - title: Mapped
              unit: s
              query: 'max(queue_depth)'
              thresholds: "0=Red, 1=Green"
        """),
        [],
    ),
    Case(
        # A sum divided by a count of series is a mean in the summed metric's unit.
        "mean-per-series",
        manifest(
            """
            service: hosts
            metrics:
              cpu_usage_percent: {type: gauge, labels: [host]}
            rows:
              - title: R
                panels:
                  - title: Mean
                    unit: percent
                    query: 'sum(cpu_usage_percent) / count(cpu_usage_percent)'
                  - title: Mean as ratio
                    unit: percentunit
                    query: 'sum(cpu_usage_percent) / count(cpu_usage_percent)'
            """,
            "hosts.yaml",
        ),
        [
            'services/hosts.yaml:11:15: warning: unit "percentunit" reads the values as ratios from 0 to 1, but the query gives percentages from 0 to 100; set unit: percent, or divide the query by 100 [dashboard/unit-scale]',
        ],
    ),
    Case(
        "units-of-another-kind",
        panels("""
            - title: Memory
              unit: ms
              query: 'process_resident_memory_bytes{job="payments"}'
            - title: Targets
              unit: bytes
              query: 'count(up{job="payments"})'
            - title: P95
              unit: percent
              query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))'
            - title: Errors
              unit: s
              query: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
            - title: Memory per target
              unit: Bps
              query: 'sum(process_resident_memory_bytes{job="payments"}) / count(up{job="payments"})'
        """),
        [
            f'{E}:16:15: warning: unit "ms" shows the values as durations, but the query gives data sizes (unit bytes); set unit: bytes [dashboard/unit-scale]',
            f'{E}:19:15: warning: unit "bytes" shows the values as data sizes, but the query gives counts (unit short); set unit: short [dashboard/unit-scale]',
            f'{E}:22:15: warning: unit "percent" shows the values as percentages, but the query gives durations (unit s); set unit: s [dashboard/unit-scale]',
            f'{E}:25:15: warning: unit "s" shows the values as durations, but the query gives percentages (unit percentunit); set unit: percentunit [dashboard/unit-scale]',
            f'{E}:28:15: warning: unit "Bps" shows the values as data rates, but the query gives data sizes (unit bytes); set unit: bytes [dashboard/unit-scale]',
        ],
    ),
    Case(
        "data-rates-of-another-kind",
        manifest(
            """
            service: net
            metrics:
              sent_bytes: {type: counter}
              response_size_bytes: {type: histogram}
            rows:
              - title: R
                panels:
                  - title: Sent
                    unit: bytes
                    query: 'sum(rate(sent_bytes_total[5m]))'
                  - title: Sent in bits
                    unit: bps
                    query: 'sum(rate(sent_bytes_total[5m]))'
                  - title: Responses
                    unit: Bps
                    query: 'sum(rate(response_size_bytes_count[5m]))'
            """,
            "net.yaml",
        ),
        [
            'services/net.yaml:9:15: warning: unit "bytes" shows the values as data sizes, but the query gives data rates (unit Bps); set unit: Bps [dashboard/unit-scale]',
        ],
    ),
    Case(
        # A unit that the query does not fix is a guess, so a written unit of any
        # kind may be right. Examples are the `short` of a gauge without a unit in
        # its name and the `reqps` that `request` in a name suggests.
        "units-the-query-does-not-fix",
        panels("""
            - title: Depth
              unit: bytes
              query: 'max(queue_depth)'
            - title: Requests
              unit: Bps
              query: 'sum(rate(http_requests_total[5m]))'
            - title: Requests per hour
              unit: ms
              query: 'sum(increase(http_requests_total[1h]))'
            - title: Growth
              unit: Bps
              query: 'deriv(process_resident_memory_bytes{job="payments"}[5m])'
            - title: Share of targets
              unit: percent
              query: 'count(up{job="payments"} == 1) * 100 / 4'
            - title: Mean depth
              unit: s
              query: 'sum(queue_depth) / count(queue_depth)'
            - title: Memory
              unit: decbytes
              query: 'process_resident_memory_bytes{job="payments"}'
            - title: Memory as number
              unit: short
              query: 'process_resident_memory_bytes{job="payments"}'
        """),
        [],
    ),
]

MATCH_LABELS_HEADER = """\
service: node
scrape: {job: node, targets: ['db1:9100', 'db2:9100']}
metrics:
  node_filesystem_avail_bytes: {type: gauge, labels: [mountpoint]}
  node_filesystem_size_bytes: {type: gauge, labels: [mountpoint]}
rows:
  - title: Disk
    panels:
"""


def node_panels(text: str) -> dict[str, str]:
    """Return a project of one node service, with two targets, and `text` panels."""
    return panels(text, MATCH_LABELS_HEADER, "node.yaml")


MATCH_LABELS = [
    Case(
        "on-leaves-out-instance",
        node_panels("""
            - title: Free
              query: 'node_filesystem_avail_bytes{job="node"} / on (mountpoint) node_filesystem_size_bytes{job="node"}'
            - title: Free by host
              query: 'sum by (instance, mountpoint) (node_filesystem_avail_bytes{job="node"}) > on (mountpoint) sum by (instance, mountpoint) (node_filesystem_size_bytes{job="node"})'
        """),
        [
            'services/node.yaml:10:59: warning: panel "Free": on (mountpoint) leaves out instance, which the scrape targets give several values, so several series of one side fall in one match group and Prometheus rejects the query with a duplicate-series error; match on (mountpoint, instance) [promql/match-labels]',
            'services/node.yaml:12:91: warning: panel "Free by host": on (mountpoint) leaves out instance, which the scrape targets give several values, so several series of one side fall in one match group and Prometheus rejects the query with a duplicate-series error; match on (mountpoint, instance) [promql/match-labels]',
        ],
    ),
    Case(
        "matches-that-hold",
        node_panels("""
            - title: With instance
              query: 'node_filesystem_avail_bytes{job="node"} / on (instance, mountpoint) node_filesystem_size_bytes{job="node"}'
            - title: One host
              query: 'node_filesystem_avail_bytes{job="node",instance="db1:9100"} / on (mountpoint) node_filesystem_size_bytes{job="node",instance="db1:9100"}'
            - title: Summed over hosts
              query: 'sum by (mountpoint) (node_filesystem_avail_bytes{job="node"}) / on (mountpoint) sum by (mountpoint) (node_filesystem_size_bytes{job="node"})'
            - title: Many to one
              query: 'node_filesystem_avail_bytes{job="node"} / on (mountpoint) group_left max by (mountpoint) (node_filesystem_size_bytes{job="node"})'
            - title: Ignoring
              query: 'node_filesystem_avail_bytes{job="node"} / ignoring (mountpoint) node_filesystem_size_bytes{job="node"}'
        """),
        [],
    ),
]

EXPORTER_HEADER = """\
service: payments
scrape: {job: payments, port: 9187}
metrics:
  requests: counter
  build: info
rows:
  - title: A
    panels:
"""

METRIC_SPELLING = [
    Case(
        "counter-read-both-ways",
        panels(
            """
            - title: Rate
              query: 'sum(rate(requests{job="payments"}[5m]))'
            - title: Rate total
              query: 'sum(rate(requests_total{job="payments"}[5m]))'
            - title: Build
              query: 'build_info{job="payments"}'
            - title: Build bare
              query: 'build{job="payments"}'
            """,
            EXPORTER_HEADER,
        ),
        [
            f'{E}:12:26: warning: metric "requests" is read as requests_total here '
            'and as requests in panel "Rate"; an exporter exposes one of these names, '
            "so the panels of the other stay empty and their alerts silent; use the "
            "name that the exporter exposes in every panel [promql/metric-spelling]",
            f'{E}:16:17: warning: metric "build" is read as build here and as '
            'build_info in panel "Build"; an exporter exposes one of these names, so '
            "the panels of the other stay empty and their alerts silent; use the name "
            "that the exporter exposes in every panel [promql/metric-spelling]",
        ],
    ),
    Case(
        "one-name-each",
        panels(
            """
            - title: Rate
              query: 'sum(rate(requests_total{job="payments"}[5m]))'
            - title: Rate by 2
              query: 'sum(rate(requests_total{job="payments"}[5m])) * 2'
            - title: Build
              query: 'build{job="payments"}'
            """,
            EXPORTER_HEADER,
        ),
        [],
    ),
]


def annotated_panels(label: str, text: str) -> dict[str, str]:
    """Return a manifest whose runbook annotation, on line 6, reads `$labels.<label>`."""
    header = (
        "service: payments\n"
        "scrape: {job: payments, port: 8080}\n"
        "metrics:\n"
        "  http_requests_total: {type: counter, labels: [code]}\n"
        "alerts:\n"
        f"  annotations: {{runbook: 'https://runbooks.example.com/{{{{ $labels.{label} }}}}'}}\n"
        "rows:\n"
        "  - title: A\n"
        "    panels:\n"
    )
    return panels(text, header)


ALERT_TEMPLATE_LABEL = [
    Case(
        "misspelt-and-missing",
        panels("""
            - title: Errors
              query: 'max by (code) (rate(http_requests_total{job="payments"}[5m]))'
              thresholds: "<1 Green, >1 Red"
              alert:
                summary: 'errors for {{ $labels.cod }} on {{ .Labels.job }}'
                description: 'on {{ $labels.instance }}: {{ $value }}'
                annotations:
                  runbook: 'https://runbooks.example.com/{{ index $labels "method" }}'
        """),
        [
            f'{E}:19:43: warning: alert summary names the label "cod", which the '
            "series of the alert do not have, so the text shows it as empty; did you "
            'mean "code"? [alert/template-label]',
            f'{E}:20:39: warning: alert description names the label "instance", which '
            "the series of the alert do not have, so the text shows it as empty; their "
            "labels are code, job [alert/template-label]",
            f'{E}:22:70: warning: alert annotation "runbook" names the label "method", '
            "which the series of the alert do not have, so the text shows it as empty; "
            "their labels are code, job [alert/template-label]",
        ],
    ),
    Case(
        # The recording rule adds job only where every selector pins one, and an
        # alert of `record: false` reads the query itself.
        "job-without-recording",
        panels("""
            - title: All jobs
              query: 'max by (code) (rate(http_requests_total[5m]))'
              thresholds: "<1 Green, >1 Red"
              alert: {summary: '{{ $labels.job }}'}
            - title: Not recorded
              query: 'max by (code) (rate(http_requests_total{job="payments"}[5m]))'
              record: false
              thresholds: "<1 Green, >1 Red"
              alert: {summary: '{{ $labels.job }}'}
        """),
        [
            f'{E}:18:38: warning: alert summary names the label "job", which the '
            "series of the alert do not have, so the text shows it as empty; their "
            "labels are code [alert/template-label]",
            f'{E}:23:38: warning: alert summary names the label "job", which the '
            "series of the alert do not have, so the text shows it as empty; their "
            "labels are code [alert/template-label]",
        ],
    ),
    Case(
        # Each panel that alerts reads the service's annotation, unless it replaces
        # it with one of the same name.
        "service-annotation",
        annotated_panels(
            "code",
            """
            - {title: By code, query: 'sum by (code) (rate(http_requests_total{job="payments"}[5m]))', thresholds: '<1 Green, >1 Red'}
            - {title: Total, query: 'sum(rate(http_requests_total{job="payments"}[5m]))', thresholds: '<1 Green, >1 Red'}
            - {title: Total max, query: 'max(rate(http_requests_total{job="payments"}[5m]))', thresholds: '<1 Green, >1 Red'}
            - {title: Own, query: 'sum(rate(http_requests_total{job="payments"}[5m]))', thresholds: '<1 Green, >1 Red', alert: {annotations: {runbook: x}}}
            - {title: No alert, query: 'sum(rate(http_requests_total{job="payments"}[5m]))'}
            """,
        ),
        [
            f'{E}:6:67: warning: alert annotation "runbook" names the label "code", '
            'which the series of the alerts of panels "Total" and "Total max" do not '
            "have, so the text shows it as empty [alert/template-label]",
        ],
    ),
    Case(
        # The alerts read the series of the recording rule where the derivation
        # makes one, and that rule adds job where every selector pins one job.
        # Otherwise they read the query itself: after `record: false`, and where
        # the naming rule has no name for the query, such as a subtraction or `or`.
        "each-rule-shape",
        annotated_panels(
            "job",
            """
            - {title: Ratio, query: 'sum(rate(http_requests_total{job="payments",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="payments"}[5m]))', thresholds: '<0.01 Green, >0.01 Red'}
            - {title: Percent, query: 'sum(rate(http_requests_total{job="payments",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="payments"}[5m])) * 100', thresholds: '<1 Green, >1 Red'}
            - {title: By code, query: 'sum by (code) (rate(http_requests_total{job="payments"}[5m]))', thresholds: '<1 Green, >1 Red'}
            - {title: Not recorded, query: 'sum by (code) (rate(http_requests_total{job="payments"}[5m]))', thresholds: '<1 Green, >1 Red', record: false}
            - {title: Change, query: 'sum by (code) (rate(http_requests_total{job="payments"}[5m])) - sum by (code) (rate(http_requests_total{job="payments"}[5m] offset 1h))', thresholds: '<1 Green, >1 Red'}
            - {title: Either, query: 'sum by (code) (rate(http_requests_total{job="payments",code="500"}[5m])) or sum by (code) (rate(http_requests_total{job="payments",code="503"}[5m]))', thresholds: '<1 Green, >1 Red'}
            - {title: Started, query: 'time() - max by (instance) (process_start_time_seconds{job="payments"})', thresholds: '<1h Red, >1h Green', unit: s}
            - {title: Every job, query: 'max by (code) (rate(http_requests_total[5m]))', thresholds: '<1 Green, >1 Red'}
            """,
        ),
        [
            f'{E}:6:67: warning: alert annotation "runbook" names the label "job", '
            'which the series of the alerts of panels "Not recorded", "Change", '
            '"Either" and "Every job" do not have, so the text shows it as empty '
            "[alert/template-label]",
        ],
    ),
    Case(
        "labels-of-the-series",
        panels("""
            - title: Errors
              query: 'sum by (code, method) (rate(http_requests_total{job="payments"}[5m]))'
              thresholds: "<1 Green, >1 Red"
              alert:
                summary: '{{ $labels.code }} {{ .Labels.method }} {{ index $labels "job" }} {{ $labels.__name__ }}'
                description: '{{ range query "up" }}{{ .Labels.instance }}{{ end }}'
            - title: Depth
              query: 'queue_depth{job="payments"}'
              thresholds: "<1 Green, >1 Red"
              alert: {summary: '{{ $labels.instance }}'}
        """),
        [],
    ),
]


SCRAPE_TIMEOUT_ADVICE = (
    "Prometheus fails a scrape that takes that long and reports the target down, "
    "so the band colours only targets that are down; write a bound below"
)

SCRAPE_TIMEOUT = [
    Case(
        "red-at-default-timeout",
        panels("""
            - title: Scrape
              query: 'scrape_duration_seconds{job="payments"}'
              thresholds: "<5s Green, 5s-10s Yellow, >10s Red"
        """),
        [
            f'{E}:17:49: warning: the red band of panel "Scrape" starts at 10s, at or '
            'above the scrape timeout of job "payments", 10s (Prometheus\' default '
            f"scrape_timeout). {SCRAPE_TIMEOUT_ADVICE} 10s [thresholds/scrape-timeout]"
        ],
    ),
    Case(
        "bare-bound-above-job-timeout",
        panels(
            """
            - title: Scrape
              query: 'max by (instance) (scrape_duration_seconds{job="payments"})'
              thresholds: "<2 Green, 2-4 Yellow, >4 Red"
            """,
            HEADER.replace("interval: 15s", "interval: 15s, timeout: 3s"),
        ),
        [
            f'{E}:17:45: warning: the red band of panel "Scrape" starts at 4s, at or '
            'above the scrape timeout of job "payments", 3s (the job\'s timeout, set '
            f"at {E}:2:61). {SCRAPE_TIMEOUT_ADVICE} 3s [thresholds/scrape-timeout]"
        ],
    ),
    Case(
        # Each warning is at the value of its step.
        "structured-steps",
        panels("""
            - title: Scrape
              query: 'scrape_duration_seconds{job="payments"}'
              thresholds:
                steps:
                  - green
                  - {color: yellow, value: 10s}
                  - color: red
                    value: 15
        """),
        [
            f'{E}:20:38: warning: the yellow band of panel "Scrape" starts at 10s, at '
            'or above the scrape timeout of job "payments", 10s (Prometheus\' default '
            f"scrape_timeout). {SCRAPE_TIMEOUT_ADVICE} 10s [thresholds/scrape-timeout]",
            f'{E}:22:22: warning: the red band of panel "Scrape" starts at 15s, at or '
            'above the scrape timeout of job "payments", 10s (Prometheus\' default '
            f"scrape_timeout). {SCRAPE_TIMEOUT_ADVICE} 10s [thresholds/scrape-timeout]",
        ],
    ),
    Case(
        "other-queries-pass",
        panels("""
            - title: Scrape
              query: 'sum(scrape_duration_seconds{job="payments"})'
              thresholds: "<20s Green, >20s Red"
            - title: Samples
              query: 'scrape_samples_scraped{job="payments"}'
              thresholds: "<20 Green, >20 Red"
            - title: Green above
              query: 'scrape_duration_seconds{job="payments"}'
              thresholds: ">20s Green, <20s Red"
        """),
        [],
    ),
]


ALERT_URL = [
    Case(
        "link-annotations",
        manifest(
            "service: payments\n"
            "scrape: {job: payments, port: 8080}\n"
            "alerts:\n"
            "  annotations:\n"
            "    runbook_url: https://runbooks.example.com/{{ $labels.job }}\n"
            "    logs_url: 'https://logs.example.com/?q={{ $labels.job | urlquery }}'\n"
            "    url: runbooks.example.com/payments\n"
            "    wiki_url: '{{ .ExternalURL }}/wiki'\n"
            "    notes: not a link\n"
            "rows:\n"
            "  - title: A\n"
            "    panels:\n"
            "      - title: Queue\n"
            "        query: 'sum(payments_queue_depth{job=\"payments\"})'\n"
            "        thresholds: '<100 Green, >=100 Red'\n"
            "        alert:\n"
            "          annotations:\n"
            "            runbook_url: 'https://runbooks.example.com:99999/queue'\n"
            "            trace_url: 'https://{{ $labels.job }}.traces.example/a b'\n"
            "            chart_url: 'https://[::1/{{ $labels.job }}'\n"
            "            source_url: '{{ if $labels.job }}x y{{ end }}'\n"
        ),
        [
            f'{E}:7:10: error: alert annotation url "runbooks.example.com/payments" is '
            "invalid: it has no scheme; start it with http:// or https:// [alert/url]",
            f"{E}:18:26: error: alert annotation runbook_url "
            '"https://runbooks.example.com:99999/queue" is invalid: it has the port '
            '"99999", which is outside 1-65535 [alert/url]',
            f"{E}:19:24: error: alert annotation trace_url "
            '"https://{{ $labels.job }}.traces.example/a b" is invalid: it has the '
            'path "/a b", which contains a space [alert/url]',
            f"{E}:20:24: error: alert annotation chart_url "
            '"https://[::1/{{ $labels.job }}" is invalid: it has the host "[::1", which '
            'has no closing "]" [alert/url]',
        ],
    ),
]


def gateway(service: str, job: str, panels: str, name: str) -> dict[str, str]:
    """Return a manifest of `service` scraping `job`, whose panels start on line 7."""
    text = (
        f"service: {service}\n"
        f"dashboard: {{uid: {job}}}\n"
        f"scrape: {{job: {job}, port: 8080}}\n"
        "rows:\n"
        "  - title: Main\n"
        "    panels:\n"
    )
    return manifest(text + textwrap.indent(textwrap.dedent(panels), "      "), name)


ALERT_NAME_CLASH = [
    Case(
        "service-names-of-one-camel-case",
        {
            **gateway(
                "api_gateway",
                "gw_a",
                """\
                - title: Errors
                  query: 'sum(up{job="gw_a"})'
                  thresholds: "<1 Green, >1 Red"
                """,
                "a.yaml",
            ),
            **gateway(
                "api-gateway",
                "gw_b",
                """\
                - title: Errors
                  query: 'sum(up{job="gw_b"})'
                  thresholds: "<1 Green, >1 Red"
                """,
                "b.yaml",
            ),
        },
        [
            'services/a.yaml:1:10: warning: service name "api_gateway" gets the Kubernetes object name "api-gateway-rules" of "api-gateway" in services/b.yaml:1:10, so both get names with a hash, which change when either is added or removed; rename one of them [project/name-clash]',
            'services/a.yaml:7:16: warning: panel "Errors": the alert name "ApiGatewayErrorsCritical" of this panel is also that of panel "Errors" of service "api-gateway" at services/b.yaml:7:16, so Alertmanager routes, silences and inhibitions that match alertname without the service label apply to both; give one of them another name with alert: {name: ...} [project/alert-name-clash]',
            'services/b.yaml:1:10: warning: service name "api-gateway" gets the Kubernetes object name "api-gateway-rules" of "api_gateway" in services/a.yaml:1:10, so both get names with a hash, which change when either is added or removed; rename one of them [project/name-clash]',
            'services/b.yaml:7:16: warning: panel "Errors": the alert name "ApiGatewayErrorsCritical" of this panel is also that of panel "Errors" of service "api_gateway" at services/a.yaml:7:16, so Alertmanager routes, silences and inhibitions that match alertname without the service label apply to both; give one of them another name with alert: {name: ...} [project/alert-name-clash]',
        ],
    ),
    Case(
        "written-name",
        {
            **gateway(
                "payments",
                "payments",
                """\
                - title: Errors
                  query: 'sum(up{job="payments"})'
                  thresholds: "<1 Green, >1 Red"
                """,
                "a.yaml",
            ),
            **gateway(
                "orders",
                "orders",
                """\
                - title: Failures
                  query: 'sum(up{job="orders"})'
                  thresholds: "<1 Green, >1 Red"
                  alert: {name: PaymentsErrors}
                """,
                "b.yaml",
            ),
        },
        [
            'services/a.yaml:7:16: warning: panel "Errors": the alert name "PaymentsErrorsCritical" of this panel is also that of panel "Failures" of service "orders" at services/b.yaml:10:23, so Alertmanager routes, silences and inhibitions that match alertname without the service label apply to both; give one of them another name with alert: {name: ...} [project/alert-name-clash]',
            'services/b.yaml:10:23: warning: panel "Failures": the alert name "PaymentsErrorsCritical" of this panel is also that of panel "Errors" of service "payments" at services/a.yaml:7:16, so Alertmanager routes, silences and inhibitions that match alertname without the service label apply to both; give one of them another name with alert: {name: ...} [project/alert-name-clash]',
        ],
    ),
    Case(
        # Both panels derive a critical and a warning alert of one name, and each
        # gets one warning that names both.
        "critical-and-warning-pair",
        {
            **gateway(
                "payments",
                "payments",
                """\
                - title: Backlog
                  query: 'sum(up{job="payments"})'
                  thresholds: "<5 Green, 5-10 Yellow, >10 Red"
                  alert: {warning: true}
                """,
                "a.yaml",
            ),
            **gateway(
                "orders",
                "orders",
                """\
                - title: Queue
                  query: 'sum(up{job="orders"})'
                  thresholds: "<5 Green, 5-10 Yellow, >10 Red"
                  alert: {name: PaymentsBacklog, warning: true}
                """,
                "b.yaml",
            ),
        },
        [
            'services/a.yaml:7:16: warning: panel "Backlog": the alert names "PaymentsBacklogCritical" and "PaymentsBacklogWarning" of this panel are also those of panel "Queue" of service "orders" at services/b.yaml:10:23, so Alertmanager routes, silences and inhibitions that match alertname without the service label apply to both; give one of them another name with alert: {name: ...} [project/alert-name-clash]',
            'services/b.yaml:10:23: warning: panel "Queue": the alert names "PaymentsBacklogCritical" and "PaymentsBacklogWarning" of this panel are also those of panel "Backlog" of service "payments" at services/a.yaml:7:16, so Alertmanager routes, silences and inhibitions that match alertname without the service label apply to both; give one of them another name with alert: {name: ...} [project/alert-name-clash]',
        ],
    ),
    Case(
        # Equal stems with other severities give other names.
        "other-severity",
        {
            **gateway(
                "payments",
                "payments",
                """\
                - title: Backlog
                  query: 'sum(up{job="payments"})'
                  thresholds: "<10 Green, >10 Red"
                """,
                "a.yaml",
            ),
            **gateway(
                "orders",
                "orders",
                """\
                - title: Queue
                  query: 'sum(up{job="orders"})'
                  thresholds: "<5 Green, >5 Yellow"
                  alert: {name: PaymentsBacklog, warning: true}
                """,
                "b.yaml",
            ),
        },
        [],
    ),
    Case(
        "series",
        {
            **gateway(
                "payments",
                "payments",
                """\
                - title: Lag
                  query: 'max by (pipeline) (up{job="payments"})'
                  legend: '{{pipeline}}'
                  thresholds: "nse <300, news <120"
                """,
                "a.yaml",
            ),
            **gateway(
                "orders",
                "orders",
                """\
                - title: Lag
                  query: 'max by (pipeline) (up{job="orders"})'
                  legend: '{{pipeline}}'
                  thresholds: "news <60"
                  alert: {name: PaymentsLag}
                """,
                "b.yaml",
            ),
        },
        [
            'services/a.yaml:10:32: warning: panel "Lag" (series "news"): the alert name "PaymentsLagNewsCritical" of this panel is also that of panel "Lag" (series "news") of service "orders" at services/b.yaml:11:23, so Alertmanager routes, silences and inhibitions that match alertname without the service label apply to both; give one of them another name with alert: {name: ...} [project/alert-name-clash]',
            'services/b.yaml:11:23: warning: panel "Lag" (series "news"): the alert name "PaymentsLagNewsCritical" of this panel is also that of panel "Lag" (series "news") of service "payments" at services/a.yaml:10:32, so Alertmanager routes, silences and inhibitions that match alertname without the service label apply to both; give one of them another name with alert: {name: ...} [project/alert-name-clash]',
        ],
    ),
]

TABLES = {
    "series-legend": SERIES_LEGEND,
    "promql-syntax": SYNTAX,
    "promql-unknown-metric": UNKNOWN_METRIC,
    "promql-unknown-label": UNKNOWN_LABEL,
    "promql-shared-labels": SHARED_LABELS,
    "promql-rate-counter": RATE_COUNTER,
    "promql-histogram-le": HISTOGRAM_LE,
    "promql-job-matcher": JOB_MATCHER,
    "promql-job-alternatives": JOB_ALTERNATIVES,
    "promql-match-labels": MATCH_LABELS,
    "promql-metric-spelling": METRIC_SPELLING,
    "promql-quantile": QUANTILE,
    "promql-summary-aggregation": SUMMARY_AGGREGATION,
    "promql-summary-quantile": SUMMARY_QUANTILE,
    "promql-bucket-bound": BUCKET_BOUND,
    "promql-result-type": RESULT_TYPE,
    "promql-dashboard-variable": DASHBOARD_VARIABLE,
    "promql-rate-window": RATE_WINDOW,
    "dashboard-heatmap-buckets": HEATMAP_BUCKETS,
    "dashboard-legend-label": LEGEND_LABEL,
    "thresholds-histogram-range": HISTOGRAM_RANGE,
    "dashboard-unit": UNIT,
    "dashboard-unit-scale": UNIT_SCALE,
    "thresholds-unit": THRESHOLDS_UNIT,
    "thresholds-precision": THRESHOLDS_PRECISION,
    "promql-precision": QUERY_PRECISION,
    "thresholds-panel-type": PANEL_TYPE,
    "thresholds-raw-counter": RAW_COUNTER,
    "alert-value-format": VALUE_FORMAT,
    "dashboard-barchart-labels": BARCHART_LABELS,
    "thresholds-scrape-timeout": SCRAPE_TIMEOUT,
    "dashboard-range": RANGE,
    "dashboard-duplicate-panel-title": DUPLICATE_PANEL_TITLE,
    "dashboard-too-long": DASHBOARD_TOO_LONG,
    "dashboard-timezone": DASHBOARD_TIMEZONE,
    "dashboard-refresh": DASHBOARD_REFRESH,
    "dashboard-time": DASHBOARD_TIME,
    "project-duplicates": PROJECT,
    "project-name-clash": NAME_CLASH,
    "project-alert-name-clash": ALERT_NAME_CLASH,
    "scrape-job": SCRAPE_JOB,
    "alert-template": ALERT_TEMPLATE,
    "alert-template-label": ALERT_TEMPLATE_LABEL,
    "alert-url": ALERT_URL,
}

ALL_CASES = [
    pytest.param(case, id=f"{table}/{case.id}")
    for table, cases in TABLES.items()
    for case in cases
]


class TextSnapshot(SingleFileSnapshotExtension):
    """One plain-text snapshot file per table."""

    _write_mode = WriteMode.TEXT
    file_extension = "txt"


@pytest.fixture
def text_snapshot(snapshot):
    return snapshot.use_extension(TextSnapshot)


@pytest.mark.parametrize("case", ALL_CASES)
def test_check_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    lines, _ = run_case(tmp_path, monkeypatch, case)
    assert lines == case.expected


@pytest.mark.parametrize("table", list(TABLES))
def test_check_table_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str, text_snapshot
) -> None:
    reports = []
    for index, case in enumerate(TABLES[table]):
        folder = tmp_path / str(index)
        folder.mkdir()
        _, report = run_case(folder, monkeypatch, case)
        reports.append(f"## {case.id}\n{report or '(no diagnostics)' + chr(10)}")
    assert "\n".join(reports) == text_snapshot


def test_histogram_le_points_at_aggregation(tmp_path: Path, monkeypatch) -> None:
    """The le check points at the aggregation that drops le, `sum by (job)`."""
    lines, report = run_case(tmp_path, monkeypatch, HISTOGRAM_LE[0])
    assert lines[0].startswith("services/payments.yaml:7:41: error: ")
    assert report.splitlines()[2] == " " * 42 + "^"


NESTED_SET = """\
service: node
dashboard: {uid: node}
scrape: {job: node, targets: ['node-1:9100', 'node-2:9100']}
metrics:
  node_load1: gauge
rows:
  - title: Hosts
    panels:
      - {title: Load, query: 'node_load1{job=~"node|[[:alpha:]]x"}', thresholds: '<4 Green, >=4 Red'}
      - {title: Load one, query: 'max(node_load1{job="node",instance=~"[[:alpha:]]ode-1.*"})', thresholds: '<4 Green, >=4 Red'}
"""


def test_aliased_query_checked_at_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each panel that repeats a query by alias gets the query's error at the alias."""
    case = Case(
        "aliased-query",
        panels("""
            - title: A
              query: &broken 'sum(queue_depth'
            - title: B
              query: *broken
        """),
        [],
    )
    lines, _ = run_case(tmp_path, monkeypatch, case)
    unclosed = "error: invalid PromQL query: unclosed left parenthesis [promql/syntax]"
    assert lines == [f"{E}:16:28: {unclosed}", f"{E}:18:16: {unclosed}"]


def test_aliased_panel_schema_error_at_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    files = panels("""
        - &panel {title: A, query: queue_depth, colour: red}
        - *panel
    """)
    loaded = load(tmp_path, files)
    unknown = (
        'error: unknown key "colour" in rows[0].panels[{}] (did you mean '
        '"color_mode"?) [manifest/schema]'
    )
    assert [str(d) for d in loaded.diagnostics] == [
        f"{E}:15:47: {unknown.format(0)}",
        f"{E}:16:9: {unknown.format(1)}",
    ]


def test_nested_set_regex_adds_no_warning(project: Path) -> None:
    """A job regex that Python warns of, `[[:alpha:]]`, prints no Python warning."""
    (project / "services" / "node.yaml").write_text(NESTED_SET, encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    assert [str(w.message) for w in caught if w.category is FutureWarning] == []


def test_series_name_hint_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, project: Path
) -> None:
    """The structured form that the hint suggests derives the alert of the series."""
    (case,) = [c for c in SERIES_LEGEND if c.id == "name-a-text-cannot-hold"]
    checked = tmp_path / "checks"
    checked.mkdir()
    (line,), _ = run_case(checked, monkeypatch, case)
    assert "structured form: thresholds: " in line
    suggested = line.split("structured form: thresholds: ")[1].split(" [")[0]
    monkeypatch.chdir(project)
    (text,) = case.files.values()
    text = text.replace('thresholds: "GET <2s"', f"thresholds: {suggested}")
    (project / "services" / "payments.yaml").write_text(text, encoding="utf-8")
    result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    rules = result.files["prometheus/rules/payments.rules.yml"]
    assert 'method="GET"} >= 2\n' in rules


@pytest.mark.parametrize(
    ("targets", "expected"), [("[grafana]", 0), ("[grafana, prometheus]", 2)]
)
def test_alert_name_clash_needs_rules(
    project: Path, targets: str, expected: int
) -> None:
    """A build that writes no alerting rules warns of no alert name."""
    (case,) = [c for c in ALERT_NAME_CLASH if c.id == "written-name"]
    for name, text in case.files.items():
        (project / "services" / name).write_text(text, encoding="utf-8")
    (project / "obscompile.yaml").write_text(f"targets: {targets}\n")
    result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    found = [d for d in result.diagnostics if d.check == "project/alert-name-clash"]
    assert len(found) == expected


def test_every_check_has_a_table() -> None:
    """Each registered check appears in the expected output of some case."""
    covered = {
        line.rsplit("[", 1)[1].rstrip("]")
        for cases in TABLES.values()
        for case in cases
        for line in case.expected
    }
    names = {found.name for found in registered_checks()}
    assert names - covered == {"project/unsafe-name"}


@pytest.mark.parametrize(
    ("service_key", "expected"),
    [
        pytest.param("../payments", 'contains "/"', id="parent-directory"),
        pytest.param("pay\\ments", 'contains "\\"', id="backslash"),
        pytest.param("..", "names a directory", id="directory"),
        pytest.param(
            ".payments", 'starts with "." and would be a hidden file', id="hidden"
        ),
        pytest.param(" ", "is empty", id="blank"),
        pytest.param("pay\nments", "contains a control character", id="newline"),
    ],
)
def test_unsafe_name(service_key: str, expected: str) -> None:
    """A service built in Python skips the loader's name rules, and the check reports it."""
    where = Location("services/payments.py", 3, 5)
    service = Service(
        name=service_key,
        title="Payments",
        dashboard=None,
        location=where,
        locations={"service": where},
    )
    lines = [str(d) for d in run_checks([service], select={"project/unsafe-name"})]
    assert lines == [
        f'services/payments.py:3:5: error: service key "{service_key}" {expected}, so it '
        'cannot name a file; use ASCII letters, digits, "_" and "-" [project/unsafe-name]'
    ]


def test_safe_name_passes() -> None:
    service = Service(name="payments-v2_eu", title="Payments", dashboard=None)
    assert run_checks([service], select={"project/unsafe-name"}) == []


def test_select_rejects_unknown_check() -> None:
    with pytest.raises(ValueError, match="no check named promql/nothing"):
        run_checks([], select={"promql/nothing"})


@pytest.fixture
def no_system_time_zones() -> Iterator[None]:
    """Hide the system's time zone database from zoneinfo for one test."""
    zoneinfo.reset_tzpath(to=[])
    dashboard_timezone.iana_time_zones.cache_clear()
    yield
    zoneinfo.reset_tzpath()
    dashboard_timezone.iana_time_zones.cache_clear()


def test_timezone_without_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_system_time_zones: None
) -> None:
    """Without any time zone database, a zone gets a warning that it went unchecked."""
    monkeypatch.setitem(sys.modules, "tzdata", None)
    case = Case("", _dashboard_case("", "  timezone: Europe/Berln\n"), [])
    lines, _ = run_case(tmp_path, monkeypatch, case)
    assert lines == [
        f'{E}:3:13: warning: cannot check dashboard.timezone "Europe/Berln": Python '
        "found no IANA time zone database; install the tzdata package "
        "[dashboard/timezone]"
    ]


def test_timezone_from_tzdata_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_system_time_zones: None
) -> None:
    """The tzdata dependency serves as the database where the system has none."""
    pytest.importorskip("tzdata")
    for zone, expected in (("Europe/Berlin", []), ("Europe/Berln", ["Europe/Berln"])):
        folder = tmp_path / zone.replace("/", "-")
        folder.mkdir()
        case = Case("", _dashboard_case("", f"  timezone: {zone}\n"), [])
        lines, _ = run_case(folder, monkeypatch, case)
        assert [line.split('"')[1] for line in lines] == expected


def test_project_manifests_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """The platform's own manifests produce no error from any check."""
    monkeypatch.chdir(REPOSITORY)
    loaded = load_project(Path("services"))
    diagnostics = run_checks(loaded.services, sources=loaded.sources)
    errors = [str(d) for d in diagnostics if d.severity == "error"]
    assert errors == []


def test_project_build_thresholds_no_raw_counter(real_build: BuildResult) -> None:
    """The platform's own panels threshold rates and increases, never a raw counter."""
    assert "thresholds/raw-counter" in {found.name for found in registered_checks()}
    found = [
        str(d) for d in real_build.diagnostics if d.check == "thresholds/raw-counter"
    ]
    assert found == []


def test_global_scrape_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job without an interval gets the global one, 1m unless the caller sets it."""
    monkeypatch.chdir(tmp_path)
    case = RATE_WINDOW[2]
    loaded = load(tmp_path, case.files)
    fifteen = run_checks(loaded.services, sources=loaded.sources, scrape_interval="15s")
    default = run_checks(loaded.services, sources=loaded.sources)
    assert [str(d) for d in fifteen] == []
    assert [str(d) for d in default] == case.expected


def test_invalid_global_scrape_interval() -> None:
    with pytest.raises(ValueError, match='scrape interval "soon" is not a duration'):
        run_checks([], scrape_interval="soon")


_SUFFIX_WORDS = ["total", "created", "sum", "count", "bucket", "info"]


@st.composite
def _catalogs(draw) -> tuple[Service, ...]:
    """Services whose metric names are a stem and up to two suffix words."""
    services = []
    for number in range(draw(st.integers(2, 4))):
        metrics = []
        # A service's runtime, or the lack of one, gives all its metrics one naming.
        naming = draw(st.sampled_from(list(SeriesNaming)))
        for _ in range(draw(st.integers(1, 4))):
            words = draw(st.lists(st.sampled_from(_SUFFIX_WORDS), max_size=2))
            name = "_".join([draw(st.sampled_from(["a", "b_c"])), *words])
            kind = draw(st.sampled_from(list(MetricType)))
            metrics.append(Metric(name, kind, naming=naming))
        services.append(Service(f"s{number}", "", None, metrics=tuple(metrics)))
    return tuple(services)


def _every_conflict(services: tuple[Service, ...]) -> list[list[str]]:
    """Return the conflicts found by comparing every exported series of every metric.

    Each is the metric's name, the series, and the other metric's and service's names.
    """
    first: dict[str, tuple[Service, Metric]] = {}
    found = []
    for service in services:
        for metric in service.metrics:
            reported = set()
            for series in exported_series(metric):
                other_service, other = first.setdefault(series, (service, metric))
                if other_service is service or id(other) in reported:
                    continue
                family = metric.family()
                if other.family() != family:
                    reported.add(id(other))
                    # The warning at each of the two metrics names the other.
                    found.append([metric.name, series, other.name, other_service.name])
                    found.append([other.name, series, metric.name, service.name])
    return found


@settings(max_examples=500, deadline=None)
@given(_catalogs())
def test_metric_conflicts_match_brute_force(services) -> None:
    """Skipping metrics that share no name key loses no conflict."""
    context = ProjectContext(services, {})
    # The first quoted parts of each message: metric, series, other metric, other
    # service. The last quoted part names the service of the later declaration.
    found = [
        diagnostic.message.split('"')[1:9:2]
        for diagnostic in project_metric_types.metric_type_conflict(context)
    ]
    assert found == _every_conflict(services)
    # Catalogs read from the build cache give the same findings.
    cached = tuple(
        attrs.evolve(service, metrics=LazyCatalog.of(service.metrics))
        for service in services
    )
    found_cached = [
        diagnostic.message.split('"')[1:9:2]
        for diagnostic in project_metric_types.metric_type_conflict(
            ProjectContext(cached, {})
        )
    ]
    assert found_cached == found
