"""Validate manifest data against the manifest schema, with positions and suggestions."""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs
import jsonschema
from jsonschema.exceptions import ValidationError

from obscompile.diagnostics import Diagnostic, error, shorten, shorten_quotes
from obscompile.load.durations import DURATION_PATTERN, TOO_LONG, duration_ms
from obscompile.load.schema import MANIFEST, MAX_INTEGER
from obscompile.load.yaml_source import YAML11_BOOLEANS, JsonPath, Source
from obscompile.model.location import Location

_DURATION = re.compile(DURATION_PATTERN)


def max_milliseconds(
    validator: Any, limit: int, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """Report a duration longer than `limit` milliseconds."""
    if (
        isinstance(instance, str)
        and _DURATION.match(instance)
        and duration_ms(instance) > limit
    ):
        text = instance if len(instance) <= 24 else f"{instance[:20]}..."
        yield ValidationError(f"{text} is {TOO_LONG}")


# JSON Schema counts a number without a fractional part, such as 24.0, as an
# integer, and so do the schemas here: the loader reads it as the int 24.
_VALIDATOR_CLASS = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"x-max-milliseconds": max_milliseconds}
)
_VALIDATOR = _VALIDATOR_CLASS(MANIFEST)

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def describe(value: Any) -> str:
    """Name the YAML type of `value` as a manifest author would."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def describe_written(
    value: Any,
    path: JsonPath,
    source: Source | None,
    describe_value: Callable[[Any], str] = describe,
) -> str:
    """Describe `value` with `describe_value`, with an infinite number as it was written.

    `source` is None for a value that Python code built, which has no written text.
    """
    if source is not None and path in source.written:
        text = source.written[path]
        shown = written_number(text)
        return f"the number {text}" if shown == text else shown
    if source is not None and path in source.dates:
        return f"the unquoted date {source.dates[path]}"
    return describe_value(value)


def _boolean_hint(text: str) -> str:
    """Return how to write the boolean that the string `text` stands for, if any."""
    if text.lower() in ("true", "false"):
        return f"; write {text.lower()} without quotes"
    meaning = YAML11_BOOLEANS.get(text)
    if meaning is None:
        return ""
    return f'; write {meaning}, because YAML 1.2 reads "{text}" as text'


def dotted(path: JsonPath) -> str:
    """Render a value path as `rows[0].panels[2].query`."""
    text = ""
    for part in path:
        if isinstance(part, str) and quoted(part) != f'"{part}"':
            # A key with a line break or another control character is shown escaped.
            text += f"[{quoted(part)}]"
            continue
        text += (
            f"[{part}]"
            if isinstance(part, int)
            else (f".{shorten(part)}" if text else shorten(str(part)))
        )
    return text or "the manifest"


def quoted(text: str) -> str:
    """Quote `text` for a message, with a line break or other control character escaped.

    The escapes are JSON's, so a message stays on one line and shows "5s\\n".
    """
    if any(ord(character) < 0x20 or character == "\x7f" for character in text):
        return json.dumps(text, ensure_ascii=False)
    return f'"{text}"'


def ends_with_line_break(text: str, pattern: str) -> bool:
    """Return True when `text` ends with line breaks and matches `pattern` without them."""
    stripped = text.rstrip("\n")
    return stripped != text and re.search(pattern, stripped) is not None


YAML_LINE_BREAK = (
    "it ends with a line break, which a YAML block scalar written | or > keeps; "
    "remove it, or write |- or >-"
)


def pattern_message(where: str, text: str, pattern: str, hint: str) -> str:
    """Return the message for `text` that fails `pattern`, naming a final line break."""
    if ends_with_line_break(text, pattern):
        hint = YAML_LINE_BREAK
    return f"{where} {quoted(shorten(text))} is invalid: {hint}"


def closest(word: str, choices: list[str], cutoff: float = 0.6) -> str | None:
    """Return the choice closest to `word`, or None where no choice is close.

    `cutoff` is the minimum similarity, as difflib's ratio from 0 to 1, that counts.
    """
    close = difflib.get_close_matches(word, choices, n=1, cutoff=cutoff)
    return close[0] if close else None


def suggest(word: str, choices: list[str], cutoff: float = 0.6) -> str:
    """Return ` (did you mean "x"?)` for the closest choice, or an empty string."""
    choice = closest(word, choices, cutoff)
    return f' (did you mean "{choice}"?)' if choice is not None else ""


def _expected_types(schema: dict[str, Any]) -> list[str]:
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return [_TYPE_NAMES[t] for t in types]
    if "enum" in schema:
        return ["one of " + ", ".join(map(str, schema["enum"]))]
    return []


def _branch_matches_type(schema: dict[str, Any], value: Any) -> bool:
    if "enum" in schema:
        return isinstance(value, str)
    checker = _VALIDATOR.TYPE_CHECKER
    types = schema.get("type", [])
    types = types if isinstance(types, list) else [types]
    return any(checker.is_type(value, t) for t in types)


def _leaf_errors(err: ValidationError) -> Iterator[ValidationError]:
    """Descend into the anyOf branch that fits the value best.

    A branch fits when its type matches; among several, the one whose required keys
    are present, then the one with the fewest errors.
    """
    if err.validator != "anyOf":
        yield err
        return
    branches = err.validator_value
    matching = [
        i
        for i, branch in enumerate(branches)
        if _branch_matches_type(branch, err.instance)
    ]
    if len(matching) > 1 and isinstance(err.instance, dict):
        with_required = [
            i
            for i in matching
            if set(branches[i].get("required", ())) <= set(err.instance)
        ]
        matching = with_required or matching
    if len(matching) > 1:
        counts = {
            i: sum(1 for sub in err.context if sub.schema_path[0] == i)
            for i in matching
        }
        fewest = min(counts.values())
        matching = [i for i in matching if counts[i] == fewest][:1]
    if len(matching) == 1:
        chosen = [sub for sub in err.context if sub.schema_path[0] == matching[0]]
        for sub in chosen:
            yield from _leaf_errors(sub)
        if chosen:
            return
    yield err


# Keys that belong one level down, under the key they map to.
_NESTED_KEYS = {"mappings": "thresholds", "steps": "thresholds", "series": "thresholds"}


def _unknown_keys(
    err: ValidationError, misspelt: Mapping[str, str]
) -> Iterator[tuple[JsonPath, str]]:
    """Yield the path and message of each unknown key of one additionalProperties error.

    jsonschema reports all unknown keys of a mapping in one error, and each gets its
    own diagnostic here, in the order of the file. `misspelt` maps an unknown key to
    the missing required key that it probably misspells.
    """
    path: JsonPath = tuple(err.absolute_path)
    allowed = sorted(err.schema.get("properties", {}))
    for key in err.instance:
        if key in allowed:
            continue
        hint = suggest(key, allowed)
        if key in misspelt:
            hint += (
                f'; it is probably the required key "{misspelt[key]}", which is missing'
            )
        if not hint and key in _NESTED_KEYS and _NESTED_KEYS[key] in allowed:
            parent = _NESTED_KEYS[key]
            hint = f' (did you mean "{parent}: {{{key}: ...}}"?)'
        if not hint and allowed:
            hint = "; expected one of " + ", ".join(allowed)
        yield (*path, key), f'unknown key "{shorten(key)}" in {dotted(path)}{hint}'


def _missing_key(err: ValidationError) -> str:
    """Return the key that a "required" error of jsonschema names."""
    return str(err.message.split("'")[1])


def _misspelt_required(
    leaves: list[ValidationError],
) -> dict[JsonPath, dict[str, str]]:
    """Return the unknown keys that misspell a missing required key, by mapping path.

    An unknown key counts where the required key is its closest allowed key, and no
    other unknown key of the mapping is closest to it. Each maps to that required key.
    """
    missing: dict[JsonPath, set[str]] = {}
    for leaf in leaves:
        if leaf.validator == "required":
            missing.setdefault(tuple(leaf.absolute_path), set()).add(_missing_key(leaf))
    found: dict[JsonPath, dict[str, str]] = {}
    for leaf in leaves:
        path: JsonPath = tuple(leaf.absolute_path)
        if leaf.validator != "additionalProperties" or path not in missing:
            continue
        allowed = sorted(leaf.schema.get("properties", {}))
        candidates: dict[str, list[str]] = {}
        for key in leaf.instance:
            if key in allowed:
                continue
            choice = closest(key, allowed)
            if choice in missing[path]:
                candidates.setdefault(choice, []).append(key)
        misspelt = {
            keys[0]: required for required, keys in candidates.items() if len(keys) == 1
        }
        if misspelt:
            found[path] = misspelt
    return found


def _legend_options(value: Any) -> bool:
    """Tell whether a panel's `legend` mapping contains options such as `mode: table`.

    An unquoted `{{route}}` reads as a mapping too, but of a mapping without values.
    """
    return isinstance(value, dict) and any(
        isinstance(key, str) and item is not None for key, item in value.items()
    )


def _yaml_type_hint(value: Any, types: list[str]) -> str:
    """Return how to write `value` in YAML as one of `types`, or an empty string."""
    if "true or false" in types and isinstance(value, str):
        return _boolean_hint(value)
    if "a string" in types and isinstance(value, dict | list):
        return "; a value that starts with { or [ is text only when quoted"
    return ""


def _message(
    err: ValidationError,
    source: Source | None,
    describe_value: Callable[[Any], str] = describe,
) -> tuple[JsonPath, str, bool]:
    """Return the path to point at, the message, and whether to point at the key.

    `source` is None for a value that Python code built, whose messages name its
    values with `describe_value` and give no hints about YAML syntax.
    """
    path: JsonPath = tuple(err.absolute_path)
    where = dotted(path)
    kind = err.validator
    if kind == "x-max-milliseconds":
        return path, f"{where} {err.message}", False
    if kind == "required":
        return path, f'missing key "{_missing_key(err)}" in {where}', False
    if kind == "type":
        types = _expected_types(err.schema)
        found = describe_written(err.instance, path, source, describe_value)
        message = f"{where} must be {' or '.join(types)}, not {found}"
        if "x-hint" in err.schema:
            message += f"; {err.schema['x-hint']}"
        elif path[-1:] == ("legend",) and _legend_options(err.instance):
            message += (
                "; legend is the text that names each series (Grafana's "
                "legendFormat), such as '{{route}}', and the legend's layout comes "
                "from the panel's template, which a template in the project's "
                "templates/ folder can replace"
            )
        elif source is not None:
            message += _yaml_type_hint(err.instance, types)
        return path, message, False
    if kind == "enum":
        choices = [str(c) for c in err.validator_value]
        if not isinstance(err.instance, str):
            found = describe_written(err.instance, path, source, describe_value)
            return (
                path,
                f"{where} must be one of {', '.join(choices)}, not {found}",
                False,
            )
        value = err.instance
        hint = suggest(value, choices)
        alias = err.schema.get("x-aliases", {}).get(value)
        if alias is not None:
            hint = f"; for Grafana's {value} panel, write {alias}"

        return (
            path,
            f'{where} "{shorten(value)}" is not one of {", ".join(choices)}{hint}',
            False,
        )
    if kind == "anyOf":
        # Branches of one type, such as a row and a block's use, name it once.
        options = list(
            dict.fromkeys(
                t for branch in err.validator_value for t in _expected_types(branch)
            )
        )
        return (
            path,
            f"{where} must be {' or '.join(options)}, not "
            f"{describe_written(err.instance, path, source, describe_value)}",
            False,
        )
    if kind == "pattern" and "propertyNames" in err.schema_path:
        key = str(err.instance)
        hint = err.schema.get("x-hint") or f"it must match {err.validator_value}"
        message = pattern_message(f"{where}: key", key, err.validator_value, hint)
        return (*path, key), message, True
    if kind == "not" and "propertyNames" in err.schema_path:
        # A reserved key, such as the alert label "severity".
        key = str(err.instance)
        hint = err.schema.get("x-hint", "the name is reserved")
        return (
            (*path, key),
            f"{where}: key {quoted(shorten(key))} is invalid: {hint}",
            True,
        )
    if kind == "not":
        # A reserved value, such as the label "le" of a histogram.
        hint = err.schema.get("x-hint", "the value is reserved")
        return (
            path,
            f"{where} {quoted(shorten(str(err.instance)))} is invalid: {hint}",
            False,
        )
    if kind == "uniqueItems":
        repeat = _first_repeat(err.instance)
        if repeat is None:
            return path, f"{where} lists an item twice; remove one", False
        first, index = repeat
        repeated = quoted(shorten(str(err.instance[index])))
        return (
            (*path, index),
            f"{where} lists {repeated} twice (first at index {first}); remove one",
            False,
        )
    if kind == "pattern":
        pattern_hint = (
            err.schema.get("x-hint") or f"it must match {err.validator_value}"
        )
        message = pattern_message(
            where, err.instance, err.validator_value, pattern_hint
        )
        return path, message, False
    if kind == "propertyNames":
        key = str(err.instance)
        hint = err.schema.get("propertyNames", {}).get(
            "x-hint", "it is not a valid name"
        )
        return (*path, key), f'{where}: key "{shorten(key)}" is invalid: {hint}', True
    if kind == "maxLength":
        message = (
            f"{where} has {len(err.instance)} characters, more than the "
            f"{err.validator_value} it may have"
        )
        if "x-hint" in err.schema:
            message += f"; {err.schema['x-hint']}"
        return path, message, False
    if kind in ("minLength", "minItems"):
        message = f"{where} must not be empty"
        if "x-hint" in err.schema:
            message += f"; {err.schema['x-hint']}"
        return path, message, False
    if kind in ("minimum", "maximum", "exclusiveMinimum"):
        bound = {
            "minimum": "at least",
            "maximum": "at most",
            "exclusiveMinimum": "above",
        }[kind]
        message = (
            f"{where} must be {bound} {err.validator_value}, not "
            f"{shown_value(err.instance, path, source)}"
        )
        if "x-hint" in err.schema:
            message += f"; {err.schema['x-hint']}"
        return path, message, False
    return path, f"{where}: {shorten_quotes(err.message)}", False


def _first_repeat(items: list[Any]) -> tuple[int, int] | None:
    """Return the index of the first item that repeats and that of its repeat.

    Items are compared as JSON text, so None is returned for repeats that JSON
    Schema finds equal but that are written differently, such as 1 and 1.0.
    """
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        key = json.dumps(item, sort_keys=True)
        if key in seen:
            return seen[key], index
        seen[key] = index
    return None


def short_value(value: Any) -> str:
    """Return `value` as text, or its number of digits for a long integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        digits = len(str(abs(value)))
        if digits > 20:
            return f"a {digits}-digit number"
    return str(value)


