"""Who may read and write what: the one door every view, hot read and service acting
for a user goes through (Zulip's `access_<object>` pattern).

Reading follows the one-team model: every active, signed-in user sees every
pipeline, run, step, ready artifact version and model (as in ZenML's open-source
server). A step's run token authenticates as its run's owner, so it reads what the
owner reads. Writes that change what others rely on need a Django permission, the
same through the API and the dashboard; staff status alone grants nothing here.

An `access_*` helper returns the object or raises: `Http404` when the caller may
not see it (or it does not exist), `PermissionDenied` when they may see it but not
do this. Django turns both into the 404 and 403 pages, DRF into its JSON errors.

The `*_visible` querysets are the one definition of "visible to": selectors build
their joins on top of them, never on `Model.objects` directly.
"""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from pipelines.models import (
    ApiToken,
    Artifact,
    ArtifactVersion,
    ArtifactVersionStatus,
    MLModel,
    ModelVersion,
    Pipeline,
    PipelineRun,
    RunMetadata,
    Schedule,
    StepRun,
    StepRunInput,
    StepRunOutput,
    WorkerHeartbeat,
)

# Moving a model version between stages is a release decision.
STAGE_PERMISSION = "pipelines.change_modelversion"
# Stopping or re-running a run someone else started (the owner may always do both).
RUN_CONTROL_PERMISSION = "pipelines.change_pipelinerun"

# Who asks: a signed-in user (the project's user model) or Django's AnonymousUser.
User: TypeAlias = AbstractUser | AnonymousUser


# --- reading ---------------------------------------------------------------------


def may_read(user: User) -> bool:
    """The one-team rule: any active, signed-in user reads everything (no query)."""
    return bool(user is not None and user.is_authenticated and user.is_active)


def _visible(user: User, queryset: QuerySet) -> QuerySet:
    return queryset if may_read(user) else queryset.none()


def pipelines_visible(user: User) -> QuerySet[Pipeline]:
    return _visible(user, Pipeline.objects.all())


def runs_visible(user: User) -> QuerySet[PipelineRun]:
    return _visible(user, PipelineRun.objects.all())


def steps_visible(user: User) -> QuerySet[StepRun]:
    return _visible(user, StepRun.objects.all())


def step_inputs_visible(user: User) -> QuerySet[StepRunInput]:
    return _visible(user, StepRunInput.objects.all())


def step_outputs_visible(user: User) -> QuerySet[StepRunOutput]:
    return _visible(user, StepRunOutput.objects.all())


def artifacts_visible(user: User) -> QuerySet[Artifact]:
    return _visible(user, Artifact.objects.all())


def artifact_versions_visible(user: User) -> QuerySet[ArtifactVersion]:
    """Ready versions only: a pending one is still being written, and only its
    writer may touch it (`access_pending_artifact_version`)."""
    return _visible(user, ArtifactVersion.objects.filter(status=ArtifactVersionStatus.READY))


def models_visible(user: User) -> QuerySet[MLModel]:
    return _visible(user, MLModel.objects.all())


def model_versions_visible(user: User) -> QuerySet[ModelVersion]:
    return _visible(user, ModelVersion.objects.all())


def metadata_visible(user: User) -> QuerySet[RunMetadata]:
    return _visible(user, RunMetadata.objects.all())


def workers_visible(user: User) -> QuerySet[WorkerHeartbeat]:
    """The workers page: hosts, queues and what each runs are the team's to see, as runs are."""
    return _visible(user, WorkerHeartbeat.objects.all())


def access_run(user: User, *, run_id: int, queryset: QuerySet[PipelineRun] | None = None) -> PipelineRun:
    """A run the user may read (from `queryset`, which must be built on `runs_visible`)."""
    run = (queryset if queryset is not None else runs_visible(user)).filter(id=run_id).first()
    if run is None:
        raise Http404("No such run.")
    return run


# --- schedules ---------------------------------------------------------------------

# A schedule's runs start as its creator, with the creator's permissions (secrets,
# models). So changing what it runs or when is the creator's alone: an edit by anyone
# else would act in the creator's name. Pausing, resuming and deleting start nothing:
# someone else may, with a permission. Making one is starting runs later: any
# signed-in person.
SCHEDULE_PERMISSIONS = {"pause": "pipelines.change_schedule", "delete": "pipelines.delete_schedule"}
SCHEDULE_ACTIONS = {"pause": "pause or resume", "change": "change what it runs or when", "delete": "delete"}


