"""Numbers beyond the range of a double, or too long to read, in every field of input.

Each such number gets an error at its line and column, or builds correct output, and
never a traceback. Prometheus 2.42 rejects a number literal of a query that rounds
beyond the largest double, about 1.8e308, and reads one that rounds to 0 as 0.
Python's int() rejects a text of more than 4300 digits, and Fraction() the text of
an infinite number, so no input may reach them unchecked.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import promql_parser as pp
import pytest
from click.testing import CliRunner

from obscompile import promql
from obscompile.cli import main
from tests.test_errors import error_lines, run_build
from tests.test_hostile_input import run_cli
from tests.test_prometheus import run_promtool, write_files

# Panel 1 has a gauge query with thresholds, so an alert and its test are derived.
# Panel 2 has a latency in seconds, whose thresholds convert time units.
MANIFEST = """\
service: shop
runtime: {runtime}
scrape:
  job: shop
  port: {port}
  interval: {interval}
alerts:
  for: {alert_for}
  annotations:
    runbook_url: "https://runbooks.example.com/{{{{ {template} }}}}"
metrics:
  orders_total: {{type: counter, labels: [code]}}
  queue_depth: gauge
  latency_seconds: {{type: histogram, buckets: [0.1, {bucket}]}}
  work_seconds: summary
rows:
  - title: Orders
    panels:
      - title: Order Rate
        type: gauge
        query: '{query}'
        thresholds: {thresholds}
        capacity: {capacity}
        decimals: {decimals}
        min: {minimum}
        max: {maximum}
        alert:
          description: '{{{{ {description} }}}}'
      - title: Latency
        type: stat
        unit: {unit}
        query: '{latency_query}'
        thresholds: {latency_thresholds}
"""
RATE = 'sum(rate(orders_total{job="shop"}[5m]))'
LATENCY = 'histogram_quantile(0.95, sum by (le) (rate(latency_seconds_bucket{job="shop"}[5m])))'
DEFAULTS = {
    "runtime": "python",
    "port": "8080",
    "interval": "15s",
    "alert_for": "5m",
    "template": "$labels.job",
    "bucket": "1",
    "query": f"{RATE} * 100",
    "thresholds": '"<1 Green, 1-5 Yellow, >5 Red"',
    "capacity": "20",
    "decimals": "2",
    "minimum": "0",
    "maximum": "100",
    "description": "$value | humanize",
    "unit": "s",
    "latency_query": LATENCY,
    "latency_thresholds": '"<300ms Green, >=300ms Red"',
}
# The lines of the manifest that the findings point at.
QUERY_LINE = 21
THRESHOLDS_LINE = 22
LATENCY_THRESHOLDS_LINE = 33


def manifest(**fields: str) -> str:
    return MANIFEST.format(**{**DEFAULTS, **fields})


def build(project: Path, text: str) -> tuple[int, str]:
    """Write `text` as the project's only manifest and build it in this process."""
    write_files(project, {"services/shop.yaml": text})
    return run_build(project)


def prometheus_check(folder: Path, expr: str) -> str:
    """Return the output of `promtool check rules` for a recording rule of `expr`."""
    rules = {"groups": [{"name": "g", "rules": [{"record": "r", "expr": expr}]}]}
    write_files(folder, {"rules.yml": json.dumps(rules)})
    result = run_promtool("check", "rules", str(folder / "rules.yml"))
    return result.stdout + result.stderr


@pytest.mark.parametrize(
    "number", ["1e400", "1" + "0" * 400, "1.7976931348623159e308", ".5e999"]
)
def test_query_number_beyond_double_parity(project: Path, number: str) -> None:
    assert "value out of range" in prometheus_check(project, f"x * {number}")
    with pytest.raises(promql.QueryError, match="beyond the largest double"):
        promql.parse(f"x * {number}")


@pytest.mark.parametrize(
    "number", ["1.7976931348623157e308", "1e-400", "5e-324", "Inf", "NaN", "0x10"]
)
def test_query_number_in_range_parity(project: Path, number: str) -> None:
    assert "SUCCESS" in prometheus_check(project, f"x * {number}")
    promql.parse(f"x * {number}")