def shown_value(value: Any, path: JsonPath, source: Source | None) -> str:
    """Return `value` as text, as written where it does not read as written."""
    if source is not None and path in source.written:
        return written_number(source.written[path])
    return short_value(value)


def integer_problem(value: int) -> str | None:
    """Return why dashboards and Prometheus cannot keep `value` exactly, if they cannot."""
    if abs(value) <= MAX_INTEGER:
        return None
    text = short_value(value)
    return (
        f"is {text}, beyond ±{MAX_INTEGER}, the largest integer that dashboards "
        "and Prometheus keep exactly"
    )


def written_number(text: str) -> str:
    """Return the text of a number as written, or its length when it is long."""
    if len(text) <= 24:
        return text
    digits = text.lstrip("+-").replace("_", "")
    if digits.isdigit():
        return f"a {len(digits)}-digit number"
    return f"a number of {len(text)} characters"


def number_findings(
    source: Source, leaves: Iterable[ValidationError], check: str
) -> tuple[list[Diagnostic], list[ValidationError]]:
    """Return the errors of the numbers that no artifact can hold, and the schema errors to report with them.

    YAML reads `.inf`, `.nan` and numbers too large for a double, such as `1e400`, as
    non-finite floats, and `1e-400` as 0. JSON Schema admits them, so each is an
    error here. A value of the wrong type or out of its field's range is reported
    once, by the schema error. The one exception is a number read as 0 against a
    bound of 0, because 1e-400 is above 0 though the 0 that it reads as is not.
    """
    mistyped = {
        tuple(leaf.absolute_path) for leaf in leaves if leaf.validator == "type"
    }
    zeros = {
        path
        for path in source.written
        if path not in mistyped and _value_at(source.data, path) == 0
    }
    kept = [
        leaf
        for leaf in leaves
        if leaf.validator not in _RANGE_KINDS
        or not (
            tuple(leaf.absolute_path) in mistyped
            or (tuple(leaf.absolute_path) in zeros and leaf.validator_value == 0)
        )
    ]
    reported = {tuple(leaf.absolute_path) for leaf in kept}
    numbers = [
        error(source.location(path), f"{dotted(path)} {problem}", check)
        for path, problem in _number_problems(source.data, (), source.written)
        if path not in reported
    ]
    return numbers, kept


