"""Grafana file provisioning of the dashboards (`grafana/provisioning/dashboards.yaml`).

A provider of type file puts every dashboard found below its `options.path` into
one folder, and with `foldersFromFilesStructure: false` the folder comes from its
`folder` and `folderUid` settings. Grafana reads the path recursively, so each folder
gets a provider with its own directory, `<grafana_dashboards_path>/<folder uid>`,
and `general` for the root folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from obscompile.render.environment import check_yaml_output
from obscompile.render.folders import (
    GENERAL_DIRECTORY,
    DashboardFile,
    Folder,
    group_by_folder,
    remember_for_dashboards,
)
from obscompile.render.yaml_dump import add_yaml_filter

if TYPE_CHECKING:
    from obscompile.pipeline import EmitContext

PROVISIONING_FILE = "grafana/provisioning/dashboards.yaml"


def escape_dollars(value: Any) -> Any:
    """Double every `$` in the strings of `value`.

    Grafana expands environment variables (`$NAME`, `${NAME}`) in every value of a
    provisioning file and reads `$$` as a literal `$` (its provisioning/values package).
    """
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {key: escape_dollars(item) for key, item in value.items()}
    if isinstance(value, list):
        return [escape_dollars(item) for item in value]
    return value


def provider(folder: Folder, dashboards_path: str) -> dict[str, Any]:
    """Return the provider entry that loads one folder's dashboards."""
    directory = folder.uid or GENERAL_DIRECTORY
    entry: dict[str, Any] = {
        "name": f"obscompile-{directory}",
        "orgId": 1,
        "folder": "" if folder.general else folder.title,
    }
    if not folder.general:
        entry["folderUid"] = folder.uid
    entry.update(
        {
            "type": "file",
            "disableDeletion": False,
            "allowUiUpdates": False,
            "options": {
                "path": f"{dashboards_path.rstrip('/')}/{directory}",
                "foldersFromFilesStructure": False,
            },
        }
    )
    return entry


def emit_provisioning(context: EmitContext) -> dict[str, str]:
    """Render the provisioning file; a build without dashboards gets none.

    The file depends on the dashboard files and their folders alone, besides the
    configuration, so a build with a cache reuses it while those stay the same.
    """
    return remember_for_dashboards(context, "provisioning", _render_provisioning)


def _render_provisioning(
    context: EmitContext, dashboards: list[DashboardFile]
) -> dict[str, str]:
    if not dashboards:
        return {}
    config = context.config
    folders = group_by_folder(dashboards, config.terraform_folder_uid_prefix)
    providers = [provider(folder, config.grafana_dashboards_path) for folder in folders]
    directories = [
        {
            "path": entry["options"]["path"],
            "files": [f"{uid}.json" for uid in folder.dashboards],
        }
        for entry, folder in zip(providers, folders, strict=True)
    ]
    escaped = escape_dollars(providers)
    add_yaml_filter(context.env)
    template = context.env.get_template("grafana/provisioning/dashboards.yaml.j2")
    variables = {
        "directories": directories,
        "escaped": escaped != providers,
        "document": {"apiVersion": 1, "providers": escaped},
    }
    text = template.render(variables)
    check_yaml_output(template, text, context=variables)
    return {PROVISIONING_FILE: text.rstrip("\n") + "\n"}
