"""Secrets as the Client returns them.

A `SecretSummary` (what lists and writes return) never holds values. A `Secret`
(what `Client().get_secret(...)` returns) holds them in `secret_values` (also
`values`, as in ZenML), and neither its repr nor str ever shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipelines.sdk.masking import MASK


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


class SecretValues(dict[str, str]):
    """A secret's key-value pairs: a plain dict, except that printing it shows `****`
    for every value, so a stray print() or log line does not reveal them."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{key!r}: {MASK!r}" for key in self) + "}"

    __str__ = __repr__


@dataclass(frozen=True)
class SecretSummary:
    """A secret's name, description and keys; never its values."""

    id: int
    name: str
    description: str
    keys: list[str]
    created_at: datetime | None
    updated_at: datetime | None
    created_by: Any = None
    updated_by: Any = None

    @classmethod
    def from_api(cls, data: dict[str, Any], client: Any = None) -> SecretSummary:
        return cls(
            id=data["id"],
            name=data["name"],
            description=data.get("description") or "",
            keys=list(data.get("keys") or []),
            created_at=_time(data.get("created_at")),
            updated_at=_time(data.get("updated_at")),
            created_by=data.get("created_by"),
            updated_by=data.get("updated_by"),
        )


@dataclass(frozen=True, repr=False)
class Secret(SecretSummary):
    """A secret with its values: `secret.secret_values["password"]`."""

    secret_values: SecretValues = field(default_factory=SecretValues, compare=False)

    @classmethod
    def with_values(cls, summary: SecretSummary, values: dict[str, str]) -> Secret:
        return cls(**{**summary.__dict__, "secret_values": SecretValues(values)})

    @property
    def values(self) -> SecretValues:
        """The same dict as `secret_values`."""
        return self.secret_values

    def __repr__(self) -> str:
        return (
            f"Secret(id={self.id!r}, name={self.name!r}, description={self.description!r}, "
            f"keys={self.keys!r}, secret_values={self.secret_values!r})"
        )

    __str__ = __repr__
