"""The scrape health row: whether Prometheus reaches a job's targets, and how fast.

Every alert that obscompile derives from a panel reads the series a target exposes,
so none of them fires while the target cannot be scraped: its series are gone, not
red. Prometheus writes `up` and `scrape_duration_seconds` for every target itself,
whether the scrape succeeds or not, so a panel on them turns red, and its alert
fires, exactly when the target is down.

A service with several scrape jobs uses the block once for each. The panel titles
name the job, and each alert is named after the job and the panel
(`WorkerTargetsUpCritical` for the job worker), so the panels and alerts of the jobs
stay apart.
"""

from __future__ import annotations

import re

from obscompile import dsl
from obscompile.blocks.params import check_job, check_text, describe, rising_bands
from obscompile.derive.alerts import camel_case
from obscompile.diagnostics import shorten
from obscompile.load.durations import NOT_A_DURATION, duration_problem
from obscompile.load.schema import DURATION
from obscompile.model.panel import Row

# The manifest's durations: Prometheus' grammar without its bare "0".
_MANIFEST_DURATION = re.compile(str(DURATION["pattern"]))


@dsl.block("scrape_health")
def scrape_health(
    job: str,
    title: str = "Scrape Health",
    down_for: str | None = None,
    duration_yellow: str | None = None,
    duration_red: str | None = None,
) -> Row:
    """Return the `up` and scrape duration panels of each target of `job`.

    The targets panel is red for a target whose last scrape failed, and its alert
    fires once that has lasted `down_for` (the service's alert `for:` when not
    given). Duration bounds are durations (`5s`, `500ms`, or a number of seconds),
    and without `duration_red` the duration panel has no thresholds or alert.
    """
    check_text("title", title)
    job = check_job(job)
    selector = f'job="{job}"'
    down_alert = dsl.alert(
        name=_alert_name(job, "TargetsUp"),
        for_=_alert_for(down_for),
        summary="Target {{ $labels.instance }} of job {{ $labels.job }} is down",
        description="Prometheus could not scrape {{ $labels.instance }}, so no alert "
        "on the series it exposes can fire for it.",
    )
    return dsl.row(
        title,
        [
            dsl.panel(
                f"Targets Up ({job})",
                f"up{{{selector}}}",
                type="stat",
                description="1 when the target's last scrape succeeded, 0 when "
                "it failed",
                thresholds={
                    "mappings": [
                        {"value": 1, "text": "Up", "color": "green"},
                        {"value": 0, "text": "Down", "color": "red"},
                    ]
                },
                alert=down_alert,
            ),
            dsl.panel(
                f"Scrape Duration ({job})",
                f"scrape_duration_seconds{{{selector}}}",
                description="Time the target's last scrape took",
                unit="s",
                thresholds=rising_bands(
                    "duration",
                    ("duration_yellow", duration_yellow),
                    ("duration_red", duration_red),
                ),
                alert=dsl.alert(name=_alert_name(job, "ScrapeDuration")),
            ),
        ],
    )


def _alert_name(job: str, panel: str) -> str | None:
    """Return the alert name of a panel on `job`, such as `PaymentsTargetsUp`.

    The alert rule adds the severity (`PaymentsTargetsUpCritical`). A job name
    without ASCII letters or digits, or one that starts with a digit, gives None, so
    the alerts take the name derived from the service and the panel title.
    """
    words = camel_case(job)
    return words + panel if words[:1].isalpha() else None


def _alert_for(value: object) -> str | None:
    """Return `down_for` as a Prometheus duration, or raise ParameterError."""
    if value is None:
        return None
    problem = duration_problem(value) if isinstance(value, str) else NOT_A_DURATION
    if problem == NOT_A_DURATION:
        text = f'"{shorten(value)}"' if isinstance(value, str) else describe(value)
        raise dsl.ParameterError(
            "down_for",
            f"is {text}, which is {NOT_A_DURATION}; write units from largest to "
            "smallest, each at most once, such as 2m or 1h30m",
        )
    assert isinstance(value, str)
    if problem is not None:
        raise dsl.ParameterError("down_for", f'"{shorten(value)}" is {problem}')
    if not _MANIFEST_DURATION.match(value):
        raise dsl.ParameterError(
            "down_for",
            f'is "{shorten(value)}", a duration without a unit; {DURATION["x-hint"]}',
        )
    return value
