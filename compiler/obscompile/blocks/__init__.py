"""Building blocks shipped with obscompile; each registers itself by name."""

from obscompile.blocks import http, scrape  # noqa: F401
