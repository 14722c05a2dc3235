"""Identifiers, exposed series names and source literals for generated metric modules.

Every string from a manifest reaches generated code through `python_string` or
`typescript_string`, which return complete literals, so no manifest text is ever
placed between quotes by a template.
"""

from __future__ import annotations

import json
import keyword
import math
import re

from obscompile.model.metric import Metric, MetricType
from obscompile.model.service import Runtime

# The lowercase public names of Python 3.11's builtins module, including the ones that
# the site module adds (`exit`, `help`, ...). The list is fixed here rather than read
# from `builtins` so that generated code does not depend on the Python version that
# runs the compiler. A generated constant with one of these names would shadow it.
PYTHON_BUILTINS = frozenset(
    {
        "abs", "aiter", "all", "anext", "any", "ascii", "bin", "bool", "breakpoint",
        "bytearray", "bytes", "callable", "chr", "classmethod", "compile", "complex",
        "copyright", "credits", "delattr", "dict", "dir", "divmod", "enumerate", "eval",
        "exec", "exit", "filter", "float", "format", "frozenset", "getattr", "globals",
        "hasattr", "hash", "help", "hex", "id", "input", "int", "isinstance",
        "issubclass", "iter", "len", "license", "list", "locals", "map", "max",
        "memoryview", "min", "next", "object", "oct", "open", "ord", "pow", "print",
        "property", "quit", "range", "repr", "reversed", "round", "set", "setattr",
        "slice", "sorted", "staticmethod", "str", "sum", "super", "tuple", "type",
        "vars", "zip",
    }
)  # fmt: skip

# Module-level names that the generated metrics.py binds or imports itself.
PYTHON_MODULE_NAMES = frozenset(
    {"prometheus_client", "registry", "start_metrics_server", "threading", "wsgiref"}
)

# The parameters of prometheus_client's `labels(self, *labelvalues, **labelkwargs)`
# (0.26) that a keyword argument binds to. A label of that name cannot be passed by
# keyword, not even as `.labels(**{"self": ...})`, which raises TypeError.
PYTHON_LABELS_PARAMETERS = frozenset({"self"})

# ECMAScript reserved words, the words reserved in strict mode (every ES module is
# strict), and names that cannot be redeclared at the top level of a TypeScript module
# compiled to CommonJS or that the generated code itself uses.
TYPESCRIPT_RESERVED = frozenset(
    {
        "await", "break", "case", "catch", "class", "const", "continue", "debugger",
        "default", "delete", "do", "else", "enum", "export", "extends", "false",
        "finally", "for", "function", "if", "import", "in", "instanceof", "new", "null",
        "return", "super", "switch", "this", "throw", "true", "try", "typeof", "var",
        "void", "while", "with", "yield",
        "implements", "interface", "let", "package", "private", "protected", "public",
        "static",
        "arguments", "eval", "undefined", "globalThis", "require", "exports", "module",
        "__dirname", "__filename", "console", "process",
        "client", "http", "register", "startMetricsServer",
    }
)  # fmt: skip

# Word boundaries inside camelCase and PascalCase names: "httpRequests", "HTTPServer".
_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

# The sample-name suffixes that each client library's registry reserves for a metric
# family, after the family name itself (prometheus_client 0.26, prom-client 15.1).
_PYTHON_SUFFIXES = {
    MetricType.COUNTER: ("_total", "_created"),
    MetricType.GAUGE: (),
    MetricType.HISTOGRAM: ("_bucket", "_sum", "_count", "_created"),
    MetricType.SUMMARY: ("_sum", "_count", "_created"),
    MetricType.INFO: ("_info",),
}
_NODEJS_SUFFIXES = {
    MetricType.COUNTER: (),
    MetricType.GAUGE: (),
    MetricType.HISTOGRAM: ("_bucket", "_sum", "_count"),
    MetricType.SUMMARY: ("_sum", "_count"),
    # prom-client declares an info metric as a gauge that already carries "_info".
    MetricType.INFO: (),
}


def family_name(metric: Metric) -> str:
    """Return the metric's name as the `# TYPE` line of the text exposition shows it.

    Counters gain `_total` and info metrics gain `_info`, as prometheus_client adds
    them. prom-client adds neither, so the TypeScript declaration uses this name.
    """
    if metric.type == MetricType.COUNTER and not metric.name.endswith("_total"):
        return f"{metric.name}_total"
    if metric.type == MetricType.INFO:
        return f"{metric.name}_info"
    return metric.name


