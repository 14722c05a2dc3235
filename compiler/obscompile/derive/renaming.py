"""Rename a service's own names in a rule, so that rules of one shape share their work.

Services built from one block, or copied from one another, have rules that differ only
in names: the service, its jobs and targets, its dashboard and the alert. The test
generator treats such names as opaque strings wherever a rule reads them only as a
metric name, a label value or plain text. A `Renaming` replaces each of them with a
placeholder, so that two such rules become equal and their tests are generated once,
then puts the names back in the result.

The generator always runs on the renamed rule, whether or not a rule of the same shape
came before, so its output does not depend on the order of the services. A name can
reach a place whose result depends on its spelling: a regular expression that tests a
label containing it, a label name, a template action, `label_replace`, a panel unit,
a duration or a series suffix such as `_bucket`. So can a label value that the test
generator might make up itself, such as `other`. There the rule keeps its names and
shares its work only with an identical rule.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import attrs
import promql_parser as pp

from obscompile import promql

T = TypeVar("T")

# Placeholders start with this prefix. An input that already contains it keeps its names.
_PREFIX = "zzobscompilename"
# Names shorter than this stay as they are: they would match inside many other words.
_MIN_LENGTH = 3
# A name with one of these, or with a character that is not printable, would be
# escaped differently from its placeholder: Go quotes label values in test files, and
# Python's repr() quotes them in the reasons for untested rules.
_UNSAFE_CHARACTERS = re.compile(r"[\"'\\]")
# Labels whose values contain names in generated input series: the metric name, the job
# and the instance (a scrape target).
_NAME_LABELS = frozenset({"__name__", "job", "instance"})
_LABEL_FUNCTIONS = ("label_replace", "label_join")
_TEMPLATE_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_QUERY_CALL = re.compile(r"\bquery\b")
_PLAIN_LABEL_ACTION = re.compile(
    r"\s*-?\s*(\$labels|\.Labels)\.[A-Za-z_][A-Za-z0-9_]*\s*-?\s*"
)


class Renaming:
    """A one-to-one replacement of names with placeholders, and back.

    `clashed` becomes True when a renamed text already contains the placeholder
    prefix, which makes the renaming ambiguous.
    """

    def __init__(self, names: Iterable[str]) -> None:
        # Placeholders are numbered in the order of `names`, which give the role of
        # each name, so that rules of one shape get the same ones.
        usable = [
            name
            for name in dict.fromkeys(names)
            if len(name) >= _MIN_LENGTH
            and name.isprintable()
            and not _UNSAFE_CHARACTERS.search(name)
            and _PREFIX not in name
        ]
        self.names = tuple(usable)
        self._placeholders = {
            name: f"{_PREFIX}{index}zz" for index, name in enumerate(usable)
        }
        # The longest name first, so that `api:8080` is not read as `api`.
        self._longest_first = tuple(sorted(usable, key=len, reverse=True))
        self.clashed = False

    @property
    def identity(self) -> bool:
        return not self.names

    def text(self, value: str) -> str:
        """Return `value` with every name replaced by its placeholder."""
        if _PREFIX in value:
            self.clashed = True
        found = tuple(name for name in self._longest_first if name in value)
        if not found:
            return value
        if len(found) == 1:
            return value.replace(found[0], self._placeholders[found[0]])
        placeholders = self._placeholders
        return _alternation(found).sub(lambda m: placeholders[m.group(0)], value)

    def restore_text(self, value: str) -> str:
        """Return `value` with every placeholder replaced by its name."""
        if _PREFIX not in value:
            return value
        # No name contains the prefix, so a name put back never forms a placeholder.
        for index, name in enumerate(self.names):
            value = value.replace(f"{_PREFIX}{index}zz", name)
        return value

    def apply(self, value: T) -> T:
        """Return `value`, an attrs object or a container of them, renamed."""
        return _map_strings(value, self.text)

    def restore(self, value: T) -> T:
        """Return `value` with the names put back."""
        return _map_strings(value, self.restore_text)


IDENTITY = Renaming(())


@functools.lru_cache(maxsize=1024)
def _alternation(names: tuple[str, ...]) -> re.Pattern[str]:
    """Return a pattern that matches any of `names`, the first that fits at a place."""
    return re.compile("|".join(re.escape(name) for name in names))


# Values that contain no string, returned as they are.
_ATOMS = frozenset({int, float, bool, type(None)})


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """Return `value` with `change` applied to every string in it.

    Enumerations, numbers and fields that take no part in equality (positions) stay
    as they are.
    """
    kind = type(value)
    if kind is str:
        return change(value)
    if kind is tuple:
        return tuple([_map_strings(item, change) for item in value])
    if kind in _ATOMS or isinstance(value, enum.Enum):
        return value
    if kind is list:
        return [_map_strings(item, change) for item in value]
    if kind is frozenset:
        return frozenset([_map_strings(item, change) for item in value])
    if attrs.has(kind):
        changes = {
            alias: _map_strings(getattr(value, name), change)
            for name, alias in _renamed_fields(kind)
        }
        return attrs.evolve(value, **changes)
    return value


@functools.cache
def _renamed_fields(kind: type) -> tuple[tuple[str, str], ...]:
    """Return the name and the argument name of the fields of an attrs class to rename."""
    return tuple(
        (field.name, field.alias)
        for field in attrs.fields(kind)
        if field.init and field.eq
    )


def contains_placeholder(values: Iterable[str]) -> bool:
    """Return True when one of `values` contains the prefix of the placeholders."""
    return any(_PREFIX in value for value in values)


def query_keeps_meaning(
    original: str,
    renamed: str,
    renaming: Renaming,
    named: Iterable[str] = (),
    invented: Callable[[str, str], bool] | None = None,
) -> bool:
    """Return True when renaming `original` into `renamed` changes no result.

    The renamed query must parse into the same tree, whose metric names and matcher
    values are the renamed ones of the original: a name that the query writes with
    an escape sequence (`\\x62illing`) is not renamed in its text. Placeholders may
    appear only in metric names and in the values of `=` and `!=` matchers. A regular
    expression may test only labels that never contain a name: not the job, the
    instance, the metric name, a label that an `=` or `!=` matcher sets to a name, or
    one of `named`. `invented(label, value)` is True for a value that the test
    generator may make up for a label, which a matcher may not set to a name,
    because a placeholder never equals it.
    """
    facts = _renamed_query_facts(renamed)
    source = _query_strings(original)
    if facts is None or source is None or facts.shape != source[0]:
        return False
    if facts.strings != tuple(renaming.text(text) for text in source[1]):
        return False
    named = {*_NAME_LABELS, *facts.named, *named}
    if any(label in named for label in facts.sources):
        return False
    if any(_PREFIX in value or label in named for label, value in facts.regexes):
        return False
    return invented is None or not any(
        invented(label, renaming.restore_text(value))
        for label, value in facts.named_values
    )


@attrs.frozen
class _QueryFacts:
    """The facts about a renamed query that the renaming check reads.

    `shape` is the type of every node, depth first, and `strings` the metric names,
    matcher operators, label names and values, and string literals in that order.
    `named_values` are the (label, value) pairs of the `=` and `!=` matchers that
    set a label to a placeholder, and `named` their labels. `regexes` are the
    (label, pattern) pairs of the regular expression matchers, and `sources` the
    labels that label_replace's regular expression or label_join reads.
    """

    shape: tuple[type, ...]
    strings: tuple[str, ...]
    named_values: tuple[tuple[str, str], ...]
    regexes: tuple[tuple[str, str], ...]
    sources: tuple[str, ...]

    @property
    def named(self) -> frozenset[str]:
        return frozenset(label for label, _ in self.named_values)


def _parse(query: str) -> list[pp.Expr] | None:
    """Return every node of the query's tree, depth first, or None if it does not parse."""
    try:
        node = promql.parse(query)
    except (promql.QueryError, ValueError):
        return None
    return list(promql.walk(node))


