"""The safe YAML loader that manifests and rendered files are both read with.

ruamel.yaml's `VersionedResolver` looks up the YAML version of the document for
every scalar, through three attribute lookups that fail in a load with the C parser,
which took about a third of the time of a load. The C parser ignores `%YAML`
directives (seen with ruamel.yaml 0.19.1), so the version of such a load is always
the one it was given, and `FixedVersionResolver` reads it only once.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.main import CParser
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


def safe_yaml(pure: bool = False) -> YAML:
    """Return a safe loader, whose resolver reads the YAML version once with the C parser."""
    loader = YAML(typ="safe", pure=pure)
    if loader.Parser is CParser:
        loader.Resolver = FixedVersionResolver
    return loader