def registered_names(metric: Metric, runtime: Runtime) -> frozenset[str]:
    """Return every name that the runtime's registry reserves for the metric.

    Two metrics whose sets overlap cannot be registered together: prometheus_client
    raises "Duplicated timeseries", prom-client "has already been registered".
    """
    if runtime == Runtime.PYTHON:
        base = metric.name
        if metric.type == MetricType.COUNTER and base.endswith("_total"):
            base = base.removesuffix("_total")
        suffixes = _PYTHON_SUFFIXES[MetricType(metric.type)]
    else:
        base = family_name(metric)
        suffixes = _NODEJS_SUFFIXES[MetricType(metric.type)]
    return frozenset({base, *(base + suffix for suffix in suffixes)})


def expand_families(
    families: tuple[tuple[str, MetricType], ...], runtime: Runtime
) -> frozenset[str]:
    """Return the names that a registry reserves for families given by name and type."""
    names: set[str] = set()
    for name, metric_type in families:
        names |= registered_names(Metric(name, metric_type), runtime)
    return frozenset(names)


def python_identifier(metric: Metric) -> str:
    """Return the snake_case name of the metric's constant in metrics.py.

    The name follows `family_name`. Colons become underscores and camelCase humps
    become words. A keyword, a builtin or a name that the module binds itself gets
    a trailing underscore (`class_`), and a dunder name gets `metric` appended so
    that it cannot replace a module attribute such as `__name__`.
    """
    name = _HUMP.sub("_", family_name(metric).replace(":", "_")).lower()
    if len(name) > 4 and name.startswith("__") and name.endswith("__"):
        return f"{name}metric"
    if (
        keyword.iskeyword(name)
        or name in PYTHON_BUILTINS
        or name in PYTHON_MODULE_NAMES
    ):
        return f"{name}_"
    return name


def keyword_label_allowed(label: str) -> bool:
    """Return whether `label` can be passed to prometheus_client's `.labels()` by keyword.

    A keyword argument needs an identifier that is no keyword and not `__debug__`, and
    a name that the method's own parameters do not take.
    """
    return (
        label.isidentifier()
        and not keyword.iskeyword(label)
        and label != "__debug__"
        and label not in PYTHON_LABELS_PARAMETERS
    )


def typescript_identifier(metric: Metric) -> str:
    """Return the camelCase name of the metric's exported constant in metrics.ts.

    The name follows `family_name`, keeps its leading underscores and joins the
    words between underscores, colons and camelCase humps. A reserved word or a name
    that the module uses itself gets a trailing underscore (`delete_`).
    """
    text = family_name(metric).replace(":", "_")
    body = text.lstrip("_")
    prefix = text[: len(text) - len(body)]
    words = [word.lower() for word in _HUMP.sub("_", body).split("_") if word]
    name = (
        prefix + "".join(words[:1]) + "".join(word.capitalize() for word in words[1:])
    )
    if name in TYPESCRIPT_RESERVED:
        return f"{name}_"
    return name


def python_string(text: str) -> str:
    """Return an ASCII-only Python string literal whose value is `text`.

    The quote character is the one ruff format picks: double quotes unless the text
    contains more double than single quotes. Every character outside printable ASCII
    becomes a `\\x`, `\\u` or `\\U` escape, so a file with such literals is plain ASCII.
    """
    quote = "'" if text.count('"') > text.count("'") else '"'
    parts = []
    for char in text:
        code = ord(char)
        if char in (quote, "\\"):
            parts.append("\\" + char)
        elif char == "\n":
            parts.append("\\n")
        elif char == "\r":
            parts.append("\\r")
        elif char == "\t":
            parts.append("\\t")
        elif 0x20 <= code < 0x7F:
            parts.append(char)
        elif code <= 0xFF:
            parts.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            parts.append(f"\\u{code:04x}")
        else:
            parts.append(f"\\U{code:08x}")
    return quote + "".join(parts) + quote


def typescript_string(text: str) -> str:
    """Return an ASCII-only TypeScript string literal whose value is `text`.

    JSON strings are valid ECMAScript string literals, and `ensure_ascii` also
    escapes U+2028 and U+2029, which older parsers reject inside literals.
    """
    return json.dumps(text, ensure_ascii=True)


def python_number(value: float) -> str:
    """Return a Python float literal for a finite bucket bound (`0.05`, `10.0`)."""
    if not math.isfinite(value):
        raise ValueError(
            f"bucket bound {value!r} has no literal; expected a finite number"
        )
    return repr(float(value))


def typescript_number(value: float) -> str:
    """Return a TypeScript number literal for a finite bucket bound (`0.05`, `10`)."""
    if not math.isfinite(value):
        raise ValueError(
            f"bucket bound {value!r} has no literal; expected a finite number"
        )
    number = float(value)
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return repr(number)
