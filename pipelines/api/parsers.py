"""The API's only request parser: JSON, bounded in size and depth, without NUL characters.

The limits are stated once, in `config/settings/base.py` (`DATA_UPLOAD_MAX_MEMORY_SIZE`
for the body) and here (`MAX_JSON_DEPTH`). DRF's parsers read the request stream
themselves, so Django's own body limit never applied to them: without this parser a
body of any size was read into memory, and a body nested ~1,000 deep crashed the
decoder with a RecursionError (a 500).
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer

from pipelines.sdk.spec import MAX_STEPS

# Far deeper than any spec, metadata value or parameter the SDK sends (a spec is about
# six levels), far shallower than where Python's recursion limit would fail.
MAX_JSON_DEPTH = 100

NUL_MESSAGE = "NUL characters (\\u0000) are not allowed"


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def body_limit() -> int | None:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def too_large() -> RequestTooLarge:
    limit = body_limit() or 0
    return RequestTooLarge(
        f"The request body is larger than the limit of {limit:,} bytes ({limit / 2**20:g} MiB); "
        f"send less (a pipeline may have at most {MAX_STEPS:,} steps)."
    )


def nul_error(where: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({where: [f"{NUL_MESSAGE} (PostgreSQL cannot store them)."]})


def check_depth_and_nul(data: Any) -> None:
    """Raises a 400 naming the first place nested deeper than MAX_JSON_DEPTH or holding a NUL.

    Iterative, so that checking cannot itself run out of stack; the place's name is
    built only for the error (a 10,000-step spec has some 200,000 values)."""
    pending: list[tuple[Any, int, Any]] = [(data, 1, None)]
    while pending:
        value, depth, trail = pending.pop()
        if type(value) is str:
            if "\x00" in value:
                raise nul_error(_where(trail))
        elif type(value) is dict:
            if depth > MAX_JSON_DEPTH:
                raise _too_deep(trail)
            for key, item in value.items():
                if "\x00" in key:
                    raise nul_error(_where((trail, key)))
                pending.append((item, depth + 1, (trail, key)))
        elif type(value) is list:
            if depth > MAX_JSON_DEPTH:
                raise _too_deep(trail)
            pending.extend((item, depth + 1, (trail, index)) for index, item in enumerate(value))


def _where(trail: Any) -> str:
    parts: list[str] = []
    while trail is not None:
        trail, key = trail
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    text = "".join(reversed(parts)).lstrip(".") or "body"
    return text.replace("\x00", "\\u0000")


def _too_deep(trail: Any) -> exceptions.ParseError:
    return exceptions.ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels (at {_where(trail)}).")


class JSONParser(BaseParser):
    media_type = "application/json"
    renderer_class = JSONRenderer

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        limit = body_limit()
        if stream is None:
            return {}
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise too_large()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
            data = json.loads(text, parse_constant=_refuse_constant)
        except RecursionError:
            raise exceptions.ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.") from None
        except (ValueError, LookupError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        check_depth_and_nul(data)
        return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
