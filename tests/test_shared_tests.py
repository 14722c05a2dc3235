"""Rules that differ only in the service's names share their generated tests.

The test generator runs on a rule whose names (service, jobs, targets, dashboard,
alert) are replaced with placeholders, and puts the names back in its result. Every
test here compares that result with the tests generated from the rule as written,
which must be equal, and checks where a rule keeps its names.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obscompile.config import Config
from obscompile.derive import promtests, testfile
from obscompile.derive.alerts import ServiceRules, derive_rules
from obscompile.derive.renaming import (
    Renaming,
    query_keeps_meaning,
    template_keeps_meaning,
)
from obscompile.load.durations import duration_ms
from obscompile.load.project import load_project
from obscompile.model.service import Service
from tests.conftest import write_manifest

EVALUATION_MS = duration_ms(Config().evaluation_interval)

MANIFEST = """\
service: {service}
dashboard:
  uid: {service}-overview
  title: {title}
scrape:
  job: {job}
  targets: ['{target}']
  interval: 1m
metrics:
  http_requests_total:
    type: counter
    labels: [code, route]
  http_request_duration_seconds:
    type: histogram
    buckets: [0.1, 0.3, 0.5, 1, 2.5]
  {prefix}_queue_depth:
    type: gauge
    labels: [queue, severity]
rows:
  - title: Health
    panels:
{panels}
"""

PANELS = """\
- title: Error ratio
  type: stat
  query: 'sum(rate(http_requests_total{{job="{job}",code=~"5.."}}[5m])) / sum(rate(http_requests_total{{job="{job}"}}[5m])) * 100'
  unit: percent
  thresholds: "<1 Green, 1-5 Yellow, >5 Red"
- title: P95 latency
  type: stat
  query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{{job="{job}",route!="/health"}}[5m])))'
  unit: s
  thresholds: "<0.3 Green, 0.3-1 Yellow, >1 Red"
- title: Queue depth
  type: timeseries
  query: 'sum by (queue, severity) ({prefix}_queue_depth{{job="{job}"}})'
  legend: '{{{{queue}}}}'
  thresholds: "<10 Green, 10-50 Yellow, >50 Red"
  alert:
    summary: 'Queue {{{{ $labels.queue }}}} of {service} holds {{{{ $value }}}} items'
- title: Requests by route
  type: timeseries
  query: 'sum by (route) (rate(http_requests_total{{job="{job}"}}[5m]))'
  legend: '{{{{route}}}}'
"""


def _manifest(
    service: str,
    panels: str = PANELS,
    job: str | None = None,
    target: str | None = None,
    title: str | None = None,
) -> str:
    job = job or service.replace("-", "_")
    fields = {
        "service": service,
        "job": job,
        "target": target or f"{service}:8080",
        "title": title or service,
        "prefix": service.replace("-", "_"),
    }
    return MANIFEST.format(
        panels=textwrap.indent(panels.format(**fields), "      "), **fields
    )


def _direct(rules: ServiceRules) -> testfile.TestSuite:
    """Return the tests generated from the rules as written, without renaming."""
    generator = promtests._Generator(rules.service, EVALUATION_MS)
    for alert in rules.alerts:
        generator.alert_groups(alert)
    for rule in rules.recording:
        if rule.record not in generator.tested_records:
            generator.record_group(rule)
    return testfile.TestSuite(
        service=rules.service.name,
        evaluation_interval=promtests.duration_label(EVALUATION_MS),
        groups=tuple(generator.groups),
        untested=tuple(generator.untested),
    )


def _services(folder: Path) -> list[Service]:
    loaded = load_project(folder / "services")
    assert not loaded.diagnostics, loaded.diagnostics
    return list(loaded.services)


def _assert_same_as_direct(service: Service) -> testfile.TestSuite:
    rules = derive_rules(service)
    suite = promtests.generate_tests(rules)
    assert suite == _direct(rules)
    assert not re.search(r"zzobscompilename\d+zz", repr(suite))
    return suite


@pytest.fixture(autouse=True)
def _empty_shared_tests() -> None:
    promtests._SHARED.clear()


def test_real_services_match_direct_tests(repo: Path) -> None:
    services = _services(repo)
    assert sum(len(_assert_same_as_direct(s).groups) for s in services) > 50


def test_hyphenated_services_share_their_tests(tmp_path: Path) -> None:
    write_manifest(tmp_path, "billing-api.yaml", _manifest("billing-api"))
    write_manifest(tmp_path, "ledger-api.yaml", _manifest("ledger-api"))
    billing, ledger = _services(tmp_path)
    _assert_same_as_direct(billing)
    shared = len(promtests._SHARED)
    second = _assert_same_as_direct(ledger)
    assert len(promtests._SHARED) == shared
    assert 'job="ledger_api"' in repr(second)


def test_services_of_one_shape_share_their_tests(tmp_path: Path) -> None:
    write_manifest(tmp_path, "billing.yaml", _manifest("billing"))
    write_manifest(tmp_path, "ledger.yaml", _manifest("ledger"))
    billing, ledger = _services(tmp_path)
    first = _assert_same_as_direct(billing)
    shared = len(promtests._SHARED)
    second = _assert_same_as_direct(ledger)
    # Every rule of the second service found the tests of its twin.
    assert len(promtests._SHARED) == shared
    assert len(first.groups) == len(second.groups) >= 10
    assert not first.untested
    texts = repr(second)
    assert "billing" not in texts
    assert 'job="ledger"' in texts
    assert "ledger:8080" in texts
    assert "ledger_queue_depth" in texts
    assert "Queue queue-1 of ledger holds" in texts


AGE_AND_GAUGE_RATIO = """\
- title: Queue age
  type: stat
  query: 'time() - max({prefix}_queue_depth{{job="{job}"}})'
  unit: s
  thresholds: "<3600 Green, 3600-7200 Yellow, >7200 Red"
