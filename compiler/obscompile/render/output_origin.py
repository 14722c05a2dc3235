"""Find the template line that wrote a given place of a template's output.

Jinja maps the compiled code of an expression to its template line, but it joins the
text between tags, and constant expressions, into constants that it maps to no line
of their own. To find where a place of the output came from, the template is
rendered again with a code generator that outputs each line of that text, and each
expression, at its own line. The generator of each template is followed down
through includes and blocks to the template frame that produced the piece of
output.
"""

from __future__ import annotations

import inspect
import re
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame

# A piece of text up to and including a line break, or the rest of the text.
_LINE = re.compile(r"[^\n]*\n|[^\n]+")


@dataclass(frozen=True)
class OutputOrigin:
    """The template file and line that wrote a place of a rendered output."""

    filename: str
    line: int


class _LineCodeGenerator(CodeGenerator):
    """A code generator that outputs each line of template text at its own line."""

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        pieces: list[nodes.Expr] = []
        for child in node.nodes:
            if not isinstance(child, nodes.TemplateData):
                pieces.append(child)
                continue
            for number, match in enumerate(_LINE.finditer(child.data)):
                lineno = child.lineno + number
                pieces.append(nodes.TemplateData(match.group(), lineno=lineno))
        super().visit_Output(nodes.Output(pieces, lineno=node.lineno), frame)

    def _output_child_to_const(
        self, node: nodes.Expr, frame: Frame, finalize: CodeGenerator._FinalizeInfo
    ) -> str:
        # Output that is computed at run time keeps its line in the debug info, where
        # a constant would be joined with its neighbours.
        raise nodes.Impossible()


def find_output_origin(
    template: jinja2.Template,
    context: Mapping[str, Any],
    text: str,
    offset: int,
) -> OutputOrigin | None:
    """Return the template file and line that wrote `text[offset]`.

    `text` is what `template` rendered with `context`, which is rendered again here.
    Returns None when the template's name or file is unknown, or when the second
    rendering fails or differs from `text` before `offset`.

    NOTE: a macro returns its output as one string, so the output of a macro is
    placed at the line that calls it.
    """
    if template.name is None or not 0 <= offset < len(text):
        return None
    env = template.environment.overlay(cache_size=0, bytecode_cache=None)
    env.code_generator_class = _LineCodeGenerator
    pieces = None
    try:
        traced = env.get_template(template.name)
        pieces = traced.root_render_func(traced.new_context(dict(context)))
        written = 0
        for piece in pieces:
            end = written + len(piece)
            if text[written:end] != piece:
                return None
            if end > offset:
                return _origin(pieces)
            written = end
    except Exception:  # after a first rendering that passed: the error gets no line
        return None
    finally:
        if isinstance(pieces, types.GeneratorType):
            pieces.close()
    return None


def _origin(pieces: Iterator[str]) -> OutputOrigin | None:
    """Return the template file and line of the piece that `pieces` last yielded."""
    if not _is_paused_template(pieces):
        return None
    generator: Any = pieces
    followed = {id(generator)}
    while True:
        inner = generator.gi_yieldfrom
        if not _is_paused_template(inner):
            # An `{% include %}` runs the other template's generator in a loop.
            found = generator.gi_frame.f_locals.values()
            inner = next((value for value in found if _is_paused_template(value)), None)
        if inner is None or id(inner) in followed:
            break
        followed.add(id(inner))
        generator = inner
    frame = generator.gi_frame
    owner = frame.f_globals["__jinja_template__"]
    if not isinstance(owner, jinja2.Template) or owner.filename is None:
        return None
    return OutputOrigin(owner.filename, owner.get_corresponding_lineno(frame.f_lineno))


def _is_paused_template(value: object) -> bool:
    """Return True for a paused generator of a compiled template."""
    return (
        isinstance(value, types.GeneratorType)
        and inspect.getgeneratorstate(value) == inspect.GEN_SUSPENDED
        and value.gi_frame is not None
        and "__jinja_template__" in value.gi_frame.f_globals
    )
