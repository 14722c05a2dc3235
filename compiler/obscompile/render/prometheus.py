"""Render everything Prometheus reads: prometheus.yml, rule files and promtool tests.

Each file is first built as plain data, then rendered through its Jinja template
(every value through the `toyaml` filter). A file rendered by a project's own template
is parsed back and compared with the data, so that a quoting or indentation mistake
never reaches Prometheus. The built-in templates include no other template and pass
every value through `toyaml`. tests/test_yaml_templates.py renders random documents
through them and reads them back, so a build does not parse their files again.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import attrs
import jinja2

from obscompile import promql
from obscompile.config import Config
from obscompile.derive.alerts import ServiceRules, derive_rules
from obscompile.derive.promtests import generate_tests
from obscompile.derive.synthesis import HAND_TEST_ADVICE
from obscompile.derive.testfile import TestSuite
from obscompile.diagnostics import Diagnostic, ObscompileError, warning
from obscompile.load.durations import duration_ms
from obscompile.load.input_file import PROMTOOL_TEST, read_input_text
from obscompile.model.location import Location
from obscompile.model.service import Service
from obscompile.project import yaml_files
from obscompile.render.environment import check_yaml_output, is_builtin, output_error
from obscompile.render.test_text import builtin_test_text
from obscompile.render.yaml_read import read_yaml

T = TypeVar("T")
# A stage name, a digest of the stage's input, and the function that computes it.
Remember = Callable[[str, str, Callable[[], Any]], Any]
RULES_DIR = "rules"
TESTS_DIR = "tests"


class RenderError(ObscompileError, RuntimeError):
    """A rendered file does not read back as the data it was rendered from."""


def compute_now(stage: str, digest: str, compute: Callable[[], T]) -> T:
    """Return `compute()`: the `remember` of a build without a cache."""
    return compute()


def rules_path(service: Service) -> str:
    return f"{RULES_DIR}/{service.name}.rules.yml"


def tests_path(service: Service) -> str:
    return f"{TESTS_DIR}/{service.name}.test.yml"


def _duration_seconds(text: str) -> float:
    return duration_ms(text) / 1000


def scrape_document(
    services: tuple[Service, ...], config: Config, rule_files: list[str]
) -> dict[str, Any]:
    """Return prometheus.yml as data; raise RenderError for what Prometheus rejects."""
    if _duration_seconds(config.scrape_timeout) > _duration_seconds(
        config.scrape_interval
    ):
        raise RenderError(
            f"scrape_timeout {config.scrape_timeout} is longer than scrape_interval "
            f"{config.scrape_interval}; Prometheus rejects such a configuration"
        )
    jobs = []
    seen: set[str] = set()
    for service in services:
        for scrape in service.scrape_jobs:
            if scrape.job in seen:
                raise RenderError(f'scrape job "{scrape.job}" is defined twice')
            seen.add(scrape.job)
            interval = scrape.interval or config.scrape_interval
            if scrape.timeout and _duration_seconds(scrape.timeout) > _duration_seconds(
                interval
            ):
                raise RenderError(
                    f'scrape job "{scrape.job}": timeout {scrape.timeout} is longer '
                    f"than interval {interval}"
                )
            for name, _ in scrape.labels:
                if not promql.is_label_name(name) or name.startswith("__"):
                    raise RenderError(
                        f'scrape job "{scrape.job}": invalid label name "{name}"'
                    )
            job: dict[str, Any] = {"job_name": scrape.job}
            if scrape.interval:
                job["scrape_interval"] = scrape.interval
            if scrape.timeout:
                job["scrape_timeout"] = scrape.timeout
            if scrape.honor_labels:
                job["honor_labels"] = True
            job["metrics_path"] = scrape.metrics_path
            job["scheme"] = scrape.scheme
            if scrape.probe is not None:
                job["params"] = {"module": [scrape.probe.module]}
            target: dict[str, Any] = {"targets": list(scrape.targets)}
            if scrape.labels:
                target["labels"] = dict(scrape.labels)
            job["static_configs"] = [target]
            if scrape.probe is not None:
                job["relabel_configs"] = probe_relabelling(scrape.probe.exporter)
            jobs.append(job)
    return {
        "global": {
            "scrape_interval": config.scrape_interval,
            "scrape_timeout": config.scrape_timeout,
            "evaluation_interval": config.evaluation_interval,
        },
        "rule_files": rule_files,
        "scrape_configs": jobs,
    }


def probe_relabelling(exporter: str) -> list[dict[str, Any]]:
    """Return the relabelling that sends each target of a probe job to `exporter`.

    The target becomes the `target` URL parameter and the `instance` label, and the
    address Prometheus connects to becomes the exporter's.
    """
    return [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
        {"target_label": "__address__", "replacement": exporter},
    ]


def rules_document(rules: ServiceRules) -> dict[str, Any]:
    """Return a service's rule file as data: `<service>.recording` and `.alerts`."""
    name = rules.service.name
    recording = [{"record": rule.record, "expr": rule.expr} for rule in rules.recording]
    alerts = []
    for alert in rules.alerts:
        alerts.append(
            {
                "alert": alert.name,
                "expr": alert.expr,
                "for": alert.for_,
                "labels": dict(alert.labels),
                "annotations": dict(alert.annotations),
            }
        )
    return {
        "groups": [
            {"name": f"{name}.recording", "rules": recording},
            {"name": f"{name}.alerts", "rules": alerts},
        ]
    }


