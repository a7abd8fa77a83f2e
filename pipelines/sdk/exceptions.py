"""Errors the SDK raises. Each message says what went wrong and what to do."""

from __future__ import annotations


class PipelinesError(Exception):
    """Base class of every error this package raises on purpose."""


class PipelineDefinitionError(PipelinesError):
    """A pipeline or step is defined or called in a way that cannot run."""


class StepContextError(PipelinesError, RuntimeError):
    """The step context was used outside a step, or asked for an unknown output.

    A RuntimeError too: ZenML's `get_step_context()` raises one outside a step, and
    code written for it catches that.
    """


class ServerError(PipelinesError):
    """The server refused a request or could not be reached."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class AuthenticationError(ServerError):
    """The API token is missing or wrong."""


class NonRetryableError(PipelinesError):
    """Raise it (or a subclass) in a step to fail the step at once, without retries."""


class NoWorkerError(PipelinesError):
    """No worker is consuming the queue, so the run cannot progress."""


class RunFailedError(PipelinesError):
    """A pipeline run ended in failure."""

    def __init__(self, message: str, *, run: object, failed_steps: list[str]) -> None:
        super().__init__(message)
        self.run = run
        self.failed_steps = failed_steps
