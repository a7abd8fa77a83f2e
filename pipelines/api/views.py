from __future__ import annotations

import time

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from pipelines import access, selectors
from pipelines.api import filters
from pipelines.api import serializers as s
from pipelines.api.hot_reads import artifact_version_by_id_representation, artifact_version_representation
from pipelines.api.registration_views import LinkArtifactMixin, RegisterArtifactMixin
from pipelines.api.run_detail import WaitedRun, detail_of, run_detail_representation, waited_run
from pipelines.api.schema import ErrorSerializer
from pipelines.api.submission import submitted_run_representation
from pipelines.api.tag_views import TagsActionMixin
from pipelines.api.trigger_views import PipelineTriggerMixin
from pipelines.artifact_download import StoredBytesError, StoreUnreadable, download_response
from pipelines.models import FINISHED_RUN_STATUSES, PipelineRun
from pipelines.sdk.metadata import METADATA_TARGETS, MetadataError
from pipelines.sdk.naming import InvalidName
from pipelines.sdk.spec import SpecError
from pipelines.selectors.api import run_step_statuses
from pipelines.services.artifacts import (
    ArtifactVersionTaken,
    artifact_version_finish_saved,
    artifact_version_start_saved,
)
from pipelines.services.metadata import run_metadata_create
from pipelines.services.model_versions import (
    ModelExists,
    ModelStageTaken,
    model_create,
    model_delete,
    model_update,
    model_version_create,
    model_version_delete,
    model_version_set_stage,
    model_version_update,
)
from pipelines.services.retention import pipeline_set_retention, pruned_version_note
from pipelines.services.runs import pipeline_run_create, pipeline_run_stop
from pipelines.storage import artifact_store

# How often a waiting request looks at the run's revision: one indexed read of one
# row, cheap enough that clients learn of a change within this delay. The older the
# run, the less often (a hundredth of its age, up to WAIT_POLL_MAX_SECONDS): a waiter
# costs a read every 10 ms only while the run may still be a short one, and a long
# run's end is learnt at most 1% of its time late.
WAIT_POLL_SECONDS = 0.01
WAIT_POLL_MAX_SECONDS = 0.1
# Progress within a run is reported at most this often (a person reads it), so a
# fast run does not cost a request per step change; its end is reported at once. A
# long run's progress (every step's status) is reported less often: a tenth of its
# age, up to PROGRESS_MAX_INTERVAL_SECONDS.
PROGRESS_INTERVAL_SECONDS = 0.25
PROGRESS_MAX_INTERVAL_SECONDS = 2.0


# RunProgressSerializer's fields but the whole run (built by hand: answered often).
_PROGRESS_FIELDS = tuple(name for name in s.RunProgressSerializer().fields if name != "run")


# The largest id a (big) integer primary key holds: a larger one names nothing, and
# SQLite's driver refuses it as a parameter.
_LARGEST_ID = 2**63 - 1


class StoredBytesUnavailable(APIException):
    status_code = 409
    default_code = "artifact_bytes_damaged"


class ArtifactStoreUnreachable(APIException):
    status_code = 502
    default_code = "artifact_store_unreachable"


class FirstRendererNegotiation(BaseContentNegotiation):
    """Ignore Accept: a download answers with its bytes' own type (DRF's default
    would refuse `Accept: application/zip` with a 406 before the view runs)."""

    def select_parser(self, request: Request, parsers: list) -> object:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        return renderers[0], renderers[0].media_type


class ReadOnlyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    pass


def id_from_path(key: str) -> int | None:
    """A path segment as an object id, or None. ASCII digits only: `str.isdigit()` is
    also true for '²', which `int()` then refuses."""
    return int(key) if key.isascii() and key.isdigit() else None


def id_from_path_or_404(key: str) -> int:
    object_id = id_from_path(key)
    if object_id is None:
        raise Http404(f"{key[:40]!r} is not an id.")
    return object_id


