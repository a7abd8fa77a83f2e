"""How a step is retried when it raises."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pipelines.sdk.exceptions import PipelineDefinitionError

MAX_RETRIES_LIMIT = 100
MAX_DELAY_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class StepRetryConfig:
    """Retry a failing step up to `max_retries` more times.

    The n-th retry waits `delay * backoff ** (n - 1)` seconds, so `backoff=2` doubles
    the wait each time. Raise `NonRetryableError` to fail at once.
    """

    max_retries: int = 1
    delay: float = 0.0
    backoff: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise PipelineDefinitionError(f"max_retries must be an int, got {self.max_retries!r}.")
        if not 0 <= self.max_retries <= MAX_RETRIES_LIMIT:
            raise PipelineDefinitionError(f"max_retries must be between 0 and {MAX_RETRIES_LIMIT}.")
        if not 0 <= float(self.delay) <= MAX_DELAY_SECONDS:
            raise PipelineDefinitionError(f"delay must be between 0 and {MAX_DELAY_SECONDS:.0f} seconds.")
        if not 1 <= float(self.backoff) <= 10:
            raise PipelineDefinitionError("backoff must be between 1 (a constant delay) and 10.")

    def wait_before(self, retry_number: int) -> float:
        """Seconds to wait before the retry_number-th retry (1-based)."""
        return min(float(self.delay) * float(self.backoff) ** (retry_number - 1), MAX_DELAY_SECONDS)

    def to_spec(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_spec(cls, data: dict[str, Any] | None) -> StepRetryConfig | None:
        return cls(**data) if data else None
