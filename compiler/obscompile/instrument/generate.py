"""Render a service's metric catalog as client-library metric definitions.

A Python service gets `instrumentation/<service>/metrics.py` for prometheus_client,
a Node.js service `instrumentation/<service>/metrics.ts` for prom-client. The templates
receive only finished source text (literals and identifiers from `naming`), so they
decide the layout of the file but never quote a manifest string themselves.
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Callable
from typing import Any

import attrs
import jinja2

from obscompile.diagnostics import InputError, Severity
from obscompile.instrument.check import (
    check_instrumentation,
    loopback_host,
    scrape_port,
)
from obscompile.instrument.naming import (
    PYTHON_LABELS_PARAMETERS,
    family_name,
    keyword_label_allowed,
    python_identifier,
    python_number,
    python_string,
    typescript_identifier,
    typescript_number,
    typescript_string,
)
from obscompile.model.metric import PROM_CLIENT_PERCENTILES, Metric, MetricType
from obscompile.model.service import Runtime, Service

PYTHON_TEMPLATE = "instrumentation/metrics.py.j2"
TYPESCRIPT_TEMPLATE = "instrumentation/metrics.ts.j2"

# ruff format's default line length, which metrics.py keeps to where it can.
PYTHON_LINE_LENGTH = 88

_PYTHON_CLASSES = {
    MetricType.COUNTER: "Counter",
    MetricType.GAUGE: "Gauge",
    MetricType.HISTOGRAM: "Histogram",
    MetricType.SUMMARY: "Summary",
    MetricType.INFO: "Info",
}
# prom-client has no Info class, so an info metric becomes a gauge fixed at 1.
_TYPESCRIPT_CLASSES = {**_PYTHON_CLASSES, MetricType.INFO: "Gauge"}


@attrs.frozen
class Declaration:
    """One metric as a template declares it, with every text field as source code."""

    identifier: str
    constructor: str
    name: str
    help: str
    labels: tuple[str, ...]
    buckets: tuple[str, ...]
    is_info: bool
    # Whether `labelnames=(...)` and `buckets=(...)` fit on one line of metrics.py.
    labels_fit: bool = True
    buckets_fit: bool = True
    # The lines of a comment, without "# ", that explains how to pass label values
    # whose names cannot be keyword arguments of `.labels(...)` in Python.
    labels_note: tuple[str, ...] = ()
    # The quantiles of a prom-client summary, as number literals.
    percentiles: tuple[str, ...] = ()
    is_summary: bool = False


def render_instrumentation(service: Service, env: jinja2.Environment) -> dict[str, str]:
    """Render the client-library metric definitions of `service`.

    Returns a mapping from a path relative to `out/` to the file's text: one file
    for a service with a runtime, none for a service without. A metric with an empty
    help text gets its name as help, because prom-client rejects an empty one.
    Raises InputError with the diagnostics when `check_instrumentation` reports errors.
    """
    if service.runtime is None:
        return {}

    errors = [d for d in check_instrumentation(service) if d.severity is Severity.ERROR]
    if errors:
        raise InputError(errors)

    runtime = Runtime(service.runtime)
    paths = _metrics_paths(service)
    context: dict[str, Any] = {
        "port": scrape_port(service),
        "host": loopback_host(service),
        "metrics_path": typescript_string(paths[0]),
        "metrics_paths": _typescript_array(paths),
    }
    if runtime == Runtime.PYTHON:
        template, file = PYTHON_TEMPLATE, "metrics.py"
        context["metrics"] = [_python_declaration(m) for m in service.metrics]
    else:
        template, file = TYPESCRIPT_TEMPLATE, "metrics.ts"
        context["metrics"] = [_typescript_declaration(m) for m in service.metrics]

    text = template_environment(env).get_template(template).render(context)
    return {f"instrumentation/{service.name}/{file}": text}


# An overlay starts with an empty template cache and compiles the templates again, so
# the overlays of the last few environments are kept. Each keeps its environment alive.
@functools.lru_cache(maxsize=8)
def template_environment(env: jinja2.Environment) -> jinja2.Environment:
    """Return `env` with the syntax and whitespace rules the templates are written for.

    The overlay keeps the caller's loader, and so a project's template overrides, but
    the caller's settings cannot change what the instrumentation templates produce.
    """
    return env.overlay(
        block_start_string="{%",
        block_end_string="%}",
        variable_start_string="{{",
        variable_end_string="}}",
        comment_start_string="{#",
        comment_end_string="#}",
        line_statement_prefix=None,
        line_comment_prefix=None,
        trim_blocks=True,
        lstrip_blocks=True,
        newline_sequence="\n",
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        finalize=None,
        autoescape=False,
    )


def _metrics_paths(service: Service) -> list[str]:
    """Return the metrics path of every scrape job of the service, first job first.

    Each job may scrape a process that runs the module, so each path serves it.
    """
    paths = [job.metrics_path for job in service.scrape_jobs] or ["/metrics"]
    return list(dict.fromkeys(paths))


def _typescript_array(texts: list[str]) -> str:
    return "[" + ", ".join(typescript_string(text) for text in texts) + "]"


def _python_declaration(metric: Metric) -> Declaration:
    labels = tuple(python_string(label) for label in metric.labels)
    buckets = _bucket_literals(metric, python_number)
    return Declaration(
        identifier=python_identifier(metric),
        constructor=_PYTHON_CLASSES[MetricType(metric.type)],
        name=python_string(metric.name),
        help=python_string(metric.help or metric.name),
        labels=labels,
        buckets=buckets,
        is_info=metric.type == MetricType.INFO,
        is_summary=metric.type == MetricType.SUMMARY,
        labels_fit=_python_tuple_fits("labelnames", labels),
        buckets_fit=_python_tuple_fits("buckets", buckets),
        labels_note=_python_labels_note(metric.labels),
    )


def _python_labels_note(labels: tuple[str, ...]) -> tuple[str, ...]:
    """Return the comment lines for labels that `.labels()` cannot take by keyword."""
    positional = [label for label in labels if not keyword_label_allowed(label)]
    if not positional:
        return ()
    names = ", ".join(python_string(label) for label in positional)
    if len(positional) == 1:
        text = f"The label {names} cannot be a keyword argument of .labels() in Python"
    else:
        text = f"The labels {names} cannot be keyword arguments of .labels() in Python"
    parameter_labels = [
        label for label in positional if label in PYTHON_LABELS_PARAMETERS
    ]
    if parameter_labels:
        listed = " or ".join(python_string(label) for label in parameter_labels)
        parameters = (
            "a parameter of that name"
            if len(parameter_labels) == 1
            else "parameters of those names"
        )
        text += (
            f", so pass the label values by position. .labels(**{{...}}) cannot pass "
            f"{listed} either, because .labels() has {parameters}."
        )
    else:
        text += ", so pass the label values by position or as .labels(**{...})."
    # Two columns go to "# ".
    return tuple(textwrap.wrap(text, PYTHON_LINE_LENGTH - 2, break_on_hyphens=False))


def _typescript_declaration(metric: Metric) -> Declaration:
    # The quantile checks accept these quantiles alone, so they are set even where
    # they equal prom-client's defaults.
    is_summary = metric.type == MetricType.SUMMARY
    percentiles = (
        tuple(typescript_number(p) for p in PROM_CLIENT_PERCENTILES)
        if is_summary
        else ()
    )
    return Declaration(
        identifier=typescript_identifier(metric),
        constructor=_TYPESCRIPT_CLASSES[MetricType(metric.type)],
        # prom-client exposes the name as given, so counters and info metrics get the
        # suffixes that prometheus_client would add and that dashboards query.
        name=typescript_string(family_name(metric)),
        help=typescript_string(metric.help or metric.name),
        labels=tuple(typescript_string(label) for label in metric.labels),
        buckets=_bucket_literals(metric, typescript_number),
        is_info=metric.type == MetricType.INFO,
        percentiles=percentiles,
        is_summary=is_summary,
    )


def _bucket_literals(
    metric: Metric, literal: Callable[[float], str]
) -> tuple[str, ...]:
    bounds = list(metric.buckets)
    if bounds and bounds[-1] == math.inf:
        # Both client libraries append the +Inf bucket themselves.
        bounds.pop()
    return tuple(literal(bound) for bound in bounds)


def _python_tuple_fits(keyword: str, items: tuple[str, ...]) -> bool:
    """Return whether `keyword=(items),` fits on one indented line of metrics.py."""
    trailing = "," if len(items) == 1 else ""
    line = f"    {keyword}=({', '.join(items)}{trailing}),"
    return len(line) <= PYTHON_LINE_LENGTH
