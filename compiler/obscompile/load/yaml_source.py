"""Read YAML 1.2 with a position for every node.

ruamel.yaml's composer gives nodes with start marks for scalars too, which the
constructed round-trip objects lack. This module builds plain Python data from the
nodes and records where each value and each mapping key was written, keyed by the
value's path (a tuple of mapping keys and sequence indexes). Every value and key that
an alias repeats is placed at the alias, so that a problem of the copy is reported
where the copy is made.

Duplicate keys, tabs, YAML 1.1 readings and oversized or self-expanding documents
are reported as diagnostics instead of being applied or raised. So is every tag that
names a type obscompile does not read, such as !!timestamp, !!binary, !!set or a
custom tag such as !Ref.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import copy
import math
import re
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

import attrs
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.tokens import (
    FlowEntryToken,
    FlowMappingEndToken,
    FlowMappingStartToken,
    FlowSequenceEndToken,
    FlowSequenceStartToken,
    ScalarToken,
    Token,
    ValueToken,
)

from obscompile.diagnostics import Diagnostic, error, warning
from obscompile.load.input_file import (
    MANIFEST,
    FileKind,
    InputFileError,
    read_input_bytes,
)
from obscompile.model.location import Location
from obscompile.yaml_loader import deep_offset, looks_deep, safe_yaml

JsonPath = tuple[str | int, ...]

MAX_NODES = 200_000
MAX_DEPTH = 64

# The boolean that YAML 1.1 reads each of these words as. YAML 1.2 reads them as text.
YAML11_BOOLEANS = dict.fromkeys(
    ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON"), "true"
) | dict.fromkeys(("n", "N", "no", "No", "NO", "off", "Off", "OFF"), "false")
_YAML11_BOOLS = re.compile(f"^({'|'.join(YAML11_BOOLEANS)})$")
_YAML11_OCTAL = re.compile(r"^[-+]?0[0-7_]+$")
_YAML11_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$")
_CORE = "tag:yaml.org,2002:"
# The tags of values that obscompile reads.
_KNOWN_TAGS = frozenset(
    _CORE + name for name in ("str", "int", "float", "bool", "null", "map", "seq")
)
# The tag that YAML 1.1 readers, and ruamel.yaml's resolver, give an unquoted date
# such as 2024-01-01. Such a date reads as its text, but a !!timestamp written in
# the manifest is an error.
_TIMESTAMP = _CORE + "timestamp"
# Python prints and reads integers of at most this many decimal digits; an integer
# longer than _MAX_INTEGER_BITS bits may have more.
_MAX_DIGITS = sys.get_int_max_str_digits() or 4300
_MAX_INTEGER_BITS = int(_MAX_DIGITS * 3.3)
# A digit other than 0 before any exponent: a number written so that reads as 0
# is too small for a double.
_NONZERO = re.compile(r"^[-+]?[0-9_.]*[1-9]")
# A node's text starts at its anchor or tag, and a written tag starts with "!".
_EXPLICIT_TAG = re.compile(r"(?:&\S+\s+)?!")
# The non-specific tag "!" alone, which makes a scalar a string in YAML 1.2.
_NON_SPECIFIC_TAG = re.compile(r"(?:&\S+\s+)?!(?=\s|$)")
_TAG_NEEDS = {
    "null": "null or ~",
    "bool": "true or false",
    "int": "an integer",
    "float": "a number",
}
# The kind of node that each tag belongs on.
_TAG_NODES: dict[str, type] = {
    _CORE + "map": MappingNode,
    _CORE + "seq": SequenceNode,
    **{tag: ScalarNode for tag in _KNOWN_TAGS - {_CORE + "map", _CORE + "seq"}},
}
_NODE_KINDS: dict[type, str] = {
    MappingNode: "a mapping",
    SequenceNode: "a list",
    ScalarNode: "a single value",
}
_MERGE_KEY = "merge keys (<<) are not supported; write the keys of the mapping out"
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS = {"true": True, "True": True, "TRUE": True}
_BOOLS.update({"false": False, "False": False, "FALSE": False})


@attrs.frozen
class Source:
    """A parsed YAML document: its data and the positions of its values and keys."""

    path: str
    data: Any
    text: str
    values: dict[JsonPath, Location]
    keys: dict[JsonPath, Location]
    # The text of each number that reads as infinite or as 0, as written. That is .inf,
    # a number too large such as 1e400 or thousands of digits, or one too small, 1e-400.
    written: dict[JsonPath, str] = attrs.field(factory=dict)
    # The text of each unquoted date or time, such as 2024-01-01, which reads as text.
    dates: dict[JsonPath, str] = attrs.field(factory=dict)
    # How each string that YAML reads as text whatever it contains is written: its
    # quote (' or "), its block indicator (| or >), or "!" for a plain scalar with a
    # written tag such as !!str. A plain 1 is a number, but '1' is text.
    text_styles: dict[JsonPath, str] = attrs.field(factory=dict)

    def location(self, path: JsonPath) -> Location:
        """Return where the value at `path` starts, or its closest ancestor's."""
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, Location(self.path, 1, 1))

    def key_location(self, path: JsonPath) -> Location:
        """Return where the key of the value at `path` was written."""
        return self.keys.get(path) or self.location(path)


class _TooLarge(Exception):
    def __init__(self, message: str, location: Location) -> None:
        super().__init__(message)
        self.location = location


class _Aliased(Exception):
    """The document uses an alias, whose position only `_AliasComposer` keeps."""


