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
label containing it, a label name, a template action or `label_replace`. There the
rule keeps its names and shares its work only with an identical rule.
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
# A name with one of these would be escaped differently from its placeholder.
_UNSAFE_CHARACTERS = re.compile(r'["\\\x00-\x1f\x7f]')
# Labels whose values contain names in generated input series: the metric name, the job
# and the instance (a scrape target).
_NAME_LABELS = frozenset({"__name__", "job", "instance"})
_LABEL_FUNCTIONS = ("label_replace", "label_join")
_TEMPLATE_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
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


def holds_placeholder_prefix(values: Iterable[str]) -> bool:
    """Return True when a text already contains the prefix of the placeholders."""
    return any(_PREFIX in value for value in values)


def query_keeps_meaning(original: str, renamed: str, named: Iterable[str] = ()) -> bool:
    """Return True when renaming `original` into `renamed` changes no result.

    The renamed query must parse into the same tree, with placeholders only in metric
    names and in the values of `=` and `!=` matchers. A regular expression may test
    only labels that never contain a name: not the job, the instance, the metric name,
    a label that an `=` or `!=` matcher sets to a name, or one of `named`.
    """
    facts = _renamed_query_facts(renamed)
    if facts is None or facts.shape != _shape(original):
        return False
    named = {*_NAME_LABELS, *facts.named, *named}
    if any(label in named for label in facts.sources):
        return False
    return not any(_PREFIX in value or label in named for label, value in facts.regexes)


@attrs.frozen
class _QueryFacts:
    """The facts about a renamed query that the renaming check reads.

    `shape` is the type of every node, depth first. `named` are the labels that an
    `=` or `!=` matcher sets to a placeholder, `regexes` the (label, pattern) pairs
    of the regular expression matchers, and `sources` the labels that label_replace's
    regular expression or label_join reads.
    """

    shape: tuple[type, ...]
    named: frozenset[str]
    regexes: tuple[tuple[str, str], ...]
    sources: tuple[str, ...]


@functools.lru_cache(maxsize=4096)
def _shape(query: str) -> tuple[type, ...] | None:
    """Return the type of every node of the query's tree, or None if it does not parse."""
    try:
        node = promql.parse(promql.substitute_grafana_variables(query))
    except (promql.QueryError, ValueError):
        return None
    return tuple(type(n) for n in promql.walk(node))


@functools.lru_cache(maxsize=4096)
def _renamed_query_facts(renamed: str) -> _QueryFacts | None:
    """Return the facts of a renamed query, or None where a placeholder is unsafe.

    A placeholder is unsafe in a label name, in a string argument or where the query
    does not parse.
    """
    try:
        node = promql.parse(promql.substitute_grafana_variables(renamed))
    except (promql.QueryError, ValueError):
        return None
    nodes = list(promql.walk(node))
    named: set[str] = set()
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
                    named.add(matcher.name)
        elif isinstance(node, pp.AggregateExpr):
            if node.modifier is not None and holds_placeholder_prefix(
                node.modifier.labels
            ):
                return None
        elif isinstance(node, pp.BinaryExpr):
            modifier = node.modifier
            if modifier is not None:
                labels = list(modifier.group_labels or ())
                if modifier.matching is not None:
                    labels += modifier.matching.labels
                if holds_placeholder_prefix(labels):
                    return None
        elif isinstance(node, pp.StringLiteral):
            if _PREFIX in node.val:
                return None
        elif isinstance(node, pp.Call) and node.func.name in _LABEL_FUNCTIONS:
            arguments = promql.string_arguments(node)
            if arguments is None or holds_placeholder_prefix(arguments):
                return None
            if node.func.name == "label_replace":
                sources.append(arguments[2])
            else:
                sources += arguments[2:]
    return _QueryFacts(
        tuple(type(n) for n in nodes), frozenset(named), tuple(regexes), tuple(sources)
    )


def template_keeps_meaning(renamed: str) -> bool:
    """Return True when a renamed Go template renders the renamed text of the original.

    A template action may print a label as it is. Any other use of a label, and any
    placeholder inside an action, could depend on the spelling of a name.
    """
    for match in _TEMPLATE_ACTION.finditer(renamed):
        action = match.group(1)
        if _PREFIX in action:
            return False
        if "abels" in action and not _PLAIN_LABEL_ACTION.fullmatch(action):
            return False
    return True