def schedules_visible(user: User) -> QuerySet[Schedule]:
    """Schedules are the team's to see, as the runs they start are."""
    return _visible(user, Schedule.objects.all())


def may_create_schedule(user: User) -> bool:
    """Any signed-in person (the API refuses a step's run token, as for runs)."""
    return may_read(user)


def may_change_schedule(user: User, schedule: Schedule, *, action: str = "change") -> bool:
    """`action` is "pause" (pause or resume), "change" (timing, parameters, name...) or "delete"."""
    if not may_read(user):
        return False
    if schedule.created_by_id == user.pk:
        return True
    permission = SCHEDULE_PERMISSIONS.get(action)
    return permission is not None and bool(user.has_perm(permission))


def require_schedule_change(user: User, schedule: Schedule, *, action: str = "change") -> None:
    """403 unless the user made this (visible) schedule or may take `action` on others'."""
    if may_change_schedule(user, schedule, action=action):
        return
    if action == "change":
        raise PermissionDenied(
            f"Only the user who made schedule {schedule.name} may change what it runs or when: its runs "
            "start as that user. Pause it (with the 'pipelines.change_schedule' permission) or make "
            "a schedule of your own."
        )
    raise PermissionDenied(
        f"Only the user who made schedule {schedule.name} may {SCHEDULE_ACTIONS[action]} it, or a user "
        f"with the '{SCHEDULE_PERMISSIONS[action]}' permission; ask an administrator."
    )


def access_schedule(user: User, *, schedule_id: int, queryset: QuerySet[Schedule] | None = None) -> Schedule:
    """A schedule the user may read (404 otherwise)."""
    schedule = (queryset if queryset is not None else schedules_visible(user)).filter(id=schedule_id).first()
    if schedule is None:
        raise Http404("No such schedule.")
    return schedule


def access_schedule_for_change(user: User, *, schedule_id: int, action: str = "change") -> Schedule:
    """A schedule the user may change or delete: 404 if invisible, 403 if not theirs
    and they lack the permission."""
    schedule = access_schedule(user, schedule_id=schedule_id)
    require_schedule_change(user, schedule, action=action)
    return schedule


# --- run tokens --------------------------------------------------------------------


def run_token_of(auth: object) -> ApiToken | None:
    """The run-scoped token a request authenticated with (`request.auth`), if any."""
    return auth if isinstance(auth, ApiToken) and auth.step_run_id is not None else None


def access_target_for_token(token: ApiToken | None, *, kind: str, target_id: int) -> None:
    """A run token writes only to its own run: the run, its steps, the artifact
    versions they produced and the model version the run belongs to. Personal
    tokens and sessions pass (their visibility is checked by the caller)."""
    if token is None:
        return
    run_id = token.run_id
    owned = {
        "pipeline_run": PipelineRun.objects.filter(id=target_id).filter(id=run_id),
        "step_run": StepRun.objects.filter(id=target_id, pipeline_run_id=run_id),
        "artifact_version": ArtifactVersion.objects.filter(id=target_id, producer_step_run__pipeline_run_id=run_id),
        "model_version": ModelVersion.objects.filter(id=target_id).filter(
            Q(runs__id=run_id) | Q(step_runs__pipeline_run_id=run_id)  # the run's or a step's own model
        ),
    }
    if not owned[kind].exists():
        raise PermissionDenied("A step's run token may only log metadata on its own run.")


# --- writing -----------------------------------------------------------------------


def may_control_run(user: User, run: PipelineRun) -> bool:
    """The run's owner, or a holder of RUN_CONTROL_PERMISSION (superusers hold all)."""
    if not may_read(user):
        return False
    return run.triggered_by_id == user.pk or user.has_perm(RUN_CONTROL_PERMISSION)


def require_run_control(user: User, run: PipelineRun, *, action: str = "stop") -> None:
    """403 unless the user may stop or re-run this (visible) run."""
    if not may_control_run(user, run):
        raise PermissionDenied(
            f"Only the user who started run {run.name} may {action} it, or a user with the "
            f"'{RUN_CONTROL_PERMISSION}' permission; ask an administrator."
        )


