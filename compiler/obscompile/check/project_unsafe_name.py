"""project/unsafe-name: a service key that is unsafe as a file name.

The service key names files and folders under out/, such as
`prometheus/rules/<service>.rules.yml` and `instrumentation/<service>/`. The YAML
loader and the DSL derive safe keys, so this check guards services built in other
ways. Dashboard uids also name files, and the manifest schema and the DSL already
reject any uid outside [A-Za-z0-9_-].
"""

from __future__ import annotations

from collections.abc import Iterator

from obscompile.check.context import ProjectContext
from obscompile.check.project_duplicates import service_name_location
from obscompile.check.registry import Scope, check
from obscompile.diagnostics import Diagnostic, error

NAME = "project/unsafe-name"


def unsafe_reason(name: str) -> str | None:
    """Return why `name` cannot be used as one file name, or None if it can."""
    if not name.strip():
        return "is empty"
    if name in (".", ".."):
        return "names a directory"
    for separator in ("/", "\\"):
        if separator in name:
            return f'contains "{separator}"'
    if name.startswith("."):
        return 'starts with "." and would be a hidden file'
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in name):
        return "contains a control character"
    return None


@check(NAME, "a service key that is unsafe as a file name", scope=Scope.PROJECT)
def unsafe_name(context: ProjectContext) -> Iterator[Diagnostic]:
    for service in context.services:
        reason = unsafe_reason(service.name)
        if reason is not None:
            yield error(
                service_name_location(service),
                f'service key "{service.name}" {reason}, so it cannot name a file; '
                'use ASCII letters, digits, "_" and "-"',
                NAME,
            )