@pytest.mark.parametrize(
    ("count", "fails"),
    [
        ("NaN", True),
        ("-1e19", True),
        ("9223372036854775807", True),
        ("9223372036854774784", False),
        ("-9223372036854775808", False),
        ("5", False),
    ],
)
def test_topk_count_parity(project: Path, count: str, fails: bool) -> None:
    """promql/topk reports exactly the counts that Prometheus fails to evaluate."""
    rules = {
        "groups": [
            {"name": "g", "rules": [{"record": "r", "expr": f"topk({count}, x)"}]}
        ]
    }
    tests = {
        "rule_files": ["rules.yml"],
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": "x", "values": "1"}],
                "promql_expr_test": [{"expr": "r", "eval_time": "0m"}],
            }
        ],
    }
    folder = project / "promtool"
    write_files(folder, {"rules.yml": json.dumps(rules), "test.yml": json.dumps(tests)})
    result = run_promtool("test", "rules", "test.yml", cwd=folder)
    assert ("overflows int64" in result.stdout + result.stderr) is fails
    query = f'sum(topk({count}, max by (job) (queue_depth{{job="shop"}})))'
    code, output = build(project, manifest(query=query))
    assert ("[promql/topk]" in output) is fails
    assert code == (1 if fails else 0), output


def test_query_number_beyond_double(project: Path) -> None:
    code, output = build(project, manifest(query=f"{RATE} * 1{'0' * 400}"))
    assert code == 1
    assert error_lines(output) == [
        f"services/shop.yaml:{QUERY_LINE}:59: error: invalid PromQL query: the "
        f"number 1{'0' * 74}...{'0' * 36} is beyond the largest double, about "
        "1.8e308, and Prometheus 2.42 rejects it as out of range; write Inf for an "
        "infinite value [promql/syntax]"
    ]


@pytest.mark.parametrize(
    ("constant", "shown"), [("Inf", "+Inf"), ("-Inf", "-Inf"), ("NaN", "NaN")]
)
def test_query_infinite_constant(project: Path, constant: str, shown: str) -> None:
    """No input gives `rate * Inf` a chosen value, so the alert gets no test."""
    code, output = build(project, manifest(query=f"{RATE} * {constant}"))
    assert code == 0, output
    assert error_lines(output) == [
        f"services/shop.yaml:{QUERY_LINE}:16: warning: no promtool test generated for "
        f'rule "ShopOrderRateCritical": the query computes with {shown}, so no input '
        "series give it a chosen value. Write a promtool test in tests/promtool/, "
        "which `obscompile test` runs [rules/untested]"
    ]
    tested = CliRunner().invoke(main, ["test", "--project", str(project)])
    assert tested.exit_code == 0, tested.output


@pytest.mark.parametrize(
    ("part", "column", "shown"),
    [
        ("[5m] offset 1e-400", 62, "1e-400"),
        ("[5m] offset -0", 63, "0"),
        ("[0.0005]", 51, "0.0005"),
        ("[0]", 51, "0"),
    ],
)
def test_query_duration_below_millisecond(
    project: Path, part: str, column: int, shown: str
) -> None:
    """promql-parser reads these as a duration of 0, which no rule is printed with."""
    query = f'sum(rate(orders_total{{job="shop"}}{part}))'
    code, output = build(project, manifest(query=query))
    assert code == 1
    assert error_lines(output) == [
        f"services/shop.yaml:{QUERY_LINE}:{column}: error: invalid PromQL query: "
        f"Prometheus 2.42 does not read the duration {shown}; write whole numbers "
        "with units from the largest, such as 1h30m [promql/syntax]"
    ]


def test_query_range_of_many_digits(project: Path) -> None:
    query = f'sum(rate(orders_total{{job="shop"}}[{"9" * 5000}s]))'
    code, output = build(project, manifest(query=query))
    assert code == 1
    assert error_lines(output) == [
        f"services/shop.yaml:{QUERY_LINE}:51: error: invalid PromQL query: "
        f"{'9' * 75}...{'9' * 35}s is longer than Prometheus accepts (about 292 "
        "years, 106751d23h47m16s854ms) [promql/syntax]"
    ]


