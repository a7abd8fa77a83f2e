"""`manage.py secret`: create, set, list and delete from a shell, never printing values."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from secrets_app.models import Secret

pytestmark = pytest.mark.django_db


def secret(*args: str, **options) -> str:
    out = StringIO()
    call_command("secret", *args, stdout=out, **options)
    return out.getvalue()


def values_of(name: str) -> dict[str, str]:
    return Secret.objects.get(name=name).decrypted_values()


def test_create_from_arguments_the_environment_and_stdin(owner, monkeypatch):
    monkeypatch.setenv("MY_TOKEN", "from-env")

    out = secret(
        "create",
        "demo_api",
        "--value",
        "user=bot",
        "--value",
        "url=https://x/?a=b",
        "--from-env",
        "token=MY_TOKEN",
        "--value-stdin",
        "password",
        "--description",
        "The demo API",
        "--user",
        "owner",
        stdin=StringIO("s3cr3t\n"),
    )

    assert out == "Created secret demo_api with keys: password, token, url, user\n"
    assert values_of("demo_api") == {"password": "s3cr3t", "token": "from-env", "url": "https://x/?a=b", "user": "bot"}
    created = Secret.objects.get(name="demo_api")
    assert (created.description, created.created_by) == ("The demo API", owner)


def test_several_stdin_values_are_read_one_line_each():
    secret("create", "s", "--value-stdin", "a", "--value-stdin", "b", stdin=StringIO("one\ntwo\n"))

    assert values_of("s") == {"a": "one", "b": "two"}


def test_set_changes_some_keys_and_keeps_the_others():
    secret("create", "s", "--value", "a=1", "--value", "b=2", "--value", "c=3")

    out = secret("set", "s", "a=10", "d=4", "--remove", "c")

    assert out == "Updated secret s; keys: a, b, d\n"
    assert values_of("s") == {"a": "10", "b": "2", "d": "4"}


def test_list_shows_names_and_keys_never_values():
    secret("create", "one", "--value", "k=canary-value-1")
    secret("create", "two", "--value", "x=canary-value-2", "--value", "y=z")

    out = secret("list")

    assert out == "one\tk\ntwo\tx, y\n"


def test_delete_needs_confirmation_or_yes(monkeypatch):
    secret("create", "s", "--value", "k=v")
    monkeypatch.setattr("sys.stdin", StringIO(""))

    with pytest.raises(CommandError, match="--yes"):
        secret("delete", "s")
    assert Secret.objects.exists()

    assert secret("delete", "s", "--yes") == "Deleted secret s.\n"
    assert not Secret.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "nope", "a=1"], "No secret named 'nope'"),
        (["delete", "nope", "--yes"], "No secret named 'nope'"),
        (["create", "s", "--value", "novalue"], "KEY=VALUE"),
        (["create", "s", "--value", "=v"], "KEY=VALUE"),
        (["create", "s", "--from-env", "k=SURELY_UNSET_VAR_42"], "SURELY_UNSET_VAR_42 is not set"),
        (["create", "bad name", "--value", "k=v"], "not a valid secret name"),
        (["create", "s", "--value", "bad key=v"], "not a valid key"),
        (["create", "s", "--user", "ghost"], "No user named 'ghost'"),
        (["set", "existing"], "Nothing to change"),
        (["create", "existing"], "already exists"),
    ],
)
def test_mistakes_are_refused_with_the_reason(args, message, monkeypatch):
    monkeypatch.delenv("SURELY_UNSET_VAR_42", raising=False)
    secret("create", "existing", "--value", "k=v")

    with pytest.raises(CommandError, match=message):
        secret(*args)


def test_a_bad_value_is_not_repeated_in_the_error():
    with pytest.raises(CommandError) as caught:
        secret("create", "s", "--value", "bad key=canary-xyz")

    assert "canary-xyz" not in str(caught.value)
