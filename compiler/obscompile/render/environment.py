"""The Jinja environment shared by every artifact.

Strings from manifests reach templates only as data (rendered through `tojson` or a
serializer), never as template source, and undefined names fail the render.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import io
import json
import math
import os
import posixpath
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from obscompile.load.input_file import (
    TEMPLATE,
    InputFileError,
    read_input_bytes,
    read_input_text,
)
from obscompile.render import builtin_templates_dir
from obscompile.render.hcl import add_hcl_filters
from obscompile.render.json_text import indented_json
from obscompile.render.output_origin import OutputOrigin, find_output_origin
from obscompile.render.yaml_dump import add_yaml_filter
from obscompile.render.yaml_fast import literal_allowed, needs_escapes, string_scalar
from obscompile.render.yaml_read import plain_reads_as_string, read_yaml


class TemplateOutputError(jinja2.TemplateError):
    """A template rendered text that is not the file format it must write.

    `lineno` is the line of `filename` that wrote the wrong text, when it is known.
    """

    def __init__(
        self, message: str, filename: str | None, lineno: int | None = None
    ) -> None:
        super().__init__(message)
        self.filename = filename
        self.lineno = lineno

    def __reduce__(self) -> tuple[Any, ...]:
        # Worker processes send the error back pickled.
        return (type(self), (self.message, self.filename, self.lineno))


def _tojson(value: Any) -> str:
    # Jinja's own tojson escapes <, >, & and ' for HTML; artifacts are not HTML.
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return json.dumps(value, ensure_ascii=False, sort_keys=False)


# Plain scalars that YAML 1.1 (gopkg.in/yaml.v2, which reads prometheus.yml and
# promtool test files) resolves to a bool, null or number; such strings get quotes.
_YAML11_IMPLICIT = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE"
    r"|on|On|ON|off|Off|OFF|~|null|Null|NULL"
    r"|[-+]?(?:[0-9][0-9_]*)?\.?[0-9_]*(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?0[xob][0-9a-fA-F_]+|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


def _yaml_dumper(flow: bool) -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.width = 2**31 - 1
    yaml.default_flow_style = flow
    return yaml


# The texts of single-line strings that `string_scalar` writes, which depend on the
# string alone. A test file repeats its alert names, labels and annotations many times.
_STRING_TEXTS: dict[str, str] = {}
_STRING_TEXTS_MAX = 65_536


def toyaml(value: Any, indent: int = 0, block: bool = False, key: bool = False) -> str:
    """Render a scalar or a small list or mapping as YAML text for a template slot.

    Strings with a line break become `|-` block scalars, and so do strings with a `: `
    when `block=True` (PromQL such as `{state=~"LINK: up"}`). Their lines are indented
    by `indent` spaces, two more than the column of the key they follow. With
    `key=True` the text is a mapping key, which stays on one line: a string with a
    line break gets double quotes. Other strings get quotes where YAML needs them, and
    characters that YAML cannot hold as they are become escapes in double quotes.
    Lists and mappings come out in flow style (`[]`, `{a: b}`).
    """
    if key and isinstance(value, str) and "\n" in value:
        return _scalar_yaml("key", value, 0, False)
    if isinstance(value, str):
        if "\n" not in value and not (block and ": " in value):
            fast = _STRING_TEXTS.get(value)
            if fast is not None:
                return fast
            fast = string_scalar(value, _plain_reads_as_string)
            if fast is not None:
                if len(_STRING_TEXTS) >= _STRING_TEXTS_MAX:
                    _STRING_TEXTS.clear()
                _STRING_TEXTS[value] = fast
                return fast
    elif value is True or value is False:
        return "true" if value else "false"
    elif type(value) is int:
        return str(value)
    if isinstance(value, str | int | float | bool) or value is None:
        kind = type(value).__name__
        if value == 0 and isinstance(value, float) and math.copysign(1, value) < 0:
            # -0.0 equals 0.0 as a cache key, but is written as -0.0.
            kind = "negative zero"
        return _scalar_yaml(kind, value, indent, block)
    return _yaml_text(value, indent, block)


def _plain_reads_as_string(text: str) -> bool:
    """Return True when `toyaml` leaves `text` without quotes if it may be plain."""
    return _YAML11_IMPLICIT.match(text) is None and plain_reads_as_string(text, (1, 2))


@functools.lru_cache(maxsize=65536)
def _scalar_yaml(kind: str, value: Any, indent: int, block: bool) -> str:
    # `kind` keeps True, 1 and 1.0 apart, which compare equal as cache keys.
    if kind == "key":
        value = DoubleQuotedScalarString(value)
    return _yaml_text(value, indent, block)


def _yaml_text(value: Any, indent: int = 0, block: bool = False) -> str:
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    stream = io.StringIO()
    if isinstance(value, dict | list | tuple):
        _yaml_dumper(flow=True).dump(_escaped(value), stream)
        return stream.getvalue().rstrip("\n")
    wants_block = isinstance(value, str) and (
        "\n" in value or (block and ": " in value)
    )
    if isinstance(value, str) and not isinstance(value, DoubleQuotedScalarString):
        if needs_escapes(value):
            value = DoubleQuotedScalarString(value)
        elif wants_block and literal_allowed(value):
            value = LiteralScalarString(value)
        elif _YAML11_IMPLICIT.match(value):
            value = SingleQuotedScalarString(value)
    _yaml_dumper(flow=False).dump({"k": value}, stream)
    text = stream.getvalue()
    text = text[2:].rstrip("\n").lstrip(" ")
    if isinstance(value, LiteralScalarString):
        head, *lines = text.split("\n")
        if "+" in head:
            # A block that keeps its trailing line breaks would also take the empty
            # lines that follow the slot in the template.
            return _yaml_text(DoubleQuotedScalarString(value))
        text = "\n".join([head, *(" " * indent + line[2:] for line in lines)])
    return text


# Strings that every YAML reader takes as plain text inside a flow collection.
_FLOW_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")


def _escaped(value: Any) -> Any:
    """Return `value` with tuples as lists and strings that need escapes double-quoted.

    Every other string but a plain word gets single quotes. YAML 1.2 allows `:` and
    `?` in a plain scalar of a flow collection, but libyaml, and so obscompile's own
    reader of rule files, reads `{record: job:x:rate5m}` as an error, and YAML 1.1
    reads words such as `yes` as other types.
    """
    if isinstance(value, str):
        if needs_escapes(value):
            return DoubleQuotedScalarString(value)
        if _FLOW_PLAIN.fullmatch(value) is None or _YAML11_IMPLICIT.match(value):
            return SingleQuotedScalarString(value)
        return value
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(item) for item in value]
    return value


class TemplateFileError(jinja2.TemplateError):
    """A template file that cannot be read, such as a named pipe or a file too large.

    `filename` is the file and `check` the check of its error.
    """

    def __init__(self, message: str, filename: str, check: str) -> None:
        super().__init__(message)
        self.filename = filename
        self.check = check

    def __reduce__(self) -> tuple[Any, ...]:
        # Worker processes send the error back pickled.
        return (type(self), (self.message, self.filename, self.check))


class _BoundedLoader(jinja2.FileSystemLoader):
    """Jinja's file loader, which reads each template as `read_input_text` does.

    Jinja's own loader reads a file of any size, and passes over a path that is not
    a regular file, such as a named pipe, to the same name in the next folder. Here
    any path that exists in a folder is that folder's template, and an error if it
    cannot be read.
    """

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        pieces = jinja2.loaders.split_template_path(template)
        for folder in self.searchpath:
            # A posix path, as Jinja joins it, so that no drive or UNC part of a name
            # leaves the folder.
            filename = posixpath.join(folder, *pieces)
            if os.path.lexists(filename):
                break
        else:
            folders = ", ".join(repr(folder) for folder in self.searchpath)
            raise jinja2.TemplateNotFound(
                template, f"{template!r} not found in search paths: {folders}"
            )
        try:
            contents = read_input_text(filename, TEMPLATE)
        except InputFileError as exc:
            raise TemplateFileError(exc.message, filename, exc.check) from None
        modified = os.path.getmtime(filename)

        def up_to_date() -> bool:
            try:
                return os.path.getmtime(filename) == modified
            except OSError:
                return False

        return contents, os.path.normpath(filename), up_to_date


class _CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """Jinja's bytecode cache, where a damaged file means the template is compiled again.

    A folder that cannot be written, read-only or full, means the compiled code is
    not kept, and the build goes on.
    """

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # a truncated or foreign file: EOFError, UnpicklingError, ...
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


class _NamedUndefined(jinja2.StrictUndefined):
    """A StrictUndefined whose error names the type alone and the closest attribute.

    Jinja's own message (3.1) names the type with its module, such as
    'obscompile.model.panel.Panel object', and gives no hint for a misspelt name.
    """

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        found, name = self._undefined_obj, self._undefined_name
        if (
            self._undefined_hint
            or found is jinja2.utils.missing
            or not isinstance(name, str)
        ):
            return str(super()._undefined_message)
        close = difflib.get_close_matches(name, _member_names(found), n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        return f"{type(found).__name__} has no attribute {name!r}{hint}"


class _Template(jinja2.Template):
    """A template whose error for an undefined name suggests the closest defined one."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        variables = dict(*args, **kwargs)
        try:
            return super().render(variables)
        except jinja2.UndefinedError as exc:
            _suggest_defined_name(exc, self, variables)
            raise


