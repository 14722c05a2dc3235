"""Checks across the rendered artifacts: rules against dashboards and scrape jobs.

These run after rendering, on the files a build would write, because they compare
artifacts with each other: every alert's dashboard link must name a panel that
exists, every recording rule must record a panel's query or be read by something,
and every job a query names must be scraped. A finding is reported at the manifest
line of the panel it comes from, or of its service's name for a rule that no panel
derives.

The checks read each service's files once, into `ArtifactFacts`, and compare the
facts of all services, so a build can reuse the facts of a service that did not change.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from obscompile import promql
from obscompile.check.catalog import is_placeholder
from obscompile.check.project_duplicates import service_name_location
from obscompile.derive.expressions import printed_text
from obscompile.diagnostics import Diagnostic, error, warning
from obscompile.model.location import Location
from obscompile.model.service import Service
from obscompile.render.yaml_read import load_shared

_VIEW_PANEL = re.compile(r"/d/(?P<uid>[A-Za-z0-9_-]+)\?viewPanel=(?P<id>\d+)$")


def _yaml(text: str) -> Any:
    return load_shared(text)


DASHBOARDS_DIR = "grafana/dashboards/"
RULES_DIR = "prometheus/rules/"


def _is_dashboard(name: str) -> bool:
    return name.startswith(DASHBOARDS_DIR) and name.endswith(".json")


def _is_rule_file(name: str) -> bool:
    return name.startswith(RULES_DIR) and name.endswith(".yml")


def _dashboard_panels(text: str) -> tuple[str, frozenset[int]]:
    document = json.loads(text)
    ids = set()
    for panel in document.get("panels", []):
        if panel.get("type") != "row":
            ids.add(panel["id"])
        ids.update(child["id"] for child in panel.get("panels", []))
    return document["uid"], frozenset(ids)


def _rules(name: str, text: str) -> Iterator[dict]:
    document = _yaml(text) or {}
    for group in document.get("groups", []):
        yield from group.get("rules", [])


def _metric_names(expr: str) -> list[str]:
    try:
        return promql.metric_names(promql.parse(expr))
    except promql.QueryError:
        return []


def _job_values(expr: str) -> list[str]:
    try:
        node = promql.parse(expr)
    except promql.QueryError:
        return []
    values = []
    for selector in promql.selectors(node):
        for operator, value in promql.matcher_values(selector, "job"):
            # A Grafana variable (job="$job") names no job of its own.
            if operator == "=" and not is_placeholder(value):
                values.append(value)
    return values


_BY_JOB_ONLY = re.compile(r" (?:by|on) \(job\)")
_BY_JOB_FIRST = re.compile(r"((?:by|on) \()job, ")
_BY_JOB_LATER = re.compile(r"((?:by|on) \([^)]*), job\b")


def canonical(expr: str, drop_job_grouping: bool = False) -> str | None:
    """Return the printed text of a query, optionally without `by (job)` or `on (job)`.

    Recording rules may add `job` to an aggregation or a vector match that already
    filters on one job, which changes no value. The compiler's printer quotes
    strings as Go does: promql-parser's own text writes a regex such as `5\\d\\d`
    with single backslashes, which no parser reads back.
    """
    try:
        text = printed_text(promql.parse(expr))
        if drop_job_grouping:
            text = _BY_JOB_ONLY.sub("", text)
            text = _BY_JOB_FIRST.sub(r"\1", text)
            text = _BY_JOB_LATER.sub(r"\1", text)
            text = printed_text(promql.parse(text)) if text else text
    except promql.QueryError:
        return None
    return text


def _panel_locations(service: Service) -> dict[str, Location]:
    """Return where each dashboard panel of `service` was written, keyed by panel id."""
    from obscompile.render.grafana import panel_ids

    return {str(number): panel.location for number, panel in panel_ids(service)}


def _recording_locations(service: Service) -> dict[str, Location]:
    """Return the query of the first panel that each recording rule records, by name.

    The rules and names are those the build derives for the rule file, so a ratio
    rule, whose denominator gets a `> 0` guard, finds its panel too.
    """
    from obscompile.derive.alerts import recording_rules

    return {
        rule.record: rule.location
        for rule in recording_rules(service)
        if rule.location is not None
    }


def _alert_locations(service: Service) -> dict[str, Location]:
    """Return where the manifest writes what each derived alert's name comes from."""
    from obscompile.derive.alerts import alert_origins

    return {origin.name: origin.location for origin in alert_origins(service)}


