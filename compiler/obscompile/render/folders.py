"""Grafana folders of a build's dashboards, for Terraform and file provisioning."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import attrs

from obscompile.load.manifest import slug
from obscompile.load.schema import UID_MAX
from obscompile.model.service import Service

if TYPE_CHECKING:
    from obscompile.pipeline import EmitContext

DASHBOARDS_DIR = "grafana/dashboards/"

# Directory of the root folder's dashboards in file provisioning. No folder uid may
# equal it, because the root's provider and that folder's would then read one directory.
GENERAL_DIRECTORY = "general"


def is_general(title: str) -> bool:
    """Tell whether `title` names Grafana's root folder.

    Grafana rejects a folder titled "General" in any case, after trimming spaces
    (its dashboards service returns ErrDashboardFolderNameExists), so dashboards of
    such a folder go to the root.
    """
    return title.strip().casefold() in ("", "general")


@attrs.frozen
class Folder:
    """A Grafana folder and the uids of its dashboards; `uid` is "" for the root."""

    title: str
    uid: str
    dashboards: tuple[str, ...]

    @property
    def general(self) -> bool:
        return self.uid == ""


@attrs.frozen
class DashboardFile:
    """A dashboard file of the build and the folder it belongs in."""

    uid: str
    path: str
    folder: str


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def folder_uid(title: str, prefix: str) -> str:
    """Return a stable Grafana uid for a folder: the prefix and a slug of the title.

    A title without ASCII letters or digits uses a hash instead of the slug, and a uid
    longer than 40 characters keeps 27 of them and a hash.
    """
    base = slug(title.strip()) or _digest(title.strip())
    uid = prefix + base
    if len(uid) > UID_MAX:
        uid = uid[:27].rstrip("-") + "-" + _digest(title.strip())
    return uid


def folder_uids(titles: set[str], prefix: str) -> dict[str, str]:
    """Map each folder title to its uid; titles whose slugs clash get hashed uids.

    A uid that equals the root folder's directory, as "Général" gives with an empty
    prefix, is hashed too.
    """
    by_uid: dict[str, list[str]] = {}
    for title in sorted(titles):
        by_uid.setdefault(folder_uid(title, prefix), []).append(title)
    result = {}
    for uid, owners in by_uid.items():
        for title in owners:
            if len(owners) == 1 and uid.casefold() != GENERAL_DIRECTORY:
                result[title] = uid
            else:
                result[title] = (prefix + _digest(title.strip()))[:UID_MAX]
    return result


def dashboard_files(
    files: Mapping[str, str], services: tuple[Service, ...]
) -> list[DashboardFile]:
    """Return the dashboard files of the build, by uid, with each one's folder title."""
    folders = {
        service.dashboard.uid: service.dashboard.folder.strip()
        for service in services
        if service.dashboard is not None
    }
    found = []
    for path in sorted(files):
        if not path.startswith(DASHBOARDS_DIR) or not path.endswith(".json"):
            continue
        uid = path[len(DASHBOARDS_DIR) : -len(".json")]
        if "/" in uid:
            continue
        found.append(DashboardFile(uid, path, folders.get(uid, "General")))
    return found


def group_by_folder(dashboards: list[DashboardFile], prefix: str) -> list[Folder]:
    """Group dashboards by folder: the root folder first, then by title."""
    titles = {d.folder for d in dashboards if not is_general(d.folder)}
    uids = folder_uids(titles, prefix)
    members: dict[str, list[str]] = {}
    for dashboard in dashboards:
        key = "" if is_general(dashboard.folder) else dashboard.folder
        members.setdefault(key, []).append(dashboard.uid)
    folders = []
    for title in sorted(members):
        uid = uids.get(title, "")
        folders.append(Folder(title or "General", uid, tuple(sorted(members[title]))))
    return folders


def remember_for_dashboards(
    context: EmitContext,
    stage: str,
    render: Callable[[EmitContext, list[DashboardFile]], dict[str, str]],
) -> dict[str, str]:
    """Return `render(context, dashboards)`, reused while the dashboard files stay the same.

    For emitters that read only the dashboard files, their folders and the
    configuration, which every cache key covers.
    """
    dashboards = dashboard_files(context.files, context.services)
    digest = hashlib.sha256(repr(dashboards).encode("utf-8")).hexdigest()
    return context.remember(
        stage, digest, functools.partial(render, context, dashboards)
    )
