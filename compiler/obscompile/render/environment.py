"""The Jinja environment shared by every artifact.

Strings from manifests reach templates only as data (rendered through `tojson` or a
serializer), never as template source, and undefined names fail the render.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2

import obscompile


def builtin_templates_dir() -> Path:
    """Return the built-in templates: inside the wheel, or the source checkout's folder."""
    packaged = Path(obscompile.__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(obscompile.__file__).resolve().parents[2] / "templates"


def _tojson(value: Any) -> str:
    # Jinja's own tojson escapes <, >, & and ' for HTML; artifacts are not HTML.
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return json.dumps(value, ensure_ascii=False, sort_keys=False)


def make_environment(project_templates: Path | None = None) -> jinja2.Environment:
    """Create the environment; a project's own `templates/` overrides built-in names."""
    search = []
    if project_templates is not None and project_templates.is_dir():
        search.append(str(project_templates))
    builtin = builtin_templates_dir()
    if project_templates is None or project_templates.resolve() != builtin.resolve():
        search.append(str(builtin))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tojson"] = _tojson
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False}
    return env


def render_json(env: jinja2.Environment, template: str, **context: Any) -> str:
    """Render a JSON template, check that it is JSON, and format it deterministically."""
    text = env.get_template(template).render(**context)
    document = json.loads(text)
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