def access_run_for_control(
    user: User, *, run_id: int, queryset: QuerySet[PipelineRun] | None = None, action: str = "stop"
) -> PipelineRun:
    """A run the user may stop or re-run: 404 if invisible, 403 if not theirs and
    they lack RUN_CONTROL_PERMISSION. `queryset` must load `name` and `triggered_by_id`."""
    run = access_run(user, run_id=run_id, queryset=queryset)
    require_run_control(user, run, action=action)
    return run


def may_start_runs(user: User) -> bool:
    """Starting a run, from code (`POST /api/v1/runs/`) or without it (a stored
    version with new parameters: the API, the Client's trigger_pipeline, the
    dashboard's Run form): one rule, any signed-in person. A step's run token may
    not (the API refuses its writes); re-running someone else's run is
    `require_run_control`'s."""
    return may_read(user)


def require_run_start(user: User) -> None:
    """403 unless the user may start runs."""
    if not may_start_runs(user):
        raise PermissionDenied("Starting a run needs a signed-in, active user.")


def may_change_stage(user: User) -> bool:
    return may_read(user) and bool(user.has_perm(STAGE_PERMISSION))


def require_stage_change(user: User) -> None:
    """403 unless the user may move model versions between stages."""
    if not may_change_stage(user):
        raise PermissionDenied(
            f"Changing a model version's stage needs the '{STAGE_PERMISSION}' permission; ask an administrator."
        )


# Creating, editing and deleting models and model versions (API and Client), by
# Django's own model permissions: (permission, what the refusal says).
MODEL_WRITE_PERMISSIONS = {
    ("model", "create"): ("pipelines.add_mlmodel", "Creating a model"),
    ("model", "update"): ("pipelines.change_mlmodel", "Changing a model"),
    ("model", "delete"): ("pipelines.delete_mlmodel", "Deleting a model"),
    ("model_version", "create"): ("pipelines.add_modelversion", "Creating a model version"),
    ("model_version", "update"): ("pipelines.change_modelversion", "Changing a model version"),
    ("model_version", "delete"): ("pipelines.delete_modelversion", "Deleting a model version"),
}


def require_model_write(user: User, *, kind: str, action: str) -> None:
    """403 unless the user holds the Django permission for this write."""
    permission, what = MODEL_WRITE_PERMISSIONS[(kind, action)]
    if not (may_read(user) and user.has_perm(permission)):
        raise PermissionDenied(f"{what} needs the '{permission}' permission; ask an administrator.")


# Retention: deleting runs and artifacts (prune, from the dashboard) is Django's
# delete permission on runs; a pipeline's retention settings, its change permission.
PRUNE_PERMISSION = "pipelines.delete_pipelinerun"
RETENTION_PERMISSION = "pipelines.change_pipeline"


def may_prune(user: User) -> bool:
    return may_read(user) and bool(user.has_perm(PRUNE_PERMISSION))


def require_prune(user: User) -> None:
    """403 unless the user may delete runs and artifact versions (prune)."""
    if not may_prune(user):
        raise PermissionDenied(
            f"Pruning runs and artifacts needs the '{PRUNE_PERMISSION}' permission; ask an administrator."
        )


def require_pipeline_tagging(user: User, pipeline: Pipeline) -> None:
    """403 unless the user may tag this (visible) pipeline: its creator (who first ran
    it), or a holder of RETENTION_PERMISSION (changing a pipeline)."""
    if may_read(user) and (pipeline.created_by_id == user.pk or user.has_perm(RETENTION_PERMISSION)):
        return
    raise PermissionDenied(
        f"Only the user who created pipeline {pipeline.name} may tag it, or a user with the "
        f"'{RETENTION_PERMISSION}' permission; ask an administrator."
    )


def require_retention_change(user: User) -> None:
    """403 unless the user may change a pipeline's retention settings."""
    if not (may_read(user) and user.has_perm(RETENTION_PERMISSION)):
        raise PermissionDenied(
            f"Changing a pipeline's retention settings needs the '{RETENTION_PERMISSION}' permission; "
            "ask an administrator."
        )


