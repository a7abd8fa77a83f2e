"""schemathesis over the live server's /api/schema/: no server error, every answer in the schema.

Generated requests, valid and invalid ones, go to every operation of the schema with a
superuser's token and with an ordinary user's, a bounded number per operation and
within a time budget per user. Marked `integration` so that CI runs it on PostgreSQL
(which refuses what SQLite lets through, NUL characters and odd UTC offsets) with
Redis and with RabbitMQ, as well as on SQLite.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from pipelines.services.runs import pipeline_run_create
from pipelines.services.tokens import api_token_create
from secrets_app.services import secret_create
from tests.integration import sample_pipelines as sample

pytestmark = [pytest.mark.integration]

# Per user: the examples each operation gets in each mode, and the time all may take
# (CI's bound; set the variables for a deeper run by hand).
EXAMPLES_PER_OPERATION = int(os.environ.get("PIPELINES_FUZZ_EXAMPLES", "12"))
BUDGET_SECONDS = float(os.environ.get("PIPELINES_FUZZ_SECONDS", "75"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def seeded(transactional_db, owner, no_broker) -> None:
    """A run, its steps and a secret, so that some generated ids and names hit something.

    Runs are never sent to a broker: no worker takes part, and a generated run spec
    that happens to be valid must not run anything."""
    pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    secret_create(name="fuzz", values={"key": "value"}, user=owner)


def _token_of(user) -> str:  # type: ignore[no-untyped-def]
    _, key = api_token_create(user=user)
    return key


@pytest.fixture
def superuser_token(transactional_db) -> str:
    return _token_of(get_user_model().objects.create_superuser("fuzz-root", "root@example.com", "pw-root-123"))


@pytest.fixture
def ordinary_token(teammate) -> str:
    return _token_of(teammate)


def _operations(schema) -> Iterator:  # type: ignore[no-untyped-def]
    for result in schema.get_all_operations():
        yield result.ok()


def _fuzz(base_url: str, token: str) -> list[str]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    raw = session.get(f"{base_url}/api/schema/", params={"format": "json"}, timeout=30)
    assert raw.status_code == 200, raw.text[:500]
    schema = schemathesis.openapi.from_dict(raw.json())
    deadline = time.monotonic() + BUDGET_SECONDS
    failures: list[str] = []
    operations = list(_operations(schema))
    assert len(operations) > 20

    for index, operation in enumerate(operations):
        # Each operation gets its share of what is left, so a slow one cannot leave
        # the ones after it untested.
        now = time.monotonic()
        operation_deadline = now + max(deadline - now, 0) / (len(operations) - index)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=False,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case) -> None:  # type: ignore[no-untyped-def]
                if time.monotonic() > operation_deadline:
                    return
                if case.path.endswith("/wait/") and isinstance(case.query, dict):
                    # A long-poll would spend the budget waiting, not testing.
                    case.query["timeout"] = "0"
                response = case.call(base_url=base_url, session=session, timeout=30)
                try:
                    case.validate_response(response, checks=CHECKS)
                except (Exception, BaseExceptionGroup) as exc:  # every failure is reported below
                    failures.append(
                        f"{case.method} {case.formatted_path} ({mode.value}): {exc}\n{case.as_curl_command()}"
                    )

            check()
    return failures


def _report(failures: list[str]) -> str:
    return f"{len(failures)} failures:\n\n" + "\n\n".join(failures[:20])


def test_the_api_gives_a_superuser_no_server_error_and_nothing_outside_its_schema(live_server, seeded, superuser_token):
    failures = _fuzz(live_server.url, superuser_token)

    assert not failures, _report(failures)


def test_the_api_gives_an_ordinary_user_no_server_error_and_nothing_outside_its_schema(
    live_server, seeded, ordinary_token
):
    failures = _fuzz(live_server.url, ordinary_token)

    assert not failures, _report(failures)


# --- The body limit, over a real socket ------------------------------------------------
def test_the_client_submits_a_spec_of_the_stated_limit_of_10000_steps(live_server, owner, no_broker):
    # Refused with a bare 400 under Django's default 2.5 MiB body limit.
    from pipelines.client import Client
    from tests.unit.pipelines.api.test_api_bad_input import spec_of

    client = Client(server_url=live_server.url, api_token=_token_of(owner))

    run = client.create_run(spec_of(10_000))

    assert len(run.steps) == 10_000


def test_a_body_over_the_limit_gets_a_json_413_naming_the_limit(live_server, owner, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = b'{"pad": "' + b"x" * 20_000 + b'"}'

    response = requests.post(
        f"{live_server.url}/api/v1/runs/",
        data=body,
        headers={"Authorization": f"Bearer {_token_of(owner)}", "Content-Type": "application/json"},
        timeout=30,
    )

    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/json"
    assert "10,000 bytes" in response.json()["detail"]
