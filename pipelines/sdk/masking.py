"""Masking the secret values a step has read, wherever the step's output is kept.

A step that reads a secret registers its values with the masker of its attempt;
the worker then replaces each of them with `****` in the step's captured log, its
error and traceback, and the metadata it logs.

Values shorter than MIN_MASKED_LENGTH are not masked: replacing every "1" or "ab"
would wreck the log while hiding next to nothing.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from typing import Any

MASK = "****"
MIN_MASKED_LENGTH = 4


def _printed_forms(value: str) -> set[str]:
    """`value` as a step can print it: as is, and escaped by JSON, repr() and
    ascii() (a printed dict, a traceback) and as UTF-8 bytes, quotes stripped.

    JSON escapes quotes and, by default, non-ASCII letters (`\\u00e4`); with
    `ensure_ascii=False` it keeps the letters but still escapes the quotes, so a
    value with both prints in a third form of its own. repr() keeps the letters,
    ascii() escapes them as `\\xe4`, and bytes as `\\xc3\\xa4`.
    """
    return {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
        ascii(value)[1:-1],
        # surrogatepass: a lone surrogate (odd input) must not make add() raise.
        repr(value.encode("utf-8", "surrogatepass"))[2:-1],
    }


class SecretMasker:
    """The values to hide from one step attempt's records. Thread-safe: the step
    registers values while the worker's heartbeat thread masks its log."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._values)

    def __repr__(self) -> str:
        return f"<SecretMasker of {len(self._values)} value(s)>"

    def add(self, value: Any) -> None:
        """Hide `value` (and every printed form of it, see `_printed_forms`) from now on."""
        self.add_values([value])

    def add_values(self, values: Iterable[Any]) -> None:
        forms: set[str] = set()
        for value in values:
            if not isinstance(value, str):
                value = "" if value is None else str(value)
            if len(value) < MIN_MASKED_LENGTH:
                continue
            forms.update(_printed_forms(value))
        with self._lock:
            new = {form for form in forms if len(form) >= MIN_MASKED_LENGTH} - self._values
            if not new:
                return
            self._values |= new
            # Longest first, so a value containing another is hidden whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(value) for value in ordered))

    def mask(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def mask_value(self, value: Any) -> Any:
        """`value` with every string inside it (dict keys too) masked."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            masked = self.mask(value)
            if masked == value:
                return value
            return masked if type(value) is str else type(value)(masked)  # a metadata Uri stays a Uri
        if isinstance(value, dict):
            return {self.mask_value(key): self.mask_value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.mask_value(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.mask_value(item) for item in value)
        return value

    def mask_metadata(self, entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Encoded metadata entries ({"key", "value", "type"}) with keys and values masked."""
        if self._pattern is None:
            return list(entries)
        return [
            {**entry, "key": self.mask(entry["key"]), "value": self.mask_value(entry["value"])} for entry in entries
        ]