def _not_found_saying_if_pruned(key: str, exc: Http404) -> Exception:
    """A 404 for an artifact version that says prune deleted it, when it did."""
    version_id = id_from_path(key)
    note = pruned_version_note(version_id) if version_id is not None else None
    return NotFound(f"{note[0].upper()}{note[1:]}; its files are gone.") if note else exc


class IdOrNameLookupMixin:
    """Retrieve by numeric id or by unique name."""

    def get_object(self):  # type: ignore[no-untyped-def]
        # The list filters (a django-filter form per request) mean nothing for one object.
        queryset = self.get_queryset()  # type: ignore[attr-defined]
        key = self.kwargs["pk"]  # type: ignore[attr-defined]
        object_id = id_from_path(key)
        lookup = {"id": object_id} if object_id is not None else {"name": key}
        obj = get_object_or_404(queryset, **lookup)
        self.check_object_permissions(self.request, obj)  # type: ignore[attr-defined]
        return obj


class PipelineViewSet(TagsActionMixin, PipelineTriggerMixin, IdOrNameLookupMixin, ReadOnlyViewSet):
    tag_kind = "pipeline"
    serializer_class = s.PipelineSerializer
    filterset_class = filters.PipelineFilter

    def get_queryset(self) -> QuerySet:
        return selectors.pipelines_visible_to(self.request.user)

    @extend_schema(request=s.PipelineRetentionSerializer, responses=s.PipelineSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Change the pipeline's retention settings (the daily prune applies them)."""
        pipeline = self.get_object()
        access.require_retention_change(request.user)
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["Send a JSON object with the settings to change."]})
        data = s.PipelineRetentionSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        pipeline = pipeline_set_retention(
            pipeline=pipeline,
            **{key.removeprefix("retention_"): value for key, value in data.validated_data.items()},
        )
        return Response(s.PipelineSerializer(pipeline).data)


class PipelineRunViewSet(TagsActionMixin, IdOrNameLookupMixin, mixins.CreateModelMixin, ReadOnlyViewSet):
    tag_kind = "run"
    filterset_class = filters.PipelineRunFilter
    ordering_fields = ["id", "name", "status", "created_at", "started_at", "finished_at"]

    def get_serializer_class(self):  # type: ignore[no-untyped-def]
        if self.action == "list":
            return s.PipelineRunSerializer
        if self.action == "create":
            return s.RunSpecSerializer
        return s.PipelineRunDetailSerializer

    def get_queryset(self) -> QuerySet:
        # (`wait` finds its run apart: `_waited_run`.) A run's spec holds every step's
        # definition; no answer shows it. Its steps are read by `run_detail_representation`
        # where an answer shows them: prefetching them here cost a 1,001-step run ~0.1 s
        # of CPU per request, answers shown or not.
        return selectors.runs_visible_to(self.request.user).defer("spec")

    @extend_schema(responses=s.PipelineRunDetailSerializer)
    def retrieve(self, request: Request, *args: object, **kwargs: object) -> Response:
        """The run with every step, its links and metadata."""
        detail = run_detail_representation(request.user, self.get_object().id)
        if detail is None:
            raise NotFound("The run was deleted.")
        return Response(detail)

    @extend_schema(request=dict, responses=s.PipelineRunDetailSerializer)
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        """Start a run of a compiled pipeline spec (what `@pipeline` functions post)."""
        try:
            run = pipeline_run_create(spec=request.data, user=request.user)
        except SpecError as exc:
            raise ValidationError(str(exc)) from None
        return Response(submitted_run_representation(request.user, run), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.PipelineRunDetailSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str) -> Response:
        """Stop the run: steps not yet started never start; running steps finish.
        The run's owner may; anyone else needs `pipelines.change_pipelinerun`."""
        run = self.get_object()
        access.require_run_control(request.user, run, action="stop")
        run = pipeline_run_stop(run=run)
        detail = run_detail_representation(request.user, run.id)
        if detail is None:
            raise NotFound("The run was deleted.")
        return Response(detail)

    @extend_schema(parameters=[s.WaitQuerySerializer], responses=s.RunProgressSerializer)
    @action(detail=True, methods=["get"])
    def wait(self, request: Request, pk: str) -> Response:
        """Long-poll: answer as soon as the run's revision passes `revision`, or at `timeout`,
        with the run's status and its steps' statuses (fetch the run itself for the rest)."""
        query = s.WaitQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        found = self._waited_run()
        timeout = min(query.validated_data["timeout"], settings.PIPELINES["LONG_POLL_SECONDS"])
        if _polled(found.run, since=query.validated_data["revision"], timeout=timeout):
            # What the answer shows is read again.
            found = waited_run(request.user, run_id=found.run.id)
            if found is None:
                raise NotFound("The run was deleted.")
        return Response(_wait_answer(found.run, found.live_worker_queues))

    def _waited_run(self) -> WaitedRun:
        """`get_object()` for `wait`, in one plain statement that also reads what an
        answer at once needs (`waited_run`): building the ORM's query cost more than
        the rest of an answer."""
        key = self.kwargs["pk"]
        run_id = id_from_path(key)
        found = None
        if run_id is None:
            found = waited_run(self.request.user, name=key)
        elif run_id <= _LARGEST_ID:
            found = waited_run(self.request.user, run_id=run_id)
        if found is None:
            raise Http404(f"No {PipelineRun._meta.object_name} matches the given query.")
        self.check_object_permissions(self.request, found.run)
        return found


