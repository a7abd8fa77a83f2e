"""ZenML's enums a user compares with or passes in: `ModelStages`, `ExecutionStatus`,
`VisualizationType`.

String enums, so each member is equal to (and is sent as) the plain string the
server uses: `run.status == ExecutionStatus.COMPLETED` and
`Model(name, version=ModelStages.PRODUCTION)` work with the values the API returns.
The server's own choices live in `pipelines.models` (Django); a test keeps the two
in step.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ExecutionStatus", "ModelStages", "VisualizationType"]


class ModelStages(StrEnum):
    """A model version's stage; `LATEST` names the newest version, not a stage."""

    NONE = "none"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"
    LATEST = "latest"


class ExecutionStatus(StrEnum):
    """A run's or a step's status (ZenML has one enum for both)."""

    INITIALIZING = "initializing"
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    STOPPING = "stopping"
    COMPLETED = "completed"
    CACHED = "cached"
    FAILED = "failed"
    STOPPED = "stopped"
    SKIPPED = "skipped"


class VisualizationType(StrEnum):
    """What `BaseMaterializer.save_visualizations` says a file it wrote is."""

    CSV = "csv"
    HTML = "html"
    IMAGE = "image"
    MARKDOWN = "markdown"
    JSON = "json"