def _strings(nodes: list[pp.Expr]) -> tuple[str, ...]:
    """Return the metric names, matchers and string literals of a tree, in order."""
    strings: list[str] = []
    for node in nodes:
        if isinstance(node, pp.VectorSelector):
            strings.append(node.name or "")
            for matcher in node.matchers.matchers:
                strings += [matcher.name, promql.match_operator(matcher), matcher.value]
        elif isinstance(node, pp.StringLiteral):
            strings.append(str(node.val))
    return tuple(strings)


@functools.lru_cache(maxsize=4096)
def _query_strings(query: str) -> tuple[tuple[type, ...], tuple[str, ...]] | None:
    """Return the shape and the strings of a query's tree, or None if it does not parse."""
    nodes = _parse(query)
    if nodes is None:
        return None
    return tuple(type(n) for n in nodes), _strings(nodes)


@functools.lru_cache(maxsize=4096)
def _renamed_query_facts(renamed: str) -> _QueryFacts | None:
    """Return the facts of a renamed query, or None where a placeholder is unsafe.

    A placeholder is unsafe in a label name, in a string argument or where the query
    does not parse.
    """
    nodes = _parse(renamed)
    if nodes is None:
        return None
    named: list[tuple[str, str]] = []
    regexes: list[tuple[str, str]] = []
    sources: list[str] = []
    for node in nodes:
        if isinstance(node, pp.VectorSelector):
            for matcher in node.matchers.matchers:
                if _PREFIX in matcher.name:
                    return None
                if promql.match_operator(matcher) in ("=~", "!~"):
                    regexes.append((matcher.name, matcher.value))
                elif _PREFIX in matcher.value:
                    named.append((matcher.name, matcher.value))
        elif isinstance(node, pp.AggregateExpr):
            if node.modifier is not None and contains_placeholder(node.modifier.labels):
                return None
        elif isinstance(node, pp.BinaryExpr):
            modifier = node.modifier
            if modifier is not None:
                labels = list(modifier.group_labels or ())
                if modifier.matching is not None:
                    labels += modifier.matching.labels
                if contains_placeholder(labels):
                    return None
        elif isinstance(node, pp.StringLiteral):
            if _PREFIX in node.val:
                return None
        elif isinstance(node, pp.Call) and node.func.name in _LABEL_FUNCTIONS:
            arguments = promql.string_arguments(node)
            if arguments is None or contains_placeholder(arguments):
                return None
            if node.func.name == "label_replace":
                sources.append(arguments[2])
            else:
                sources += arguments[2:]
    return _QueryFacts(
        tuple(type(n) for n in nodes),
        _strings(nodes),
        tuple(named),
        tuple(regexes),
        tuple(sources),
    )


