"""Every route, every kind of caller, against ONE table: the README's "Permissions".

The routes come from `config.urls` itself, so a new route that is not in ROUTES
fails `test_every_route_is_in_the_table` until someone decides who may use it (and
writes it in the README). Each (route, method, caller) is then asked for real, on a
fresh database, and must be allowed (2xx/3xx) or refused the way the table says:
401 from the API and a redirect to the login page from the dashboard for callers
who are not signed in, 403 for signed-in callers the rule leaves out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from pipelines.services.artifacts import artifact_version_start_saved
from pipelines.services.model_versions import model_version_resolve
from pipelines.services.runs import pipeline_run_create
from pipelines.services.schedules import schedule_create
from pipelines.services.steps import StepTimings, step_run_claim, step_run_complete
from pipelines.services.tokens import api_token_create, run_token_create
from pipelines.storage import artifact_store
from secrets_app.services import secret_create
from tests.integration import sample_pipelines as sample
from tests.unit.dashboard_data import log, png_bytes, save_value, use_fresh_store
from tests.unit.pipelines.api.test_registration import folder_in_store

pytestmark = pytest.mark.django_db

# --- who: the callers ----------------------------------------------------------------

PERMISSIONS = {
    "add_mlmodel": "pipelines",
    "change_mlmodel": "pipelines",
    "delete_mlmodel": "pipelines",
    "add_modelversion": "pipelines",
    "change_modelversion": "pipelines",
    "delete_modelversion": "pipelines",
    "change_pipelinerun": "pipelines",
    "delete_pipelinerun": "pipelines",
    "change_pipeline": "pipelines",
    "change_schedule": "pipelines",
    "delete_schedule": "pipelines",
    "add_secret": "secrets_app",
    "change_secret": "secrets_app",
    "delete_secret": "secrets_app",
    "view_secret_values": "secrets_app",
}
# Signed in with no permission: `user` is a teammate, `owner` started the run and
# its step; `staff` has is_staff and nothing else. "holds:<codename>" holds one.
USERS = ["user", "owner", "staff", "superuser", *(f"holds:{codename}" for codename in PERMISSIONS)]
NOT_SIGNED_IN = ["anonymous", "inactive", "ended_run_token"]
CALLERS = [*NOT_SIGNED_IN, *USERS, "run_token"]

# --- the rules: who may ------------------------------------------------------------------

ANY_USER = set(USERS)


def holders(*codenames: str) -> set[str]:
    return {"superuser", *(f"holds:{codename}" for codename in codenames)}


RULES: dict[str, set[str]] = {
    # Reading: every signed-in user, and a step's run token (it reads as its run's owner).
    "read": ANY_USER | {"run_token"},
    # Starting runs: people, not steps.
    "start runs": ANY_USER,
    # Saving artifacts and logging metadata: people, and a step within its own run.
    "write own": ANY_USER | {"run_token"},
    # Finishing a pending artifact version: only the process that started it (here the
    # step attempt holding the run token; superusers included, nobody else may).
    "finish": {"run_token"},
    "stop or re-run": {"owner"} | holders("change_pipelinerun"),
    "prune": holders("delete_pipelinerun"),
    "change retention": holders("change_pipeline"),
    # Tagging a run: as stopping it, and a step's run token on its own run.
    "tag run": {"owner", "run_token"} | holders("change_pipelinerun"),
    # Tagging a pipeline: its creator (who first ran it), and a step's run token on its run's pipeline.
    "tag pipeline": {"owner", "run_token"} | holders("change_pipeline"),
    # Schedules: made by people (not steps); changed or deleted by their creator or a holder.
    "create schedule": ANY_USER,
    "change schedule": {"owner"} | holders("change_schedule"),
    "delete schedule": {"owner"} | holders("delete_schedule"),
    "change stage": holders("change_modelversion"),
    "add model": holders("add_mlmodel"),
    "change model": holders("change_mlmodel"),
    "delete model": holders("delete_mlmodel"),
    "add model version": holders("add_modelversion"),
    "change model version": holders("change_modelversion"),
    "delete model version": holders("delete_modelversion"),
    "read secret values": holders("view_secret_values"),
    "add secret": holders("add_secret"),
    "change secret": holders("change_secret"),
    "delete secret": holders("delete_secret"),
    # The OpenAPI schema and its Swagger UI page describe the API, hold no data.
    # (A credential that fails, an inactive user's token or an ended run token, is
    # still refused with 401 here, as everywhere in the API.)
    "anyone": {"anonymous", *USERS, "run_token"},
    # Load balancer probes: answered to everyone, whatever credential they carry (none is read).
    "public": set(CALLERS),
    # /metrics opens only to PIPELINES_METRICS_TOKEN, which no caller here holds.
    "metrics token": set(),
}

# --- the table: route name -> {method: rule} -------------------------------------------
# Mirrors the README's "Permissions" table.

ROUTES: dict[str, dict[str, str]] = {
    # REST API, /api/v1/
    "api-root": {"get": "read"},
    "pipeline-list": {"get": "read"},
    "pipeline-runs": {"post": "start runs"},
    "pipeline-versions": {"get": "read"},
    "pipeline-run-requests": {"get": "read"},
    "pipeline-detail": {"get": "read", "patch": "change retention"},
    "pipeline-tags": {"post": "tag pipeline"},
    "run-list": {"get": "read", "post": "start runs"},
    "run-detail": {"get": "read"},
    "run-wait": {"get": "read"},
    "run-stop": {"post": "stop or re-run"},
    "run-tags": {"post": "tag run"},
    "step-list": {"get": "read"},
    "step-detail": {"get": "read"},
    "step-logs": {"get": "read"},
    "artifact-list": {"get": "read"},
    "artifact-detail": {"get": "read"},
    "artifact-tags": {"post": "write own"},
    "artifact-version-list": {"get": "read", "post": "write own"},
    "artifact-version-lookup": {"get": "read"},
    "artifact-version-detail": {"get": "read"},
    "artifact-version-finish": {"post": "finish"},
    "artifact-version-download": {"get": "read"},
    "artifact-version-tags": {"post": "write own"},
    "artifact-version-register": {"post": "write own"},
    "metadata-list": {"post": "write own"},
    "model-list": {"get": "read", "post": "add model"},
    "model-detail": {"get": "read", "patch": "change model", "delete": "delete model"},
    "model-tags": {"post": "change model"},
    "model-version-list": {"get": "read", "post": "add model version"},
    "model-version-detail": {"get": "read", "patch": "change model version", "delete": "delete model version"},
    "model-version-stage": {"post": "change stage"},
    "model-version-tags": {"post": "change model version"},
    "model-version-artifacts": {"post": "change model version"},
    "secret-list": {"get": "read", "post": "add secret"},
    "secret-detail": {"get": "read", "put": "change secret", "patch": "change secret", "delete": "delete secret"},
    "secret-values": {"get": "read secret values"},
    "schedule-list": {"get": "read", "post": "create schedule"},
    "schedule-detail": {"get": "read", "patch": "change schedule", "delete": "delete schedule"},
    "api-schema": {"get": "anyone"},
    "api-docs": {"get": "anyone"},
    # Operations: probes and Prometheus metrics (pipelines/api/health.py)
    "healthz": {"get": "public"},
    "readyz": {"get": "public"},
    "metrics": {"get": "metrics token"},
    # Dashboard (sessions only: an API token opens no page)
    "dashboard:home": {"get": "read"},
    "dashboard:pipeline-list": {"get": "read"},
    "dashboard:pipeline-run": {"get": "start runs", "post": "start runs"},
    "dashboard:pipeline-detail": {"get": "read"},
    "dashboard:run-list": {"get": "read"},
    "dashboard:run-detail": {"get": "read"},
    "dashboard:run-live": {"get": "read"},
    "dashboard:run-stop": {"post": "stop or re-run"},
    "dashboard:run-rerun": {"post": "stop or re-run"},
    "dashboard:step-detail": {"get": "read"},
    "dashboard:step-log": {"get": "read"},
    "dashboard:artifact-list": {"get": "read"},
    "dashboard:artifact-detail": {"get": "read"},
    "dashboard:artifact-version-detail": {"get": "read"},
    "dashboard:artifact-version-download": {"get": "read"},
    "dashboard:artifact-version-preview": {"get": "read"},
    "dashboard:model-list": {"get": "read"},
    "dashboard:model-detail": {"get": "read"},
    "dashboard:model-version-detail": {"get": "read"},
    "dashboard:model-version-stage": {"post": "change stage"},
    "dashboard:compare": {"get": "read"},
    "dashboard:metadata-explorer": {"get": "read"},
    "dashboard:metadata-points": {"get": "read"},
    "dashboard:prune": {"get": "prune", "post": "prune"},
    "dashboard:schedule-list": {"get": "read"},
    "dashboard:schedule-detail": {"get": "read"},
    "dashboard:schedule-pause": {"post": "change schedule"},
    "dashboard:schedule-delete": {"post": "delete schedule"},
    "dashboard:worker-list": {"get": "read"},
    "dashboard:search": {"get": "read"},
}
# Django's own pages (admin: staff and its model permissions; sign-in and password
# pages), walked by Django's tests, not this one; the favicon is a public redirect.
NOT_WALKED_PREFIXES = ("admin/", "accounts/", "favicon.ico")


def _routes(patterns: list, prefix: str = "", namespace: str = "") -> list[tuple[str, str | None, Any]]:
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = ":".join(part for part in (namespace, pattern.namespace or "") if part)
            found += _routes(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            found.append((prefix + str(pattern.pattern), name, getattr(pattern.callback, "actions", None)))
    return found


def walked_routes() -> list[tuple[str, str | None, Any]]:
    return [route for route in _routes(get_resolver().url_patterns) if not route[0].startswith(NOT_WALKED_PREFIXES)]


def test_every_route_is_in_the_table():
    missing = []
    for route, name, actions in walked_routes():
        if "format" in route:  # DRF's `.json` twins answer like the route they suffix
            continue
        if name not in ROUTES:
            missing.append(f"{route} ({name})")
        elif actions and set(actions) - {"head", "options"} != set(ROUTES[name]):
            missing.append(f"{route} ({name}): methods {sorted(actions)} vs {sorted(ROUTES[name])}")
    assert not missing, "Classify these routes in ROUTES and the README's Permissions table:\n" + "\n".join(missing)


def test_the_table_names_no_route_that_is_gone_and_only_known_rules():
    names = {name for _, name, _ in walked_routes()}
    assert set(ROUTES) <= names
    assert {rule for methods in ROUTES.values() for rule in methods.values()} <= set(RULES)


def test_the_readme_table_names_every_permission_the_rules_use():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Permissions", 1)[1].split("\n## ", 1)[0]
    for codename, app in PERMISSIONS.items():
        assert codename in section, f"{app}.{codename} is missing from the README's Permissions table"
    for rule in ("staff status alone grants nothing", "401", "403", "404"):
        assert rule in section


# --- the world each request meets ---------------------------------------------------------


@dataclass
class World:
    ids: dict[str, int]
    clients: dict[str, Callable[[bool], Any]]  # caller -> (is_api) -> a test client
    bodies: dict[str, Any]


@pytest.fixture
def world(settings, tmp_path, django_user_model, no_broker) -> World:
    use_fresh_store(settings, tmp_path)
    owner = django_user_model.objects.create_user("owner")

    def user_for(caller: str) -> Any:
        """The caller's user, made on demand (one per test: each test asks as one caller)."""
        if caller == "owner":
            return owner
        extra = {"is_staff": True} if caller == "staff" else {"is_active": False} if caller == "inactive" else {}
        if caller == "superuser":
            return django_user_model.objects.create_superuser("root", "", None)
        user = django_user_model.objects.create_user(caller.replace(":", "-"), **extra)
        if caller.startswith("holds:"):
            user.user_permissions.add(Permission.objects.get(codename=caller.removeprefix("holds:")))
        return user

    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    step = run.steps.get(name="load")
    attempt = step_run_claim(step_run_id=step.id, worker="w")
    live_key = run_token_create(step_run_id=step.id, attempt=attempt)
    other = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    other_step = other.steps.get(name="load")
    other_attempt = step_run_claim(step_run_id=other_step.id, worker="w")
    ended_key = run_token_create(step_run_id=other_step.id, attempt=other_attempt)
    step_run_complete(
        step_run_id=other_step.id,
        attempt=other_attempt,
        inputs={},
        outputs=[],
        timings=StepTimings(None, None),
        logs="",
    )
    ready = save_value("plot", png_bytes(), step=step)
    log("pipeline_run", run.id, accuracy=0.9)
    pending = artifact_version_start_saved(
        artifact_name="being-written",
        version=None,
        tags=[],
        store=artifact_store(),
        producer_step_run_id=step.id,
        producer_attempt=attempt,
    )
    folder = artifact_store().resolve(pending.uri)
    folder.mkdir(parents=True)
    (folder / "data.json").write_text("[1]")
    model_version = model_version_resolve(spec_model={"name": "churn"}, user=owner)
    secret = secret_create(name="warehouse", values={"password": "hunter2"}, user=owner)
    schedule = schedule_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner, interval_seconds=3600)

    def client_for(caller: str) -> Callable[[bool], Any]:
        def make(is_api: bool) -> Any:
            client = APIClient()
            if caller == "anonymous":
                return client
            if caller in ("run_token", "ended_run_token"):
                # A run token is an API credential; on the dashboard it is no session.
                client.credentials(HTTP_AUTHORIZATION=f"Bearer {live_key if caller == 'run_token' else ended_key}")
                return client
            if is_api:
                _, key = api_token_create(user=user_for(caller))
                client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
            else:
                client.force_login(user_for(caller))
            return client

        return make

    ids = {
        "run": run.id,
        "other_run": other.id,
        "step": step.id,
        "pipeline": run.pipeline_id,
        "artifact": ready.artifact_id,
        "ready": ready.id,
        "pending": pending.id,
        "model": model_version.model_id,
        "model_version": model_version.id,
        "secret": secret.id,
        "schedule": schedule.id,
    }
    bodies = {
        "run-list:post": sample.numbers_pipeline.compile(scale=1),
        "artifact-version-list:post": {"artifact": "saved-by-caller"},
        "artifact-version-finish:post": {"materializer": "pipelines.materializers:JsonMaterializer", "data_type": ""},
        "metadata-list:post": {"pipeline_run": run.id, "entries": [{"key": "k", "value": 1, "type": "int"}]},
        "model-version-stage:post": {"stage": "staging"},
        "artifact-version-register:post": {"uri": folder_in_store(), "artifact": "registered"},
        "model-version-artifacts:post": {"artifact_version": ready.id, "kind": "model"},
        **{
            f"{kind}-tags:post": {"add": ["matrix"]}
            for kind in ("run", "artifact", "artifact-version", "model", "model-version")
        },
        "model-list:post": {"name": "new-model"},
        "pipeline-detail:patch": {"retention_keep_runs": 5},
        "pipeline-tags:post": {"add": ["matrix"]},
        "dashboard:prune:post": {"older_than": "30d", "action": "preview"},
        "schedule-list:post": {"spec": sample.numbers_pipeline.compile(scale=1), "cron_expression": "0 * * * *"},
        "schedule-detail:patch": {"active": False},
        "model-detail:patch": {"description": "changed"},
        "model-version-list:post": {"model": "churn"},
        "model-version-detail:patch": {"description": "changed"},
        "secret-list:post": {"name": "new-secret", "values": {"k": "v"}},
        "secret-detail:put": {"values": {"k": "v2"}},
        "secret-detail:patch": {"values": {"k": "v3"}},
        "run-wait:get": {"timeout": 0},
        "artifact-version-lookup:get": {"artifact": "plot"},
        "dashboard:model-version-stage:post": {"stage": "staging"},
        "dashboard:compare:get": {"run": [run.id, other.id]},
        "dashboard:metadata-points:get": {"key": "accuracy", "target": "run"},
        "dashboard:search:get": {"q": "numbers"},
    }
    return World(ids=ids, clients={caller: client_for(caller) for caller in CALLERS}, bodies=bodies)