def _value_at(data: Any, path: JsonPath) -> Any:
    for key in path:
        data = data[key]
    return data


def _number_problems(
    value: Any, path: JsonPath, written: Mapping[JsonPath, str]
) -> Iterator[tuple[JsonPath, str]]:
    """Yield the path and problem of every number that no artifact can hold.

    `written` contains the text of the numbers that read as infinite or as 0, so
    that `1e400` and `.inf`, or `1e-400` and `0`, get different messages.
    """
    text = written.get(path, "")
    shown = written_number(text)
    if isinstance(value, float) and value == 0 and text:
        yield (
            path,
            f"is {shown}, closer to 0 than 5e-324, the smallest number above 0 that "
            "dashboards and Prometheus hold, so both would read it as 0",
        )
    elif (
        isinstance(value, float)
        and math.isinf(value)
        and text.lstrip("+-").replace("_", "").isdigit()
    ):
        yield (
            path,
            f"is {shown}, beyond ±{MAX_INTEGER}, the largest integer that dashboards "
            "and Prometheus keep exactly",
        )
    elif isinstance(value, float) and math.isinf(value) and "inf" not in text.lower():
        yield (
            path,
            f"is {shown}, beyond ±1.8e308 (about), the largest number that dashboards "
            "and Prometheus hold",
        )
    elif isinstance(value, float) and not math.isfinite(value):
        yield (
            path,
            f"is {value}, which is not a finite number; write a number such as 100",
        )
    elif isinstance(value, int) and not isinstance(value, bool):
        problem = integer_problem(value)
        if problem is not None:
            yield path, problem
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _number_problems(item, (*path, key), written)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _number_problems(item, (*path, index), written)