@attrs.frozen
class RuleFacts:
    """One rule of a rule file, as the checks across artifacts see it.

    `where` is the panel an alert comes from, or the query of the first panel that a
    recording rule records. For a rule that no panel derives, such as one that a
    project template adds, `where` is `origin`, which is the service's name, or the
    rule file when no service owns it. `records_panel` is True for a recording rule
    that the build derives from a panel's query.
    """

    name: str
    alert: bool
    where: Location
    origin: Location
    reads: tuple[str, ...]
    jobs: tuple[str, ...]
    recorded: str | None = None
    records_panel: bool = False
    uid: str | None = None
    panel_id: str | None = None
    url: str = ""

    def __reduce__(self) -> tuple[type[RuleFacts], tuple[object, ...]]:
        # Positional arguments unpickle faster than attrs' state; a cached build
        # unpickles the facts of every rule of every service.
        return (RuleFacts, attrs.astuple(self, recurse=False))


@attrs.frozen
class ArtifactFacts:
    """The facts that the checks across artifacts read from one service and its files.

    `scraped` is whether the service's own jobs are in prometheus.yml: a service
    without scrape jobs is scraped by a configuration obscompile does not write.
    """

    dashboards: tuple[tuple[str, frozenset[int]], ...] = ()
    rules: tuple[RuleFacts, ...] = ()
    panel_reads: frozenset[str] = frozenset()
    panel_jobs: tuple[tuple[str, str, Location], ...] = ()
    scraped: bool = True
    # A sha256 of every fact above, equal for equal facts in any process, so that a
    # build can tell whether the comparison of every service's facts would change.
    digest: str = attrs.field(init=False, eq=False, repr=False)

    @digest.default
    def _digest(self) -> str:
        # The sets are sorted, because their order depends on the string hash seed.
        canonical = (
            sorted((uid, sorted(ids)) for uid, ids in self.dashboards),
            self.rules,
            sorted(self.panel_reads),
            self.panel_jobs,
            self.scraped,
        )
        return hashlib.sha256(repr(canonical).encode("utf-8")).hexdigest()


