"""Go's `fmt` formatting of the values that alert templates print (Go 1.19).

`go_value` and `go_g` format a float64 as `%v` and `%.Ng` do. `sprintf` follows
`fmt.Sprintf` (`pp.doPrintf`), and `sprint` follows `fmt.Sprint`. A template value
is a Python `float` (Go's float64), `int`, `str` or `bool`.

`sprintf` formats every verb of these types (`%v %T %t %d %b %c %o %O %q %U %x %X
%e %E %f %F %g %G %s`), with the flags `#-+ 0`, widths and precisions, `*` and
argument indexes `[n]`. It writes Go's texts for a wrong verb (`%!d(float64=1.5)`), a
missing or unused operand (`%!d(MISSING)`, `%!(EXTRA int=2)`), a bad index, width or
precision and a missing verb. It raises `UnsupportedFormat` for a width, precision
or index above 1000000.
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal


class Stringer:
    """A value of a Go type whose `String` method prints it, such as `*time.Time`.

    `fmt` prints it with `String` for the verbs %v, %s, %q, %x and %X, and other
    verbs are not evaluated.
    """

    @property
    def type_name(self) -> str:
        raise NotImplementedError

    def text(self) -> str:
        raise NotImplementedError


class Int64(int):
    """A Go `int64`, which `fmt` prints as an `int` but names otherwise."""


class NamedInt(int):
    """An integer of a named Go type with a `String` method, such as `time.Month`.

    `fmt` prints it with `String` for %v, %s, %q, %x and %X, and as an integer for
    the other verbs.
    """

    def __new__(cls, value: int, type_name: str, name: str) -> NamedInt:
        number = super().__new__(cls, value)
        number.type_name = type_name
        number.name = name
        return number

    type_name: str
    name: str


GoValue = float | int | str | bool | Stringer

# The verbs for which `fmt` calls a `String` method.
_STRINGER_VERBS = "vsqxX"


class UnsupportedFormat(ValueError):
    """The format uses a part of Go's `fmt` that `sprintf` does not follow."""


def go_g(value: float, precision: int) -> str:
    """Format like Go's `%.{precision}g`, which agrees with C's and Python's `%g`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"%.{precision}g" % value


def go_value(value: float) -> str:
    """Format like Go's `%v` for a float64 (`strconv.FormatFloat(v, 'g', -1, 64)`)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    point = len(text) + int(exponent)  # digits before the decimal point
    decimal_exponent = point - 1
    prefix = "-" if sign else ""
    if decimal_exponent < -4 or decimal_exponent >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        exponent_sign = "-" if decimal_exponent < 0 else "+"
        return f"{prefix}{mantissa}e{exponent_sign}{abs(decimal_exponent):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{prefix}{text}{'0' * (point - len(text))}"
    return f"{prefix}{text[:point]}.{text[point:]}"


def type_name(value: GoValue) -> str:
    """Return the Go type of a template value, as `%!verb(TYPE=...)` names it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (Stringer, NamedInt)):
        return value.type_name
    if isinstance(value, Int64):
        return "int64"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    return "string"


def value_text(value: GoValue) -> str:
    """Format a value as Go's `%v` does."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_value(value)
    if isinstance(value, Stringer):
        return value.text()
    if isinstance(value, NamedInt):
        return value.name
    return str(value)


def sprint(values: list[GoValue]) -> str:
    """Join values as `fmt.Sprint` does: a space goes between two non-strings."""
    pieces = []
    for index, value in enumerate(values):
        if (
            index
            and not isinstance(value, str)
            and not isinstance(values[index - 1], str)
        ):
            pieces.append(" ")
        pieces.append(value_text(value))
    return "".join(pieces)


# The largest width, precision or argument index that `sprintf` evaluates. Go's `fmt`
# takes no `*` operand above it (`tooLarge`).
_MAX_NUMBER = 10**6
_MAX_RUNE = 0x10FFFF
_UINT64 = 2**64 - 1
_REPLACEMENT = 0xFFFD


