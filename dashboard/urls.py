"""The dashboard's pages. Each area's views live in a module of their own."""

from __future__ import annotations

from django.urls import path

from dashboard.views import artifacts, compare, explorer, home, models, pipelines, prune, runs, search, steps, workers
from dashboard.views import schedules as schedule_views

app_name = "dashboard"

urlpatterns = [
    path("", home.home, name="home"),
    # Pipelines and runs
    path("pipelines/", pipelines.pipeline_list, name="pipeline-list"),
    path("pipelines/<int:pipeline_id>/", pipelines.pipeline_detail, name="pipeline-detail"),
    path("pipelines/<int:pipeline_id>/run/", pipelines.pipeline_run, name="pipeline-run"),
    path("runs/", runs.run_list, name="run-list"),
    path("runs/<int:run_id>/", runs.run_detail, name="run-detail"),
    path("runs/<int:run_id>/live/", runs.run_live, name="run-live"),
    path("runs/<int:run_id>/stop/", runs.run_stop, name="run-stop"),
    path("runs/<int:run_id>/rerun/", runs.run_rerun, name="run-rerun"),
    path("steps/<int:step_id>/", steps.step_detail, name="step-detail"),
    path("steps/<int:step_id>/log/", steps.step_log, name="step-log"),
    # Artifacts
    path("artifacts/", artifacts.artifact_list, name="artifact-list"),
    path("artifacts/<int:artifact_id>/", artifacts.artifact_detail, name="artifact-detail"),
    path("artifact-versions/<int:version_id>/", artifacts.artifact_version_detail, name="artifact-version-detail"),
    path(
        "artifact-versions/<int:version_id>/download/",
        artifacts.artifact_version_download,
        name="artifact-version-download",
    ),
    path(
        "artifact-versions/<int:version_id>/preview/",
        artifacts.artifact_version_preview,
        name="artifact-version-preview",
    ),
    # Models
    path("models/", models.model_list, name="model-list"),
    path("models/<int:model_id>/", models.model_detail, name="model-detail"),
    path("model-versions/<int:version_id>/", models.model_version_detail, name="model-version-detail"),
    path("model-versions/<int:version_id>/stage/", models.model_version_stage, name="model-version-stage"),
    # Comparing and exploring
    path("compare/", compare.compare_runs, name="compare"),
    path("metadata/", explorer.metadata_explorer, name="metadata-explorer"),
    path("metadata/points/", explorer.metadata_points, name="metadata-points"),
    # Workers and search
    path("workers/", workers.worker_list, name="worker-list"),
    path("search/", search.search, name="search"),
    # Retention (users with pipelines.delete_pipelinerun)
    path("prune/", prune.prune_page, name="prune"),
    # Schedules (pause/resume and delete: the creator, or pipelines.change_/delete_schedule)
    path("schedules/", schedule_views.schedule_list, name="schedule-list"),
    path("schedules/<int:schedule_id>/", schedule_views.schedule_detail, name="schedule-detail"),
    path("schedules/<int:schedule_id>/pause/", schedule_views.schedule_pause, name="schedule-pause"),
    path("schedules/<int:schedule_id>/delete/", schedule_views.schedule_remove, name="schedule-delete"),
]
