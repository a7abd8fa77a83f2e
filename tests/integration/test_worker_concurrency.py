"""A real worker records its --concurrency with its heartbeat (the workers page shows it)."""

from __future__ import annotations

import pytest

from pipelines.models import WorkerHeartbeat

pytestmark = pytest.mark.integration


def test_a_real_workers_heartbeat_records_its_concurrency(running_worker):
    # The session's worker is started with --concurrency=4 (tests/live_helpers.py).
    assert list(WorkerHeartbeat.objects.values_list("concurrency", flat=True)) == [4]
