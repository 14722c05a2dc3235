"""Mimir and Cortex ruler namespace files for `mimirtool rules load`, one per service.

Each file is `namespace: <service>` and the groups of the service's rule file. With
`mimir_source_tenants` set, every group also gets `source_tenants`, which makes it a
federated rule group. promtool rejects both keys, so these files stay apart from the
plain rule files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from obscompile.render.environment import check_yaml_output
from obscompile.render.rule_files import RuleFile, rule_files
from obscompile.render.yaml_dump import add_yaml_filter

if TYPE_CHECKING:
    from obscompile.pipeline import EmitContext

MIMIR_DIR = "mimir/"


def with_tenants(group: dict[str, Any], tenants: tuple[str, ...]) -> dict[str, Any]:
    """Return `group` with `source_tenants` before its rules, if there are tenants."""
    if not tenants:
        return group
    result: dict[str, Any] = {}
    for key, value in group.items():
        if key == "rules":
            result["source_tenants"] = list(tenants)
        result[key] = value
    result.setdefault("source_tenants", list(tenants))
    return result


def namespace_document(rule_file: RuleFile, tenants: tuple[str, ...]) -> dict[str, Any]:
    """Return the namespace file's data for one rule file."""
    return {
        "namespace": rule_file.service,
        "groups": [with_tenants(group, tenants) for group in rule_file.groups],
    }


def emit_mimir_namespaces(context: EmitContext) -> dict[str, str]:
    """Render `mimir/<service>.yaml` for every rule file of the build."""
    tenants = context.config.mimir_source_tenants
    add_yaml_filter(context.env)
    template = context.env.get_template("mimir/namespace.yaml.j2")
    files = {}
    for rule_file in rule_files(context.files):
        path = f"{MIMIR_DIR}{rule_file.service}.yaml"
        variables = {
            "rules_path": rule_file.path,
            "file_path": path,
            "tenants": tenants,
            "document": namespace_document(rule_file, tenants),
        }
        text = template.render(variables)
        check_yaml_output(template, text, f'service "{rule_file.service}"', variables)
        files[path] = text.rstrip("\n") + "\n"
    return files