class _AliasComposer(Composer):
    """Compose each alias as a copy of its anchor's node that starts at the alias.

    The copy shares the anchor's children. `aliases` contains the ids of the copies.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader=loader)
        self.aliases: set[int] = set()

    def compose_node(self, parent: Any, index: Any) -> Any:
        if not self.parser.check_event(AliasEvent):
            return super().compose_node(parent, index)
        event = self.parser.peek_event()
        alias = copy.copy(super().compose_node(parent, index))
        alias.start_mark, alias.end_mark = event.start_mark, event.end_mark
        self.aliases.add(id(alias))
        return alias


class _Builder:
    def __init__(
        self,
        path: str,
        text: str,
        noun: str,
        aliases: Collection[int] | None = None,
    ) -> None:
        self.path = path
        self.text = text
        # The kind of file in messages, such as "manifest".
        self.noun = noun
        self.values: dict[JsonPath, Location] = {}
        self.keys: dict[JsonPath, Location] = {}
        self.written: dict[JsonPath, str] = {}
        self.dates: dict[JsonPath, str] = {}
        self.text_styles: dict[JsonPath, str] = {}
        # The collections that contain the node being built, by id.
        self.open: set[int] = set()
        self.diagnostics: list[Diagnostic] = []
        self.count = 0
        # The ids of the alias nodes of an `_AliasComposer`, or None for a composer
        # that returns the anchor's own node for an alias. With None, a node reached
        # twice raises _Aliased, so that the caller composes again with positions.
        self.aliases = aliases
        self.seen: set[int] = set()
        # Where the alias is written whose copy of an anchor's value is being built.
        # Every value and key inside it is placed there.
        self.alias_at: Location | None = None
        self.end = _written_end(path, text)

    def where(self, node: Node) -> Location:
        if self.alias_at is not None:
            return self.alias_at
        return _mark_location(self.path, node.start_mark, self.end)

    def reached(self, node: Node) -> None:
        """Raise _Aliased where an alias reaches `node` and has no position of its own."""
        if self.aliases is None:
            if id(node) in self.seen:
                raise _Aliased
            self.seen.add(id(node))

    def build(self, node: Node, path: JsonPath, depth: int) -> Any:
        self.reached(node)
        if self.alias_at is None and self.aliases and id(node) in self.aliases:
            self.alias_at = self.where(node)
            # The anchor's text was checked where it is written, so the problems
            # found in it are reported there, once.
            reported = self.diagnostics
            self.diagnostics = []
            try:
                return self.build_node(node, path, depth)
            finally:
                self.alias_at = None
                self.diagnostics = reported
        return self.build_node(node, path, depth)

    def build_node(self, node: Node, path: JsonPath, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooLarge(
                f"document expands to more than {MAX_NODES} values, the maximum for a "
                f"{self.noun}; aliases count once for each use",
                self.where(node),
            )
        if depth > MAX_DEPTH:
            raise _TooLarge(
                f"document is nested more than {MAX_DEPTH} levels deep, the maximum "
                f"for a {self.noun}",
                self.where(node),
            )
        self.values[path] = self.where(node)
        # ruamel.yaml builds the text of a node's tag at every read of `tag`.
        tag = node.tag or ""
        self.check_tag(node, tag)
        if isinstance(node, MappingNode | SequenceNode):
            if id(node) in self.open:
                raise _TooLarge(
                    "this alias is inside the collection that it repeats, so the "
                    "document never ends",
                    self.where(node),
                )
            self.open.add(id(node))
            if node.flow_style and isinstance(node, SequenceNode):
                self.check_flow_items(node)
            try:
                if isinstance(node, MappingNode):
                    return self.mapping(node, path, depth)
                return [
                    self.build(item, (*path, i), depth + 1)
                    for i, item in enumerate(node.value)
                ]
            finally:
                self.open.discard(id(node))
        assert isinstance(node, ScalarNode)
        value = self.scalar(node, tag)
        if isinstance(value, float) and (
            math.isinf(value) or (value == 0 and _NONZERO.search(node.value))
        ):
            self.written[path] = node.value
        elif tag == _TIMESTAMP:
            self.dates[path] = node.value
        elif isinstance(value, str) and (node.style or self.explicit(node)):
            self.text_styles[path] = node.style or "!"
        return value

    def check_tag(self, node: Node, tag: str) -> None:
        """Report a tag that does not fit its node or names a type obscompile lacks."""
        if _TAG_NODES.get(tag) is not type(node):
            problem = self.tag_problem(node, tag)
            if problem is not None:
                self.diagnostics.append(error(self.where(node), problem, "yaml/tag"))

    def braces_hint(self, node: MappingNode) -> str:
        """Return how to quote a flow mapping written as `{{...}}`, or nothing.

        An unquoted template such as `legend: {{route}}` reads as a mapping whose key
        is a mapping.
        """
        start, end = node.start_mark.index, node.end_mark.index
        written = self.text[start:end]
        if not written.startswith("{{") or "\n" in written or len(written) > 80:
            return ""
        quote = "'" if "'" not in written else '"'
        if quote in written:
            return ""
        return (
            f"; {written} is a template only when quoted: write {quote}{written}{quote}"
        )

    def mapping(self, node: MappingNode, path: JsonPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Location] = {}
        for key_node, value_node in node.value:
            self.reached(key_node)
            key_location = self.where(key_node)
            if not isinstance(key_node, ScalarNode):
                self.diagnostics.append(
                    error(
                        key_location,
                        "mapping keys must be plain strings" + self.braces_hint(node),
                        "yaml/key",
                    )
                )
                continue
            key_tag = key_node.tag or ""
            if key_tag == _CORE + "merge":
                self.diagnostics.append(error(key_location, _MERGE_KEY, "yaml/tag"))
                continue
            self.check_tag(key_node, key_tag)
            key = str(self.scalar(key_node, key_tag))
            if key in first_seen:
                self.diagnostics.append(
                    error(
                        key_location,
                        f'duplicate key "{key}" (first defined at line '
                        f"{first_seen[key].line})",
                        "yaml/duplicate-key",
                    )
                )
                continue
            first_seen[key] = key_location
            self.keys[(*path, key)] = key_location
            result[key] = self.build(value_node, (*path, key), depth + 1)
        return result

    def scalar(self, node: ScalarNode, tag: str) -> Any:
        """Return the value of a scalar node whose tag text is `tag`."""
        text = node.value
        if node.style == ">" and "\a" in text:
            # ruamel.yaml marks folded line breaks with BEL characters in the value.
            text = text.replace("\a", "")
        if tag != _CORE + "str" and self.non_specific(node):
            return text
        try:
            value = self.typed_value(node, tag, text)
        except (ValueError, KeyError):
            if not self.explicit(node):
                # ruamel.yaml's resolver tags a few texts as numbers that Python
                # cannot read, such as _ and 0x_, so they stay text.
                return text
            kind = tag.removeprefix(_CORE)
            self.diagnostics.append(
                error(
                    self.where(node),
                    f"the tag !!{kind} needs {_TAG_NEEDS[kind]}, not {text!r}; "
                    "remove the tag or correct the value",
                    "yaml/tag",
                )
            )
            return text
        if not node.style:
            self.check_yaml11(node, tag)
        return value

    def typed_value(self, node: ScalarNode, tag: str, text: str) -> Any:
        """Return the value of a scalar, or raise ValueError or KeyError if its text does not fit its tag."""
        # The resolver tags only these texts as nulls and booleans, so other text
        # with either tag has it written.
        if tag == _CORE + "null":
            if text in _NULLS:
                return None
            raise ValueError(text)
        if tag == _CORE + "bool":
            return _BOOLS[text]
        if tag == _CORE + "int":
            return _to_int(text)
        if tag == _CORE + "float":
            return _to_float(text)
        return text

    def check_flow_items(self, node: SequenceNode) -> None:
        """Warn of a plain item of a [...] list that spans lines.

        Inside brackets, a line break in a plain value is a space, so two items
        without the comma between them read as one value.
        """
        for item in node.value:
            if (
                isinstance(item, ScalarNode)
                and not item.style
                and item.end_mark.line > item.start_mark.line
            ):
                self.diagnostics.append(
                    warning(
                        self.where(item),
                        f'"{item.value}" runs over '
                        f"{item.end_mark.line - item.start_mark.line + 1} lines and "
                        "reads as one value; if these are separate items, put a comma "
                        "between them",
                        "yaml/multi-line-value",
                    )
                )

    def tag_problem(self, node: Node, tag: str) -> str | None:
        """Return why a node's written tag is wrong, or None when it fits."""
        written = "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
        if tag == _CORE + "merge":
            return _MERGE_KEY
        needed = _TAG_NODES.get(tag)
        if needed is not None:
            if isinstance(node, needed):
                return None
            return (
                f"the tag {written} needs {_NODE_KINDS[needed]}, not "
                f"{_NODE_KINDS[type(node)]}; remove the tag"
            )
        if not self.explicit(node):
            return None
        if not tag.startswith(_CORE):
            return (
                f"unknown tag {written}: obscompile reads plain YAML and resolves no "
                "custom tags; write the value itself, without the tag"
            )
        return f"unsupported tag {written}: {_tag_advice(node, tag)}"

    def explicit(self, node: Node) -> bool:
        """Return True when the node's tag is written in the text, not resolved."""
        return _EXPLICIT_TAG.match(self.text, node.start_mark.index) is not None

    def non_specific(self, node: Node) -> bool:
        """Return True when the node's written tag is "!" alone, which makes it a string.

        ruamel.yaml resolves such a scalar by its text, so `! 5` would be a number.
        """
        return _NON_SPECIFIC_TAG.match(self.text, node.start_mark.index) is not None

    def check_yaml11(self, node: ScalarNode, tag: str) -> None:
        text = node.value
        reading = None
        if _YAML11_BOOLS.match(text):
            value = text.lower() in ("y", "yes", "on")
            reading = f"the boolean {str(value).lower()}"
        elif _YAML11_OCTAL.match(text) and text.strip("+-0_"):
            reading = f"the octal number {int(text.replace('_', ''), 8)}"
        elif _YAML11_SEXAGESIMAL.match(text):
            reading = "a base-60 number"
        elif tag == _TIMESTAMP and not self.explicit(node):
            # A date alone, 2024-01-01, has ten characters, and a time makes it longer.
            reading = "a date" if len(text) <= 10 else "a date and time"
        elif self.other_number_form(node, tag):
            return
        if reading:
            this = _to_int(text) if tag.endswith(":int") else repr(text)
            self.diagnostics.append(
                warning(
                    self.where(node),
                    f"{text} is read as {this} (YAML 1.2), but YAML 1.1 tools read it as "
                    f"{reading}; quote it to make the meaning explicit",
                    "yaml/ambiguous-scalar",
                )
            )

    def other_number_form(self, node: ScalarNode, tag: str) -> bool:
        """Warn of a number that other YAML readers read as text, and return whether it warned.

        ruamel.yaml also reads `1_000`, `0b101` and `0o17` as numbers. YAML 1.2's
        core schema reads the first two as text, and YAML 1.1 readers the third.
        """
        text = node.value
        lowered = text.lstrip("+-").lower()
        if tag not in (_CORE + "int", _CORE + "float") or not (
            "_" in text or lowered.startswith(("0b", "0o"))
        ):
            return False
        try:
            value = _to_int(text) if tag == _CORE + "int" else _to_float(text)
        except ValueError:
            return False
        if not math.isfinite(value):
            # The value is reported as one that no artifact can hold.
            return False
        self.diagnostics.append(
            warning(
                self.where(node),
                f"{text} is read as the number {value}, but other YAML readers read "
                f"it as text; write {value}",
                "yaml/ambiguous-scalar",
            )
        )
        return True


