"""Bad input: one positioned error line per problem, all in one run, out/ untouched."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from obscompile.cli import main
from tests.conftest import write_manifest

GOOD_PANEL = (
    "{title: RPS, query: 'sum(rate(http_requests_total{job=\"payments\"}[5m]))'}"
)
HEADER = """service: payments
scrape: {job: payments, port: 8080}
metrics:
  http_requests_total: {type: counter, labels: [code]}
"""

HISTOGRAM_HEADER = """service: payments
scrape: {job: payments, port: 8080}
metrics:
  http_request_duration_seconds: {type: histogram, buckets: [0.05, 0.5, 1, 5]}
"""
EDGE_P95 = (
    "histogram_quantile(0.95, sum by (le) "
    '(rate(http_request_duration_seconds_bucket{job="payments"}[5m])))'
)
ERROR_RATIO = (
    'sum(rate(http_requests_total{job="payments",code=~"5.."}[5m])) '
    '/ sum(rate(http_requests_total{job="payments"}[5m]))'
)


def run_build(project: Path, *options: str) -> tuple[int, str]:
    runner = CliRunner()
    result = runner.invoke(
        main, ["build", "--project", str(project), *options], catch_exceptions=False
    )
    return result.exit_code, result.output


def error_lines(output: str) -> list[str]:
    return [
        line
        for line in output.splitlines()
        if ": error: " in line or ": warning: " in line
    ]


CASES = [
    (
        "threshold-text-needs-quotes",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - title: E\n        query: up\n"
        + "        thresholds: >5 Red\n",
        [
            "services/payments.yaml:10:24: error: invalid YAML: did not find expected comment or line break (in the block scalar that starts at line 10, column 21); to write it as text, quote it: thresholds: '>5 Red' [yaml/syntax]"
        ],
    ),
    (
        "query-with-colon-needs-quotes",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - title: E\n"
        + "        query: up{path=\"a: b\", x='y'}\n",
        [
            "services/payments.yaml:9:26: error: invalid YAML: mapping values are not allowed in this context; to write it as text, quote it: query: 'up{path=\"a: b\", x=''y''}' [yaml/syntax]"
        ],
    ),
    (
        "flow-threshold-text-needs-quotes",
        HEADER
        + "rows:\n  - title: A\n    panels:\n"
        + "      - {title: E, query: up, thresholds: >5 Red}\n",
        [
            "services/payments.yaml:8:43: error: invalid YAML: found character that "
            "cannot start any token; to write it as text, quote it: "
            "thresholds: '>5 Red' [yaml/syntax]"
        ],
    ),
    (
        "flow-title-with-colon-needs-quotes",
        HEADER + "rows:\n  - {title: a b: c, panels: []}\n",
        [
            "services/payments.yaml:6:16: error: invalid YAML: did not find expected "
            "',' or '}' (in the flow mapping that starts at line 6, column 5); to "
            "write it as text, quote it: title: 'a b: c' [yaml/syntax]"
        ],
    ),
    (
        # Inside {...}, a plain value also ends at a bracket.
        "flow-query-with-range-needs-quotes",
        HEADER
        + "rows:\n  - title: A\n    panels:\n"
        + "      - {title: E, query: rate(http_requests_total[5m]), unit: reqps}\n",
        [
            "services/payments.yaml:8:51: error: invalid YAML: did not find expected "
            "',' or '}' (in the flow mapping that starts at line 8, column 9); to "
            "write it as text, quote it: query: 'rate(http_requests_total[5m])' "
            "[yaml/syntax]"
        ],
    ),
    (
        "flow-mapping-without-closing-brace",
        "service: payments\nmetrics: {a: {type: counter, help: x}\nrows: []\n",
        [
            "services/payments.yaml:2:38: error: invalid YAML: did not find expected "
            "',' or '}' (in the flow mapping that starts at line 2, column 10) "
            "[yaml/syntax]"
        ],
    ),
    (
        "query-braces-need-quotes",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - title: E\n"
        + '        query: {__name__="up"}\n',
        [
            "services/payments.yaml:9:16: error: rows[0].panels[0].query must be a string, not a mapping; a value that starts with { or [ is text only when quoted [manifest/schema]"
        ],
    ),
    (
        "empty-row",
        "service: payments\nrows:\n  - \n",
        [
            "services/payments.yaml:3:4: error: rows[0] must be a mapping, not null [manifest/schema]"
        ],
    ),
    (
        "probe-job-without-targets",
        "service: probes\nscrape: {job: bb, probe: {exporter: 'bb:9115', module: icmp}}\n",
        [
            'services/payments.yaml:2:9: error: probe job "bb" needs targets:, the URLs or hosts that its exporter probes [manifest/schema]'
        ],
    ),
    (
        "probe-without-module",
        "service: probes\nscrape: {job: bb, targets: [a], probe: {exporter: 'bb:9115'}}\n",
        [
            'services/payments.yaml:2:40: error: missing key "module" in scrape.probe [manifest/schema]'
        ],
    ),
    (
        "interval-without-unit",
        "service: payments\nscrape: {job: payments, port: 8080, interval: 15}\nrows: []\n",
        [
            "services/payments.yaml:2:47: error: scrape.interval must be a string, not an integer; write a Prometheus duration such as 15s, 5m or 1h30m [manifest/schema]"
        ],
    ),
    (
        "catalog-without-runtime",
        HEADER
        + "  queue_depth: {type: gauge, labels: [queue, job]}\n"
        + "  latency_seconds: {type: histogram, buckets: [1, 0.5]}\n"
        + f"rows:\n  - title: A\n    panels:\n      - {GOOD_PANEL}\n",
        [
            'services/payments.yaml:5:46: warning: label "job" on metric "queue_depth": Prometheus sets job on every series it scrapes and stores the exported one as exported_job, so a query on job reads the scrape target\'s; rename the label [instrument/label-name]',
            'services/payments.yaml:6:51: error: invalid buckets [1, 0.5] on histogram "latency_seconds": bounds must be in strictly increasing order [instrument/buckets]',
        ],
    ),
    (
        "catalog-items-block-style",
        HEADER
        + "  lat_seconds:\n    type: histogram\n    buckets:\n      - 0.1\n"
        + "      - 0.5\n      - 0.3\n  depth:\n    type: gauge\n    buckets: [1]\n"
        + f"rows:\n  - title: A\n    panels:\n      - {GOOD_PANEL}\n",
        [
            'services/payments.yaml:10:9: error: invalid buckets [0.1, 0.5, 0.3] on histogram "lat_seconds": bounds must be in strictly increasing order [instrument/buckets]',
            'services/payments.yaml:13:14: error: metric "depth" is a gauge and cannot have buckets; remove them or make it a histogram [instrument/buckets]',
        ],
    ),
    (
        "missing-key",
        HEADER + "rows:\n  - title: Traffic\n    panels:\n      - {title: RPS}\n",
        [
            'services/payments.yaml:8:9: error: missing key "query" in rows[0].panels[0] [manifest/schema]'
        ],
    ),
    (
        "unknown-key",
        HEADER
        + "rows:\n  - title: Traffic\n    panels:\n      - title: RPS\n        qurey: up\n",
        [
            'services/payments.yaml:9:9: error: unknown key "qurey" in rows[0].panels[0] (did you mean "query"?); it is probably the required key "query", which is missing [manifest/schema]',
        ],
    ),
    (
        "misspelt-service",
        HEADER.replace("service:", "servce:"),
        [
            'services/payments.yaml:1:1: error: unknown key "servce" in the manifest (did you mean "service"?); it is probably the required key "service", which is missing [manifest/schema]',
        ],
    ),
    (
        # Neither key is more likely than the other to be the missing one.
        "two-keys-close-to-missing-one",
        HEADER
        + "rows:\n  - title: Traffic\n    panels:\n"
        + "      - {title: RPS, qurey: up, quer: up}\n",
        [
            'services/payments.yaml:8:9: error: missing key "query" in rows[0].panels[0] [manifest/schema]',
            'services/payments.yaml:8:22: error: unknown key "qurey" in rows[0].panels[0] (did you mean "query"?) [manifest/schema]',
            'services/payments.yaml:8:33: error: unknown key "quer" in rows[0].panels[0] (did you mean "query"?) [manifest/schema]',
        ],
    ),
    (
        # "typ" is closest to "type", which is not required.
        "unknown-key-close-to-optional-one",
        HEADER
        + "rows:\n  - title: Traffic\n    panels:\n      - {title: RPS, typ: stat}\n",
        [
            'services/payments.yaml:8:9: error: missing key "query" in rows[0].panels[0] [manifest/schema]',
            'services/payments.yaml:8:22: error: unknown key "typ" in rows[0].panels[0] (did you mean "type"?) [manifest/schema]',
        ],
    ),
    (
        "unknown-keys-at-every-level",
        "service: payments\nzzz: 1\nyyy: 2\n"
        + "scrape: {job: payments, port: 8080, intervl: 15s, xx: 1}\n"
        + "metrics:\n  http_requests_total: {type: counter, hlep: a, unit: s}\n"
        + "rows:\n  - title: Traffic\n    colapsed: true\n    qqq: 1\n"
        + "    panels:\n      - title: RPS\n        query: up\n"
        + "        foo: 1\n        bar: 2\n",
        [
            'services/payments.yaml:2:1: error: unknown key "zzz" in the manifest; expected one of alerts, dashboard, description, metric_blocks, metrics, rows, runtime, scrape, service, service_key, title [manifest/schema]',
            'services/payments.yaml:3:1: error: unknown key "yyy" in the manifest; expected one of alerts, dashboard, description, metric_blocks, metrics, rows, runtime, scrape, service, service_key, title [manifest/schema]',
            'services/payments.yaml:4:37: error: unknown key "intervl" in scrape (did you mean "interval"?) [manifest/schema]',
            'services/payments.yaml:4:51: error: unknown key "xx" in scrape; expected one of honor_labels, interval, job, labels, path, port, probe, scheme, targets, timeout [manifest/schema]',
            'services/payments.yaml:6:40: error: unknown key "hlep" in metrics.http_requests_total (did you mean "help"?) [manifest/schema]',
            'services/payments.yaml:6:49: error: unknown key "unit" in metrics.http_requests_total; expected one of buckets, help, labels, type [manifest/schema]',
            'services/payments.yaml:9:5: error: unknown key "colapsed" in rows[0] (did you mean "collapsed"?) [manifest/schema]',
            'services/payments.yaml:10:5: error: unknown key "qqq" in rows[0]; expected one of collapsed, panels, title [manifest/schema]',
            'services/payments.yaml:14:9: error: unknown key "foo" in rows[0].panels[0]; expected one of alert, capacity, color_mode, decimals, description, height, instant, legend, max, min, query, record, stack, thresholds, title, type, unit, width [manifest/schema]',
            'services/payments.yaml:15:9: error: unknown key "bar" in rows[0].panels[0]; expected one of alert, capacity, color_mode, decimals, description, height, instant, legend, max, min, query, record, stack, thresholds, title, type, unit, width [manifest/schema]',
        ],
    ),
    (
        "unknown-block-parameters",
        HEADER
        + "rows:\n  - use: http_api_health\n    with:\n      job: payments\n"
        + "      p95_titel: P95\n      zork: 1\n",
        [
            'services/payments.yaml:9:7: error: block "http_api_health" has no parameter "p95_titel" (did you mean "p95_title"?) [manifest/block]',
            'services/payments.yaml:10:7: error: block "http_api_health" has no parameter "zork" [manifest/block]',
        ],
    ),
    (
        "non-finite",
        HEADER
        + "rows:\n  - title: Pool\n    panels:\n"
        + "      - {title: Used, query: up, capacity: .inf, min: .nan, max: 1e400}\n",
        [
            "services/payments.yaml:8:44: error: rows[0].panels[0].capacity is inf, which is not a finite number; write a number such as 100 [manifest/schema]",
            "services/payments.yaml:8:55: error: rows[0].panels[0].min is nan, which is not a finite number; write a number such as 100 [manifest/schema]",
            "services/payments.yaml:8:66: error: rows[0].panels[0].max is 1e400, beyond ±1.8e308 (about), the largest number that dashboards and Prometheus hold [manifest/schema]",
        ],
    ),
    (
        "too-large-number-as-written",
        HEADER
        + "rows:\n  - title: A\n    panels:\n"
        + "      - {title: E, query: up, decimals: -1E+400}\n",
        [
            "services/payments.yaml:8:41: error: rows[0].panels[0].decimals must be an integer, not the number -1E+400 [manifest/schema]"
        ],
    ),
    (
        "unclosed-bracket",
        HEADER
        + "rows:\n  - title: Traffic\n    panels: [\n      {title: RPS, query: up}\n\n",
        [
            "services/payments.yaml:8:30: error: invalid YAML: did not find expected "
            "',' or ']' (in the flow sequence that starts at line 7, column 13) [yaml/syntax]"
        ],
    ),
    (
        "unclosed-bracket-before-next-key",
        "service: payments\ntags: [a, b\nscrape: {job: payments, port: 8080}\n",
        [
            "services/payments.yaml:2:12: error: invalid YAML: did not find expected "
            "',' or ']' (in the flow sequence that starts at line 2, column 7) [yaml/syntax]"
        ],
    ),
    (
        "missing-comma-between-items",
        HEADER
        + "rows:\n  - title: A\n    panels: [\n"
        + "      {title: A, query: up} {title: B, query: up}\n    ]\n",
        [
            "services/payments.yaml:8:29: error: invalid YAML: did not find expected "
            "',' or ']' (in the flow sequence that starts at line 7, column 13) [yaml/syntax]"
        ],
    ),
    (
        "unclosed-double-quote-to-end",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - title: E\n"
        + '        query: "sum(rate(http_requests_total[5m]))\n        unit: reqps\n',
        [
            'services/payments.yaml:9:16: error: invalid YAML: the double quote (") '
            "that opens this text is not closed on its line, so the text runs on to "
            'the end of the file; add the closing " where the text ends [yaml/syntax]'
        ],
    ),
    (
        "unclosed-single-quote-in-panel-list",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - title: E\n"
        + "        query: 'sum(rate(http_requests_total[5m]))\n"
        + "      - title: F\n        query: 'up'\n",
        [
            "services/payments.yaml:9:16: error: invalid YAML: the single quote (') "
            "that opens this text is not closed on its line, so the text runs on to "
            "the ' at line 11, column 16; add the closing ' where the text ends "
            "[yaml/syntax]"
        ],
    ),
    (
        "unclosed-quote-in-flow-mapping",
        HEADER
        + "rows:\n  - title: A\n    panels:\n"
        + '      - {title: "E, query: up}\n      - {title: "F", query: up}\n',
        [
            'services/payments.yaml:8:17: error: invalid YAML: the double quote (") '
            "that opens this text is not closed on its line, so the text runs on to "
            'the " at line 9, column 17; add the closing " where the text ends '
            "[yaml/syntax]"
        ],
    ),
    (
        "unclosed-quote-in-flow-sequence",
        "service: payments\ndashboard: {tags: [a, 'b, c]}\n"
        + "scrape: {job: 'payments', port: 8080}\n",
        [
            "services/payments.yaml:2:23: error: invalid YAML: the single quote (') "
            "that opens this text is not closed on its line, so the text runs on to "
            "the ' at line 3, column 15; add the closing ' where the text ends "
            "[yaml/syntax]"
        ],
    ),
    (
        "unclosed-quote-in-block-sequence",
        'service: payments\ndashboard:\n  tags:\n    - "a\n    - b\n    - "c"\n',
        [
            'services/payments.yaml:4:7: error: invalid YAML: the double quote (") '
            "that opens this text is not closed on its line, so the text runs on to "
            'the " at line 6, column 7; add the closing " where the text ends '
            "[yaml/syntax]"
        ],
    ),
    (
        "unclosed-quote-before-document-marker",
        'service: payments\ndashboard: {title: "Payments}\n---\n',
        [
            'services/payments.yaml:2:20: error: invalid YAML: the double quote (") '
            "that opens this text is not closed on its line, so the text runs on to "
            'the document marker --- at line 3; add the closing " where the text ends '
            "[yaml/syntax]"
        ],
    ),
    (
        "double-quote-inside-double-quoted-query",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - title: E\n"
        + '        query: "sum(rate(http_requests_total{code="500"}[5m]))"\n',
        [
            'services/payments.yaml:9:51: error: invalid YAML: this " closes the text '
            'opened by the " at line 9, column 16, and YAML cannot read what follows '
            'it; to write " inside the text, write \\" in its place, or quote the '
            "whole text with ' instead [yaml/syntax]"
        ],
    ),
    (
        "apostrophe-inside-single-quoted-title",
        HEADER + "dashboard: {title: 'Today's payments'}\n",
        [
            "services/payments.yaml:5:26: error: invalid YAML: this ' closes the text "
            "opened by the ' at line 5, column 20, and YAML cannot read what follows "
            "it; to write ' inside the text, write it twice ('') [yaml/syntax]"
        ],
    ),
    (
        # A quoted text may span lines, so an error after a closed one keeps the
        # parser's message.
        "closed-multi-line-quote",
        HEADER + 'dashboard:\n  title: "Payments\n    API"\n  description: a: b\n',
        [
            "services/payments.yaml:8:17: error: invalid YAML: mapping values are not "
            "allowed in this context; to write it as text, quote it: "
            "description: 'a: b' [yaml/syntax]"
        ],
    ),
    (
        # The parser stops at text after the quote that closes a multi-line text,
        # which is no fault of its opening quote.
        "text-after-multi-line-quote",
        HEADER + 'dashboard:\n  title: "Payments\n    API" v2\n',
        [
            "services/payments.yaml:7:10: error: invalid YAML: did not find expected "
            "key (in the block mapping that starts at line 6, column 3) [yaml/syntax]"
        ],
    ),
    (
        "control-character",
        HEADER + 'title: "a\x07b"\n',
        [
            "services/payments.yaml:5:10: error: invalid YAML: character U+0007 is not "
            "allowed in YAML text; remove it or write it as an escape in a "
            "double-quoted string [yaml/syntax]"
        ],
    ),
    (
        "mappings-on-panel",
        HEADER
        + "rows:\n  - title: Traffic\n    panels:\n"
        + "      - {title: RPS, query: up, mappings: [{value: 0, color: red}]}\n",
        [
            'services/payments.yaml:8:33: error: unknown key "mappings" in '
            'rows[0].panels[0] (did you mean "thresholds: {mappings: ...}"?) '
            "[manifest/schema]"
        ],
    ),
    (
        "dashboard-settings",
        HEADER + "dashboard: {refresh: banana, time: yesterday}\n",
        [
            'services/payments.yaml:5:22: error: dashboard.refresh "banana" is invalid: '
            'write an interval such as 30s, 1m or 1h, "auto", or "" for no refresh '
            "[manifest/schema]",
            'services/payments.yaml:5:36: error: dashboard.time "yesterday" is invalid: '
            "write a relative time such as now-6h, now-7d or now-1d/d [manifest/schema]",
        ],
    ),
    (
        # Python's `$` matches before a final line break, which a YAML block scalar
        # keeps, so each pattern must reject one itself.
        "values-end-with-line-break",
        "service: payments\n"
        'service_key: "payments\\n"\n'
        "dashboard:\n"
        "  refresh: |\n"
        "    30s\n"
        "  time: >\n"
        "    now-6h\n"
        'scrape: {job: "payments\\n", port: 8080, interval: "15s\\n"}\n'
        "metrics:\n"
        '  "http_requests_total\\n": {type: counter, labels: ["code\\n"]}\n'
        "rows:\n"
        "  - title: Traffic\n"
        "    panels:\n"
        "      - title: RPS\n"
        "        query: up\n"
        '        alert: {name: "Down\\n", for: "5m\\n"}\n',
        [
            f"services/payments.yaml:{position}: error: {field} {value} is invalid: it "
            "ends with a line break, which a YAML block scalar written | or > keeps; "
            "remove it, or write |- or >- [manifest/schema]"
            for position, field, value in [
                ("2:14", "service_key", '"payments\\n"'),
                ("4:12", "dashboard.refresh", '"30s\\n"'),
                ("6:9", "dashboard.time", '"now-6h\\n"'),
                ("8:15", "scrape.job", '"payments\\n"'),
                ("8:51", "scrape.interval", '"15s\\n"'),
                ("10:3", "metrics: key", '"http_requests_total\\n"'),
                ("10:53", 'metrics["http_requests_total\\n"].labels[0]', '"code\\n"'),
                ("16:23", "rows[0].panels[0].alert.name", '"Down\\n"'),
                ("16:38", "rows[0].panels[0].alert.for", '"5m\\n"'),
            ]
        ],
    ),
    (
        "dashboard-uid-ends-with-line-break",
        HEADER + 'dashboard: {uid: "payments\\n"}\n',
        [
            'services/payments.yaml:5:18: error: dashboard.uid "payments\\n" is invalid: it ends '
            "with a line break, which a YAML block scalar written | or > keeps; remove "
            "it, or write |- or >- [manifest/schema]"
        ],
    ),
    (
        "dashboard-refresh-too-long",
        HEADER + "dashboard: {refresh: 106752d}\n",
        [
            'services/payments.yaml:5:22: error: dashboard.refresh "106752d" is longer '
            "than the longest duration that Grafana can represent (about 292 years, "
            "106751d23h47m16s854ms); write an interval such as 1m or 1h "
            "[dashboard/refresh]",
        ],
    ),
    (
        "dashboard-timezone",
        HEADER + "dashboard: {timezone: Europe/Berln}\n",
        [
            'services/payments.yaml:5:23: error: dashboard.timezone "Europe/Berln" is '
            'not a zone of the IANA time zone database (did you mean "Europe/Berlin"?); '
            'write "browser", "utc", an IANA time zone such as Europe/Berlin, or "" '
            "for the viewer's own preference [dashboard/timezone]",
        ],
    ),
    (
        "repeated-duration-unit",
        HEADER + "alerts: {for: 1m1m}\n",
        [
            'services/payments.yaml:5:15: error: alerts.for "1m1m" is invalid: write a '
            "Prometheus duration such as 15s, 5m or 1h30m [manifest/schema]"
        ],
    ),
    (
        "two-documents",
        HEADER + "---\nservice: refunds\n",
        [
            "services/payments.yaml:5:1: error: invalid YAML: a manifest is one YAML "
            "document, and another one starts here [yaml/syntax]"
        ],
    ),
    (
        "wrong-type",
        HEADER
        + "rows:\n  - title: Traffic\n    panels:\n      - {title: RPS, query: up, width: wide}\n",
        [
            "services/payments.yaml:8:40: error: rows[0].panels[0].width must be an integer, not a string [manifest/schema]"
        ],
    ),
    (
        "duplicate-key",
        HEADER
        + "rows:\n  - title: Errors\n    panels:\n      - title: Error rate\n"
        + '        query: \'sum(rate(http_requests_total{job="payments",code=~"5.."}[5m]))\'\n'
        + "        query: 'sum(rate(http_requests_total{job=\"payments\"}[5m]))'\n",
        [
            'services/payments.yaml:10:9: error: duplicate key "query" (first defined at line 9) [yaml/duplicate-key]'
        ],
    ),
    (
        "tab",
        "service: payments\nrows:\n\t- title: A\n",
        [
            "services/payments.yaml:3:1: error: invalid YAML: a tab character indents this line, but YAML indents with spaces only; replace the tab with spaces [yaml/syntax]"
        ],
    ),
    (
        "threshold",
        HEADER
        + 'rows:\n  - title: A\n    panels:\n      - title: E\n        query: up\n        thresholds: "<1% Green, 2-5% Yellow, >5% Red"\n',
        [
            # The bounds of a text with a gap are still checked against the unit.
            "services/payments.yaml:10:23: error: threshold 1% is a percentage, but the query's unit is unknown (unit short); set unit: percent if the query gives percentages from 0 to 100, or percentunit if it gives ratios from 0 to 1 [thresholds/unit]",
            "services/payments.yaml:10:33: error: threshold bands leave a gap between 1% and 2%; colour it with a band such as 1%-2% Yellow, or start the next band at 1% [thresholds/syntax]",
        ],
    ),
    (
        "threshold-items",
        HEADER
        + 'rows:\n  - title: A\n    panels:\n      - title: E\n        query: up\n        thresholds: "0=green, 5=rde, ,10=blue"\n',
        [
            'services/payments.yaml:10:33: error: unknown colour "rde" (did you mean "red"?) [thresholds/syntax]',
            "services/payments.yaml:10:38: error: empty threshold item [thresholds/syntax]",
        ],
    ),
    (
        "threshold-steps",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - title: E\n        query: up\n        thresholds:\n"
        + "          steps: [green, {value: 5, color: rde}, {value: 1, color: red}]\n",
        [
            'services/payments.yaml:11:44: error: unknown colour "rde" (did you mean "red"?) [thresholds/syntax]',
            "services/payments.yaml:11:58: error: steps must be in strictly ascending order of value [thresholds/syntax]",
        ],
    ),
    # Single-field rules of the schema, which editors apply too.
    (
        "port-out-of-range",
        "service: payments\nscrape: {job: payments, port: 70000}\n",
        [
            "services/payments.yaml:2:31: error: scrape.port must be at most 65535, not 70000 [manifest/schema]",
        ],
    ),
    (
        "dashboard-uid-too-long",
        HEADER + "dashboard: {uid: " + "u" * 41 + "}\n",
        [
            "services/payments.yaml:5:18: error: dashboard.uid has 41 characters, more than the 40 it may have; Grafana allows at most 40 characters from [A-Za-z0-9_-] [manifest/schema]",
        ],
    ),
    (
        "metric-label-twice",
        "service: payments\nscrape: {job: payments, port: 8080}\nmetrics:\n  http_requests_total: {type: counter, labels: [route, route]}\n",
        [
            'services/payments.yaml:4:56: error: metrics.http_requests_total.labels lists "route" twice (first at index 0); remove one [manifest/schema]',
        ],
    ),
    (
        "histogram-label-le",
        "service: payments\nscrape: {job: payments, port: 8080}\nmetrics:\n  latency_seconds: {type: histogram, labels: [route, le]}\n",
        [
            'services/payments.yaml:4:54: error: metrics.latency_seconds.labels[1] "le" is invalid: the client library adds le to every histogram sample [manifest/schema]',
        ],
    ),
    (
        "summary-label-quantile",
        "service: payments\nscrape: {job: payments, port: 8080}\nmetrics:\n  latency_seconds: {type: summary, labels: [quantile]}\n",
        [
            'services/payments.yaml:4:45: error: metrics.latency_seconds.labels[0] "quantile" is invalid: the client library adds quantile to every summary sample [manifest/schema]',
        ],
    ),
    (
        "metric-label-reserved-prefix",
        "service: payments\nscrape: {job: payments, port: 8080}\nmetrics:\n  jobs_total: {type: counter, labels: [__queue]}\n",
        [
            'services/payments.yaml:4:40: error: metrics.jobs_total.labels[0] "__queue" is invalid: use ASCII letters, digits and _, not starting with a digit or "__", which Prometheus reserves [manifest/schema]',
        ],
    ),
    (
        "scrape-label-job",
        "service: payments\nscrape: {job: payments, port: 8080, labels: {job: other}}\n",
        [
            'services/payments.yaml:2:46: error: scrape.labels: key "job" is invalid: it replaces the scrape job\'s name, so queries that select job="..." find nothing; use another label name [manifest/schema]',
        ],
    ),
    (
        "scrape-label-name",
        "service: payments\nscrape: {job: payments, port: 8080, labels: {bad-name: x}}\n",
        [
            'services/payments.yaml:2:46: error: scrape.labels: key "bad-name" is invalid: use ASCII letters, digits and _, not starting with a digit or "__", which Prometheus reserves [manifest/schema]',
        ],
    ),
    (
        "scrape-path-query",
        "service: payments\nscrape: {job: payments, port: 8080, path: '/m?x=1'}\n",
        [
            'services/payments.yaml:2:43: error: scrape.path "/m?x=1" is invalid: start it with "/", such as /metrics, and give the path alone, without a query, fragment or control character [manifest/schema]',
        ],
    ),
    (
        "scrape-path-relative",
        "service: payments\nscrape: {job: payments, port: 8080, path: metrics}\n",
        [
            'services/payments.yaml:2:43: error: scrape.path "metrics" is invalid: start it with "/", such as /metrics, and give the path alone, without a query, fragment or control character [manifest/schema]',
        ],
    ),
    (
        "scrape-interval-zero",
        "service: payments\nscrape: {job: payments, port: 8080, interval: 0s}\n",
        [
            'services/payments.yaml:2:47: error: scrape.interval "0s" is invalid: it must be longer than 0s; leave it out to use the global setting [manifest/schema]',
        ],
    ),
    (
        "probe-module-blank",
        "service: probes\nscrape: {job: bb, targets: [a], probe: {exporter: 'bb:9115', module: 'http 2xx'}}\n",
        [
            'services/payments.yaml:2:70: error: scrape.probe.module "http 2xx" is invalid: write a module name of the exporter, such as http_2xx, without blanks or control characters [manifest/schema]',
        ],
    ),
    (
        "alert-label-derived",
        HEADER + "alerts: {labels: {severity: page}}\n",
        [
            'services/payments.yaml:5:19: error: alerts.labels: key "severity" is invalid: it is set from the colour of the band (critical for red, warning for yellow), so this value would be lost; route on another label, such as "priority" [manifest/schema]',
        ],
    ),
    (
        "alert-label-empty",
        HEADER + "alerts: {labels: {team: ''}}\n",
        [
            "services/payments.yaml:5:25: error: alerts.labels.team must not be empty; Prometheus drops empty labels, so give it a value or remove it [manifest/schema]",
        ],
    ),
    (
        "alert-annotation-derived",
        HEADER + "alerts: {annotations: {summary: x, dashboard_url: z}}\n",
        [
            "services/payments.yaml:5:24: error: alerts.annotations: key \"summary\" is invalid: it is set from the summary: key of the panel's alert, so this value would be lost; write it as summary: under the panel's alert: [manifest/schema]",
            "services/payments.yaml:5:36: error: alerts.annotations: key \"dashboard_url\" is invalid: it is set from grafana_url, the dashboard's uid and the panel's id, so this value would be lost; use another name [manifest/schema]",
        ],
    ),
    (
        "alert-label-name",
        HEADER + "alerts: {labels: {__team: x}}\n",
        [
            'services/payments.yaml:5:19: error: alerts.labels: key "__team" is invalid: use ASCII letters, digits and _, not starting with a digit or "__", which Prometheus reserves [manifest/schema]',
        ],
    ),
    (
        "dashboard-tag-too-long",
        HEADER + "dashboard: {tags: [" + "t" * 51 + "]}\n",
        [
            "services/payments.yaml:5:20: error: dashboard.tags[0] has 51 characters, more than the 50 it may have; Grafana's database keeps at most 50 characters of a tag, so saving the dashboard fails on MySQL and PostgreSQL [manifest/schema]",
        ],
    ),
    (
        "integer-too-large",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - {title: E, query: up, height: 100000000000000000}\n",
        [
            "services/payments.yaml:8:39: error: rows[0].panels[0].height must be at most 9007199254740991, not 100000000000000000; 9007199254740991 is the largest integer that dashboards keep exactly [manifest/schema]"
        ],
    ),
    (
        "integer-hundreds-of-digits",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - {title: E, query: up, max: 1"
        + "0" * 400
        + "}\n",
        [
            "services/payments.yaml:8:36: error: rows[0].panels[0].max is a 401-digit number, beyond ±9007199254740991, the largest integer that dashboards and Prometheus keep exactly [manifest/schema]"
        ],
    ),
    (
        "mistyped-number-reported-once",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - {title: E, query: up, width: 1e308}\n",
        [
            "services/payments.yaml:8:38: error: rows[0].panels[0].width must be at most 24, not 1e+308 [manifest/schema]"
        ],
    ),
    (
        "long-integer-reported-once",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - {title: E, query: up, decimals: 1"
        + "0" * 400
        + "}\n",
        [
            "services/payments.yaml:8:41: error: rows[0].panels[0].decimals must be at most 20, not a 401-digit number [manifest/schema]"
        ],
    ),
    (
        "duration-too-long",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - title: E\n        query: up\n"
        + '        thresholds: "<1 Red, >=1 Green"\n        alert: {for: 106751d23h47m16s855ms}\n',
        [
            "services/payments.yaml:11:22: error: rows[0].panels[0].alert.for 106751d23h47m16s855ms is longer than Prometheus accepts (about 292 years, 106751d23h47m16s854ms) [manifest/schema]"
        ],
    ),
    (
        "decimals-above-20",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - {title: E, query: up, decimals: 21}\n",
        [
            "services/payments.yaml:8:41: error: rows[0].panels[0].decimals must be at most 20, not 21 [manifest/schema]"
        ],
    ),
    (
        "threshold-number-too-large",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - title: E\n        query: up\n"
        + '        thresholds: "<1'
        + "0" * 400
        + ' Green, >5 Red"\n',
        [
            "services/payments.yaml:10:23: error: number too large: 1"
            + "0" * 74
            + "..."
            + "0" * 36
            + " is beyond about 1.8e308, the largest number Prometheus and Grafana hold; write a smaller number [thresholds/syntax]"
        ],
    ),
    (
        "yaml-tags",
        HEADER
        + "rows:\n  - title: !foo A\n    panels:\n"
        + "      - {title: !!int E, query: up, width: !!float wide}\n",
        [
            "services/payments.yaml:6:12: error: unknown tag !foo: obscompile reads plain YAML and resolves no custom tags; write the value itself, without the tag [yaml/tag]",
            "services/payments.yaml:8:17: error: the tag !!int needs an integer, not 'E'; remove the tag or correct the value [yaml/tag]",
            "services/payments.yaml:8:44: error: the tag !!float needs a number, not 'wide'; remove the tag or correct the value [yaml/tag]",
        ],
    ),
    (
        "yaml-timestamp-tag",
        HEADER + "title: !!timestamp 2024-01-01\ndescription: !!timestamp it's\n",
        [
            "services/payments.yaml:5:8: error: unsupported tag !!timestamp: obscompile has no date or time values; to keep the text, remove the tag and quote it: '2024-01-01' [yaml/tag]",
            "services/payments.yaml:6:14: error: unsupported tag !!timestamp: obscompile has no date or time values; to keep the text, remove the tag and quote it: 'it''s' [yaml/tag]",
        ],
    ),
    (
        "yaml-binary-set-omap-tags",
        HEADER
        + "title: !!binary UGF5bWVudHM=\n"
        + "dashboard:\n  tags: !!set {a, b}\n  folder: !!omap [{a: 1}]\n",
        [
            "services/payments.yaml:5:8: error: unsupported tag !!binary: obscompile has no binary values; remove the tag and write the text it encodes as a string: 'Payments' [yaml/tag]",
            "services/payments.yaml:7:9: error: unsupported tag !!set: remove the tag and write the items as a list: [a, b] [yaml/tag]",
            "services/payments.yaml:8:11: error: unsupported tag !!omap: remove the tag and write the entries as one mapping, one key: value per line; obscompile keeps the order of a mapping's keys [yaml/tag]",
        ],
    ),
    (
        "yaml-custom-tags",
        HEADER
        + "title: !Ref PaymentsTitle\n!Sub description: x\nruntime: !!python/str python\n",
        [
            "services/payments.yaml:5:8: error: unknown tag !Ref: obscompile reads plain YAML and resolves no custom tags; write the value itself, without the tag [yaml/tag]",
            "services/payments.yaml:6:1: error: unknown tag !Sub: obscompile reads plain YAML and resolves no custom tags; write the value itself, without the tag [yaml/tag]",
            "services/payments.yaml:7:10: error: unsupported tag !!python/str: obscompile reads only strings, numbers, booleans, null, lists and mappings, so remove the tag [yaml/tag]",
        ],
    ),
    (
        "yaml-1-1-word-for-a-boolean",
        HEADER
        + "rows:\n  - title: A\n    panels:\n"
        + "      - {title: E, query: up, alert: {warning: yes}, record: 'true'}\n",
        [
            'services/payments.yaml:8:48: error: rows[0].panels[0].alert.warning must be true or false, not a string; write true, because YAML 1.2 reads "yes" as text [manifest/schema]',
            "services/payments.yaml:8:62: error: rows[0].panels[0].record must be true or false, not a string; write true without quotes [manifest/schema]",
        ],
    ),
    (
        # The red band's alert never fires, which is an error. The panel without
        # alerts only shows a colour that no value gets, which is a warning.
        "histogram-threshold-above-largest-bucket",
        HISTOGRAM_HEADER
        + "rows:\n  - title: A\n    panels:\n"
        + f"      - {{title: P95, query: '{EDGE_P95}', thresholds: '>750 Red'}}\n"
        + f"      - {{title: P95 shown, query: '{EDGE_P95}', thresholds: '>750 Red', "
        + "alert: false}\n",
        [
            "services/payments.yaml:8:149: error: threshold 750s lies above 5s, the largest value of this query: histogram_quantile returns the largest finite bucket of http_request_duration_seconds, 5, where the quantile falls in the +Inf bucket, and never more. So alert PaymentsP95Critical (value >= 750) never fires; add a bucket of at least 750 to http_request_duration_seconds, lower the threshold to 5s or below, or write 750ms if the threshold is in milliseconds (a bare number is in the panel's unit, s) [thresholds/histogram-range]",
            "services/payments.yaml:9:155: warning: threshold 750s (red) lies above 5s, the largest value of this query: histogram_quantile returns the largest finite bucket of http_request_duration_seconds, 5, where the quantile falls in the +Inf bucket, and never more. No value reaches the threshold; add a bucket of at least 750 to http_request_duration_seconds, lower the threshold to 5s or below, or write 750ms if the threshold is in milliseconds (a bare number is in the panel's unit, s) [thresholds/histogram-range]",
        ],
    ),
    (
        # The alert compares the ratio with 2, and so fires at 200%.
        "percent-unit-on-alerted-ratio",
        HEADER
        + "rows:\n  - title: A\n    panels:\n"
        + f"      - {{title: Errors, unit: percent, query: '{ERROR_RATIO}', "
        + "thresholds: '>2% Red'}\n"
        + f"      - {{title: Errors shown, unit: percent, query: '{ERROR_RATIO}', "
        + "thresholds: '>2% Red', alert: false}\n",
        [
            'services/payments.yaml:8:180: error: threshold 2% (red): alert PaymentsErrorsCritical fires for values at or above 200%, not at or above 2% as the panel shows, because unit "percent" reads the values as percentages from 0 to 100, but the query gives ratios from 0 to 1; set unit: percentunit, or multiply the query by 100 [dashboard/unit-scale]',
            'services/payments.yaml:9:37: warning: unit "percent" reads the values as percentages from 0 to 100, but the query gives ratios from 0 to 1; set unit: percentunit, or multiply the query by 100 [dashboard/unit-scale]',
        ],
    ),
    (
        "unquoted-date-for-a-number",
        HEADER
        + "rows:\n  - title: A\n    panels:\n"
        + "      - {title: E, query: up, decimals: 2024-01-01}\n",
        [
            "services/payments.yaml:8:41: error: rows[0].panels[0].decimals must be an integer, not the unquoted date 2024-01-01 [manifest/schema]",
        ],
    ),
    (
        "yaml-tag-of-other-kind",
        HEADER
        + "dashboard: !!seq {title: T}\nrows: !!str\n  - {title: A, panels: []}\n",
        [
            "services/payments.yaml:5:12: error: the tag !!seq needs a list, not a mapping; remove the tag [yaml/tag]",
            "services/payments.yaml:6:7: error: the tag !!str needs a single value, not a list; remove the tag [yaml/tag]",
        ],
    ),
    (
        "yaml-merge-key",
        HEADER
        + "x-panel: &panel {title: E, query: up}\nrows:\n  - title: A\n    panels:\n"
        + "      - <<: *panel\n        title: F\n",
        [
            "services/payments.yaml:9:9: error: merge keys (<<) are not supported; write the keys of the mapping out [yaml/tag]"
        ],
    ),
    (
        "top-level-extension-key",
        HEADER + "x-panel: {title: E, query: up}\n",
        [
            'services/payments.yaml:5:1: error: unknown key "x-panel" in the manifest; expected one of alerts, dashboard, description, metric_blocks, metrics, rows, runtime, scrape, service, service_key, title [manifest/schema]'
        ],
    ),
    (
        "missing-comma-at-line-end",
        "service: payments\nscrape: {\n  job: payments\n  port: 8080\n}\n",
        [
            "services/payments.yaml:3:16: error: invalid YAML: did not find expected "
            "',' or '}' (in the flow mapping that starts at line 2, column 9) [yaml/syntax]"
        ],
    ),
    (
        "negative-overflow-in-range",
        HEADER
        + "rows:\n  - title: A\n    panels:\n"
        + "      - {title: E, query: up, capacity: -1e999}\n",
        [
            "services/payments.yaml:8:41: error: rows[0].panels[0].capacity must be above 0, not -1e999 [manifest/schema]"
        ],
    ),
    (
        "yaml-underscore-is-text",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - {title: E, query: up, decimals: _}\n",
        [
            "services/payments.yaml:8:41: error: rows[0].panels[0].decimals must be an integer, not a string [manifest/schema]"
        ],
    ),
    (
        "job-with-space",
        "service: payments\nscrape: {job: pay ments, port: 8080}\n",
        [
            'services/payments.yaml:2:15: error: scrape.job "pay ments" is invalid: use ASCII letters, digits, _, - and ., starting with a letter or _ [manifest/schema]'
        ],
    ),
    (
        "service-name-too-long",
        "service: " + "a" * 101 + "\nscrape: {job: payments, port: 8080}\n",
        [
            "services/payments.yaml:1:10: error: service has 101 characters, more than the 100 it may have [manifest/schema]"
        ],
    ),
    (
        "legend-template-needs-quotes",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - title: E\n        query: up\n"
        + "        legend: {{instance}}\n",
        [
            "services/payments.yaml:10:18: error: mapping keys must be plain strings; {{instance}} is a template only when quoted: write '{{instance}}' [yaml/key]"
        ],
    ),
    (
        "legend-options",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - title: E\n        query: up\n"
        + "        legend: {mode: table, calcs: [mean]}\n",
        [
            "services/payments.yaml:10:17: error: rows[0].panels[0].legend must be a string, not a mapping; legend is the text that names each series (Grafana's legendFormat), such as '{{route}}', and the legend's layout comes from the panel's template, which a template in the project's templates/ folder can replace [manifest/schema]"
        ],
    ),
    (
        "grafana-panel-type",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - {title: E, query: up, type: graph}\n",
        [
            'services/payments.yaml:8:37: error: rows[0].panels[0].type "graph" is not one of stat, gauge, timeseries, table, barchart, piechart, heatmap; for Grafana\'s graph panel, write timeseries [manifest/schema]'
        ],
    ),
    (
        "panel-type",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - {title: E, query: up, type: grpah}\n",
        [
            'services/payments.yaml:8:37: error: rows[0].panels[0].type "grpah" is not one of stat, gauge, timeseries, table, barchart, piechart, heatmap [manifest/schema]'
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input(project: Path, text: str, expected: list[str]) -> None:
    write_manifest(project, "payments.yaml", text)
    code, output = run_build(project)
    assert error_lines(output) == expected
    assert code == 1
    assert "Traceback" not in output
    assert not (project / "out").exists()


def test_integer_written_as_decimal_builds(project: Path) -> None:
    """JSON Schema counts 24.0 as an integer, and the dashboard gets 24."""
    write_manifest(
        project,
        "payments.yaml",
        HEADER
        + "rows:\n  - title: A\n    panels:\n"
        + f"      - {GOOD_PANEL[:-1]}, height: 24.0, width: 12.0, decimals: 2.0}}\n",
    )
    code, output = run_build(project)
    assert code == 0, output
    dashboard = json.loads(
        (project / "out/grafana/dashboards/payments.json").read_text(encoding="utf-8")
    )
    panel = dashboard["panels"][1]
    assert panel["gridPos"]["h"] == 24
    assert isinstance(panel["gridPos"]["h"], int)
    assert isinstance(panel["gridPos"]["w"], int)
    assert panel["fieldConfig"]["defaults"]["decimals"] == 2
    assert isinstance(panel["fieldConfig"]["defaults"]["decimals"], int)


def test_colour_only_threshold_builds(project: Path) -> None:
    """A threshold that no value reaches and no alert reads is only a warning."""
    write_manifest(
        project,
        "payments.yaml",
        HISTOGRAM_HEADER
        + "rows:\n  - title: A\n    panels:\n"
        + f"      - {{title: P95, query: '{EDGE_P95}', thresholds: '>750 Red', "
        + "alert: false}\n",
    )
    code, output = run_build(project)
    assert [line.split(": ")[1] for line in error_lines(output)] == ["warning"]
    assert "[thresholds/histogram-range]" in output
    assert code == 0


def test_unknown_type_suggestion(project: Path) -> None:
    write_manifest(
        project,
        "payments.yaml",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - {title: E, query: up, type: stats}\n",
    )
    _, output = run_build(project)
    assert '(did you mean "stat"?)' in output


def test_all_problems_in_one_run(project: Path) -> None:
    write_manifest(project, "a.yaml", "service: a\ndashbord: {}\n")
    write_manifest(
        project, "b.yaml", "service: b\nrows: [{title: R, panels: [{title: P}]}]\n"
    )
    write_manifest(project, "c.yaml", "service: c\nrows:\n\t- x\n")
    code, output = run_build(project)
    assert code == 1
    assert error_lines(output) == [
        'services/a.yaml:2:1: error: unknown key "dashbord" in the manifest (did you mean "dashboard"?) [manifest/schema]',
        'services/b.yaml:2:28: error: missing key "query" in rows[0].panels[0] [manifest/schema]',
        "services/c.yaml:3:1: error: invalid YAML: a tab character indents this line, but YAML indents with spaces only; replace the tab with spaces [yaml/syntax]",
    ]


def test_source_line_and_caret(project: Path) -> None:
    write_manifest(project, "payments.yaml", "service: payments\ndashbord: {}\n")
    _, output = run_build(project)
    lines = output.splitlines()
    index = lines.index(
        'services/payments.yaml:2:1: error: unknown key "dashbord" in the manifest (did you mean "dashboard"?) [manifest/schema]'
    )
    assert lines[index + 1] == "  dashbord: {}"
    assert lines[index + 2] == "  ^"


def test_job_names_with_hyphens_and_dots(project: Path) -> None:
    """Prometheus takes any job name; hyphens and dots are common in them."""
    write_manifest(
        project,
        "billing.yaml",
        "service: billing\n"
        "scrape: [{job: billing-worker, port: 8001}, {job: billing.api, port: 8002}]\n"
        "metrics: {jobs_total: counter}\n"
        "rows:\n  - title: R\n    panels:\n"
        "      - {title: A, query: 'sum(rate(jobs_total{job=\"billing-worker\"}[5m]))'}\n"
        "      - {title: B, query: 'sum(rate(jobs_total{job=\"billing.api\"}[5m]))'}\n",
    )
    code, output = run_build(project)
    assert code == 0, output
    config = (project / "out" / "prometheus" / "prometheus.yml").read_text()
    assert "job_name: billing-worker" in config
    assert "job_name: billing.api" in config


SHOP = """service: payments
dashboard: {uid: shop}
scrape: {job: payments, port: 8080}
metrics:
  http_requests_total: {type: counter, labels: [code]}
