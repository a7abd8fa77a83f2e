"""The README's scale-out section is true as written: the variables its tables name are
the ones the settings read, the files it shows are the ones in deploy/, the systemd
units start real entry points with options those programs accept, and
`manage.py check --deploy` passes with the documented production environment."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

REPO = Path(settings.BASE_DIR)
README = (REPO / "README.md").read_text()
DEPLOY = REPO / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
SETTINGS_FILES = [REPO / "config" / "env.py", *(REPO / "config" / "settings").glob("*.py")]
# Read only by the test settings, for the test suite's own worker processes.
TEST_ONLY = {"PIPELINES_USE_TEST_DATABASE"}
# The artifact stores' library (obstore) reads its cloud's standard variables itself.
LIBRARY_PREFIXES = ("AWS_", "GOOGLE_", "AZURE_")
# Where other code (Django's entry points, the SDK, the demo) reads variables.
CODE = [REPO / "manage.py", *(REPO / "config").rglob("*.py"), *(REPO / "pipelines").rglob("*.py")]
ENV_READ = re.compile(
    r"""(?:env\.\w+|os\.environ\.get|os\.environ\.setdefault|os\.environ\[)\(?\s*["']([A-Z][A-Z0-9_]+)["']"""
)


def _table_variables(markdown: str) -> set[str]:
    """Every variable named in the first column of a table headed `| variable |`.

    A name written as `_TIMEOUT` after `PIPELINES_STEP_HEARTBEAT_INTERVAL` stands for
    `PIPELINES_STEP_HEARTBEAT_TIMEOUT` (the previous name with its last word replaced).
    """
    names: set[str] = set()
    in_table = False
    for line in markdown.splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        first = line.split("|")[1].strip()
        if first == "variable":
            in_table = True
            continue
        if not in_table or set(first) <= {"-", ":"}:
            continue
        previous = ""
        for token in re.findall(r"`([A-Z_][A-Z0-9_]*)`", first):
            name = previous.rsplit("_", 1)[0] + token if token.startswith("_") else token
            names.add(name)
            previous = name
    return names


def _settings_variables() -> set[str]:
    found: set[str] = set()
    for path in SETTINGS_FILES:
        found |= set(ENV_READ.findall(path.read_text()))
    return found - TEST_ONLY


def _scale_out_section() -> str:
    start = README.index("## Scale out\n")
    return README[start : README.index("\n## ", start + 1)]


def _code_blocks(markdown: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", markdown, flags=re.DOTALL)


def test_the_parser_reads_abbreviated_names():
    table = "| variable | default |\n|---|---|\n| `PIPELINES_STEP_HEARTBEAT_INTERVAL`, `_TIMEOUT`, `X_Y` | 1 |\n"
    assert _table_variables(table) == {
        "PIPELINES_STEP_HEARTBEAT_INTERVAL",
        "PIPELINES_STEP_HEARTBEAT_TIMEOUT",
        "X_Y",
    }


def test_every_variable_the_settings_read_is_in_a_readme_table():
    missing = _settings_variables() - _table_variables(README)
    assert not missing, f"Read by config/ but in no README configuration table: {sorted(missing)}"


def _read_somewhere(name: str) -> bool:
    """Read by the settings, by other code of ours (the name appears quoted in it),
    or by the store library."""
    if name in _settings_variables() or name.startswith(LIBRARY_PREFIXES):
        return True
    return any(f'"{name}"' in path.read_text() for path in CODE)


def test_every_variable_a_readme_table_names_is_read():
    unknown = sorted(name for name in _table_variables(README) if not _read_somewhere(name))
    assert not unknown, f"Named in a README table but read by nothing: {unknown}"


def test_the_environment_file_the_readme_shows_is_the_one_in_deploy():
    (shown,) = [block for block in _code_blocks(_scale_out_section(), "sh") if "pipelines.env" in block]
    assert shown == (DEPLOY / "pipelines.env").read_text()


def test_every_variable_of_the_environment_file_is_one_something_reads():
    for name in _environment_file(DEPLOY / "pipelines.env"):
        # NAME_FILE: the content of that file is NAME's value (config.env).
        assert _read_somewhere(name) or (name.endswith("_FILE") and _read_somewhere(name.removesuffix("_FILE"))), name


def test_the_units_the_readme_shows_are_the_ones_in_deploy():
    shown = _code_blocks(_scale_out_section(), "ini")
    for name in ("pipelines-web.service", "pipelines-worker@.service", "pipelines-beat.service"):
        assert (DEPLOY / "systemd" / name).read_text() in shown, f"README does not show deploy/systemd/{name} as is"
    for name in ("pipelines-reap.service", "pipelines-reap.timer", "pipelines.env", "manage.sh", "pipelines.conf"):
        assert name in _scale_out_section()


def test_the_backup_scripts_the_operations_page_shows_are_the_ones_in_deploy():
    shown = _code_blocks((REPO / "docs" / "operations.md").read_text(), "sh")
    for name in ("backup.sh", "restore.sh"):
        assert (DEPLOY / name).read_text() in shown, f"docs/operations.md does not show deploy/{name} as is"


def test_the_readme_says_to_run_one_scheduler():
    assert "Run **one**" in _scale_out_section()
    assert "systemctl enable --now pipelines-beat" in _scale_out_section()


def _unit(path: Path) -> dict[str, list[str]]:
    entries: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            entries.setdefault(key.strip(), []).append(value.strip())
    return entries


def _exec_start(path: Path) -> tuple[str, list[str]]:
    (command,) = _unit(path)["ExecStart"]
    # systemd's specifiers: %i is the instance (a queue), %% a literal %.
    argv = shlex.split(command.replace("%%", "\0").replace("%i", "pipelines").replace("\0", "%"))
    program = Path(argv[0])
    assert program.parent == Path("/srv/pipelines/app/.venv/bin"), program
    assert (Path(sys.executable).parent / program.name).exists(), f"{program.name} is not installed in the venv"
    return program.name, argv[1:]


def test_the_units_run_as_the_pipelines_user_with_the_documented_environment():
    assert {path.name for path in UNITS} == {
        "pipelines-web.service",
        "pipelines-worker@.service",
        "pipelines-reap.service",
        "pipelines-beat.service",
    }
    for path in UNITS:
        unit = _unit(path)
        assert unit["User"] == ["pipelines"], path.name
        assert "/etc/pipelines/pipelines.env" in unit["EnvironmentFile"], path.name
        assert unit["WorkingDirectory"] == ["/srv/pipelines/app"], path.name


def test_the_web_unit_starts_gunicorn_on_the_wsgi_application_with_options_it_accepts():
    from gunicorn.config import Config

    program, args = _exec_start(DEPLOY / "systemd" / "pipelines-web.service")
    parsed = Config().parser().parse_args(args)

    assert program == "gunicorn"
    assert parsed.args == ["config.wsgi"]
    import config.wsgi

    assert callable(config.wsgi.application)
    # The proxy sends to where gunicorn listens.
    (bind,) = parsed.bind
    assert f"proxy_pass http://{bind};" in (DEPLOY / "nginx" / "pipelines.conf").read_text()


def test_the_worker_unit_starts_a_celery_worker_of_the_config_app_with_options_it_accepts():
    from celery.app.utils import find_app
    from celery.bin.base import CLIContext
    from celery.bin.worker import worker

    program, args = _exec_start(DEPLOY / "systemd" / "pipelines-worker@.service")

    assert program == "celery"
    assert args[:3] == ["-A", "config", "worker"]
    app = find_app("config")
    assert app.main == "pipelines"
    context = worker.make_context("worker", args[3:], obj=CLIContext(app=app, no_color=True, workdir=None))
    assert context.params["queues"] == ["pipelines"]  # the instance name: one unit per queue
    assert context.params["hostname"].startswith("pipelines@")


def test_the_beat_unit_starts_celery_beat_of_the_config_app_on_the_database_schedule():
    from celery.app.utils import find_app
    from celery.bin.base import CLIContext
    from celery.bin.beat import beat

    program, args = _exec_start(DEPLOY / "systemd" / "pipelines-beat.service")

    assert program == "celery"
    assert args[:3] == ["-A", "config", "beat"]
    app = find_app("config")
    context = beat.make_context("beat", args[3:], obj=CLIContext(app=app, no_color=True, workdir=None))
    assert context.params["loglevel"] == 20  # INFO
    # No --scheduler on the command line: the settings name ours, django-celery-beat's
    # database scheduler whose own tick fires our schedules (pipelines.beat).
    from celery.utils.imports import symbol_by_name
    from django_celery_beat.schedulers import DatabaseScheduler

    from pipelines.beat import PipelinesScheduler

    scheduler = symbol_by_name(app.conf.beat_scheduler)
    assert issubclass(scheduler, PipelinesScheduler), app.conf.beat_scheduler
    assert issubclass(scheduler, DatabaseScheduler)
    # Beat also sends the daily retention prune (the README's Operate it).
    assert app.conf.beat_schedule["pipelines-prune-by-retention"]["task"] == "pipelines.prune_by_retention"


def test_the_reap_unit_runs_the_reap_command():
    from django.core.management import get_commands

    program, args = _exec_start(DEPLOY / "systemd" / "pipelines-reap.service")

    assert program == "python"
    assert args[0] == "manage.py"
    assert args[1] in get_commands()
    (timer_unit,) = _unit(DEPLOY / "systemd" / "pipelines-reap.timer")["OnUnitActiveSec"]
    assert timer_unit


def _environment_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, value = line.split("=", 1)
            values[name] = value
    return values


@pytest.fixture
def production_environment(tmp_path, s3_server) -> Path:
    """deploy/pipelines.env as documented, its paths moved under tmp_path, the secret
    files written as the README says, and the documented bucket on a local S3 API."""
    secrets = tmp_path / "etc"
    secrets.mkdir()
    from cryptography.fernet import Fernet
    from django.core.management.utils import get_random_secret_key

    (secrets / "django_secret_key").write_text(get_random_secret_key() + "\n")
    (secrets / "fernet_keys").write_text(Fernet.generate_key().decode() + "\n")
    (secrets / "database_url").write_text("postgres://pipelines:secret@db.internal:5432/pipelines\n")
    text = (DEPLOY / "pipelines.env").read_text()
    text = text.replace("/etc/pipelines/", f"{secrets}/").replace("/var/lib/pipelines", str(tmp_path / "data"))
    store = _environment_file(DEPLOY / "pipelines.env")["PIPELINES_ARTIFACT_STORE"]
    s3_server.create_bucket(store.removeprefix("s3://").split("/")[0])
    env_file = tmp_path / "pipelines.env"
    env_file.write_text(text)
    return env_file


def test_check_deploy_passes_with_the_documented_production_environment(production_environment, s3_server):
    # Only what a systemd unit would have: the environment file, plus the store's
    # credentials (aws.env) pointing at the local S3 API instead of AWS.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    env |= {name: value for name, value in s3_server.environ.items() if name != "AWS_DEFAULT_REGION"}
    env["PIPELINES_ENV_FILE"] = str(production_environment)

    done = subprocess.run(
        [str(DEPLOY / "manage.sh"), "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_check_deploy_names_the_store_when_it_cannot_be_reached(production_environment):
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    env |= {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    env["PIPELINES_ENV_FILE"] = str(production_environment)

    done = subprocess.run(
        [str(DEPLOY / "manage.sh"), "check", "--deploy"], env=env, capture_output=True, text=True, timeout=180
    )

    assert done.returncode != 0
    assert "pipelines.E010" in done.stderr
    assert "s3://pipelines-artifacts/prod" in done.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze to check unit files")
def test_systemd_accepts_the_unit_files(tmp_path):
    for path in (DEPLOY / "systemd").iterdir():
        # A template is checked as one of its instances, the default queue's.
        (tmp_path / path.name.replace("@.service", "@pipelines.service")).write_text(path.read_text())
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(str(path) for path in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # This machine has no /srv/pipelines: the commands being absent is all it may say.
    complaints = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.strip() and "/srv/pipelines/app/.venv/bin/" not in line
    ]
    assert not complaints, "\n".join(complaints)