class _Format:
    """The flags, width and precision of one `%` directive, as Go's `fmt` keeps them."""

    def __init__(self) -> None:
        self.sharp = False
        self.zero = False
        self.plus = False
        self.minus = False
        self.space = False
        # Set for %#v, which quotes a string. Go clears # and + for a %v directive.
        self.sharp_v = False
        self.width: int | None = None
        self.precision: int | None = None

    def padding(self, count: int, zero: bool) -> str:
        return ("0" if zero else " ") * max(count, 0)

    def pad(self, text: str, zero: bool | None = None) -> str:
        """Pad `text` to the width in characters, with zeros where the 0 flag is set.

        The - flag pads on the right, with spaces because it clears the 0 flag.
        """
        if not self.width:
            return text
        fill = self.padding(self.width - len(text), self.zero if zero is None else zero)
        return text + fill if self.minus else fill + text

    def truncate(self, text: str) -> str:
        return text if self.precision is None else text[: self.precision]


def _is_print(code: int) -> bool:
    """Return True where Go's `strconv.IsPrint` is true.

    NOTE: Python's Unicode tables may be newer than Go 1.19's (Unicode 13), so a
    character assigned since then counts as printable here and not in Go.
    """
    return code <= _MAX_RUNE and chr(code).isprintable()


def _escaped_rune(code: int, quote: str, ascii_only: bool) -> str:
    """Escape one character as Go's `strconv` quoting does."""
    char = chr(code)
    if char in (quote, "\\"):
        return "\\" + char
    if (code < 0x80 or not ascii_only) and _is_print(code):
        return char
    named = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}
    if code in named:
        return named[code]
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if 0xD800 <= code <= 0xDFFF:
        code = _REPLACEMENT
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _quote(text: str, quote: str, ascii_only: bool) -> str:
    return (
        quote
        + "".join(_escaped_rune(ord(char), quote, ascii_only) for char in text)
        + quote
    )


def _can_backquote(text: str) -> bool:
    """Return True where Go's `strconv.CanBackquote` is true."""
    return not any(
        (char < " " and char != "\t") or char in "`\x7f\ufeff" for char in text
    )


def _rune(value: int) -> int:
    """Return the character of an int, or U+FFFD where it is not a character, as Go does."""
    code = value & _UINT64
    if code > _MAX_RUNE or 0xD800 <= code <= 0xDFFF:
        return _REPLACEMENT
    return code


def _format_integer(spec: _Format, value: int, base: int, verb: str) -> str:
    """Format an int as Go's `fmt.fmtInteger` does."""
    negative = value < 0
    magnitude = -value if negative else value
    precision = 0
    if spec.precision is not None:
        precision = spec.precision
        if precision == 0 and magnitude == 0:
            # Go prints no digits then, only the padding.
            return spec.padding(spec.width or 0, zero=False)
    elif spec.zero and spec.width is not None:
        precision = spec.width
        if negative or spec.plus or spec.space:
            precision -= 1

    digits = {2: "b", 8: "o", 10: "d", 16: "x"}[base]
    text = format(magnitude, digits)
    if verb == "X":
        text = text.upper()
    text = text.rjust(precision, "0")

    if spec.sharp:
        if base == 2:
            text = "0b" + text
        elif base == 8 and not text.startswith("0"):
            text = "0" + text
        elif base == 16:
            text = ("0X" if verb == "X" else "0x") + text
    if verb == "O":
        text = "0o" + text

    if negative:
        text = "-" + text
    elif spec.plus:
        text = "+" + text
    elif spec.space:
        text = " " + text
    return spec.pad(text, zero=False)


def _format_unicode(spec: _Format, value: int) -> str:
    """Format an int as `%U` does: U+0041, with ` 'A'` after it for `%#U`."""
    code = value & _UINT64
    precision = max(4, spec.precision or 0)
    text = "U+" + format(code, "X").rjust(precision, "0")
    if spec.sharp and _is_print(code):
        text += f" '{chr(code)}'"
    return spec.pad(text, zero=False)


def _format_int(spec: _Format, value: int, verb: str) -> str | None:
    """Format an int for `verb`, or return None where the verb takes no int."""
    bases = {"v": 10, "d": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}
    if verb in bases:
        return _format_integer(spec, value, bases[verb], verb)
    if verb == "c":
        return spec.pad(chr(_rune(value)))
    if verb == "q":
        code = _rune(value)
        return spec.pad(_quote(chr(code), "'", ascii_only=spec.plus))
    if verb == "U":
        return _format_unicode(spec, value)
    return None


