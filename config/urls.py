from __future__ import annotations

from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from pipelines.api import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("pipelines.api.urls")),
    path("api/v1/", include("secrets_app.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up code as a script of its own (`?script`)
    # instead of inline, and our template links a stylesheet instead of a <style>
    # block: the page works under the site's Content-Security-Policy.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
    # Probes and metrics for load balancers and Prometheus (pipelines/api/health.py).
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.MetricsView.as_view(), name="metrics"),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's).
    path("favicon.ico", lambda request: redirect(static("dashboard/favicon.svg"), permanent=True)),
    path("", include("dashboard.urls")),
]
