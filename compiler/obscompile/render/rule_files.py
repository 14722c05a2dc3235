"""Read the Prometheus rule files of a build, for the targets that wrap their groups.

The PrometheusRule objects and Mimir namespaces copy `groups` from the rule files
that the prometheus target emitted, so they agree with them by construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from ruamel.yaml.error import YAMLError

from obscompile.diagnostics import ObscompileError
from obscompile.render.yaml_read import load_shared

RULES_DIR = "prometheus/rules/"
RULES_SUFFIX = ".rules.yml"

# The fields that Prometheus 2.42 decodes (model/rulefmt/rulefmt.go, strict decoding).
# Later fields, such as a group's query_offset (2.53) and labels (3.0), make 2.42
# reject the whole file.
GROUP_FIELDS = frozenset({"name", "interval", "limit", "rules"})
RULE_FIELDS = frozenset(
    {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
)


class RuleFileError(ObscompileError):
    """A rule file of the build cannot be wrapped; the prometheus target emitted it."""


@attrs.frozen
class RuleFile:
    """The groups of one service's rule file."""

    service: str
    path: str
    groups: list[dict[str, Any]]


def _check_groups(path: str, data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or set(data) != {"groups"}:
        raise RuleFileError(f"{path}: expected a mapping with the single key groups")
    groups = data["groups"] or []
    if not isinstance(groups, list):
        raise RuleFileError(f"{path}: groups must be a list")
    for group in groups:
        if not isinstance(group, dict) or "name" not in group:
            raise RuleFileError(f"{path}: every group must be a mapping with a name")
        extra = sorted(set(group) - GROUP_FIELDS)
        if extra:
            raise RuleFileError(
                f"{path}: group {group['name']!r} has {', '.join(extra)}, which "
                "Prometheus 2.42 rejects"
            )
        for rule in group.get("rules") or []:
            extra = sorted(set(rule) - RULE_FIELDS) if isinstance(rule, dict) else ["?"]
            if extra:
                raise RuleFileError(
                    f"{path}: a rule in group {group['name']!r} has "
                    f"{', '.join(extra)}, which Prometheus 2.42 rejects"
                )
    return groups


def parse_rule_file(path: str, text: str) -> list[dict[str, Any]]:
    """Return a rule file's groups; raise RuleFileError on fields 2.42 rejects."""
    try:
        data = load_shared(text)
    except YAMLError as exc:
        raise RuleFileError(f"{path}: invalid YAML: {exc}") from exc
    return _check_groups(path, data)


def rule_files(files: Mapping[str, str]) -> list[RuleFile]:
    """Return every `prometheus/rules/<service>.rules.yml` in `files`, by path."""
    found = []
    for path in sorted(files):
        if not (path.startswith(RULES_DIR) and path.endswith(RULES_SUFFIX)):
            continue
        service = path[len(RULES_DIR) : -len(RULES_SUFFIX)]
        if not service or "/" in service:
            continue
        found.append(RuleFile(service, path, parse_rule_file(path, files[path])))
    return found
