"""Strings that say what they hold, as ZenML's `zenml.types`: a step returning one gets
it saved as an `.html`/`.md`/`.csv` file and shown as such on the artifact's page."""

from __future__ import annotations


class HTMLString(str):
    """An HTML document (shown in the dashboard's sandboxed frame, scripts off)."""


class MarkdownString(str):
    """Markdown text (shown as its escaped source)."""


class CSVString(str):
    """Comma-separated values (shown as a table)."""


__all__ = ["CSVString", "HTMLString", "MarkdownString"]
