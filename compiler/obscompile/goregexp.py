"""Label matcher regexes as Prometheus 2.42 reads them, with Go's regexp syntax.

Prometheus compiles the regex of `=~` and `!~` with Go's regexp package (RE2 syntax),
anchored as `^(?:REGEX)$`, and parses the regex on its own as well, so a regex must
pass both. promql-parser checks regexes with Rust's regex crate, which rejects some
that Go accepts (`[[a-z]+`, `\\Q.*\\E`, `\\101`) and accepts some that Go rejects
(`a**`, `[[:foo:]]`, `(?<name>a)`). This module follows the parser of Go 1.19, which
Debian's promtool 2.42 is built with. `regexp_problem` returns why Prometheus rejects
a regex. `python_pattern` writes a valid one for Python's `re` with the same meaning,
so that the compiler evaluates regexes as Prometheus does.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable

import attrs

# Go's limits: a repetition count, the copies of an expression that nested counts
# make, how deeply a parsed expression nests, and how many instructions it may
# compile to (128 MiB of 40-byte instructions).
MAX_REPEAT = 1000
MAX_HEIGHT = 1000
MAX_SIZE = (128 << 20) // 40
MAX_RUNE = sys.maxunicode

# The POSIX classes that Go reads inside a bracket expression, as ASCII ranges.
_POSIX = {
    "alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "ascii": ((0x00, 0x7F),),
    "blank": ((0x09, 0x09), (0x20, 0x20)),
    "cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
    "digit": ((0x30, 0x39),),
    "graph": ((0x21, 0x7E),),
    "lower": ((0x61, 0x7A),),
    "print": ((0x20, 0x7E),),
    "punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "space": ((0x09, 0x0D), (0x20, 0x20)),
    "upper": ((0x41, 0x5A),),
    "word": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
    "xdigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
}
# Go's Perl classes, which are ASCII only, unlike Python's.
_PERL = {
    "d": _POSIX["digit"],
    "s": ((0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)),
    "w": _POSIX["word"],
}
# The Unicode general categories that Go 1.19 names, and the major classes they form.
# Go has no table for Cn (unassigned) or LC.
_CATEGORIES = frozenset(
    {
        "Cc", "Cf", "Co", "Cs", "Ll", "Lm", "Lo", "Lt", "Lu", "Mc", "Me", "Mn", "Nd",
        "Nl", "No", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "Sc", "Sk", "Sm", "So",
        "Zl", "Zp", "Zs",
    }
)  # fmt: skip
_MAJOR_CATEGORIES = frozenset(name[0] for name in _CATEGORIES)
# The Unicode 13.0 scripts, which Go 1.19's unicode package names.
_SCRIPTS = frozenset(
    {
        "Adlam", "Ahom", "Anatolian_Hieroglyphs", "Arabic", "Armenian", "Avestan",
        "Balinese", "Bamum", "Bassa_Vah", "Batak", "Bengali", "Bhaiksuki", "Bopomofo",
        "Brahmi", "Braille", "Buginese", "Buhid", "Canadian_Aboriginal", "Carian",
        "Caucasian_Albanian", "Chakma", "Cham", "Cherokee", "Chorasmian", "Common",
        "Coptic", "Cuneiform", "Cypriot", "Cyrillic", "Deseret", "Devanagari",
        "Dives_Akuru", "Dogra", "Duployan", "Egyptian_Hieroglyphs", "Elbasan",
        "Elymaic", "Ethiopic", "Georgian", "Glagolitic", "Gothic", "Grantha", "Greek",
        "Gujarati", "Gunjala_Gondi", "Gurmukhi", "Han", "Hangul", "Hanifi_Rohingya",
        "Hanunoo", "Hatran", "Hebrew", "Hiragana", "Imperial_Aramaic", "Inherited",
        "Inscriptional_Pahlavi", "Inscriptional_Parthian", "Javanese", "Kaithi",
        "Kannada", "Katakana", "Kayah_Li", "Kharoshthi", "Khitan_Small_Script", "Khmer",
        "Khojki", "Khudawadi", "Lao", "Latin", "Lepcha", "Limbu", "Linear_A",
        "Linear_B", "Lisu", "Lycian", "Lydian", "Mahajani", "Makasar", "Malayalam",
        "Mandaic", "Manichaean", "Marchen", "Masaram_Gondi", "Medefaidrin",
        "Meetei_Mayek", "Mende_Kikakui", "Meroitic_Cursive", "Meroitic_Hieroglyphs",
        "Miao", "Modi", "Mongolian", "Mro", "Multani", "Myanmar", "Nabataean",
        "Nandinagari", "New_Tai_Lue", "Newa", "Nko", "Nushu", "Nyiakeng_Puachue_Hmong",
        "Ogham", "Ol_Chiki", "Old_Hungarian", "Old_Italic", "Old_North_Arabian",
        "Old_Permic", "Old_Persian", "Old_Sogdian", "Old_South_Arabian", "Old_Turkic",
        "Oriya", "Osage", "Osmanya", "Pahawh_Hmong", "Palmyrene", "Pau_Cin_Hau",
        "Phags_Pa", "Phoenician", "Psalter_Pahlavi", "Rejang", "Runic", "Samaritan",
        "Saurashtra", "Sharada", "Shavian", "Siddham", "SignWriting", "Sinhala",
        "Sogdian", "Sora_Sompeng", "Soyombo", "Sundanese", "Syloti_Nagri", "Syriac",
        "Tagalog", "Tagbanwa", "Tai_Le", "Tai_Tham", "Tai_Viet", "Takri", "Tamil",
        "Tangut", "Telugu", "Thaana", "Thai", "Tibetan", "Tifinagh", "Tirhuta",
        "Ugaritic", "Vai", "Wancho", "Warang_Citi", "Yezidi", "Yi", "Zanabazar_Square",
    }
)  # fmt: skip
# The code points of a class, and why Python cannot evaluate it ("" when it can).
_Members = tuple[list[tuple[int, int]], str]
_COUNT = re.compile(r"\{([0-9]+)(,([0-9]*))?\}")
_BRACED_HEX = re.compile(r"\{([0-9A-Fa-f]+)\}")
_HEX_PAIR = re.compile(r"[0-9A-Fa-f]{2}")
_SIMPLE_ESCAPES = {"a": "\a", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


class RegexpError(ValueError):
    """Go's parser rejects a regex: `code` is Go's wording, `fragment` the bad text."""

    def __init__(self, code: str, fragment: str) -> None:
        super().__init__(f"{code}: `{fragment}`")
        self.code = code
        self.fragment = fragment


class UnevaluatedClass(ValueError):
    """A valid class that the Python translation cannot express, such as a script."""


@attrs.frozen
class _Node:
    """A parsed expression: its kind, its Python text and what Go's limits read.

    `kind` is "literal", "class", "empty", "assertion", "group" (a capture), "star",
    "plus", "quest", "repeat", "concat" or "alternate".
    """

    kind: str
    python: str
    subs: tuple[_Node, ...] = ()
    minimum: int = 0
    maximum: int = 0
    runes: int = 0
    nullable: bool = False
    # Why Python cannot evaluate the expression, such as a script class, or "".
    unevaluated: str = ""
    # What Go's limits read: the tree's height, its estimated instructions and the
    # count budget that `_repeat_need` describes. Each is computed from those of
    # the subexpressions, so no walk of a deep tree recurses.
    height: int = attrs.field(
        init=False,
        default=attrs.Factory(
            lambda self: 1 + max((sub.height for sub in self.subs), default=0),
            takes_self=True,
        ),
    )
    size: int = attrs.field(
        init=False, default=attrs.Factory(lambda self: _size(self), takes_self=True)
    )
    need: int = attrs.field(
        init=False,
        default=attrs.Factory(lambda self: _repeat_need(self), takes_self=True),
    )


def _is_word_char(char: str) -> bool:
    return (
        char == "_"
        or ("0" <= char <= "9")
        or ("A" <= char <= "Z")
        or ("a" <= char <= "z")
    )


def _is_alnum(char: str) -> bool:
    return char != "_" and _is_word_char(char)


@attrs.define
class _Flags:
    fold: bool = False
    multiline: bool = False
    dot_newline: bool = False
    ungreedy: bool = False


@attrs.define
class _Frame:
    """An open group: its finished alternatives, its current sequence and flags."""

    capture: bool
    name: str | None
    flags: _Flags
    alternatives: list[list[_Node]] = attrs.Factory(list)
    items: list[_Node] = attrs.Factory(list)


class _Parser:
    """Read one regex by the rules of Go's regexp/syntax with the Perl flags.

    `pos` is the index of the next character of `text`. Each step reads from there,
    so a long regex is read in linear time.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.flags = _Flags()
        self.frames = [_Frame(capture=False, name=None, flags=_Flags())]
        self.names: set[str] = set()

    def parse(self) -> _Node:
        text = self.text
        last_repeat = -1
        while self.pos < len(text):
            repeat = -1
            char = text[self.pos]
            if char == "(":
                self.open_group()
            elif char == "|":
                frame = self.frames[-1]
                frame.alternatives.append(frame.items)
                frame.items = []
                self.pos += 1
            elif char == ")":
                self.close_group()
            elif char in "^$":
                self.push(self.anchor(char))
                self.pos += 1
            elif char == ".":
                self.push(self.dot())
                self.pos += 1
            elif char == "[":
                self.push(self.bracket())
            elif char in "*+?":
                repeat = self.pos
                kind = {"*": "star", "+": "plus", "?": "quest"}[char]
                self.repeat(kind, 0, 0, self.pos + 1, last_repeat)
            elif char == "{":
                repeat = self.pos
                self.counted_repeat(last_repeat)
            elif char == "\\":
                self.escape()
            else:
                self.push(self.literal(char))
                self.pos += 1
            last_repeat = repeat
        if len(self.frames) > 1:
            raise RegexpError("missing closing )", text)
        node = self.finish(self.frames[0])
        self.check_limits(node)
        return node

    # Groups and alternation.

    def open_group(self) -> None:
        text, start = self.text, self.pos
        if not text.startswith("(?", start):
            self.frames.append(_Frame(True, None, attrs.evolve(self.flags)))
            self.pos += 1
            return
        if len(text) - start > 4 and text.startswith("P<", start + 2):
            end = text.find(">", start)
            if end < 0:
                raise RegexpError("invalid named capture", text[start:])
            name = text[start + 4 : end]
            if not name or not all(_is_word_char(char) for char in name):
                raise RegexpError("invalid named capture", text[start : end + 1])
            self.frames.append(_Frame(True, name, attrs.evolve(self.flags)))
            self.pos = end + 1
            return
        self.perl_flags()

    def perl_flags(self) -> None:
        """Read `(?flags)` or `(?flags:`, where flags are i, m, s and U, with a `-`."""
        text, start = self.text, self.pos
        index = start + 2
        flags = attrs.evolve(self.flags)
        negated = False
        saw_flag = False
        while index < len(text):
            char = text[index]
            index += 1
            if char in "imsU":
                value = not negated
                if char == "i":
                    flags.fold = value
                elif char == "m":
                    flags.multiline = value
                elif char == "s":
                    flags.dot_newline = value
                else:
                    flags.ungreedy = value
                saw_flag = True
            elif char == "-" and not negated:
                negated = True
                saw_flag = False
            elif char in ":)":
                if negated and not saw_flag:
                    break
                if char == ":":
                    self.frames.append(_Frame(False, None, attrs.evolve(self.flags)))
                self.flags = flags
                self.pos = index
                return
            else:
                break
        raise RegexpError("invalid or unsupported Perl syntax", text[start:index])

    def close_group(self) -> None:
        if len(self.frames) < 2:
            raise RegexpError("unexpected )", self.text)
        frame = self.frames.pop()
        node = self.finish(frame)
        self.flags = frame.flags
        if frame.capture:
            name = frame.name
            if name is not None and (not name.isidentifier() or name in self.names):
                # Python's `re` takes no such name, so the group keeps its number.
                name = None
            if name is not None:
                self.names.add(name)
            opening = f"(?P<{name}>" if name is not None else "("
            node = _Node(
                "group",
                opening + node.python + ")",
                (node,),
                nullable=node.nullable,
                unevaluated=node.unevaluated,
            )
        self.push(node)
        self.pos += 1

    def finish(self, frame: _Frame) -> _Node:
        """Return the alternation of a group's sequences."""
        branches = [*frame.alternatives, frame.items]
        nodes = [self.concat(items) for items in branches]
        if len(nodes) == 1:
            return nodes[0]
        return _Node(
            "alternate",
            "(?:" + "|".join(node.python for node in nodes) + ")",
            tuple(nodes),
            nullable=any(node.nullable for node in nodes),
            unevaluated=_unevaluated(nodes),
        )

    @staticmethod
    def concat(items: list[_Node]) -> _Node:
        """Return a sequence as Go builds it, with runs of literals as one node."""
        merged: list[_Node] = []
        run: list[_Node] = []
        for item in [*items, None]:
            if item is not None and item.kind == "literal":
                run.append(item)
                continue
            if len(run) == 1:
                merged.append(run[0])
            elif run:
                python = "".join(literal.python for literal in run)
                merged.append(_Node("literal", python, runes=len(run)))
            run = []
            if item is not None:
                merged.append(item)
        if not merged:
            return _Node("empty", "", nullable=True)
        if len(merged) == 1:
            return merged[0]
        return _Node(
            "concat",
            "".join(node.python for node in merged),
            tuple(merged),
            nullable=all(node.nullable for node in merged),
            unevaluated=_unevaluated(merged),
        )

    def push(self, node: _Node) -> None:
        self.frames[-1].items.append(node)

    # Repetition.

    def repeat(
        self, kind: str, minimum: int, maximum: int, after: int, last_repeat: int
    ) -> None:
        """Apply `*`, `+`, `?` or `{n,m}`, which ends before `after`, to the last item.

        `last_repeat` is where the previous item's repetition starts, or -1.
        """
        text, before = self.text, self.pos
        ungreedy = self.flags.ungreedy
        if text.startswith("?", after):
            after += 1
            ungreedy = not ungreedy

        if last_repeat >= 0:
            raise RegexpError(
                "invalid nested repetition operator", text[last_repeat:after]
            )
        items = self.frames[-1].items
        if not items:
            raise RegexpError(
                "missing argument to repetition operator", text[before:after]
            )

        sub = items.pop()
        suffix = {"star": "*", "plus": "+", "quest": "?"}.get(kind)
        if suffix is None:
            suffix = _count_text(minimum, maximum)
        nullable = (
            sub.nullable
            or kind in ("star", "quest")
            or (kind == "repeat" and minimum == 0)
        )
        node = _Node(
            kind,
            "(?:" + sub.python + ")" + suffix + ("?" if ungreedy else ""),
            (sub,),
            minimum,
            maximum,
            nullable=nullable,
            unevaluated=sub.unevaluated,
        )
        large = kind == "repeat" and (minimum >= 2 or maximum >= 2)
        if large and node.need > MAX_REPEAT:
            raise RegexpError("invalid repeat count", text[before:after])
        items.append(node)
        self.pos = after

    def counted_repeat(self, last_repeat: int) -> None:
        """Read `{n}`, `{n,}` or `{n,m}`; any other `{` is a literal."""
        found = _COUNT.match(self.text, self.pos)
        upper = found.group(3) if found is not None else None
        if (
            found is None
            or not _go_integer(found.group(1))
            or (upper and not _go_integer(upper))
        ):
            self.push(self.literal("{"))
            self.pos += 1
            return
        minimum = _bounded(found.group(1))
        if found.group(2) is None:
            maximum = minimum
        elif not upper:
            maximum = -1
        else:
            maximum = _bounded(upper)
            if maximum < 0:
                minimum = -1
        if (
            minimum < 0
            or minimum > MAX_REPEAT
            or maximum > MAX_REPEAT
            or (maximum >= 0 and minimum > maximum)
        ):
            raise RegexpError("invalid repeat count", found.group())
        self.repeat("repeat", minimum, maximum, found.end(), last_repeat)

    # Atoms.

    def literal(self, char: str) -> _Node:
        python = re.escape(char)
        if self.flags.fold and char.lower() != char.upper():
            python = f"(?i:{python})"
        return _Node("literal", python, runes=1)

    def anchor(self, char: str) -> _Node:
        if char == "^":
            python = "(?m:^)" if self.flags.multiline else r"\A"
        else:
            python = "(?m:$)" if self.flags.multiline else r"\Z"
        return _Node("assertion", python, nullable=True)

    def dot(self) -> _Node:
        return _Node("class", "(?s:.)" if self.flags.dot_newline else ".")

    def escape(self) -> None:
        text, start = self.text, self.pos
        code = text[start + 1 : start + 2]
        if code in ("A", "z"):
            python = r"\A" if code == "A" else r"\Z"
            self.push(_Node("assertion", python, nullable=True))
            self.pos += 2
            return
        if code in ("b", "B"):
            self.push(_Node("assertion", f"(?a:\\{code})", nullable=code == "B"))
            self.pos += 2
            return
        if code == "C":
            raise RegexpError("invalid escape sequence", text[start : start + 2])
        if code == "Q":
            end = text.find(r"\E", start + 2)
            stop = len(text) if end < 0 else end
            for char in text[start + 2 : stop]:
                self.push(self.literal(char))
            self.pos = len(text) if end < 0 else end + 2
            return
        found = _class_escape(text, start)
        if found is not None:
            self.push(self.class_node(*found[0]))
            self.pos = found[1]
            return
        char, self.pos = _escaped_char(text, start)
        self.push(self.literal(char))

    def class_node(self, ranges: list[tuple[int, int]], unevaluated: str) -> _Node:
        """Return a class of `ranges`; a class with a script has no Python text."""
        python = "(?!)" if unevaluated else _class_text(ranges)
        if self.flags.fold and not unevaluated:
            python = f"(?i:{python})"
        return _Node("class", python, unevaluated=unevaluated)

    def bracket(self) -> _Node:
        """Read a bracket expression such as `[^a-z[:digit:]\\pL]`."""
        text, start = self.text, self.pos
        index = start + 1
        negated = text.startswith("^", index)
        if negated:
            index += 1

        ranges: list[tuple[int, int]] = []
        unevaluated = ""
        first = True
        while index >= len(text) or text[index] != "]" or first:
            first = False
            if text.startswith("[:", index) and len(text) - index > 2:
                posix = _posix_class(text, index)
                if posix is not None:
                    ranges.extend(posix[0])
                    index = posix[1]
                    continue
            escaped = _class_escape(text, index)
            if escaped is not None:
                (members, missing), index = escaped
                ranges.extend(members)
                unevaluated = unevaluated or missing
                continue

            low_at = index
            low, index = _class_char(text, index, start)
            high = low
            if text.startswith("-", index) and text[index + 1 : index + 2] not in (
                "]",
                "",
            ):
                high, index = _class_char(text, index + 1, start)
                if ord(high) < ord(low):
                    raise RegexpError(
                        "invalid character class range", text[low_at:index]
                    )
            ranges.append((ord(low), ord(high)))
        self.pos = index + 1
        if negated:
            ranges = _negate(ranges)
        return self.class_node(ranges, unevaluated)

    # Limits.

    def check_limits(self, node: _Node) -> None:
        # NOTE: Go measures its tree after it merges alternatives such as `a|b` into
        # a class, which this tree keeps apart, so a regex within a few levels or
        # instructions of a limit may be judged differently.
        if node.height > MAX_HEIGHT:
            raise RegexpError("expression nests too deeply", self.text)
        if node.size > MAX_SIZE:
            # promtool 2.42 reports this one as "regexp/syntax: internal error".
            raise RegexpError("expression too large", self.text)


