"""Serialize plain data as YAML that YAML 1.1 and YAML 1.2 readers decode alike.

kubectl decodes YAML 1.1 style (`yes`, `on`, `0755` and `1:30` are not strings there),
while the rule loaders of Prometheus and Mimir (gopkg.in/yaml.v3) and ruamel.yaml
follow YAML 1.2. A string that either version would resolve to another type is
quoted, multi-line strings become literal blocks, and mapping keys keep their
insertion order.
"""

from __future__ import annotations

import io
from typing import Any

import jinja2
from ruamel.yaml import YAML
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.representer import RoundTripRepresenter

from obscompile.render.yaml_fast import (
    block_document,
    literal_allowed,
    needs_escapes,
    string_scalar,
)
from obscompile.render.yaml_read import plain_reads_as_string

_STR_TAG = "tag:yaml.org,2002:str"


def _reads_as_string(text: str) -> bool:
    return plain_reads_as_string(text, (1, 1)) and plain_reads_as_string(text, (1, 2))


class _Representer(RoundTripRepresenter):
    def represent_str(self, data: str) -> ScalarNode:
        style = None
        if "\n" in data:
            style = "|" if literal_allowed(data) else '"'
        elif needs_escapes(data):
            style = '"'
        elif not _reads_as_string(data):
            style = "'"
        return self.represent_scalar(_STR_TAG, data, style=style)


_Representer.add_representer(str, _Representer.represent_str)


def _fast_scalar(value: Any) -> str | None:
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if isinstance(value, str):
        return string_scalar(value, _reads_as_string)
    return None


def dump_yaml(data: Any) -> str:
    """Return `data` (dicts, lists, strings, numbers, booleans, None) as YAML."""
    if isinstance(data, dict):
        text = block_document(data, _fast_scalar)
        if text is not None:
            return text
    return ruamel_dump_yaml(data)


def ruamel_dump_yaml(data: Any) -> str:
    """Return `data` as YAML written by ruamel.yaml alone (what `dump_yaml` equals)."""
    yaml = YAML(typ="rt")
    yaml.Representer = _Representer
    yaml.indent(mapping=2, sequence=4, offset=2)
    # Long PromQL expressions stay on one line instead of being folded.
    yaml.width = 1_000_000
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def add_yaml_filter(env: jinja2.Environment) -> None:
    """Register `yaml_document`, which renders a value through `dump_yaml`, on `env`."""
    env.filters.setdefault("yaml_document", _yaml_document)


def _yaml_document(value: Any) -> str:
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return dump_yaml(value)
