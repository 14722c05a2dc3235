"""Derived alert names that two alerts share, and the warnings at both panels.

Camel-casing drops spaces, dashes and underscores and capitalises the first letter,
so unlike titles and series names can give one alert name. The later alert then
gets a number, which depends on where the panels are.
"""

from __future__ import annotations

import json
import pickle
import textwrap
from pathlib import Path

import attrs
import pytest
import yaml

from obscompile.derive.alert_names import AlertOrigin, PackedOrigins
from obscompile.derive.alerts import alert_origins
from obscompile.diagnostics import Diagnostic, Severity
from obscompile.model.location import BlockUse, Location
from obscompile.pipeline import BuildResult, Project, build
from tests.conftest import write_manifest
from tests.test_prometheus import assert_promtool, write_files
from tests.test_prometheus_cases import HEADER

ROW = "  - title: {title}\n    panels:\n"


def _build(project: Path, *rows: str) -> BuildResult:
    """Build one service whose rows each hold the panels of one text."""
    text = HEADER.format(service="payments", job="payments")
    for number, panels in enumerate(rows, 1):
        if number > 1:
            text += ROW.format(title=f"Row {number}")
        text += textwrap.indent(textwrap.dedent(panels), "      ")
    write_manifest(project, "payments.yaml", text)
    result = build(Project.at(project))
    assert result.ok, "\n".join(str(d) for d in result.diagnostics)
    return result


def _alert_names(result: BuildResult) -> list[str]:
    document = yaml.safe_load(result.files["prometheus/rules/payments.rules.yml"])
    return [rule["alert"] for rule in document["groups"][1]["rules"]]


def _name_findings(result: BuildResult) -> list[Diagnostic]:
    found = [d for d in result.diagnostics if d.check == "alerts/name"]
    return sorted(found, key=Diagnostic.sort_key)


def _where(diagnostic: Diagnostic) -> tuple[int, int]:
    return (diagnostic.location.line, diagnostic.location.column)


ALIKE_TITLES = """\
- title: Error Rate
  query: 'max(link_status{job="payments"})'
  thresholds: "<5 Green, >5 Red"
- title: Error-Rate
  query: 'min(link_status{job="payments"})'
  thresholds: "<5 Green, >5 Red"
"""


def test_alike_titles_warn_at_both(project: Path) -> None:
    result = _build(project, ALIKE_TITLES)
    assert _alert_names(result) == [
        "PaymentsErrorRateCritical",
        "PaymentsErrorRate2Critical",
    ]
    first, second = _name_findings(result)
    assert first.severity is Severity.WARNING
    assert second.severity is Severity.WARNING
    # Each warning sits at its panel's title and names the other panel's.
    assert _where(first) == (21, 16)
    assert _where(second) == (24, 16)
    assert first.message == (
        'panel "Error Rate": this panel and panel "Error-Rate" at '
        "services/payments.yaml:24:16 both give the alert name "
        '"PaymentsErrorRateCritical", so the later one is named '
        '"PaymentsErrorRate2Critical", and moving or removing a panel can rename '
        "it; give one of them a name of its own with alert: {name: ...}"
    )
    assert second.message.startswith(
        'panel "Error-Rate": this panel and panel "Error Rate" at '
        "services/payments.yaml:21:16 both give the alert name "
        '"PaymentsErrorRateCritical", '
    )


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ('Cache "Hot" Set\'s Size', "PaymentsCacheHotSetsSizeCritical"),
        ("Cache \u2019Hot\u2019 Set\u2019s Size", "PaymentsCacheHotSetsSizeCritical"),
        ("Orders' Age", "PaymentsOrdersAgeCritical"),
        ("'Quoted' Depth", "PaymentsQuotedDepthCritical"),
        ("Rock'n'Roll 2's", "PaymentsRocknRoll2sCritical"),
        ("Set_s Size", "PaymentsSetSSizeCritical"),
    ],
)
def test_apostrophe_inside_word_joins(project: Path, title: str, expected: str) -> None:
    panel = f"""\
- title: {json.dumps(title)}
  query: 'max(link_status{{job="payments"}})'
  thresholds: "<5 Green, >5 Red"
"""
    assert _alert_names(_build(project, panel)) == [expected]


