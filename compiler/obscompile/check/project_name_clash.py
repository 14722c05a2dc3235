"""project/name-clash: names that map to one Kubernetes, Terraform or folder name.

`api_gateway` and `api-gateway` are two services, but Kubernetes object names and
Terraform identifiers keep only some characters, so both would get the same one.
The build then gives each a name with a hash, which changes when either service is
added or removed: Terraform would replace the resources, and `kubectl apply` would
leave the old PrometheusRule beside the new one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from obscompile.check.context import ProjectContext
from obscompile.check.project_duplicates import (
    clashes,
    definition_order,
    service_name_location,
    written_name,
)
from obscompile.check.registry import Scope, check
from obscompile.diagnostics import Diagnostic, warning
from obscompile.model.location import Location
from obscompile.render.folders import folder_uid, is_general
from obscompile.render.hcl import identifier
from obscompile.render.kubernetes import object_name

NAME = "project/name-clash"

# (name, where it is written, the name as written) of each name of one kind. A
# service's name is its key, which may differ from what its manifest writes.
Named = list[tuple[str, Location, str]]


def _warn_clashes(
    named: Named,
    derive: Callable[[str], str],
    kind: str,
    subject: str,
    duplicates_reported: bool = True,
    show_derived: bool = True,
) -> Iterator[Diagnostic]:
    """Warn at both names of each pair whose derived names are equal.

    Each name is paired with the first name in definition order that derives its
    name, and each warning names the other of the pair. Names that differ only in
    case are left to the duplicate checks where `duplicates_reported` is True.
    """
    in_order = sorted(named, key=lambda item: definition_order(item[1]))
    for later, first in clashes(in_order, lambda item: derive(item[0])):
        if first[0] == later[0] or (
            duplicates_reported and first[0].casefold() == later[0].casefold()
        ):
            continue
        # Neither name is the original to the user, so each file gets the warning.
        for (text, where, written), (_, other_where, other_written) in (
            (later, first),
            (first, later),
        ):
            quoted = f' "{derive(text)}"' if show_derived else ""
            yield warning(
                where,
                f'{subject} "{written}" gets the {kind}{quoted} of "{other_written}" '
                f"in {other_where}, so both get names with a hash, which change when "
                "either is added or removed; rename one of them",
                NAME,
            )


@check(
    NAME,
    "names that map to one Kubernetes object name, Terraform identifier or folder uid",
    scope=Scope.PROJECT,
)
def name_clash(context: ProjectContext) -> Iterator[Diagnostic]:
    services = [
        (s.name, service_name_location(s), written_name(s)) for s in context.services
    ]
    yield from _warn_clashes(
        services, object_name, "Kubernetes object name", "service name"
    )
    dashboards = [s.dashboard for s in context.services if s.dashboard is not None]
    uids = [(d.uid, d.locations.get("uid", d.location), d.uid) for d in dashboards]
    yield from _warn_clashes(
        uids,
        lambda uid: identifier(uid, "dashboard"),
        "Terraform identifier",
        "dashboard uid",
    )
    # A title that names the root folder, such as "general", gets no uid.
    folders = [
        (d.folder.strip(), d.locations.get("folder", d.location))
        for d in dashboards
        if not is_general(d.folder)
    ]
    unique: dict[str, Location] = {}
    for title, where in folders:
        unique.setdefault(title, where)
    yield from _warn_clashes(
        [(title, where, title) for title, where in unique.items()],
        lambda title: folder_uid(title, ""),
        "folder uid",
        "folder",
        duplicates_reported=False,
        # The uid also has the prefix of obscompile.yaml, which checks do not read.
        show_derived=False,
    )