_UNDEFINED_NAME = re.compile(r"'(?P<name>[^']+)' is undefined")


def _suggest_defined_name(
    exc: jinja2.UndefinedError, template: jinja2.Template, variables: Mapping[str, Any]
) -> None:
    """Add the closest defined name to the message of an undefined top-level name.

    The defined names are the render's variables, the environment's globals and the
    names that the template assigns (`set`, `for` and macro parameters).
    """
    match = _UNDEFINED_NAME.fullmatch(str(exc.message))
    if match is None:
        return
    names = {*variables, *template.globals, *_assigned_names(template)}
    close = difflib.get_close_matches(match["name"], sorted(names), n=1)
    if close:
        exc.args = (f'{exc.message} (did you mean "{close[0]}"?)',)


def _assigned_names(template: jinja2.Template) -> set[str]:
    """Return the names that a template's own source assigns, or none if unreadable."""
    environment = template.environment
    if environment.loader is None or template.name is None:
        return set()
    try:
        source, _, _ = environment.loader.get_source(environment, template.name)
        tree = environment.parse(source)
    except (jinja2.TemplateError, OSError, UnicodeDecodeError):
        return set()
    return {
        node.name
        for node in tree.find_all(jinja2.nodes.Name)
        if node.ctx in ("store", "param")
    }