def test_apostrophe_titles_stay_unique(project: Path) -> None:
    result = _build(
        project,
        """\
- title: "Set's Size"
  query: 'max(link_status{job="payments"})'
  thresholds: "<5 Green, >5 Red"
- title: "Sets Size"
  query: 'min(link_status{job="payments"})'
  thresholds: "<5 Green, >5 Red"
""",
    )
    assert _alert_names(result) == [
        "PaymentsSetsSizeCritical",
        "PaymentsSetsSize2Critical",
    ]
    assert len(_name_findings(result)) == 2


def _names_by_query(result: BuildResult) -> dict[str, str]:
    document = yaml.safe_load(result.files["prometheus/rules/payments.rules.yml"])
    return {rule["expr"]: rule["alert"] for rule in document["groups"][1]["rules"]}


def test_moved_panel_takes_the_number(project: Path) -> None:
    """Swapping the panels swaps their names, which the warning is about."""
    before = _names_by_query(_build(project, ALIKE_TITLES))
    first, second = ALIKE_TITLES.split("- title: Error-Rate")
    result = _build(project, "- title: Error-Rate" + second + first)
    after = _names_by_query(result)
    minimum = 'job:link_status:min{job="payments"} >= 5'
    assert before[minimum] == "PaymentsErrorRate2Critical"
    assert after[minimum] == "PaymentsErrorRateCritical"
    assert len(_name_findings(result)) == 2


def test_same_title_in_two_rows(project: Path) -> None:
    panel = """\
    - title: Error Rate
      query: 'max(link_status{job="payments",state="%s"})'
      thresholds: "<5 Green, >5 Red"
    """
    result = _build(project, panel % "up", panel % "down")
    assert _alert_names(result) == [
        "PaymentsErrorRateCritical",
        "PaymentsErrorRate2Critical",
    ]
    messages = [d.message for d in _name_findings(result)]
    assert len(messages) == 2
    assert 'panel "Error Rate" at services/payments.yaml:26:16' in messages[0]
    assert 'panel "Error Rate" at services/payments.yaml:21:16' in messages[1]


TITLE_AND_SERIES = """\
- title: Lag
  query: 'max by (state) (link_status{job="payments"})'
  legend: '{{state}}'
  thresholds: "2 <5, 3 <6"
- title: Lag 2
  query: 'max(link_status{job="payments"})'
  thresholds: "<5 Green, >5 Red"
"""


def test_title_and_series_name_clash(project: Path) -> None:
    result = _build(project, TITLE_AND_SERIES)
    assert _alert_names(result) == [
        "PaymentsLag2Critical",
        "PaymentsLag3Critical",
        "PaymentsLag22Critical",
    ]
    series, title = _name_findings(result)
    # The series side sits at the name of the series in the threshold text.
    assert _where(series) == (24, 22)
    assert _where(title) == (25, 16)
    assert series.message.startswith(
        'panel "Lag" (series "2"): this panel and panel "Lag 2" at '
        "services/payments.yaml:25:16 both give the alert name "
        '"PaymentsLag2Critical", so the later one is named "PaymentsLag22Critical"'
    )
    assert title.message.startswith(
        'panel "Lag 2": this panel and panel "Lag" (series "2") at '
        "services/payments.yaml:24:22 both give the alert name "
        '"PaymentsLag2Critical", '
    )


def test_written_name_ends_the_clash(project: Path) -> None:
    panels = TITLE_AND_SERIES + "  alert: {name: PaymentsLagTotal}\n"
    result = _build(project, panels)
    assert _alert_names(result) == [
        "PaymentsLag2Critical",
        "PaymentsLag3Critical",
        "PaymentsLagTotalCritical",
    ]
    assert _name_findings(result) == []