def test_query_range_of_million_digits(project: Path) -> None:
    """A long count is rejected in time that grows with its length, not its square."""
    query = f'sum(rate(orders_total{{job="shop"}}[{"9" * 1_000_000}s]))'
    write_files(project, {"services/shop.yaml": manifest(query=query)})
    result = run_cli(project, timeout=30)
    assert result.returncode == 1, result.stderr
    assert (
        f"services/shop.yaml:{QUERY_LINE}:51: error: invalid PromQL query: "
        f"{'9' * 75}...{'9' * 35}s is longer than Prometheus accepts" in result.stderr
    )


@pytest.mark.parametrize(
    ("part", "column"),
    [(f"[0x{'f' * 4000}]", 51), (f"[5m] offset -0x{'f' * 4000}", 63)],
    ids=["range", "offset"],
)
def test_query_duration_of_many_hex_digits(
    project: Path, part: str, column: int
) -> None:
    """A number of 4000 hexadecimal digits is too large for a float."""
    assert "SUCCESS" not in prometheus_check(project, f"x{part}")
    query = f'sum(rate(orders_total{{job="shop"}}{part}))'
    code, output = build(project, manifest(query=query))
    assert code == 1
    assert error_lines(output) == [
        f"services/shop.yaml:{QUERY_LINE}:{column}: error: invalid PromQL query: "
        f"Prometheus 2.42 does not read the duration 0x{'f' * 73}...{'f' * 36}; write "
        "whole numbers with units from the largest, such as 1h30m [promql/syntax]"
    ]


def test_scrape_interval_of_many_digits(project: Path) -> None:
    code, output = build(project, manifest(interval=f"{'9' * 5000}s"))
    assert code == 1
    assert error_lines(output) == [
        "services/shop.yaml:6:13: error: scrape.interval 99999999999999999999... is "
        "longer than Prometheus accepts (about 292 years, 106751d23h47m16s854ms) "
        "[manifest/schema]"
    ]


@pytest.mark.parametrize(
    ("thresholds", "column", "message"),
    [
        (
            '">1e400 Red"',
            23,
            "number too large: 1e400 is beyond about 1.8e308, the largest number "
            "Prometheus and Grafana hold; write a smaller number",
        ),
        (
            f'">{"1" + "0" * 400}m30s Red"',
            23,
            f"number too large: 1{'0' * 74}...{'0' * 32}m30s is beyond about 1.8e308, "
            "the largest number Prometheus and Grafana hold; write a smaller number",
        ),
        (
            '"<1e400GB Green"',
            28,
            "write 1e400GB as 1e+409: thresholds take no byte units, so write the "
            "number of bytes",
        ),
    ],
)
def test_threshold_text_beyond_double(
    project: Path, thresholds: str, column: int, message: str
) -> None:
    code, output = build(project, manifest(thresholds=thresholds))
    assert code == 1
    assert error_lines(output) == [
        f"services/shop.yaml:{THRESHOLDS_LINE}:{column}: error: {message} "
        "[thresholds/syntax]"
    ]


def test_threshold_duration_of_million_digits(project: Path) -> None:
    """A count that long is beyond every double, so it is not read exactly.

    Reading 3,000,000 digits into a Fraction takes minutes, because the time grows
    with the square of the length, and the build stops in a second or two.
    """
    count = "1" + "0" * 3_000_000
    write_files(
        project, {"services/shop.yaml": manifest(thresholds=f'">{count}m30s Red"')}
    )
    result = run_cli(project, timeout=30)
    assert result.returncode == 1, result.stderr
    assert (
        f"services/shop.yaml:{THRESHOLDS_LINE}:23: error: number too large: "
        f"1{'0' * 74}...{'0' * 32}m30s is beyond about 1.8e308" in result.stderr
    )


