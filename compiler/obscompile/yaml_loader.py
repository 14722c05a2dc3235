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

import re
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


def safe_yaml(pure: bool = False, version: tuple[int, int] | None = None) -> YAML:
    """Return a safe loader that reads every document as YAML 1.2 unless given a version.

    `version` selects the rules for plain scalars, which a `%YAML` directive does not
    change. `pure` selects the pure-Python parser.
    """
    if pure:
        loader: YAML = _DirectiveFreeYAML(typ="safe", pure=True)
        # The property that `_DirectiveFreeYAML` overrides reads this attribute.
        loader._version = version
    else:
        loader = YAML(typ="safe")
        loader.version = version
    loader.Resolver = FixedVersionResolver
    return loader


# The indentation of a line, with the indicators of block collections that it opens
# on the same line, as in `- - - x` or `? - x`, and their anchors and tags.
_BLOCK_PREFIX = re.compile(r"[ ]*(?:[-?:](?:[ \t]+[&!][^ \t]*)?(?:[ \t]+|$))*")


def _deep_bracket(text: str, depth: int) -> int | None:
    """Return the offset where flow brackets first nest past `depth`, or None.

    Brackets inside quotes count too, so the result may come early but never late.
    """
    level = 0
    for match in re.finditer(r"[\[{]|[\]}]", text):
        level += 1 if match.group() in "[{" else -1
        if level > depth:
            return match.start()
    return None


# The nesting up to which a document other than a manifest, such as a hand-written
# promtool test, goes to the C parser. The C parser read 5,000 levels and crashed on
# 50,000, and such documents nest fewer than ten.
C_PARSER_DEPTH = 64


def deep_offset(text: str, depth: int) -> int | None:
    """Return where the collections of `text` could first nest past `depth`, or None.

    A collection nests inside flow brackets, or one column or more further right
    than its parent: by indentation, or by indicators on one line, as in `- - - x`.
    So the offset is that of the first bracket past `depth`, or of the first column
    past twice `depth`, whichever comes first. Either may come before the real place.
    """
    found = _deep_bracket(text, depth)
    start = 0
    for line in text.splitlines(keepends=True):
        if found is not None and start > found:
            break
        prefix = _BLOCK_PREFIX.match(line)
        if prefix is not None and prefix.end() > 2 * depth:
            column = start + 2 * depth
            return column if found is None else min(found, column)
        start += len(line)
    return found


def looks_deep(text: str, depth: int) -> bool:
    """Return True when the collections of `text` could nest more than `depth` deep.

    The C parser (ruamel.yaml.clib) recurses on the native stack without a limit
    and crashes the process on a document nested thousands of levels deep, so such
    a document goes to the pure-Python parser, whose RecursionError can be caught.
    """
    return deep_offset(text, depth) is not None