def _count_text(minimum: int, maximum: int) -> str:
    """Return `{n}`, `{n,}` or `{n,m}`; a maximum of -1 stands for no maximum."""
    if minimum == maximum:
        return f"{{{minimum}}}"
    if maximum < 0:
        return f"{{{minimum},}}"
    return f"{{{minimum},{maximum}}}"


def _go_integer(digits: str) -> bool:
    """Return whether Go reads `digits` as a count, which has no leading zero."""
    return len(digits) == 1 or digits[0] != "0"


def _bounded(digits: str) -> int:
    """Return the count, or -1 where Go stops reading a number of 1e8 or more."""
    value = 0
    for digit in digits:
        if value >= 100_000_000:
            return -1
        value = value * 10 + int(digit)
    return value


def _escaped_char(text: str, start: int) -> tuple[str, int]:
    """Read the escaped character at `start`, such as `\\.`, `\\x41` or `\\101`.

    Returns the character and the index after its escape.
    """
    if start + 1 >= len(text):
        raise RegexpError("trailing backslash at end of expression", "")
    char = text[start + 1]
    index = start + 2
    if char < "\x80" and not _is_alnum(char):
        return char, index
    octal = "01234567"
    if char == "0" or (char in octal and text[index : index + 1] in tuple(octal)):
        value = int(char)
        for _ in range(2):
            if text[index : index + 1] not in tuple(octal):
                break
            value = value * 8 + int(text[index])
            index += 1
        return chr(value), index
    if char == "x":
        braced = _BRACED_HEX.match(text, index)
        if braced is not None and int(braced.group(1), 16) <= MAX_RUNE:
            return chr(int(braced.group(1), 16)), braced.end()
        pair = _HEX_PAIR.match(text, index)
        if pair is not None:
            return chr(int(pair.group(), 16)), pair.end()
        raise RegexpError("invalid escape sequence", _bad_hex_escape(text, start))
    if char in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[char], index
    raise RegexpError("invalid escape sequence", text[start:index])