def tests_document(suite: TestSuite, rule_file: str) -> dict[str, Any]:
    """Return a service's promtool test file as data.

    `group_eval_order` makes promtool evaluate the recording group before the alerts
    that read it at each step. Without it, promtool evaluates the groups in any order.
    """
    tests = []
    for group in suite.groups:
        test: dict[str, Any] = {
            "name": group.name,
            "interval": group.interval,
            "input_series": [{"series": s, "values": v} for s, v in group.series],
        }
        if group.alert_checks:
            test["alert_rule_test"] = [
                {
                    "eval_time": check.eval_time,
                    "alertname": check.alertname,
                    "exp_alerts": [
                        {
                            "exp_labels": dict(labels),
                            "exp_annotations": dict(annotations),
                        }
                        for labels, annotations in check.alerts
                    ],
                }
                for check in group.alert_checks
            ]
        if group.expr_checks:
            test["promql_expr_test"] = [
                {
                    "expr": check.expr,
                    "eval_time": check.eval_time,
                    "exp_samples": [
                        {"labels": labels, "value": value}
                        for labels, value in check.samples
                    ],
                }
                for check in group.expr_checks
            ]
        tests.append(test)
    return {
        "rule_files": [f"../{rule_file}"],
        "evaluation_interval": suite.evaluation_interval,
        "group_eval_order": [f"{suite.service}.recording", f"{suite.service}.alerts"],
        "tests": tests,
    }


def render_yaml(
    env: jinja2.Environment,
    template: str,
    document: dict[str, Any],
    subject: str | None = None,
) -> str:
    """Render `document` through `template`.

    Raises TemplateOutputError, whose message names `subject`, when the output of a
    project's own template does not read back as `document`. The output of a
    built-in template is not read back.
    """
    loaded = env.get_template(template)
    text = loaded.render(document=document)
    if is_builtin(loaded):
        return text
    parsed = check_yaml_output(loaded, text, subject, {"document": document})
    if parsed != document:
        difference = first_difference(parsed, document)
        raise output_error(
            loaded, f"YAML that does not read back as its data ({difference})", subject
        )
    return text


def first_difference(found: Any, expected: Any, path: str = "") -> str:
    """Describe where `found` first differs from `expected`, such as `tests[1].name`."""
    if isinstance(expected, dict) and isinstance(found, dict):
        for key in expected:
            if key not in found:
                return f"{_key_path(path, key)} is missing"
            if found[key] != expected[key]:
                return first_difference(found[key], expected[key], _key_path(path, key))
        extra = next(key for key in found if key not in expected)
        return f"{_key_path(path, extra)} is not expected"
    if isinstance(expected, list) and isinstance(found, list):
        for index, (one, other) in enumerate(zip(found, expected, strict=False)):
            if one != other:
                return first_difference(one, other, f"{path}[{index}]")
        return f"{path or 'the document'} has length {len(found)}, not {len(expected)}"
    return f"{path or 'the document'} is {found!r}, not {expected!r}"


