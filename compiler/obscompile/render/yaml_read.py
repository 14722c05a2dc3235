"""Read rendered YAML back with ruamel.yaml's safe loader and its C parser.

A build reads the rule files it renders to wrap their groups for Kubernetes and Mimir
and to compare them with the dashboards, and compares the output of a project's own
Prometheus templates with its data. Manifests are parsed with the same safe loader
(see `obscompile.yaml_loader`).

`read_yaml` goes further for the plain documents that the templates render: it builds
the data from the C parser's events, without the safe loader's nodes. A document with
anchors, aliases, tags, keys other than strings or a repeated key goes to `load_yaml`
instead, so `read_yaml` returns what `load_yaml` returns or raises what it raises.
"""

from __future__ import annotations

import functools
import io
import warnings
from typing import Any

from ruamel.yaml import events
from ruamel.yaml.error import MantissaNoDotYAML1_1Warning
from ruamel.yaml.main import CParser
from ruamel.yaml.resolver import VersionedResolver

from obscompile.yaml_loader import (
    C_PARSER_DEPTH,
    DEFAULT_VERSION,
    looks_deep,
    safe_yaml,
)

# A YAML 1.1 load prints a warning for a float without a dot, such as `1e3`, which it
# reads as a float anyway. The comparison with the rendered data covers such values.
warnings.filterwarnings("ignore", category=MantissaNoDotYAML1_1Warning)


def load_yaml(text: str, version: tuple[int, int] | None = None) -> Any:
    """Return the data of one YAML document, read by the safe loader.

    `version` selects the rules for plain scalars: (1, 1) reads `yes` as true, as the
    Go YAML library of Prometheus does. Raises ruamel.yaml's errors on invalid YAML,
    and ValueError for a document nested too deeply to read.
    """
    loader = safe_yaml(pure=looks_deep(text, C_PARSER_DEPTH), version=version)
    try:
        return loader.load(io.StringIO(text))
    except RecursionError:
        raise ValueError("the document is nested too deeply to read") from None


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
    """Return `read_yaml(text)`, once for every caller of a build with the same text.

    Several stages read each rule file, so the result is shared: it must not be
    changed.
    """
    return read_yaml(text)


class _NotPlain(Exception):
    """The document uses YAML that `read_yaml` leaves to the safe loader."""


# The tags of plain scalars that `_plain_value` reads, besides strings.
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("bool", "float", "int", "null", "timestamp")
)


def read_yaml(text: str, version: tuple[int, int] | None = None) -> Any:
    """Return `load_yaml(text, version)`, building plain documents from parser events."""
    if CParser is None or looks_deep(text, C_PARSER_DEPTH):
        return load_yaml(text, version)
    try:
        return _EventReader(text, version or DEFAULT_VERSION).document()
    except Exception:  # _NotPlain, or a YAML error that load_yaml raises in its words
        return load_yaml(text, version)


class _EventReader:
    def __init__(self, text: str, version: tuple[int, int]) -> None:
        self.parser = CParser(text)
        self.version = version
        self.rules = _PLAIN_RULES[version]
        self.any_start = self.rules.get(None, [])

    def document(self) -> Any:
        next_event = self.parser.get_event
        next_event()  # the stream's start
        event = next_event()
        if isinstance(event, events.StreamEndEvent):
            return None
        if not isinstance(event, events.DocumentStartEvent):
            raise _NotPlain
        value = self.value(next_event())
        if not isinstance(next_event(), events.DocumentEndEvent):
            raise _NotPlain
        if not isinstance(next_event(), events.StreamEndEvent):
            raise _NotPlain  # a second document, which load_yaml rejects
        return value

    def value(self, event: Any) -> Any:
        if event.anchor is not None or event.tag is not None:
            raise _NotPlain
        kind = type(event)
        if kind is events.ScalarEvent:
            if event.style:
                return event.value  # quoted, literal or folded: a string
            return self.plain(event.value)
        next_event = self.parser.get_event
        if kind is events.SequenceStartEvent:
            items: list[Any] = []
            while True:
                item = next_event()
                if type(item) is events.SequenceEndEvent:
                    return items
                items.append(self.value(item))
        if kind is events.MappingStartEvent:
            mapping: dict[str, Any] = {}
            while True:
                item = next_event()
                if type(item) is events.MappingEndEvent:
                    return mapping
                key = self.value(item)
                if type(key) is not str or key in mapping:
                    raise _NotPlain
                mapping[key] = self.value(next_event())
        raise _NotPlain  # an alias

    def plain(self, text: str) -> Any:
        rules = self.rules.get(text[0] if text else "", []) + self.any_start
        for tag, pattern in rules:
            if pattern.match(text):
                if tag not in _SCALAR_TAGS:
                    raise _NotPlain
                return _plain_value(text, self.version)
        return text


@functools.lru_cache(maxsize=4096)
def _plain_value(text: str, version: tuple[int, int]) -> Any:
    """Return what the safe loader makes of a plain number, bool, null or timestamp.

    Such a scalar reads the same on its own as inside a document, because its text
    has none of the characters that end or start other YAML.
    """
    return load_yaml(text, version)
