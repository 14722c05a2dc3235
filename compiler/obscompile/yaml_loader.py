"""The safe YAML loader that manifests and rendered files are both read with.

ruamel.yaml's `VersionedResolver` looks up the YAML version of the document for
every scalar, through three attribute lookups that fail in a load with the C parser,
which took about a third of the time of a load. The C parser ignores `%YAML`
directives (seen with ruamel.yaml 0.19.1), so the version of such a load is always
the one it was given, and `FixedVersionResolver` reads it only once.

The pure-Python parser, which reads the manifests that are too deeply nested for the
C parser, stores the version of a `%YAML` directive in its loader, so `yes` under
`%YAML 1.1` would read as true there and as text elsewhere. Its loader is a
`_DirectiveFreeYAML`, which keeps the version it was given.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.resolver import VersionedResolver

# ruamel.yaml's version when a load does not set one.
DEFAULT_VERSION = (1, 2)


class FixedVersionResolver(VersionedResolver):
    """The implicit resolver of a C-parser load, which has one YAML version throughout."""

    @property
    def processing_version(self) -> Any:
        return self._loader_version or DEFAULT_VERSION

    @property
    def versioned_resolver(self) -> Any:
        table = self.__dict__.get("_table")
        if table is None:
            table = self.__dict__["_table"] = super().versioned_resolver
        return table


class _DirectiveFreeYAML(YAML):
    """A loader whose version a document's `%YAML` directive does not change."""

    @property
    def version(self) -> Any:
        return self._version

    @version.setter
    def version(self, value: Any) -> None:
        # ruamel.yaml's pure-Python parser sets the version of each document's
        # directive here; the version stays the default, YAML 1.2.
        pass


def safe_yaml(pure: bool = False) -> YAML:
    """Return a safe loader that reads every document as YAML 1.2 unless given a version.

    `pure` selects the pure-Python parser, which takes no version.
    """
    loader = _DirectiveFreeYAML(typ="safe", pure=True) if pure else YAML(typ="safe")
    loader.Resolver = FixedVersionResolver
    return loader