def _bad_hex_escape(text: str, start: int) -> str:
    """Return the text of a `\\x` escape that Go rejects, up to where it stops reading."""
    if not text.startswith("{", start + 2):
        return text[start : start + 4]
    value = 0
    index = start + 3
    while index < len(text):
        char = text[index]
        index += 1
        if char not in "0123456789abcdefABCDEF":
            break
        value = value * 16 + int(char, 16)
        if value > MAX_RUNE:
            break
    return text[start:index]


def _class_char(text: str, index: int, class_start: int) -> tuple[str, int]:
    """Read one character of a bracket expression; the class starts at `class_start`."""
    if index >= len(text):
        raise RegexpError("missing closing ]", text[class_start:])
    if text[index] == "\\":
        return _escaped_char(text, index)
    return text[index], index + 1


def _posix_class(
    text: str, start: int
) -> tuple[tuple[tuple[int, int], ...], int] | None:
    """Read `[:alpha:]` or `[:^alpha:]`; Go ends the name at the first `:]`."""
    end = text.find(":]", start + 2)
    if end < 0:
        return None
    name = text[start + 2 : end]
    negated = name.startswith("^")
    ranges = _POSIX.get(name[1:] if negated else name)
    if ranges is None:
        raise RegexpError("invalid character class range", text[start : end + 2])
    return (tuple(_negate(list(ranges))) if negated else ranges), end + 2


