"""The Python API for writing services, and the registry of reusable building blocks.

The constructors build the same frozen model classes as the YAML loader, validate
their arguments when called, and record the caller's file and line on every node, so
an error in a service module points at the user's code::

    from obscompile import dsl

    dsl.service(
        "payments",
        scrape=dsl.scrape_job("payments", port=8080),
        metrics=dsl.http_metrics(),
        rows=[dsl.use("http_api_health", job="payments")],
    )

Calling `service()` while obscompile loads a module registers the service; a
module may define several.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import copy
import difflib
import functools
import inspect
import linecache
import math
import os
import re
import signal
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import CodeType, FrameType
from typing import Any, TypeVar

import attrs

from obscompile import promql
from obscompile.diagnostics import (
    Diagnostic,
    ObscompileError,
    ProcessExit,
    exception_message,
    exception_text,
    shorten,
    stops_the_command,
    warning,
)
from obscompile.load.durations import (
    DURATION_PATTERN,
    NOT_A_DURATION,
    duration_problem,
)
from obscompile.load.manifest import derive_uid, service_key
from obscompile.load.schema import (
    ALERT_NAME_HINT,
    ALERT_NAME_PATTERN,
    BUCKETS,
    DURATION,
    JOB_PATTERN,
    METRIC_NAME_PATTERN,
    REFRESH_HINT,
    REFRESH_PATTERN,
    SERVICE_KEY_HINT,
    SERVICE_KEY_PATTERN,
    SERVICE_NAME_MAX,
    THRESHOLDS,
    TIME_HINT,
    TIME_PATTERN,
    UID_HINT,
    UID_MAX,
    UID_PATTERN,
)
from obscompile.load.thresholds import (
    ThresholdError,
    colour_warnings,
    parse_shorthand,
    parse_structured,
)
from obscompile.load.validate import (
    dotted,
    ends_with_line_break,
    integer_problem,
    quoted,
    suggest,
    value_problems,
)
from obscompile.model.location import BlockUse, Location
from obscompile.model.metric import Metric, MetricType
from obscompile.model.panel import Panel, PanelAlert, PanelType, Row
from obscompile.model.scrape import Probe, ScrapeJob
from obscompile.model.service import (
    AlertSettings,
    Dashboard,
    Runtime,
    Service,
    with_runtime_naming,
)
from obscompile.model.threshold import Thresholds
from obscompile.numbers import number_text

_PACKAGE_DIR = str(Path(__file__).resolve().parent)
# Folders of the Python installation: frames there are library code, not the user's.
_LIBRARY_DIRS = tuple(
    str(Path(path).resolve())
    for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (path := sysconfig.get_paths().get(key))
)
_UID = re.compile(UID_PATTERN)
_REFRESH = re.compile(REFRESH_PATTERN)
_TIME = re.compile(TIME_PATTERN)
# The manifest's durations: Prometheus' grammar without its bare "0".
_MANIFEST_DURATION = re.compile(str(DURATION["pattern"]))
_METRIC_NAME = re.compile(METRIC_NAME_PATTERN)
_JOB_NAME = re.compile(JOB_PATTERN)
_ALERT_NAME = re.compile(ALERT_NAME_PATTERN)
_SERVICE_KEY = re.compile(SERVICE_KEY_PATTERN)


class DSLError(ObscompileError, ValueError):
    """A DSL constructor got an invalid argument; `location` is the caller's line."""

    def __init__(self, message: str, location: Location) -> None:
        super().__init__(message)
        self.location = location


class _UnclosableStream:
    """A text stream that passes every call to `stream` except close(), which flushes.

    User code that closes sys.stdout or sys.stderr would otherwise close the stream
    that the build writes its diagnostics to.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def close(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def output_to_stderr() -> Iterator[None]:
    """Send what user code writes to standard output to standard error instead.

    Standard output carries only the diagnostics that --format json or github
    writes, so neither a print() nor a child process that writes to file
    descriptor 1 may add to it. `sys.stdout` and `sys.stderr` get their own objects
    back afterwards, also when user code closed or replaced them.

    NOTE: user code that closes the binary buffer of either stream, or file
    descriptor 1 or 2, still closes the build's output.
    """
    stdout, stderr = sys.stdout, sys.stderr
    stdout.flush()
    try:
        saved: int | None = os.dup(1)
    except OSError:  # no file descriptor 1 to save
        saved = None
    if saved is not None:
        os.dup2(2, 1)
    shared = _UnclosableStream(stderr)
    sys.stdout = sys.stderr = shared  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = stdout, stderr
        stderr.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


# The signals whose handlers `keeping_process_settings` restores.
_HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def keeping_process_settings() -> Iterator[None]:
    """Restore the recursion limit and the handlers of SIGINT and SIGTERM afterwards.

    User code may change them for its own needs, but a low recursion limit would
    fail the rest of the build, and an ignored SIGINT would keep Ctrl-C from
    stopping it.
    """
    limit = sys.getrecursionlimit()
    handlers = {number: signal.getsignal(number) for number in _HANDLED_SIGNALS}
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)
        # Only the main thread may set a handler, and only there could user code
        # have changed one.
        if threading.current_thread() is threading.main_thread():
            for number, handler in handlers.items():
                if handler is not None and signal.getsignal(number) != handler:
                    signal.signal(number, handler)


# The functions of `os` that end or replace the process.
PROCESS_EXIT_FUNCTIONS = (
    "_exit",
    "abort",
    "execl",
    "execle",
    "execlp",
    "execlpe",
    "execv",
    "execve",
    "execvp",
    "execvpe",
)


# Seconds that the threads a module or block started get to end once it returns.
# NOTE: a guess. A thread that runs longer is an error, but may still end the build's
# process later, when the functions of `os` are the real ones again. So may a thread
# of code that raised, which is not waited for.
THREAD_END_SECONDS = 2.0


@contextlib.contextmanager
def raise_on_process_exit() -> Iterator[None]:
    """Make the functions of `os` that would end this process raise ProcessExit.

    A module or block that calls os._exit() would otherwise end the build at once,
    with no message, no output and the exit code it chose. A child process that the
    user's code forks calls the real functions, because it has to end by them.

    A thread that the code starts raises ProcessExit in its own frames, where Python
    would print it and carry on. So the first exception that such a thread does not
    catch is raised here once the code returns, after its threads end. A thread still
    running `THREAD_END_SECONDS` after the code returned raises ProcessExit too.

    NOTE: A signal that user code sends to its own process, and a function that it
    took from `os` or `posix` before this call, still end the process.
    """
    pid = os.getpid()
    saved = {
        name: getattr(os, name) for name in PROCESS_EXIT_FUNCTIONS if hasattr(os, name)
    }
    before = set(threading.enumerate())
    failures: list[BaseException] = []
    previous_hook = threading.excepthook

    def record(args: threading.ExceptHookArgs) -> None:
        if args.thread in before or args.exc_value is None:
            previous_hook(args)
        else:
            failures.append(args.exc_value)

    threading.excepthook = record
    for name, function in saved.items():
        setattr(os, name, _raising_exit(name, function, pid))
    try:
        yield
        running = _running_after_wait(before)
    finally:
        threading.excepthook = previous_hook
        for name, function in saved.items():
            setattr(os, name, function)
    if failures:
        raise failures[0]
    if running:
        raise ProcessExit(
            f'thread "{running[0].name}" still runs {THREAD_END_SECONDS:g} s after '
            "the code that started it returned, and a thread that outlives that "
            "code can end the build's process; join every thread before returning"
        )


def _running_after_wait(before: set[threading.Thread]) -> list[threading.Thread]:
    """Wait for the threads started since `before`, and return those still running."""
    deadline = time.monotonic() + THREAD_END_SECONDS
    started = [thread for thread in threading.enumerate() if thread not in before]
    for thread in started:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [thread for thread in started if thread.is_alive()]


def _raising_exit(
    name: str, function: Callable[..., Any], pid: int
) -> Callable[..., Any]:
    """Return a stand-in for os.`name` that raises ProcessExit in the process `pid`."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if os.getpid() != pid:
            return function(*args, **kwargs)
        # Only the first argument is shown, because execve's last one is an
        # environment, which may contain secrets.
        arguments = repr(args[0]) if args else ""
        if len(args) > 1:
            arguments += ", ..."
        raise ProcessExit(
            f"os.{name}({arguments}) would end the build's process; raise an exception "
            "to report an error instead"
        )

    return wrapper