def _polled(run: PipelineRun, *, since: int, timeout: float) -> bool:
    """Wait until `run`'s revision passes `since` (its end at once, other changes at
    most every `report_every`) or for `timeout` seconds; whether the run was read
    again meanwhile (the run as found, with its revision and status, is the first read)."""
    started = time.monotonic()
    request_started_at = timezone.now()
    deadline = started + timeout
    revision, run_status, polled = run.revision, run.status, False
    while True:
        now = time.monotonic()
        if now >= deadline:
            return polled
        age = now - started + (request_started_at - run.created_at).total_seconds()
        report_every = min(PROGRESS_MAX_INTERVAL_SECONDS, max(PROGRESS_INTERVAL_SECONDS, age / 10))
        if revision > since and (run_status in FINISHED_RUN_STATUSES or now - started >= report_every):
            return polled
        time.sleep(min(WAIT_POLL_MAX_SECONDS, max(WAIT_POLL_SECONDS, age / 100)))
        # Readable by this user: finding it said so.
        row = selectors.run_revision_of_visible(run.id)
        if row is None:
            raise NotFound("The run was deleted.")
        (revision, run_status), polled = row, True


def _wait_answer(run: PipelineRun, live_worker_queues: list[list[str]]) -> dict[str, object]:
    """A waiting request's answer from the run as just read: its progress, and the whole
    run once it has finished (saving the client a request; the step statuses then come
    from the same read). The steps are read after the run, so they are never older than
    the revision the answer names."""
    if run.status in FINISHED_RUN_STATUSES:
        detail = detail_of(run)
        steps = [(step["name"], step["status"], step["queue"]) for step in detail["steps"]]
    else:
        detail = None
        steps = run_step_statuses(run.id)
    state = {"id": run.id, "status": run.status, "revision": run.revision, "queue": run.queue}
    progress = selectors.run_progress_of(state, steps, live_worker_queues=live_worker_queues)
    data = {name: progress[name] for name in _PROGRESS_FIELDS}
    if detail is not None:
        data["run"] = detail
    return data


class StepRunViewSet(ReadOnlyViewSet):
    filterset_class = filters.StepRunFilter
    ordering_fields = ["id", "name", "status", "started_at", "finished_at"]

    def get_serializer_class(self):  # type: ignore[no-untyped-def]
        return s.StepRunSerializer if self.action == "list" else s.StepRunDetailSerializer

    def get_queryset(self) -> QuerySet:
        if self.action == "list":
            return selectors.steps_for_list(self.request.user)
        return selectors.steps_visible_to(self.request.user)

    @extend_schema(responses={200: s.StepLogsSerializer})
    @action(detail=True, methods=["get"])
    def logs(self, request: Request, pk: str) -> Response:
        """The step's captured log text, as stored (secret values it read are masked)."""
        step = get_object_or_404(access.steps_visible(request.user).only("id", "logs"), id=id_from_path_or_404(pk))
        return Response({"id": step.id, "logs": step.logs})


