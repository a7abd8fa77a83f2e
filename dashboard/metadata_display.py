"""Metadata values as people read them: sizes in KB/MB, links only to web addresses."""

from __future__ import annotations

import json
from typing import Any, TypedDict

from django.template.defaultfilters import filesizeformat

from pipelines import selectors

VALUE_CHARS = 500


class ShownMetadata(TypedDict):
    key: str
    type: str
    text: str
    href: str  # empty unless the value is an http(s) Uri


def shown_value(value: Any, kind: str) -> tuple[str, str]:
    """(text, href) for one metadata value; the template escapes both."""
    if kind == "StorageSize" and isinstance(value, int) and not isinstance(value, bool):
        return f"{filesizeformat(value)} ({value:,} bytes)", ""
    if kind == "Uri" and isinstance(value, str):
        # Anything but http(s) (javascript:, data:, file:) stays plain text.
        href = value if value.lower().startswith(("http://", "https://")) else ""
        return value, href
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, float):
        # 12 significant digits: 0.86, not the 0.8600000000000001 arithmetic leaves.
        text = f"{value:.12g}"
    elif isinstance(value, int):
        text = str(value)
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if len(text) > VALUE_CHARS:
        text = text[: VALUE_CHARS - 1] + "…"
    return text, ""


def shown_metadata(rows: Any) -> list[ShownMetadata]:
    """The latest entry per key of prefetched metadata rows, ready for a template."""
    shown: list[ShownMetadata] = []
    for entry in sorted(selectors.latest_metadata(rows), key=lambda item: item["key"]):
        text, href = shown_value(entry["value"], entry["type"])
        shown.append({"key": entry["key"], "type": entry["type"], "text": text, "href": href})
    return shown
