"""Render stage: Jinja templates that turn derived views into artifact text."""
