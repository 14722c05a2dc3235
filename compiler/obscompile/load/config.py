"""Read and validate `obscompile.yaml`, the project configuration.

The file is optional: a project without it gets `Config()`. Errors are reported like
manifest errors, as positioned diagnostics with suggestions, and stop the build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from obscompile.config import DEFAULT_TARGETS, TARGET_REQUIRES, Config
from obscompile.diagnostics import Diagnostic, error, shorten_quotes, warning
from obscompile.load.durations import DURATION_PATTERN, MAX_DURATION_MS, duration_ms
from obscompile.load.input_file import CONFIG, InputFileError, read_input_text
from obscompile.load.patterns import END
from obscompile.load.project import display_name
from obscompile.load.schema import ZERO_DURATION_PATTERN
from obscompile.load.urls import url_problem
from obscompile.load.validate import (
    YAML_LINE_BREAK,
    describe_written,
    dotted,
    ends_with_line_break,
    max_milliseconds,
    number_findings,
    pattern_message,
    quoted,
    shown_value,
    suggest,
)
from obscompile.load.yaml_source import JsonPath, Source, read_yaml_file
from obscompile.model.location import Location

CONFIG_FILE = "obscompile.yaml"
CONFIG_SCHEMA_ID = "https://obscompile.dev/schema/config.json"

# Kubernetes object and label syntax (k8s.io/apimachinery, pkg/util/validation).
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?" + END
DNS1123_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
LABEL_PREFIX_MAX = 253
# The lookahead limits the prefix, the text before "/", to LABEL_PREFIX_MAX characters.
LABEL_KEY_PATTERN = (
    rf"^(?![^/]{{{LABEL_PREFIX_MAX + 1},}}/)({DNS1123_SUBDOMAIN}/)?{LABEL_NAME}" + END
)
LABEL_VALUE_PATTERN = rf"^({LABEL_NAME})?" + END

# Mimir and Cortex tenant ids (grafana/dskit, tenant.ValidTenantID): at most 150 of
# these characters, and neither "." nor "..".
TENANT_PATTERN = r"^(?!\.\.?$)[A-Za-z0-9!._*'()-]{1,150}" + END

# Grafana reads dashboards with datasource references as objects from schemaVersion 36
# on, and 42 is the final version of its v1 dashboard model.
SCHEMA_VERSION_MIN = 36
SCHEMA_VERSION_MAX = 42

# A folder uid is the prefix and a slug of the title. A uid longer than 40 characters
# keeps its first 27 and a hash, so a prefix of up to 27 characters always survives.
FOLDER_UID_PREFIX_MAX = 27


def _duration(description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": DURATION_PATTERN,
        "description": description,
        "x-requirement": "use a Prometheus duration such as 30s, 5m or 1h30m",
        # The loader's own keyword, which editors ignore: the longest duration
        # Prometheus accepts, in milliseconds.
        "x-max-milliseconds": MAX_DURATION_MS,
    }


def _positive_duration(description: str) -> dict[str, Any]:
    return {
        **_duration(description),
        "allOf": [
            {
                "not": {"type": "string", "pattern": ZERO_DURATION_PATTERN},
                "x-requirement": "must be longer than 0s",
            }
        ],
    }


CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": CONFIG_SCHEMA_ID,
    "title": "obscompile project configuration",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "targets": {
            "type": "array",
            "items": {"enum": list(DEFAULT_TARGETS)},
            "uniqueItems": True,
            "minItems": 1,
            "allOf": [
                {
                    "if": {"contains": {"const": target}},
                    "then": {
                        "contains": {"const": needed},
                        # The loader's own keyword: the target that needs `needed`.
                        "x-target": target,
                        "x-requirement": f'target "{target}" needs target '
                        f'"{needed}", whose files it reads; add "{needed}" to targets',
                    },
                }
                for target, needed in TARGET_REQUIRES.items()
            ],
            "description": "The artifacts to emit.",
        },
        "grafana_url": {
            "type": "string",
            "pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#{}]+(/[^\s?#{}]*)?" + END,
            "description": "Grafana's base URL, for the panel links in alerts.",
            "x-requirement": "use an http:// or https:// URL without query, fragment or "
            "braces (alert annotations are Go templates)",
        },
        "grafana_dashboards_path": {
            "type": "string",
            "pattern": r"^/[^\x00-\x1f]*" + END,
            "description": "The folder inside Grafana that file provisioning reads.",
            "x-requirement": "use an absolute path such as /var/lib/grafana/dashboards",
        },
        "schema_version": {
            "type": "integer",
            "minimum": SCHEMA_VERSION_MIN,
            "maximum": SCHEMA_VERSION_MAX,
            "description": "The dashboards' schemaVersion; match the target Grafana.",
        },
        "alert_for": _duration("Default `for:` of derived alerts."),
        "evaluation_interval": _positive_duration(
            "How often Prometheus evaluates the rules."
        ),
        "scrape_interval": _positive_duration("Default scrape interval."),
        "scrape_timeout": _positive_duration(
            "Default scrape timeout, at most the interval."
        ),
        "kubernetes_namespace": {
            "type": "string",
            "pattern": DNS1123_LABEL,
            "description": "Namespace of the PrometheusRule objects.",
            "x-requirement": "use at most 63 lowercase ASCII letters, digits and '-', "
            "starting and ending with a letter or digit",
        },
        "kubernetes_labels": {
            "type": "object",
            "propertyNames": {
                "pattern": LABEL_KEY_PATTERN,
                "x-requirement": "use an optional DNS subdomain prefix of at most "
                f"{LABEL_PREFIX_MAX} characters and '/', then at most 63 ASCII "
                "letters, digits, '-', '_' and '.', starting and ending with a letter "
                "or digit",
            },
            "additionalProperties": {
                "type": "string",
                "pattern": LABEL_VALUE_PATTERN,
                "x-requirement": "use at most 63 ASCII letters, digits, '-', '_' and '.', "
                "starting and ending with a letter or digit, or an empty string",
            },
            "description": "Labels of the PrometheusRule objects (the ruleSelector).",
        },
        "mimir_source_tenants": {
            "type": "array",
            "items": {
                "type": "string",
                "pattern": TENANT_PATTERN,
                "x-requirement": "use at most 150 of the characters "
                "A-Z a-z 0-9 ! - _ . * ' ( ), and neither . nor ..",
            },
            "uniqueItems": True,
            "description": "Tenants that every Mimir rule group queries.",
        },
        "terraform_folder_uid_prefix": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9_-]*" + END,
            "maxLength": FOLDER_UID_PREFIX_MAX,
            "description": "Prefix of the Grafana folder uids.",
            "x-requirement": "use only ASCII letters, digits, '-' and '_'",
        },
    },
}

_VALIDATOR = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"x-max-milliseconds": max_milliseconds}
)(CONFIG_SCHEMA)
_DEFAULTS = Config()
_CHECK = "config/schema"
_VALUE_CHECK = "config/value"


def _where(path: JsonPath) -> str:
    return dotted(path) if path else "the configuration"


def _expected(schema: dict[str, Any]) -> str:
    names = {
        "string": "a string",
        "integer": "an integer",
        "object": "a mapping",
        "array": "a list",
    }
    return names.get(schema.get("type", ""), "valid")


def _schema_diagnostic(err: ValidationError, source: Source) -> list[Diagnostic]:
    path: JsonPath = tuple(err.absolute_path)
    where = _where(path)
    kind = err.validator
    if kind == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        problems = []
        for key in sorted(set(err.instance) - set(allowed)):
            hint = suggest(key, allowed) or "; expected one of " + ", ".join(allowed)
            problems.append(
                error(
                    source.key_location((*path, key)),
                    f'unknown key "{key}" in {where}{hint}',
                    _CHECK,
                )
            )
        return problems
    if "propertyNames" in err.schema_path:
        # jsonschema reports a rejected key with the path of its mapping.
        requirement = err.schema.get("x-requirement") or f"match {err.validator_value}"
        return [
            error(
                source.key_location((*path, err.instance)),
                pattern_message(
                    f"{where} key", err.instance, err.validator_value, requirement
                ),
                _CHECK,
            )
        ]
    location = source.location(path)
    if kind == "x-max-milliseconds":
        message = f"{where} {err.message}"
    elif kind == "not" and "x-requirement" in err.schema:
        message = f"{where} {err.schema['x-requirement']}"
    elif kind == "contains" and "x-target" in err.schema:
        # A target that needs another one, reported at the target.
        location = source.location((*path, err.instance.index(err.schema["x-target"])))
        return [error(location, err.schema["x-requirement"], _CHECK)]
    elif kind == "type":
        message = (
            f"{where} must be {_expected(err.schema)}, not "
            f"{describe_written(err.instance, path, source)}"
        )
        if "x-requirement" in err.schema:
            message += f"; {err.schema['x-requirement']}"
    elif kind == "enum" and not isinstance(err.instance, str):
        choices = [str(choice) for choice in err.validator_value]
        found = describe_written(err.instance, path, source)
        message = f"{where} must be one of {', '.join(choices)}, not {found}"
    elif kind == "enum":
        choices = [str(choice) for choice in err.validator_value]
        hint = suggest(err.instance, choices)
        message = f'{where} "{err.instance}" is not one of {", ".join(choices)}{hint}'
    elif kind == "pattern" and ends_with_line_break(err.instance, err.validator_value):
        message = f"{where} {quoted(err.instance)} is invalid: {YAML_LINE_BREAK}"
    elif kind == "pattern" and path == ("grafana_url",):
        # The schema's pattern is the part of the check that editors run, and the
        # full check names the part of the URL at fault.
        message = grafana_url_message(err.instance) or (
            f'grafana_url "{err.instance}" is invalid: {err.schema["x-requirement"]}'
        )
        return [error(location, message, _VALUE_CHECK)]
    elif kind == "pattern":
        requirement = err.schema.get("x-requirement") or f"match {err.validator_value}"
        message = pattern_message(where, err.instance, err.validator_value, requirement)
    elif kind == "uniqueItems":
        seen: dict[Any, int] = {}
        for index, item in enumerate(err.instance):
            if item in seen:
                location = source.location((*path, index))
                message = f'{where} lists "{item}" twice (first at index {seen[item]})'
                break
            seen[item] = index
        else:
            message = f"{where} lists an item twice"
    elif kind == "minItems":
        message = f"{where} must not be empty"
    elif kind == "maxLength":
        message = f"{where} must be at most {err.validator_value} characters long"
    elif kind in ("minimum", "maximum"):
        bound = "at least" if kind == "minimum" else "at most"
        value = shown_value(err.instance, path, source)
        message = f"{where} must be {bound} {err.validator_value}, not {value}"
    else:
        message = f"{where}: {err.message}"
    return [error(location, message, _CHECK)]


def validate_config(source: Source) -> list[Diagnostic]:
    """Return one diagnostic for every place where the file breaks the schema."""
    diagnostics, kept = number_findings(
        source, list(_VALIDATOR.iter_errors(source.data)), _CHECK
    )
    for problem in kept:
        diagnostics.extend(_schema_diagnostic(problem, source))
    return diagnostics


def _duration_diagnostics(data: dict[str, Any], source: Source) -> list[Diagnostic]:
    problems = []
    interval = data.get("scrape_interval", _DEFAULTS.scrape_interval)
    timeout = data.get("scrape_timeout")
    if timeout is not None and duration_ms(timeout) > duration_ms(interval) > 0:
        problems.append(
            error(
                source.location(("scrape_timeout",)),
                f"scrape_timeout {timeout} is longer than scrape_interval {interval}; "
                "Prometheus rejects a scrape timeout greater than the interval",
                _VALUE_CHECK,
            )
        )
    return problems


def grafana_url_message(url: str) -> str | None:
    """Return the error message for an invalid grafana_url, or None for a valid one."""
    problem = url_problem(url, query=False)
    if problem is None:
        return None
    if problem.startswith("contains credentials"):
        return (
            'grafana_url contains credentials before "@", which every alert would '
            "carry in its dashboard_url to the chat and paging tools that receive it; "
            "give the URL without them"
        )
    message = shorten_quotes(f'grafana_url "{url}" is invalid: it {problem}')
    if problem.startswith(("has a query", "has a fragment")):
        message += ", and the links of alerts append /d/UID?viewPanel=ID to the URL"
    return message


def _url_diagnostics(data: dict[str, Any], source: Source) -> list[Diagnostic]:
    url = data.get("grafana_url")
    message = None if url is None else grafana_url_message(url)
    if message is None:
        return []
    return [error(source.location(("grafana_url",)), message, _VALUE_CHECK)]


def _value_diagnostics(data: dict[str, Any], source: Source) -> list[Diagnostic]:
    """Check what the schema cannot: a timeout within the interval, and the URL."""
    return [*_duration_diagnostics(data, source), *_url_diagnostics(data, source)]


def _default_timeout(data: dict[str, Any]) -> str:
    # Prometheus lowers the default timeout (10s) to the scrape interval when the
    # interval is shorter; the configuration does the same.
    interval = data.get("scrape_interval", _DEFAULTS.scrape_interval)
    if duration_ms(interval) < duration_ms(_DEFAULTS.scrape_timeout):
        return interval
    return _DEFAULTS.scrape_timeout


def scrape_timeout_origin(config: Config) -> str:
    """Return what sets the global scrape_timeout of `config`, for messages."""
    if "scrape_timeout" in config.locations:
        return "the scrape_timeout of obscompile.yaml"
    if config.scrape_timeout != _DEFAULTS.scrape_timeout:
        return (
            "the scrape_interval of obscompile.yaml, to which Prometheus shortens "
            f"its default scrape_timeout of {_DEFAULTS.scrape_timeout}"
        )
    return "Prometheus' default scrape_timeout"


def build_config(source: Source) -> Config:
    """Build a Config from schema-valid configuration data."""
    data: dict[str, Any] = source.data
    values: dict[str, Any] = {
        key: data[key] for key in CONFIG_SCHEMA["properties"] if key in data
    }
    if "schema_version" in values:
        # JSON Schema counts 40.0 as the integer 40, which dashboards get as 40.
        values["schema_version"] = int(values["schema_version"])
    if "targets" in values:
        values["targets"] = tuple(values["targets"])
    if "grafana_url" in values:
        values["grafana_url"] = values["grafana_url"].rstrip("/")
    if "grafana_dashboards_path" in values:
        values["grafana_dashboards_path"] = (
            values["grafana_dashboards_path"].rstrip("/") or "/"
        )
    values.setdefault("scrape_timeout", _default_timeout(data))
    if "kubernetes_labels" in values:
        values["kubernetes_labels"] = tuple(values["kubernetes_labels"].items())
    if "mimir_source_tenants" in values:
        values["mimir_source_tenants"] = tuple(values["mimir_source_tenants"])
    locations = {key: source.location((key,)) for key in data}
    return Config(**values, locations=locations)


def _misnamed_file(root: Path) -> list[Diagnostic]:
    misnamed = root / "obscompile.yml"
    if not misnamed.is_file():
        return []
    return [
        warning(
            Location(display_name(misnamed), 1, 1),
            f"obscompile.yml is ignored: obscompile reads its configuration from "
            f"{CONFIG_FILE}; rename the file",
            "config/file",
        )
    ]


def load_config(root: Path) -> tuple[Config, list[Diagnostic], dict[str, str]]:
    """Load `root/obscompile.yaml`: the config, every diagnostic, and the file's text.

    A missing or empty file means the defaults. When the file has errors the returned
    config is the default one, and the errors stop the build.
    """
    diagnostics = _misnamed_file(root)
    path = root / CONFIG_FILE
    if not path.exists():
        return Config(), diagnostics, {}
    name = display_name(path)
    source, problems = read_yaml_file(path, name, CONFIG)
    if source is None:
        if [p.check for p in problems] == ["yaml/empty"]:
            return Config(), diagnostics, {name: _read_text(path)}
        return Config(), diagnostics + problems, {name: _read_text(path)}
    sources = {name: source.text}
    diagnostics.extend(problems)
    if any(p.severity == "error" for p in problems):
        return Config(), diagnostics, sources
    schema_problems = validate_config(source)
    if schema_problems:
        return Config(), diagnostics + schema_problems, sources
    value_problems = _value_diagnostics(source.data, source)
    if value_problems:
        return Config(), diagnostics + value_problems, sources
    return build_config(source), diagnostics, sources


def _read_text(path: Path) -> str:
    try:
        return read_input_text(path, CONFIG, errors="replace")
    except InputFileError:
        return ""