_RANGE_KINDS = ("minimum", "maximum", "exclusiveMinimum")


def _problems(
    leaves: list[ValidationError],
    source: Source | None,
    describe_value: Callable[[Any], str] = describe,
) -> Iterator[tuple[JsonPath, str, bool]]:
    """Yield the path, message and whether to point at the key, of each schema error.

    Each unknown key is a problem of its own, and one that misspells a missing
    required key stands for that key's problem too. `source` and `describe_value`
    are those of `_message`.
    """
    mistyped = {
        tuple(leaf.absolute_path) for leaf in leaves if leaf.validator == "type"
    }
    misspelt = _misspelt_required(leaves)
    for leaf in leaves:
        path: JsonPath = tuple(leaf.absolute_path)
        if leaf.validator in _RANGE_KINDS and path in mistyped:
            # A value of the wrong type has no range to report.
            continue
        if leaf.validator == "additionalProperties":
            for key_path, message in _unknown_keys(leaf, misspelt.get(path, {})):
                yield key_path, message, True
            continue
        if (
            leaf.validator == "required"
            and _missing_key(leaf) in misspelt.get(path, {}).values()
        ):
            # The error of the misspelt key, which names this key, is reported instead.
            continue
        yield _message(leaf, source, describe_value)


def value_problems(
    name: str,
    value: Any,
    schema: Mapping[str, Any],
    describe_value: Callable[[Any], str],
) -> list[str]:
    """Return why a value that Python code built breaks `schema`, a part of MANIFEST.

    The messages are those of `validate_manifest`, with the value's path starting
    at `name`, such as `thresholds.steps[0]`. `describe_value` names a value of
    the wrong type.
    """
    wrapper = {"type": "object", "properties": {name: schema}}
    leaves = [
        leaf
        for top in _VALIDATOR_CLASS(wrapper).iter_errors({name: value})
        for leaf in _leaf_errors(top)
    ]
    return [message for _, message, _ in _problems(leaves, None, describe_value)]