def _class_escape(text: str, start: int) -> tuple[_Members, int] | None:
    """Read `\\pL`, `\\p{Greek}` or a Perl class such as `\\d` at `start`."""
    found = _unicode_class(text, start)
    if found is not None:
        return found
    code = text[start + 1 : start + 2]
    if text.startswith("\\", start) and code and code in "dDsSwW":
        ranges = list(_PERL[code.lower()])
        if code.isupper():
            ranges = _negate(ranges)
        return (ranges, ""), start + 2
    return None


def _unicode_class(text: str, start: int) -> tuple[_Members, int] | None:
    r"""Read `\pL`, `\PL`, `\p{Greek}` or `\p{^Greek}` at `start`."""
    code = text[start + 1 : start + 2]
    if not text.startswith("\\", start) or not code or code not in "pP":
        return None
    negated = code == "P"
    if not text.startswith("{", start + 2):
        end = min(start + 3, len(text))
        name = text[start + 2 : end]
    else:
        brace = text.find("}", start)
        if brace < 0:
            raise RegexpError("invalid character class range", text[start:])
        end = brace + 1
        name = text[start + 3 : brace]
    sequence = text[start:end]
    if name.startswith("^"):
        negated = not negated
        name = name[1:]
    if name != "Any" and name not in _CATEGORIES | _MAJOR_CATEGORIES | _SCRIPTS:
        raise RegexpError("invalid character class range", sequence)
    if name in _SCRIPTS:
        # NOTE: Python's Unicode database has no scripts, so such a class is valid
        # but not evaluated.
        return ([], f"Python has no table of Unicode scripts such as {sequence}"), end
    ranges = _table(name)
    return ((_negate(ranges) if negated else ranges), ""), end


