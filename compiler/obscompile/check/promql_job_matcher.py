"""promql/job-matcher: a `job` matcher that names none of the service's scrape jobs."""

from __future__ import annotations

import re
from collections.abc import Iterator

import attrs
import promql_parser as pp

from obscompile import promql
from obscompile.check import catalog
from obscompile.check.context import PanelContext
from obscompile.check.query_text import tokenize
from obscompile.check.registry import check
from obscompile.diagnostics import Diagnostic, error, shorten

NAME = "promql/job-matcher"


def _suggest(value: str, jobs: list[str]) -> str:
    close = catalog.closest(value, jobs)
    if close is not None:
        return f'; did you mean "{shorten(close)}"?'
    if len(jobs) == 1:
        return f'; use job="{shorten(jobs[0])}"'
    return "; the scrape jobs are " + ", ".join(shorten(job) for job in jobs)


def _matches_any(pattern: str, jobs: list[str]) -> bool | None:
    """Return whether the regex matches a whole job name, or None if it cannot tell."""
    try:
        compiled = promql.compile_regex(pattern)
    except re.error:
        return None  # NOTE: a regex with a Unicode script class is not checked.
    return any(compiled.fullmatch(job) for job in jobs)


# The characters of a job name, which make up each alternative of a plain alternation
# such as `postgres|redis`. Of these, only "." has a meaning in a regex (any character).
_JOB_ALTERNATIVE = re.compile(r"[A-Za-z0-9_.-]+")


def _is_alternation(pattern: str) -> bool:
    """Return True when `pattern` is a plain alternation of job names, `a|b|c`."""
    return all(_JOB_ALTERNATIVE.fullmatch(part) for part in pattern.split("|"))


def _written_string(text: str, offset: int) -> str | None:
    """Return the content of the string that starts at `offset` of the query `text`.

    The content is as written, with Grafana variables such as `$job`. A string with
    a backslash, which may start an escape sequence, returns None.
    """
    for token in tokenize(text):
        if token.offset == offset:
            if token.kind == "string" and "\\" not in token.text:
                return token.text[1:-1]
            return None
    return None


@attrs.frozen
class _Problem:
    """A problem of a `job` matcher, and where it is in the matcher's value."""

    message: str
    # The offset in the written value, without its opening quote, or None for the
    # whole matcher.
    start: int | None = None


def _alternative_problems(
    pattern: str, written: str | None, jobs: list[str], owner: str
) -> Iterator[_Problem]:
    """Yield a problem for each alternative of `pattern` that names no job of `jobs`.

    `pattern` is a plain alternation (`_is_alternation`) and `written` is its text
    in the query, when it splits into as many alternatives.
    """
    alternatives = pattern.split("|")
    written_alternatives = written.split("|") if written is not None else alternatives
    if len(written_alternatives) != len(alternatives):
        written, written_alternatives = None, alternatives
    start = 0
    for alternative, text in zip(alternatives, written_alternatives, strict=True):
        if not catalog.is_placeholder(alternative) and not _matches_any(
            alternative, jobs
        ):
            regex = shorten(written or pattern, start, start + len(text))
            message = (
                f'job "{shorten(alternative)}" in regex "{regex}" is not a scrape '
                f"job of {owner}{_suggest(alternative, jobs)}"
            )
            yield _Problem(message, start if written is not None else None)
        start += len(text) + 1


def _matcher_problems(
    matcher: pp.Matcher, written: str | None, jobs: list[str], owner: str
) -> Iterator[_Problem]:
    if matcher.op == pp.MatchOp.Equal:
        if not catalog.is_placeholder(matcher.value) and matcher.value not in jobs:
            message = f'job "{shorten(matcher.value)}" is not a scrape job of {owner}'
            yield _Problem(message + _suggest(matcher.value, jobs))
        return
    if matcher.op != pp.MatchOp.Re:
        return
    if _is_alternation(matcher.value):
        # Each alternative is checked, so one typo among known jobs is reported too.
        yield from _alternative_problems(matcher.value, written, jobs, owner)
    elif (
        not catalog.is_placeholder(matcher.value)
        and _matches_any(matcher.value, jobs) is False
    ):
        yield _Problem(
            f'job regex "{shorten(matcher.value)}" matches none of the scrape jobs '
            f"of {owner} ({', '.join(shorten(job) for job in jobs)})"
        )


@check(NAME, "a job matcher names none of the service's scrape jobs")
def job_matcher(context: PanelContext) -> Iterator[Diagnostic]:
    service = context.service
    jobs = [job.job for job in service.scrape_jobs]
    owner = f'service "{service.name}"'
    if any(job.honor_labels for job in service.scrape_jobs):
        # The series keep the job names that were pushed, which nothing declares.
        return
    if not jobs:
        # A service that Prometheus does not scrape may chart any job of the project,
        # and a manifest that failed to load may declare any job.
        if not catalog.complete(context) or catalog.honors_labels(context):
            return
        jobs = catalog.every_job_name(context)
        owner = "the project"
    if not jobs:
        return
    query = context.query
    for selector in query.of_type(pp.VectorSelector):
        job_matchers = [m for m in selector.matchers.matchers if m.name == "job"]
        for occurrence, matcher in enumerate(job_matchers):
            offsets = query.matcher_offsets(selector, "job", occurrence)
            written = _written_string(query.text, offsets[1]) if offsets else None
            for problem in _matcher_problems(matcher, written, jobs, owner):
                if offsets is None:
                    offset = query.offset_of(selector)
                elif problem.start is None:
                    offset = offsets[1]
                else:
                    offset = offsets[1] + 1 + problem.start
                yield error(context.query_location(offset), problem.message, NAME)