def test_written_name_with_severity(project: Path) -> None:
    """A written name ending with a severity gets it twice, and a warning."""
    result = _build(
        project,
        """\
        - title: Backlog
          query: 'max(link_status{job="payments"})'
          thresholds: "<5 Green, 5-7 Yellow, >7 Red"
          alert: {name: OrderWorkerBacklogCritical, warning: true}
        - title: Lag
          query: 'min(link_status{job="payments"})'
          thresholds: "<5 Green, >5 Red"
          alert: {name: LagWarningCritical}
        - title: Links
          query: 'sum(link_status{job="payments"})'
          thresholds: "<5 Green, >5 Red"
          alert: {name: Critical}
        - title: Errors
          query: 'avg(link_status{job="payments"})'
          thresholds: "<5 Green, >5 Red"
          alert: {name: CriticalErrors}
        """,
    )
    assert _alert_names(result) == [
        "OrderWorkerBacklogCriticalCritical",
        "OrderWorkerBacklogCriticalWarning",
        "LagWarningCriticalCritical",
        "CriticalCritical",
        "CriticalErrorsCritical",
    ]
    backlog, lag, links = _name_findings(result)
    assert backlog.severity is Severity.WARNING
    # Each warning sits at the written name.
    assert _where(backlog) == (24, 23)
    assert _where(lag) == (28, 23)
    assert _where(links) == (32, 23)
    assert backlog.message == (
        'alert name "OrderWorkerBacklogCritical" ends with "Critical", and the '
        "build appends the severity to a written name, so the rules are named "
        '"OrderWorkerBacklogCriticalCritical" and "OrderWorkerBacklogCriticalWarning"; '
        "write name: OrderWorkerBacklog"
    )
    assert lag.message == (
        'alert name "LagWarningCritical" ends with "Critical", and the build '
        "appends the severity to a written name, so the rule is named "
        '"LagWarningCriticalCritical"; write name: Lag'
    )
    assert links.message.endswith(
        'so the rule is named "CriticalCritical"; write a name without "Critical"'
    )


def test_unused_written_name_with_severity(project: Path) -> None:
    """A panel without an alert gives its written name to no rule."""
    result = _build(
        project,
        """\
        - title: Backlog
          query: 'max(link_status{job="payments"})'
          alert: {name: BacklogWarning}
        - title: Links
          query: 'min(link_status{job="payments"})'
          thresholds: "<5 Green, >5 Red"
        """,
    )
    assert _alert_names(result) == ["PaymentsLinksCritical"]
    assert _name_findings(result) == []


def test_series_of_one_panel_clash(project: Path) -> None:
    result = _build(
        project,
        """\
        - title: Lag
          query: 'max by (state) (link_status{job="payments"})'
          legend: '{{state}}'
          thresholds: "a-b <5, a_b <6, api <7, Api <8"
          alert: {warning: true}
        """,
    )
    assert _alert_names(result) == [
        "PaymentsLagABCritical",
        "PaymentsLagAB2Critical",
        "PaymentsLagApiCritical",
        "PaymentsLagApi2Critical",
    ]
    messages = [d.message for d in _name_findings(result)]
    assert messages == [
        'panel "Lag": the alerts of series "a-b" and of series "a_b" both get the '
        'name "PaymentsLagABCritical", so the later one is named '
        '"PaymentsLagAB2Critical", and reordering or removing the thresholds can '
        "rename it; chart one of them in a panel of its own with alert: {name: ...}",
        'panel "Lag": the alerts of series "api" and of series "Api" both get the '
        'name "PaymentsLagApiCritical", so the later one is named '
        '"PaymentsLagApi2Critical", and reordering or removing the thresholds can '
        "rename it; chart one of them in a panel of its own with alert: {name: ...}",
    ]
    # Each finding sits at the name of the later series in the threshold text.
    assert [_where(d) for d in _name_findings(result)] == [(24, 30), (24, 46)]