@pytest.mark.parametrize(
    ("unit", "thresholds", "column", "message"),
    [
        (
            "s",
            '"<1e308y Green, >=1e308y Red"',
            39,
            "threshold 1e308y is beyond about 1.8e308 in s, the largest number "
            "Prometheus and Grafana hold; write a smaller threshold",
        ),
        (
            "percentunit",
            '"<5e-324% Green, >=5e-324% Red"',
            40,
            "threshold 5e-324% is closer to 0 than 5e-324 in percentunit, the "
            "smallest number above 0 that Prometheus and Grafana hold, so both read "
            "it as 0; write a larger threshold",
        ),
    ],
)
def test_threshold_converted_beyond_double(
    project: Path, unit: str, thresholds: str, column: int, message: str
) -> None:
    """A threshold in range can leave the range of a double in the panel's unit."""
    text = manifest(unit=unit, latency_thresholds=thresholds)
    if unit == "percentunit":
        text = text.replace(
            LATENCY,
            'sum(rate(orders_total{job="shop",code="5"}[5m])) '
            '/ sum(rate(orders_total{job="shop"}[5m]))',
        )
    code, output = build(project, text)
    assert code == 1
    assert error_lines(output) == [
        f"services/shop.yaml:{LATENCY_THRESHOLDS_LINE}:{column}: error: {message} "
        "[thresholds/unit]"
    ]


HUGE_DECIMAL = "9" * 5000
HUGE_HEX = "0x" + "f" * 4000
NEAR_ZERO = (
    "is 1e-400, closer to 0 than 5e-324, the smallest number above 0 that "
    "dashboards and Prometheus hold, so both would read it as 0"
)


@pytest.mark.parametrize(
    ("field", "number", "position", "message"),
    [
        ("minimum", "1e-400", "25:14", f"rows[0].panels[0].min {NEAR_ZERO}"),
        ("decimals", "1e-400", "24:19", f"rows[0].panels[0].decimals {NEAR_ZERO}"),
        # The field must be above 0, which 1e-400 is and the 0 that it reads as is not.
        ("capacity", "1e-400", "23:19", f"rows[0].panels[0].capacity {NEAR_ZERO}"),
        (
            "bucket",
            "1e-400",
            "14:53",
            f"metrics.latency_seconds.buckets[1] {NEAR_ZERO}",
        ),
        (
            "maximum",
            HUGE_DECIMAL,
            "26:14",
            "rows[0].panels[0].max is a 5000-digit number, beyond "
            "±9007199254740991, the largest integer that dashboards and Prometheus "
            "keep exactly",
        ),
        (
            "maximum",
            HUGE_HEX,
            "26:14",
            "rows[0].panels[0].max is a number of 4002 characters, beyond ±1.8e308 "
            "(about), the largest number that dashboards and Prometheus hold",
        ),
        (
            "port",
            HUGE_DECIMAL,
            "5:9",
            "scrape.port must be an integer, not a 5000-digit number",
        ),
        (
            "runtime",
            HUGE_HEX,
            "2:10",
            "runtime must be one of python, nodejs, not a number of 4002 characters",
        ),
    ],
)
def test_manifest_number_unreadable(
    project: Path, field: str, number: str, position: str, message: str
) -> None:
    """A number that reads as 0, or as more digits than Python prints, is an error.

    YAML reads 1e-400 as 0, and Python prints no integer of more than 4300 digits.
    """
    code, output = build(project, manifest(**{field: number}))
    assert code == 1
    assert error_lines(output) == [
        f"services/shop.yaml:{position}: error: {message} [manifest/schema]"
    ]


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("1e400", "schema_version must be an integer, not the number 1e400"),
        ("-.inf", "schema_version must be an integer, not the number -.inf"),
        ("1e-400", "schema_version must be at least 36, not 1e-400"),
        (HUGE_DECIMAL, "schema_version must be an integer, not a 5000-digit number"),
        (
            HUGE_HEX,
            "schema_version must be an integer, not a number of 4002 characters",
        ),
    ],
)
def test_config_number_unreadable(project: Path, number: str, message: str) -> None:
    """Each is reported once, as written, and not also as out of range."""
    write_files(project, {"obscompile.yaml": f"schema_version: {number}\n"})
    code, output = build(project, manifest())
    assert code == 1
    assert error_lines(output) == [
        f"obscompile.yaml:1:17: error: {message} [config/schema]"
    ]