class _Selection(Mapping[str, str]):
    """Some files of a mapping, whose texts are looked up when read."""

    def __init__(self, files: Mapping[str, str], names: list[str]) -> None:
        self._files = files
        self._names = [name for name in names if name in files]

    def __getitem__(self, name: str) -> str:
        if name not in self._names:
            raise KeyError(name)
        return self._files[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def owned_files(service: Service, files: Mapping[str, str]) -> Mapping[str, str]:
    """Return the dashboard and rule file of `service` among `files`."""
    names = [f"{RULES_DIR}{service.name}.rules.yml"]
    if service.dashboard is not None:
        names.append(f"{DASHBOARDS_DIR}{service.dashboard.uid}.json")
    return _Selection(files, names)


def artifact_facts(service: Service | None, files: Mapping[str, str]) -> ArtifactFacts:
    """Read the facts of `service` (None for files that no service owns) from `files`."""
    dashboards = tuple(
        _dashboard_panels(text)
        for name, text in sorted(files.items())
        if _is_dashboard(name)
    )
    layout: dict[str, Location] | None = None
    alerted_at: dict[str, Location] | None = None
    recorded_at: dict[str, Location] | None = None
    rules = []
    for name, text in sorted(files.items()):
        if not _is_rule_file(name):
            continue
        for rule in _rules(name, text):
            expr = rule["expr"]
            origin = service_name_location(service) if service else Location(name, 1, 1)
            reads = tuple(_metric_names(expr))
            # A job that several selectors name is reported once per rule.
            jobs = tuple(dict.fromkeys(_job_values(expr)))
            if "alert" not in rule:
                record = rule.get("record", "")
                if recorded_at is None:
                    recorded_at = _recording_locations(service) if service else {}
                source = recorded_at.get(record)
                rules.append(
                    RuleFacts(
                        name=record,
                        alert=False,
                        where=origin if source is None else source,
                        origin=origin,
                        reads=reads,
                        jobs=jobs,
                        recorded=canonical(expr, drop_job_grouping=True),
                        records_panel=source is not None,
                    )
                )
                continue
            annotations = rule.get("annotations") or {}
            panel_id = annotations.get("panel_id")
            where = origin
            if service is not None:
                if layout is None:
                    layout = _panel_locations(service)
                found = layout.get(str(panel_id))
                if found is None:
                    # The annotation names no panel of the dashboard, so the panel
                    # is found by the alert's derived name.
                    if alerted_at is None:
                        alerted_at = _alert_locations(service)
                    found = alerted_at.get(rule["alert"])
                where = origin if found is None else found
            rules.append(
                RuleFacts(
                    name=rule["alert"],
                    alert=True,
                    where=where,
                    origin=origin,
                    reads=reads,
                    jobs=jobs,
                    uid=annotations.get("dashboard_uid"),
                    panel_id=None if panel_id is None else str(panel_id),
                    url=annotations.get("dashboard_url", ""),
                )
            )
    if service is None:
        return ArtifactFacts(dashboards=dashboards, rules=tuple(rules))
    queries = {panel.query for panel in service.panels}
    panel_reads: set[str] = set()
    for query in queries:
        panel_reads.update(_metric_names(query))
    panel_jobs = tuple(
        (job, panel.title, panel.location_of("query"))
        for panel in service.panels
        for job in dict.fromkeys(_job_values(panel.query))
    )
    return ArtifactFacts(
        dashboards=dashboards,
        rules=tuple(rules),
        panel_reads=frozenset(panel_reads),
        panel_jobs=panel_jobs,
        scraped=bool(service.scrape_jobs),
    )


FactsOf = Callable[[Service, Mapping[str, str]], ArtifactFacts]


def scraped_jobs(config: str) -> frozenset[str] | None:
    """Return the job names of a prometheus.yml text, or None if any may be scraped.

    A job with `honor_labels: true` keeps the `job` label of the series it scrapes,
    as a Pushgateway's series carry the jobs that pushed them.
    """
    document = _yaml(config) or {}
    jobs = document.get("scrape_configs", [])
    if any(job.get("honor_labels") for job in jobs):
        return None
    return frozenset(job["job_name"] for job in jobs)


def compare(
    facts: Sequence[ArtifactFacts], scraped: frozenset[str] | None
) -> list[Diagnostic]:
    """Return what does not line up among the facts of every service.

    `scraped` contains the jobs of prometheus.yml, or is None when there is none or
    when a job with `honor_labels` may scrape any job.
    """
    diagnostics: list[Diagnostic] = []
    panels: dict[str, frozenset[int]] = {}
    read: set[str] = set()
    for fact in facts:
        panels.update(fact.dashboards)
        read.update(fact.panel_reads)
        for rule in fact.rules:
            read.update(rule.reads)
    for fact in facts:
        for rule in fact.rules:
            if rule.alert:
                # Without the grafana target no dashboard is built to link to.
                if panels:
                    diagnostics.extend(_link_problems(rule, panels))
            elif not rule.records_panel and rule.name not in read:
                diagnostics.append(
                    warning(
                        rule.where,
                        f'recording rule "{rule.name}" is not read by any alert, rule '
                        "or panel",
                        "artifacts/unused-recording",
                    )
                )
    diagnostics.extend(_recorded_twice(facts))
    if scraped is None:
        return diagnostics
    for fact in facts:
        if not fact.scraped:
            continue
        for job, title, where in fact.panel_jobs:
            if job not in scraped:
                diagnostics.append(
                    error(
                        where,
                        f'panel "{title}" queries job "{job}", which no scrape '
                        "job in prometheus.yml collects",
                        "artifacts/unscraped-job",
                    )
                )
    for fact in facts:
        if not fact.scraped:
            continue
        for rule in fact.rules:
            for job in rule.jobs:
                if job not in scraped:
                    diagnostics.append(
                        error(
                            rule.where,
                            f'rule "{rule.name}" reads job "{job}", which no scrape '
                            "job collects",
                            "artifacts/unscraped-job",
                        )
                    )
    return diagnostics


def _recorded_twice(facts: Sequence[ArtifactFacts]) -> Iterator[Diagnostic]:
    """Report recording rules of two services that write the same series, at both.

    Rules of one name write the same series unless each selects its own jobs, as the
    job-level rules of two services do. Prometheus then evaluates both groups. Each
    rule is paired with the first rule before it, of another file, that writes its
    series, which need not be the first rule of its name.
    """
    # The first rules of each name, from two files at most, in definition order.
    # A rule is kept under its name, and under its name and each job it selects, or
    # under its name and None when it selects no job.
    of_name: dict[str, list[tuple[int, RuleFacts]]] = {}
    of_job: dict[tuple[str, str | None], list[tuple[int, RuleFacts]]] = {}
    rules = [
        rule for fact in facts for rule in fact.rules if not rule.alert and rule.name
    ]
    for order, rule in enumerate(rules):
        if rule.jobs:
            # Rules that select none of its jobs write other series.
            looked_up = [of_job.get((rule.name, job), []) for job in (None, *rule.jobs)]
        else:
            looked_up = [of_name.get(rule.name, [])]
        found = [
            (earlier_order, candidate)
            for first_rules in looked_up
            for earlier_order, candidate in first_rules
            if candidate.origin.file != rule.origin.file
        ]
        if found:
            earlier = min(found, key=lambda item: item[0])[1]
            same = rule.recorded == earlier.recorded
            # Neither service is the original, so each rule is reported.
            for reported, other in ((rule, earlier), (earlier, rule)):
                yield _recorded_twice_at(reported, other, same)
        _keep(of_name.setdefault(rule.name, []), order, rule)
        for job in rule.jobs or (None,):
            _keep(of_job.setdefault((rule.name, job), []), order, rule)


def _keep(
    first_rules: list[tuple[int, RuleFacts]], order: int, rule: RuleFacts
) -> None:
    """Add `rule` to `first_rules` when it is the first, or the first of another file.

    A rule is paired only with a rule of another file, and the first of these is
    among the first two rules of distinct files.
    """
    if not first_rules or (
        len(first_rules) == 1 and first_rules[0][1].origin.file != rule.origin.file
    ):
        first_rules.append((order, rule))


def _recorded_twice_at(rule: RuleFacts, other: RuleFacts, same: bool) -> Diagnostic:
    """Return the report at `rule` of the rule `other` that writes its series too."""
    if same:
        return warning(
            rule.where,
            f'recording rule "{rule.name}" is also recorded at {other.where} with the '
            "same expression, so two rule groups write its series; set record: "
            "false on the panel of one of them",
            "artifacts/duplicate-recording",
        )
    return error(
        rule.where,
        f'recording rule "{rule.name}" is also recorded at {other.where} with '
        "another expression, so two rule groups write different values into one "
        "series; set record: false on the panel of one of them",
        "artifacts/duplicate-recording",
    )


def check_artifacts(
    services: Sequence[Service],
    files: Mapping[str, str],
    facts_of: FactsOf = artifact_facts,
    scraped_of: Callable[[str], frozenset[str] | None] = scraped_jobs,
    compare_facts: Callable[
        [Sequence[ArtifactFacts], frozenset[str] | None], list[Diagnostic]
    ] = compare,
) -> list[Diagnostic]:
    """Compare rules with dashboards and scrape jobs; return what does not line up.

    `facts_of(service, its_files)` reads one service's facts, `scraped_of` the jobs
    of prometheus.yml, and `compare_facts` is `compare`; a build passes ones that
    reuse earlier results.
    """
    facts = []
    owned: set[str] = set()
    for service in services:
        own = owned_files(service, files)
        owned.update(own)
        facts.append(facts_of(service, own))
    others = {
        name: files[name]
        for name in files
        if name not in owned and (_is_dashboard(name) or _is_rule_file(name))
    }
    if others:
        facts.append(artifact_facts(None, others))
    config = files.get("prometheus/prometheus.yml")
    scraped = None if config is None else scraped_of(config)
    return compare_facts(facts, scraped)


def _link_problems(
    rule: RuleFacts, panels: Mapping[str, frozenset[int]]
) -> list[Diagnostic]:
    uid, panel_id = rule.uid, rule.panel_id
    if uid is None or panel_id is None:
        return []
    if uid not in panels or not panel_id.isdigit() or int(panel_id) not in panels[uid]:
        return [
            error(
                rule.where,
                f'alert "{rule.name}" links to panel {panel_id} of dashboard '
                f'"{uid}", which does not exist',
                "artifacts/alert-link",
            )
        ]
    match = _VIEW_PANEL.search(rule.url)
    if rule.url and (match is None or (match["uid"], match["id"]) != (uid, panel_id)):
        return [
            error(
                rule.where,
                f'alert "{rule.name}" has dashboard_url {rule.url}, which does not '
                f"point at /d/{uid}?viewPanel={panel_id}",
                "artifacts/alert-link",
            )
        ]
    return []