rows:
  - title: Traffic
    panels:
      - title: RPS
        query: 'sum by (job) (rate(http_requests_total{job="payments"}[5m]))'
        thresholds: "<1 Green, >1 Red"
"""
RECORDED_AGAIN = (
    'services/b.yaml:6:16: warning: recording rule "job:http_requests:rate5m" is '
    "also recorded at services/a.yaml:10:16 with the same expression, so two rule "
    "groups write its series; set record: false on the panel of one of them "
    "[artifacts/duplicate-recording]"
)
RECORDED_FIRST = (
    'services/a.yaml:10:16: warning: recording rule "job:http_requests:rate5m" is '
    "also recorded at services/b.yaml:6:16 with the same expression, so two rule "
    "groups write its series; set record: false on the panel of one of them "
    "[artifacts/duplicate-recording]"
)
# Each of two definitions is reported at its name, and the message gives the line and
# column of the other one.
DUPLICATES = [
    (
        "yaml-service-and-job",
        {"b.yaml": "service: payments\nscrape: {job: payments, port: 8081}\n"},
        [
            'services/a.yaml:1:10: error: service "payments" is also defined in '
            "services/b.yaml:1:10 [project/duplicate-service]",
            'services/a.yaml:3:15: error: scrape job "payments" is also defined in '
            "services/b.yaml:2:15 [project/duplicate-job]",
            'services/b.yaml:1:10: error: service "payments" is also defined in '
            "services/a.yaml:1:10 [project/duplicate-service]",
            'services/b.yaml:2:15: error: scrape job "payments" is also defined in '
            "services/a.yaml:3:15 [project/duplicate-job]",
        ],
    ),
    (
        "yaml-uid",
        {"b.yaml": "service: orders\ndashboard: {uid: shop}\n"},
        [
            'services/a.yaml:2:18: error: dashboard uid "shop" is also defined in '
            "services/b.yaml:2:18 [project/duplicate-uid]",
            'services/b.yaml:2:18: error: dashboard uid "shop" is also defined in '
            "services/a.yaml:2:18 [project/duplicate-uid]",
        ],
    ),
    (
        "python-service-and-job",
        {
            "b.py": "from obscompile import dsl\n\ndsl.service(\n"
            '    "payments",\n    scrape=dsl.scrape_job("payments", port=8081),\n)\n'
        },
        [
            'services/a.yaml:1:10: error: service "payments" is also defined in '
            "services/b.py:4:5 [project/duplicate-service]",
            'services/a.yaml:3:15: error: scrape job "payments" is also defined in '
            "services/b.py:5:27 [project/duplicate-job]",
            'services/b.py:4:5: error: service "payments" is also defined in '
            "services/a.yaml:1:10 [project/duplicate-service]",
            'services/b.py:5:27: error: scrape job "payments" is also defined in '
            "services/a.yaml:3:15 [project/duplicate-job]",
        ],
    ),
    (
        # key=None sets no key, so the name is what the call writes for it.
        "python-service-without-key",
        {"b.py": 'from obscompile import dsl\n\ndsl.service("payments!", key=None)\n'},
        [
            'services/a.yaml:1:10: error: service "payments" resolves to the same '
            'service as "payments!" in services/b.py:3:13, because both have the '
            'service key "payments", which names the service\'s files; rename one '
            "of them [project/duplicate-service]",
            'services/b.py:3:13: error: service "payments!" resolves to the same '
            'service as "payments" in services/a.yaml:1:10, because both have the '
            'service key "payments", which names the service\'s files; rename one '
            "of them [project/duplicate-service]",
        ],
    ),
    (
        "python-uid",
        {
            "b.py": "from obscompile import dsl\n\n"
            'dsl.service("orders", dashboard=dsl.dashboard("shop", "Orders"))\n'
        },
        [
            'services/a.yaml:2:18: error: dashboard uid "shop" is also defined in '
            "services/b.py:3:47 [project/duplicate-uid]",
            'services/b.py:3:47: error: dashboard uid "shop" is also defined in '
            "services/a.yaml:2:18 [project/duplicate-uid]",
        ],
    ),
    (
        # The duplicate service names both manifests, so their uids are not reported.
        "yaml-service-differing-in-case",
        {"b.yaml": "service: Payments\ndashboard: {uid: Shop}\n"},
        [
            'services/a.yaml:1:10: error: service "payments" differs only in case from '
            '"Payments" in services/b.yaml:1:10, and their files collide on '
            "case-insensitive file systems [project/duplicate-service]",
            'services/b.yaml:1:10: error: service "Payments" differs only in case from '
            '"payments" in services/a.yaml:1:10, and their files collide on '
            "case-insensitive file systems [project/duplicate-service]",
        ],
    ),
    (
        "recording-rule",
        {
            "b.yaml": "service: overview\nrows:\n  - title: Traffic\n    panels:\n"
            "      - title: RPS\n"
            "        query: 'sum by (job) (rate(http_requests_total{job=\"payments\"}[5m]))'\n"
            '        thresholds: "<1 Green, >1 Red"\n'
        },
        [RECORDED_FIRST, RECORDED_AGAIN],
    ),
]


@pytest.mark.parametrize(
    ("files", "expected"), [c[1:] for c in DUPLICATES], ids=[c[0] for c in DUPLICATES]
)
def test_duplicate_names_both_positions(
    project: Path, files: dict[str, str], expected: list[str]
) -> None:
    write_manifest(project, "a.yaml", SHOP)
    for name, text in files.items():
        write_manifest(project, name, text)
    _, output = run_build(project)
    assert error_lines(output) == expected
    assert "Traceback" not in output


PAYMENTS_BLOCK_STYLE = """service: payments
dashboard:
  uid: payments-overview
