"""obscompile: compile service manifests into monitoring artifacts."""

__version__ = "0.1.0"