def test_series_of_named_panel_clash(project: Path) -> None:
    """A written name is no advice for two series of its own panel."""
    result = _build(
        project,
        """\
        - title: Lag
          query: 'max by (state) (link_status{job="payments"})'
          legend: '{{state}}'
          thresholds: "a-b <5, a_b <6"
          alert: {name: Lagging}
        """,
    )
    assert _alert_names(result) == ["LaggingABCritical", "LaggingAB2Critical"]
    (finding,) = _name_findings(result)
    assert finding.message.startswith(
        'panel "Lag": the alerts of series "a-b" and of series "a_b" both get '
    )


def test_mappings_of_one_panel_clash(project: Path) -> None:
    """5 and -5 camel-case alike in the suffix of a value mapping's alert."""
    result = _build(
        project,
        """\
        - title: Links
          query: 'max(link_status{job="payments"})'
          thresholds: "5=Red, -5=Red, 1=Green"
        """,
    )
    assert _alert_names(result) == [
        "PaymentsLinksIs5Critical",
        "PaymentsLinksIs52Critical",
    ]
    (finding,) = _name_findings(result)
    assert finding.message.startswith(
        'panel "Links": the alerts of the red band (equal to -5) and of the red '
        'band (equal to 5) both get the name "PaymentsLinksIs5Critical", '
    )


def test_severities_share_one_warning(project: Path) -> None:
    panels = ALIKE_TITLES.replace(
        '"<5 Green, >5 Red"', '"<5 Green, 5-7 Yellow, >7 Red"\n  alert: {warning: true}'
    )
    result = _build(project, panels)
    assert _alert_names(result) == [
        "PaymentsErrorRateCritical",
        "PaymentsErrorRateWarning",
        "PaymentsErrorRate2Critical",
        "PaymentsErrorRate2Warning",
    ]
    first, second = _name_findings(result)
    for finding in (first, second):
        assert (
            'both give the alert names "PaymentsErrorRateCritical" and '
            '"PaymentsErrorRateWarning", so the later ones are named '
            '"PaymentsErrorRate2Critical" and "PaymentsErrorRate2Warning", and '
            "moving or removing a panel can rename them;"
        ) in finding.message


def test_written_and_derived_name_clash(project: Path) -> None:
    """A derived name that a written one takes first warns at both panels."""
    result = _build(
        project,
        """\
        - title: Written
          query: 'max(link_status{job="payments"})'
          thresholds: "<5 Green, >5 Red"
          alert: {name: PaymentsErrorRate}
        - title: Error Rate
          query: 'min(link_status{job="payments"})'
          thresholds: "<5 Green, >5 Red"
        """,
    )
    assert _alert_names(result) == [
        "PaymentsErrorRateCritical",
        "PaymentsErrorRate2Critical",
    ]
    written, derived = _name_findings(result)
    # The written side sits at its name.
    assert _where(written) == (24, 23)
    assert _where(derived) == (25, 16)
    assert written.message.startswith(
        'panel "Written": this panel and panel "Error Rate" at '
    )


def test_numbered_name_taken(project: Path) -> None:
    """A title that gives another alert's numbered name warns at its own panel."""
    result = _build(
        project,
        ALIKE_TITLES
        + """\
        - title: Error Rate 2
          query: 'sum(link_status{job="payments"})'
          thresholds: "<5 Green, >5 Red"
        """.replace("        ", ""),
    )
    assert _alert_names(result) == [
        "PaymentsErrorRateCritical",
        "PaymentsErrorRate2Critical",
        "PaymentsErrorRate22Critical",
    ]
    findings = _name_findings(result)
    assert len(findings) == 3
    assert findings[2].message == (
        'panel "Error Rate 2": the alert name "PaymentsErrorRate2Critical" of this '
        'panel is the numbered name of panel "Error-Rate" at '
        "services/payments.yaml:24:16, so this panel's name is "
        '"PaymentsErrorRate22Critical", and moving or removing a panel can rename '
        "it; give one of them a name of its own with alert: {name: ...}"
    )


def _test_alert_names(document: dict) -> list[str]:
    """Return the alert names that a promtool test file checks, once each."""
    names = [
        check["alertname"]
        for group in document["tests"]
        for check in group.get("alert_rule_test", [])
    ]
    return list(dict.fromkeys(names))


