"""`from pipelines.hooks import ...`, as ZenML's `zenml.hooks`: ready-made hooks.

ZenML's `alerter_failure_hook` / `alerter_success_hook` post through the stack's
alerter; here there is no stack, so the alerter hooks post Slack-compatible JSON
(`{"text": ...}`) to a webhook URL kept in a secret (key `url`), read through the
run-scoped Client when the hook runs:

    @step(on_failure=webhook_alerter_failure_hook(secret_name="slack_webhook"))

The bare names (`on_failure=alerter_failure_hook`) read the secret `slack_webhook`.
The URL is never printed or logged: Slack's webhook URL is its credential.
"""

from __future__ import annotations

import functools
import json
import logging
import urllib.error
import urllib.request
from typing import Any

from pipelines.sdk.hooks import hook_spec

logger = logging.getLogger(__name__)

DEFAULT_SECRET_NAME = "slack_webhook"  # noqa: S105 (a name, not a value)
# Seconds to wait for the webhook: a hook holds the step's worker until it returns.
WEBHOOK_TIMEOUT = 10.0


def _post(secret_name: str, text: str) -> None:
    from pipelines.sdk.client import Client

    url = Client().get_secret(secret_name).secret_values.get("url")
    if not url:
        raise KeyError(f"The secret {secret_name!r} has no key 'url' (the webhook URL to post to).")
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"The 'url' of secret {secret_name!r} is not an http(s) URL.")
    request = urllib.request.Request(  # noqa: S310 (http(s) only, checked above)
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:  # noqa: S310 (checked above)
            response.read()
    except urllib.error.HTTPError as exc:
        # Raised anew without the URL, which the original's repr could carry.
        raise RuntimeError(f"The webhook of secret {secret_name!r} answered HTTP {exc.code}.") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RuntimeError(f"Could not reach the webhook of secret {secret_name!r}: {type(reason).__name__}.") from None
    print(f"Posted to the webhook of secret {secret_name!r}.", flush=True)


def _where() -> str:
    from pipelines.sdk.current_step import get_step_context

    context = get_step_context()
    return f"Step {context.step_run.name!r} of run {context.pipeline_run.name!r} (pipeline {context.pipeline.name!r})"


def alerter_failure_hook(exception: BaseException, secret_name: str = DEFAULT_SECRET_NAME) -> None:
    """Post that the step failed, with the exception, to the webhook of `secret_name`."""
    _post(secret_name, f"{_where()} failed: {type(exception).__name__}: {exception}")


def alerter_success_hook(secret_name: str = DEFAULT_SECRET_NAME) -> None:
    """Post that the step succeeded to the webhook of `secret_name`."""
    _post(secret_name, f"{_where()} succeeded.")


def webhook_alerter_failure_hook(secret_name: str = DEFAULT_SECRET_NAME) -> Any:
    """An on_failure hook posting to the webhook URL of the secret `secret_name`."""
    return functools.partial(alerter_failure_hook, secret_name=secret_name)


def webhook_alerter_success_hook(secret_name: str = DEFAULT_SECRET_NAME) -> Any:
    """An on_success hook posting to the webhook URL of the secret `secret_name`."""
    return functools.partial(alerter_success_hook, secret_name=secret_name)


def resolve_and_validate_hook(hook: Any, kind: str = "on_failure") -> Any:
    """The source path the spec stores for `hook` (ZenML's name); raises
    PipelineDefinitionError when the worker could not run it."""
    return hook_spec(hook, kind=kind, where="this hook")


__all__ = [
    "alerter_failure_hook",
    "alerter_success_hook",
    "resolve_and_validate_hook",
    "webhook_alerter_failure_hook",
    "webhook_alerter_success_hook",
]
