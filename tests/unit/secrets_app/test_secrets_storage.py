"""Secret values at rest: encrypted, never shown, rotated to a new key safely."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from config.env import embedded_fernet_keys
from secrets_app import selectors
from secrets_app.checks import check_fernet_keys
from secrets_app.models import Secret
from secrets_app.services import (
    SecretInvalid,
    SecretNameTaken,
    SecretUndecryptable,
    secret_create,
    secret_delete,
    secret_read_values,
    secret_update,
)

pytestmark = pytest.mark.django_db
K1, K2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def raw_tokens() -> dict[str, bytes]:
    with connection.cursor() as cursor:
        cursor.execute('SELECT name, "values" FROM secrets_app_secret')
        return {name: bytes(token) for name, token in cursor.fetchall()}


def under_key(key: str) -> set[str]:
    """Names of the secrets whose stored token this key alone decrypts."""
    names = set()
    for name, token in raw_tokens().items():
        try:
            Fernet(key).decrypt(token)
        except InvalidToken:
            continue
        names.add(name)
    return names


def test_the_database_holds_only_fernet_tokens_never_plaintext(owner):
    canary = "canary-7f3a9c-plaintext"
    secret_create(name="db", values={"password": canary, "user": "admin"}, user=owner)

    tokens = raw_tokens()

    assert tokens["db"].startswith(b"gAAAAA")
    assert canary.encode() not in tokens["db"]
    assert b"admin" not in tokens["db"]
    assert (
        Fernet(settings.FERNET_KEYS[0]).decrypt(tokens["db"])
        == b'{"password":"' + canary.encode() + b'","user":"admin"}'
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM secrets_app_secret")
        assert canary not in repr(cursor.fetchall())


def test_a_secret_round_trips_and_keeps_its_keys_in_plaintext(owner):
    secret = secret_create(name="api.key-1_x", values={"b": "2", "a": ""}, description="d", user=owner)

    stored = Secret.objects.get(pk=secret.pk)

    assert stored.keys == ["a", "b"]
    assert stored.decrypted_values() == {"a": "", "b": "2"}
    assert stored.created_by == owner
    assert repr(stored) == "<Secret api.key-1_x: ****>"
    assert "2" not in str(stored)


def test_loading_secrets_never_decrypts():
    secret_create(name="x", values={"k": "v"}, user=None)

    with override_settings(FERNET_KEYS=[K2]):
        names = [secret.name for secret in selectors.secrets_list()]
        single = Secret.objects.get(name="x")

    assert names == ["x"]
    assert single.keys == ["k"]


def test_a_secret_the_keys_cannot_decrypt_raises_a_clear_error(owner):
    secret = secret_create(name="old", values={"k": "v"}, user=owner)

    with override_settings(FERNET_KEYS=[K2]), pytest.raises(SecretUndecryptable) as caught:
        secret_read_values(secret=secret, user=owner, via="api")

    assert "'old'" in str(caught.value)
    assert "FERNET_KEYS lacks the key" in str(caught.value)
    assert secret.reads.count() == 0


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("has space", {"k": "v"}, "not a valid secret name"),
        ("a/b", {"k": "v"}, "not a valid secret name"),
        ("", {"k": "v"}, "needs a name"),
        ("ok", {"": "v"}, "non-empty"),
        ("ok", {"bad key": "v"}, "not a valid key"),
        ("ok", {"port": 5432}, "must be a string, not int"),
        ("ok", {"flag": None}, "must be a string, not NoneType"),
        ("ok", ["k", "v"], "must be an object"),
        ("ok", {"big": "x" * (64 * 1024 + 1)}, "longer than 64 KiB"),
        ("ok", {f"k{i}": "v" for i in range(101)}, "at most 100 keys"),
    ],
)
def test_invalid_input_is_refused_with_the_reason(name, values, message):
    with pytest.raises(SecretInvalid, match=message):
        secret_create(name=name, values=values, user=None)
    assert not Secret.objects.exists()


def test_a_duplicate_name_is_refused(owner):
    secret_create(name="dup", values={}, user=owner)

    with pytest.raises(SecretNameTaken, match="already exists"):
        secret_create(name="dup", values={"k": "v"}, user=owner)


def test_update_merges_removes_and_replaces(owner, teammate):
    secret = secret_create(name="s", values={"a": "1", "b": "2"}, user=owner)

    merged = secret_update(secret=secret, values={"b": "20", "c": "3"}, remove_keys=["a"], user=teammate)
    assert merged.keys == ["b", "c"]
    assert merged.decrypted_values() == {"b": "20", "c": "3"}
    assert merged.updated_by == teammate
    assert merged.created_by == owner

    replaced = secret_update(secret=secret, replace_values={"z": "9"}, description="new", user=owner)
    assert replaced.decrypted_values() == {"z": "9"}
    assert replaced.keys == ["z"]
    assert replaced.description == "new"

    described = secret_update(secret=secret, description="only this", user=owner)
    assert described.decrypted_values() == {"z": "9"}


def test_update_refuses_a_key_both_set_and_removed(owner):
    secret = secret_create(name="s", values={"a": "1"}, user=owner)

    with pytest.raises(SecretInvalid, match="both set and removed"):
        secret_update(secret=secret, values={"a": "2"}, remove_keys=["a"], user=owner)


def test_reads_are_recorded_and_listed_by_step_run(owner):
    first = secret_create(name="first", values={"k": "v"}, user=owner)
    second = secret_create(name="second", values={"k": "v"}, user=owner)

    assert secret_read_values(secret=second, user=owner, step_run_id=7, via="api") == {"k": "v"}
    secret_read_values(secret=first, user=owner, step_run_id=7, via="api")
    secret_read_values(secret=first, user=owner, step_run_id=7, via="api")
    secret_read_values(secret=first, user=owner, via="cli")

    assert selectors.secret_reads_by_step_run(7) == ["first", "second"]
    assert selectors.secret_reads_by_step_run(step_run_id=8) == []
    assert len(selectors.secret_reads_recent(secret=first)) == 3


def test_the_read_record_outlives_the_secret(owner):
    secret = secret_create(name="gone", values={"k": "v"}, user=owner)
    secret_read_values(secret=secret, user=owner, step_run_id=3, via="api")

    secret_delete(secret=secret)

    assert selectors.secret_reads_by_step_run(3) == ["gone"]


# --- Keys and settings ----------------------------------------------------------


def test_the_system_check_fires_without_keys():
    with override_settings(FERNET_KEYS=[]):
        errors = check_fernet_keys()

    assert [error.id for error in errors] == ["secrets_app.E001"]
    assert "FERNET_KEYS_FILE" in errors[0].hint


def test_the_system_check_fires_on_a_malformed_key():
    with override_settings(FERNET_KEYS=[K1, "not-a-key"]):
        errors = check_fernet_keys()

    assert [error.id for error in errors] == ["secrets_app.E002"]
    assert "#2" in errors[0].msg
    assert "not-a-key" not in errors[0].msg + errors[0].hint


def test_the_system_check_passes_with_good_keys():
    with override_settings(FERNET_KEYS=[K2, K1]):
        assert check_fernet_keys() == []


def _import_production_settings(tmp_path, **extra: str) -> subprocess.CompletedProcess:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("FERNET_KEYS", "DJANGO_", "DATABASE"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="x" * 50,
        DJANGO_ALLOWED_HOSTS="example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_BROKER_URL="memory://",
        PIPELINES_DATA_DIR=str(tmp_path),
        **extra,
    )
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        timeout=60,
    )


def test_production_refuses_to_start_without_fernet_keys(tmp_path):
    refused = _import_production_settings(tmp_path)
    assert refused.returncode != 0
    assert "Set FERNET_KEYS" in refused.stderr

    malformed = _import_production_settings(tmp_path, FERNET_KEYS=f"{K1},nope")
    assert malformed.returncode != 0
    assert "key #2 is not a Fernet key" in malformed.stderr
    assert "nope" not in malformed.stderr

    (tmp_path / "keys").write_text(f"{K2}\n{K1}\n")
    started = _import_production_settings(tmp_path, FERNET_KEYS_FILE=str(tmp_path / "keys"))
    assert started.returncode == 0, started.stderr


def test_the_embedded_default_generates_one_private_key_per_data_folder(tmp_path):
    first = embedded_fernet_keys(tmp_path)
    again = embedded_fernet_keys(tmp_path)

    assert first == again
    assert len(first) == 1
    Fernet(first[0])
    assert (tmp_path / "fernet_keys").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["fernet_keys"]


def test_changing_keys_needs_no_restart(owner):
    with override_settings(FERNET_KEYS=[K1]):
        secret = secret_create(name="s", values={"k": "v"}, user=owner)
        assert under_key(K1) == {"s"}
    with override_settings(FERNET_KEYS=[K2, K1]):
        assert secret.decrypted_values() == {"k": "v"}
        secret_update(secret=secret, values={"k": "w"}, user=owner)
        assert under_key(K2) == {"s"}


# --- Rotation ------------------------------------------------------------------


def rotate(*args: str) -> str:
    out = StringIO()
    call_command("rotate_secret_keys", *args, stdout=out)
    return out.getvalue()


def test_rotation_reports_rows_no_key_decrypts_by_name(owner):
    with override_settings(FERNET_KEYS=[K1]):
        secret_create(name="lost", values={"k": "v"}, user=owner)
        secret_create(name="fine", values={"k": "v"}, user=owner)
    with connection.cursor() as cursor:
        cursor.execute(
            'UPDATE secrets_app_secret SET "values" = %s WHERE name = %s',
            [Fernet(Fernet.generate_key()).encrypt(b"{}"), "lost"],
        )

    with override_settings(FERNET_KEYS=[K2, K1]), pytest.raises(CommandError, match="lost"):
        rotate()

    assert under_key(K2) == {"fine"}


# A stand-in for `manage.py rotate_secret_keys` that stops dead in the middle of its
# second batch (after 150 of 200 rows were written, inside the batch's transaction)
# and waits there to be killed.
_ROTATE_UNTIL_KILLED = textwrap.dedent(
    """
    import sys, time
    import django
    django.setup()
    from django.core.management import call_command
    from secrets_app import services

    store, written = services._store_token, 0

    def store_then_hang(**kwargs):
        global written
        store(**kwargs)
        written += 1
        if written == 150:
            print("hanging", flush=True)
            time.sleep(120)

    services._store_token = store_then_hang
    call_command("rotate_secret_keys", "--batch-size", "100")
    """
)


@pytest.mark.django_db(transaction=True)
def test_rotating_a_thousand_secrets_survives_a_kill_and_resumes():
    with override_settings(FERNET_KEYS=[K1]):
        Secret.objects.bulk_create(
            Secret(name=f"s{i:04}", values={"token": f"value-{i}"}, keys=["token"]) for i in range(1000)
        )
    assert len(under_key(K1)) == 1000

    child = subprocess.Popen(
        [sys.executable, "-c", _ROTATE_UNTIL_KILLED],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "PIPELINES_DATA_DIR": str(settings.DATA_DIR),
            "PIPELINES_USE_TEST_DATABASE": "1",
            "FERNET_KEYS": f"{K2},{K1}",
            "PYTHONUNBUFFERED": "1",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=settings.BASE_DIR,
    )
    try:
        line = child.stdout.readline()
        assert line.strip() == "hanging", child.stderr.read()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)

    # The first batch committed; the second died with its transaction.
    assert len(under_key(K2)) == 100
    assert len(under_key(K1)) == 900

    with override_settings(FERNET_KEYS=[K2, K1]):
        assert rotate("--dry-run") == "900 would be rotated, 100 already current, 0 failed.\n"
        assert len(under_key(K2)) == 100
        assert rotate("--batch-size", "64") == "900 rotated, 100 already current, 0 failed.\n"

    assert len(under_key(K2)) == 1000
    with override_settings(FERNET_KEYS=[K2]):
        for secret in Secret.objects.filter(name__in=["s0000", "s0150", "s0999"]):
            assert secret.decrypted_values() == {"token": f"value-{int(secret.name[1:])}"}
        assert all(secret.decrypted_values() for secret in Secret.objects.all())
        assert rotate() == "0 rotated, 1000 already current, 0 failed.\n"


def test_a_dry_run_changes_nothing(owner):
    with override_settings(FERNET_KEYS=[K1]):
        secret_create(name="a", values={"k": "v"}, user=owner)
    before = raw_tokens()

    with override_settings(FERNET_KEYS=[K2, K1]):
        assert rotate("--dry-run") == "1 would be rotated, 0 already current, 0 failed.\n"

    assert raw_tokens() == before
