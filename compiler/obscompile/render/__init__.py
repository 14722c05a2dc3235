"""Render stage: Jinja templates that turn derived views into artifact text."""

from pathlib import Path

import obscompile


def builtin_templates_dir() -> Path:
    """Return the built-in templates: inside the wheel, or the source checkout's folder."""
    packaged = Path(obscompile.__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(obscompile.__file__).resolve().parents[2] / "templates"
