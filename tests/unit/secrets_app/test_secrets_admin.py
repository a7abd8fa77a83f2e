"""Secrets in the admin: values are write-only and appear on no page and in no log."""

from __future__ import annotations

import secrets as random_tokens

import pytest
from cryptography.fernet import Fernet
from django.contrib.admin.models import LogEntry
from django.test import override_settings
from django.urls import reverse

from secrets_app.models import Secret
from secrets_app.services import secret_create, secret_read_values

pytestmark = pytest.mark.django_db

NEW_ROWS = {f"new_{kind}_{row}": "" for row in range(3) for kind in ("key", "value")}


@pytest.fixture
def canary() -> str:
    return f"canary-{random_tokens.token_hex(12)}"


@pytest.fixture
def secret(owner, canary) -> Secret:
    return secret_create(
        name="demo_api", values={"token": canary, "user": "bot-user-9"}, description="about", user=owner
    )


def change_url(secret: Secret) -> str:
    return reverse("admin:secrets_app_secret_change", args=[secret.id])


def test_adding_a_secret_encrypts_its_values(admin_client, admin_user, canary):
    response = admin_client.post(
        reverse("admin:secrets_app_secret_add"),
        {
            "name": "new.secret",
            "description": "d",
            **NEW_ROWS,
            "new_key_0": "password",
            "new_value_0": canary,
            "new_key_1": "user",
            "new_value_1": "bot",
        },
    )

    assert response.status_code == 302
    secret = Secret.objects.get(name="new.secret")
    assert secret.keys == ["password", "user"]
    assert secret.decrypted_values() == {"password": canary, "user": "bot"}
    assert (secret.created_by, secret.updated_by) == (admin_user, admin_user)


def test_the_add_form_reports_bad_input_without_echoing_values(admin_client, canary):
    response = admin_client.post(
        reverse("admin:secrets_app_secret_add"),
        {"name": "bad name", "description": "", **NEW_ROWS, "new_key_0": "bad key", "new_value_0": canary},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "not a valid key" in html
    assert "only letters, digits" in html
    assert canary not in html
    assert not Secret.objects.exists()


def test_the_change_form_shows_keys_but_never_values(admin_client, secret, canary):
    html = admin_client.get(change_url(secret)).content.decode()

    assert 'name="value:token"' in html
    assert 'name="remove:user"' in html
    assert 'type="password"' in html
    assert canary not in html
    assert "bot-user-9" not in html


def test_a_blank_value_keeps_it_a_checked_box_removes_it_and_new_rows_add(admin_client, secret, canary):
    response = admin_client.post(
        change_url(secret),
        {
            "description": "changed",
            "value:token": "",
            "value:user": "",
            "remove:user": "on",
            **NEW_ROWS,
            "new_key_0": "region",
            "new_value_0": "eu",
        },
    )

    assert response.status_code == 302
    secret.refresh_from_db(fields=["keys", "description"])
    assert secret.keys == ["region", "token"]
    assert secret.description == "changed"
    assert secret.decrypted_values() == {"region": "eu", "token": canary}


def test_typing_a_value_replaces_it(admin_client, secret):
    admin_client.post(change_url(secret), {"description": "about", "value:token": "new", "value:user": "", **NEW_ROWS})

    assert secret.decrypted_values() == {"token": "new", "user": "bot-user-9"}


def test_a_new_row_may_not_reuse_an_existing_key(admin_client, secret, canary):
    response = admin_client.post(
        change_url(secret), {"description": "about", **NEW_ROWS, "new_key_0": "token", "new_value_0": "x"}
    )

    assert response.status_code == 200
    assert "exists already" in response.content.decode()
    assert secret.decrypted_values()["token"] == canary


def test_deleting_a_secret(admin_client, secret):
    confirm = admin_client.get(reverse("admin:secrets_app_secret_delete", args=[secret.id]))
    assert confirm.status_code == 200

    response = admin_client.post(reverse("admin:secrets_app_secret_delete", args=[secret.id]), {"post": "yes"})

    assert response.status_code == 302
    assert not Secret.objects.exists()


def test_the_change_page_lists_recent_readers(admin_client, secret, owner):
    secret_read_values(secret=secret, user=owner, step_run_id=42, via="api")
    secret_read_values(secret=secret, user=owner, via="cli")

    html = admin_client.get(change_url(secret)).content.decode()

    assert "step run #42" in html
    assert "owner via cli" in html


def test_a_canary_value_appears_on_no_admin_page_and_in_no_log_entry(admin_client, secret, canary, owner):
    secret_read_values(secret=secret, user=owner, via="api")
    admin_client.post(
        change_url(secret),
        {
            "description": "about",
            "value:token": canary + "-new",
            "value:user": "",
            "remove:user": "on",
            **NEW_ROWS,
            "new_key_0": "more",
            "new_value_0": canary + "-more",
        },
    )
    other = secret_create(name="other", values={"k": canary}, user=owner)
    pages = {
        "changelist": reverse("admin:secrets_app_secret_changelist"),
        "search": reverse("admin:secrets_app_secret_changelist") + f"?q={canary[:12]}",
        "change": change_url(secret),
        "history": reverse("admin:secrets_app_secret_history", args=[secret.id]),
        "delete": reverse("admin:secrets_app_secret_delete", args=[secret.id]),
        "add": reverse("admin:secrets_app_secret_add"),
        "reads": reverse("admin:secrets_app_secretread_changelist"),
        "read": reverse("admin:secrets_app_secretread_change", args=[secret.reads.get().id]),
        "index": reverse("admin:index"),
    }

    for what, url in pages.items():
        response = admin_client.get(url)
        assert response.status_code == 200, what
        assert canary not in response.content.decode(), what
    admin_client.post(reverse("admin:secrets_app_secret_delete", args=[other.id]), {"post": "yes"})
    entries = list(LogEntry.objects.values_list("object_repr", "change_message"))
    assert len(entries) == 2
    assert canary not in repr(entries)
    assert "set keys: more, token" in LogEntry.objects.get(action_flag=2).get_change_message()
    assert "removed keys: user" in LogEntry.objects.get(action_flag=2).get_change_message()


def test_an_undecryptable_secret_leaves_the_admin_working(admin_client, secret):
    with override_settings(FERNET_KEYS=[Fernet.generate_key().decode()]):
        changelist = admin_client.get(reverse("admin:secrets_app_secret_changelist"))
        change = admin_client.get(change_url(secret))
        refused = admin_client.post(
            change_url(secret), {"description": "about", "value:token": "x", "value:user": "", **NEW_ROWS}
        )
        deleted = admin_client.post(reverse("admin:secrets_app_secret_delete", args=[secret.id]), {"post": "yes"})

    assert changelist.status_code == 200
    assert "demo_api" in changelist.content.decode()
    assert change.status_code == 200
    assert refused.status_code == 200
    assert "FERNET_KEYS lacks the key" in refused.content.decode()
    assert deleted.status_code == 302
