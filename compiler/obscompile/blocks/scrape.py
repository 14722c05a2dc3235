"""The scrape health row: whether Prometheus reaches a job's targets, and how fast.

Every alert that obscompile derives from a panel reads the series a target exposes,
so none of them fires while the target cannot be scraped: its series are gone, not
red. Prometheus writes `up` and `scrape_duration_seconds` for every target itself,
whether the scrape succeeds or not, so a panel on them turns red, and its alert
fires, exactly when the target is down.
"""

from __future__ import annotations

import re

from obscompile import dsl
from obscompile.blocks.http import _bands, _job, _kind_of, _text
from obscompile.load.durations import DURATION_PATTERN, TOO_LONG, too_long
from obscompile.model.panel import Row

_DURATION = re.compile(DURATION_PATTERN)


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
    _text("title", title)
    selector = f'job="{_job(job)}"'
    down_alert = dsl.alert(
        for_=_alert_for(down_for),
        summary="Target {{ $labels.instance }} of job {{ $labels.job }} is down",
        description="Prometheus could not scrape {{ $labels.instance }}, so no alert "
        "on the series it exposes can fire for it.",
    )
    return dsl.row(
        title,
        [
            dsl.panel(
                "Targets Up",
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
                "Scrape Duration",
                f"scrape_duration_seconds{{{selector}}}",
                description="Time the target's last scrape took",
                unit="s",
                thresholds=_bands(
                    "duration",
                    ("duration_yellow", duration_yellow),
                    ("duration_red", duration_red),
                ),
            ),
        ],
    )


def _alert_for(value: object) -> str | None:
    """Return `down_for` as a Prometheus duration, or raise ParameterError."""
    if value is None:
        return None
    if not isinstance(value, str) or not _DURATION.match(value):
        text = f'"{value}"' if isinstance(value, str) else _kind_of(value)
        raise dsl.ParameterError(
            "down_for",
            f"is {text}, which is not a Prometheus duration; write units from "
            "largest to smallest, each at most once, such as 2m or 1h30m",
        )
    if too_long(value):
        raise dsl.ParameterError("down_for", f'"{value}" is {TOO_LONG}')
    return value