def _member_names(found: object) -> list[str]:
    """Return the keys of a mapping, or the public attributes of any other value."""
    if isinstance(found, Mapping):
        return [key for key in found if isinstance(key, str)]
    return [name for name in dir(found) if not name.startswith("_")]


def make_environment(
    project_templates: Path | None = None, compiled: Path | None = None
) -> jinja2.Environment:
    """Create the environment; a project's own `templates/` overrides built-in names.

    With `compiled`, Jinja keeps the compiled code of each template in that folder,
    keyed by the template's source, so a later process does not compile it again.
    A project's templates run in Jinja's sandbox, which rejects the attributes that
    reach Python's internals, such as `__globals__`, so that `obscompile check` of a
    checkout runs no code that a template names.
    """
    search = []
    if project_templates is not None and project_templates.is_dir():
        search.append(str(project_templates))
    builtin = builtin_templates_dir()
    if project_templates is None or project_templates.resolve() != builtin.resolve():
        search.append(str(builtin))
    own = len(search) > 1
    kind = jinja2.sandbox.SandboxedEnvironment if own else jinja2.Environment
    if own and compiled is not None:
        # The sandbox compiles to other code, so it keeps its own compiled templates.
        compiled = compiled / "sandboxed"
        try:
            compiled.mkdir(exist_ok=True)
        except OSError:
            compiled = None
    env = kind(
        loader=_BoundedLoader(search),
        undefined=_NamedUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=None if compiled is None else _CompiledTemplates(str(compiled)),
        # An environment serves one build, during which no template changes, so a
        # loaded template is not checked against its file at every include.
        auto_reload=False,
    )
    env.template_class = _Template
    env.filters["tojson"] = _tojson
    env.filters["toyaml"] = toyaml
    # Every filter of every target, so that any template compiles on its own and a
    # project's Prometheus template may use `yaml_document` too.
    add_yaml_filter(env)
    add_hcl_filters(env)
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False}
    return env


