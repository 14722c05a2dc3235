"""Read rendered YAML back with ruamel.yaml's safe loader and its C parser.

A build reads every rule and test file it renders: once to compare it with its data,
and the rule files again to wrap their groups for Kubernetes and Mimir and to compare
them with the dashboards. ruamel.yaml's `VersionedResolver` looks up the YAML version
of the document for every scalar, through three attribute lookups that fail in a
load with the C parser, which took about a third of the time of a load. The C parser
ignores `%YAML` directives (ruamel.yaml 0.18 and 0.19), so the version of such a load
is always the one it was given, and `_FixedVersionResolver` reads it only once.
"""

from __future__ import annotations

import functools
import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.main import CParser
from ruamel.yaml.resolver import VersionedResolver

# ruamel.yaml's version when a load does not set one.
_DEFAULT_VERSION = (1, 2)


class _FixedVersionResolver(VersionedResolver):
    """The implicit resolver of a C-parser load, which has one YAML version throughout."""

    @property
    def processing_version(self) -> Any:
        return self._loader_version or _DEFAULT_VERSION

    @property
    def versioned_resolver(self) -> Any:
        table = self.__dict__.get("_table")
        if table is None:
            table = self.__dict__["_table"] = super().versioned_resolver
        return table


def load_yaml(text: str, version: tuple[int, int] | None = None) -> Any:
    """Return the data of one YAML document, read by the safe loader.

    `version` selects the rules for plain scalars: (1, 1) reads `yes` as true, as the
    Go YAML library of Prometheus does. Raises ruamel.yaml's errors on invalid YAML.
    """
    loader = YAML(typ="safe")
    if loader.Parser is CParser:
        loader.Resolver = _FixedVersionResolver
    loader.version = version
    return loader.load(io.StringIO(text))


# ruamel.yaml's rules for plain scalars by YAML version, then by first character (None:
# any). Every rule gives a tag other than str, so a plain scalar that no rule of its
# version matches is a string.
_PLAIN_RULES = {
    version: VersionedResolver(version=version).versioned_resolver
    for version in ((1, 1), (1, 2))
}


def plain_reads_as_string(text: str, version: tuple[int, int]) -> bool:
    """Return True when YAML `version` (1.1 or 1.2) reads the plain scalar `text` as a string.

    This is `VersionedResolver.resolve` for a plain scalar, without its lookups of
    the version.
    """
    rules = _PLAIN_RULES[version]
    found = rules.get(text[0] if text else "", []) + rules.get(None, [])
    return not any(pattern.match(text) for _, pattern in found)


@functools.lru_cache(maxsize=16)
def load_shared(text: str) -> Any:
    """Return `load_yaml(text)`, once for every caller of a build with the same text.

    Several stages read each rule file, so the result is shared: it must not be
    changed.
    """
    return load_yaml(text)
