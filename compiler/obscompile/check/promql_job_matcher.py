"""promql/job-matcher: a `job` matcher that names none of the service's scrape jobs."""

from __future__ import annotations

import re
from collections.abc import Iterator

import promql_parser as pp

from obscompile.check import catalog
from obscompile.check.context import PanelContext
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, error

NAME = "promql/job-matcher"


def _suggest(value: str, jobs: list[str]) -> str:
    close = catalog.closest(value, jobs)
    if close is not None:
        return f'; did you mean "{close}"?'
    if len(jobs) == 1:
        return f'; use job="{jobs[0]}"'
    return "; the scrape jobs are " + ", ".join(jobs)


def _matches_any(pattern: str, jobs: list[str]) -> bool | None:
    """Return whether the regex matches a whole job name, or None if it cannot tell."""
    try:
        compiled = re.compile(pattern)
    except re.error:
        return None  # NOTE: RE2 syntax that Python's re lacks is not checked.
    return any(compiled.fullmatch(job) for job in jobs)


@check(NAME, "a job matcher names none of the service's scrape jobs")
def job_matcher(context: PanelContext) -> Iterator[Diagnostic]:
    service = context.service
    jobs = [job.job for job in service.scrape_jobs]
    owner = f'service "{service.name}"'
    if not jobs:
        # A service that Prometheus does not scrape may chart any job of the project,
        # and a manifest that failed to load may declare any job.
        if not catalog.complete(context):
            return
        jobs = catalog.every_job_name(context)
        owner = "the project"
    if not jobs:
        return
    for selector in context.query.of_type(pp.VectorSelector):
        for matcher in selector.matchers.matchers:
            if matcher.name != "job" or catalog.is_placeholder(matcher.value):
                continue
            if matcher.op == pp.MatchOp.Equal and matcher.value not in jobs:
                problem = f'job "{matcher.value}" is not a scrape job of {owner}'
                problem += _suggest(matcher.value, jobs)
            elif (
                matcher.op == pp.MatchOp.Re
                and _matches_any(matcher.value, jobs) is False
            ):
                problem = (
                    f'job regex "{matcher.value}" matches none of the scrape jobs of '
                    f"{owner} ({', '.join(jobs)})"
                )
            else:
                continue
            offsets = context.query.matcher_offsets(selector, "job")
            offset = offsets[1] if offsets else context.query.offset_of(selector)
            yield error(context.query_location(offset), problem, NAME)
