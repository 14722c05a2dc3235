"""Bounds of alert descriptions: `1 GiB`, `500 MB`, `2 Mb/s`, `7d`, `500ms`.

Each text must state the bound that the alert fires at, so a prefix is used only
where its number times the prefix reads back as the bound itself.
"""

from __future__ import annotations

import textwrap
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from obscompile.derive.annotations import DATA_PREFIXES, DATA_UNITS, bound_text
from obscompile.derive.thresholds import resolve
from obscompile.grafana_units import GRAFANA_UNITS
from obscompile.load.thresholds import parse_shorthand
from obscompile.pipeline import BuildResult, Project, build
from tests.conftest import write_manifest
from tests.test_prometheus import assert_promtool, write_files
from tests.test_prometheus_cases import HEADER


def _cases(unit: str, *pairs: tuple[float, str]) -> list:
    return [
        pytest.param(value, unit, text, id=f"{unit}-{text}") for value, text in pairs
    ]


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    _cases(
        "bytes",
        (1073741824, "1 GiB"),
        (1610612736, "1.5 GiB"),
        (536870912, "512 MiB"),
        (1536, "1.5 KiB"),
        (1024, "1 KiB"),
        (1000, "1000 B"),
        (0, "0 B"),
        (0.5, "0.5 B"),
        (-1073741824, "-1 GiB"),
        (2.0**80, "1 YiB"),
        (2.0**90, "1024 YiB"),
        # The nearest double below 1 GiB, which a test probes: as many digits as
        # 1073741823.9999999, so the larger prefix.
        (1073741823.9999999, "1023.9999999999999 MiB"),
    ),
)
def test_iec_bytes(value: float, unit: str, text: str) -> None:
    assert bound_text(value, unit) == text


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    _cases(
        "bytes",
        # 953.67431640625 MiB and 976562.5 KiB are exact, but longer.
        (1e9, "1000000000 B"),
        (1e11, "100000000000 B"),
        (1e17, "1e17 B"),
    ),
)
def test_iec_bytes_without_prefix(value: float, unit: str, text: str) -> None:
    assert bound_text(value, unit) == text


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    _cases(
        "decbytes",
        (5e8, "500 MB"),
        (1e9, "1 GB"),
        (1.5e9, "1.5 GB"),
        (1073741824, "1.073741824 GB"),
        (123456789, "123.456789 MB"),
        (999, "999 B"),
        (1e30, "1000000 YB"),
    ),
)
def test_si_bytes(value: float, unit: str, text: str) -> None:
    assert bound_text(value, unit) == text


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        *_cases("bits", (1048576, "1 Mib"), (1e6, "1000000 b")),
        *_cases("decbits", (1e6, "1 Mb"), (1048576, "1.048576 Mb")),
    ],
)
def test_bits(value: float, unit: str, text: str) -> None:
    assert bound_text(value, unit) == text


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        *_cases("kbytes", (1, "1 KiB"), (0.5, "0.5 KiB"), (1536, "1.5 MiB")),
        *_cases("mbytes", (512, "512 MiB"), (1024, "1 GiB")),
        *_cases("gbytes", (2, "2 GiB"), (1024, "1 TiB"), (1000, "1000 GiB")),
        *_cases("pbytes", (1024, "1 EiB")),
        *_cases("deckbytes", (1, "1 kB"), (1500, "1.5 MB")),
        *_cases("decgbytes", (1500, "1.5 TB"), (0.25, "0.25 GB")),
        *_cases("decpbytes", (1000, "1 EB")),
    ],
)
def test_scaled_bytes(value: float, unit: str, text: str) -> None:
    assert bound_text(value, unit) == text


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        *_cases("binBps", (1048576, "1 MiB/s"), (1e6, "1000000 B/s")),
        *_cases("Bps", (2.5e6, "2.5 MB/s"), (0.5, "0.5 B/s")),
        *_cases("binbps", (1024, "1 Kib/s")),
        *_cases("bps", (1e9, "1 Gb/s")),
    ],
)
def test_data_rates(value: float, unit: str, text: str) -> None:
    assert bound_text(value, unit) == text


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        *_cases("KiBs", (1024, "1 MiB/s"), (100, "100 KiB/s")),
        *_cases("Kibits", (1, "1 Kib/s")),
        *_cases("KBs", (1500, "1.5 MB/s")),
        *_cases("Kbits", (1000, "1 Mb/s")),
        *_cases("MiBs", (1.5, "1.5 MiB/s")),
        *_cases("GBs", (1000, "1 TB/s")),
        *_cases("Pbits", (1000, "1 Eb/s")),
    ],
)
def test_scaled_data_rates(value: float, unit: str, text: str) -> None:
    assert bound_text(value, unit) == text


def test_every_grafana_data_unit() -> None:
    """Every data unit and data rate of Grafana but packets is a data unit here."""
    data = {
        unit
        for unit, description in GRAFANA_UNITS.items()
        if description.startswith(("Data: ", "Data rate: "))
    }
    assert set(DATA_UNITS) == data - {"pps"}


def _read_back(text: str, unit: str) -> float:
    """Return the bound that `text` states, in the unit of the query."""
    number, written_unit = text.split(" ")
    symbol, base, power = DATA_UNITS[unit]
    assert written_unit.endswith(symbol)
    prefix = written_unit.removesuffix(symbol)
    exponent = DATA_PREFIXES[base].index(prefix) - power
    return float(Fraction(number) * base**exponent)


