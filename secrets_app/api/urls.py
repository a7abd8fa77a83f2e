from __future__ import annotations

from rest_framework.routers import SimpleRouter

from secrets_app.api import views

router = SimpleRouter()
router.register("secrets", views.SecretViewSet, basename="secret")

urlpatterns = router.urls
