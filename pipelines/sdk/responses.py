"""Typed views of what the server returns, navigable from a script or a step."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pipelines.sdk.exceptions import NoWorkerError, RunFailedError
from pipelines.sdk.metadata import MetadataEntry, entries_from_api
from pipelines.sdk.run_configuration import RunConfiguration

if TYPE_CHECKING:
    from pipelines.sdk.client import Client

FINISHED_RUN_STATUSES = frozenset({"completed", "failed", "stopped"})
# How long a run may sit with no live worker before waiting for it is pointless.
NO_WORKER_GRACE_SECONDS = 5.0


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    """One page of a list: `items`, and where it sits (`page`, `size`, `total`)."""

    items: list[T]
    page: int
    size: int
    total: int

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]

    @property
    def total_pages(self) -> int:
        return max(1, -(-self.total // self.size))


@dataclass
class Artifact:
    """An artifact: a name under which versions accumulate."""

    id: int
    name: str
    created_at: datetime | None
    _client: Client | None = field(default=None, repr=False, compare=False)
    tags: list[str] = field(default_factory=list)

    @classmethod
    def from_api(cls, data: dict[str, Any], client: Client | None) -> Artifact:
        return cls(
            id=data["id"],
            name=data["name"],
            created_at=_time(data.get("created_at")),
            _client=client,
            tags=list(data.get("tags") or []),
        )

    @property
    def versions(self) -> dict[str, ArtifactVersion]:
        """Every ready version, keyed by version name, oldest first (as ZenML's)."""
        client = _require_client(self._client, "artifact")
        found: dict[str, ArtifactVersion] = {}
        page = 1
        while True:
            batch = client.list_artifact_versions(artifact=self.id, page=page, size=500, sort_by="id")
            found.update((version.version, version) for version in batch)
            if page >= batch.total_pages:
                return found
            page += 1


@dataclass
class ArtifactVersion:
    id: int
    artifact_name: str
    version: str
    uri: str
    materializer: str
    data_type: str
    checksum: str
    size: int
    producer_step_run_id: int | None
    run_metadata: dict[str, MetadataEntry] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    # What the writer recorded of its files (see `ArtifactVersion.file_identities` on
    # the server): spares hashing them again on load while they are untouched.
    file_identities: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _client: Client | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any], client: Client | None) -> ArtifactVersion:
        return cls(
            id=data["id"],
            artifact_name=data["artifact"],
            version=str(data["version"]),
            uri=data["uri"],
            materializer=data["materializer"],
            data_type=data["data_type"],
            checksum=data["checksum"],
            size=data["size"],
            producer_step_run_id=data.get("producer_step_run"),
            run_metadata=entries_from_api(data.get("run_metadata")),
            tags=list(data.get("tags") or []),
            file_identities=data.get("file_identities") or {},
            _client=client,
        )

    @property
    def name(self) -> str:
        return self.artifact_name

    @property
    def producer_step(self) -> StepRun | None:
        """The step run that produced this version (fetched from the server)."""
        if self.producer_step_run_id is None or self._client is None:
            return None
        return self._client.get_run_step(self.producer_step_run_id)

    def load(self) -> Any:
        """Read the artifact through its materializer: from its store, or through the
        server when this process cannot reach the store (PIPELINES_ARTIFACT_ACCESS)."""
        from pipelines.sdk.artifact_access import load_version

        return load_version(
            uri=self.uri,
            materializer=self.materializer,
            data_type=self.data_type,
            checksum=self.checksum,
            version_id=self.id,
            size=self.size,
            client=self._client,
            file_identities=self.file_identities,
        )


def _require_client(client: Client | None, what: str) -> Client:
    if client is None:
        raise ValueError(f"This {what} was built without a Client; fetch it through Client() to navigate from it.")
    return client


@dataclass
class StepConfig:
    """A step run's configuration: its name, parameters and source (ZenML's `step.config`)."""

    name: str
    parameters: dict[str, Any]
    source: str


