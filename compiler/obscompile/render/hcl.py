"""HCL (Terraform) string literals and identifiers for the Terraform templates."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import jinja2

# Escapes of HCL's quoted template strings. `${` and `%{` open an interpolation or a
# directive, so literal text doubles the sigil: `$${` reads back as `${`.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SPECIAL = re.compile(r'[\\"\n\r\t]|[$%]\{|[\x00-\x1f\x7f]')
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _escape_match(match: re.Match[str]) -> str:
    text = match.group(0)
    if text in _ESCAPES:
        return _ESCAPES[text]
    if text in ("${", "%{"):
        return text[0] + text
    return f"\\u{ord(text):04x}"


def hcl_escape(value: object) -> str:
    """Escape `value` for the inside of an HCL quoted string, without the quotes."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    if not isinstance(value, str):
        raise TypeError(f"hcl_escape expects a string, not {type(value).__name__}")
    return _SPECIAL.sub(_escape_match, value)


def hcl_string(value: object) -> str:
    """Return `value` as an HCL quoted string literal that contains no template."""
    return f'"{hcl_escape(value)}"'


def is_identifier(name: str) -> bool:
    """Tell whether `name` is a valid HCL identifier (a Terraform block label name)."""
    return bool(_IDENTIFIER.match(name))


def identifier(text: str, fallback_prefix: str) -> str:
    """Return an identifier for `text`: `-` and other characters become `_`.

    A result that would be empty or start with a digit gets `fallback_prefix`.
    """
    name = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")
    if not name or not (name[0].isalpha() or name[0] == "_"):
        name = f"{fallback_prefix}_{name}" if name else fallback_prefix
    return name


def unique_identifiers(texts: Iterable[str], fallback_prefix: str) -> dict[str, str]:
    """Map each text to an identifier; texts whose identifiers clash get a hash suffix.

    The suffix depends only on the text, so adding a service never renames another
    resource unless its identifier clashes.
    """
    texts = sorted(set(texts))
    by_name: dict[str, list[str]] = {}
    for text in texts:
        by_name.setdefault(identifier(text, fallback_prefix), []).append(text)
    result: dict[str, str] = {}
    for name, owners in by_name.items():
        if len(owners) == 1:
            result[owners[0]] = name
            continue
        for text in owners:
            digest = hashlib.sha256(text.encode()).hexdigest()[:8]
            result[text] = f"{name}_{digest}"
    if len(set(result.values())) != len(result):
        # NOTE: only a text whose own identifier equals another's hashed one gets here.
        raise ValueError(f"cannot derive unique identifiers for {sorted(result)}")
    return result


def add_hcl_filters(env: jinja2.Environment) -> None:
    """Register `hcl_string` and `hcl_escape` on `env`."""
    env.filters.setdefault("hcl_string", hcl_string)
    env.filters.setdefault("hcl_escape", hcl_escape)
