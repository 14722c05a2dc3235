"""The promtool unit-test file as data: test groups, their checks, untested rules.

`render.prometheus` turns a TestSuite into YAML; times are Prometheus durations.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
import promql_parser as pp

from obscompile.derive.synthesis import InputSeries
from obscompile.gotemplate import go_quote


@attrs.frozen
class AlertCheck:
    """An `alert_rule_test`: the alerts firing at `eval_time` and their annotations."""

    eval_time: str
    alertname: str
    alerts: tuple[tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]], ...]


@attrs.frozen
class ExprCheck:
    """A `promql_expr_test`: the samples of `expr` at `eval_time` (labels, value)."""

    expr: str
    eval_time: str
    samples: tuple[tuple[str, float], ...]


@attrs.frozen
class TestGroup:
    """One entry of `tests`: input series as (series, values) and the checks on them."""

    name: str
    interval: str
    series: tuple[tuple[str, str], ...]
    alert_checks: tuple[AlertCheck, ...] = ()
    expr_checks: tuple[ExprCheck, ...] = ()


@attrs.frozen
class Untested:
    """A rule without a generated test, and why.

    `text` names the label or annotation of an alert whose template the generator
    cannot expand, where that is the reason.
    """

    rule: str
    reason: str
    text: str | None = None


@attrs.frozen
class TestSuite:
    """The test file of one service, and the rules it has no test for."""

    service: str
    evaluation_interval: str
    groups: tuple[TestGroup, ...]
    untested: tuple[Untested, ...]


def duration_label(ms: int) -> str:
    """Return a Prometheus duration such as `6m` or `1h5m`."""
    return pp.display_duration(timedelta(milliseconds=ms)) if ms else "0s"


def labels_text(labels: tuple[tuple[str, str], ...]) -> str:
    """Return a label set in series notation, `name{a="b"}` or `{a="b"}`."""
    mapping = dict(labels)
    name = mapping.pop("__name__", "")
    return (
        name
        + "{"
        + ",".join(f"{k}={go_quote(v)}" for k, v in sorted(mapping.items()))
        + "}"
    )


def series_texts(
    series: list[InputSeries], samples: int
) -> tuple[tuple[str, str], ...]:
    return tuple((s.series_text(), s.values_text(samples)) for s in series)
