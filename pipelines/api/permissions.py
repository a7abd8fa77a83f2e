from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

if TYPE_CHECKING:  # rest_framework.views imports the permission settings: no cycle at run time
    from rest_framework.request import Request


def run_token_of(request: Request) -> Any:
    """The run-scoped ApiToken a request authenticated with, if any."""
    from pipelines.access import run_token_of as token_of  # pipelines.models needs the app registry

    return token_of(request.auth)


class RunTokensOnlyRead(BasePermission):
    """A step's run token reads what its run's owner may read; of writes it may only
    log metadata (and the metadata view checks that the target is its own run)."""

    message = "A step's run token may only read, and log metadata on its own run."

    def has_permission(self, request: Request, view: Any) -> bool:
        if run_token_of(request) is None or request.method in SAFE_METHODS:
            return True
        return getattr(view, "run_token_may_write", False)