@dataclass
class StepRun:
    id: int
    name: str
    status: str
    attempt: int
    error: str
    source: str
    parameters: dict[str, Any]
    cache_key: str
    failure_count: int
    crash_count: int
    cached_from: int | None
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    inputs: dict[str, ArtifactVersion]
    outputs: dict[str, ArtifactVersion]
    run_metadata: dict[str, MetadataEntry] = field(default_factory=dict)
    # The Celery queue it was sent to and the worker (host:pid) of its latest attempt.
    queue: str = ""
    worker: str = ""
    pipeline_run_id: int | None = None
    # The captured log text, None when the answer did not carry it (a list's items).
    _logs: str | None = field(default=None, repr=False, compare=False)
    _client: Client | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any], client: Client | None) -> StepRun:
        return cls(
            id=data["id"],
            name=data["name"],
            status=data["status"],
            attempt=data["attempt"],
            error=data.get("error", ""),
            source=data.get("source", ""),
            parameters=data.get("parameters", {}),
            cache_key=data.get("cache_key", ""),
            failure_count=data.get("failure_count", 0),
            crash_count=data.get("crash_count", 0),
            cached_from=data.get("cached_from"),
            queued_at=_time(data.get("queued_at")),
            started_at=_time(data.get("started_at")),
            finished_at=_time(data.get("finished_at")),
            inputs={k: ArtifactVersion.from_api(v, client) for k, v in data.get("inputs", {}).items()},
            outputs={k: ArtifactVersion.from_api(v, client) for k, v in data.get("outputs", {}).items()},
            run_metadata=entries_from_api(data.get("run_metadata")),
            queue=data.get("queue", ""),
            worker=data.get("worker", ""),
            pipeline_run_id=data.get("pipeline_run"),
            _logs=data.get("logs"),
            _client=client,
        )

    @property
    def config(self) -> StepConfig:
        """The step's configuration as ZenML names it: `.config.parameters`."""
        return StepConfig(name=self.name, parameters=self.parameters, source=self.source)

    @property
    def logs(self) -> str:
        """The step's captured log text (secret values read in the step are masked)."""
        if self._logs is None:
            self._logs = _require_client(self._client, "step run").get_step_logs(self.id)
        return self._logs

    @property
    def run(self) -> PipelineRun:
        """The pipeline run this step belongs to (fetched from the server)."""
        if self.pipeline_run_id is None:
            raise ValueError(f"Step run {self.id} does not name its pipeline run.")
        return _require_client(self._client, "step run").get_pipeline_run(self.pipeline_run_id)

    @property
    def output(self) -> ArtifactVersion:
        """The only output of a single-output step."""
        if len(self.outputs) != 1:
            raise ValueError(f"Step {self.name!r} has outputs {', '.join(self.outputs) or 'none'}; use .outputs[name].")
        return next(iter(self.outputs.values()))