def _binary_float(value: float) -> tuple[int, int]:
    """Return the mantissa and exponent of a finite float as Go's strconv reads them.

    The value is `mantissa * 2**(exponent - 52)`, with the implicit bit in the
    mantissa of a normal number.
    """
    bits = struct.unpack("<Q", struct.pack("<d", abs(value)))[0]
    exponent = (bits >> 52) & 0x7FF
    mantissa = bits & (2**52 - 1)
    if exponent == 0:
        exponent = 1
    else:
        mantissa |= 2**52
    return mantissa, exponent - 1023


def _hex_float(value: float, precision: int, verb: str) -> str:
    """Format a finite float as Go's `strconv` does for `%x`: -0x1.8p+01."""
    mantissa, exponent = _binary_float(value)
    if mantissa == 0:
        exponent = 0
    # Move the leading 1 to bit 60.
    mantissa <<= 8
    while mantissa and not mantissa & (1 << 60):
        mantissa <<= 1
        exponent -= 1

    if 0 <= precision < 15:
        shift = precision * 4
        extra = (mantissa << shift) & ((1 << 60) - 1)
        mantissa >>= 60 - shift
        if extra | (mantissa & 1) > 1 << 59:
            mantissa += 1
        mantissa <<= 60 - shift
        if mantissa & (1 << 61):
            mantissa >>= 1
            exponent += 1

    digits = "0123456789abcdef"
    text = "-" if math.copysign(1, value) < 0 else ""
    text += "0x" + str((mantissa >> 60) & 1)
    # Go shifts a uint64, so each shift drops the digit above bit 63.
    mantissa = (mantissa << 4) & _UINT64
    fraction = ""
    while (precision < 0 and mantissa) or len(fraction) < precision:
        fraction += digits[(mantissa >> 60) & 15]
        mantissa = (mantissa << 4) & _UINT64
    if fraction:
        text += "." + fraction

    sign = "-" if exponent < 0 else "+"
    text += f"p{sign}{abs(exponent):02d}"
    return text.upper() if verb == "X" else text


def _binary_exponent_float(value: float) -> str:
    """Format a finite float as Go's `%b` does: 4503599627370496p-52."""
    mantissa, exponent = _binary_float(value)
    exponent -= 52
    sign = "-" if math.copysign(1, value) < 0 else ""
    return f"{sign}{mantissa}p{'+' if exponent >= 0 else ''}{exponent}"


