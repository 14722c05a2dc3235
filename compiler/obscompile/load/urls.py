"""The syntax of the URLs, hosts and ports that settings and manifests give.

Each function returns why a value is invalid, as a phrase that names the part at
fault (`has the port "99999", which is outside 1-65535`), or None for a valid value.
The URL grammar is RFC 3986's, restricted to the http and https schemes.
"""

from __future__ import annotations

import ipaddress
import re

from obscompile.gotemplate import Kind, lex

MAX_PORT = 65535
# A DNS name takes at most 255 octets on the wire and a label at most 63 (RFC 1035,
# section 2.3.4), so a written name has at most 253 characters without its final dot.
MAX_HOST_NAME = 253
MAX_HOST_LABEL = 63
# Characters of a DNS host name: the letters, digits and "-" of RFC 1123, and the "_"
# that Go's resolver also accepts (net.isDomainName in golang/go src/net/dnsclient.go).
_HOST_NAME_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
)
# RFC 3986: a path segment takes unreserved characters, sub-delimiters, ":" and "@";
# a query and a fragment take these, "/" and "?" too.
_UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
_SUB_DELIMITERS = "!$&'()*+,;="
_PATH_CHARACTERS = frozenset(_UNRESERVED + _SUB_DELIMITERS + ":@/%")
_QUERY_CHARACTERS = _PATH_CHARACTERS | frozenset("?")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_PERCENT_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
SCHEMES = ("http", "https")

# The stand-in for the output of a Go template action, such as `{{ $labels.job }}`,
# whose text is only known when Prometheus expands it. A part of a URL that contains
# it is checked only in its written characters.
_ACTION = "\x00"


def _quoted(character: str) -> str:
    """Name a character as a message shows it: "<", a space, or U+0009."""
    if character == " ":
        return "a space"
    if character == '"':
        return "a double quote"
    if not character.isprintable():
        return f"U+{ord(character):04X}"
    return f'"{character}"'


def host_name_problem(host: str) -> str | None:
    """Return why `host` is neither a DNS host name nor an IPv4 address, or None.

    A name whose last label is a number must be an IPv4 address, because the last
    label of a host name is never numeric (RFC 1123, section 2.1).
    """
    if _ACTION in host:
        return _templated_host_problem(host)
    if not host:
        return "is empty"
    wrong = [character for character in host if character not in _HOST_NAME_CHARACTERS]
    if wrong:
        return _host_character_problem(host, wrong[0])
    name = host.removesuffix(".")
    if len(name) > MAX_HOST_NAME:
        return f"is longer than {MAX_HOST_NAME} characters"
    labels = name.split(".")
    for label in labels:
        problem = _label_problem(label)
        if problem is not None:
            return problem
    if labels[-1].isdigit():
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            return "is neither a host name nor an IPv4 address of four numbers 0-255"
    return None


def _host_character_problem(host: str, character: str) -> str:
    if character in ":[]":
        return (
            f"contains {_quoted(character)}; write an IPv6 address in brackets, "
            'such as "[::1]"'
        )
    if not character.isascii():
        try:
            encoded = host.encode("idna").decode("ascii")
        except UnicodeError:
            return f"contains {_quoted(character)}, and a host name is ASCII"
        return f'contains {_quoted(character)}; write the name as "{encoded}"'
    return (
        f"contains {_quoted(character)}, and a host name has only ASCII letters, "
        'digits, "-", "_" and "."'
    )


def _label_problem(label: str) -> str | None:
    """Return why one label of a host name, between two dots, is invalid."""
    if not label:
        return "has an empty label between two dots"
    if label.startswith("-") or label.endswith("-"):
        return f'has the label "{label}", but a label may not start or end with "-"'
    if len(label) > MAX_HOST_LABEL:
        return f'has a label longer than {MAX_HOST_LABEL} characters, "{label[:20]}..."'
    return None


def _templated_host_problem(host: str) -> str | None:
    """Check the written characters of a host that a template action completes."""
    for character in host:
        if character != _ACTION and character not in _HOST_NAME_CHARACTERS:
            return _host_character_problem(host.replace(_ACTION, ""), character)
    return None


def ipv6_problem(address: str, *, zone: str | None = None) -> str | None:
    """Return why `address`, written in brackets, is not an IPv6 address, or None.

    `zone` is what separates a zone index from the address, such as "%" in a
    host:port and "%25" in a URL (RFC 6874), or None where no zone is allowed.
    """
    if _ACTION in address:
        return None
    if zone is not None and zone in address:
        address, _, zone_index = address.partition(zone)
        if not zone_index:
            return f'has an empty zone index after "{zone}"'
    elif "%" in address:
        return (
            "has a zone index after %, and browsers open no URL with one; write a "
            "host name or an address without zone"
        )
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return "is not an IPv6 address, the only host that goes in brackets"
    return None


def port_problem(port: str) -> str | None:
    """Return why the port text of a URL or a host:port is invalid, or None."""
    if _ACTION in port:
        return None
    if not port:
        return 'is empty; remove the ":" or write a port'
    if not (port.isascii() and port.isdigit()):
        return "is not a number"
    digits = port.lstrip("0") or "0"
    # int() raises ValueError beyond sys.get_int_max_str_digits(), 4300 by default,
    # and a port of more digits than MAX_PORT is out of range anyway.
    if len(digits) > len(str(MAX_PORT)) or not 1 <= int(digits) <= MAX_PORT:
        return f"is outside 1-{MAX_PORT}"
    return None


