"""Validate dashboards against Grafana's JSON schemas (grafana-foundation-sdk).

The generator behind those schemas types an override's `matcher.options` and each
override property's `value` as objects, while Grafana takes a string for `byName`
options and any JSON value for a property. It also drops the `type` constant that
tells the table cell-option variants apart, so every valid `cellOptions` matches
several branches of a `oneOf`; that `oneOf` is checked as `anyOf`. Those three places
are relaxed here.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

import jsonschema

PANEL_SCHEMAS = (
    "stat",
    "gauge",
    "timeseries",
    "table",
    "barchart",
    "piechart",
    "heatmap",
)


@cache
def _load(folder: str, name: str) -> dict:
    return json.loads((Path(folder) / f"{name}.jsonschema.json").read_text())


def _relaxed_dashboard(folder: str) -> dict:
    schema = copy.deepcopy(_load(folder, "dashboard"))
    definitions = schema["definitions"]
    definitions["MatcherConfig"]["properties"]["options"] = {}
    definitions["DynamicConfigValue"]["properties"]["value"] = {}
    return schema


def _validator(schema: dict, definition: str) -> jsonschema.protocols.Validator:
    root = dict(schema)
    root["$ref"] = f"#/definitions/{definition}"
    cls = jsonschema.validators.validator_for(root, default=jsonschema.Draft7Validator)
    return cls(root)


@cache
def validators(folder: str) -> dict[str, jsonschema.protocols.Validator]:
    dashboard = _relaxed_dashboard(folder)
    result = {
        "Dashboard": _validator(dashboard, "Dashboard"),
        "Panel": _validator(dashboard, "Panel"),
        "RowPanel": _validator(dashboard, "RowPanel"),
        "Dataquery": _validator(_load(folder, "prometheus"), "Dataquery"),
    }
    for panel_type in PANEL_SCHEMAS:
        schema = copy.deepcopy(_load(folder, panel_type))
        cell_options = schema["definitions"].get("TableCellOptions")
        if cell_options is not None and "oneOf" in cell_options:
            cell_options["anyOf"] = cell_options.pop("oneOf")
        result[f"{panel_type}.Options"] = _validator(schema, "Options")
        if "FieldConfig" in schema["definitions"]:
            result[f"{panel_type}.FieldConfig"] = _validator(schema, "FieldConfig")
    return result


def _errors(
    validator: jsonschema.protocols.Validator, instance: object, where: str
) -> list[str]:
    return [
        f"{where}/{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


def dashboard_errors(dashboard: dict, folder: Path) -> list[str]:
    """Return every schema violation in a dashboard, each prefixed by where it is."""
    checks = validators(str(folder))
    errors = _errors(checks["Dashboard"], dashboard, "dashboard")
    panels = []
    for panel in dashboard.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    for panel in panels:
        where = f"panel {panel.get('id')} ({panel.get('title')})"
        if panel["type"] == "row":
            errors += _errors(checks["RowPanel"], panel, where)
            continue
        errors += _errors(checks["Panel"], panel, where)
        options = checks.get(f"{panel['type']}.Options")
        if options is None:
            errors.append(f"{where}: no schema for panel type {panel['type']}")
        else:
            errors += _errors(options, panel.get("options", {}), f"{where} options")
        custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
        field_config = checks.get(f"{panel['type']}.FieldConfig")
        if custom is not None and field_config is not None:
            errors += _errors(field_config, custom, f"{where} custom")
        for target in panel.get("targets", []):
            errors += _errors(checks["Dataquery"], target, f"{where} target")
    return errors