@pytest.mark.parametrize(
    "setting",
    [
        "evaluation_interval: 4294967296ms",
        "scrape_interval: 4294967296ms\nscrape_timeout: 10s",
        "alert_for: 4294967296ms",
    ],
)
def test_config_duration_count_beyond_32_bits(project: Path, setting: str) -> None:
    """Prometheus reads a duration whose count is 2**32 or more, and so does the build."""
    write_files(
        project,
        {"obscompile.yaml": setting + "\n", "services/shop.yaml": manifest()},
    )
    result = run_cli(project, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "error:" not in result.stderr


def test_query_duration_count_beyond_32_bits(project: Path) -> None:
    """Prometheus 2.42 reads the duration, and the error gives a form the build reads."""
    assert "SUCCESS" in prometheus_check(project, "x offset 4294967296ms")
    query = 'sum(rate(orders_total{job="shop"}[5m] offset 4294967296ms))'
    code, output = build(project, manifest(query=query))
    assert code == 1
    assert error_lines(output) == [
        f"services/shop.yaml:{QUERY_LINE}:62: error: invalid PromQL query: "
        "obscompile's PromQL parser does not read a count of 2**32 or more, as in "
        "4294967296ms; write it as 49d17h2m47s296ms [promql/syntax]"
    ]
    code, output = build(
        project, manifest(query=query.replace("4294967296ms", "49d17h2m47s296ms"))
    )
    assert code == 0, output


@pytest.mark.parametrize(
    ("milliseconds", "text"),
    [
        (2**32 - 1, "4294967295ms"),
        (2**32, "7w17h2m47s296ms"),
        (2**32 * 1000, "136y10w6h28m16s"),
        (100 * 365 * 86_400_000 + 1, "100y1ms"),
    ],
)
def test_printed_duration_reads_back(milliseconds: int, text: str) -> None:
    """A printed duration has no count that promql-parser rejects."""
    duration = timedelta(milliseconds=milliseconds)
    assert promql.duration_text(duration) == text
    node = promql.parse(f"x offset {text}")
    assert isinstance(node, pp.VectorSelector)
    assert node.offset == duration


def test_numbers_beyond_float64_agree(project: Path) -> None:
    """Numbers that a float64 rounds warn, and every artifact uses the rounded double.

    The dashboard keeps the query as written, and Prometheus reads its number to the
    same double that the rule files write.
    """
    code, output = build(
        project,
        manifest(
            query=f"{RATE} * 0.12345678901234567891",
            thresholds='"<9007199254740993 Green, >=9007199254740993 Red"',
            maximum="1e17",
        ),
    )
    assert code == 0, output
    assert error_lines(output) == [
        f"services/shop.yaml:{QUERY_LINE}:59: warning: number 0.12345678901234567891 "
        "is not exactly a float64, which holds the integers up to 2^53 and 15 to 17 "
        "significant digits, so Prometheus reads it as 0.12345678901234568, and the "
        "rules derived from the query write 0.12345678901234568; write "
        "0.12345678901234568 [promql/precision]",
    ] + [
        f"services/shop.yaml:{THRESHOLDS_LINE}:{column}: warning: threshold "
        "9007199254740993 is not exactly a float64, which holds the integers up to "
        "2^53 and 15 to 17 significant digits, so Prometheus and Grafana both read it "
        "as 9007199254740992, the value that the dashboard, the alert rules and the "
        "generated tests use; write 9007199254740992 [thresholds/precision]"
        for column in (23, 49)
    ]
    out = project / "out"
    dashboard = json.loads((out / "grafana/dashboards/shop.json").read_text())
    (gauge,) = [p for p in dashboard["panels"] if p.get("title") == "Order Rate"]
    steps = gauge["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1]["value"] == 2**53
    assert "0.12345678901234567891" in gauge["targets"][0]["expr"]
    rules = (out / "prometheus/rules/shop.rules.yml").read_text()
    assert ">= 9007199254740992\n" in rules
    assert "9007199254740993" not in rules
    assert "* 0.12345678901234568" in rules
    tested = CliRunner().invoke(main, ["test", "--project", str(project)])
    assert tested.exit_code == 0, tested.output