def _table(name: str) -> list[tuple[int, int]]:
    """Return the code points of a Unicode category, or of any character."""
    if name == "Any":
        return [(0, MAX_RUNE)]
    tables = _category_tables()
    if len(name) == 2:
        return tables.get(name, [])
    return _merge(r for key, ranges in tables.items() if key[0] == name for r in ranges)


@functools.cache
def _category_tables() -> dict[str, list[tuple[int, int]]]:
    """Return the ranges of each general category, read once from unicodedata.

    NOTE: Python 3.11 has Unicode 14.0 and Go 1.19 Unicode 13.0, so the characters
    added in 14.0 count in a category here but not in Prometheus.
    """
    tables: dict[str, list[tuple[int, int]]] = {}
    start, current = 0, unicodedata.category("\0")
    for point in range(1, MAX_RUNE + 2):
        category = unicodedata.category(chr(point)) if point <= MAX_RUNE else ""
        if category != current:
            if current in _CATEGORIES:
                tables.setdefault(current, []).append((start, point - 1))
            start, current = point, category
    return tables


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _negate(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    negated = []
    next_start = 0
    for low, high in _merge(ranges):
        if low > next_start:
            negated.append((next_start, low - 1))
        next_start = high + 1
    if next_start <= MAX_RUNE:
        negated.append((next_start, MAX_RUNE))
    return negated


def _class_text(ranges: list[tuple[int, int]]) -> str:
    """Return a Python character class of `ranges`, each character escaped."""
    merged = _merge(ranges)
    if not merged:
        return "(?!)"
    parts = []
    for low, high in merged:
        parts.append(_class_member(low))
        if high > low:
            parts.append("-" + _class_member(high))
    return "[" + "".join(parts) + "]"


def _class_member(point: int) -> str:
    char = chr(point)
    if char.isalnum() and point < 0x80:
        return char
    return f"\\U{point:08x}"


def _unevaluated(nodes: Iterable[_Node]) -> str:
    return next((node.unevaluated for node in nodes if node.unevaluated), "")


def _repeat_need(node: _Node) -> int:
    """Return the least count budget under which Go accepts the counts in `node`.

    Go checks a count of 2 or more against a budget of 1000 copies, divided by each
    count on the way down, and skips what a count of 0 repeats. So the budget must
    be at least the largest product of counts on a path. The result stops at one
    more than the limit.
    """
    need = max((sub.need for sub in node.subs), default=0)
    if node.kind != "repeat":
        return need
    count = node.maximum if node.maximum >= 0 else node.minimum
    if count == 0:
        return 0
    return min(count * max(need, 1), MAX_REPEAT + 1)


def _size(node: _Node) -> int:
    """Estimate the instructions that Go compiles `node` to, as its parser counts them."""
    subs = [sub.size for sub in node.subs]
    if node.kind == "literal":
        size = node.runes
    elif node.kind in ("group", "star"):
        size = 2 + subs[0]
    elif node.kind in ("plus", "quest"):
        size = 1 + subs[0]
    elif node.kind == "concat":
        size = sum(subs)
    elif node.kind == "alternate":
        size = sum(subs) + len(subs) - 1
    elif node.kind == "repeat":
        if node.maximum < 0:
            size = 2 + subs[0] if node.minimum == 0 else 1 + node.minimum * subs[0]
        else:
            size = node.maximum * subs[0] + node.maximum - node.minimum
    else:
        size = 1
    return max(size, 1)


@functools.lru_cache(maxsize=4096)
def _parsed(pattern: str) -> _Node:
    """Parse `pattern` as Prometheus does, anchored and on its own; raise RegexpError."""
    _Parser(f"^(?:{pattern})$").parse()
    return _Parser(pattern).parse()


def regexp_problem(pattern: str) -> str | None:
    """Return why Prometheus 2.42 rejects `pattern` as a matcher regex, or None."""
    try:
        _parsed(pattern)
    except RegexpError as exc:
        return str(exc)
    return None


def matches_empty(pattern: str) -> bool:
    """Return whether a regex that Prometheus accepts matches the empty string."""
    return _parsed(pattern).nullable


def python_pattern(pattern: str) -> str:
    """Return a pattern for Python's `re` that matches what Go's `pattern` matches.

    Go's flags, ASCII classes and escapes are written out, so the result reads the
    same under any flags. Raises RegexpError for a regex that Go rejects, and
    UnevaluatedClass for one with a Unicode script class.
    """
    node = _parsed(pattern)
    if node.unevaluated:
        raise UnevaluatedClass(node.unevaluated)
    return node.python
