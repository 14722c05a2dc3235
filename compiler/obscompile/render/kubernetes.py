"""PrometheusRule objects for the Prometheus Operator, one per service rule file.

`spec.groups` is the rule file's `groups` list: the operator copies these structs
into the rule files it gives Prometheus (prometheus-operator, monitoring/v1
PrometheusRuleSpec), so the same groups pass the same checks.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from obscompile.render.environment import check_yaml_output
from obscompile.render.rule_files import RuleFile, rule_files
from obscompile.render.yaml_dump import add_yaml_filter

if TYPE_CHECKING:
    from obscompile.config import Config
    from obscompile.model.service import Service
    from obscompile.pipeline import EmitContext

KUBERNETES_DIR = "kubernetes/"
API_VERSION = "monitoring.coreos.com/v1"
KIND = "PrometheusRule"
NAME_SUFFIX = "-rules"
# A DNS-1123 subdomain has at most 253 characters (k8s.io/apimachinery validation).
NAME_MAX = 253


def object_name(service: str) -> str:
    """Return `<service>-rules` as a DNS-1123 name (lowercase letters, digits, `-`)."""
    base = re.sub(r"[^a-z0-9]+", "-", service.lower()).strip("-")
    if not base:
        base = "svc-" + hashlib.sha256(service.encode()).hexdigest()[:12]
    return base[: NAME_MAX - len(NAME_SUFFIX)].rstrip("-") + NAME_SUFFIX


def object_names(services: list[str]) -> dict[str, str]:
    """Map each service to its object name; services whose names clash get a hash."""
    by_name: dict[str, list[str]] = {}
    for service in sorted(services):
        by_name.setdefault(object_name(service), []).append(service)
    result = {}
    for name, owners in by_name.items():
        for service in owners:
            if len(owners) == 1:
                result[service] = name
            else:
                digest = hashlib.sha256(service.encode()).hexdigest()[:8]
                result[service] = (
                    f"{name.removesuffix(NAME_SUFFIX)}-{digest}{NAME_SUFFIX}"
                )
    return result


# The last project's names and their groups. A build passes the same tuple for every
# service, and hashing it for a lookup would cost a pass over every name each time.
_last_clashes: tuple[tuple[str, ...], dict[str, tuple[str, ...]]] = ((), {})


def _clashes(names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Group the service names of a project by the object name each would get."""
    global _last_clashes
    if names is _last_clashes[0] or names == _last_clashes[0]:
        return _last_clashes[1]
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(object_name(name), []).append(name)
    found = {base: tuple(sorted(owners)) for base, owners in groups.items()}
    _last_clashes = (names, found)
    return found


def object_name_key(names: tuple[str, ...], service: Service) -> str:
    """Return the names that decide the object name of `service`: those it clashes with."""
    return "\0".join(_clashes(names).get(object_name(service.name), ()))


def prometheus_rule(rule_file: RuleFile, name: str, config: Config) -> dict[str, Any]:
    """Return the PrometheusRule object that wraps one rule file's groups."""
    metadata: dict[str, Any] = {"name": name, "namespace": config.kubernetes_namespace}
    if config.kubernetes_labels:
        metadata["labels"] = dict(config.kubernetes_labels)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {"groups": rule_file.groups},
    }


def emit_prometheus_rules(context: EmitContext) -> dict[str, str]:
    """Render `kubernetes/<service>.prometheusrule.yaml` for every rule file.

    Object names are unique among every service of the project
    (`context.service_names`) and the rule files in `context.files`.
    """
    found = rule_files(context.files)
    clashes = _clashes(context.service_names)
    names = object_names(
        sorted(
            {
                *(rule_file.service for rule_file in found),
                *(
                    other
                    for rule_file in found
                    for other in clashes.get(object_name(rule_file.service), ())
                ),
            }
        )
    )
    add_yaml_filter(context.env)
    template = context.env.get_template("kubernetes/prometheusrule.yaml.j2")
    files = {}
    for rule_file in found:
        document = prometheus_rule(rule_file, names[rule_file.service], context.config)
        path = f"{KUBERNETES_DIR}{rule_file.service}.prometheusrule.yaml"
        variables = {"rules_path": rule_file.path, "document": document}
        text = template.render(variables)
        check_yaml_output(template, text, f'service "{rule_file.service}"', variables)
        files[path] = text.rstrip("\n") + "\n"
    return files