def _float_text(value: float, verb: str, precision: int) -> str:
    """Format a float as Go's `strconv.AppendFloat` does, with its sign."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if verb == "b":
        return _binary_exponent_float(value)
    if verb in "xX":
        return _hex_float(value, precision, verb)
    if precision < 0:
        digits = go_value(abs(value))
        if verb == "G":
            digits = digits.upper()
        return ("-" if math.copysign(1, value) < 0 else "") + digits
    return f"%.{precision}{verb}" % value


def _sharp_float(number: str, verb: str, precision: int) -> str:
    """Apply the # flag to a signed number as Go's `fmt.fmtFloat` does.

    The number keeps its decimal point, and `%#g`, `%#G` and `%#x` (but not `%#X`)
    get trailing zeros up to the precision, 6 by default. Go counts the x of `0x`
    as a digit.
    """
    digits = 0
    if verb in "vgGx":
        digits = 6 if precision == -1 else precision
    tail = ""
    has_point = False
    seen_nonzero = False
    index = 1
    while index < len(number):
        char = number[index]
        if char == ".":
            has_point = True
        elif char in "pP" or (char in "eE" and verb not in "xX"):
            tail = number[index:]
            number = number[:index]
            break
        else:
            if char != "0":
                seen_nonzero = True
            if seen_nonzero:
                digits -= 1
        index += 1
    if not has_point:
        if number[1:] == "0":
            digits -= 1
        number += "."
    return number + "0" * max(digits, 0) + tail


def _format_float(spec: _Format, value: float, verb: str) -> str | None:
    """Format a float for `verb`, or return None where the verb takes no float."""
    defaults = {"v": ("g", -1), "F": ("f", 6)}
    defaults.update({v: (v, -1) for v in "bgGxX"})
    defaults.update({v: (v, 6) for v in "feE"})
    if verb not in defaults:
        return None
    verb, precision = defaults[verb]
    if spec.precision is not None:
        precision = spec.precision
    number = _float_text(value, verb, precision)
    if number[0] not in "+-":
        number = "+" + number
    if spec.space and number[0] == "+" and not spec.plus:
        number = " " + number[1:]
    if number[1] in "IN":
        # Go pads infinities and NaN with spaces, and shows NaN's sign only on request.
        if number[1] == "N" and not spec.space and not spec.plus:
            number = number[1:]
        return spec.pad(number, zero=False)
    if spec.sharp and verb != "b":
        number = _sharp_float(number, verb, precision)
    if spec.plus or number[0] != "+":
        if spec.zero and spec.width is not None and spec.width > len(number):
            return number[0] + "0" * (spec.width - len(number)) + number[1:]
        return spec.pad(number)
    return spec.pad(number[1:])


def _format_hex_string(spec: _Format, value: str, verb: str) -> str:
    """Format a string's UTF-8 bytes in hex as Go's `fmt.fmtSbx` does."""
    data = value.encode("utf-8")
    if spec.precision is not None:
        data = data[: spec.precision]
    if not data:
        return spec.padding(spec.width or 0, spec.zero)
    prefix = "0X" if verb == "X" else "0x"
    pieces = [f"{byte:02X}" if verb == "X" else f"{byte:02x}" for byte in data]
    if spec.space:
        text = " ".join((prefix if spec.sharp else "") + piece for piece in pieces)
    else:
        text = (prefix if spec.sharp else "") + "".join(pieces)
    return spec.pad(text)


def _format_string(spec: _Format, value: str, verb: str) -> str | None:
    """Format a string for `verb`, or return None where the verb takes no string."""
    if verb in "vq" and (verb == "q" or spec.sharp_v):
        value = spec.truncate(value)
        if spec.sharp and _can_backquote(value):
            return spec.pad("`" + value + "`")
        return spec.pad(_quote(value, '"', ascii_only=spec.plus))
    if verb in "vs":
        return spec.pad(spec.truncate(value))
    if verb in "xX":
        return _format_hex_string(spec, value, verb)
    return None


def _format_value(
    spec: _Format, value: GoValue, verb: str, methods: bool = True
) -> str:
    """Format one operand as Go's `printArg` does, with `%!d(...)` for a wrong verb.

    `methods` is False inside that `%!d(...)`, where Go calls no `String` method.
    """
    if verb == "T":
        return spec.pad(spec.truncate(type_name(value)))
    stringer = isinstance(value, (Stringer, NamedInt))
    if stringer and methods and verb in _STRINGER_VERBS and not spec.sharp_v:
        formatted = _format_string(spec, value_text(value), verb)
        assert formatted is not None, "every verb of _STRINGER_VERBS formats a string"
        return formatted
    if isinstance(value, Stringer):
        raise UnsupportedFormat(
            f"printf %{verb} of a {type_name(value)} is not evaluated"
        )
    text: str | None = None
    if isinstance(value, bool):
        if verb in "tv":
            text = spec.pad(value_text(value))
    elif isinstance(value, int):
        text = _format_int(spec, value, verb)
    elif isinstance(value, float):
        text = _format_float(spec, value, verb)
    else:
        text = _format_string(spec, value, verb)
    if text is None:
        # Go prints the operand with %v and the directive's flags.
        operand = _format_value(spec, value, "v", methods=False)
        text = f"%!{verb}({type_name(value)}={operand})"
    return text


def _parse_number(template: str, start: int) -> tuple[int | None, int]:
    """Read decimal digits as Go's `parsenum` does, and return None for none."""
    end = start
    while end < len(template) and template[end].isdigit() and template[end].isascii():
        end += 1
    if end == start:
        return None, start
    if end - start > 7 or int(template[start:end]) > _MAX_NUMBER:
        # Go reads numbers up to about ten million, and skips the rest of the format
        # after a longer one. Neither is evaluated here.
        raise UnsupportedFormat(
            f"printf number {template[start:end]} above {_MAX_NUMBER} is not evaluated"
        )
    return int(template[start:end]), end


