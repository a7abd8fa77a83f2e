"""ZenML's docs ("Assigning tags to pipelines"): add_tags(tags=[...], pipeline=...), and
the Client's list_pipelines(tag=...)."""

from __future__ import annotations

import pytest

from pipelines import add_tags, remove_tags
from pipelines.models import Pipeline
from pipelines.sdk.client import Client
from pipelines.sdk.exceptions import ServerError
from pipelines.services.runs import pipeline_run_create
from tests.integration import sample_pipelines as sample
from tests.unit.pipelines.sdk.test_tags import in_process_client  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker", "in_process_client")]


def test_the_docs_snippet_tags_a_pipeline_by_name_or_id(owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    Pipeline.objects.create(name="untagged", created_by=owner)

    # ZenML's docs, zenml -> pipelines.
    add_tags(tags=["my_tag", "other"], pipeline=run.pipeline.name)
    remove_tags("other", pipeline=run.pipeline_id)

    assert Pipeline.objects.get(id=run.pipeline_id).tags == ["my_tag"]
    assert Client().get_pipeline(run.pipeline.name).tags == ["my_tag"]
    assert [p.name for p in Client().list_pipelines(tag="my_tag")] == [run.pipeline.name]
    assert Client().list_pipelines(tag="other").total == 0
    assert {p.name for p in Client().list_pipelines()} == {run.pipeline.name, "untagged"}


def test_tagging_a_pipeline_that_does_not_exist_says_so():
    with pytest.raises(ServerError, match=r"pipelines/no-such-pipeline/ failed \(404\)"):
        add_tags(["x"], pipeline="no-such-pipeline")