def test_files_agree_on_numbered_names(project: Path) -> None:
    """The rule file, its test, the PrometheusRule and Mimir name alerts alike."""
    result = _build(
        project,
        ALIKE_TITLES,
        TITLE_AND_SERIES,
        """\
        - title: Lag
          query: 'min by (state) (link_status{job="payments"})'
          legend: '{{state}}'
          thresholds: "a-b <5, a_b <6"
        """,
    )
    names = _alert_names(result)
    assert names == [
        "PaymentsErrorRateCritical",
        "PaymentsErrorRate2Critical",
        "PaymentsLag2Critical",
        "PaymentsLag3Critical",
        "PaymentsLag22Critical",
        "PaymentsLagABCritical",
        "PaymentsLagAB2Critical",
    ]
    kubernetes = yaml.safe_load(result.files["kubernetes/payments.prometheusrule.yaml"])
    mimir = yaml.safe_load(result.files["mimir/payments.yaml"])
    for document in (kubernetes["spec"], mimir):
        rules = document["groups"][1]["rules"]
        assert [rule["alert"] for rule in rules] == names
    tests = yaml.safe_load(result.files["prometheus/tests/payments.test.yml"])
    assert _test_alert_names(tests) == names
    out = write_files(project / "out", result.files)
    assert_promtool("test", "rules", str(out / "prometheus/tests/payments.test.yml"))


def test_origins_follow_derived_names(project: Path) -> None:
    """alert_origins names the alerts as the rule file does, also past a skipped panel."""
    # No rule can read a query with a Grafana variable, so this panel gets no alert,
    # and the next panel's alert takes its name without a number.
    skipped = """\
    - title: Error.Rate
      query: 'max(link_status{job="payments",state="$state"})'
      thresholds: "<5 Green, >5 Red"
    """
    result = _build(project, textwrap.dedent(skipped) + ALIKE_TITLES, TITLE_AND_SERIES)
    (service,) = result.services
    names = _alert_names(result)
    assert names[:2] == ["PaymentsErrorRateCritical", "PaymentsErrorRate2Critical"]
    assert [origin.name for origin in alert_origins(service)] == names


def test_origin_pickle_keeps_every_field() -> None:
    """A stored alert origin reads back whole, with the block use of its position."""
    use = BlockUse("http_api_health", Location("services/a.yaml", 3, 5))
    origin = AlertOrigin(
        "PaymentsErrorsCritical",
        "payments",
        'panel "Errors"',
        Location("blocks/http.py", 10, 7, use),
    )
    # A new field needs its place in AlertOrigin.__reduce__ too.
    assert [field.name for field in attrs.fields(AlertOrigin)] == [
        "name",
        "service",
        "panel",
        "location",
    ]
    assert pickle.loads(pickle.dumps(origin)) == origin


def test_packed_origins_read_back_whole() -> None:
    """Packed alerts of one file read back as the alerts that were packed."""
    origins = tuple(
        AlertOrigin(
            f"PaymentsLag{index}Critical",
            "payments",
            f'panel "Lag {index}"',
            Location("services/a.yaml", 10 + index, 9),
        )
        for index in range(3)
    )
    packed = PackedOrigins.of(origins)
    assert isinstance(packed, PackedOrigins)
    restored = pickle.loads(pickle.dumps(packed))
    assert restored.names == tuple(origin.name for origin in origins)
    assert list(restored) == list(origins)
    assert restored[-1] == origins[-1]
    assert restored[1] is restored[1]


def test_origins_of_blocks_stay_unpacked() -> None:
    """Alerts whose positions name a block use are kept as they are."""
    use = BlockUse("http_api_health", Location("services/a.yaml", 3, 5))
    origins = (
        AlertOrigin("A", "payments", 'panel "A"', Location("services/a.yaml", 8, 9)),
        AlertOrigin(
            "B", "payments", 'panel "B"', Location("blocks/http.py", 10, 7, use)
        ),
    )
    assert PackedOrigins.of(origins) is origins
