"""Hooks on a real worker: a pipeline's on_success (each step's default) runs in the
step's context on the worker, and the ready-made webhook alerter posts Slack JSON to
the URL kept in a secret, read through the run-scoped Client."""

from __future__ import annotations

import functools
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.contrib.auth.models import Permission

from pipelines.models import StepRun, StepStatus
from pipelines.sdk.exceptions import RunFailedError
from secrets_app.services import secret_create
from tests.integration import hook_pipelines as sample

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_failing_step_posts_to_the_webhook_and_a_succeeding_one_runs_its_hook(running_worker, owner, tmp_path):
    marker = tmp_path / "marker.txt"
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    _Webhook.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/services/hook-token"
    owner.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="secrets_app", codename="view_secret_values")
    )
    secret_create(name="slack_webhook", values={"url": url}, user=owner)
    try:
        with pytest.raises(RunFailedError):
            # A partial's keyword arguments travel in the spec to the worker.
            sample.hooked_pipeline.with_options(on_success=functools.partial(sample.mark_success, path=str(marker)))()
    finally:
        server.shutdown()
        server.server_close()

    assert len(_Webhook.received) == 1
    assert "Step 'explode' of run" in _Webhook.received[0]["text"]
    assert "failed: ValueError: cannot use 41" in _Webhook.received[0]["text"]
    explode = StepRun.objects.get(name="explode")
    assert explode.status == StepStatus.FAILED
    assert "hook-token" not in explode.logs
    assert "Posted to the webhook of secret 'slack_webhook'" in explode.logs
    assert StepRun.objects.get(name="produce").status == StepStatus.COMPLETED
    assert marker.read_text() == "success of produce\n"
