from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

if TYPE_CHECKING:
    from rest_framework.request import Request

READ_VALUES = "secrets_app.view_secret_values"
_WRITE_PERMISSIONS = {
    "POST": "secrets_app.add_secret",
    "PUT": "secrets_app.change_secret",
    "PATCH": "secrets_app.change_secret",
    "DELETE": "secrets_app.delete_secret",
}


def is_run_token(request: Request) -> bool:
    # Duck-typed: a run-scoped token names its step run; this app may not import pipelines.
    return getattr(request.auth, "step_run_id", None) is not None


class SecretPermissions(BasePermission):
    """Names and keys: anyone signed in. Values: `view_secret_values` (a step's run token
    acts as its run's owner). Writes: the model permissions, never a run token."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if getattr(view, "action", None) == "values":
            self.message = "Reading secret values needs the 'Can read secret values' permission."
            return request.user.has_perm(READ_VALUES)
        if request.method in SAFE_METHODS:
            return True
        if is_run_token(request):
            self.message = "A step's run token may read secrets but never change them."
            return False
        permission = _WRITE_PERMISSIONS.get(request.method or "")
        self.message = f"This needs the {permission!r} permission."
        return permission is not None and request.user.has_perm(permission)
