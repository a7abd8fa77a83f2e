"""Prune options past what the calendar or the database holds are 400s naming the field
(they were 500s: an OverflowError for the age, a datatype mismatch for keep-last)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from pipelines.services.retention import PruneError, parse_age, prune_plan

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _store(settings, tmp_path):
    from tests.unit.dashboard_data import use_fresh_store

    use_fresh_store(settings, tmp_path)


@pytest.fixture
def pruner(client, django_user_model):
    user = django_user_model.objects.create_user("pruner")
    user.user_permissions.add(Permission.objects.get(codename="delete_pipelinerun"))
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("form", "said"),
    [
        ({"older_than": "99999999d"}, "too long ago"),
        ({"older_than": "99999999999999999999999999d"}, "too long ago"),
        ({"older_than": "5d", "keep_last": "99999999999999999999999"}, "Keep last must be at most 1000000000"),
        ({"older_than": "5d", "keep_last": "-3"}, "Keep last must be 0 or more"),
    ],
)
def test_an_age_or_count_out_of_range_is_a_400_naming_the_field(pruner, form, said):
    response = pruner.post(reverse("dashboard:prune"), form)

    assert response.status_code == 400
    assert said in response.content.decode()


def test_the_longest_age_still_plans_and_one_minute_more_is_refused():
    assert prune_plan(older_than=parse_age("100000d"), keep_last=None).runs == []
    assert parse_age("14285w").days == 99995
    with pytest.raises(PruneError, match="at most 100000d"):
        parse_age(f"{100_000 * 24 * 60 + 1}m")
