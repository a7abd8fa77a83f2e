from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pipelines.demo.examples import discover_examples
from pipelines.demo.processes import ensure_port_free, runserver_addrport, url_host
from pipelines.demo.setup import PasswordSource, ensure_admin, issue_client_config, write_client_config
from pipelines.models import ApiToken

# ensure_admin


def test_it_creates_the_admin_with_a_generated_password_when_none_is_given(db) -> None:
    account = ensure_admin(username="admin", password=None)

    assert account.created
    assert account.password_source is PasswordSource.GENERATED
    assert account.user.is_superuser
    assert account.user.is_staff
    assert account.user.check_password(account.generated_password)
    assert account.generated_password in account.login_hint()


def test_it_creates_the_admin_with_the_given_password_and_never_shows_it(db) -> None:
    account = ensure_admin(username="boss", password="given-pw-123")

    assert account.created
    assert account.password_source is PasswordSource.GIVEN
    assert account.generated_password is None
    assert account.user.check_password("given-pw-123")
    assert "given-pw-123" not in account.login_hint()


def test_it_keeps_an_existing_admins_password_when_none_is_given(db, django_user_model) -> None:
    django_user_model.objects.create_superuser("admin", "", "old-pw-123")

    account = ensure_admin(username="admin", password=None)

    assert not account.created
    assert account.password_source is PasswordSource.KEPT
    assert account.generated_password is None
    assert "old-pw-123" not in account.login_hint()
    assert django_user_model.objects.get(username="admin").check_password("old-pw-123")


def test_it_sets_the_given_password_and_superuser_rights_on_an_existing_user(db, django_user_model) -> None:
    django_user_model.objects.create_user("admin", "", "old-pw-123")

    account = ensure_admin(username="admin", password="new-pw-456")

    user = django_user_model.objects.get(username="admin")
    assert account.password_source is PasswordSource.GIVEN
    assert user.check_password("new-pw-456")
    assert user.is_superuser
    assert user.is_staff
    assert user.is_active


# client.json


def test_client_json_holds_the_url_and_token_and_only_its_owner_can_read_it(tmp_path: Path) -> None:
    path = tmp_path / "client.json"

    write_client_config(path=path, server_url="http://127.0.0.1:8031", api_token="pip_abc")

    assert json.loads(path.read_text()) == {"server_url": "http://127.0.0.1:8031", "api_token": "pip_abc"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["client.json"]


def test_it_replaces_a_world_readable_client_json_with_an_owner_only_one(tmp_path: Path) -> None:
    path = tmp_path / "client.json"
    path.write_text("{}")
    path.chmod(0o644)

    write_client_config(path=path, server_url="http://x", api_token="pip_new")

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["api_token"] == "pip_new"


def test_the_token_in_client_json_is_a_live_token_of_the_admin(db, tmp_path: Path) -> None:
    account = ensure_admin(username="admin", password=None)

    path = issue_client_config(user=account.user, server_url="http://127.0.0.1:8031", data_dir=tmp_path)

    key = json.loads(path.read_text())["api_token"]
    token = ApiToken.objects.get(digest=ApiToken.digest_of(key))
    assert token.user == account.user
    assert token.revoked_at is None


# Port, addresses, examples, logs


def test_it_refuses_a_port_that_is_in_use_and_says_to_pass_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(CommandError, match="--port"):
            ensure_port_free("127.0.0.1", port)


def test_the_command_fails_at_once_when_the_port_is_in_use(db) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()

        with pytest.raises(CommandError, match="already in use"):
            call_command("demo", "--port", str(taken.getsockname()[1]))


@pytest.mark.parametrize(
    ("addr", "host"),
    [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"), ("::", "[::1]"), ("::1", "[::1]"), ("box", "box")],
)
def test_urls_use_a_host_a_browser_can_reach(addr: str, host: str) -> None:
    assert url_host(addr) == host


def test_runserver_gets_ipv6_addresses_in_brackets() -> None:
    assert runserver_addrport("::1", 8031) == "[::1]:8031"
    assert runserver_addrport("127.0.0.1", 8031) == "127.0.0.1:8031"


def test_examples_run_in_name_order_without_underscore_files(tmp_path: Path) -> None:
    for name in ("b.py", "a.py", "_helper.py", "__init__.py", "notes.txt"):
        (tmp_path / name).write_text("")

    assert [p.name for p in discover_examples(tmp_path)] == ["a.py", "b.py"]
