from __future__ import annotations

from rest_framework.routers import DefaultRouter

from pipelines.api import views
from pipelines.api.schedules import ScheduleViewSet

# No `.json` suffix routes: the API speaks only JSON, and the custom actions (`wait`,
# `stop`, ...) take no `format` argument, so `runs/1/wait.json` was a 500. Any suffix
# is now a 404; `?format=json` still works.
router = DefaultRouter()
router.include_format_suffixes = False
router.register("pipelines", views.PipelineViewSet, basename="pipeline")
router.register("runs", views.PipelineRunViewSet, basename="run")
router.register("steps", views.StepRunViewSet, basename="step")
router.register("artifacts", views.ArtifactViewSet, basename="artifact")
router.register("artifact-versions", views.ArtifactVersionViewSet, basename="artifact-version")
router.register("metadata", views.RunMetadataViewSet, basename="metadata")
router.register("models", views.ModelViewSet, basename="model")
router.register("model-versions", views.ModelVersionViewSet, basename="model-version")
router.register("schedules", ScheduleViewSet, basename="schedule")

urlpatterns = router.urls
