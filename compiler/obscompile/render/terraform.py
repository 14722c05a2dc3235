"""Terraform configuration for the grafana provider that loads the dashboard files.

The configuration lives in `out/terraform/` and reads each dashboard with
`file("${path.module}/../grafana/dashboards/<uid>.json")`. file() returns the text
unchanged, while templatefile() or a string literal would evaluate Grafana's own
`${datasource}` references as Terraform templates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from obscompile.render.folders import (
    DashboardFile,
    dashboard_files,
    group_by_folder,
    remember_for_dashboards,
)
from obscompile.render.hcl import add_hcl_filters, is_identifier, unique_identifiers

if TYPE_CHECKING:
    from obscompile.pipeline import EmitContext

TERRAFORM_DIR = "terraform/"
# The files follow the resource schema of provider 4.45. A new major version may
# change it, so the constraint takes none before obscompile is checked against it.
PROVIDER_VERSION = ">= 3.0.0, < 5.0.0"
MESSAGE = "Managed by obscompile"
TEMPLATES = ("main.tf", "dashboards.tf", "outputs.tf")


def terraform_context(
    context: EmitContext, dashboards: list[DashboardFile] | None = None
) -> dict[str, Any]:
    """Build the view of folders and dashboards that the Terraform templates render."""
    if dashboards is None:
        dashboards = dashboard_files(context.files, context.services)
    folders = [
        folder
        for folder in group_by_folder(
            dashboards, context.config.terraform_folder_uid_prefix
        )
        if not folder.general
    ]

    folder_names = unique_identifiers((f.uid for f in folders), "folder")
    dashboard_names = unique_identifiers((d.uid for d in dashboards), "dashboard")
    folder_of = {uid: folder for folder in folders for uid in folder.dashboards}
    for name in [*folder_names.values(), *dashboard_names.values()]:
        if not is_identifier(name):
            raise ValueError(f"derived Terraform identifier {name!r} is invalid")

    dashboard_views: list[dict[str, Any]] = []
    for dashboard in dashboards:
        folder = folder_of.get(dashboard.uid)
        dashboard_views.append(
            {
                "resource": dashboard_names[dashboard.uid],
                "uid": dashboard.uid,
                "file": dashboard.path,
                "folder_resource": folder_names[folder.uid] if folder else None,
            }
        )
    dashboard_views.sort(key=lambda view: view["resource"])

    folder_views = [
        {"resource": folder_names[f.uid], "title": f.title, "uid": f.uid}
        for f in folders
    ]
    folder_views.sort(key=lambda view: view["resource"])

    return {
        "provider_version": PROVIDER_VERSION,
        "message": MESSAGE,
        "folders": folder_views,
        "dashboards": dashboard_views,
    }


def _url_pairs(dashboards: list[dict[str, Any]], quote: Any) -> list[tuple[str, str]]:
    return [
        (quote(view["uid"]), f"grafana_dashboard.{view['resource']}.url")
        for view in dashboards
    ]


def emit_terraform(context: EmitContext) -> dict[str, str]:
    """Render `terraform/main.tf`, `dashboards.tf` and `outputs.tf`.

    They depend on the dashboard files and their folders alone, besides the
    configuration, so a build with a cache reuses them while those stay the same.
    """
    return remember_for_dashboards(context, "terraform", _render_terraform)


def _render_terraform(
    context: EmitContext, dashboards: list[DashboardFile]
) -> dict[str, str]:
    env = context.env
    add_hcl_filters(env)
    view = terraform_context(context, dashboards)
    view["urls"] = _url_pairs(view["dashboards"], env.filters["hcl_string"])
    files = {}
    for name in TEMPLATES:
        text = env.get_template(f"terraform/{name}.j2").render(**view)
        files[TERRAFORM_DIR + name] = text.rstrip("\n") + "\n"
    return files