- title: Queue share
  type: stat
  query: 'sum({prefix}_queue_depth{{job="{job}",queue="main"}}) / sum({prefix}_queue_depth{{job="{job}"}}) * 100'
  unit: percent
  thresholds: "<80 Green, 80-90 Yellow, >90 Red"
"""


def test_age_and_gauge_ratio_share_their_tests(tmp_path: Path) -> None:
    for name in ("billing", "ledger"):
        text = _manifest(name, AGE_AND_GAUGE_RATIO)
        write_manifest(tmp_path, f"{name}.yaml", text)
    billing, ledger = _services(tmp_path)
    first = _assert_same_as_direct(billing)
    shared = len(promtests._SHARED)
    second = _assert_same_as_direct(ledger)
    assert len(promtests._SHARED) == shared
    assert not first.untested
    assert not second.untested
    assert len(first.groups) == len(second.groups) >= 6
    texts = repr(second)
    assert "billing" not in texts
    assert 'ledger_queue_depth{instance="ledger:8080",job="ledger"}' in texts


def test_shared_tests_do_not_depend_on_the_order(tmp_path: Path) -> None:
    write_manifest(tmp_path, "billing.yaml", _manifest("billing"))
    write_manifest(tmp_path, "ledger.yaml", _manifest("ledger"))
    billing, ledger = _services(tmp_path)
    one = (_assert_same_as_direct(billing), _assert_same_as_direct(ledger))
    promtests._SHARED.clear()
    other = (_assert_same_as_direct(ledger), _assert_same_as_direct(billing))
    assert one == other[::-1]


# Rules where a name's spelling takes part in a result keep their names.
KEEPS_NAMES = {
    # The job's value comes from the `=` matcher and meets a pattern without the name.
    "regex-on-job": """\
        - title: Depth
          type: stat
          query: 'sum({prefix}_queue_depth{{job="{job}",job=~"bil.*"}})'
          thresholds: "<10 Green, >10 Red"
        """,
    "template-function-on-label": """\
        - title: Depth
          type: stat
          query: 'sum by (job) ({prefix}_queue_depth{{job="{job}"}})'
          thresholds: "<10 Green, >10 Red"
          alert:
            summary: '{{{{ printf "%.3s" $labels.job }}}} is deep'
        """,
    "name-in-template-action": """\
        - title: Depth
          type: stat
          query: 'sum({prefix}_queue_depth{{job="{job}"}})'
          thresholds: "<10 Green, >10 Red"
          alert:
            summary: '{{{{ printf "%.3s" "{job}" }}}} is deep'
        """,
}


@pytest.mark.parametrize("panels", KEEPS_NAMES.values(), ids=KEEPS_NAMES.keys())
def test_rule_reading_a_name_keeps_it(tmp_path: Path, panels: str) -> None:
    write_manifest(tmp_path, "billing.yaml", _manifest("billing", panels))
    (service,) = _services(tmp_path)
    rules = derive_rules(service)
    assert rules.alerts
    for alert in rules.alerts:
        view = promtests._catalog_view(alert, service)
        assert promtests._renamed(alert, view, ())[0].identity
    _assert_same_as_direct(service)


def test_label_named_after_the_service_keeps_names(tmp_path: Path) -> None:
    panels = """\
        - title: Depth
          type: stat
          query: 'sum({prefix}_queue_depth{{job="{job}",{prefix}_shard="a"}})'
          thresholds: "<10 Green, >10 Red"
        """
    text = _manifest("billing", panels).replace(
        "labels: [queue, severity]", "labels: [queue, severity, billing_shard]"
    )
    write_manifest(tmp_path, "billing.yaml", text)
    (service,) = _services(tmp_path)
    (alert,) = derive_rules(service).alerts
    view = promtests._catalog_view(alert, service)
    assert promtests._renamed(alert, view, ())[0].identity
    _assert_same_as_direct(service)


def test_service_names_that_are_not_renamed(tmp_path: Path) -> None:
    # A name that contains the placeholder prefix, and one too short to rename.
    write_manifest(tmp_path, "a.yaml", _manifest("zzobscompilename-x"))
    write_manifest(tmp_path, "b.yaml", _manifest("ab"))
    for service in _services(tmp_path):
        alert = derive_rules(service).alerts[0]
        view = promtests._catalog_view(alert, service)
        renaming = promtests._renamed(alert, view, ())[0]
        assert service.name not in renaming.names
        _assert_same_as_direct(service)


# Services whose names are also words that a rule reads as more than a name. Such a
# word is a panel unit (`percent`), a duration (`for: 15m`), a series suffix
# (`_bucket`) or a value that the test generator makes up for a label (`other`). Some
# names are escaped by PromQL, or quoted by Python, differently from a placeholder.
def _with_alert_for(text: str, duration: str) -> str:
    return text.replace("metrics:", f"alerts:\n  for: {duration}\nmetrics:", 1)


NOT_ONLY_NAMES = {
    "name-in-unit": _manifest("cent"),
    "name-is-duration": _with_alert_for(_manifest("billing", title="15m"), "15m"),
    "name-is-series-suffix": _manifest("bucket"),
    "name-is-made-up-value": _manifest(
        "other",
        """\
        - title: Requests
          type: stat
          query: 'sum(rate(http_requests_total{{job="{job}",route!="{service}"}}[5m]))'
          thresholds: "<10 Green, >10 Red"
        """,
    ),
    "pinned-name-is-made-up-value": _manifest(
        "other",
        """\
        - title: Requests by route
          type: timeseries
          query: 'sum by (route) (rate(http_requests_total{{job="{job}"}}[5m]))'
          legend: '{{{{route}}}}'
          thresholds: "{service} <5, checkout <3"
        """,
    ),
    "escaped-name-in-query": _manifest(
        "billing",
        r"""
        - title: Depth
          type: stat
          query: 'sum({prefix}_queue_depth{{job="{job}",queue="\x62illing"}})'
          thresholds: "<10 Green, >10 Red"
        """,
    ),
    "unprintable-name": _manifest(
        "billing",
        """\
        - title: Depth
          type: stat
          query: 'sum({prefix}_queue_depth{{job="{job}",queue="{title}"}})'
          thresholds: "<10 Green, >10 Red"
        """,
        title="Billing\u00ad",
    ),
    "name-with-apostrophe": _manifest(
        "billing",
        """\
        - title: Depth
          type: stat
          query: 'sum({prefix}_queue_depth{{job="{job}",queue="Bob''s",queue!="Bob''s"}})'
          thresholds: "<10 Green, >10 Red"
        """,
        title='"Bob\'s"',
    ),
    "name-ends-before-trimmed-action": _manifest(
        "billing",
        """\
        - title: Depth
          type: stat
          query: 'sum by (queue) ({prefix}_queue_depth{{job="{job}"}})'
          thresholds: "<10 Green, >10 Red"
          alert:
            summary: 'Billing {{{{- $labels.queue }}}} is deep'
        """,
        title="'Billing '",
    ),
    "name-opens-an-action": _manifest("billing", title="Queue {"),
}


@pytest.mark.parametrize("text", NOT_ONLY_NAMES.values(), ids=NOT_ONLY_NAMES.keys())
def test_name_read_as_more_than_a_name(tmp_path: Path, text: str) -> None:
    write_manifest(tmp_path, "service.yaml", text)
    (service,) = _services(tmp_path)
    assert derive_rules(service).alerts
    _assert_same_as_direct(service)


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ('sum(rate(svc_total{job="svc"}[5m]))', True),
        ('sum(rate(svc_total{job="svc",code=~"5.."}[5m]))', True),
        ('sum(rate(svc_total{job!="svc"}[5m]))', True),
        ('sum(up{job=~"svc"})', False),
        ('sum(up{job="x",instance=~"svc:.*"})', False),
        ('sum(up{job="x",svc_shard="a"})', False),
        ('sum by (svc_shard) (up{job="x"})', False),
        ('up{job="x"} / on (svc_shard) up{job="y"}', False),
        ('up{job="x"} / on (job) group_left (svc_shard) up{job="y"}', False),
        ('label_replace(up{job="x"}, "a", "$1", "code", "(.*)")', True),
        ('label_replace(up{job="x"}, "a", "$1", "job", "(.*)")', False),
        ('label_join(up{job="x"}, "a", ",", "code", "job")', False),
        ('label_replace(up{job="x"}, "svc", "$1", "code", "(.*)")', False),
        ('count_values("svc", up{job="x"})', False),
        ('up{route="svc",tier=~"a.*"}', True),
        # route contains the service name, so a regex on it could read it.
        ('up{route="svc"} * on () group_left () up{route=~"s.*"}', False),
        ('rate(up{job="x"}[5m])', True),
        # Renaming inside a function name or keyword breaks the query.
        ("svc(up)", False),
        # The escape sequence spells the name that the text does not contain.
        ('up{job="x",route="\\x73vc"}', False),
    ],
)
def test_query_keeps_meaning(query: str, kept: bool) -> None:
    renaming = Renaming(["svc"])
    assert query_keeps_meaning(query, renaming.text(query), renaming) is kept


def test_query_keeps_meaning_with_named_labels() -> None:
    renaming = Renaming(["svc"])
    query = 'up{job="x",series=~"a.*"}'
    assert query_keeps_meaning(query, renaming.text(query), renaming)
    assert not query_keeps_meaning(query, renaming.text(query), renaming, {"series"})


@pytest.mark.parametrize(
    ("template", "kept"),
    [
        ("svc is down", True),
        ("{{ $labels.instance }} of svc", True),
        ("{{- .Labels.job -}}", True),
        ('{{ $value | printf "%.2f" }} in svc', True),
        ("{{ $labels.job | title }}", False),
        ('{{ printf "%s" $labels.job }}', False),
        ('{{ if eq $labels.job "svc" }}x{{ end }}', False),
        # A query's result contains names, and sortByLabel orders them by spelling.
        ('{{ range sortByLabel "job" (query "up") }}{{ .Value }}{{ end }}', False),
    ],
)
def test_template_keeps_meaning(template: str, kept: bool) -> None:
    renamed = Renaming(["svc"]).text(template)
    assert template_keeps_meaning(template, renamed) is kept


def test_renaming_round_trip() -> None:
    renaming = Renaming(["payments", "payments:8080", "PaymentsDown", "ab"])
    assert renaming.names == ("payments", "payments:8080", "PaymentsDown")
    text = 'up{job="payments",instance="payments:8080"} PaymentsDown zz9'
    renamed = renaming.text(text)
    assert "payments" not in renamed
    assert renaming.restore_text(renamed) == text


def test_restored_group_with_separator_in_text() -> None:
    renaming = Renaming(["billing", "zzobscompilename1zz"])
    assert renaming.names == ("billing",)
    group = testfile.TestGroup(
        name=renaming.text("billing\x00 fires"),
        interval="1m",
        series=((renaming.text('up{job="billing"}'), "1x5"),),
        expr_checks=(
            testfile.ExprCheck(
                renaming.text("up"),
                "5m",
                (('{job="c"}', 2.0), (renaming.text('{job="billing"}'), 1.0)),
            ),
        ),
    )
    restored = promtests._restored_group(renaming, group)
    assert restored.name == "billing\x00 fires"
    assert restored.series == (('up{job="billing"}', "1x5"),)
    # Sorted again by the restored names.
    assert restored.expr_checks[0].samples == (
        ('{job="billing"}', 1.0),
        ('{job="c"}', 2.0),
    )


# Words that YAML 1.1 reads as booleans get a warning when a manifest writes them
# unquoted, so the names leave them out.
NAMES = st.from_regex(r"[a-z][a-z0-9]{1,6}(-[a-z0-9]{1,5})?", fullmatch=True).filter(
    lambda name: name not in {"on", "off", "yes", "no"}
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(name=NAMES, port=st.integers(1, 65535), title=NAMES)
def test_random_names_match_direct_tests(
    tmp_path_factory: pytest.TempPathFactory, name: str, port: int, title: str
) -> None:
    folder = tmp_path_factory.mktemp("names")
    write_manifest(
        folder,
        "service.yaml",
        _manifest(name, target=f"{name}.internal:{port}", title=title),
    )
    (service,) = _services(folder)
    _assert_same_as_direct(service)