# Which object each route's path names.
_PATH_OBJECT = {
    "pipeline": "pipeline",
    "run": "run",
    "step": "step",
    "artifact": "artifact",
    "artifact-version": "ready",
    "model": "model",
    "model-version": "model_version",
    "secret": "secret",
    "schedule": "schedule",
}


def _url(name: str, world: World) -> str:
    short = name.removeprefix("dashboard:")
    if name == "artifact-version-finish":
        return reverse(name, kwargs={"pk": world.ids["pending"]})
    for prefix in sorted(_PATH_OBJECT, key=len, reverse=True):
        if short.startswith(prefix + "-") or short == prefix:
            object_id = world.ids[_PATH_OBJECT[prefix]]
            break
    else:
        return reverse(name)
    if name.startswith("dashboard:"):
        kwarg = {"artifact-version": "version_id", "model-version": "version_id"}.get(prefix, f"{prefix}_id")
    else:
        kwarg = "pk"
    try:
        return reverse(name, kwargs={kwarg: object_id})
    except NoReverseMatch:  # a list route: no id in its path
        return reverse(name)


def _check(world: World, name: str, method: str, caller: str) -> str | None:
    """None when `caller` got what the table says, else what went wrong."""
    is_api = not name.startswith("dashboard:")
    client = world.clients[caller](is_api)
    url = _url(name, world)
    body = world.bodies.get(f"{name}:{method}", {})
    if method == "get":
        response = client.get(url, body)
    elif is_api:
        response = getattr(client, method)(url, body, format="json")
    else:
        response = client.post(url, body)

    # A run token is an API credential: on the dashboard its holder is not signed in.
    allowed = caller in RULES[ROUTES[name][method]] and (is_api or caller != "run_token")
    status = response.status_code
    to_login = status == 302 and response["Location"].startswith(reverse("login"))
    if allowed:
        expected = "allowed (2xx or 3xx)"
        ok = 200 <= status < 400 and not to_login
    elif caller in NOT_SIGNED_IN or (not is_api and caller == "run_token"):
        expected = "401" if is_api else "a redirect to the login page"
        ok = (status == 401) if is_api else to_login
    else:
        expected = "403"
        ok = status == 403
    return None if ok else f"{method.upper()} {url} as {caller}: {status}, expected {expected}"


# Reads change nothing: one world serves every caller. Writes get a fresh world per caller.
READS = [(name, method) for name, methods in ROUTES.items() for method in methods if method == "get"]
WRITES = [
    (name, method, caller)
    for name, methods in ROUTES.items()
    for method in methods
    if method != "get"
    for caller in CALLERS
]


@pytest.mark.parametrize(("name", "method"), READS, ids=[f"{n}:{m}" for n, m in READS])
def test_each_caller_reads_what_the_table_says(world, name, method):
    wrong = [problem for caller in CALLERS if (problem := _check(world, name, method, caller))]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(("name", "method", "caller"), WRITES, ids=[f"{n}:{m}:{c}" for n, m, c in WRITES])
def test_each_caller_writes_what_the_table_says(world, name, method, caller):
    problem = _check(world, name, method, caller)
    assert problem is None, problem