class ParameterError(DSLError):
    """A block got an invalid value for its parameter `parameter`.

    A manifest reports it at that parameter's value under `with:`, and a Python
    module at the block call.
    """

    def __init__(self, parameter: str, message: str) -> None:
        if not isinstance(parameter, str):
            raise _fail(
                "dsl.ParameterError(): parameter must be the name of a parameter, "
                f"not {_describe(parameter)}",
                "parameter",
            )
        super().__init__(f"{parameter} {message}", caller_location(parameter))
        self.parameter = parameter


@attrs.frozen
class ParameterWarning:
    """A warning about the value of a block's parameter `parameter`.

    A manifest reports it at that parameter's value under `with:`, and a Python
    module at the argument of the block call.
    """

    parameter: str
    message: str
    check: str


# The warnings of the block call that runs, collected by `collecting_parameter_warnings`.
_parameter_warnings: contextvars.ContextVar[list[ParameterWarning] | None] = (
    contextvars.ContextVar("obscompile_parameter_warnings", default=None)
)


def warn_parameter(parameter: str, message: str, check: str) -> None:
    """Warn about the value of a block's parameter, where the block's use writes it.

    The warning is dropped when no block use collects it, as when a test calls the
    block's function directly.
    """
    found = _parameter_warnings.get()
    if found is not None:
        found.append(ParameterWarning(parameter, message, check))


@contextlib.contextmanager
def collecting_parameter_warnings() -> Iterator[list[ParameterWarning]]:
    """Collect the warnings about parameters of one block call (see `warn_parameter`)."""
    found: list[ParameterWarning] = []
    token = _parameter_warnings.set(found)
    try:
        yield found
    finally:
        _parameter_warnings.reset(token)


# Locations ---------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _in_package(filename: str) -> bool:
    return str(Path(filename).resolve()).startswith(_PACKAGE_DIR + "/")


def is_user_file(filename: str) -> bool:
    """Tell whether `filename` is user code: outside obscompile and the Python library."""
    if filename.startswith("<"):
        return False
    resolved = str(Path(filename).resolve())
    if resolved.startswith(_PACKAGE_DIR + "/"):
        return False
    return not any(resolved.startswith(folder + "/") for folder in _LIBRARY_DIRS)


def _user_frame() -> tuple[FrameType | None, FrameType | None]:
    """Return the first frame outside obscompile and the obscompile frame it called.

    A block that a manifest uses has no user frame above the loader's `call_block`,
    because the frames beyond it are those of the program that runs obscompile.
    """
    frame = inspect.currentframe()
    called = None
    while frame is not None:
        if frame.f_code is call_block.__code__:
            return None, None
        if not _in_package(frame.f_code.co_filename):
            return frame, called
        called = frame
        frame = frame.f_back
    return None, None


# Instruction positions by code object. The entry keeps the code object alive, so its
# id stays unique.
_POSITIONS: dict[int, tuple[CodeType, list[tuple[int | None, ...]]]] = {}


def _position(
    code: CodeType, last_instruction: int
) -> tuple[int, int, int, int] | None:
    """Return the start line, end line, start and end byte column of an instruction."""
    cached = _POSITIONS.get(id(code))
    if cached is None or cached[0] is not code:
        if len(_POSITIONS) > 64:
            _POSITIONS.clear()
        cached = (code, list(code.co_positions()))
        _POSITIONS[id(code)] = cached
    positions = cached[1]
    index = last_instruction // 2
    if not 0 <= index < len(positions):
        return None
    line, end_line, column, end_column = positions[index]
    if line is None or end_line is None or column is None or end_column is None:
        return None
    return line, end_line, column, end_column


_CALLS: dict[str, tuple[list[str], dict[tuple[int, int, int, int], ast.Call]]] = {}