def _tag_advice(node: Node, tag: str) -> str:
    """Say how to write the value of a node whose YAML tag obscompile does not read."""
    kind = tag.removeprefix(_CORE)
    if kind == "timestamp" and isinstance(node, ScalarNode):
        quoted = node.value.replace("'", "''")
        return (
            "obscompile has no date or time values; to keep the text, remove the tag "
            f"and quote it: '{quoted}'"
        )
    if kind == "binary" and isinstance(node, ScalarNode):
        try:
            decoded = base64.b64decode(node.value, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        example = f": {decoded!r}" if decoded.isprintable() and decoded else ""
        return (
            "obscompile has no binary values; remove the tag and write the text it "
            f"encodes as a string{example}"
        )
    if kind == "set" and isinstance(node, MappingNode):
        items = _flow_text(key for key, _ in node.value)
        example = f": [{items}]" if items is not None else ""
        return f"remove the tag and write the items as a list{example}"
    if kind in ("omap", "pairs") and isinstance(node, SequenceNode):
        return (
            "remove the tag and write the entries as one mapping, one key: value "
            "per line; obscompile keeps the order of a mapping's keys"
        )
    return (
        "obscompile reads only strings, numbers, booleans, null, lists and mappings, "
        "so remove the tag"
    )


def _flow_text(nodes: Any) -> str | None:
    """Return plain scalar nodes as the items of a flow list, or None for others."""
    texts = []
    for node in nodes:
        if not isinstance(node, ScalarNode) or node.style:
            return None
        texts.append(node.value)
    return ", ".join(texts)


def _to_int(text: str) -> int | float:
    """Read a YAML integer: decimal, or with a 0b, 0o or 0x prefix.

    An integer of more digits than Python prints or reads is infinite, because no
    artifact holds one either. Raises ValueError for text without digits, such as "_".
    """
    text = text.replace("_", "")
    digits = text.lstrip("+-").lower()
    infinite = -math.inf if text.startswith("-") else math.inf
    if len(digits.lstrip("0")) > _MAX_DIGITS and digits.isdigit():
        return infinite
    sign = "-" if text.startswith("-") else ""
    for prefix, base in (("0b", 2), ("0o", 8), ("0x", 16)):
        if digits.startswith(prefix):
            value = int(sign + digits.removeprefix(prefix), base)
            break
    else:
        value = int(text, 10)
    return infinite if value.bit_length() > _MAX_INTEGER_BITS else value


def _to_float(text: str) -> float:
    lowered = text.lower().replace("_", "")
    if lowered in (".inf", "+.inf"):
        return math.inf
    if lowered == "-.inf":
        return -math.inf
    if lowered == ".nan":
        return math.nan
    return float(lowered)


def _tab_at(text: str, mark: Any) -> bool:
    """Return True when the parser stopped on a tab character."""
    if mark is None:
        return False
    lines = text.splitlines()
    if mark.line >= len(lines):
        return False
    return lines[mark.line][mark.column : mark.column + 1] == "\t"


_CONTEXT_VERB = re.compile(r"^while (?:parsing|scanning) (?:an? )?")


def _explained(exc: MarkedYAMLError) -> str:
    """Return the parser's problem, with where the construct it was reading started.

    The parser reports where it gave up, which may be lines after the mistake, such
    as an unclosed bracket or quote. The start of that construct points at the mistake.
    """
    problem = exc.problem or exc.context or "invalid YAML"
    context, mark = exc.context, exc.context_mark
    if context and context.startswith("expected a single document"):
        return "a manifest is one YAML document, and another one starts here"
    if not context or mark is None or exc.problem is None:
        return problem
    if exc.problem_mark is not None and (mark.line, mark.column) == (
        exc.problem_mark.line,
        exc.problem_mark.column,
    ):
        return problem
    construct = _CONTEXT_VERB.sub("", context)
    return f"{problem} (in the {construct} that starts at line {mark.line + 1}, column {mark.column + 1})"


# The problems that the C parser and the pure-Python one report for a list item
# without its `-`.
_NO_DASH_PROBLEMS = (
    "did not find expected '-' indicator",
    "expected <block end>, but found '?'",
)
# The problems that the two parsers report for a `: ` inside a plain value.
_MAPPING_VALUE_PROBLEMS = (
    "mapping values are not allowed in this context",
    "mapping values are not allowed here",
)
# The same for a line that starts between two levels of keys.
_NO_KEY_PROBLEMS = (
    "did not find expected key",
    "expected <block end>, but found '<block mapping start>'",
)


def _indentation_problem(text: str, exc: MarkedYAMLError) -> str | None:
    """Explain a line whose indentation places it in no list item or mapping.

    The parser reports that it found no `-` when a line starts at the column of a
    list's dashes, and no key when a line starts between two levels of keys. Both
    are lines indented by the wrong number of spaces. Returns None for other errors.
    """
    problem, mark, start = exc.problem, exc.problem_mark, exc.context_mark
    lines = text.splitlines()
    if mark is None or start is None or mark.line >= len(lines):
        return None
    line = lines[mark.line]
    if len(line) - len(line.lstrip(" ")) != mark.column:
        return None  # The parser stopped inside the line, not at its indentation.
    where = f"line {mark.line + 1} starts at column {mark.column + 1}"
    opened = f"line {start.line + 1}, column {start.column + 1}"
    starts_list = lines[start.line][start.column :].startswith("-")
    if (
        problem in _NO_DASH_PROBLEMS
        and mark.column == start.column
        and starts_list
        and not line.lstrip(" ").startswith("-")
    ):
        keys = _item_key_column(lines[start.line : mark.line], mark.column)
        indent = f"indent it to column {keys + 1}" if keys is not None else "indent it"
        return (
            f"{where}, the column of the '-' of the list that starts at {opened}, so "
            f"it needs a '-' of its own; {indent} to continue the item above, or "
            "start it with '- ' to begin a new item"
        )
    # The C parser reports no '-', and the pure-Python one no key, with the list's
    # '-' as where the collection starts.
    if (
        problem in (*_NO_DASH_PROBLEMS, *_NO_KEY_PROBLEMS)
        and mark.column > start.column
        and starts_list
        and not line.lstrip(" ").startswith("-")
    ):
        keys = _item_key_column(lines[start.line : mark.line], start.column)
        if keys is not None and mark.column < keys:
            return (
                f"{where}, between the '-' at column {start.column + 1} of the list "
                f"that starts at {opened} and the keys of its item at column "
                f"{keys + 1}; indent it to column {keys + 1} to continue the item "
                f"above, or start it with '- ' at column {start.column + 1} to begin "
                "a new item"
            )
    if problem in _NO_KEY_PROBLEMS and mark.column != start.column:
        inner = _inner_keys(lines, start.line, mark.line, mark.column)
        if inner is not None and start.column < mark.column:
            number, column = inner
            return (
                f"{where}, between the keys at column {start.column + 1} of the "
                f"mapping that starts at {opened} and the keys at column "
                f"{column + 1} on line {number + 1}; indent the line like the keys "
                "it belongs with"
            )
        return (
            f"{where}, but the keys of the mapping that starts at {opened} are at "
            f"column {start.column + 1}; indent the line like the keys it belongs with"
        )
    return None


# A line that starts with a key, as a list item's first key or not.
_KEY_LINE = re.compile(r"^( *)(?:-( +))?[A-Za-z_][\w.-]*:(?:[ \t]|$)")


def _inner_keys(
    lines: list[str], first: int, last: int, column: int
) -> tuple[int, int] | None:
    """Return the line and 0-based column of the keys nearest above line `last`.

    Only a key line after line `first`, with nothing but blank lines and comments
    between it and line `last`, counts, and only when its keys lie right of `column`.
    """
    for number in range(last - 1, first, -1):
        line = lines[number]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key = _KEY_LINE.match(line)
        if key is None:
            return None
        keys = len(key.group(1)) + (1 + len(key.group(2)) if key.group(2) else 0)
        return (number, keys) if keys > column else None
    return None


def _deeper_than_value(text: str, exc: MarkedYAMLError) -> str | None:
    """Explain a key indented deeper than a `key: value` line above it.

    YAML reads such a line as more of the plain value above, and then fails at the
    `: ` in it. Returns None for other errors.
    """
    mark = exc.problem_mark
    lines = text.splitlines()
    if exc.problem not in _MAPPING_VALUE_PROBLEMS or mark is None:
        return None
    if mark.line >= len(lines):
        return None
    line = lines[mark.line]
    indent = len(line) - len(line.lstrip(" "))
    key = re.match(r"[A-Za-z_][\w.-]*:", line[indent:])
    if key is None or indent + key.end() - 1 != mark.column:
        return None
    for number in range(mark.line - 1, -1, -1):
        above = lines[number]
        if not above.strip() or above.lstrip().startswith("#"):
            continue
        entry = _PLAIN_ENTRY.match(above)
        if entry is None or entry.start(1) >= indent:
            return None
        name, column = entry.group(1), entry.start(1) + 1
        return (
            f'line {mark.line + 1} is indented deeper than "{name}" on line '
            f'{number + 1}, so YAML reads it as more of the value of "{name}" and '
            f"cannot read the ': ' in it; indent it to column {column}, like "
            f'"{name}", if it is a key of the same mapping'
        )
    return None


def _item_key_column(lines: list[str], dash: int) -> int | None:
    """Return the 0-based column of the first key of the last list item in `lines`."""
    for line in reversed(lines):
        if line[:dash].strip() or not line[dash:].startswith("-"):
            continue
        after = line[dash + 1 :]
        if not after.strip():
            return None
        return dash + 1 + len(after) - len(after.lstrip(" "))
    return None


# `key: value` on one line, in a mapping or as the first key of a list item.
_PLAIN_ENTRY = re.compile(r"^\s*(?:-\s+)?([A-Za-z_][\w.-]*):[ \t]+(\S.*?)\s*$")
# Characters that YAML reads as syntax at the start of a plain value.
_INDICATORS = tuple(">|*&!%@`")


def _quote_hint(text: str, exc: MarkedYAMLError, before: _TokensBefore) -> str:
    """Return advice to quote the value of the line at fault, when that is the fix.

    Threshold texts such as `>5 Red` start with a YAML indicator, and queries such
    as `up{path="a: b"}` contain `: `, which YAML reads as syntax unless quoted.
    Inside `{...}`, the value at fault is that of the entry the parser stopped in.
    """
    flow_entry = _flow_entry(text, exc.problem_mark, before)
    if flow_entry is not None:
        return _quoted_entry(*flow_entry)
    lines = text.splitlines()
    for mark in (exc.problem_mark, exc.context_mark):
        if mark is None or mark.line >= len(lines):
            continue
        entry = _PLAIN_ENTRY.match(lines[mark.line])
        if entry is None:
            continue
        key, value = entry.groups()
        if value.startswith(("{", "[", "'", '"')):
            continue  # A flow collection or a quoted text is no plain value.
        if value.startswith(_INDICATORS) or ": " in value:
            return _quoted_entry(key, value)
    return ""


def _quoted_entry(key: str, value: str) -> str:
    quoted = "'" + value.replace("'", "''") + "'"
    return f"; to write it as text, quote it: {key}: {quoted}"


def _flow_entry(
    text: str, problem: Any, before: _TokensBefore
) -> tuple[str, str] | None:
    """Return the key and plain value of the `{...}` entry that the parser stopped in.

    Inside a flow mapping, a plain value also ends at `,`, `[`, `]`, `{` or `}`,
    so a query such as `rate(x[5m])` needs quotes there too. The value runs to the
    first `,`, `]` or `}` outside brackets and double quotes, or to the line's end.
    """
    if problem is None or ":" not in _line_before(text, problem.index):
        return None
    entry = before.flow_entry()
    if entry is None:
        return None
    key, value = entry
    start = value.end_mark.index
    while text[start : start + 1] == " ":
        start += 1
    end = _flow_value_end(text, start)
    written = text[start:end].rstrip(" ")
    if not written or written.startswith(("{", "[", "'", '"')):
        return None  # A flow collection or a quoted text is no plain value.
    if not start <= problem.index < end:
        return None
    return text[key.start_mark.index : key.end_mark.index], written


def _flow_value_end(text: str, start: int) -> int:
    """Return where the flow value at `start` ends, at the latest at its line's end."""
    depth = 0
    quoted = False
    for index in range(start, len(text)):
        character = text[index]
        if character in "\r\n":
            return index
        if character == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif character in "([{":
            depth += 1
        elif character in ")]}" and depth:
            depth -= 1
        elif character in ",]}":
            return index
    return len(text)


def _line_before(text: str, index: int) -> str:
    """Return the text of the line of `index`, up to `index`."""
    return text[text.rfind("\n", 0, index) + 1 : index]


class _TokensBefore:
    """The YAML tokens of `text[:end]`, scanned once when first read.

    The parse failed at `end`, so scanning the text before it ends there. The tokens
    that close the stream at `end` have no width. The scan keeps only what the error
    messages read, because a file near the size limit has millions of tokens.
    """

    def __init__(self, text: str, end: int, pure: bool) -> None:
        self.text = text
        self.end = end
        # Whether to scan with the pure-Python scanner, as for deeply nested text.
        self.pure = pure
        self._scanned = False
        self._last: Token | None = None
        self._entry: tuple[Token, Token] | None = None

    def last(self) -> Token | None:
        """Return the last token that has width, or None if the text does not scan."""
        self._scan()
        return self._last

    def flow_entry(self) -> tuple[Token, Token] | None:
        """Return the key and `:` tokens of the `{...}` entry that the text ends in.

        Returns None when the innermost open flow collection is no mapping, or the
        entry has no key yet, or the text does not scan.
        """
        self._scan()
        return self._entry

    def _scan(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        # The kind of each open flow collection: True for a mapping.
        open_mappings: list[bool] = []
        key: Token | None = None
        value: Token | None = None
        last: Token | None = None
        previous: Token | None = None
        try:
            for token in safe_yaml(pure=self.pure).scan(self.text[: self.end]):
                if isinstance(token, FlowMappingStartToken | FlowSequenceStartToken):
                    open_mappings.append(isinstance(token, FlowMappingStartToken))
                    key = None
                elif isinstance(token, FlowMappingEndToken | FlowSequenceEndToken):
                    if open_mappings:
                        open_mappings.pop()
                    key = None
                elif isinstance(token, FlowEntryToken):
                    key = None
                elif isinstance(token, ValueToken) and isinstance(
                    previous, ScalarToken
                ):
                    key, value = previous, token
                if token.start_mark.index < token.end_mark.index:
                    last = token
                previous = token
        except YAMLError:
            return
        self._last = last
        if (
            open_mappings
            and open_mappings[-1]
            and key is not None
            and value is not None
        ):
            self._entry = (key, value)


def _unclosed_at(path: str, text: str, exc: MarkedYAMLError) -> Location | None:
    """Return the end of the line that lacks a comma or closing bracket.

    The parser notices a missing `,`, `]` or `}` only at the next token, which can be
    lines later or at the end of the file. When that token starts its line, or its
    line is indented no deeper than the collection's first line, the comma or
    bracket belongs at the end of the last line written before it.
    """
    problem, start = exc.problem_mark, exc.context_mark
    if problem is None or start is None or problem.line <= start.line:
        return None
    if not (exc.problem or "").startswith("did not find expected ','"):
        return None
    lines = text.splitlines()

    def indent(line: str) -> int:
        return len(line) - len(line.lstrip(" "))

    if problem.line < len(lines):
        line = lines[problem.line]
        # When the token starts its line, the comma or bracket is missing at the end
        # of the line before. A plain key after a line without its comma continues
        # that line's value, so the parser stops at the key's colon instead.
        before = line[: problem.column].strip()
        continued = line[problem.column : problem.column + 1] == ":" and not any(
            mark in before for mark in ",[]{}\"'"
        )
        first = not before or continued
        if not first and indent(line) > indent(lines[start.line]):
            return None
    for number in range(min(problem.line, len(lines)) - 1, start.line - 1, -1):
        written = lines[number].split(" #", 1)[0].rstrip()
        if written and not written.lstrip().startswith("#"):
            return Location(path, number + 1, len(written) + 1)
    return None


_QUOTE_NAMES = {'"': "double quote", "'": "single quote"}


def _quote_error(
    path: str, text: str, exc: MarkedYAMLError, before: _TokensBefore
) -> Diagnostic | None:
    """Return an error at the quote at fault when the parser failed after a quoted text.

    A quoted text may span lines, so without its closing quote it runs on to the
    next quote of its kind or to the end of the file. The parser then fails after
    that quote, often lines after the mistake, with a message that names no quote.
    A quote of the same kind inside a text closes it early in the same way.
    """
    problem = exc.problem_mark
    if problem is None:
        return None
    reason = exc.problem or ""
    if exc.context == "while scanning a quoted scalar" and exc.context_mark:
        start = exc.context_mark
        if reason.startswith("found unexpected end of stream"):
            runs_to = "the end of the file"
        elif reason.startswith("found unexpected document"):
            marker = text[problem.index : problem.index + 3]
            runs_to = f"the document marker {marker} at line {problem.line + 1}"
        else:
            return None  # An invalid escape, in a text that may well be closed.
    else:
        scalar = _quoted_before(text, problem, before)
        if scalar is None:
            return None
        start, end = scalar.start_mark, scalar.end_mark
        if end.index != problem.index:
            # Text after a closed quote, as in "a\n  b" c, is no quote's fault.
            return None
        if start.line == end.line:
            return _closed_early(path, scalar)
        runs_to = f"the {scalar.style} at line {end.line + 1}, column {end.column}"
    quote = text[start.index : start.index + 1]
    if quote not in _QUOTE_NAMES:
        return None
    message = (
        f"invalid YAML: the {_QUOTE_NAMES[quote]} ({quote}) that opens this text is "
        f"not closed on its line, so the text runs on to {runs_to}; add the closing "
        f"{quote} where the text ends"
    )
    return error(
        Location(path, start.line + 1, start.column + 1), message, "yaml/syntax"
    )


def _closed_early(path: str, scalar: ScalarToken) -> Diagnostic:
    """Return an error at a quote that closes a text just before the parser failed.

    A quote of the kind that opened a text ends it, so "up{job="a"}" is the text
    `up{job=` and then `a"}"`, which YAML cannot read.
    """
    start, end = scalar.start_mark, scalar.end_mark
    quote = scalar.style
    if quote == '"':
        inside = "write \\\" in its place, or quote the whole text with ' instead"
    else:
        inside = "write it twice ('')"
    message = (
        f"invalid YAML: this {quote} closes the text opened by the {quote} at line "
        f"{start.line + 1}, column {start.column + 1}, and YAML cannot read what "
        f"follows it; to write {quote} inside the text, {inside}"
    )
    return error(Location(path, end.line + 1, end.column), message, "yaml/syntax")


def _quoted_before(
    text: str, problem: Any, before: _TokensBefore
) -> ScalarToken | None:
    """Return the quoted text that ends on the line of `problem`, just before it.

    The parser stops at the first token after a text whose quote was not closed,
    which is on the line of the quote that closes it instead.
    """
    line = _line_before(text, problem.index)
    if not any(quote in line for quote in _QUOTE_NAMES):
        return None
    last = before.last()
    if (
        isinstance(last, ScalarToken)
        and last.style in _QUOTE_NAMES
        and last.end_mark.line == problem.line
    ):
        return last
    return None


def parse_yaml(
    text: str, path: str, kind: FileKind = MANIFEST
) -> tuple[Source | None, list[Diagnostic]]:
    """Parse one YAML document; return it with every diagnostic found on the way.

    `kind` names the kind of file in the messages about its size and depth, and
    about an empty file.
    """
    start = Location(path, 1, 1)
    # The C parser (ruamel.yaml.clib) is ten times faster, but it crashes on input
    # nested thousands of levels deep, which goes to the pure-Python parser instead.
    nested = looks_deep(text, MAX_DEPTH)
    yaml = _alias_yaml() if nested else safe_yaml()
    try:
        root = yaml.compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _mark_location(path, mark, _written_end(path, text)) if mark else start
        problem = exc.problem or exc.context or "invalid YAML"
        if "'\\t'" in problem or "tab character" in problem or _tab_at(text, mark):
            message = (
                "invalid YAML: a tab character indents this line, but YAML indents "
                "with spaces only; replace the tab with spaces"
            )
            return None, [error(where, message, "yaml/syntax")]
        end = exc.problem_mark.index if exc.problem_mark else 0
        before = _TokensBefore(text, end, pure=nested)
        quote_error = _quote_error(path, text, exc, before)
        if quote_error is not None:
            return None, [quote_error]
        where = _unclosed_at(path, text, exc) or where
        explained = (
            _indentation_problem(text, exc)
            or _deeper_than_value(text, exc)
            or _explained(exc) + _quote_hint(text, exc, before)
        )
        message = f"invalid YAML: {explained}"
        return None, [error(where, message, "yaml/syntax")]
    except ReaderError as exc:
        # Position counts characters of `text`; ruamel.yaml's message adds its own
        # stream name, so the message is written here.
        offset = min(max(exc.position, 0), len(text))
        character = exc.character
        code = (
            character if isinstance(character, int) else ord(str(character)[:1] or "?")
        )
        return None, [
            error(
                _offset_location(path, text, offset),
                f"invalid YAML: character U+{code:04X} is not allowed in YAML text; "
                "remove it or write it as an escape in a double-quoted string",
                "yaml/syntax",
            )
        ]
    except YAMLError as exc:
        return None, [error(start, f"invalid YAML: {exc}", "yaml/syntax")]
    except RecursionError:
        deep = deep_offset(text, MAX_DEPTH)
        return None, [
            error(
                start if deep is None else _offset_location(path, text, deep),
                f"document is nested too deeply to read; a {kind.noun} may be nested "
                f"at most {MAX_DEPTH} levels deep",
                "yaml/limits",
            )
        ]
    if root is None or _is_empty_document(root):
        message = "the file is empty"
        if kind.needs is not None:
            message += f"; a {kind.noun} needs {kind.needs}"
        return None, [error(start, message, "yaml/empty")]
    aliases = yaml.composer.aliases if nested else None
    try:
        try:
            builder = _Builder(path, text, kind.noun, aliases)
            data = builder.build(root, (), 0)
        except _Aliased:
            root, aliases = _compose_with_aliases(text, root)
            builder = _Builder(path, text, kind.noun, aliases)
            data = builder.build(root, (), 0)
    except _TooLarge as exc:
        return None, [error(exc.location, str(exc), "yaml/limits")]
    source = Source(
        path,
        data,
        text,
        builder.values,
        builder.keys,
        builder.written,
        builder.dates,
        builder.text_styles,
    )
    return source, builder.diagnostics


def _is_empty_document(root: Node) -> bool:
    """Return whether `root` is the null of a document without content, such as `---`.

    A null written as `~`, `null` or `!!null` has text of its own, so it is not one.
    """
    return (
        isinstance(root, ScalarNode)
        and root.tag == _CORE + "null"
        and root.start_mark.index == root.end_mark.index
    )


def _written_end(path: str, text: str) -> Location:
    """Return the position just after the last character of `text` that is not blank."""
    return _offset_location(path, text, len(text.rstrip()))


def _mark_location(path: str, mark: Any, end: Location) -> Location:
    """Return the position of the parser's `mark`, or `end` where `mark` is past it.

    The parser marks the end of the file, such as an unclosed bracket found there, on
    the line after the last one, or after the blank lines that end the file.
    """
    if (mark.line + 1, mark.column + 1) > (end.line, end.column):
        return end
    return Location(path, mark.line + 1, mark.column + 1)


def _alias_yaml() -> Any:
    """Return a pure-Python loader whose composer places each alias where it is written."""
    yaml = safe_yaml(pure=True)
    yaml.Composer = _AliasComposer
    return yaml


def _compose_with_aliases(text: str, root: Node) -> tuple[Node, Collection[int]]:
    """Compose `text` again, with a node of its own for each alias.

    The C parser, which composed `root`, returns the anchor's node for an alias. Where
    the pure-Python parser rejects the text that the C parser read, `root` is kept,
    and the values that an alias repeats stay placed at the anchor.
    """
    yaml = _alias_yaml()
    try:
        return yaml.compose(text), yaml.composer.aliases
    except YAMLError:
        return root, frozenset()


def _offset_location(path: str, data: str | bytes, offset: int) -> Location:
    """Return the line and column of character or byte `offset` of `data`."""
    if isinstance(data, str):
        lines, line_start = data.count("\n", 0, offset), data.rfind("\n", 0, offset)
    else:
        lines, line_start = data.count(b"\n", 0, offset), data.rfind(b"\n", 0, offset)
    return Location(path, lines + 1, offset - line_start)


# Byte order marks of the encodings that write ASCII with NUL bytes, such as the
# UTF-16 of Windows PowerShell 5.1's `>`. UTF-32 first, because its little-endian
# mark starts with UTF-16's.
_WIDE_MARKS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def read_yaml_file(
    file: Path, display: str, kind: FileKind = MANIFEST
) -> tuple[Source | None, list[Diagnostic]]:
    """Read and parse `file`; `display` is the name used in diagnostics.

    A file that is not a regular file or is larger than `kind`'s limit is an error.
    """
    try:
        raw = read_input_bytes(file, kind)
    except InputFileError as exc:
        return None, [exc.diagnostic(display)]
    for mark, encoding in _WIDE_MARKS:
        if raw.startswith(mark):
            return None, [
                error(
                    Location(display, 1, 1),
                    f"file is {encoding} text, as its byte order mark shows; a "
                    f"{kind.noun} is UTF-8 text, so save the file as UTF-8",
                    "io/read",
                )
            ]
    if b"\0" in raw:
        return None, [
            error(
                _offset_location(display, raw, raw.index(b"\0")),
                f"file contains NUL bytes; a {kind.noun} is UTF-8 text",
                "io/read",
            )
        ]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = _offset_location(display, raw, exc.start)
        return None, [error(where, "file is not valid UTF-8", "io/read")]
    return parse_yaml(text.removeprefix("\ufeff"), display, kind)