def template_keeps_meaning(original: str, renamed: str) -> bool:
    """Return True when a renamed Go template renders the renamed text of the original.

    A template action may print a label as it is. Any other use of a label, and any
    placeholder inside an action, could depend on the spelling of a name. So could
    a name that takes part in an action's braces, or whitespace next to an action
    that a trim marker (`{{-`) removes.
    """
    texts, actions = _template_pieces(original)
    renamed_texts, renamed_actions = _template_pieces(renamed)
    if renamed_actions != actions:
        return False
    for text, renamed_text in zip(texts, renamed_texts, strict=True):
        if "{{" in renamed_text:
            return False
        if _whitespace_edges(renamed_text) != _whitespace_edges(text):
            return False
    for action in actions:
        if _PREFIX in action:
            return False
        if "abels" in action and not _PLAIN_LABEL_ACTION.fullmatch(action):
            return False
        if _QUERY_CALL.search(action):
            # A query's result contains names, in an order that their spelling sets.
            return False
    return True


def _template_pieces(template: str) -> tuple[list[str], list[str]]:
    """Return the texts between the actions of a Go template, and the actions."""
    texts = []
    actions = []
    position = 0
    for match in _TEMPLATE_ACTION.finditer(template):
        texts.append(template[position : match.start()])
        actions.append(match.group(1))
        position = match.end()
    texts.append(template[position:])
    return texts, actions


def _whitespace_edges(text: str) -> tuple[str, str]:
    """Return the leading and the trailing whitespace of `text`.

    Python's whitespace includes the spaces, tabs and line breaks that Go's trim
    markers remove.
    """
    return text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
