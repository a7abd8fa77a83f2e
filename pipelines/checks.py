"""System checks for the pipelines app's deploy-time configuration."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

from pipelines.sdk.stores import StoreError


@register("pipelines")
def check_artifact_store(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """The configured artifact store must be reachable and writable (pipelines.E010)."""
    from pipelines.storage import artifact_store

    try:
        artifact_store().check_reachable()
    except StoreError as exc:
        return [
            Error(
                str(exc),
                hint=(
                    "Set PIPELINES_ARTIFACT_STORE to an absolute path or s3://bucket/prefix that this process "
                    "can reach; for S3 give AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION "
                    "(and AWS_ENDPOINT_URL for MinIO, Ceph, R2...) or an instance role."
                ),
                id="pipelines.E010",
            )
        ]
    return []