@dataclass
class PipelineRun:
    id: int
    name: str
    pipeline_name: str
    status: str
    revision: int
    parameters: dict[str, Any]
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    # None when built from a list's item, which carries neither: fetched on first use.
    _steps: dict[str, StepRun] | None = field(repr=False)
    _run_metadata: dict[str, MetadataEntry] | None = field(default=None, repr=False)
    # As ZenML's: `config.extra`, `config.enable_cache`; still a dict (`config["extra"]`).
    config: RunConfiguration = field(default_factory=RunConfiguration)
    pipeline_id: int | None = None
    # As ZenML's `run.tags` (its tags' names here): @pipeline(tags=...), with_options, YAML.
    tags: list[str] = field(default_factory=list)
    # What started it: "code", "api", "rerun" or "schedule" (None from an older server).
    trigger: str | None = None
    # The id of the run this one re-runs (trigger "rerun").
    rerun_of: int | None = None
    # The id of the schedule that started it (trigger "schedule").
    schedule: int | None = None
    # The id of the recorded pipeline version it ran (Client().list_pipeline_versions).
    pipeline_version: int | None = None
    _client: Client | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any], client: Client | None) -> PipelineRun:
        return cls(
            id=data["id"],
            name=data["name"],
            pipeline_name=data["pipeline"]["name"],
            status=data["status"],
            revision=data["revision"],
            parameters=data.get("parameters", {}),
            created_at=_time(data.get("created_at")),
            started_at=_time(data.get("started_at")),
            finished_at=_time(data.get("finished_at")),
            _steps={s["name"]: StepRun.from_api(s, client) for s in data["steps"]} if "steps" in data else None,
            _run_metadata=entries_from_api(data["run_metadata"]) if "run_metadata" in data else None,
            config=RunConfiguration(data.get("config") or {}),
            pipeline_id=data["pipeline"].get("id"),
            tags=list(data.get("tags") or []),
            trigger=data.get("trigger"),
            rerun_of=data.get("rerun_of"),
            schedule=data.get("schedule"),
            pipeline_version=data.get("pipeline_version"),
            _client=client,
        )

    @property
    def steps(self) -> dict[str, StepRun]:
        """The run's step runs by name (a list's item fetches them on first use)."""
        if self._steps is None:
            self._load_detail()
        assert self._steps is not None
        return self._steps

    @property
    def run_metadata(self) -> dict[str, MetadataEntry]:
        if self._run_metadata is None:
            self._load_detail()
        assert self._run_metadata is not None
        return self._run_metadata

    def _load_detail(self) -> None:
        if self._client is None:
            # Built by hand without a Client: nothing to fetch from.
            self._steps = {} if self._steps is None else self._steps
            self._run_metadata = {} if self._run_metadata is None else self._run_metadata
            return
        self.refresh()

    @property
    def pipeline(self) -> PipelineModel:
        """The pipeline this run belongs to (fetched from the server)."""
        return _require_client(self._client, "run").get_pipeline(self.pipeline_id or self.pipeline_name)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_RUN_STATUSES

    def _update(self, other: PipelineRun) -> None:
        self.__dict__.update({k: v for k, v in other.__dict__.items() if k != "_client"})

    def stop(self) -> PipelineRun:
        """Stop the run: steps not yet started never start; running ones finish."""
        assert self._client is not None
        self._update(self._client.stop_pipeline_run(self.id))
        return self

    def refresh(self) -> PipelineRun:
        assert self._client is not None
        self._update(self._client.get_pipeline_run(self.id))
        return self

    def wait(
        self, *, progress: bool = False, timeout: float | None = None, raise_on_failure: bool = True
    ) -> PipelineRun:
        """Block until the run finishes; learn of each change as it happens.

        While waiting, the server answers with statuses only; the whole run is
        fetched once at the end. Raises NoWorkerError when no worker is alive to run
        it, RunFailedError (naming the failed steps) when it fails, TimeoutError
        after `timeout` seconds.
        """
        assert self._client is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        no_worker_since: float | None = None
        # The queues of queued steps that no worker consumes, as last answered (None:
        # not known yet).
        unserved: list[str] | None = None
        statuses = {name: step.status for name, step in self.steps.items()}
        printed: dict[str, str] = {}
        while True:
            if progress:
                self._print_progress(statuses, printed)
            if self.finished:
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise TimeoutError(f"Run {self.name} is still {self.status} after {timeout} s.")
            poll = 20.0 if deadline is None else max(0.0, min(20.0, deadline - now))
            if unserved is None or unserved:
                # Until a worker is known to serve every queued step, ask often enough
                # to notice within seconds that none does.
                poll = min(poll, 1.0)
            change = self._client.wait_for_run_change(self.id, revision=self.revision, timeout=poll)
            self.status, self.revision, statuses = change["status"], change["revision"], change["steps"]
            if "run" in change:  # the final answer carries the whole run
                self._update(PipelineRun.from_api(change["run"], self._client))
            waiting = _queues_without_workers(change, statuses)
            if not waiting or waiting != unserved:
                no_worker_since = time.monotonic() if waiting else None
            elif no_worker_since is not None and time.monotonic() - no_worker_since > NO_WORKER_GRACE_SECONDS:
                raise NoWorkerError(_no_worker_message(self.name, waiting))
            unserved = waiting
        if any(step.status != statuses.get(name) for name, step in self.steps.items()):
            self.refresh()  # finished before this call; the statuses above are newer
        if raise_on_failure and self.status == "failed":
            failed = [s for s in self.steps.values() if s.status == "failed"]
            details = "\n".join(
                f"  step {s.name!r}: {s.error.strip().splitlines()[-1] if s.error.strip() else 'failed'}"
                for s in failed
            )
            raise RunFailedError(
                f"Run {self.name} failed in step(s) {', '.join(s.name for s in failed)}:\n{details}\n"
                f"The full traceback is on each step run.",
                run=self,
                failed_steps=[s.name for s in failed],
            )
        return self

    def _print_progress(self, statuses: dict[str, str], printed: dict[str, str]) -> None:
        for name, status in statuses.items():
            if printed.get(name) != status:
                printed[name] = status
                if status != "pending":
                    print(f"[{self.name}] {name}: {status}", flush=True)
        if printed.get("") != self.status and self.finished:
            printed[""] = self.status
            print(f"[{self.name}] run {self.status}", file=sys.stdout, flush=True)


def _queues_without_workers(change: dict[str, Any], statuses: dict[str, str]) -> list[str]:
    """The queues whose queued steps no live worker consumes, from a wait answer."""
    if "queues_without_workers" in change:
        return list(change["queues_without_workers"])
    # A server from before steps had queues of their own: only the run's queue is known.
    return [] if change["workers_alive"] or "running" in statuses.values() else ["the step queue"]


