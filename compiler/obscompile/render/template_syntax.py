"""Locate a Jinja syntax error at the tag that it belongs to.

Jinja reports a syntax error with a line alone, and an unclosed `{% if %}` at the end
of the template. To find the tag, the template is parsed again with a parser that
notes where each tag starts and which tag each token is in.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

import jinja2
import jinja2.lexer
import jinja2.parser

from obscompile.load.input_file import TEMPLATE, InputFileError, read_input_text

# The tokens that start a tag: `{%`, `{{`, `{#` and a whole `{% raw %}`.
_TAG_STARTS = frozenset(
    {
        jinja2.lexer.TOKEN_BLOCK_BEGIN,
        jinja2.lexer.TOKEN_VARIABLE_BEGIN,
        jinja2.lexer.TOKEN_COMMENT_BEGIN,
        jinja2.lexer.TOKEN_RAW_BEGIN,
    }
)

# Jinja's lexer reads each of these as one line break.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class SyntaxErrorPlace:
    """The line, column and message of a template syntax error."""

    line: int
    column: int
    message: str


@dataclass(frozen=True)
class _Unclosed:
    """A block tag that the template does not close."""

    # The index of the tag among the parser's `tag_offsets`, and its name (`if`).
    tag: int
    name: str
    # The tags that Jinja looked for, such as ('elif', 'else', 'endif').
    expected: tuple[str, ...]
    # The end tag of an outer block that came first, or None at the end of the
    # template, and the line where Jinja stopped.
    found: str | None
    found_line: int


class _TagParser(jinja2.parser.Parser):
    """A Jinja parser that notes where each tag starts and which tag each token is in.

    Offsets are into the text with Jinja's line breaks made `\\n`, so lines and
    columns are those of the template file.
    """

    def __init__(
        self, env: jinja2.Environment, source: str, name: str | None, file: str | None
    ) -> None:
        super().__init__(env, "", name, file)
        self.text = "\n".join(_LINE_BREAK.split(source))
        # The offset of the start of each tag, in the order of the text, and the
        # indexes of the comments among them. An offset is None after a token that
        # could not be found in the text.
        self.tag_offsets: list[int | None] = []
        self.comment_tags: set[int] = set()
        # Each token that the parser has read, with the index of its tag and its
        # offset.
        self.token_places: list[tuple[jinja2.lexer.Token, int, int | None]] = []
        self.lexer_failed = False
        self.unclosed: _Unclosed | None = None
        # The tag index of each statement being parsed, as in `self._tag_stack`, but
        # also of a statement with an unknown name.
        self._statement_tags: list[int] = []
        self._offset: int | None = 0
        self._source = source

    def parse(self) -> jinja2.nodes.Template:
        # Jinja's parser lexes the first token in its constructor. Lexing here lets the
        # caller catch an error in that token too.
        lexer = self.environment.lexer
        raw = self._follow(lexer.tokeniter(self._source, self.name, self.filename))
        tokens = self._note(lexer.wrap(raw, self.name, self.filename))
        self.stream = jinja2.lexer.TokenStream(tokens, self.name, self.filename)
        return super().parse()

    def _follow(
        self, raw: Iterator[tuple[int, str, str]]
    ) -> Iterator[tuple[int, str, str]]:
        """Yield the lexer's tokens and keep the offset of each.

        Each token's value is its text, except that the lexer drops the spaces that
        `lstrip_blocks` or a `-` removes before a tag. So the next token starts at
        the next occurrence of its value, with nothing but white space before it.
        """
        end: int | None = 0
        try:
            for lineno, kind, value in raw:
                start = None if end is None else self.text.find(value, end)
                if start is None or start < 0 or self.text[end:start].strip():
                    # NOTE: Jinja 3.1's tokens are always found so. Should a later
                    # version change them, this token and all after it have no place.
                    start = end = None
                else:
                    end = start + len(value)
                self._offset = start
                if kind == jinja2.lexer.TOKEN_COMMENT_BEGIN:
                    self.comment_tags.add(len(self.tag_offsets))
                if kind in _TAG_STARTS:
                    self.tag_offsets.append(start)
                yield lineno, kind, value
        except jinja2.TemplateSyntaxError:
            self.lexer_failed = True
            raise

    def _note(
        self, tokens: Iterator[jinja2.lexer.Token]
    ) -> Iterator[jinja2.lexer.Token]:
        try:
            for token in tokens:
                self.token_places.append(
                    (token, len(self.tag_offsets) - 1, self._offset)
                )
                yield token
        except jinja2.TemplateSyntaxError:
            # `wrap` rejects some tokens, such as a name that is no identifier.
            self.lexer_failed = True
            raise

    def place_of(self, token: jinja2.lexer.Token) -> tuple[int, int | None]:
        """Return the index of the tag that `token` is in, and the token's offset.

        A token that the parser has not read, such as the EOF token of the stream,
        is in the last tag and has no offset.
        """
        for noted, tag, offset in reversed(self.token_places):
            if noted is token:
                return tag, offset
        return len(self.tag_offsets) - 1, None

    def parse_statement(self) -> jinja2.nodes.Node | list[jinja2.nodes.Node]:
        self._statement_tags.append(self.place_of(self.stream.current)[0])
        try:
            return super().parse_statement()
        finally:
            self._statement_tags.pop()

    def fail_unknown_tag(self, name: str, lineno: int | None = None) -> NoReturn:
        # A tag that ends an outer block, such as `{% endfor %}` inside an `{% if %}`
        # of a `{% for %}`, means that the inner block is not closed.
        outer = {
            jinja2.lexer.describe_token_expr(expr)
            for ends in self._end_token_stack
            for expr in ends
        }
        if name in outer:
            self._note_unclosed(self._end_token_stack, name, lineno)
        super().fail_unknown_tag(name, lineno)

    def fail_eof(
        self, end_tokens: tuple[str, ...] | None = None, lineno: int | None = None
    ) -> NoReturn:
        stack = list(self._end_token_stack)
        if end_tokens is not None:
            stack.append(end_tokens)
        self._note_unclosed(stack, None, lineno)
        super().fail_eof(end_tokens, lineno)

    def _note_unclosed(
        self, stack: list[tuple[str, ...]], found: str | None, lineno: int | None
    ) -> None:
        if not self._tag_stack or not stack:
            return
        name = self._tag_stack[-1]
        expected = tuple(jinja2.lexer.describe_token_expr(expr) for expr in stack[-1])
        tag = self._statement_tags[len(self._tag_stack) - 1]
        line = lineno if lineno is not None else self.stream.current.lineno
        self.unclosed = _Unclosed(tag, name, expected, found, line)

    def line_and_column(self, offset: int) -> tuple[int, int]:
        """Return the 1-based line and column of `offset`."""
        line_start = self.text.rfind("\n", 0, offset) + 1
        return self.text.count("\n", 0, offset) + 1, offset - line_start + 1


@functools.cache
def _parse_environment() -> jinja2.Environment:
    # Imported here, because the environment module imports this one.
    from obscompile.render.environment import make_environment

    return make_environment()


def syntax_error_file(exc: jinja2.TemplateSyntaxError) -> str | None:
    """Return the file of the template that has a syntax error, if it has one.

    Jinja 3.1's lexer passes the file as the template's name, and no file, when a
    comment or a `{% raw %}` block is not closed.
    """
    if exc.filename is None and exc.name and os.path.isfile(exc.name):
        return exc.name
    return exc.filename


def locate_syntax_error(
    exc: jinja2.TemplateSyntaxError, source: str | None = None
) -> SyntaxErrorPlace:
    """Return the line, column and message of a template syntax error.

    The column is that of the tag the error is in, when the tag starts on the error's
    line. Otherwise it is the column of the token that failed, if that token is on
    the error's line, or else 1. When the template ends inside a tag, the place is
    the tag's start. The error of a block tag that is not closed is placed at that
    tag, with a message that names it.
    `source` is the template's text, by default the error's own or its file's.
    """
    message = f"invalid template: {exc.message}"
    line = exc.lineno
    fallback = SyntaxErrorPlace(line, 1, message)
    file = syntax_error_file(exc)
    if source is None:
        source = exc.source
    if source is None and file is not None:
        try:
            source = read_input_text(file, TEMPLATE)
        except (InputFileError, UnicodeDecodeError):
            return fallback
    if source is None:
        return fallback
    try:
        return _place(exc, source, file, fallback)
    except Exception:
        # The parser subclass reads attributes that Jinja does not document, such
        # as `_tag_stack`; a Jinja that lacks them gets the line alone.
        return fallback


def _place(
    exc: jinja2.TemplateSyntaxError,
    source: str,
    file: str | None,
    fallback: SyntaxErrorPlace,
) -> SyntaxErrorPlace:
    """Return the place of `exc` in `source`, found by parsing it again."""
    message, line = fallback.message, fallback.line
    parser = _TagParser(_parse_environment(), source, exc.name, file)
    try:
        parser.parse()
    except jinja2.TemplateSyntaxError as again:
        if again.lineno != exc.lineno or again.message != exc.message:
            return fallback
    else:
        # A compiler's error, such as an unknown filter, after a parse that passed.
        return _compile_error_place(parser, line, message)
    if parser.unclosed is not None:
        return _unclosed_place(parser, parser.unclosed, fallback)

    # The tag that the failing token is in, and the token's own offset.
    current = parser.stream.current
    if parser.lexer_failed:
        tag, offset = len(parser.tag_offsets) - 1, None
    else:
        tag, offset = parser.place_of(current)
    tag_offset = parser.tag_offsets[tag] if tag >= 0 else None
    if tag_offset is None:
        return fallback

    tag_line, tag_column = parser.line_and_column(tag_offset)
    if tag_line == line:
        return SyntaxErrorPlace(line, tag_column, message)
    if current.type == jinja2.lexer.TOKEN_EOF and not parser.lexer_failed:
        return SyntaxErrorPlace(tag_line, tag_column, message)
    if offset is not None:
        token_line, token_column = parser.line_and_column(offset)
        if token_line == line:
            return SyntaxErrorPlace(line, token_column, message)
    return fallback


def _compile_error_place(
    parser: _TagParser, line: int, message: str
) -> SyntaxErrorPlace:
    """Return the place of the tag on `line` that a compiler's error is in.

    Only the line of the error is known, so the tag is the one that starts on that
    line, or among several the one whose text contains a name that the message
    quotes (`No filter named 'x'.`). Otherwise the column is 1.
    """
    offsets = [offset for offset in parser.tag_offsets if offset is not None]
    if len(offsets) < len(parser.tag_offsets):
        return SyntaxErrorPlace(line, 1, message)
    ends = [*offsets[1:], len(parser.text)]
    found = []
    for index, offset in enumerate(offsets):
        tag_line, tag_column = parser.line_and_column(offset)
        if tag_line == line and index not in parser.comment_tags:
            found.append((tag_column, parser.text[offset : ends[index]]))
    if len(found) > 1:
        names = re.findall(r"'(\w+)'", message)
        found = [
            (column, text)
            for column, text in found
            if any(re.search(rf"\b{name}\b", text) for name in names)
        ]
    column = found[0][0] if len(found) == 1 else 1
    return SyntaxErrorPlace(line, column, message)


def _unclosed_place(
    parser: _TagParser, unclosed: _Unclosed, fallback: SyntaxErrorPlace
) -> SyntaxErrorPlace:
    """Return the place of a block tag that is not closed, with a message naming it."""
    offset = parser.tag_offsets[unclosed.tag]
    if offset is None:
        return fallback
    line, column = parser.line_and_column(offset)
    where = (
        "the end of the template"
        if unclosed.found is None
        else f"{{% {unclosed.found} %}} at line {unclosed.found_line}"
    )
    closing = f"end{unclosed.name}"
    if closing in unclosed.expected:
        message = (
            f"invalid template: {{% {unclosed.name} %}} has no matching "
            f"{{% {closing} %}} before {where}"
        )
    else:
        looked_for = " or ".join(repr(name) for name in unclosed.expected)
        message = (
            f"invalid template: {{% {unclosed.name} %}} is not closed before {where}, "
            f"where Jinja looked for {looked_for}"
        )
    return SyntaxErrorPlace(line, column, message)
