"""URL, host name and port syntax: tables of valid and invalid values."""

from __future__ import annotations

import pytest

from obscompile.load.urls import host_name_problem, port_problem, url_problem

VALID_HOSTS = [
    "localhost",
    "grafana_1",
    "grafana.example.com",
    "grafana.example.com.",
    "x1.example",
    "127.0.0.1",
    "a" * 63 + ".example",
    ".".join(["a" * 63] * 3 + ["a" * 61]),
]

INVALID_HOSTS = [
    ("", "is empty"),
    (
        "graf ana",
        'contains a space, and a host name has only ASCII letters, digits, "-", "_" and "."',
    ),
    (
        "graf/ana",
        'contains "/", and a host name has only ASCII letters, digits, "-", "_" and "."',
    ),
    ("::1", 'contains ":"; write an IPv6 address in brackets, such as "[::1]"'),
    ("bücher.example", 'contains "ü"; write the name as "xn--bcher-kva.example"'),
    (".example", "has an empty label between two dots"),
    ("a..example", "has an empty label between two dots"),
    ("a-.example", 'has the label "a-", but a label may not start or end with "-"'),
    ("-a.example", 'has the label "-a", but a label may not start or end with "-"'),
    ("a" * 64, 'has a label longer than 63 characters, "aaaaaaaaaaaaaaaaaaaa..."'),
    (".".join(["a" * 63] * 4), "is longer than 253 characters"),
    ("256.0.0.1", "is neither a host name nor an IPv4 address of four numbers 0-255"),
    ("1.2.3", "is neither a host name nor an IPv4 address of four numbers 0-255"),
    ("010.0.0.1", "is neither a host name nor an IPv4 address of four numbers 0-255"),
    ("grafana.1", "is neither a host name nor an IPv4 address of four numbers 0-255"),
]


@pytest.mark.parametrize("host", VALID_HOSTS)
def test_valid_host(host: str) -> None:
    assert host_name_problem(host) is None


@pytest.mark.parametrize(("host", "problem"), INVALID_HOSTS)
def test_invalid_host(host: str, problem: str) -> None:
    assert host_name_problem(host) == problem


@pytest.mark.parametrize(
    "port",
    ["1", "80", "08080", "65535", pytest.param("0" * 5000 + "80", id="zeros-80")],
)
def test_valid_port(port: str) -> None:
    assert port_problem(port) is None


@pytest.mark.parametrize(
    ("port", "problem"),
    [
        ("", 'is empty; remove the ":" or write a port'),
        ("http", "is not a number"),
        ("+80", "is not a number"),
        ("٣٠٠٠", "is not a number"),
        ("0", "is outside 1-65535"),
        ("65536", "is outside 1-65535"),
        pytest.param("9" * 5000, "is outside 1-65535", id="5000-digits"),
    ],
)
def test_invalid_port(port: str, problem: str) -> None:
    assert port_problem(port) == problem


VALID_URLS = [
    "http://grafana",
    "HTTPS://grafana.example.com:443/",
    "https://[2001:db8::1]:8443/a/b",
    "https://example.com/a%20b?q=1&r=a/b?c#frag/x?",
    "https://example.com/~user/(x)/*;=,'!$&+@:",
]


@pytest.mark.parametrize("url", VALID_URLS)
def test_valid_url(url: str) -> None:
    assert url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "query", "problem"),
    [
        (
            "https://example.com/?a b",
            True,
            'has the query "a b", which contains a space',
        ),
        (
            "https://example.com/#a<b",
            True,
            'has the fragment "a<b", which contains "<"',
        ),
        ("https://example.com/?", False, 'has a query, "?"'),
        ("https://example.com/#", False, 'has a fragment, "#"'),
        ("https://example.com/\x00", True, "contains U+0000"),
        (
            "https://example.com/a\tb",
            True,
            'has the path "/a\tb", which contains U+0009',
        ),
    ],
)
def test_invalid_url(url: str, query: bool, problem: str) -> None:
    assert url_problem(url, query=query) == problem


@pytest.mark.parametrize(
    ("url", "zone", "problem"),
    [
        ("http://[fe80::1%25eth0]/", True, None),
        (
            "http://[fe80::1%25]/",
            True,
            'has the host "[fe80::1%25]", which has an empty zone index after "%25"',
        ),
        (
            "http://[fe80::1%25eth0]/",
            False,
            'has the host "[fe80::1%25eth0]", which has a zone index after %, and '
            "browsers open no URL with one; write a host name or an address without zone",
        ),
    ],
)
def test_ipv6_zone(url: str, zone: bool, problem: str | None) -> None:
    assert url_problem(url, zone=zone) == problem


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("https://runbooks.example.com/{{ $labels.alertname }}", None),
        ("https://{{ $labels.region }}.example.com:{{ $labels.port }}/x", None),
        ("https://[{{ $labels.address }}]/x", None),
        ("{{ .ExternalURL }}/runbooks", None),
        ("{{ if $labels.x }}no url{{ end }}", None),
        ("https://example.com/{{ $labels.job", None),
        (
            "runbooks/{{ $labels.job }}",
            "has no scheme; start it with http:// or https://",
        ),
        (
            "https://wiki/{{ $labels.job }} page",
            'has the path "/... page", which contains a space',
        ),
        ("https://wiki:{{ $labels.port }}/", None),
        ("https://wiki:0{{ $labels.port }}/", None),
        (
            "https://wiki:99999/{{ $labels.job }}",
            'has the port "99999", which is outside 1-65535',
        ),
        (
            "https://wi ki{{ $labels.job }}/",
            'has the host "wi ki...", which contains a space, and a host name has only '
            'ASCII letters, digits, "-", "_" and "."',
        ),
    ],
)
def test_templated_url(template: str, problem: str | None) -> None:
    assert url_problem(template, template=True) == problem