def access_model_version_for_stage(
    user: User, *, version_id: int, queryset: QuerySet[ModelVersion] | None = None
) -> ModelVersion:
    """A model version whose stage the user may change: 404 if invisible, else 403
    without STAGE_PERMISSION."""
    version = (queryset if queryset is not None else model_versions_visible(user)).filter(id=version_id).first()
    if version is None:
        raise Http404("No such model version.")
    require_stage_change(user)
    return version


def access_pending_artifact_version(user: User, token: ApiToken | None, *, version_id: int) -> ArtifactVersion:
    """A pending version the caller may finish: only the process that started it.

    Started by a step (`producer_step_run`): that step's run token for that same
    attempt; an earlier attempt's leftovers stay unfinished. Started outside a step:
    the same user, through a personal token or a session. Anyone else gets 403 and
    the version is left untouched; a version that is not pending is 404.
    """
    version = (
        _visible(user, ArtifactVersion.objects.filter(status=ArtifactVersionStatus.PENDING))
        .select_related("artifact")
        .filter(id=version_id)
        .first()
    )
    if version is None:
        raise Http404(f"No pending artifact version with id {version_id}.")
    if version.producer_step_run_id is not None:
        allowed = (
            token is not None
            and token.step_run_id == version.producer_step_run_id
            and token.attempt == version.producer_attempt
        )
    else:
        allowed = token is None and version.created_by_id is not None and version.created_by_id == user.pk
    if not allowed:
        raise PermissionDenied(
            f"Artifact version {version_id} may only be finished by the process that started saving it."
        )
    return version


# --- tags (add_tags / remove_tags) ---------------------------------------------------


# Who may tag what. People: a run's owner or RUN_CONTROL_PERMISSION (as stopping it);
# artifacts and artifact versions, any signed-in user (as saving them); models and
# model versions, Django's change permission (as editing them). A step's run token:
# its own run, the artifact versions its run produced (and their artifacts), and its
# run's or steps' model versions.
def require_tagging(user: User, token: ApiToken | None, *, kind: str, target_id: int) -> None:
    """403 unless the caller may add or remove tags on this (visible) object."""
    if token is not None:
        run_id = token.run_id
        own = {
            "pipeline": Pipeline.objects.filter(id=target_id, runs__id=run_id),
            "run": PipelineRun.objects.filter(id=target_id).filter(id=run_id),
            "artifact": Artifact.objects.filter(id=target_id, versions__producer_step_run__pipeline_run_id=run_id),
            "artifact_version": ArtifactVersion.objects.filter(id=target_id, producer_step_run__pipeline_run_id=run_id),
            "model": MLModel.objects.none(),
            "model_version": ModelVersion.objects.filter(id=target_id).filter(
                Q(runs__id=run_id) | Q(step_runs__pipeline_run_id=run_id)
            ),
        }
        if not own[kind].exists():
            raise PermissionDenied(
                "A step's run token may only tag its own run and its pipeline, the artifact versions its "
                "run produced (and their artifacts) and its run's model version."
            )
        return
    if kind == "pipeline":
        require_pipeline_tagging(user, Pipeline.objects.only("id", "name", "created_by_id").get(id=target_id))
    elif kind == "run":
        require_run_control(
            user, PipelineRun.objects.only("id", "name", "triggered_by_id").get(id=target_id), action="tag"
        )
    elif kind == "model":
        require_model_write(user, kind="model", action="update")
    elif kind == "model_version":
        require_model_write(user, kind="model_version", action="update")
    elif not may_read(user):
        raise PermissionDenied("Tagging artifacts needs a signed-in, active user.")


def require_model_version_link(user: User, token: ApiToken | None, *, version_id: int) -> None:
    """403 unless the caller may link artifact versions to this (visible) model version:
    `pipelines.change_modelversion`, or a step's run token for its run's (or steps') own
    model version (`save_artifact` and `link_artifact_to_model` in a step)."""
    if token is None:
        require_model_write(user, kind="model_version", action="update")
        return
    own = ModelVersion.objects.filter(id=version_id).filter(
        Q(runs__id=token.run_id) | Q(step_runs__pipeline_run_id=token.run_id)
    )
    if not own.exists():
        raise PermissionDenied("A step's run token may only link artifacts to its own run's model version.")