scrape:
  job: payments
  port: 8080
"""


def test_copy_reports_both_manifests(project: Path) -> None:
    """A copy that sorts first gets an error, and so does the file it copies."""
    write_manifest(project, "payments.yaml", PAYMENTS_BLOCK_STYLE)
    copy = PAYMENTS_BLOCK_STYLE.replace("service: payments", "service: payments-eu")
    write_manifest(project, "a_copy.yaml", copy)
    code, output = run_build(project)
    assert code == 1
    assert error_lines(output) == [
        'services/a_copy.yaml:3:8: error: dashboard uid "payments-overview" is also '
        "defined in services/payments.yaml:3:8 [project/duplicate-uid]",
        'services/a_copy.yaml:5:8: error: scrape job "payments" is also defined in '
        "services/payments.yaml:5:8 [project/duplicate-job]",
        'services/payments.yaml:3:8: error: dashboard uid "payments-overview" is '
        "also defined in services/a_copy.yaml:3:8 [project/duplicate-uid]",
        'services/payments.yaml:5:8: error: scrape job "payments" is also defined '
        "in services/a_copy.yaml:5:8 [project/duplicate-job]",
    ]
    lines = output.splitlines()
    at_original = lines.index(error_lines(output)[2])
    assert lines[at_original + 1 : at_original + 3] == [
        "    uid: payments-overview",
        "         ^",
    ]
    assert not (project / "out").exists()


def good_service(name: str) -> str:
    return (
        f"service: {name}\nscrape: {{job: {name}, port: 8080}}\n"
        "rows:\n  - title: R\n    panels:\n"
        f"      - {{title: Up, query: 'sum(up{{job=\"{name}\"}})'}}\n"
    )


FAILING_MANIFESTS = {
    "schema-error": ("c.yaml", "service: c\nrows: 5\n"),
    "yaml-error": ("c.yaml", "service: c\nrows: [\n"),
    "python-error": ("c.py", "from obscompile import dsl\n\nraise KeyError('c')\n"),
}


@pytest.mark.parametrize("command", ["build", "check"])
@pytest.mark.parametrize(
    ("name", "text"), FAILING_MANIFESTS.values(), ids=FAILING_MANIFESTS.keys()
)
def test_summary_counts_failed_manifests(
    project: Path, command: str, name: str, text: str
) -> None:
    write_manifest(project, "a.yaml", good_service("a"))
    write_manifest(project, "b.yaml", good_service("b"))
    write_manifest(project, name, text)
    result = CliRunner().invoke(main, [command, "--project", str(project)])
    summary = result.output.splitlines()[-1]
    assert result.exit_code == 1
    assert summary.startswith(
        "obscompile: 3 services (1 failed to load), 2 dashboards, 2 panels, 1 error, "
    )


def test_summary_counts_unreadable_link(project: Path) -> None:
    write_manifest(project, "a.yaml", good_service("a"))
    (project / "services" / "b.yaml").symlink_to("missing.yaml")
    code, output = run_build(project)
    assert code == 1
    assert output.splitlines()[-1].startswith(
        "obscompile: 2 services (1 failed to load), 1 dashboard, 1 panel, 1 error, "
    )


def test_summary_counts_after_cached_build(project: Path) -> None:
    write_manifest(project, "a.yaml", good_service("a"))
    write_manifest(project, "b.yaml", good_service("b"))
    code, output = run_build(project)
    assert code == 0
    assert output.splitlines()[-1].startswith("obscompile: 2 services, 2 dashboards, ")
    write_manifest(project, "b.yaml", "service: b\nrows: 5\n")
    code, output = run_build(project)
    assert code == 1
    assert output.splitlines()[-1].startswith(
        "obscompile: 2 services (1 failed to load), 1 dashboard, 1 panel, 1 error, "
    )


def test_failed_first_build_writes_nothing(project: Path) -> None:
    write_manifest(project, "payments.yaml", "service: payments\nrows: 5\n")
    code, output = run_build(project)
    assert code == 1
    assert output.endswith(f"; {project / 'out'} is not written\n")
    assert not (project / "out").exists()


def test_failed_build_keeps_out(project: Path) -> None:
    write_manifest(
        project,
        "payments.yaml",
        HEADER + f"rows:\n  - title: A\n    panels:\n      - {GOOD_PANEL}\n",
    )
    code, _ = run_build(project)
    assert code == 0
    before = {p: p.read_bytes() for p in (project / "out").rglob("*") if p.is_file()}
    (project / "out" / "notes.txt").write_text("mine")
    write_manifest(project, "payments.yaml", "service: payments\nrows: 5\n")
    code, output = run_build(project)
    assert code == 1
    assert output.endswith(f"; {project / 'out'} is left as it was\n")
    after = {
        p: p.read_bytes()
        for p in (project / "out").rglob("*")
        if p.is_file() and p.name != "notes.txt"
    }
    assert after == before
    assert (project / "out" / "notes.txt").read_text() == "mine"


def test_dashboard_id_and_version_ignored(project: Path) -> None:
    write_manifest(
        project,
        "payments.yaml",
        "service: payments\ndashboard:\n  id: 4711\n  version: 17\nrows: []\n",
    )
    code, output = run_build(project)
    assert code == 0
    assert error_lines(output) == [
        "services/payments.yaml:3:3: warning: dashboard.id is assigned by Grafana per instance and is ignored [dashboard/ignored-field]",
        "services/payments.yaml:4:3: warning: dashboard.version is assigned by Grafana on every save and is ignored [dashboard/ignored-field]",
    ]


def test_identifier_required_for_unicode_service(project: Path) -> None:
    write_manifest(project, "payments.yaml", 'service: "Платежи 💳"\n')
    code, output = run_build(project)
    assert code == 1
    assert error_lines(output) == [
        'services/payments.yaml:1:10: error: cannot derive an identifier from service "Платежи 💳"; set service_key: my-service [manifest/identifier]'
    ]


def test_invalid_uid(project: Path) -> None:
    write_manifest(
        project,
        "payments.yaml",
        "service: payments\ndashboard: {uid: a.b/c}\nrows: []\n",
    )
    code, output = run_build(project)
    assert code == 1
    assert error_lines(output) == [
        'services/payments.yaml:2:18: error: dashboard.uid "a.b/c" is invalid: Grafana allows at most 40 characters from [A-Za-z0-9_-] [manifest/schema]'
    ]


def test_short_refresh_warns(project: Path) -> None:
    """Grafana saves a refresh below 5s as 5s, and the build still succeeds."""
    write_manifest(
        project,
        "payments.yaml",
        HEADER
        + "dashboard: {refresh: 1s}\n"
        + f"rows:\n  - title: Traffic\n    panels:\n      - {GOOD_PANEL}\n",
    )
    code, output = run_build(project)
    assert code == 0
    assert error_lines(output) == [
        'services/payments.yaml:5:22: warning: dashboard.refresh "1s" is shorter than '
        "5s, Grafana's default min_refresh_interval, so Grafana saves the dashboard "
        'with refresh 5s instead; write 5s or longer, or "" for no refresh '
        "[dashboard/refresh]"
    ]
    written = project / "out" / "grafana" / "dashboards" / "payments.json"
    assert json.loads(written.read_text())["refresh"] == "1s"


def test_empty_timezone_written_through(project: Path) -> None:
    """Grafana reads an empty time zone as the viewer's preference, so it is kept."""
    write_manifest(
        project,
        "payments.yaml",
        HEADER
        + 'dashboard: {timezone: ""}\n'
        + f"rows:\n  - title: Traffic\n    panels:\n      - {GOOD_PANEL}\n",
    )
    code, output = run_build(project)
    assert code == 0, output
    assert error_lines(output) == []
    written = project / "out" / "grafana" / "dashboards" / "payments.json"
    assert json.loads(written.read_text())["timezone"] == ""