# The keywords that a node marked "x-loads" tolerates; see LOADS in schema.py.
_LOADING_KEYWORDS = frozenset(
    {
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "pattern",
        "not",
        "uniqueItems",
        "minLength",
        "maxLength",
    }
)


def _loads(leaf: ValidationError) -> bool:
    """Return True when the service can be built past the schema error `leaf`."""
    return leaf.validator in _LOADING_KEYWORDS and leaf.schema.get("x-loads") is True


@attrs.frozen
class SchemaResult:
    """The schema errors of a manifest, and whether its service can still be built.

    `loads` is True when every error breaks a rule marked "x-loads" in the schema,
    such as a port above 65535, so that the loader builds the service and the
    checks run on it.
    """

    diagnostics: list[Diagnostic]
    loads: bool


def schema_validated(location: Location) -> bool:
    """Return True when the manifest schema has validated the value at `location`.

    That is so for every value written in a YAML manifest, because each manifest
    goes through `validate_manifest` before its service is built. A check that
    applies a rule of the schema to Python DSL services skips such values, whose
    schema error the loader has reported.
    """
    return location.file.endswith((".yaml", ".yml"))


def validate_manifest(source: Source) -> SchemaResult:
    """Report every place where the manifest breaks the schema or has a number
    that no artifact can hold."""
    diagnostics = []
    leaves = [
        leaf
        for top in _VALIDATOR.iter_errors(source.data)
        for leaf in _leaf_errors(top)
    ]
    numbers, kept = number_findings(source, leaves, "manifest/schema")
    for path, message, at_key in _problems(kept, source):
        location = source.key_location(path) if at_key else source.location(path)
        diagnostics.append(error(location, message, "manifest/schema"))
    loads = not numbers and all(_loads(leaf) for leaf in leaves)
    return SchemaResult(numbers + diagnostics, loads)