def _calls(filename: str) -> dict[tuple[int, int, int, int], ast.Call]:
    """Index the calls in a source file by their position, re-reading a changed file."""
    linecache.checkcache(filename)
    lines = linecache.getlines(filename)
    cached = _CALLS.get(filename)
    if cached is not None and cached[0] == lines:
        return cached[1]
    try:
        tree = ast.parse("".join(lines))
    except (SyntaxError, ValueError):
        return {}
    index = {
        (
            node.lineno,
            node.end_lineno or 0,
            node.col_offset,
            node.end_col_offset or 0,
        ): (node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }
    _CALLS[filename] = (lines, index)
    return index


def _argument_node(call: ast.Call, argument: str, code: CodeType) -> ast.expr | None:
    """Find the expression passed as `argument` of the function that `code` runs."""
    for keyword in call.keywords:
        if keyword.arg == argument:
            return keyword.value
    positional = code.co_varnames[: code.co_argcount]
    if argument not in positional:
        return None
    index = positional.index(argument)
    if index < len(call.args) and not any(
        isinstance(node, ast.Starred) for node in call.args[: index + 1]
    ):
        return call.args[index]
    return None


def _variadic_argument_node(
    call: ast.Call, argument: str, index: int, code: CodeType
) -> ast.expr | None:
    """Find the expression passed as item `index` of `*argument`, as in `*panels`."""
    if not code.co_flags & inspect.CO_VARARGS:
        return None
    if code.co_varnames[code.co_argcount + code.co_kwonlyargcount] != argument:
        return None
    position = code.co_argcount + index
    if position < len(call.args) and not any(
        isinstance(node, ast.Starred) for node in call.args[: position + 1]
    ):
        return call.args[position]
    return None


def _subscripts(path: str) -> tuple[str, tuple[int | str, ...]]:
    """Split a value's name, such as `panels[1]` or `labels['team']`, into its parts.

    The first part names an argument and the others index into it. A name that is
    not an argument with constant subscripts is returned whole, without subscripts.
    """
    try:
        node: ast.expr | None = ast.parse(path, mode="eval").body
    except SyntaxError:
        return path, ()
    keys: list[int | str] = []
    while isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        key = node.slice.value
        if not isinstance(key, int | str) or isinstance(key, bool):
            return path, ()
        keys.append(key)
        node = node.value
    if not isinstance(node, ast.Name):
        return path, ()
    return node.id, tuple(reversed(keys))


def _item_node(node: ast.expr, keys: tuple[int | str, ...]) -> ast.expr:
    """Follow `keys` into the list, tuple and dict displays that the source writes.

    The search stops at the last node that the source shows, such as a variable or a
    comprehension, so the result is the item itself or the nearest node around it.
    """
    for key in keys:
        item = _element(node, key)
        if item is None:
            break
        node = item
    return node


def _element(node: ast.expr, key: int | str) -> ast.expr | None:
    """Return the item `key` of a list, tuple or dict display.

    Returns None for another node, and where a starred item, a `**` or a missing key
    leaves the item unknown.
    """
    if isinstance(node, ast.List | ast.Tuple) and isinstance(key, int):
        if key >= len(node.elts):
            return None
        # A starred item before it moves the item by a length known only at run time.
        if any(isinstance(item, ast.Starred) for item in node.elts[: key + 1]):
            return None
        return node.elts[key]
    if isinstance(node, ast.Dict) and isinstance(key, str):
        for written, value in zip(
            reversed(node.keys), reversed(node.values), strict=True
        ):
            if written is None:
                # A later `**mapping` may replace the key's value.
                return None
            if isinstance(written, ast.Constant) and written.value == key:
                return value
    return None


def _column(filename: str, line: int, byte_column: int) -> int:
    """Convert a 0-based UTF-8 byte offset into a 1-based character column."""
    text = linecache.getline(filename, line).encode("utf-8")
    return len(text[:byte_column].decode("utf-8", errors="replace")) + 1


# The use of the project block whose function is running, if one is.
_block_use: contextvars.ContextVar[BlockUse | None] = contextvars.ContextVar(
    "block_use", default=None
)


def _code_location(filename: str, line: int, column: int) -> Location:
    """Return a position in user code, marked with the use of the running block."""
    return Location(_display(filename), line, column, _block_use.get())


def frame_location(
    frame: FrameType, last_instruction: int | None = None, line: int | None = None
) -> Location:
    """Return where `frame` is, at the start of its current call or expression."""
    filename = frame.f_code.co_filename
    found = _position(
        frame.f_code, frame.f_lasti if last_instruction is None else last_instruction
    )
    if found is None:
        return _code_location(filename, line or frame.f_lineno or 1, 1)
    return _code_location(filename, found[0], _column(filename, found[0], found[2]))


def caller_location(argument: str | None = None) -> Location:
    """Return where the user's code calls obscompile, at `argument` when it is given.

    The user's code is the first stack frame outside the obscompile package. The
    position is that of the expression passed as `argument`, or else of the call.
    """
    found = argument_locations([argument]) if argument is not None else {}
    if argument in found:
        return found[argument]
    frame, _ = _user_frame()
    return Location("<unknown>", 1, 1) if frame is None else frame_location(frame)


def argument_locations(arguments: Iterable[str]) -> dict[str, Location]:
    """Return where the user's call to obscompile writes each of `arguments`.

    An argument may name an item, as in `panels[1]` or `labels['team']`. Its
    location is that of the item when the call writes the list or dict as a
    literal, and else that of the argument.
    """
    frame, called = _user_frame()
    if frame is None or called is None:
        return {}
    position = _position(frame.f_code, frame.f_lasti)
    filename = frame.f_code.co_filename
    call = _calls(filename).get(position) if position is not None else None
    if call is None:
        return {}
    found = {}
    for argument in arguments:
        name, keys = _subscripts(argument)
        node = _argument_node(call, name, called.f_code)
        if node is None and keys and isinstance(keys[0], int):
            node = _variadic_argument_node(call, name, keys[0], called.f_code)
            keys = keys[1:]
        if node is not None:
            node = _item_node(node, keys)
            found[argument] = _code_location(
                filename, node.lineno, _column(filename, node.lineno, node.col_offset)
            )
    return found


_UNEXPECTED_KEYWORD = re.compile(
    r"^(\w+)\(\) got an unexpected keyword argument '(\w+)'$"
)


def dsl_exception_text(exc: BaseException) -> str:
    """Return an exception's type and message, with the closest name of the DSL.

    A misspelt keyword of a `dsl` function, as in `dsl.panel(..., thresold=...)`,
    and a misspelt function, as in `dsl.pannel(...)`, get ` (did you mean "x"?)`.
    """
    text = exception_text(exc)
    if isinstance(exc, AttributeError) and exc.obj is sys.modules[__name__]:
        public = [
            name
            for name, value in vars(exc.obj).items()
            if not name.startswith("_") and not inspect.ismodule(value)
        ]
        return text + suggest(exc.name or "", public)
    found = (
        _UNEXPECTED_KEYWORD.match(exception_message(exc))
        if isinstance(exc, TypeError)
        else None
    )
    function = globals().get(found.group(1)) if found else None
    if found is None or not callable(function):
        return text
    try:
        parameters = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return text
    return text + suggest(found.group(2), parameters)


def error_location(exc: BaseException) -> Location | None:
    """Return the innermost line of user code in the traceback of `exc`, if any.

    A call with a keyword that the function lacks, such as `dsl.panel(titel=...)`,
    is placed at that keyword rather than at the start of the call.
    """
    innermost = None
    tb = exc.__traceback__
    while tb is not None:
        if is_user_file(tb.tb_frame.f_code.co_filename):
            innermost = tb
        tb = tb.tb_next
    if innermost is None:
        return None
    found = (
        _UNEXPECTED_KEYWORD.match(exception_message(exc))
        if isinstance(exc, TypeError)
        else None
    )
    if found is not None:
        code = innermost.tb_frame.f_code
        position = _position(code, innermost.tb_lasti)
        call = _calls(code.co_filename).get(position) if position is not None else None
        for keyword in call.keywords if call is not None else ():
            if keyword.arg == found.group(2):
                filename, line = code.co_filename, keyword.lineno
                return _code_location(
                    filename, line, _column(filename, line, keyword.col_offset)
                )
    return frame_location(innermost.tb_frame, innermost.tb_lasti, innermost.tb_lineno)


def _display(filename: str) -> str:
    return _relative_to(filename, os.getcwd())


@functools.lru_cache(maxsize=1024)
def _relative_to(filename: str, folder: str) -> str:
    try:
        relative = Path(filename).resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return filename
    return str(relative)


def _fail(message: str, argument: str | None = None) -> DSLError:
    return DSLError(message, caller_location(argument))


# Argument checks ---------------------------------------------------------------
#
# They apply the rules of the manifest schema (schema/manifest.schema.json), so a
# value that a YAML manifest may not contain is rejected in Python too.

_MODEL_NAMES: tuple[tuple[type, str], ...] = (
    (Panel, "a panel"),
    (Row, "a row"),
    (Metric, "a metric"),
    (ScrapeJob, "a scrape job"),
    (Dashboard, "a dashboard"),
    (PanelAlert, "a panel alert"),
    (Thresholds, "thresholds"),
)


_LINE_BREAK = "it ends with a line break; remove it"


def _invalid(subject: str, value: str, pattern: re.Pattern[str], hint: str) -> str:
    """Return the message for a `value` that `pattern` rejects, naming a final line break."""
    if ends_with_line_break(value, pattern.pattern):
        hint = _LINE_BREAK
    return f"{subject} {quoted(value)} is invalid: {hint}"


def _describe(value: Any) -> str:
    """Name a value's type, and show a short value, as an error message should."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, int | float):
        kind = "integer" if isinstance(value, int) else "number"
        return f"the {kind} {value}"
    if isinstance(value, str):
        excerpt = value if len(value) <= 40 else value[:37] + "..."
        return f'the string "{excerpt}"'
    for model, name in _MODEL_NAMES:
        if isinstance(value, model):
            return name
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def describe_result(value: Any) -> str:
    """Name what a block returned, as a list of panels or of metrics when it is one."""
    if isinstance(value, list | tuple) and value:
        for model, name in ((Panel, "panels"), (Metric, "metrics"), (Row, "rows")):
            if all(isinstance(item, model) for item in value):
                return f"a list of {name}"
    return _describe(value)


def _function_name() -> str:
    _, called = _user_frame()
    return f"dsl.{called.f_code.co_name}()" if called is not None else "dsl"


def _type_error(param: str, expected: str, value: Any) -> DSLError:
    return _fail(
        f"{_function_name()}: {param} must be {expected}, not {_describe(value)}",
        param,
    )


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _text(value: Any, param: str, *, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise _type_error(param, "a string", value)
    if not empty and not value:
        raise _fail(f"{_function_name()}: {param} must not be empty", param)
    _check_encodable(value, param)
    return value


# A UTF-16 surrogate, which a str contains alone only when it was decoded from
# bytes that are not UTF-8, such as by errors="surrogateescape" or os.listdir().
_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_encodable(value: str, param: str) -> None:
    """Raise DSLError for a text that UTF-8 cannot encode, so no output file can hold it.

    A YAML manifest cannot contain such a text, because the YAML reader rejects it.
    """
    found = _SURROGATE.search(value)
    if found is None:
        return
    raise _fail(
        f"{_function_name()}: {param} contains the lone surrogate "
        f"U+{ord(found.group()):04X} at character {found.start() + 1}, which UTF-8 "
        "cannot encode; decode the bytes that it came from with their own encoding "
        'instead of errors="surrogateescape"',
        param,
    )


def _optional_text(value: Any, param: str) -> str | None:
    return None if value is None else _text(value, param)


def _flag(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise _type_error(param, "True or False", value)
    return value


def _optional_flag(value: Any, param: str) -> bool | None:
    return None if value is None else _flag(value, param)


def _integer(
    value: Any, param: str, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _type_error(param, "an integer", value)
    _check_integer_range(value, param)
    if minimum is not None and value < minimum:
        raise _fail(
            f"{_function_name()}: {param} must be at least {minimum}, not {value}",
            param,
        )
    if maximum is not None and value > maximum:
        raise _fail(
            f"{_function_name()}: {param} must be at most {maximum}, not {value}",
            param,
        )
    return value


def _check_integer_range(value: int, param: str) -> None:
    """Raise for an integer that dashboards and Prometheus cannot keep exactly."""
    problem = integer_problem(value)
    if problem is not None:
        raise _fail(f"{_function_name()}: {param} {problem}", param)


def _check_name_length(value: Any, param: str) -> None:
    """Raise for a service name or key longer than the manifest schema allows."""
    if isinstance(value, str) and len(value) > SERVICE_NAME_MAX:
        raise _fail(
            f"{param} has {len(value)} characters, more than the {SERVICE_NAME_MAX} "
            "it may have",
            param,
        )


def _number(value: Any, param: str, above: float | None = None) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _type_error(param, "a number", value)
    if isinstance(value, int):
        _check_integer_range(value, param)
    elif not math.isfinite(value):
        raise _fail(
            f"{_function_name()}: {param} is {value}, which is not a finite number; "
            "write a number such as 100",
            param,
        )
    if above is not None and value <= above:
        raise _fail(
            f"{_function_name()}: {param} must be above {number_text(above)}, not {value}",
            param,
        )
    return value


def _texts(value: Any, param: str) -> tuple[str, ...]:
    if not _is_list(value):
        raise _type_error(param, "a list of strings", value)
    return tuple(_text(item, f"{param}[{index}]") for index, item in enumerate(value))


def _numbers(value: Any, param: str) -> tuple[float, ...]:
    if not _is_list(value):
        raise _type_error(param, "a list of numbers", value)
    result = []
    for index, item in enumerate(value):
        number = _number(item, f"{param}[{index}]")
        if number is None:
            raise _type_error(f"{param}[{index}]", "a number", item)
        result.append(float(number))
    return tuple(result)


def _pairs(value: Any, param: str) -> tuple[tuple[str, str], ...]:
    """Check a mapping of strings to strings and return its sorted items."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise _type_error(param, "a mapping of strings to strings", value)
    for key, item in value.items():
        if not isinstance(key, str):
            raise _type_error(f"{param} key", "a string", key)
        _check_encodable(key, f"{param} key")
        _text(item, f"{param}[{key!r}]")
    return tuple(sorted(value.items()))


def _instances(value: Any, param: str, model: type, expected: str) -> tuple[Any, ...]:
    if not _is_list(value):
        raise _type_error(param, f"a list of {expected}s", value)
    for index, item in enumerate(value):
        if not isinstance(item, model):
            raise _type_error(f"{param}[{index}]", f"a {expected}", item)
    return tuple(value)


def _choice(value: Any, choices: Iterable[str], subject: str, param: str) -> str:
    options = list(choices)
    if not isinstance(value, str):
        raise _type_error(param, "one of " + ", ".join(options), value)
    if value in options:
        return value
    close = difflib.get_close_matches(value, options, n=1)
    hint = f' (did you mean "{close[0]}"?)' if close else ""
    raise _fail(f'{subject} "{value}" is not one of {", ".join(options)}{hint}', param)


def _duration(value: Any, param: str) -> str | None:
    if value is None:
        return None
    _text(value, param)
    problem = duration_problem(value)
    if problem == NOT_A_DURATION and ends_with_line_break(value, DURATION_PATTERN):
        raise _fail(f"{param} {quoted(value)} is invalid: {_LINE_BREAK}", param)
    if problem == NOT_A_DURATION:
        raise _fail(
            f'{param} "{value}" is {NOT_A_DURATION}: write units from largest to '
            "smallest, each at most once, such as 15s, 5m or 1h30m",
            param,
        )
    if problem is not None:
        raise _fail(f'{param} "{value}" is {problem}', param)
    if not _MANIFEST_DURATION.match(value):
        raise _fail(f"{param} {quoted(value)} is invalid: {DURATION['x-hint']}", param)
    return value


def _parse_thresholds(value: Any, param: str) -> Thresholds:
    location = caller_location(param)
    if not isinstance(value, str | Mapping):
        raise _type_error(param, "a shorthand string or a mapping", value)
    if isinstance(value, Mapping):
        value = _manifest_value(value, ("thresholds",), location)
        problems = value_problems("thresholds", value, THRESHOLDS, _describe)
        if problems:
            raise DSLError("; ".join(problems), location)
    try:
        parsed = (
            parse_shorthand(value)
            if isinstance(value, str)
            else parse_structured(dict(value))
        )
    except ThresholdError as exc:
        # One error per call: the problems of further items are added to its message.
        message = "; ".join(str(problem) for problem in (exc, *exc.others))
        raise DSLError(message, location) from None
    found = _warnings.get()
    if found is not None:
        found.extend(colour_warnings(value, lambda path, offset: location))
    return attrs.evolve(parsed, location=location)


def _manifest_value(value: Any, path: tuple[str | int, ...], location: Location) -> Any:
    """Return `value` with dicts and lists for its mappings and sequences, as in a manifest.

    A key that is not a string, which no manifest has, raises DSLError at `location`.
    """
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise DSLError(
                    f"{dotted(path)} key must be a string, not {_describe(key)}",
                    location,
                )
        return {
            key: _manifest_value(item, (*path, key), location)
            for key, item in value.items()
        }
    if _is_list(value):
        return [
            _manifest_value(item, (*path, index), location)
            for index, item in enumerate(value)
        ]
    return value


# Metrics -----------------------------------------------------------------------


def metric(
    name: str,
    type: str,
    help: str = "",
    labels: Sequence[str] = (),
    buckets: Sequence[float] | None = None,
) -> Metric:
    """Declare one catalog metric (type counter, gauge, histogram, summary or info).

    A histogram without `buckets` gets its client library's default buckets.
    """
    _text(name, "name")
    if not _METRIC_NAME.match(name):
        raise _fail(
            _invalid("metric name", name, _METRIC_NAME, "use [a-zA-Z_:][a-zA-Z0-9_:]*"),
            "name",
        )
    kind = MetricType(
        _choice(type, [t.value for t in MetricType], "metric type", "type")
    )
    _text(help, "help")
    label_names = _texts(labels, "labels")
    for label in label_names:
        if not promql.is_label_name(label):
            raise _fail(f'label name "{label}" of metric "{name}" is invalid', "labels")
    bounds: tuple[float, ...] = ()
    if buckets is not None:
        bounds = _numbers(buckets, "buckets")
        problems = value_problems("buckets", list(bounds), BUCKETS, _describe)
        if problems:
            raise _fail("; ".join(problems), "buckets")
    if bounds and kind is not MetricType.HISTOGRAM:
        raise _fail(
            f'metric "{name}" has buckets but is a {kind}, not a histogram', "buckets"
        )
    return Metric(
        name=name,
        type=kind,
        help=help,
        labels=label_names,
        buckets=bounds,
        location=caller_location(),
    )


def counter(name: str, help: str = "", labels: Sequence[str] = ()) -> Metric:
    """Declare a counter, which queries read as `<name>_total`.

    In a service without a runtime, queries may read it as `<name>` too.
    """
    return metric(name, "counter", help, labels)


def gauge(name: str, help: str = "", labels: Sequence[str] = ()) -> Metric:
    """Declare a gauge."""
    return metric(name, "gauge", help, labels)


def histogram(
    name: str,
    help: str = "",
    labels: Sequence[str] = (),
    buckets: Sequence[float] | None = None,
) -> Metric:
    """Declare a histogram with its bucket upper bounds."""
    return metric(name, "histogram", help, labels, buckets)


# Scrape jobs and dashboards ----------------------------------------------------


def scrape_job(
    job: str,
    targets: Sequence[str] | None = None,
    port: int | None = None,
    path: str | None = None,
    interval: str | None = None,
    timeout: str | None = None,
    scheme: str = "http",
    labels: Mapping[str, str] | None = None,
    probe: Probe | None = None,
    honor_labels: bool = False,
) -> ScrapeJob:
    """Declare a scrape job; `port` alone means the target `<job>:<port>`.

    With `probe=dsl.probe(...)`, `targets` are what the exporter probes, and `path`
    is `/probe` unless given.
    """
    _text(job, "job")
    if not _JOB_NAME.match(job):
        raise _fail(
            _invalid(
                "job",
                job,
                _JOB_NAME,
                "use ASCII letters, digits, _, - and ., starting with a letter or _",
            ),
            "job",
        )
    _integer(port, "port")
    if probe is not None and not isinstance(probe, Probe):
        raise _type_error("probe", "dsl.probe(exporter, module)", probe)
    if targets is None:
        if probe is not None:
            raise _fail(
                f'probe job "{job}" needs targets, the URLs or hosts that its exporter '
                "probes",
                "targets",
            )
        if port is None:
            raise _fail(f'scrape job "{job}" needs targets or port')
        target_list: tuple[str, ...] = (f"{job}:{port}",)
    else:
        target_list = _texts(targets, "targets")
    default_path = "/metrics" if probe is None else "/probe"
    return ScrapeJob(
        job=job,
        targets=target_list,
        metrics_path=default_path if path is None else _text(path, "path"),
        interval=_duration(interval, "interval"),
        timeout=_duration(timeout, "timeout"),
        scheme=_choice(scheme, ["http", "https"], "scheme", "scheme"),
        labels=_pairs(labels, "labels"),
        probe=probe,
        honor_labels=_flag(honor_labels, "honor_labels"),
        location=caller_location(),
        locations=argument_locations(["job", "targets", "port"]),
    )


def probe(exporter: str, module: str) -> Probe:
    """Declare the exporter, as host:port, and module that probe a job's targets."""
    return Probe(_text(exporter, "exporter"), _text(module, "module"))


def dashboard(
    uid: str | None = None,
    title: str | None = None,
    description: str = "",
    tags: Sequence[str] = (),
    folder: str = "General",
    refresh: str = "1m",
    time: str = "now-6h",
    timezone: str = "browser",
) -> Dashboard:
    """Declare dashboard settings; `uid` is at most 40 characters of [A-Za-z0-9_-].

    Without `uid` or `title`, `service` derives them from the service's name, as a
    manifest without `dashboard.uid` or `dashboard.title` does. Without
    `description`, or with an empty one, the dashboard shows the service's.
    """
    if uid is not None:
        _text(uid, "uid")
        if not uid or len(uid) > UID_MAX or not _UID.match(uid):
            raise _fail(_invalid("uid", uid, _UID, UID_HINT), "uid")
    if not _REFRESH.fullmatch(_text(refresh, "refresh")):
        raise _fail(_invalid("refresh", refresh, _REFRESH, REFRESH_HINT), "refresh")
    if not _TIME.match(_text(time, "time")):
        raise _fail(_invalid("time", time, _TIME, TIME_HINT), "time")
    written = [
        name for name, value in (("uid", uid), ("title", title)) if value is not None
    ]
    return Dashboard(
        # An empty uid or title stands for one that `service` derives.
        uid=uid or "",
        title=_text(title, "title") if title is not None else "",
        description=_text(description, "description"),
        tags=_texts(tags, "tags"),
        folder=_text(folder, "folder"),
        refresh=_text(refresh, "refresh"),
        time_from=_text(time, "time"),
        timezone=_text(timezone, "timezone"),
        location=caller_location(),
        locations=argument_locations(
            [*written, "tags", "folder", "refresh", "time", "timezone"]
        ),
    )


# Panels and rows ---------------------------------------------------------------


def thresholds(text: str | Mapping[str, Any]) -> Thresholds:
    """Parse threshold shorthand ("<1% Green, 1-5% Yellow, >5% Red") or the mapping form."""
    return _parse_thresholds(text, "text")


def alert(
    name: str | None = None,
    for_: str | None = None,
    summary: str | None = None,
    description: str | None = None,
    warning: bool = False,
    labels: Mapping[str, str] | None = None,
    enabled: bool = True,
    annotations: Mapping[str, str] | None = None,
) -> PanelAlert:
    """Per-panel alert settings; anything left None falls back to the service's."""
    if name is not None and not _ALERT_NAME.match(_text(name, "name")):
        raise _fail(
            _invalid("alert name", name, _ALERT_NAME, ALERT_NAME_HINT),
            "name",
        )
    return PanelAlert(
        name=name,
        for_=_duration(for_, "for_"),
        summary=_optional_text(summary, "summary"),
        description=_optional_text(description, "description"),
        warning=_flag(warning, "warning"),
        enabled=_flag(enabled, "enabled"),
        labels=_pairs(labels, "labels"),
        annotations=_pairs(annotations, "annotations"),
        location=caller_location(),
    )


# Panel arguments whose position `Panel.locations` records, under the manifest key.
_PANEL_KEYS = (
    "title",
    "query",
    "type",
    "description",
    "unit",
    "legend",
    "thresholds",
    "capacity",
    "stack",
    "color_mode",
    "decimals",
    "min",
    "max",
    "width",
    "height",
    "instant",
    "record",
    "alert",
)


def panel(
    title: str,
    query: str,
    type: str = "timeseries",
    description: str = "",
    unit: str | None = None,
    legend: str | None = None,
    thresholds: str | Mapping[str, Any] | Thresholds | None = None,
    capacity: float | None = None,
    stack: bool = False,
    color_mode: str | None = None,
    decimals: int | None = None,
    min: float | None = None,
    max: float | None = None,
    width: int | None = None,
    height: int | None = None,
    instant: bool | None = None,
    record: bool | None = None,
    alert: PanelAlert | bool | None = None,
) -> Panel:
    """Declare a panel with one PromQL query, kept unchanged."""
    location = caller_location()
    _text(title, "title", empty=False)
    _text(query, "query", empty=False)
    kind = PanelType(_choice(type, [t.value for t in PanelType], "panel type", "type"))
    if color_mode is not None:
        _choice(
            color_mode,
            ["value", "background", "background_solid", "none"],
            "color_mode",
            "color_mode",
        )
    parsed: Thresholds | None = None
    if isinstance(thresholds, Thresholds):
        parsed = thresholds
    elif thresholds is not None:
        parsed = _parse_thresholds(thresholds, "thresholds")
    if isinstance(alert, bool):
        alert = PanelAlert(enabled=alert, location=location)
    elif alert is not None and not isinstance(alert, PanelAlert):
        raise _type_error("alert", "True, False or dsl.alert(...)", alert)
    locations = argument_locations(_PANEL_KEYS)
    if alert is None:
        # `alert=None`, as a helper passes its own default on, sets no alert.
        locations.pop("alert", None)
    return Panel(
        title=title,
        query=query,
        type=kind,
        description=_text(description, "description"),
        unit=_optional_text(unit, "unit"),
        legend=_optional_text(legend, "legend"),
        thresholds=parsed,
        capacity=_number(capacity, "capacity", above=0),
        stack=_flag(stack, "stack"),
        color_mode=color_mode,
        decimals=_integer(decimals, "decimals", minimum=0, maximum=20),
        min=_number(min, "min"),
        max=_number(max, "max"),
        width=_integer(width, "width", minimum=1, maximum=24),
        height=_integer(height, "height", minimum=1),
        instant=_optional_flag(instant, "instant"),
        record=_optional_flag(record, "record"),
        alert=alert or PanelAlert(location=location),
        location=location,
        locations=locations,
    )


def row(title: str, panels: Sequence[Panel] = (), collapsed: bool = False) -> Row:
    """Declare a dashboard row."""
    _text(title, "title", empty=False)
    return Row(
        title=title,
        panels=_instances(panels, "panels", Panel, "panel"),
        collapsed=_flag(collapsed, "collapsed"),
        location=caller_location(),
    )


def override(row_value: Row, *panels: Panel | Mapping[str, Any]) -> Row:
    """Replace panels of a row by title and append new ones, as Jsonnet's `+:` does.

    A mapping changes only the fields it names on the panel with that `title`.
    """
    if not isinstance(row_value, Row):
        raise _type_error("row_value", "a row", row_value)
    result = list(row_value.panels)
    for number, item in enumerate(panels):
        if not isinstance(item, Panel | Mapping):
            raise _type_error(f"panels[{number}]", "a panel or a mapping", item)
        if isinstance(item, Mapping):
            _check_panel_keys(item, f"panels[{number}]")
        title = item.title if isinstance(item, Panel) else item.get("title")
        index = next((i for i, p in enumerate(result) if p.title == title), None)
        if isinstance(item, Panel):
            if index is None:
                result.append(item)
            else:
                result[index] = item
            continue
        if index is None and "query" not in item:
            titles = [p.title for p in result]
            close = difflib.get_close_matches(str(title), titles, n=1, cutoff=0.6)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            raise _fail(
                f'{_function_name()}: row "{shorten(row_value.title)}" has no panel '
                f'"{shorten(str(title))}" to change{hint}; a new panel needs a query',
                f"panels[{number}]",
            )
        if index is None:
            result.append(panel(**dict(item)))
            continue
        changes = {k: v for k, v in item.items() if k != "title"}
        result[index] = _evolve_panel(result[index], changes)
    return attrs.evolve(row_value, panels=tuple(result))


def _check_panel_keys(item: Mapping[Any, Any], argument: str) -> None:
    """Raise DSLError at the first key of `item` that `dsl.panel()` does not take."""
    for key in item:
        if key in _PANEL_KEYS:
            continue
        close = difflib.get_close_matches(str(key), _PANEL_KEYS, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        raise _fail(
            f'{_function_name()}: {argument} has the unknown panel field "{key}"{hint}',
            f"{argument}[{key!r}]",
        )


def _evolve_panel(base: Panel, changes: Mapping[str, Any]) -> Panel:
    fields = set(_PANEL_KEYS)
    arguments = {f: getattr(base, f) for f in fields}
    arguments["type"] = str(base.type)
    arguments.update(changes)
    return panel(**arguments)


# Services ----------------------------------------------------------------------

_collector: contextvars.ContextVar[list[Service] | None] = contextvars.ContextVar(
    "obscompile_dsl_collector", default=None
)


def _catalog(metrics: Any) -> tuple[Metric, ...]:
    """Flatten `metrics`, a list of metrics and of lists that blocks return."""
    expected = "a list of metrics, such as [dsl.counter(...)] or dsl.http_metrics()"
    if not _is_list(metrics):
        raise _type_error("metrics", expected, metrics)
    catalog: list[Metric] = []
    for index, item in enumerate(metrics):
        if isinstance(item, Metric):
            catalog.append(item)
            continue
        if not _is_list(item):
            raise _type_error(
                f"metrics[{index}]", "a metric or a list of metrics", item
            )
        catalog.extend(_instances(item, f"metrics[{index}]", Metric, "metric"))
    return tuple(catalog)


def service(
    name: str,
    title: str | None = None,
    dashboard: Dashboard | None = None,
    scrape: ScrapeJob | Sequence[ScrapeJob] = (),
    metrics: Sequence[Metric] | Sequence[Sequence[Metric]] = (),
    rows: Sequence[Row] = (),
    runtime: str | None = None,
    alert_for: str | None = None,
    alert_labels: Mapping[str, str] | None = None,
    key: str | None = None,
    alert_annotations: Mapping[str, str] | None = None,
    description: str | None = None,
) -> Service:
    """Declare a service, and register it when obscompile is loading this module.

    Without `runtime`, the service may use any client library, so queries may read
    its counters and info metrics by their declared names too (`SeriesNaming`).
    `description` is the dashboard's, unless `dashboard` has a description of its own.
    """
    location = caller_location()
    _text(name, "name", empty=False)
    _check_name_length(name, "name")
    _optional_text(title, "title")
    _optional_text(description, "description")
    if key is not None:
        _check_name_length(key, "key")
    if key is not None and not _SERVICE_KEY.match(_text(key, "key")):
        raise _fail(
            _invalid("key", key, _SERVICE_KEY, SERVICE_KEY_HINT),
            "key",
        )
    service_name = key or service_key(name)
    if not service_name:
        raise DSLError(
            f'cannot derive an identifier from service "{name}"; pass key="..."',
            location,
        )
    if dashboard is not None and not isinstance(dashboard, Dashboard):
        raise _type_error("dashboard", "dsl.dashboard(...) or None", dashboard)
    if isinstance(scrape, ScrapeJob):
        jobs: tuple[ScrapeJob, ...] = (scrape,)
    elif _is_list(scrape):
        jobs = _instances(scrape, "scrape", ScrapeJob, "scrape job")
    else:
        raise _type_error("scrape", "a scrape job or a list of scrape jobs", scrape)
    catalog = _catalog(metrics)
    row_values = _instances(rows, "rows", Row, "row")
    dashboard_value: Dashboard | None
    if row_values and dashboard is None:
        dashboard_value = Dashboard(
            uid=derive_uid(name),
            title=title or name,
            description=description or "",
            location=location,
        )
    elif dashboard is not None:
        _warn_description_ignored(description, dashboard)
        dashboard_value = attrs.evolve(
            dashboard,
            uid=dashboard.uid or derive_uid(name),
            title=dashboard.title or title or name,
            description=dashboard.description or description or "",
        )
    else:
        dashboard_value = None
    runtime_value = (
        Runtime(_choice(runtime, ["python", "nodejs"], "runtime", "runtime"))
        if runtime is not None
        else None
    )
    result = Service(
        name=service_name,
        title=title or name,
        dashboard=dashboard_value,
        scrape_jobs=jobs,
        metrics=with_runtime_naming(catalog, runtime_value),
        rows=row_values,
        runtime=runtime_value,
        alerts=AlertSettings(
            for_=_duration(alert_for, "alert_for"),
            labels=_pairs(alert_labels, "alert_labels"),
            annotations=_pairs(alert_annotations, "alert_annotations"),
        ),
        location=location,
        locations=_service_locations(key_given=key is not None),
        declared_name=name,
    )
    collected = _collector.get()
    if collected is not None:
        collected.append(result)
    return result


def _warn_description_ignored(description: str | None, dashboard: Dashboard) -> None:
    """Warn that `service(description=...)` is ignored beside the dashboard's own."""
    found = _warnings.get()
    if (
        found is None
        or not description
        or not dashboard.description
        or description == dashboard.description
    ):
        return
    found.append(
        warning(
            caller_location("description"),
            "description is ignored: the dashboard shows the description of "
            "dsl.dashboard(); remove one of them",
            "dashboard/ignored-field",
        )
    )


def _service_locations(key_given: bool) -> dict[str, Location]:
    """Return where the caller of `service` writes its name and key, under the manifest keys.

    A `key=None` argument sets no key, so it has no location.
    """
    found = argument_locations(["name", "key"] if key_given else ["name"])
    keys = {"name": "service", "key": "service_key"}
    return {keys[argument]: location for argument, location in found.items()}


def collecting() -> tuple[list[Service], contextvars.Token]:
    """Start collecting the services that `service()` declares (used by the loader)."""
    collected: list[Service] = []
    return collected, _collector.set(collected)


def stop_collecting(token: contextvars.Token) -> None:
    _collector.reset(token)


# Warnings about the values a module passes, such as a threshold colour that is
# neither clearly red nor clearly yellow, collected while the loader runs the module.
_warnings: contextvars.ContextVar[list[Diagnostic] | None] = contextvars.ContextVar(
    "obscompile_dsl_warnings", default=None
)


def collecting_warnings() -> tuple[list[Diagnostic], contextvars.Token]:
    """Start collecting the warnings of the values a module passes (used by the loader)."""
    found: list[Diagnostic] = []
    return found, _warnings.set(found)


def stop_collecting_warnings(token: contextvars.Token) -> None:
    _warnings.reset(token)


# Building blocks ---------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])

_KEYWORD_KINDS = (
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    inspect.Parameter.KEYWORD_ONLY,
)


@attrs.frozen
class Block:
    """A named function that returns a row, a list of panels, or a list of metrics."""

    name: str
    function: Callable[..., Any]

    @property
    def parameters(self) -> dict[str, inspect.Parameter]:
        """The parameters that a `with:` mapping or `use()` can pass by name."""
        return {
            n: p
            for n, p in inspect.signature(self.function).parameters.items()
            if p.kind in _KEYWORD_KINDS
        }

    @property
    def accepts_any(self) -> bool:
        """Whether the function takes `**options`, so any parameter name is valid."""
        return any(
            p.kind is inspect.Parameter.VAR_KEYWORD
            for p in inspect.signature(self.function).parameters.values()
        )

    @property
    def required(self) -> list[str]:
        return [
            n
            for n, p in self.parameters.items()
            if p.default is inspect.Parameter.empty
        ]

    @property
    def shipped(self) -> bool:
        """Whether obscompile ships this block, as opposed to a project's blocks/."""
        return _in_package(self.function.__code__.co_filename)

    @property
    def location(self) -> Location:
        """Where the block's function is defined."""
        code = self.function.__code__
        return Location(_display(code.co_filename), code.co_firstlineno, 1)


BLOCKS: dict[str, Block] = {}
# The block modules of the project that failed to load, whose later blocks are
# missing from BLOCKS.
FAILED_BLOCK_MODULES: list[str] = []


def unknown_block_message(name: str) -> str:
    """Return the message for a `use` of a block that no module registered."""
    close = difflib.get_close_matches(name, sorted(BLOCKS), n=1)
    hint = f' (did you mean "{close[0]}"?)' if close else ""
    if FAILED_BLOCK_MODULES:
        failed = ", ".join(FAILED_BLOCK_MODULES)
        verb = "fails" if len(FAILED_BLOCK_MODULES) == 1 else "fail"
        hint += f"; {failed} {verb} to load, so it may define it"
    return f'unknown block "{shorten(name)}"{hint}'


def block(name: str) -> Callable[[F], F]:
    """Register a function as a building block that manifests can `use:` by name.

    A project block may not take the name of a shipped block or of another project
    block, because the later one would replace the earlier without a word.
    """
    _text(name, "name", empty=False)
    existing = BLOCKS.get(name)
    caller = inspect.currentframe()
    defined_by = caller.f_back.f_code.co_filename if caller and caller.f_back else ""
    if existing is not None and existing.shipped and not _in_package(defined_by):
        raise _fail(
            f'block "{name}" is already a block shipped with obscompile; '
            "give the project block another name",
            "name",
        )
    location = (
        Location(_display(defined_by), 1, 1)
        if _in_package(defined_by)
        else caller_location("name")
    )

    def register(function: F) -> F:
        if not callable(function):
            raise DSLError(
                f'@dsl.block("{name}") must decorate a function, not {_describe(function)}',
                location,
            )
        # The build reads a block's parameters, file and line from its function's
        # code, which a functools.partial or an object with __call__ lacks.
        if not inspect.isfunction(function):
            raise DSLError(
                f'@dsl.block("{name}") must decorate a function defined with def, '
                f"not {_describe(function)}; write a def that calls it",
                location,
            )
        # Calling such a function runs none of its code, and an unawaited
        # coroutine makes Python print a RuntimeWarning.
        if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(
            function
        ):
            raise DSLError(
                f'@dsl.block("{name}") must decorate a plain function, not an async '
                "one, because the build calls a block and uses what it returns; "
                "write def in place of async def",
                location,
            )
        current = BLOCKS.get(name)
        added = Block(name, function)
        if current is not None and _definition(current) != _definition(added):
            where = current.location
            raise DSLError(
                f'block "{name}" is already defined in {where.file}:{where.line}; '
                "give one of them another name",
                location,
            )
        BLOCKS[name] = added
        return function

    return register


def _definition(found: Block) -> tuple[str, str]:
    code = getattr(found.function, "__code__", None)
    if code is None:
        return (repr(found.function), "")
    return (str(Path(code.co_filename).resolve()), found.function.__qualname__)


def use(name: str, /, **parameters: Any) -> Any:
    """Call a registered block by name, checking its parameters."""
    _text(name, "name")
    found = BLOCKS.get(name)
    if found is None:
        raise _fail(unknown_block_message(name), "name")
    problems = block_parameter_problems(found, parameters)
    if problems:
        # An unknown parameter is reported at its argument, a missing one at the call.
        unknown, message = problems[0]
        raise _fail(message, unknown)
    written = argument_locations(parameters)
    try:
        with collecting_parameter_warnings() as warned:
            produced = _run_block(found, parameters, BlockUse(name, caller_location()))
    except ParameterError as exc:
        # A project block is user code too, so the error's location may be inside
        # the block. A value that this call passes is written at its argument. Any
        # other parameter, such as one of a block that this block uses, keeps the
        # location where it was raised, marked with this use.
        if exc.parameter in parameters:
            exc.location = caller_location(exc.parameter)
        raise
    collected = _warnings.get()
    if collected is not None:
        for item in warned:
            location = written.get(item.parameter) or caller_location()
            message = f"{item.parameter} {item.message}"
            collected.append(warning(location, message, item.check))
    return with_arguments(produced, text_arguments(parameters, written))


def call_block(found: Block, parameters: Mapping[str, Any], used_at: Location) -> Any:
    """Call a block for a manifest's `use:` at `used_at`; raise DSLError on failure.

    The location of a failure in a project block is in the block's code, marked with
    the use.
    """
    return _run_block(found, parameters, BlockUse(found.name, used_at))


def text_arguments(
    parameters: Mapping[str, Any], written: Mapping[str, Location]
) -> dict[str, Location]:
    """Return each text argument of a block use with where it is written.

    A finite number counts as its text in a threshold text, such as `8` for 8.0, so
    a finding at a bound that a block built from it is placed at the argument.
    """
    found: dict[str, Location] = {}
    for name, value in parameters.items():
        if name not in written:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = number_text(value) if math.isfinite(value) else None
        if isinstance(value, str) and value.strip():
            found.setdefault(value, written[name])
    return found


# The panel fields that a block may fill with one of its text arguments as it is.
_ARGUMENT_FIELDS = ("title", "query", "description", "unit", "legend")


def with_arguments(produced: Any, arguments: Mapping[str, Location]) -> Any:
    """Record a block use's text arguments on each panel that the block returned.

    A panel field or threshold text that is one of the arguments is placed where the
    argument is written. An argument of this use wins over one of a block use
    inside the block.
    """
    if not arguments:
        return produced
    if isinstance(produced, Row):
        panels = tuple(with_arguments(panel, arguments) for panel in produced.panels)
        return attrs.evolve(produced, panels=panels)
    if isinstance(produced, list | tuple):
        return type(produced)(with_arguments(item, arguments) for item in produced)
    if not isinstance(produced, Panel):
        return produced
    locations = dict(produced.locations)
    for field in _ARGUMENT_FIELDS:
        value = getattr(produced, field)
        if isinstance(value, str) and value in arguments:
            locations[field] = arguments[value]
            if field == "query":
                locations.pop("query_quote", None)
    thresholds = produced.thresholds
    if thresholds is not None and thresholds.text in arguments:
        # The positions of the text's numbers are not known, so each finding on
        # the thresholds is placed at the start of the argument.
        written_at = arguments[thresholds.text]
        locations["thresholds"] = written_at
        thresholds = attrs.evolve(
            thresholds, location=written_at, quantity_locations={}
        )
    return attrs.evolve(
        produced,
        locations=locations,
        thresholds=thresholds,
        arguments={**produced.arguments, **arguments},
    )


def _run_block(found: Block, parameters: Mapping[str, Any], use: BlockUse) -> Any:
    """Call a block's function; raise DSLError for any exception or a None result.

    While a project block runs, each location taken in user code is marked with
    `use`. A shipped block's panels are placed where it is used, so they need no mark.
    """
    running = _running_blocks.get()
    if any(
        name == found.name and _equal(earlier, parameters) for name, earlier in running
    ):
        raise DSLError(
            f'block "{found.name}" uses itself with the same parameters, so it would '
            "never return; change a parameter on each use and stop at a base case",
            use.location,
        )
    running_token = _running_blocks.set((*running, (found.name, dict(parameters))))
    token = None if found.shipped else _block_use.set(use)
    try:
        return _call_function(found, parameters)
    finally:
        if token is not None:
            _block_use.reset(token)
        _running_blocks.reset(running_token)


# The blocks whose functions are running, with their parameters, outermost first.
_running_blocks: contextvars.ContextVar[tuple[tuple[str, dict[str, Any]], ...]] = (
    contextvars.ContextVar("obscompile_running_blocks", default=())
)


def _equal(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """Compare two blocks' parameters; values whose == raises count as different."""
    try:
        return bool(first == second)
    except Exception:  # noqa: BLE001 - a user type's == may raise anything
        return False


def _call_function(found: Block, parameters: Mapping[str, Any]) -> Any:
    defined_at = attrs.evolve(found.location, used_at=_block_use.get())
    defaults = {} if found.shipped else _mutable_defaults(found.function)
    try:
        with (
            output_to_stderr(),
            raise_on_process_exit(),
            keeping_process_settings(),
        ):
            produced = found.function(**parameters)
    except DSLError as exc:
        exc.location = _with_helper_call(found, exc, exc.location)
        raise
    # A block is user code and may raise anything, and only Ctrl-C or SIGTERM stops
    # the build.
    except BaseException as exc:
        if stops_the_command(exc):
            raise
        where = error_location(exc) or defined_at
        where = _with_helper_call(found, exc, where)
        raise DSLError(dsl_exception_text(exc), where) from None
    if produced is None:
        raise DSLError(
            f"function {found.function.__name__}() returned None; a block must "
            "return a row, a list of panels or a list of metrics",
            defined_at,
        )
    _warn_changed_defaults(found, defaults, defined_at)
    return produced


# The mutable types of the defaults that a call of a block may change in place.
_MUTABLE = (list, dict, set, bytearray)


def _mutable_defaults(function: Callable[..., Any]) -> dict[str, tuple[Any, Any]]:
    """Return each mutable default of `function` by name, with a copy of its value.

    A value that cannot be copied is left out, so it is never compared.
    """
    found = {}
    for name, parameter in inspect.signature(function).parameters.items():
        if isinstance(parameter.default, _MUTABLE):
            try:
                found[name] = (parameter.default, copy.deepcopy(parameter.default))
            # A user type's __deepcopy__ may raise anything.
            except Exception:  # noqa: BLE001
                continue
    return found


def _warn_changed_defaults(
    found: Block, defaults: Mapping[str, tuple[Any, Any]], location: Location
) -> None:
    """Warn at the block about each mutable default that its call changed in place.

    Python creates a default once, so a change reaches every later use of the block,
    in an order that depends on the services that a build loads.
    """
    collected = _warnings.get()
    if collected is None:
        return
    for name, (value, before) in defaults.items():
        try:
            changed = bool(value != before)
        except Exception:  # noqa: BLE001 - a user type's == may raise anything
            continue
        if changed:
            collected.append(
                warning(
                    location,
                    f'block "{found.name}" changed the default value of its parameter '
                    f'"{name}", so each use gets what the uses before it left, and a '
                    "rebuild of one service differs from a full build; default to "
                    "None and create the value in the function",
                    "dsl/block-default",
                )
            )


def _with_helper_call(found: Block, exc: BaseException, location: Location) -> Location:
    """Mark an error in a helper of a project block with the block's call into it.

    Only a location taken while this block ran, not one inside a block that it uses,
    gets the note, which itself is marked with the block's use.
    """
    from obscompile.load.python_source import helper_call

    use = _block_use.get()
    if use is None or location.used_at != use or location.file == found.location.file:
        return location
    call = helper_call(exc, Path(found.function.__code__.co_filename))
    return location if call is None else attrs.evolve(location, used_at=call)


def block_parameter_problems(
    found: Block, parameters: Mapping[str, Any]
) -> list[tuple[str | None, str]]:
    """Describe every unknown and missing parameter of a block call.

    Each item is the unknown parameter, or None for a missing one, and the message.
    """
    problems: list[tuple[str | None, str]] = []
    known = found.parameters
    for given in parameters:
        if given not in known and not found.accepts_any:
            close = difflib.get_close_matches(given, sorted(known), n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            message = f'block "{found.name}" has no parameter "{given}"{hint}'
            problems.append((given, message))
    for required in found.required:
        if required not in parameters:
            message = f'block "{found.name}" needs parameter "{required}"'
            problems.append((None, message))
    return problems


def block_parameter_problem(found: Block, parameters: Mapping[str, Any]) -> str | None:
    """Describe the first unknown or missing parameter of a block call, if any."""
    problems = block_parameter_problems(found, parameters)
    return problems[0][1] if problems else None


def http_metrics(buckets: Sequence[float] | None = None) -> list[Metric]:
    """Return the standard HTTP metric catalog (shipped block `http_metrics`)."""
    return use("http_metrics", **({} if buckets is None else {"buckets": buckets}))


# Import the shipped blocks so that they register.
from obscompile import blocks as _shipped_blocks  # noqa: E402,F401