class _Printf:
    """Format operands as Go's `fmt.Sprintf` does (`pp.doPrintf`)."""

    def __init__(self, template: str, operands: list[GoValue]) -> None:
        self.template = template
        self.operands = operands
        self.argument = 0
        self.reordered = False
        self.good_index = True
        self.pieces: list[str] = []

    def index(self, position: int) -> tuple[int, bool]:
        """Read an argument index `[n]` at `position`, and return its end and if found."""
        if not self.template.startswith("[", position):
            return position, False
        self.reordered = True
        close = self.template.find("]", position + 1)
        if len(self.template) - position < 3 or close < 0:
            self.good_index = False
            return position + 1, False
        number, end = _parse_number(self.template, position + 1)
        if number is None or end != close:
            self.good_index = False
            return close + 1, False
        if 1 <= number <= len(self.operands):
            self.argument = number - 1
            return close + 1, True
        self.good_index = False
        return close + 1, True

    def star(self) -> int | None:
        """Take a `*` width or precision from the next operand, which must be an int."""
        if self.argument >= len(self.operands):
            return None
        operand = self.operands[self.argument]
        self.argument += 1
        if isinstance(operand, bool) or not isinstance(operand, int):
            return None
        return operand if abs(operand) <= _MAX_NUMBER else None

    def run(self) -> str:
        template = self.template
        end = len(template)
        position = 0
        while position < end:
            self.good_index = True
            start = template.find("%", position)
            if start < 0:
                self.pieces.append(template[position:])
                break
            self.pieces.append(template[position:start])
            position = self.directive(start + 1)
        if not self.reordered and self.argument < len(self.operands):
            extra = ", ".join(
                f"{type_name(value)}={_format_value(_Format(), value, 'v')}"
                for value in self.operands[self.argument :]
            )
            self.pieces.append(f"%!(EXTRA {extra})")
        return "".join(self.pieces)

    def directive(self, position: int) -> int:
        """Format one directive whose flags start at `position`, and return its end."""
        spec = _Format()
        position = _read_flags(self.template, position, spec)
        position, after_index = self.index(position)
        position, after_index = self.width(spec, position, after_index)
        if position + 1 < len(self.template) and self.template[position] == ".":
            position, after_index = self.precision(spec, position + 1, after_index)
        if not after_index:
            position, after_index = self.index(position)
        if position >= len(self.template):
            self.pieces.append("%!(NOVERB)")
            return position

        verb = self.template[position]
        if verb == "%":
            self.pieces.append("%")
        elif not self.good_index:
            self.pieces.append(f"%!{verb}(BADINDEX)")
        elif self.argument >= len(self.operands):
            self.pieces.append(f"%!{verb}(MISSING)")
        else:
            if verb == "v":
                spec.sharp_v, spec.sharp = spec.sharp, False
                spec.plus = False
            self.pieces.append(_format_value(spec, self.operands[self.argument], verb))
            self.argument += 1
        return position + 1

    def width(
        self, spec: _Format, position: int, after_index: bool
    ) -> tuple[int, bool]:
        """Read a width, digits or `*`, and return where it ends and if an index did."""
        if not self.template.startswith("*", position):
            spec.width, position = _parse_number(self.template, position)
            if after_index and spec.width is not None:
                # Go takes no width after an index: "%[3]2d".
                self.good_index = False
            return position, after_index
        spec.width = self.star()
        if spec.width is None:
            self.pieces.append("%!(BADWIDTH)")
        elif spec.width < 0:
            spec.width = -spec.width
            spec.minus = True
            spec.zero = False
        return position + 1, False

    def precision(
        self, spec: _Format, position: int, after_index: bool
    ) -> tuple[int, bool]:
        """Read a precision after its dot, and return where it ends and if an index did."""
        if after_index:
            # Go takes no precision after an index: "%[3].2d".
            self.good_index = False
        position, after_index = self.index(position)
        if not self.template.startswith("*", position):
            number, position = _parse_number(self.template, position)
            spec.precision = 0 if number is None else number
            return position, after_index
        spec.precision = self.star()
        if spec.precision is not None and spec.precision < 0:
            spec.precision = None
        if spec.precision is None:
            self.pieces.append("%!(BADPREC)")
        return position + 1, False


def _read_flags(template: str, position: int, spec: _Format) -> int:
    """Set the flags of `spec` from `template` at `position`, and return their end."""
    while position < len(template) and template[position] in "#0+- ":
        flag = template[position]
        if flag == "#":
            spec.sharp = True
        elif flag == "0":
            # Go pads with zeros on the left only.
            spec.zero = not spec.minus
        elif flag == "+":
            spec.plus = True
        elif flag == "-":
            spec.minus = True
            spec.zero = False
        else:
            spec.space = True
        position += 1
    return position


def sprintf(template: str, operands: list[GoValue]) -> str:
    """Format operands as Go's `fmt.Sprintf` does, with the verbs that the module lists."""
    return _Printf(template, operands).run()
