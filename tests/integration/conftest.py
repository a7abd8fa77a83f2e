"""The integration tests' fixtures (a real worker, a live server, an SDK pointed at
it) live in tests/live_helpers.py, shared with the browser tests; the helpers are
re-exported here for the tests that start and kill workers of their own."""

from __future__ import annotations

from tests.live_helpers import kill_worker, start_worker, stop_worker, wait_for_worker_heartbeat

__all__ = ["kill_worker", "start_worker", "stop_worker", "wait_for_worker_heartbeat"]
