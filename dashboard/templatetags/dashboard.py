"""Small template helpers shared by every dashboard page."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.http import QueryDict
from django.utils.html import format_html

register = template.Library()

# Status is never shown by colour alone: every badge carries a symbol and a word.
STATUS_SYMBOLS = {
    "completed": "✓",
    "cached": "↺",
    "failed": "✕",
    "running": "▶",
    "retrying": "⟳",
    "stopped": "■",
    "stopping": "■",
    "skipped": "⤼",
    "queued": "…",
    "pending": "…",
    "initializing": "…",
    "ready": "✓",
    "production": "★",
    "staging": "◆",
    "archived": "▫",
}


@register.simple_tag
def status_badge(status: str, label: str | None = None) -> str:
    """A status as symbol + word, coloured by a CSS class (`status-<status>`)."""
    symbol = STATUS_SYMBOLS.get(status, "•")
    return format_html(
        '<span class="status status-{}"><span aria-hidden="true">{}</span> {}</span>',
        status,
        symbol,
        label or status.replace("_", " ").capitalize(),
    )


@register.filter
def duration(value: timedelta | float | None) -> str:
    """`1.234 s`, `2 min 5 s`, `1 h 3 min` — or an em dash when unknown."""
    if value is None:
        return "—"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 60:
        return f"{seconds:.3g} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.simple_tag
def elapsed(start: datetime | None, end: datetime | None) -> str:
    """The duration between two timestamps, formatted like `duration`."""
    if start is None or end is None:
        return "—"
    return duration(end - start)


@register.inclusion_tag("dashboard/_sort_header.html", takes_context=True)
def sort_header(context: template.Context, field: str, label: str) -> dict[str, object]:
    """A column header that sorts by `field`, toggling ascending/descending.

    The current order lives in the `sort` query parameter (`-field` for descending);
    the other parameters (filters) are kept, and the page resets to the first.
    """
    request = context["request"]
    current = request.GET.get("sort", "")
    params: QueryDict = request.GET.copy()
    params.pop("page", None)
    if current == field:
        params["sort"], state = f"-{field}", "ascending"
    elif current == f"-{field}":
        params["sort"], state = field, "descending"
    else:
        params["sort"], state = f"-{field}", "none"
    return {"href": f"?{params.urlencode()}", "label": label, "state": state}