def render_json(
    env: jinja2.Environment,
    template: str,
    shape: Callable[[Any], str | None] | None = None,
    subject: str | None = None,
    **context: Any,
) -> str:
    """Render a JSON template, check that it is JSON, and format it deterministically.

    `shape` returns what is wrong with the parsed document, or None. Invalid JSON or
    a wrong shape raises TemplateOutputError, whose message names `subject`.
    """
    loaded = env.get_template(template)
    text = loaded.render(**context)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"invalid JSON ({exc.msg})"
        offset = min(exc.pos, len(text) - 1)
        origin = find_output_origin(loaded, context, text, offset)
        error = output_error(loaded, problem, subject, text, exc.lineno, origin)
        raise error from None
    wrong = shape(document) if shape is not None else None
    if wrong is not None:
        raise output_error(loaded, f"JSON that is not {wrong}", subject)
    return indented_json(document, ensure_ascii=False) + "\n"


def check_yaml_output(
    template: jinja2.Template,
    text: str,
    subject: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> Any:
    """Return the data of `text`, which `template` rendered, if it is a project's own.

    Raises TemplateOutputError when the text is not one valid YAML document. The
    output of a built-in template is not parsed, and None is returned for it. With
    the `context` that `template` rendered, the error names the template line that
    wrote the invalid text, where it can be found.
    """
    if is_builtin(template):
        return None
    try:
        return read_yaml(text, version=(1, 1))
    except MarkedYAMLError as exc:
        problem = f"invalid YAML ({exc.problem or exc.context or 'unreadable'})"
        mark = exc.problem_mark or exc.context_mark
        if mark is None:
            raise output_error(template, problem, subject) from None
        origin = None
        if context is not None:
            offset = _offset_of(text, mark.line, mark.column)
            origin = find_output_origin(template, context, text, offset)
        error = output_error(template, problem, subject, text, mark.line + 1, origin)
        raise error from None
    except Exception as exc:  # ruamel raises many unrelated error classes
        first = str(exc).split("\n")[0]
        raise output_error(template, f"invalid YAML ({first})", subject) from None


def _offset_of(text: str, line: int, column: int) -> int:
    """Return the offset in `text` of a 0-based line and column."""
    lines = text.split("\n")
    offset = sum(len(before) + 1 for before in lines[:line])
    return min(offset + column, len(text) - 1)


def output_error(
    template: jinja2.Template,
    problem: str,
    subject: str | None = None,
    text: str = "",
    line: int | None = None,
    origin: OutputOrigin | None = None,
) -> TemplateOutputError:
    """Return the error for a template whose output is `problem` at `line` of `text`.

    The error is placed at `origin`, the template line that wrote the output line,
    when that line is in a project's own template that is not a copy of a built-in
    one. Otherwise it names the template file alone.
    """
    message = f"{template.name} rendered {problem}"
    if subject:
        message += f" for {subject}"
    if line is not None:
        lines = text.split("\n")
        output_line = lines[line - 1].rstrip() if 0 < line <= len(lines) else ""
        message += f", at line {line} of its output"
        if output_line.strip():
            # In backquotes, so that the indentation shows.
            message += f": `{output_line[:80]}`"
    if origin is not None and _is_own(template, origin.filename):
        return TemplateOutputError(message, origin.filename, origin.line)
    filename = template.filename
    # A project's copy of a built-in template, unchanged, is no likelier a cause than
    # the built-in one.
    own_copy = (
        filename is not None
        and not is_builtin_file(filename)
        and _same_as_builtin(template.name or "", Path(filename))
    )
    if is_builtin_file(filename) or own_copy:
        # When a built-in template includes a project's own template, such as a panel
        # template of the dashboard, the project's template is the likely cause.
        own = _project_templates(template, (template.name or "").split("/")[0])
        if own:
            message += f"; the project's own templates it may include: {', '.join(own)}"
            if len(own) == 1:
                filename = str(Path(_project_folder(template) or "", own[0]))
    return TemplateOutputError(message, filename)


def _is_own(template: jinja2.Template, filename: str) -> bool:
    """Return True for a file of the project's templates that no built-in one equals."""
    folder = _project_folder(template)
    if folder is None or not Path(filename).resolve().is_relative_to(
        Path(folder).resolve()
    ):
        return False
    name = Path(filename).resolve().relative_to(Path(folder).resolve()).as_posix()
    return not _same_as_builtin(name, Path(filename))


def _project_folder(template: jinja2.Template) -> str | None:
    """Return the project's template folder of the environment, if it has one."""
    loader = template.environment.loader
    if isinstance(loader, jinja2.FileSystemLoader) and len(loader.searchpath) > 1:
        return str(loader.searchpath[0])
    return None


def _project_templates(template: jinja2.Template, folder: str) -> list[str]:
    """Return the names of the project's own templates under `folder`, sorted.

    A copy of a built-in template, byte for byte, is left out: it renders what the
    built-in one does, so it is not the cause of a fault.
    """
    root = _project_folder(template)
    if root is None or not (Path(root) / folder).is_dir():
        return []
    found = []
    for path in (Path(root) / folder).rglob("*.j2"):
        name = path.relative_to(root).as_posix()
        if path.is_file() and not _same_as_builtin(name, path):
            found.append(name)
    return sorted(found)


def _same_as_builtin(name: str, path: Path) -> bool:
    """Return True when `path` has the bytes of the built-in template `name`."""
    original = builtin_templates_dir() / name
    try:
        return original.is_file() and original.read_bytes() == read_input_bytes(
            path, TEMPLATE
        )
    except (OSError, InputFileError):
        return False


def is_builtin_file(filename: str | None) -> bool:
    """Return True for a file of the built-in templates."""
    if filename is None:
        return False
    return Path(filename).resolve().is_relative_to(builtin_templates_dir().resolve())


def is_builtin(template: jinja2.Template) -> bool:
    """Return True for a built-in template file that includes no other template."""
    filename = template.filename
    if filename is None:
        return False
    known = _BUILTIN.get(filename)
    if known is None:
        name = template.name or ""
        known = name in SELF_CONTAINED and is_builtin_file(filename)
        _BUILTIN[filename] = known
    return known


# The built-in templates that include, import or extend no other template. Only
# their output is written without being parsed back. A test compares this set with
# what Jinja finds in the template sources.
SELF_CONTAINED = frozenset(
    {
        "grafana/macros.j2",
        "grafana/provisioning/dashboards.yaml.j2",
        "instrumentation/metrics.py.j2",
        "instrumentation/metrics.ts.j2",
        "kubernetes/prometheusrule.yaml.j2",
        "mimir/namespace.yaml.j2",
        "prometheus/prometheus.yml.j2",
        "prometheus/rules.yml.j2",
        "prometheus/test.yml.j2",
        "terraform/macros.j2",
        "terraform/main.tf.j2",
    }
)

# Whether a template file is built-in and self-contained, by its path.
_BUILTIN: dict[str, bool] = {}


def misplaced_templates(project_templates: Path) -> list[tuple[Path, str]]:
    """Return each project template that overrides nothing, with the name it is near.

    A project template replaces the built-in one of the same relative path. A file
    without a built-in namesake may be a macro file that other templates include.
    So only three kinds are returned: a built-in path without `.j2`, a built-in file
    name in another folder (`grafana/panel/stat.json.j2`), and a name one or two
    letters from a built-in one in its folder (`grafana/panels/guage.json.j2`).
    """
    if not project_templates.is_dir():
        return []
    builtin = builtin_templates_dir()
    names = sorted(p.relative_to(builtin).as_posix() for p in builtin.rglob("*.j2"))
    found = []
    for path in sorted(project_templates.rglob("*")):
        name = path.relative_to(project_templates).as_posix()
        if name in names or not path.is_file():
            continue
        if not name.endswith(".j2"):
            # `prometheus/rules.yml` for `prometheus/rules.yml.j2`.
            if name + ".j2" in names:
                found.append((path, name + ".j2"))
            continue
        folder, _, base = name.rpartition("/")
        near = []
        for candidate in names:
            other_folder, _, other_base = candidate.rpartition("/")
            if base == other_base or (
                folder == other_folder
                and abs(len(base) - len(other_base)) <= 2
                and difflib.SequenceMatcher(None, base, other_base).ratio() >= 0.8
            ):
                near.append(candidate)
        if near:
            best = max(
                near, key=lambda c: difflib.SequenceMatcher(None, name, c).ratio()
            )
            found.append((path, best))
    return found