def _characters_problem(text: str, allowed: frozenset[str]) -> str | None:
    """Return the first character of `text` outside `allowed` or a broken % escape."""
    for index, character in enumerate(text):
        if character == _ACTION:
            continue
        if character == "%":
            if _PERCENT_ENCODED.match(text, index) is None:
                escape = text[index : index + 3].replace(_ACTION, "")
                return (
                    f'contains "{escape}", but "%" starts a percent-encoded byte such '
                    'as %20; write a "%" itself as %25'
                )
            continue
        if character in allowed:
            continue
        if not character.isascii():
            encoded = "".join(f"%{byte:02X}" for byte in character.encode())
            return (
                f"contains {_quoted(character)}; write it percent-encoded as {encoded}"
            )
        return f"contains {_quoted(character)}"
    return None


def url_problem(
    url: str, *, query: bool = True, zone: bool = False, template: bool = False
) -> str | None:
    """Return why `url` is not an absolute http or https URL, or None.

    With `query=False`, a query or fragment is a problem too. With `zone=True`, an
    IPv6 host may carry a zone index (`[fe80::1%25eth0]`, RFC 6874), which Go reads
    and browsers do not. With `template=True`, `url` is a Go template. The output of
    its actions is unknown, so the checks skip it, and a URL that an action starts or
    that `if` or `range` assemble is not checked.
    """
    if _ACTION in url:
        return f"contains {_quoted(_ACTION)}"
    if template:
        expanded = _without_actions(url)
        if expanded is None:
            return None
        url = expanded
    scheme_match = _SCHEME.match(url)
    if scheme_match is None or url[scheme_match.end() : scheme_match.end() + 1] != ":":
        if url.startswith(_ACTION):
            return None
        return "has no scheme; start it with http:// or https://"
    scheme = scheme_match.group()
    rest = url[scheme_match.end() + 1 :]
    if scheme.lower() not in SCHEMES:
        if not rest.startswith("//"):
            # Such as localhost:3000, whose host reads as a scheme.
            return "has no scheme; start it with http:// or https://"
        return f'has the scheme "{scheme}"; use http or https'
    if not rest.startswith("//"):
        return f'has no "//" after "{scheme}:"; write {scheme}://HOST'
    rest = rest[2:]
    authority_end = len(rest)
    for delimiter in "/?#":
        found = rest.find(delimiter)
        if found != -1:
            authority_end = min(authority_end, found)
    authority, rest = rest[:authority_end], rest[authority_end:]
    problem = _authority_problem(authority, zone)
    if problem is not None:
        return problem
    path, _, fragment = rest.partition("#")
    path, question, query_text = path.partition("?")
    problem = _characters_problem(path, _PATH_CHARACTERS)
    if problem is not None:
        return f'has the path "{_shown(path)}", which {problem}'
    if not query and question:
        return f'has a query, "?{_shown(query_text)}"'
    if not query and "#" in rest:
        return f'has a fragment, "#{_shown(fragment)}"'
    problem = _characters_problem(query_text, _QUERY_CHARACTERS)
    if problem is not None:
        return f'has the query "{_shown(query_text)}", which {problem}'
    problem = _characters_problem(fragment, _QUERY_CHARACTERS)
    if problem is not None:
        return f'has the fragment "{_shown(fragment)}", which {problem}'
    return None


def _authority_problem(authority: str, zone: bool) -> str | None:
    if "@" in authority:
        return 'contains credentials before "@"'
    if authority.startswith("["):
        close = authority.find("]")
        if close == -1:
            return f'has the host "{_shown(authority)}", which has no closing "]"'
        host, after = authority[: close + 1], authority[close + 1 :]
        if after and not after.startswith(":"):
            return (
                f'has "{_shown(after)}" after the host "{_shown(host)}", where only '
                "a port may follow"
            )
        port = after[1:] if after else None
        problem = ipv6_problem(host[1:-1], zone="%25" if zone else None)
    else:
        if authority.count(":") > 1 and is_ipv6(authority):
            return (
                f'has the IPv6 address "{authority}" without brackets; write it as '
                f'"[{authority}]"'
            )
        host, colon, port_text = authority.partition(":")
        port = port_text if colon else None
        problem = host_name_problem(host) if host else None
        if not host:
            return "has no host"
    if problem is not None:
        return f'has the host "{_shown(host)}", which {problem}'
    if port is not None:
        problem = port_problem(port)
        if problem is not None:
            if port:
                return f'has the port "{_shown(port)}", which {problem}'
            return f"has a port that {problem}"
    return None


def is_ipv6(text: str) -> bool:
    """Return True for an IPv6 address, with or without a zone (`fe80::1%eth0`)."""
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _shown(text: str) -> str:
    """Return a part of a URL as written, with `...` for a template action."""
    return text.replace(_ACTION, "...")


def _without_actions(template: str) -> str | None:
    """Return the text of a Go template with each action replaced by _ACTION.

    Return None for a template with an error, which alert/template reports, or with
    control structures, whose output depends on the data.
    """
    parts = []
    for token in lex(template):
        if token.kind is Kind.ERROR or token.kind is Kind.KEYWORD:
            return None
        if token.kind is Kind.TEXT:
            parts.append(token.value)
        elif token.kind is Kind.LEFT_DELIM:
            parts.append(_ACTION)
    return "".join(parts)