def test_uid_longer_than_grafana_column(project: Path) -> None:
    """Grafana's uid columns hold 40 characters, so a 41st is an error."""
    for uid, expected in (("u" * 40, []), ("u" * 41, ["manifest/schema"])):
        write_manifest(
            project,
            "payments.yaml",
            f"service: payments\ndashboard: {{uid: {uid}}}\nrows: []\n",
        )
        code, output = run_build(project)
        assert code == (1 if expected else 0), output
        assert [line.rsplit("[", 1)[1].rstrip("]") for line in error_lines(output)] == (
            expected
        )


@pytest.mark.parametrize(
    ("renamed", "warnings"),
    [
        ("_payments.yaml", []),
        (
            "payments.YAML",
            [
                "services/payments.YAML:1:1: warning: payments.YAML is not read: "
                "obscompile reads the manifests whose names end in .yaml, .yml or "
                ".py, in lower case; rename it to payments.yaml [io/not-read]"
            ],
        ),
    ],
    ids=["skipped", "not-read"],
)
def test_empty_services_keeps_out(
    project: Path, renamed: str, warnings: list[str]
) -> None:
    write_manifest(project, "payments.yaml", HEADER)
    code, output = run_build(project)
    assert code == 0, output
    before = {p: p.read_bytes() for p in (project / "out").rglob("*") if p.is_file()}
    (project / "services" / "payments.yaml").rename(project / "services" / renamed)
    for arguments in ((), ("--no-cache",)):
        code, output = run_build(project, *arguments)
        assert error_lines(output) == [
            "services:1:1: error: services folder has no manifests: add service "
            "manifests (.yaml or .yml) or Python service modules (.py); names that "
            "start with . or _ are skipped [project/no-services]",
            *warnings,
        ]
        assert code == 1
        assert "Traceback" not in output
        after = {p: p.read_bytes() for p in (project / "out").rglob("*") if p.is_file()}
        assert after == before