def _no_worker_message(run_name: str, queues: list[str]) -> str:
    named = [queue for queue in queues if queue != "the step queue"]
    if not named:
        return (
            f"No worker is consuming the step queue, so run {run_name} cannot start its "
            "steps. Start one with `celery -A config worker` (inside the project's venv); "
            "the run stays queued and proceeds when a worker starts."
        )
    listed = ", ".join(repr(queue) for queue in named)
    return (
        f"No worker is consuming the queue{'s' if len(named) > 1 else ''} {listed}, so run {run_name} "
        f"cannot start the steps sent there. Start one with `celery -A config worker -Q {','.join(named)}` "
        "(inside the project's venv, with the pipeline code importable); the run stays queued and "
        "proceeds when a worker starts."
    )


@dataclass
class PipelineModel:
    id: int
    name: str
    created_at: datetime | None
    tags: list[str] = field(default_factory=list)
    _client: Client | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any], client: Client | None) -> PipelineModel:
        return cls(
            id=data["id"],
            name=data["name"],
            created_at=_time(data.get("created_at")),
            tags=list(data.get("tags") or []),
            _client=client,
        )

    def get_runs(self, **filters: Any) -> list[PipelineRun]:
        """This pipeline's runs, newest first (the latest 50 unless `size` says otherwise)."""
        filters.setdefault("size", 50)
        return _require_client(self._client, "pipeline").list_pipeline_runs(pipeline=self.id, **filters).items

    @property
    def runs(self) -> list[PipelineRun]:
        """The latest 50 runs of this pipeline, newest first (as ZenML's)."""
        return self.get_runs()

    @property
    def last_run(self) -> PipelineRun:
        """The newest run; RuntimeError when the pipeline has none (as ZenML's)."""
        return self._newest({}, "runs")

    @property
    def last_successful_run(self) -> PipelineRun:
        """The newest completed run; RuntimeError when there is none (as ZenML's)."""
        return self._newest({"status": "completed"}, "successful runs")

    def _newest(self, filters: dict[str, Any], what: str) -> PipelineRun:
        found = self.get_runs(size=1, **filters)
        if not found:
            raise RuntimeError(f"Pipeline {self.name!r} has no {what}.")
        # A list item carries no steps: fetch the whole run.
        return _require_client(self._client, "pipeline").get_pipeline_run(found[0].id)


@dataclass
class ModelInfo:
    id: int
    name: str
    description: str
    tags: list[str]

    @classmethod
    def from_api(cls, data: dict[str, Any], client: Client | None) -> ModelInfo:
        return cls(id=data["id"], name=data["name"], description=data.get("description", ""), tags=data.get("tags", []))


@dataclass
class ModelVersion:
    """A version of a model: its stage, metadata, and the artifacts runs linked to it."""

    id: int
    model_name: str
    number: int
    name: str
    stage: str
    run_metadata: dict[str, MetadataEntry]
    artifacts: list[tuple[str, ArtifactVersion]]
    run_ids: list[int]
    _client: Client | None = field(default=None, repr=False, compare=False)
    tags: list[str] = field(default_factory=list)

    @classmethod
    def from_api(cls, data: dict[str, Any], client: Client | None) -> ModelVersion:
        return cls(
            id=data["id"],
            model_name=data["model"],
            number=data["number"],
            name=data["name"],
            stage=data["stage"],
            run_metadata=entries_from_api(data.get("run_metadata")),
            artifacts=[(a["kind"], ArtifactVersion.from_api(a["artifact_version"], client)) for a in data["artifacts"]],
            run_ids=[run["id"] for run in data.get("runs", [])],
            _client=client,
            tags=list(data.get("tags") or []),
        )

    def _find(self, name: str, version: str | int | None, kind: str | None) -> ArtifactVersion | None:
        matches = [
            av
            for link_kind, av in self.artifacts
            if av.artifact_name == name
            and (kind is None or link_kind == kind)
            and (version is None or av.version == str(version))
        ]
        return max(matches, key=lambda av: av.id) if matches else None

    def get_artifact(self, name: str, version: str | int | None = None) -> ArtifactVersion | None:
        """A linked artifact version by artifact name (the newest when no version is given)."""
        return self._find(name, version, None)

    def get_model_artifact(self, name: str, version: str | int | None = None) -> ArtifactVersion | None:
        return self._find(name, version, "model")

    def get_data_artifact(self, name: str, version: str | int | None = None) -> ArtifactVersion | None:
        return self._find(name, version, "data")

    def log_metadata(self, metadata: dict[str, Any]) -> None:
        from pipelines.sdk.metadata import encode

        assert self._client is not None
        self._client.create_run_metadata(encode(metadata), model_version_id=self.id)

    def set_stage(self, stage: str, force: bool = False) -> ModelVersion:
        assert self._client is not None
        updated = self._client.update_model_version(self.model_name, self.id, stage=stage, force=force)
        self.__dict__.update({k: v for k, v in updated.__dict__.items() if k != "_client"})
        return self