@given(
    value=st.floats(allow_nan=False, allow_infinity=False, width=64),
    unit=st.sampled_from(sorted(DATA_UNITS)),
)
def test_bound_reads_back(value: float, unit: str) -> None:
    """The text reads back as the bound, whatever its prefix."""
    assert _read_back(bound_text(value, unit), unit) == value


@given(
    value=st.integers(1, 2**53).map(float),
    exponent=st.integers(0, 60),
    unit=st.sampled_from(sorted(DATA_UNITS)),
)
def test_scaled_bound_reads_back(value: float, exponent: int, unit: str) -> None:
    """Whole numbers times powers of 2 and of 10 try every prefix."""
    for bound in (value * 2.0**exponent, value * 10.0**exponent):
        assert _read_back(bound_text(bound, unit), unit) == bound


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (604800, "7d"),
        (93600, "26h"),
        (900, "15m"),
        (5400, "90m"),
        (90, "90s"),
        (59.5, "59.5s"),
        (1.5, "1.5s"),
        (0.5, "500ms"),
        (0.15, "150ms"),
        (0.001, "1ms"),
        (0.0005, "0.0005s"),
        (0, "0s"),
        (-600, "-10m"),
        (1e300, "1e300s"),
    ],
)
def test_duration_bounds(value: float, text: str) -> None:
    """A bound in seconds reads as a threshold text writes a duration."""
    assert bound_text(value, "s") == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (999, "999ms"),
        (1000, "1s"),
        (1500, "1.5s"),
        (1234, "1.234s"),
        (60000, "1m"),
        (-2000, "-2s"),
        (1000.5, "1000.5ms"),
        (0.5, "0.5ms"),
        (1e14, "100000000000000ms"),
    ],
)
def test_millisecond_bounds(value: float, text: str) -> None:
    """A whole number of seconds or more in milliseconds reads in seconds or larger."""
    assert bound_text(value, "ms") == text


@given(st.integers(1000, 10**14 - 1).map(float))
def test_millisecond_bound_parses_back(value: float) -> None:
    """The threshold parser reads each text back as the bound, in milliseconds."""
    text = bound_text(value, "ms")
    resolved = resolve(parse_shorthand(f"<{text} Green, >={text} Red"), "ms")
    assert [step.value for step in resolved.steps] == [None, value]


@given(
    st.floats(min_value=0.001, max_value=1e12, allow_nan=False)
    | st.integers(1, 10**9).map(float)
)
def test_duration_bound_parses_back(value: float) -> None:
    """The threshold parser reads each duration text back as the bound."""
    text = bound_text(value, "s")
    resolved = resolve(parse_shorthand(f"<{text} Green, >={text} Red"), "s")
    assert [step.value for step in resolved.steps] == [None, value]


def _build(project: Path, panels: str) -> BuildResult:
    text = HEADER.format(service="payments", job="payments")
    text += textwrap.indent(textwrap.dedent(panels), "      ")
    write_manifest(project, "payments.yaml", text)
    return build(Project.at(project))


DATA_PANELS = """\
- title: Memory
  type: stat
  query: 'max(link_status{job="payments"})'
  unit: bytes
  thresholds: "<1610612736 Green, >=1610612736 Red"
- title: Disk
  type: stat
  query: 'min(link_status{job="payments"})'
  unit: decbytes
  thresholds: "<500000000 Green, 500000000-1000000000 Yellow, >=1000000000 Red"
  alert: {warning: true}
- title: Cache
  type: stat
  query: 'avg(link_status{job="payments"})'
  unit: bytes
  thresholds: "<1000000000 Green, >=1000000000 Red"
- title: Egress
  type: stat
  query: 'sum(link_status{job="payments"})'
  unit: KiBs
  thresholds: "<1024 Green, >=1024 Red"
"""


def test_descriptions_in_data_units(project: Path) -> None:
    result = _build(project, DATA_PANELS)
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    rules = yaml.safe_load(result.files["prometheus/rules/payments.rules.yml"])
    descriptions = {
        rule["alert"]: rule["annotations"]["description"]
        for rule in rules["groups"][1]["rules"]
    }
    memory = descriptions["PaymentsMemoryCritical"]
    assert "in the red band (at or above 1.5 GiB)" in memory
    disk = descriptions["PaymentsDiskWarning"]
    assert "in the yellow band (at or above 500 MB and below 1 GB)" in disk
    cache = descriptions["PaymentsCacheCritical"]
    assert "in the red band (at or above 1000000000 B)" in cache
    egress = descriptions["PaymentsEgressCritical"]
    assert "in the red band (at or above 1 MiB/s)" in egress
    tests = yaml.safe_load(result.files["prometheus/tests/payments.test.yml"])
    names = {group["name"] for group in tests["tests"]}
    assert "PaymentsMemoryCritical: 1.5 GiB (red) fires" in names
    # promtool expands the generated tests' descriptions and compares them whole.
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / "prometheus/tests/payments.test.yml"))


def test_unbounded_band_suggests_a_threshold_text(project: Path) -> None:
    """The suggestion writes bytes as a number, which a threshold text reads."""
    result = _build(
        project,
        """\
        - title: Reserved
          query: 'sum(rate(http_requests_total{job="payments"}[5m])) + 1073741824'
          unit: bytes
          thresholds: "<1 Green, >1 Red"
        """,
    )
    (finding,) = [d for d in result.diagnostics if d.check == "alerts/unbounded"]
    assert finding.message == (
        'panel "Reserved": the red band (at or above 1 B) contains every value of '
        "the query, which is never below 1 GiB, so its alert always fires; write "
        '"1073741824 Green, >1073741824 Red" to alert on values above 1 GiB'
    )
    parse_shorthand("1073741824 Green, >1073741824 Red")