@pytest.mark.parametrize(
    "module",
    ["import os\nprint('hi')\n", "from obscompile import dsl\n"],
    ids=["not-run", "declares-none"],
)
def test_modules_without_services_keep_out(project: Path, module: str) -> None:
    write_manifest(project, "payments.yaml", HEADER)
    code, output = run_build(project)
    assert code == 0, output
    before = {p: p.read_bytes() for p in (project / "out").rglob("*") if p.is_file()}
    scripts = project / "scripts"
    scripts.mkdir()
    (scripts / "x.py").write_text(module, encoding="utf-8")
    code, output = run_build(project, "--services", str(scripts))
    assert code == 1
    assert error_lines(output)[0] == (
        "scripts:1:1: error: no service declared: no module of the services "
        "folder declares one (see the warnings of its modules) [project/no-services]"
    )
    assert "scripts/x.py:1:1: warning: module " in output
    after = {p: p.read_bytes() for p in (project / "out").rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize("command", ["build", "check", "test"])
def test_missing_project_is_usage_error(tmp_path: Path, command: str) -> None:
    result = CliRunner().invoke(main, [command, "--project", str(tmp_path / "absent")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


@pytest.mark.parametrize("command", [[], ["build"], ["check"], ["schema"]])
def test_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_duration_hint(project: Path) -> None:
    write_manifest(
        project,
        "payments.yaml",
        "service: payments\nscrape: {job: payments, port: 80, interval: 15 seconds}\n",
    )
    _, output = run_build(project)
    assert error_lines(output) == [
        'services/payments.yaml:2:45: error: scrape.interval "15 seconds" is invalid: write a Prometheus duration such as 15s, 5m or 1h30m [manifest/schema]'
    ]


def test_bad_metric_name_at_its_key(project: Path) -> None:
    write_manifest(
        project,
        "payments.yaml",
        "service: payments\nmetrics:\n  ok_total: counter\n  9bad: gauge\n",
    )
    _, output = run_build(project)
    assert error_lines(output) == [
        'services/payments.yaml:4:3: error: metrics: key "9bad" is invalid: a metric name uses ASCII letters, digits, _ and :, not starting with a digit [manifest/schema]'
    ]


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("loop.yaml", "it is a symbolic link loop"),
        (
            "moved/payments.yaml",
            "it is a symbolic link to moved/payments.yaml, which is missing",
        ),
    ],
    ids=["loop", "dangling"],
)
def test_unreadable_symlink(project: Path, target: str, reason: str) -> None:
    (project / "services" / "loop.yaml").symlink_to(target)
    code, output = run_build(project)
    assert code == 1
    assert error_lines(output) == [
        f"services/loop.yaml:1:1: error: cannot read manifest: {reason} [io/read]"
    ]


def test_folder_named_like_manifest_warns(project: Path) -> None:
    write_manifest(project, "payments.yaml", HEADER)
    (project / "services" / "orders.yaml").mkdir()
    code, output = run_build(project)
    assert code == 0, output
    assert (
        "services/orders.yaml:1:1: warning: a folder, not a manifest file, so it is "
        "not read; manifests are the files directly in "
    ) in output
    assert "[io/not-a-file]" in output


ORDERS = "service: orders\nscrape: {job: orders, port: 8081}\n"
NESTED_ADVICE = (
    "is not read: obscompile reads the manifests directly in services, not in its "
    "subfolders; move it there, or start the subfolder's name with _ to leave it "
    "unread without a warning [io/not-read]"
)


@pytest.mark.parametrize(
    "name", ["orders.YAML", "orders.Yml", "orders.YML", "orders.yAml", "orders.PY"]
)
def test_suffix_case_warns(project: Path, name: str) -> None:
    write_manifest(project, "payments.yaml", HEADER)
    write_manifest(project, name, ORDERS)
    code, output = run_build(project)
    assert code == 0, output
    suffix = name.partition(".")[2].lower()
    assert error_lines(output) == [
        f"services/{name}:1:1: warning: {name} is not read: obscompile reads the "
        "manifests whose names end in .yaml, .yml or .py, in lower case; rename it "
        f"to orders.{suffix} [io/not-read]"
    ]
    assert "1 service," in output


def test_subfolder_manifests_warn(project: Path) -> None:
    write_manifest(project, "payments.yaml", HEADER)
    nested = project / "services" / "team" / "deep"
    nested.mkdir(parents=True)
    (project / "services" / "team" / "orders.yaml").write_text(ORDERS)
    (nested / "stock.YML").write_text(ORDERS)
    (nested / "tool.py").write_text("from obscompile import dsl\n")
    code, output = run_build(project)
    assert code == 0, output
    assert error_lines(output) == [
        f"services/team/deep/stock.YML:1:1: warning: stock.YML {NESTED_ADVICE}",
        f"services/team/deep/tool.py:1:1: warning: tool.py {NESTED_ADVICE}",
        f"services/team/orders.yaml:1:1: warning: orders.yaml {NESTED_ADVICE}",
    ]
    assert not (project / "out" / "grafana" / "dashboards" / "orders.json").exists()


def test_many_subfolder_manifests_warn_once_more(project: Path) -> None:
    write_manifest(project, "payments.yaml", HEADER)
    folder = project / "services" / "venv"
    folder.mkdir()
    for index in range(8):
        (folder / f"module_{index}.py").write_text("")
    code, output = run_build(project)
    assert code == 0, output
    lines = error_lines(output)
    assert lines[0] == (
        "services/venv:1:1: warning: 3 more .yaml, .yml or .py files in this folder "
        "are not read either [io/not-read]"
    )
    assert lines[1:] == [
        f"services/venv/module_{index}.py:1:1: warning: module_{index}.py "
        f"{NESTED_ADVICE}"
        for index in range(5)
    ]


def test_linked_folder_warns_for_its_files(project: Path) -> None:
    write_manifest(project, "payments.yaml", HEADER)
    shared = project / "shared"
    (shared / "deeper").mkdir(parents=True)
    (shared / "orders.yaml").write_text(ORDERS)
    (shared / "deeper" / "stock.yaml").write_text(ORDERS)
    (project / "services" / "shared").symlink_to(shared)
    code, output = run_build(project)
    assert code == 0, output
    assert error_lines(output) == [
        f"services/shared/orders.yaml:1:1: warning: orders.yaml {NESTED_ADVICE}"
    ]


def test_link_to_folder_named_like_manifest_warns(project: Path) -> None:
    write_manifest(project, "payments.yaml", HEADER)
    (project / "services" / "_orders").mkdir()
    (project / "services" / "orders.yaml").symlink_to("_orders")
    code, output = run_build(project)
    assert code == 0, output
    assert error_lines(output) == [
        "services/orders.yaml:1:1: warning: a folder, not a manifest file, so it is "
        "not read; manifests are the files directly in services [io/not-a-file]"
    ]


def test_link_out_of_services_is_error(project: Path) -> None:
    write_manifest(project, "payments.yaml", HEADER)
    shared = project / "shared"
    shared.mkdir()
    (shared / "orders.yaml").write_text(ORDERS)
    (project / "services" / "orders.yaml").symlink_to(shared / "orders.yaml")
    code, output = run_build(project)
    assert code == 1
    assert error_lines(output) == [
        f"services/orders.yaml:1:1: error: manifest is a symbolic link to "
        f"{shared / 'orders.yaml'}, outside {project / 'services'}; copy the file "
        "into the folder instead [io/symlink]"
    ]
    assert not (project / "out").exists()


def test_link_into_underscore_subfolder_is_read(project: Path) -> None:
    write_manifest(project, "payments.yaml", HEADER)
    (project / "services" / "_shared").mkdir()
    (project / "services" / "_shared" / "orders.yaml").write_text(ORDERS)
    (project / "services" / "orders.yaml").symlink_to("_shared/orders.yaml")
    code, output = run_build(project)
    assert code == 0, output
    assert error_lines(output) == []
    scrape = (project / "out" / "prometheus" / "prometheus.yml").read_text()
    assert "job_name: orders" in scrape


def test_links_inside_linked_services_are_read(tmp_path: Path) -> None:
    """Links are checked against the folder that a linked services/ leads to."""
    shared = tmp_path / "shared"
    (shared / "_more").mkdir(parents=True)
    (shared / "payments.yaml").write_text(HEADER)
    (shared / "_more" / "orders.yaml").write_text(ORDERS)
    (shared / "orders.yaml").symlink_to(shared / "_more" / "orders.yaml")
    project = tmp_path / "project"
    project.mkdir()
    (project / "services").symlink_to(shared)
    code, output = run_build(project)
    assert code == 0, output
    assert error_lines(output) == []
    scrape = (project / "out" / "prometheus" / "prometheus.yml").read_text()
    assert "job_name: orders" in scrape


def test_named_pipe_named_like_manifest_warns(project: Path) -> None:
    write_manifest(project, "payments.yaml", HEADER)
    os.mkfifo(project / "services" / "orders.yaml")
    code, output = run_build(project)
    assert code == 0, output
    assert error_lines(output) == [
        "services/orders.yaml:1:1: warning: not a regular file, such as a named "
        "pipe, so it is not read; a manifest is a regular file or a symbolic link to "
        "one [io/not-a-file]"
    ]


def test_skipped_files_stay_silent(project: Path) -> None:
    write_manifest(project, "payments.yaml", HEADER)
    services = project / "services"
    for name in (
        ".orders.yaml",
        ".orders.yaml.swp",
        "_orders.yaml",
        "_orders.YAML",
        "orders.yaml.bak",
        "orders.yaml~",
        "orders.yaml.orig",
        "README.md",
        "orders.json",
    ):
        (services / name).write_text(ORDERS)
    for folder in (".git", "_drafts", "__pycache__", "docs", "team/_old"):
        (services / folder).mkdir(parents=True)
    (services / ".git" / "orders.yaml").write_text(ORDERS)
    (services / "_drafts" / "orders.yaml").write_text(ORDERS)
    (services / "__pycache__" / "orders.cpython-311.pyc").write_bytes(b"")
    (services / "docs" / "README.md").write_text("Notes\n")
    (services / "team" / "_old" / "orders.yaml").write_text(ORDERS)
    (services / "team" / ".orders.yaml").write_text(ORDERS)
    code, output = run_build(project)
    assert code == 0, output
    assert error_lines(output) == []


def test_long_source_line_is_cut(project: Path) -> None:
    write_manifest(
        project,
        "payments.yaml",
        "service: payments\ndescription: " + "x" * 5000 + "\nqurey: 1\n",
    )
    _, output = run_build(project)
    assert max(len(line) for line in output.splitlines()) < 300


def test_integer_prefixes_read(project: Path) -> None:
    write_manifest(
        project,
        "payments.yaml",
        HEADER
        + "rows:\n  - title: A\n    panels:\n"
        + "      - {title: E, query: up, height: 0b1000, width: 0x0c, decimals: 0o2}\n",
    )
    code, output = run_build(project)
    assert code == 0, output
    dashboard = json.loads(
        (project / "out/grafana/dashboards/payments.json").read_text(encoding="utf-8")
    )
    panel = dashboard["panels"][1]
    assert (panel["gridPos"]["h"], panel["gridPos"]["w"]) == (8, 12)
    assert panel["fieldConfig"]["defaults"]["decimals"] == 2


def test_ambiguous_number_forms_warn(project: Path) -> None:
    write_manifest(
        project,
        "payments.yaml",
        HEADER
        + "rows:\n  - title: A\n    panels:\n"
        + "      - {title: E, query: up, height: 1_0, width: 0b1100, decimals: 0o2}\n",
    )
    code, output = run_build(project)
    assert code == 0, output
    warnings = [line for line in output.splitlines() if ": warning: " in line]
    assert warnings == [
        "services/payments.yaml:8:39: warning: 1_0 is read as the number 10, but other YAML readers read it as text; write 10 [yaml/ambiguous-scalar]",
        "services/payments.yaml:8:51: warning: 0b1100 is read as the number 12, but other YAML readers read it as text; write 12 [yaml/ambiguous-scalar]",
        "services/payments.yaml:8:69: warning: 0o2 is read as the number 2, but other YAML readers read it as text; write 2 [yaml/ambiguous-scalar]",
    ]


def payments_dashboard(project: Path) -> dict:
    path = project / "out" / "grafana" / "dashboards" / "payments.json"
    return json.loads(path.read_text())


def test_unquoted_dates_read_as_text(project: Path) -> None:
    write_manifest(
        project,
        "payments.yaml",
        HEADER + "title: 2024-01-01\ndescription: 2024-01-01 10:00:00\n"
        "rows:\n  - title: A\n    panels:\n      - {title: E, query: up}\n",
    )
    code, output = run_build(project)
    assert code == 0, output
    assert error_lines(output) == [
        "services/payments.yaml:5:8: warning: 2024-01-01 is read as '2024-01-01' (YAML 1.2), but YAML 1.1 tools read it as a date; quote it to make the meaning explicit [yaml/ambiguous-scalar]",
        "services/payments.yaml:6:14: warning: 2024-01-01 10:00:00 is read as '2024-01-01 10:00:00' (YAML 1.2), but YAML 1.1 tools read it as a date and time; quote it to make the meaning explicit [yaml/ambiguous-scalar]",
    ]
    dashboard = payments_dashboard(project)
    assert dashboard["title"] == "2024-01-01"
    assert dashboard["description"] == "2024-01-01 10:00:00"


def test_non_specific_tag_reads_string(project: Path) -> None:
    """YAML 1.2 reads a scalar tagged with "!" alone as a string."""
    write_manifest(
        project,
        "payments.yaml",
        HEADER + "title: ! 5\nrows:\n  - title: A\n    panels:\n"
        "      - {title: E, query: up}\n",
    )
    code, output = run_build(project)
    assert code == 0, output
    dashboard = payments_dashboard(project)
    assert dashboard["title"] == "5"


def test_alias_repeats_thresholds(project: Path) -> None:
    write_manifest(
        project,
        "payments.yaml",
        HEADER + "rows:\n  - title: A\n    panels:\n"
        "      - {title: E, query: up, thresholds: &bands '<1 Red, >=1 Green'}\n"
        "      - {title: F, query: 'min(up)', thresholds: *bands}\n",
    )
    code, output = run_build(project)
    assert code == 0, output
    panels = payments_dashboard(project)["panels"]
    steps = [
        panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        for panel in panels
        if panel["type"] != "row"
    ]
    assert steps[0] == [{"color": "red", "value": None}, {"color": "green", "value": 1}]
    assert steps[1] == steps[0]


# A line indented past 128 columns sends a manifest to the pure-Python YAML parser.
@pytest.mark.parametrize("deep", [False, True], ids=["c-parser", "python-parser"])
def test_yaml_directive_changes_nothing(project: Path, deep: bool) -> None:
    description = "description: |\n" + " " * (140 if deep else 2) + "text\n"
    write_manifest(
        project,
        "payments.yaml",
        "%YAML 1.1\n---\n" + HEADER + "title: yes\n" + description,
    )
    code, output = run_build(project)
    assert code == 0, output
    assert error_lines(output) == [
        "services/payments.yaml:7:8: warning: yes is read as 'yes' (YAML 1.2), but YAML 1.1 tools read it as the boolean true; quote it to make the meaning explicit [yaml/ambiguous-scalar]"
    ]


@pytest.mark.parametrize("deep", [False, True], ids=["c-parser", "python-parser"])
@pytest.mark.parametrize(
    ("query_line", "expected"),
    [
        (
            "      query: up\n",
            "services/payments.yaml:11:7: error: invalid YAML: line 11 starts at "
            "column 7, the column of the '-' of the list that starts at line 10, "
            "column 7, so it needs a '-' of its own; indent it to column 9 to "
            "continue the item above, or start it with '- ' to begin a new item "
            "[yaml/syntax]",
        ),
        (
            "     query: up\n",
            "services/payments.yaml:11:6: error: invalid YAML: line 11 starts at "
            "column 6, between the keys at column 5 of the mapping that starts at "
            "line 8, column 5 and the keys at column 9 on line 10; indent the line "
            "like the keys it belongs with [yaml/syntax]",
        ),
        (
            "          query: up\n",
            "services/payments.yaml:11:16: error: invalid YAML: line 11 is indented "
            'deeper than "title" on line 10, so YAML reads it as more of the value of '
            "\"title\" and cannot read the ': ' in it; indent it to column 9, like "
            '"title", if it is a key of the same mapping [yaml/syntax]',
        ),
        (
            "       query: up\n",
            "services/payments.yaml:11:8: error: invalid YAML: line 11 starts at "
            "column 8, between the '-' at column 7 of the list that starts at line "
            "10, column 7 and the keys of its item at column 9; indent it to column 9 "
            "to continue the item above, or start it with '- ' at column 7 to begin a "
            "new item [yaml/syntax]",
        ),
    ],
    ids=["at-dash", "between-keys", "under-value", "inside-dash"],
)
def test_misindented_line_explained(
    project: Path, deep: bool, query_line: str, expected: str
) -> None:
    description = "description: |\n" + " " * (140 if deep else 2) + "text\n"
    rows = "rows:\n  - title: A\n    panels:\n      - title: E\n" + query_line
    write_manifest(project, "payments.yaml", HEADER + description + rows)
    code, output = run_build(project)
    assert code == 1
    assert error_lines(output) == [expected]


@pytest.mark.parametrize(
    "text", ["---", "---\n", "--- # comment", "---\n...\n", "%YAML 1.2\n---\n"]
)
def test_document_without_content_is_empty(project: Path, text: str) -> None:
    write_manifest(project, "payments.yaml", text)
    code, output = run_build(project)
    assert code == 1
    assert error_lines(output) == [
        "services/payments.yaml:1:1: error: the file is empty; a manifest needs "
        "`service:` [yaml/empty]"
    ]


@pytest.mark.parametrize("ending", ["", "\n", "\n\n  \n"])
def test_error_at_end_of_file_on_last_line(project: Path, ending: str) -> None:
    write_manifest(project, "payments.yaml", "service: payments\ntags: [a," + ending)
    code, output = run_build(project)
    assert code == 1
    assert error_lines(output) == [
        "services/payments.yaml:2:10: error: invalid YAML: did not find expected "
        "node content [yaml/syntax]"
    ]


# A line indented past 128 columns sends the manifest to the pure-Python parser, which
# marks a value left empty at the end of the file on the line after the last one.
def test_empty_last_value_on_last_line(project: Path) -> None:
    description = "description: |\n" + " " * 140 + "text\n"
    write_manifest(project, "payments.yaml", HEADER + description + "dashboard:\n")
    code, output = run_build(project)
    assert code == 1
    assert error_lines(output) == [
        "services/payments.yaml:7:11: error: dashboard must be a mapping, not null "
        "[manifest/schema]"
    ]


def test_description_set_twice_warns(project: Path) -> None:
    write_manifest(
        project,
        "payments.yaml",
        HEADER + "description: One\ndashboard: {title: P, description: Two}\n",
    )
    code, output = run_build(project)
    assert code == 0, output
    assert (
        "services/payments.yaml:5:1: warning: description is ignored: the dashboard "
        "shows dashboard.description; remove one of them [dashboard/ignored-field]"
    ) in output


def test_red_alone_warns(project: Path) -> None:
    write_manifest(
        project,
        "payments.yaml",
        HEADER
        + "rows:\n  - title: A\n    panels:\n"
        + "      - {title: E, query: 'sum(up)', type: stat, thresholds: Red}\n",
    )
    code, output = run_build(project)
    assert code == 0, output
    assert (
        'services/payments.yaml:8:62: warning: panel "E": the thresholds colour every '
        'value red, so no alert is derived; give the band a bound, such as ">5 Red" '
        "[alerts/unbounded]"
    ) in output
    assert not (project / "out/prometheus/rules/payments.rules.yml").exists()


def test_missing_services_folder_exits_2(project: Path) -> None:
    code, output = run_build(project, "--services", str(project / "nope"))
    assert code == 2
    assert "Invalid value for '--services'" in output
    assert "does not exist" in output


def test_build_inside_services_folder(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_manifest(project, "payments.yaml", HEADER)
    monkeypatch.chdir(project / "services")
    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"obscompile: error: services folder {project}/services/services not found: "
        "run obscompile in the project folder, the one that contains services/, or "
        f"pass --project with that folder; {project}/services contains manifests, so "
        f"try --project {project}"
    ]
    assert sorted(path.name for path in (project / "services").iterdir()) == [
        "payments.yaml"
    ]


def test_parent_project_paths_normalised(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest outside the working folder is named without `..` in its path."""
    write_manifest(project, "payments.yaml", HEADER + "dashbord: {}\n")
    (project / "out").mkdir()
    monkeypatch.chdir(project / "out")
    result = CliRunner().invoke(main, ["check", "--project", ".."])
    assert result.exit_code == 1
    assert error_lines(result.output) == [
        f'{project.resolve()}/services/payments.yaml:5:1: error: unknown key "dashbord" '
        'in the manifest (did you mean "dashboard"?) [manifest/schema]'
    ]


def test_cli_test_inside_services_folder(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`obscompile test` names the project folder, not a build, as the fix."""
    write_manifest(project, "payments.yaml", HEADER)
    assert run_build(project)[0] == 0
    monkeypatch.chdir(project / "services")
    result = CliRunner().invoke(main, ["test"])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "obscompile: error: out/prometheus/prometheus.yml not found; services folder "
        f"{project}/services/services not found: run obscompile in the project "
        "folder, the one that contains services/, or pass --project with that "
        f"folder; {project}/services contains manifests, so try --project {project}"
    ]


@pytest.mark.parametrize("command", ["build", "check"])
def test_project_without_services_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """Outside a project, as with a missing --services folder, the exit code is 2."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [command])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"obscompile: error: services folder {tmp_path}/services not found: run "
        "obscompile in the project folder, the one that contains services/, or "
        "pass --project with that folder"
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["build", "check"])
def test_missing_services_folder_in_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """A caller that requested JSON reads the usage error as a JSON diagnostic."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [command, "--format", "json"])
    assert result.exit_code == 2
    (found,) = json.loads(result.stdout)
    assert found == {
        "file": "services",
        "line": 1,
        "column": 1,
        "severity": "error",
        "message": f"services folder {tmp_path}/services not found: run obscompile "
        "in the project folder, the one that contains services/, or pass --project "
        "with that folder",
        "check": "cli/usage",
    }
    assert result.stderr.startswith("obscompile: error: services folder ")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--services", "nope"], "Invalid value for '--services': Directory 'nope' "),
        (["--project", "nope"], "Invalid value for '--project': Directory 'nope' "),
        (["extra"], "Got unexpected extra argument (extra)"),
        (["--bogus"], "No such option '--bogus'."),
        (["--services"], "Option '--services' requires an argument."),
    ],
    ids=["services", "project", "argument", "option", "option-value"],
)
@pytest.mark.parametrize("written", [["--format", "json"], ["--format=json"]])
def test_check_usage_errors_in_json(
    project: Path, arguments: list[str], message: str, written: list[str]
) -> None:
    result = CliRunner().invoke(main, ["check", *written, *arguments])
    assert result.exit_code == 2
    (found,) = json.loads(result.stdout)
    assert found["file"] == "<command line>"
    assert (found["line"], found["column"]) == (1, 1)
    assert found["severity"] == "error"
    assert found["message"].startswith(message)
    assert found["check"] == "cli/usage"