def _key_path(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


# Rendering and the build's diagnostics both need a service's rules and tests. The
# memos keep the objects they were given alive, so their ids cannot be reused. Only
# the last few services' rules and tests are kept, because they are large. The
# diagnostics derived from them are small, so those are kept for every service.
_RECENT = 8
_outputs: dict[
    tuple[int, int], tuple[Service, Config, tuple[ServiceRules, TestSuite]]
] = {}
_diagnostics: dict[tuple[int, int], tuple[Service, Config, tuple[Diagnostic, ...]]] = {}


def service_outputs(service: Service, config: Config) -> tuple[ServiceRules, TestSuite]:
    """Derive a service's rules and generate their tests, once per service and config."""
    key = (id(service), id(config))
    hit = _outputs.get(key)
    if hit is not None and hit[0] is service and hit[1] is config:
        return hit[2]
    rules = derive_rules(service, config)
    result = (rules, generate_tests(rules, config))
    while len(_outputs) >= _RECENT:
        del _outputs[next(iter(_outputs))]
    _outputs[key] = (service, config, result)
    if len(_diagnostics) > 4096:
        _diagnostics.clear()
    _diagnostics[key] = (service, config, _rule_diagnostics(service, *result))
    return result


TEST_TEMPLATE = "prometheus/test.yml.j2"


def render_service_rules(
    env: jinja2.Environment, service: Service, config: Config
) -> dict[str, str]:
    """Render a service's rule file and promtool test file, keyed by path in `out/`.

    A service whose rules all lack a generated test gets no test file, because
    promtool 2.42 passes a file with `tests: []` without running a test. Each of
    those rules gets a `rules/untested` warning instead.
    """
    rules, suite = service_outputs(service, config)
    if rules.is_empty:
        return {}
    path = rules_path(service)
    subject = f'service "{service.name}"'
    files = {
        f"prometheus/{path}": render_yaml(
            env, "prometheus/rules.yml.j2", rules_document(rules), subject
        )
    }
    if not suite.groups:
        return files
    tests = tests_document(suite, path)
    if is_builtin(env.get_template(TEST_TEMPLATE)):
        tests_text = builtin_test_text(tests)
    else:
        tests_text = render_yaml(env, TEST_TEMPLATE, tests, subject)
    files[f"prometheus/{tests_path(service)}"] = tests_text
    return files


def render_scrape_config(
    env: jinja2.Environment,
    services: tuple[Service, ...],
    config: Config,
    files: dict[str, str],
    remember: Remember = compute_now,
) -> dict[str, str]:
    """Render prometheus.yml, which loads the rule files among `files`.

    `remember` may return the text of an earlier build that rendered the same data.
    """
    rule_files = [
        rules_path(service)
        for service in services
        if f"prometheus/{rules_path(service)}" in files
    ]
    document = scrape_document(services, config, rule_files)
    digest = hashlib.sha256(json.dumps(document).encode("utf-8")).hexdigest()
    text = remember(
        "prometheus.yml",
        digest,
        functools.partial(render_yaml, env, "prometheus/prometheus.yml.j2", document),
    )
    return {"prometheus/prometheus.yml": text}


def rule_diagnostics(
    services: tuple[Service, ...], config: Config | None = None
) -> list[Diagnostic]:
    """Return the problems found while deriving rules, and every rule left untested."""
    config = config or Config()
    found: list[Diagnostic] = []
    for service in services:
        found.extend(service_rule_diagnostics(service, config))
    return found


def service_rule_diagnostics(service: Service, config: Config) -> list[Diagnostic]:
    """Return one service's rule problems and untested rules (see `rule_diagnostics`)."""
    hit = _diagnostics.get((id(service), id(config)))
    if hit is not None and hit[0] is service and hit[1] is config:
        return list(hit[2])
    return list(_rule_diagnostics(service, *service_outputs(service, config)))


def _rule_diagnostics(
    service: Service, rules: ServiceRules, suite: TestSuite
) -> tuple[Diagnostic, ...]:
    found = list(rules.diagnostics)
    # An untested rule is reported at the query of the panel it comes from. Several
    # panels may have the same query, so the rule itself records which one.
    locations = {alert.name: alert.location for alert in rules.alerts}
    locations.update((rule.record, rule.location) for rule in rules.recording)
    # A template that the generator cannot expand is reported at its text.
    texts = {alert.name: dict(alert.text_locations) for alert in rules.alerts}
    for untested in suite.untested:
        reason = untested.reason
        if "tests/promtool/" not in reason:
            # Ask for a hand-written test unless the reason already does.
            reason += f". {HAND_TEST_ADVICE}"
        at_text = texts.get(untested.rule, {}).get(untested.text or "")
        found.append(
            warning(
                at_text or locations.get(untested.rule) or service.location,
                f'no promtool test generated for rule "{untested.rule}": {reason}',
                "rules/untested",
            )
        )
    return tuple(found)


_UNTESTED = re.compile(r'no promtool test generated for rule "([^"]+)"')
_UNTESTED_REASON = re.compile(
    r'no promtool test generated for rule "([^"]+)": (.*)', re.DOTALL
)


def merged_untested(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Return the diagnostics with one `rules/untested` warning per place and reason.

    An alert and the recording rule that it reads often have no test for the same
    reason, and so do the alerts of one panel's per-series thresholds. Their
    warning names every such rule. Other diagnostics stay as they are, in order.
    """
    rules: dict[tuple[Location, str], list[str]] = {}
    order: list[Diagnostic | tuple[Location, str]] = []
    for diagnostic in diagnostics:
        found = None
        if diagnostic.check == "rules/untested":
            found = _UNTESTED_REASON.fullmatch(diagnostic.message)
        if found is None:
            order.append(diagnostic)
            continue
        key = (diagnostic.location, found.group(2))
        if key not in rules:
            rules[key] = []
            order.append(key)
        rules[key].append(found.group(1))
    merged = []
    for item in order:
        if isinstance(item, Diagnostic):
            merged.append(item)
            continue
        names = [f'"{name}"' for name in dict.fromkeys(rules[item])]
        if len(names) == 1:
            subject = f"rule {names[0]}"
        else:
            subject = "rules " + ", ".join(names[:-1]) + f" and {names[-1]}"
        location, reason = item
        message = f"no promtool test generated for {subject}: {reason}"
        merged.append(warning(location, message, "rules/untested"))
    return merged


@attrs.frozen
class HandWrittenFile:
    """The rule files that one hand-written test file loads, and what its tests check."""

    rule_files: tuple[str, ...]
    alerts: frozenset[str]
    expressions: tuple[str, ...]

    def loads(self, rule_file: str) -> bool:
        """Return True when a `rule_files` entry can name the rule file `rule_file`.

        Only the file names are compared, because the entries are relative to the
        test file and `out/` may not be written yet. promtool reads each entry as a
        Go glob pattern, whose `*` does not match a `/` either.
        """
        name = Path(rule_file).name
        return any(
            fnmatch.fnmatchcase(name, Path(entry).name) for entry in self.rule_files
        )


@attrs.frozen
class HandWritten:
    """The alerts and expressions that the hand-written promtool tests check."""

    files: tuple[HandWrittenFile, ...] = ()

    @classmethod
    def read(cls, folder: Path) -> HandWritten:
        """Read every test file under `folder`; files that do not parse are skipped.

        So are files that are not regular files or are too large to read.
        `obscompile test` reports all of them.
        """
        files = []
        for path in yaml_files(folder):
            try:
                data = read_yaml(read_input_text(path, PROMTOOL_TEST))
            except Exception:  # noqa: BLE001 - any unreadable file tests nothing
                continue
            if not isinstance(data, dict):
                continue
            entries = data.get("rule_files")
            rule_files = [
                entry
                for entry in (entries if isinstance(entries, list) else ())
                if isinstance(entry, str)
            ]
            alerts: set[str] = set()
            expressions: list[str] = []
            tests = data.get("tests")
            for test in tests if isinstance(tests, list) else ():
                if not isinstance(test, dict):
                    continue
                for case in _items(test.get("alert_rule_test")):
                    if isinstance(case.get("alertname"), str):
                        alerts.add(case["alertname"])
                for case in _items(test.get("promql_expr_test")):
                    if isinstance(case.get("expr"), str):
                        expressions.append(case["expr"])
            files.append(
                HandWrittenFile(
                    tuple(rule_files), frozenset(alerts), tuple(expressions)
                )
            )
        return cls(tuple(files))

    def tests(self, diagnostic: Diagnostic, rule_file: str) -> bool:
        """Return True for a `rules/untested` warning of a rule that these tests check.

        `rule_file` is the generated rule file that contains the rule. An alert counts
        as tested when a test names it, and a recording rule when a test's expression
        reads its series, in a test file that loads `rule_file`. Services may record
        series of the same name, so a test of another service's file does not count.
        """
        found = _UNTESTED.match(diagnostic.message)
        if diagnostic.check != "rules/untested" or found is None:
            return False
        rule = found.group(1)
        name = re.compile(rf"(?<![\w:]){re.escape(rule)}(?![\w:])")
        for file in self.files:
            if not file.loads(rule_file):
                continue
            if rule in file.alerts:
                return True
            if any(name.search(expression) for expression in file.expressions):
                return True
        return False


def _items(value: object) -> list[dict]:
    return (
        [item for item in value if isinstance(item, dict)]
        if isinstance(value, list)
        else []
    )


def emit_rules(context) -> dict[str, str]:
    """Pipeline emitter: each service's rule and test files under `out/prometheus/`."""
    files: dict[str, str] = {}
    for service in context.services:
        files.update(render_service_rules(context.env, service, context.config))
    return files


def emit_prometheus(context) -> dict[str, str]:
    """Pipeline emitter: `out/prometheus/prometheus.yml`, after the rule files."""
    return render_scrape_config(
        context.env, context.services, context.config, context.files, context.remember
    )