class ArtifactViewSet(TagsActionMixin, IdOrNameLookupMixin, ReadOnlyViewSet):
    tag_kind = "artifact"
    serializer_class = s.ArtifactSerializer
    filterset_class = filters.ArtifactFilter
    ordering_fields = ["id", "name", "created_at"]

    def get_queryset(self) -> QuerySet:
        return selectors.artifacts_visible_to(self.request.user)


class ArtifactVersionViewSet(RegisterArtifactMixin, TagsActionMixin, ReadOnlyViewSet):
    tag_kind = "artifact_version"
    serializer_class = s.ArtifactVersionSerializer
    filterset_class = filters.ArtifactVersionFilter
    ordering_fields = ["id", "number", "created_at", "size"]
    ordering = ["-id"]
    # save_artifact from a step writes artifacts of its own run (checked below).
    run_token_may_write = True

    def get_queryset(self) -> QuerySet:
        return selectors.artifact_versions_visible_to(self.request.user)

    def get_object(self):  # type: ignore[no-untyped-def]
        try:
            return super().get_object()
        except Http404 as exc:
            raise _not_found_saying_if_pruned(self.kwargs.get("pk", ""), exc) from None

    @extend_schema(responses=s.ArtifactVersionSerializer)
    def retrieve(self, request: Request, *args: object, **kwargs: object) -> Response:
        """One ready artifact version by id."""
        # `Client().get_artifact_version(id)`, on the path of every load by id: read in
        # two plain statements (`hot_reads`). Query parameters (the list's filters
        # apply to a retrieve too) and a version not found (its 404 says whether prune
        # deleted it) go the general way.
        version_id = id_from_path(self.kwargs["pk"])
        if version_id is not None and version_id <= _LARGEST_ID and not request.query_params:
            representation = artifact_version_by_id_representation(version_id, user=request.user)
            if representation is not None:
                return Response(representation)
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(parameters=[s.ArtifactLookupSerializer], responses=s.ArtifactVersionSerializer)
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def lookup(self, request: Request) -> Response:
        """One version by artifact name and version (the newest when no version is
        given): the Client's hot path, so no paging or filter machinery."""
        query = s.ArtifactLookupSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        name = query.validated_data["artifact"]
        version = query.validated_data.get("version") or None
        representation = artifact_version_representation(name, version, user=request.user)
        if representation is None:
            raise NotFound(f"Artifact {name!r} has no such ready version.")
        return Response(representation)

    @extend_schema(
        responses={
            # Any media type: a file is sent with its own (image/png, text/csv, ...).
            (200, "*/*"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="A single-file version as is (its Content-Type by its first bytes or extension), "
                "or a folder as a zip (`application/zip`). Headers: `X-Checksum-Sha256` (the version's "
                "checksum), `X-Artifact-Uri`, `X-Artifact-Layout` (`file` or `folder`), `X-Artifact-Size` "
                "(the files' total size).",
            ),
            409: OpenApiResponse(ErrorSerializer, description="The stored bytes are missing or damaged."),
            502: OpenApiResponse(ErrorSerializer, description="The artifact store could not be read."),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        pagination_class=None,
        # Any Accept header gets the bytes; only errors are rendered, as JSON.
        content_negotiation_class=FirstRendererNegotiation,
        renderer_classes=[JSONRenderer],
    )
    def download(self, request: Request, pk: str) -> HttpResponseBase:
        """The version's bytes, streamed from its store: a single file as is, a folder
        as a zip. Same visibility as the version; a pending version is 404."""
        try:
            version = get_object_or_404(self.get_queryset().select_related("artifact"), id=id_from_path_or_404(pk))
        except Http404 as exc:
            raise _not_found_saying_if_pruned(pk, exc) from None
        try:
            return download_response(version)
        except StoredBytesError as exc:
            raise StoredBytesUnavailable(str(exc)) from None
        except StoreUnreadable as exc:
            raise ArtifactStoreUnreachable(str(exc)) from None

    @extend_schema(request=s.SaveArtifactSerializer, responses={201: s.PendingArtifactVersionSerializer})
    def create(self, request: Request) -> Response:
        """Start saving an artifact version: answers where to write its files (`uri`);
        then POST `finish/`. Needs a store the caller can write to."""
        data = s.SaveArtifactSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = access.run_token_of(request.auth)
        try:
            pending = artifact_version_start_saved(
                artifact_name=data.validated_data["artifact"],
                version=data.validated_data.get("version"),
                tags=data.validated_data["tags"],
                store=artifact_store(),
                producer_step_run_id=token.step_run_id if token else None,
                producer_attempt=token.attempt or 0 if token else 0,
                # Only this user (or, from a step, this step attempt) may finish it.
                created_by_id=request.user.pk,
            )
        except (ArtifactVersionTaken, InvalidName) as exc:
            raise ValidationError(str(exc)) from None
        return Response({"id": pending.id, "uri": pending.uri}, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.FinishArtifactSerializer, responses=s.ArtifactVersionSerializer)
    @action(detail=True, methods=["post"])
    def finish(self, request: Request, pk: str) -> Response:
        """Make a saved version ready once its files are written (the server checksums them).
        Only the process that started it may: its step attempt's run token, or the
        user who started it outside a step."""
        version = access.access_pending_artifact_version(
            request.user, access.run_token_of(request.auth), version_id=id_from_path_or_404(pk)
        )
        data = s.FinishArtifactSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            version = artifact_version_finish_saved(version=version, store=artifact_store(), **data.validated_data)
        except (OSError, ValueError, MetadataError) as exc:
            raise ValidationError(f"Could not finish artifact version {pk}: {exc}") from None
        return Response(s.ArtifactVersionSerializer(self.get_queryset().get(id=version.id)).data)


class ModelViewSet(TagsActionMixin, IdOrNameLookupMixin, ReadOnlyViewSet):
    tag_kind = "model"
    serializer_class = s.ModelSerializer
    filterset_class = filters.ModelFilter
    ordering_fields = ["id", "name", "created_at"]

    def get_queryset(self) -> QuerySet:
        return selectors.models_visible_to(self.request.user)

    # Writes (Client().create_model, update_model, delete_model) need Django's model
    # permissions, checked in `access`; a run token never writes here.
    @extend_schema(request=s.ModelWriteSerializer, responses={201: s.ModelSerializer})
    def create(self, request: Request) -> Response:
        access.require_model_write(request.user, kind="model", action="create")
        data = s.ModelWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if "name" not in data.validated_data:
            raise ValidationError({"name": ["A model needs a name."]})
        try:
            model = model_create(**data.validated_data, user=request.user)
        except ModelExists as exc:
            raise ValidationError({"name": [str(exc)]}) from None
        return Response(s.ModelSerializer(model).data, status=201)

    @extend_schema(request=s.ModelWriteSerializer, responses=s.ModelSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        model = self.get_object()
        access.require_model_write(request.user, kind="model", action="update")
        data = s.ModelWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            model = model_update(model=model, **data.validated_data)
        except ModelExists as exc:
            raise ValidationError({"name": [str(exc)]}) from None
        return Response(s.ModelSerializer(model).data)

    def destroy(self, request: Request, pk: str) -> Response:
        model = self.get_object()
        access.require_model_write(request.user, kind="model", action="delete")
        model_delete(model=model)
        return Response(status=204)


class ModelVersionViewSet(LinkArtifactMixin, TagsActionMixin, ReadOnlyViewSet):
    tag_kind = "model_version"
    serializer_class = s.ModelVersionSerializer
    filterset_class = filters.ModelVersionFilter
    ordering_fields = ["id", "number", "created_at"]
    ordering = ["-number"]

    def get_queryset(self) -> QuerySet:
        return selectors.model_versions_visible_to(self.request.user)

    @extend_schema(request=s.ModelVersionWriteSerializer, responses={201: s.ModelVersionSerializer})
    def create(self, request: Request) -> Response:
        access.require_model_write(request.user, kind="model_version", action="create")
        data = s.ModelVersionWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        if not fields.get("model"):
            raise ValidationError({"model": ["Name the model (its name or id)."]})
        model_id = id_from_path(fields["model"])
        lookup = {"id": model_id} if model_id is not None else {"name": fields["model"]}
        model = selectors.models_visible_to(request.user).filter(**lookup).first()
        if model is None:
            raise ValidationError({"model": [f"No model {fields['model']!r}; create it first."]})
        try:
            version = model_version_create(
                model=model, name=fields.get("name"), description=fields.get("description", "")
            )
            if fields.get("stage"):
                version = model_version_set_stage(version=version, stage=fields["stage"], force=fields["force"])
        except ValueError as exc:  # a taken, numeric or stage name; a held stage
            raise ValidationError(str(exc)) from None
        return Response(s.ModelVersionSerializer(self.get_queryset().get(id=version.id)).data, status=201)

    @extend_schema(request=s.ModelVersionWriteSerializer, responses=s.ModelVersionSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        version = self.get_object()
        access.require_model_write(request.user, kind="model_version", action="update")
        data = s.ModelVersionWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = {k: v for k, v in data.validated_data.items() if k != "model"}
        try:
            version = model_version_update(version=version, **fields)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        return Response(s.ModelVersionSerializer(self.get_queryset().get(id=version.id)).data)

    def destroy(self, request: Request, pk: str) -> Response:
        version = self.get_object()
        access.require_model_write(request.user, kind="model_version", action="delete")
        model_version_delete(version=version)
        return Response(status=204)

    @extend_schema(request=s.StageSerializer, responses=s.ModelVersionSerializer)
    @action(detail=True, methods=["post"])
    def stage(self, request: Request, pk: str) -> Response:
        """Move the version to a stage; taking a stage another version holds needs force.
        Needs `pipelines.change_modelversion`, as on the dashboard."""
        version = self.get_object()
        access.require_stage_change(request.user)
        data = s.StageSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            version = model_version_set_stage(version=version, **data.validated_data)
        except ModelStageTaken as exc:
            raise ValidationError(str(exc)) from None
        return Response(s.ModelVersionSerializer(self.get_queryset().get(id=version.id)).data)


class RunMetadataViewSet(viewsets.GenericViewSet):
    serializer_class = s.MetadataCreateSerializer
    run_token_may_write = True  # within its own run, checked below

    @extend_schema(request=s.MetadataCreateSerializer, responses={201: dict})
    def create(self, request: Request) -> Response:
        """Log metadata on one artifact version, step run or run (every write is kept)."""
        data = s.MetadataCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = {k: v for k, v in data.validated_data.items() if k != "entries"}
        visible = {
            "artifact_version": selectors.artifact_versions_visible_to(request.user),
            "step_run": selectors.steps_visible_to(request.user),
            "pipeline_run": selectors.runs_visible_to(request.user),
            "model_version": selectors.model_versions_visible_to(request.user),
        }
        if len(target) != 1:
            raise ValidationError(f"Give exactly one target: {', '.join(METADATA_TARGETS)}.")
        ((kind, target_id),) = target.items()
        if not visible[kind].filter(id=target_id).exists():
            raise NotFound(f"No {kind.replace('_', ' ')} with id {target_id}.")
        access.access_target_for_token(access.run_token_of(request.auth), kind=kind, target_id=target_id)
        try:
            created = run_metadata_create(entries=data.validated_data["entries"], **{f"{kind}_id": target_id})
        except MetadataError as exc:
            raise ValidationError(str(exc)) from None
        return Response({"created": len(created)}, status=status.HTTP_201_CREATED)