def test_usage_error_in_github_format(project: Path) -> None:
    (project / "services").rmdir()
    result = CliRunner().invoke(main, ["check", "--format", "github"])
    assert result.exit_code == 2
    assert result.stdout.startswith(
        "::error file=services,line=1,col=1,title=cli/usage::services folder "
    )


def test_build_out_problem_in_json(project: Path) -> None:
    write_manifest(project, "payments.yaml", HEADER)
    arguments = ["build", "--format", "json", "--out", "services"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2
    (found,) = json.loads(result.stdout)
    assert found["message"].startswith(
        "Invalid value for '--out': the output folder services is the services folder"
    )
    assert found["check"] == "cli/usage"


def test_text_usage_error_prints_no_report(project: Path) -> None:
    result = CliRunner().invoke(main, ["check", "--bogus"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "No such option '--bogus'." in result.stderr


def test_services_file_not_folder(project: Path) -> None:
    (project / "services").rmdir()
    (project / "services").write_text("service: payments\n", encoding="utf-8")
    code, output = run_build(project)
    assert code == 2
    assert output.splitlines() == [
        f"obscompile: error: services folder {project}/services is not a folder: run "
        "obscompile in the project folder, the one that contains services/, or "
        "pass --project with that folder"
    ]


def test_cli_test_without_services_folder(project: Path) -> None:
    """`obscompile test` still runs the tests, and warns that out/ was not compared."""
    write_manifest(project, "payments.yaml", HEADER)
    assert run_build(project)[0] == 0
    (project / "services" / "payments.yaml").unlink()
    (project / "services").rmdir()
    result = CliRunner().invoke(main, ["test"])
    assert result.exit_code == 0, result.output
    assert (
        f"obscompile: warning: services folder {project}/services not found: run "
        "obscompile in the project folder, the one that contains services/, or pass "
        "--project with that folder; out was not compared with the manifests"
    ) in result.output.splitlines()


def test_multi_line_list_item_warns(project: Path) -> None:
    write_manifest(
        project,
        "payments.yaml",
        HEADER + "dashboard:\n  tags: [\n    prod\n    payments,\n    eu]\n",
    )
    code, output = run_build(project)
    assert code == 0, output
    assert (
        'services/payments.yaml:7:5: warning: "prod payments" runs over 2 lines and '
        "reads as one value; if these are separate items, put a comma between them "
        "[yaml/multi-line-value]"
    ) in output


def test_warning_alert_without_yellow_band_warns(project: Path) -> None:
    write_manifest(
        project,
        "payments.yaml",
        HEADER
        + "rows:\n  - title: A\n    panels:\n      - title: E\n        query: sum(up)\n"
        + '        thresholds: "<5 Green, 5-10 Orange, >10 Red"\n'
        + "        alert: {warning: true}\n",
    )
    code, output = run_build(project)
    assert code == 0, output
    assert (
        'services/payments.yaml:11:16: warning: panel "E": alert.warning is set, but '
        "no band is yellow, so no warning alert is derived [alerts/no-warning-band]"
    ) in output


def test_invalid_values_come_with_query_findings(project: Path) -> None:
    """Past the schema, an invalid scrape value does not hold back the query checks."""
    write_manifest(
        project,
        "payments.yaml",
        "service: payments\n"
        "scrape: {job: payments, targets: ['payments:70000'], interval: 15s, timeout: 20s}\n"
        "metrics:\n"
        "  http_requests_total: {type: counter, labels: [code]}\n"
        "rows:\n"
        "  - title: Traffic\n"
        "    panels:\n"
        "      - title: By code\n"
        "        query: sum by (cod) (rate(http_requests_total[5m]))\n",
    )
    code, output = run_build(project)
    assert code == 1
    found = [line.split(": error: ")[0] for line in error_lines(output)]
    assert found == [
        "services/payments.yaml:2:35",
        "services/payments.yaml:2:78",
        "services/payments.yaml:9:24",
    ]
    assert "[promql/unknown-label]" in error_lines(output)[2]


def test_port_out_of_range_comes_with_query_findings(project: Path) -> None:
    """A port that breaks the schema is reported once, and the query checks still run."""
    write_manifest(
        project,
        "shop.yaml",
        "service: shop\n"
        "scrape: {job: shop, port: 70000}\n"
        "metrics:\n"
        "  http_requests_total: {type: counter, labels: [code]}\n"
        "rows:\n"
        "  - title: T\n"
        "    panels:\n"
        "      - title: By code\n"
        "        query: sum by (cod) (rate(http_requests_total[5m]))\n",
    )
    code, output = run_build(project)
    assert code == 1
    lines = error_lines(output)
    assert len(lines) == 2
    assert lines[0] == (
        "services/shop.yaml:2:27: error: scrape.port must be at most 65535, not 70000 "
        "[manifest/schema]"
    )
    assert lines[1].startswith("services/shop.yaml:9:24: error: sum by (cod)")
    assert lines[1].endswith("[promql/unknown-label]")
    assert "Traceback" not in output
