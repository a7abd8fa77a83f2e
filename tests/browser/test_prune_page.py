"""Pruning from the dashboard in a real browser: runs made by the real worker, a
preview that deletes nothing, then the confirm button."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from pipelines.models import ArtifactVersion, PipelineRun
from tests.integration import sample_pipelines as sample

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_holder_previews_then_prunes_the_old_runs_and_their_files(logged_in_page, running_worker, owner):
    owner.user_permissions.add(Permission.objects.get(codename="delete_pipelinerun"))
    old = sample.numbers_pipeline(scale=2)
    new = sample.numbers_pipeline(scale=3)
    PipelineRun.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=40))
    old_files = [Path(v.uri) for v in ArtifactVersion.objects.filter(producer_step_run__pipeline_run_id=old.id)]
    assert old_files
    assert all(path.exists() for path in old_files)
    page = logged_in_page

    page.goto("/prune/")
    page.get_by_label("Older than").fill("30d")
    page.get_by_role("button", name="Preview").click()

    summary = page.locator("#prune-summary")
    assert summary.inner_text().startswith(f"1 runs, {len(old_files)} artifact versions")
    assert old.name in page.content()
    assert new.name not in page.content()
    assert PipelineRun.objects.filter(id=old.id).exists()

    page.get_by_role("button", name="Delete them").click()

    assert page.get_by_text(f"Deleted 1 runs, {len(old_files)} artifact versions").is_visible()
    assert not PipelineRun.objects.filter(id=old.id).exists()
    assert PipelineRun.objects.filter(id=new.id).exists()
    assert not any(path.exists() for path in old_files)


def test_someone_without_the_permission_is_refused(logged_in_page, browser_problems):
    browser_problems.expect(r"status of 403")

    response = logged_in_page.goto("/prune/")

    assert response.status == 403
